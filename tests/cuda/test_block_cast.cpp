// The block-scaled cast kernels (mixprec/cuda/block_cast.hpp) give the bytes
// of the CPU reference (mixprec/reference/mx_quantize.hpp and
// nvfp4_quantize.hpp, themselves checked against hand-worked values and
// float64 in tests/unit/) called once per orientation: every element, every
// scale (tile padding included), both orientations from one launch, and amax
// — for ragged and aligned shapes, every MX element type, both MX scale
// rules, nearest-even, toward-zero and stochastic rounding, both scale
// layouts, float and bfloat16 sources, 1x16 and 16x16 NVFP4 blocks, the
// random Hadamard transform (either orientation, two sign vectors), packed
// FP4 pairs, and
// inputs whose blocks span E8M0's whole range (all-zero, tiny, huge, NaN and
// inf blocks). Plus the amax slot rule, graph capture on a non-blocking
// stream, and every rejection, each checked to leave the outputs untouched.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/block_cast_kernels.hpp"
#include "cuda/device_buffer.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"

using namespace mixprec_test;
using mixprec::mx_options;
using mixprec::mx_orientation;
using mixprec::mx_scale_rule;
using mixprec::nvfp4_options;
using mixprec::rounding;
using mixprec::scalar_type;
using mixprec::gemm::block_scale_layout;

namespace {

struct shape {
  std::int64_t rows, cols;
};
// Ragged and aligned: partial blocks of 32 and 16 in both directions, shapes
// below, at and beyond one 64x64 tile, and beyond cuBLASLt's 128-row tiles.
const shape shapes[] = {{1, 1}, {1, 33}, {31, 17}, {64, 64}, {65, 129}, {130, 97}, {257, 48}};

const mx_element mx_elements[] = {mx_element::float8_e4m3, mx_element::float8_e5m2, mx_element::float6_e2m3,
                                  mx_element::float6_e3m2, mx_element::float4_e2m1};
const block_scale_layout layouts[] = {block_scale_layout::compact, block_scale_layout::cublaslt_tiled};

std::uint32_t float_bits(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

// x [rows, cols] as floats: N(0, 1) values times 2^e, e chosen per 16x16
// tile of x from the range of E8M0 and beyond (so that MX scales clamp at
// 2^−127 and reach high codes, and NVFP4 block scales underflow to 0 next to
// large blocks); one tile in seven all zero; with `specials`, about one value
// in 400 is NaN, ±inf, ±0 or a float subnormal.
std::vector<float> make_values(shape s, std::uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int exponents[] = {-140, -126, -40, -3, 0, 5, 60, 120};
  const float inf = std::numeric_limits<float>::infinity();
  const float special_values[] = {std::nanf(""), -std::nanf("0x55"), inf, -inf, 0.0f, -0.0f, 1e-40f, -1e-45f};
  const std::int64_t tile_cols = (s.cols + 15) / 16;
  std::vector<int> tile_exponent(static_cast<std::size_t>((s.rows + 15) / 16 * tile_cols));
  std::vector<bool> tile_zero(tile_exponent.size());
  for (std::size_t t = 0; t < tile_exponent.size(); ++t) {
    tile_exponent[t] = exponents[rng() % (sizeof(exponents) / sizeof(exponents[0]))];
    tile_zero[t] = rng() % 7 == 0;
  }
  std::vector<float> x(static_cast<std::size_t>(s.rows * s.cols));
  for (std::int64_t r = 0; r < s.rows; ++r)
    for (std::int64_t c = 0; c < s.cols; ++c) {
      const std::size_t t = static_cast<std::size_t>(r / 16 * tile_cols + c / 16);
      float v = tile_zero[t] ? 0.0f : std::ldexp(normal(rng), tile_exponent[t]);
      if (specials && rng() % 400 == 0) v = special_values[rng() % (sizeof(special_values) / sizeof(special_values[0]))];
      x[static_cast<std::size_t>(r * s.cols + c)] = v;
    }
  return x;
}

// The source bytes of x as `source` (float32 as is, bfloat16 rounded toward
// zero, which keeps every tile's spread).
std::vector<unsigned char> source_bytes(const std::vector<float>& x, scalar_type source) {
  std::vector<unsigned char> bytes(x.size() * mixprec::size_of(source));
  if (source == scalar_type::float32) {
    if (!x.empty()) std::memcpy(bytes.data(), x.data(), bytes.size());
  } else {
    auto* values = reinterpret_cast<mixprec::bfloat16*>(bytes.data());
    for (std::size_t i = 0; i < x.size(); ++i)
      values[i] = mixprec::convert<mixprec::bfloat16>(x[i], rounding::toward_zero, mixprec::saturation::none);
  }
  return bytes;
}

// max |x| by the amax rule of mixprec/cast/rules.hpp: the largest magnitude
// bit pattern (NaN above +inf), as float bits.
std::uint32_t expected_amax_bits(const std::vector<unsigned char>& bytes, scalar_type source) {
  std::uint32_t largest = 0;
  const std::size_t n = bytes.size() / mixprec::size_of(source);
  for (std::size_t i = 0; i < n; ++i) {
    const float v = source == scalar_type::float32
                        ? reinterpret_cast<const float*>(bytes.data())[i]
                        : static_cast<float>(reinterpret_cast<const mixprec::bfloat16*>(bytes.data())[i]);
    const std::uint32_t magnitude = float_bits(v) & 0x7FFFFFFFu;
    largest = magnitude > largest ? magnitude : largest;
  }
  return largest;
}

// Scale entries of `lines` lines of `length` elements in blocks of `block`.
std::size_t scale_count(block_scale_layout layout, std::int64_t lines, std::int64_t length, std::size_t block) {
  return mixprec::gemm::block_scale_count(layout, static_cast<std::size_t>(lines),
                                          (static_cast<std::size_t>(length) + block - 1) / block, "test");
}

// One orientation's expected bytes: elements and scales.
struct expected_orientation {
  std::vector<unsigned char> elements, scales;
};

expected_orientation reference_mx(const std::vector<unsigned char>& x, scalar_type source, mx_element element,
                                  shape s, const mx_options& o, mx_orientation orientation) {
  const bool rowwise = orientation == mx_orientation::rowwise;
  expected_orientation e;
  e.elements.assign(static_cast<std::size_t>(s.rows * s.cols), 0xAB);
  e.scales.assign(scale_count(o.scale_layout, rowwise ? s.rows : s.cols, rowwise ? s.cols : s.rows, 32), 0xAB);
  with_mx_element(element, [&](auto tag) {
    using E = decltype(tag);
    auto* out = reinterpret_cast<E*>(e.elements.data());
    auto* scales = reinterpret_cast<mixprec::float8_e8m0*>(e.scales.data());
    if (source == scalar_type::float32) {
      mixprec::reference::quantize_mx(reinterpret_cast<const float*>(x.data()), s.rows, s.cols, out, scales, o,
                                      orientation);
    } else {
      mixprec::reference::quantize_mx(reinterpret_cast<const mixprec::bfloat16*>(x.data()), s.rows, s.cols, out,
                                      scales, o, orientation);
    }
  });
  return e;
}

// Runs quantize_mx with both orientations into buffers prefilled with 0xAB
// (so that a byte never written shows) and compares every byte and amax.
void check_mx(scalar_type source, mx_element element, shape s, const mx_options& o, std::uint32_t seed) {
  const std::vector<float> values = make_values(s, seed, true);
  const std::vector<unsigned char> x = source_bytes(values, source);
  const expected_orientation row = reference_mx(x, source, element, s, o, mx_orientation::rowwise);
  const expected_orientation column = reference_mx(x, source, element, s, o, mx_orientation::columnwise);
  device_buffer dx(x), out(row.elements.size()), scales(row.scales.size()), out_t(column.elements.size()),
      scales_t(column.scales.size()), amax(sizeof(float));
  out.fill(0xAB);
  scales.fill(0xAB);
  out_t.fill(0xAB);
  scales_t.fill(0xAB);
  amax.fill(0);
  device_quantize_mx(source, element, dx.get(), s.rows, s.cols, out.get(), scales.get(), out_t.get(),
                     scales_t.get(), amax.at<float>(), o);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download<unsigned char>(row.elements.size()) == row.elements);
  CHECK(scales.download<unsigned char>(row.scales.size()) == row.scales);
  CHECK(out_t.download<unsigned char>(column.elements.size()) == column.elements);
  CHECK(scales_t.download<unsigned char>(column.scales.size()) == column.scales);
  CHECK(float_bits(amax.download<float>(1)[0]) == expected_amax_bits(x, source));
}

std::vector<mx_options> mx_option_sets() {
  std::vector<mx_options> sets;
  for (mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil})
    for (rounding mode : {rounding::nearest_even, rounding::toward_zero, rounding::stochastic})
      for (block_scale_layout layout : layouts) {
        mx_options o;
        o.rule = rule;
        o.mode = mode;
        o.seed = 7;
        o.offset = 3;
        o.scale_layout = layout;
        sets.push_back(o);
      }
  return sets;
}

std::string describe(const mx_options& o) {
  return std::string(o.rule == mx_scale_rule::floor ? "floor" : "rceil") + " mode " +
         std::to_string(static_cast<int>(o.mode)) +
         (o.scale_layout == block_scale_layout::compact ? " compact" : " cublaslt_tiled");
}

expected_orientation reference_nvfp4(const std::vector<unsigned char>& x, scalar_type source, shape s,
                                     const nvfp4_options& o, mx_orientation orientation, float& tensor_scale) {
  const bool rowwise = orientation == mx_orientation::rowwise;
  expected_orientation e;
  e.elements.assign(static_cast<std::size_t>(s.rows * s.cols), 0xAB);
  e.scales.assign(scale_count(o.scale_layout, rowwise ? s.rows : s.cols, rowwise ? s.cols : s.rows, 16), 0xAB);
  auto* out = reinterpret_cast<mixprec::float4_e2m1*>(e.elements.data());
  auto* scales = reinterpret_cast<mixprec::float8_e4m3*>(e.scales.data());
  if (source == scalar_type::float32) {
    tensor_scale = mixprec::reference::quantize_nvfp4(reinterpret_cast<const float*>(x.data()), s.rows, s.cols, out,
                                                      scales, o, orientation);
  } else {
    tensor_scale = mixprec::reference::quantize_nvfp4(reinterpret_cast<const mixprec::bfloat16*>(x.data()), s.rows,
                                                      s.cols, out, scales, o, orientation);
  }
  return e;
}

void check_nvfp4(scalar_type source, shape s, const nvfp4_options& o, bool specials, std::uint32_t seed) {
  const std::vector<float> values = make_values(s, seed, specials);
  const std::vector<unsigned char> x = source_bytes(values, source);
  float tensor_scale = 0, tensor_scale_t = 0;
  const expected_orientation row = reference_nvfp4(x, source, s, o, mx_orientation::rowwise, tensor_scale);
  const expected_orientation column = reference_nvfp4(x, source, s, o, mx_orientation::columnwise, tensor_scale_t);
  REQUIRE(float_bits(tensor_scale) == float_bits(tensor_scale_t));  // one S for both orientations
  device_buffer dx(x), out(row.elements.size()), scales(row.scales.size()), out_t(column.elements.size()),
      scales_t(column.scales.size()), amax(sizeof(float)), dscale(sizeof(float));
  out.fill(0xAB);
  scales.fill(0xAB);
  out_t.fill(0xAB);
  scales_t.fill(0xAB);
  amax.fill(0xFF);  // set, not raised: the old value must not survive
  dscale.fill(0xAB);
  device_quantize_nvfp4(source, dx.get(), s.rows, s.cols, out.get(), scales.get(), out_t.get(), scales_t.get(),
                        amax.at<float>(), dscale.at<float>(), o);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download<unsigned char>(row.elements.size()) == row.elements);
  CHECK(scales.download<unsigned char>(row.scales.size()) == row.scales);
  CHECK(out_t.download<unsigned char>(column.elements.size()) == column.elements);
  CHECK(scales_t.download<unsigned char>(column.scales.size()) == column.scales);
  CHECK(float_bits(amax.download<float>(1)[0]) == expected_amax_bits(x, source));
  CHECK(float_bits(dscale.download<float>(1)[0]) == float_bits(tensor_scale));
}

// The largest magnitude of the transformed values of x in `orientation`
// (each 16-block of a line of y transformed by the reference's
// cast::random_hadamard_transform), as float bits; any NaN gives 0x7FC00000
// (the GPU's NaNs carry no payload, so only NaN-ness is compared).
std::uint32_t expected_transformed_amax_bits(const std::vector<unsigned char>& bytes, scalar_type source, shape s,
                                             mx_orientation orientation, std::uint16_t signs) {
  const bool rowwise = orientation == mx_orientation::rowwise;
  const std::int64_t lines = rowwise ? s.rows : s.cols, length = rowwise ? s.cols : s.rows;
  std::uint32_t largest = 0;
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t begin = 0; begin < length; begin += 16) {
      float block[16];
      for (std::int64_t p = 0; p < 16; ++p) {
        const std::size_t i = static_cast<std::size_t>(rowwise ? line * s.cols + begin + p : (begin + p) * s.cols + line);
        block[p] = source == scalar_type::float32
                       ? reinterpret_cast<const float*>(bytes.data())[i]
                       : static_cast<float>(reinterpret_cast<const mixprec::bfloat16*>(bytes.data())[i]);
      }
      mixprec::cast::random_hadamard_transform(block, block, signs, false);
      for (const float v : block) {
        const std::uint32_t magnitude = std::isnan(v) ? 0x7FC00000u : float_bits(v) & 0x7FFFFFFFu;
        largest = magnitude > largest ? magnitude : largest;
      }
    }
  return largest;
}

// quantize_nvfp4 with the random Hadamard transform, one orientation.
void check_nvfp4_hadamard(scalar_type source, shape s, const nvfp4_options& o, mx_orientation orientation,
                          bool specials, std::uint32_t seed) {
  const std::vector<unsigned char> x = source_bytes(make_values(s, seed, specials), source);
  float tensor_scale = 0;
  const expected_orientation e = reference_nvfp4(x, source, s, o, orientation, tensor_scale);
  device_buffer dx(x), out(e.elements.size()), scales(e.scales.size()), amax(sizeof(float)), dscale(sizeof(float));
  out.fill(0xAB);
  scales.fill(0xAB);
  amax.fill(0xFF);
  dscale.fill(0xAB);
  const bool rowwise = orientation == mx_orientation::rowwise;
  device_quantize_nvfp4(source, dx.get(), s.rows, s.cols, rowwise ? out.get() : nullptr,
                        rowwise ? scales.get() : nullptr, rowwise ? nullptr : out.get(),
                        rowwise ? nullptr : scales.get(), amax.at<float>(), dscale.at<float>(), o);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download<unsigned char>(e.elements.size()) == e.elements);
  CHECK(scales.download<unsigned char>(e.scales.size()) == e.scales);
  const float device_amax = amax.download<float>(1)[0];
  CHECK((std::isnan(device_amax) ? 0x7FC00000u : float_bits(device_amax)) ==
        expected_transformed_amax_bits(x, source, s, orientation, o.hadamard_signs));
  CHECK(float_bits(dscale.download<float>(1)[0]) == float_bits(tensor_scale));
}

// One-per-byte E2M1 codes packed in pairs by the pair type's rule (element
// 2t in the low nibble of byte t); n even.
std::vector<unsigned char> packed_pairs(const std::vector<unsigned char>& codes) {
  std::vector<unsigned char> packed(codes.size() / 2);
  for (std::size_t t = 0; t < packed.size(); ++t)
    packed[t] = mixprec::float4_e2m1x2(mixprec::float4_e2m1::from_bits(codes[2 * t]),
                                       mixprec::float4_e2m1::from_bits(codes[2 * t + 1]))
                    .bits();
  return packed;
}

}  // namespace

TEST_CASE("quantize_mx equals the reference: every element type, scale rule, rounding, layout and shape",
          "[cuda][cast][block_cast][mx]") {
  std::uint32_t seed = 1;
  for (mx_element element : mx_elements)
    for (const mx_options& o : mx_option_sets())
      for (const shape& s : shapes) {
        CAPTURE(to_string(element), describe(o), s.rows, s.cols);
        check_mx(scalar_type::float32, element, s, o, seed++);
      }
}

TEST_CASE("quantize_mx from bfloat16 equals the reference", "[cuda][cast][block_cast][mx]") {
  std::uint32_t seed = 1000;
  for (const mx_options& o : mx_option_sets())
    for (const shape& s : shapes) {
      CAPTURE(describe(o), s.rows, s.cols);
      check_mx(scalar_type::bfloat16, mx_element::float8_e4m3, s, o, seed++);
    }
}

TEST_CASE("quantize_mx with one orientation writes only that one; amax is raised, never lowered",
          "[cuda][cast][block_cast][mx]") {
  const shape s{70, 45};
  const std::vector<unsigned char> x = source_bytes(make_values(s, 99, false), scalar_type::float32);
  const mx_options o;
  const expected_orientation row = reference_mx(x, scalar_type::float32, mx_element::float8_e4m3, s, o,
                                                mx_orientation::rowwise);
  const expected_orientation column = reference_mx(x, scalar_type::float32, mx_element::float8_e4m3, s, o,
                                                   mx_orientation::columnwise);
  device_buffer dx(x), out(row.elements.size()), scales(row.scales.size()), amax(sizeof(float));
  // Row-wise only, with a slot already above max |x|: it keeps its value.
  out.fill(0xAB);
  scales.fill(0xAB);
  const float high = 1e38f;
  amax.upload(&high, sizeof(float));
  device_quantize_mx(scalar_type::float32, mx_element::float8_e4m3, dx.get(), s.rows, s.cols, out.get(),
                     scales.get(), nullptr, nullptr, amax.at<float>(), o);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download<unsigned char>(row.elements.size()) == row.elements);
  CHECK(scales.download<unsigned char>(row.scales.size()) == row.scales);
  CHECK(amax.download<float>(1)[0] == high);
  // Column-wise only, into the same buffers (same sizes), no amax.
  out.fill(0xAB);
  scales.fill(0xAB);
  device_quantize_mx(scalar_type::float32, mx_element::float8_e4m3, dx.get(), s.rows, s.cols, nullptr, nullptr,
                     out.get(), scales.get(), nullptr, o);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download<unsigned char>(column.elements.size()) == column.elements);
  std::vector<unsigned char> expected_scales = column.scales;
  expected_scales.resize(row.scales.size(), 0xAB);  // 45 x ceil(70 / 32) < 70 x ceil(45 / 32) scales
  CHECK(scales.download<unsigned char>(row.scales.size()) == expected_scales);
}

TEST_CASE("quantize_nvfp4 equals the reference: 1x16 and 16x16 blocks, rounding, layout, shape, specials",
          "[cuda][cast][block_cast][nvfp4]") {
  std::uint32_t seed = 2000;
  for (scalar_type source : {scalar_type::float32, scalar_type::bfloat16})
    for (bool tiles : {false, true})
      for (rounding mode : {rounding::nearest_even, rounding::stochastic})
        for (block_scale_layout layout : layouts)
          for (bool specials : {false, true})
            for (const shape& s : shapes) {
              nvfp4_options o;
              o.mode = mode;
              o.seed = 11;
              o.offset = 5;
              o.two_dimensional_blocks = tiles;
              o.scale_layout = layout;
              CAPTURE(mixprec::to_string(source), tiles, static_cast<int>(mode), static_cast<int>(layout), specials,
                      s.rows, s.cols);
              check_nvfp4(source, s, o, specials, seed++);
            }
}

TEST_CASE("quantize_nvfp4 with the random Hadamard transform equals the reference, one orientation per call",
          "[cuda][cast][block_cast][nvfp4]") {
  // The transformed dimension a multiple of 16, the other ragged.
  const shape column_shapes[] = {{16, 1}, {48, 33}, {64, 64}, {144, 97}, {256, 48}};
  const shape row_shapes[] = {{1, 16}, {33, 48}, {130, 64}};
  std::uint32_t seed = 3000;
  for (rounding mode : {rounding::nearest_even, rounding::stochastic})
    for (block_scale_layout layout : layouts)
      for (bool specials : {false, true})
        for (std::uint16_t signs : {mixprec::transformer_engine_hadamard_signs, mixprec::cast::random_hadamard_signs(5)}) {
          nvfp4_options o;
          o.mode = mode;
          o.seed = 13;
          o.scale_layout = layout;
          o.random_hadamard = true;
          o.hadamard_signs = signs;
          for (const shape& s : column_shapes) {
            CAPTURE("columnwise", static_cast<int>(mode), static_cast<int>(layout), specials, signs, s.rows, s.cols);
            check_nvfp4_hadamard(scalar_type::float32, s, o, mx_orientation::columnwise, specials, seed++);
          }
          for (const shape& s : row_shapes) {
            CAPTURE("rowwise", static_cast<int>(mode), static_cast<int>(layout), specials, signs, s.rows, s.cols);
            check_nvfp4_hadamard(scalar_type::bfloat16, s, o, mx_orientation::rowwise, specials, seed++);
          }
        }
}

TEST_CASE("packed FP4 pairs (float4_e2m1x2) hold the reference's elements two per byte, MXFP4 and NVFP4",
          "[cuda][cast][block_cast][packed]") {
  // Even in both directions (both orientations are asked for), ragged blocks.
  const shape even_shapes[] = {{2, 2}, {30, 18}, {64, 64}, {130, 98}, {258, 48}};
  std::uint32_t seed = 4000;
  for (const shape& s : even_shapes)
    for (block_scale_layout layout : layouts)
      for (rounding mode : {rounding::nearest_even, rounding::stochastic}) {
        CAPTURE(s.rows, s.cols, static_cast<int>(layout), static_cast<int>(mode));
        const std::vector<unsigned char> x = source_bytes(make_values(s, seed++, true), scalar_type::float32);
        const std::size_t half = x.size() / 4 / 2;
        mx_options mo;
        mo.rule = mx_scale_rule::rceil;
        mo.mode = mode;
        mo.seed = 21;
        mo.scale_layout = layout;
        const expected_orientation row = reference_mx(x, scalar_type::float32, mx_element::float4_e2m1, s, mo,
                                                      mx_orientation::rowwise);
        const expected_orientation column = reference_mx(x, scalar_type::float32, mx_element::float4_e2m1, s, mo,
                                                         mx_orientation::columnwise);
        device_buffer dx(x), out(half), scales(row.scales.size()), out_t(half), scales_t(column.scales.size()),
            amax(sizeof(float)), dscale(sizeof(float));
        out.fill(0xAB);
        out_t.fill(0xAB);
        device_quantize_mx_packed(dx.at<float>(), s.rows, s.cols, out.get(), scales.get(), out_t.get(),
                                  scales_t.get(), nullptr, mo);
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        CHECK(out.download<unsigned char>(half) == packed_pairs(row.elements));
        CHECK(scales.download<unsigned char>(row.scales.size()) == row.scales);
        CHECK(out_t.download<unsigned char>(half) == packed_pairs(column.elements));
        CHECK(scales_t.download<unsigned char>(column.scales.size()) == column.scales);

        nvfp4_options no;
        no.mode = mode;
        no.seed = 23;
        no.scale_layout = layout;
        float tensor_scale = 0, tensor_scale_t = 0;
        const expected_orientation nv_row =
            reference_nvfp4(x, scalar_type::float32, s, no, mx_orientation::rowwise, tensor_scale);
        const expected_orientation nv_column =
            reference_nvfp4(x, scalar_type::float32, s, no, mx_orientation::columnwise, tensor_scale_t);
        device_buffer nv_scales(nv_row.scales.size()), nv_scales_t(nv_column.scales.size());
        out.fill(0xAB);
        out_t.fill(0xAB);
        device_quantize_nvfp4_packed(dx.at<float>(), s.rows, s.cols, out.get(), nv_scales.get(), out_t.get(),
                                     nv_scales_t.get(), amax.at<float>(), dscale.at<float>(), no);
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
        CHECK(out.download<unsigned char>(half) == packed_pairs(nv_row.elements));
        CHECK(nv_scales.download<unsigned char>(nv_row.scales.size()) == nv_row.scales);
        CHECK(out_t.download<unsigned char>(half) == packed_pairs(nv_column.elements));
        CHECK(nv_scales_t.download<unsigned char>(nv_column.scales.size()) == nv_column.scales);
        CHECK(float_bits(dscale.download<float>(1)[0]) == float_bits(tensor_scale));
      }
}

TEST_CASE("block casts are stream-ordered: captured in a graph on a non-blocking stream, replayed on new data",
          "[cuda][cast][block_cast]") {
  const shape s{96, 80};
  const std::size_t n = static_cast<std::size_t>(s.rows * s.cols);
  mx_options mo;
  mo.scale_layout = block_scale_layout::cublaslt_tiled;  // the padding memset is captured too
  nvfp4_options no;
  no.scale_layout = block_scale_layout::cublaslt_tiled;
  const std::size_t mx_count = scale_count(mo.scale_layout, s.rows, s.cols, 32);
  const std::size_t mx_count_t = scale_count(mo.scale_layout, s.cols, s.rows, 32);
  const std::size_t nv_count = scale_count(no.scale_layout, s.rows, s.cols, 16);
  const std::size_t nv_count_t = scale_count(no.scale_layout, s.cols, s.rows, 16);
  device_buffer dx(n * 4), mx_out(n), mx_scales(mx_count), mx_out_t(n), mx_scales_t(mx_count_t), nv_out(n),
      nv_scales(nv_count), nv_out_t(n), nv_scales_t(nv_count_t), amax(4), nv_amax(4), nv_scale(4);
  cudaStream_t stream = nullptr;
  mixprec::cuda::check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  mixprec::cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
  device_quantize_mx(scalar_type::float32, mx_element::float8_e4m3, dx.get(), s.rows, s.cols, mx_out.get(),
                     mx_scales.get(), mx_out_t.get(), mx_scales_t.get(), nullptr, mo, stream);
  device_quantize_nvfp4(scalar_type::float32, dx.get(), s.rows, s.cols, nv_out.get(), nv_scales.get(), nv_out_t.get(),
                        nv_scales_t.get(), nv_amax.at<float>(), nv_scale.at<float>(), no, stream);
  mixprec::cuda::check(cudaStreamEndCapture(stream, &graph), "end capture");
  mixprec::cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  for (std::uint32_t seed : {71u, 72u}) {
    CAPTURE(seed);
    const std::vector<unsigned char> x = source_bytes(make_values(s, seed, seed == 72u), scalar_type::float32);
    dx.upload(x.data(), x.size());  // read by the replay on the device
    mx_scales.fill(0xAB);           // the replay must zero the padding again
    mixprec::cuda::check(cudaGraphLaunch(exec, stream), "graph launch");
    mixprec::cuda::check(cudaStreamSynchronize(stream), "sync");
    const expected_orientation mx_row =
        reference_mx(x, scalar_type::float32, mx_element::float8_e4m3, s, mo, mx_orientation::rowwise);
    const expected_orientation mx_column =
        reference_mx(x, scalar_type::float32, mx_element::float8_e4m3, s, mo, mx_orientation::columnwise);
    float tensor_scale = 0;
    const expected_orientation nv_row = reference_nvfp4(x, scalar_type::float32, s, no, mx_orientation::rowwise,
                                                        tensor_scale);
    const expected_orientation nv_column = reference_nvfp4(x, scalar_type::float32, s, no, mx_orientation::columnwise,
                                                           tensor_scale);
    CHECK(mx_out.download<unsigned char>(n) == mx_row.elements);
    CHECK(mx_scales.download<unsigned char>(mx_count) == mx_row.scales);
    CHECK(mx_out_t.download<unsigned char>(n) == mx_column.elements);
    CHECK(mx_scales_t.download<unsigned char>(mx_count_t) == mx_column.scales);
    CHECK(nv_out.download<unsigned char>(n) == nv_row.elements);
    CHECK(nv_scales.download<unsigned char>(nv_count) == nv_row.scales);
    CHECK(nv_out_t.download<unsigned char>(n) == nv_column.elements);
    CHECK(nv_scales_t.download<unsigned char>(nv_count_t) == nv_column.scales);
    CHECK(float_bits(nv_scale.download<float>(1)[0]) == float_bits(tensor_scale));
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST_CASE("block casts reject bad arguments before launching anything", "[cuda][cast][block_cast]") {
  const shape s{40, 40};
  const std::vector<unsigned char> x = source_bytes(make_values(s, 5, false), scalar_type::float32);
  device_buffer dx(x), out(1600), scales(4096), amax(sizeof(float));
  out.fill(0xAB);
  scales.fill(0xAB);
  amax.fill(0xAB);
  const auto untouched = [&] {
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(out.download<unsigned char>(1600) == std::vector<unsigned char>(1600, 0xAB));
    CHECK(scales.download<unsigned char>(4096) == std::vector<unsigned char>(4096, 0xAB));
    CHECK(amax.download<unsigned char>(4) == std::vector<unsigned char>(4, 0xAB));
  };
  const auto mx = [&](const void* source, std::int64_t rows, std::int64_t cols, void* o_out, void* o_scales,
                      const mx_options& o) {
    device_quantize_mx(scalar_type::float32, mx_element::float8_e4m3, source, rows, cols, o_out, o_scales, nullptr,
                       nullptr, amax.at<float>(), o);
  };
  const auto nv = [&](const void* source, std::int64_t rows, std::int64_t cols, void* o_out, void* o_scales,
                      float* o_amax, const nvfp4_options& o) {
    device_quantize_nvfp4(scalar_type::float32, source, rows, cols, o_out, o_scales, nullptr, nullptr, o_amax,
                          nullptr, o);
  };
  const mx_options good;
  mx_options bad_rule, bad_mode, bad_layout;
  bad_rule.rule = static_cast<mx_scale_rule>(7);
  bad_mode.mode = static_cast<rounding>(42);
  bad_layout.scale_layout = static_cast<block_scale_layout>(9);
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, out.get(), scales.get(), bad_rule),
                    Catch::Contains("mx_options::rule = 7"));
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, out.get(), scales.get(), bad_mode),
                    Catch::Contains("mx_options::mode = 42"));
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, out.get(), scales.get(), bad_layout),
                    Catch::Contains("block_scale_layout = 9"));
  CHECK_THROWS_WITH(mx(nullptr, s.rows, s.cols, out.get(), scales.get(), good), Catch::Contains("x is null"));
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, out.get(), nullptr, good), Catch::Contains("pass both"));
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, nullptr, scales.get(), good), Catch::Contains("pass both"));
  CHECK_THROWS_WITH(mx(dx.get(), s.rows, s.cols, nullptr, nullptr, good), Catch::Contains("both null"));
  CHECK_THROWS_WITH(mx(dx.get(), -1, s.cols, out.get(), scales.get(), good), Catch::Contains("must not be negative"));
  CHECK_THROWS_WITH(mx(dx.get(), INT64_MAX / 2, 3, out.get(), scales.get(), good), Catch::Contains("overflows"));
  nvfp4_options nv_good, nv_bad_mode, nv_hadamard, nv_bad_layout;
  nv_bad_mode.mode = static_cast<rounding>(42);
  nv_hadamard.random_hadamard = true;
  nv_bad_layout.scale_layout = static_cast<block_scale_layout>(9);
  float* slot = amax.at<float>();
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, out.get(), scales.get(), slot, nv_bad_mode),
                    Catch::Contains("nvfp4_options::mode = 42"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, out.get(), scales.get(), slot, nv_hadamard),
                    Catch::Contains("random_hadamard needs the quantized dimension to be a multiple of 16"));
  CHECK_THROWS_WITH(device_quantize_nvfp4(scalar_type::float32, dx.get(), 32, 32, out.get(), scales.get(), out.get(),
                                          scales.get(), slot, nullptr, nv_hadamard),
                    Catch::Contains("random_hadamard with both orientations"));
  nvfp4_options nv_hadamard_tiles = nv_hadamard;
  nv_hadamard_tiles.two_dimensional_blocks = true;
  CHECK_THROWS_WITH(device_quantize_nvfp4(scalar_type::float32, dx.get(), 32, 32, out.get(), scales.get(), nullptr,
                                          nullptr, slot, nullptr, nv_hadamard_tiles),
                    Catch::Contains("random_hadamard and two_dimensional_blocks are both set"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, out.get(), scales.get(), slot, nv_bad_layout),
                    Catch::Contains("block_scale_layout = 9"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, out.get(), scales.get(), nullptr, nv_good),
                    Catch::Contains("amax is null"));
  CHECK_THROWS_WITH(nv(nullptr, s.rows, s.cols, out.get(), scales.get(), slot, nv_good), Catch::Contains("x is null"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, out.get(), nullptr, slot, nv_good), Catch::Contains("pass both"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, s.cols, nullptr, nullptr, slot, nv_good), Catch::Contains("both null"));
  CHECK_THROWS_WITH(nv(dx.get(), s.rows, -3, out.get(), scales.get(), slot, nv_good),
                    Catch::Contains("must not be negative"));
  // Packed pairs: an odd quantized dimension in an orientation asked for.
  CHECK_THROWS_WITH(device_quantize_mx_packed(dx.at<float>(), 40, 39, out.get(), scales.get(), nullptr, nullptr,
                                              nullptr, good),
                    Catch::Contains("need an even cols, but cols = 39"));
  CHECK_THROWS_WITH(device_quantize_nvfp4_packed(dx.at<float>(), 39, 40, nullptr, nullptr, out.get(), scales.get(),
                                                 slot, nullptr, nv_good),
                    Catch::Contains("need an even rows, but rows = 39"));
  untouched();
}
