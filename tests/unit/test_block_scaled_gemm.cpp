// The block-scaled (MX, NVFP4) GEMM: mixprec/gemm/block_scaled.hpp's rules and
// mixprec/reference/block_scaled_gemm.hpp against float64. The operands'
// values are decoded by the independent reference (tests/support), never by
// the library: each product is exact in double, the float64 sum bounds the
// FP32 accumulation error, and an emulation of the defined K-order FP32
// accumulation over those independently decoded values must match bit for bit.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mixprec/reference/block_scaled_gemm.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/independent_reference.hpp"

namespace {

using mixprec::gemm::block_element;
using mixprec::gemm::block_scale_layout;
using mixprec::gemm::block_scaled_operand;
using mixprec::gemm::block_scaled_problem;
using mixprec::gemm::block_scaling;

const reference::format_spec& spec_of(block_element type) {
  switch (type) {
    case block_element::float8_e4m3:
      return reference::e4m3_spec;
    case block_element::float8_e5m2:
      return reference::e5m2_spec;
    case block_element::float6_e2m3:
      return reference::e2m3_spec;
    case block_element::float6_e3m2:
      return reference::e3m2_spec;
    case block_element::float4_e2m1:
      return reference::e2m1_spec;
  }
  return reference::e4m3_spec;
}

// A quantized operand held by the test: codes one per byte, compact scales.
struct operand_data {
  block_element type = block_element::float8_e4m3;
  std::vector<std::uint8_t> codes, scales;
  std::int64_t rows = 0, k = 0;
  block_scaled_operand view() const {
    block_scaled_operand x;
    x.type = type;
    x.data = codes.data();
    x.ld = k;
    x.scales = scales.data();
    return x;
  }
};

template <class Element>
operand_data quantize_mx_operand(block_element type, std::int64_t rows, std::int64_t k, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * k));
  for (float& v : x) v = normal(generator) * std::ldexp(1.0f, static_cast<int>(generator() % 9) - 4);
  std::vector<Element> q(x.size());
  const std::size_t blocks = static_cast<std::size_t>((k + 31) / 32);
  std::vector<mixprec::float8_e8m0> s(static_cast<std::size_t>(rows) * blocks);
  mixprec::reference::quantize_mx(x.data(), rows, k, q.data(), s.data());
  operand_data out;
  out.type = type;
  out.rows = rows;
  out.k = k;
  for (const Element& e : q) out.codes.push_back(e.bits());
  for (const auto& e : s) out.scales.push_back(e.bits());
  return out;
}

operand_data make_mx_operand(block_element type, std::int64_t rows, std::int64_t k, std::uint64_t seed) {
  switch (type) {
    case block_element::float8_e4m3:
      return quantize_mx_operand<mixprec::float8_e4m3>(type, rows, k, seed);
    case block_element::float8_e5m2:
      return quantize_mx_operand<mixprec::float8_e5m2>(type, rows, k, seed);
    case block_element::float6_e2m3:
      return quantize_mx_operand<mixprec::float6_e2m3>(type, rows, k, seed);
    case block_element::float6_e3m2:
      return quantize_mx_operand<mixprec::float6_e3m2>(type, rows, k, seed);
    case block_element::float4_e2m1:
      return quantize_mx_operand<mixprec::float4_e2m1>(type, rows, k, seed);
  }
  return {};
}

// The operand's values by the independent reference: element · scale, exact in double.
std::vector<double> independent_values(const operand_data& x, block_scaling scaling) {
  const std::int64_t block = scaling == block_scaling::mx_vec32_ue8m0 ? 32 : 16;
  const std::int64_t blocks = (x.k + block - 1) / block;
  std::vector<double> v(x.codes.size());
  for (std::int64_t r = 0; r < x.rows; ++r)
    for (std::int64_t t = 0; t < x.k; ++t) {
      const std::uint32_t s = x.scales[static_cast<std::size_t>(r * blocks + t / block)];
      const double scale = scaling == block_scaling::mx_vec32_ue8m0
                               ? (s == 0xFF ? std::nan("") : std::ldexp(1.0, static_cast<int>(s) - 127))
                               : reference::decode(reference::e4m3_spec, s).value;
      v[static_cast<std::size_t>(r * x.k + t)] =
          reference::decode(spec_of(x.type), x.codes[static_cast<std::size_t>(r * x.k + t)]).value * scale;
    }
  return v;
}

struct comparison {
  int not_bit_exact = 0, beyond_bound = 0;
};

// D (float32, [m, n]) against (1) the defined FP32 K-order accumulation of the
// independently decoded products and (2) float64 within the FP32 bound.
comparison compare(const std::vector<float>& d, const operand_data& a, const operand_data& b, block_scaling scaling,
                   float alpha) {
  const std::vector<double> va = independent_values(a, scaling), vb = independent_values(b, scaling);
  comparison c;
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t j = 0; j < b.rows; ++j) {
      float acc = 0.0f;
      double exact = 0, magnitude = 0;
      for (std::int64_t t = 0; t < a.k; ++t) {
        const double p = va[static_cast<std::size_t>(i * a.k + t)] * vb[static_cast<std::size_t>(j * b.k + t)];
        acc = static_cast<float>(static_cast<double>(acc) + p);
        exact += p;
        magnitude += std::fabs(p);
      }
      const float got = d[static_cast<std::size_t>(i * b.rows + j)];
      c.not_bit_exact += got != alpha * acc;
      // FP32 accumulation of K terms: |error| <= K · 2^-24 · Σ|p| (plus alpha's rounding).
      const double bound = static_cast<double>(a.k) * 0x1p-24 * magnitude * std::fabs(static_cast<double>(alpha)) +
                           0x1p-24 * std::fabs(exact * static_cast<double>(alpha));
      c.beyond_bound += !(std::fabs(static_cast<double>(got) - exact * static_cast<double>(alpha)) <= bound);
    }
  return c;
}

block_scaled_problem make_problem(const operand_data& a, const operand_data& b, block_scaling scaling,
                                  std::vector<float>& d) {
  block_scaled_problem p;
  p.m = a.rows;
  p.n = b.rows;
  p.k = a.k;
  p.scaling = scaling;
  p.a = a.view();
  p.b = b.view();
  d.assign(static_cast<std::size_t>(p.m * p.n), -1.0f);
  p.d.type = mixprec::gemm::element_type::float32;
  p.d.data = d.data();
  p.d.ld = p.n;
  return p;
}

// Runs p with a T output and checks every element against the independent
// reference's nearest-even rounding of the float32 result.
template <class T>
bool sixteen_bit_output_matches(block_scaled_problem p, const std::vector<float>& float_result,
                                const reference::format_spec& spec) {
  std::vector<T> d(float_result.size(), T::from_bits(0xFFFF));
  p.d.type = mixprec::gemm::element_type_of<T>::value;
  p.d.data = d.data();
  mixprec::reference::block_scaled_gemm(p);
  int wrong = 0;
  for (std::size_t i = 0; i < d.size(); ++i)
    wrong +=
        d[i].bits() != reference::rounder_for(spec).round(static_cast<double>(float_result[i]),
                                                          reference::mode::nearest_even, reference::overflow::none);
  return wrong == 0;
}

const block_element all_mx_elements[] = {block_element::float8_e4m3, block_element::float8_e5m2,
                                         block_element::float6_e2m3, block_element::float6_e3m2,
                                         block_element::float4_e2m1};

}  // namespace

TEST_CASE("block-scaled reference GEMM: every MX operand combination against float64", "[gemm][reference][mx]") {
  const std::int64_t m = 3, n = 5, k = 70;  // three blocks of K, the last partial
  for (const block_element ta : all_mx_elements)
    for (const block_element tb : all_mx_elements) {
      const operand_data a = make_mx_operand(ta, m, k, 1), b = make_mx_operand(tb, n, k, 2);
      std::vector<float> d;
      block_scaled_problem p = make_problem(a, b, block_scaling::mx_vec32_ue8m0, d);
      p.alpha = 0.75f;
      mixprec::reference::block_scaled_gemm(p);
      const comparison c = compare(d, a, b, p.scaling, p.alpha);
      INFO(ta << " x " << tb);
      CHECK(c.not_bit_exact == 0);
      CHECK(c.beyond_bound == 0);
    }
}

TEST_CASE("block-scaled reference GEMM: NVFP4 with alpha = 1 / (S_a S_b) approximates the high-precision product",
          "[gemm][reference][nvfp4]") {
  const std::int64_t m = 4, n = 6, k = 48;
  std::mt19937_64 generator(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> xa(static_cast<std::size_t>(m * k)), xb(static_cast<std::size_t>(n * k));
  for (float& v : xa) v = normal(generator);
  for (float& v : xb) v = normal(generator);
  const auto quantize = [&](const std::vector<float>& x, std::int64_t rows, float& s) {
    std::vector<mixprec::float4_e2m1> q(x.size());
    std::vector<mixprec::float8_e4m3> sc(static_cast<std::size_t>(rows * 3));
    s = mixprec::reference::quantize_nvfp4(x.data(), rows, k, q.data(), sc.data());
    operand_data o;
    o.type = block_element::float4_e2m1;
    o.rows = rows;
    o.k = k;
    for (const auto& e : q) o.codes.push_back(e.bits());
    for (const auto& e : sc) o.scales.push_back(e.bits());
    return o;
  };
  float sa = 0, sb = 0;
  const operand_data a = quantize(xa, m, sa), b = quantize(xb, n, sb);
  std::vector<float> d;
  block_scaled_problem p = make_problem(a, b, block_scaling::nvfp4_vec16_ue4m3, d);
  p.alpha = mixprec::gemm::nvfp4_alpha(sa, sb);
  CHECK(p.alpha == static_cast<float>(1.0 / (static_cast<double>(sa) * static_cast<double>(sb))));
  mixprec::reference::block_scaled_gemm(p);
  const comparison c = compare(d, a, b, p.scaling, p.alpha);
  CHECK(c.not_bit_exact == 0);
  CHECK(c.beyond_bound == 0);
  // Against the unquantized product: NVFP4's error, a few percent of the row norms.
  double error = 0, energy = 0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double exact = 0;
      for (std::int64_t t = 0; t < k; ++t)
        exact += static_cast<double>(xa[static_cast<std::size_t>(i * k + t)]) *
                 static_cast<double>(xb[static_cast<std::size_t>(j * k + t)]);
      const double diff = static_cast<double>(d[static_cast<std::size_t>(i * n + j)]) - exact;
      error += diff * diff;
      energy += exact * exact;
    }
  CHECK(error < 0.05 * energy);
}

TEST_CASE("block-scaled reference GEMM accumulates in FP32 in K order; exact sums are exact", "[gemm][reference]") {
  // K = 65 in three MX blocks: products 2^24 (block 0), 1 (block 1), -2^24
  // (block 2). FP32 in K order: 2^24 + 1 = 2^24 (tie to even), then 0;
  // float64 would give 1.
  operand_data a, b;
  a.type = b.type = block_element::float8_e4m3;
  a.rows = b.rows = 1;
  a.k = b.k = 65;
  a.codes.assign(65, 0);
  b.codes.assign(65, 0);
  a.codes[0] = b.codes[0] = 0x38;  // 1
  a.codes[32] = b.codes[32] = 0x38;
  a.codes[64] = 0xB8;  // -1
  b.codes[64] = 0x38;
  a.scales = {127 + 12, 127, 127 + 12};
  b.scales = a.scales;
  std::vector<float> d;
  block_scaled_problem p = make_problem(a, b, block_scaling::mx_vec32_ue8m0, d);
  mixprec::reference::block_scaled_gemm(p);
  CHECK(d[0] == 0.0f);
  // Integer-valued operands whose partial sums stay below 2^24: D equals float64 exactly.
  operand_data x = make_mx_operand(block_element::float6_e2m3, 4, 64, 9);
  for (auto& s : x.scales) s = 127 + 3;  // elements of E2M3 (multiples of 1/8) times 8: integers
  const operand_data y = x;
  std::vector<float> d2;
  block_scaled_problem q = make_problem(x, y, block_scaling::mx_vec32_ue8m0, d2);
  mixprec::reference::block_scaled_gemm(q);
  const std::vector<double> vx = independent_values(x, q.scaling);
  int inexact = 0;
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 4; ++j) {
      double exact = 0;
      for (std::int64_t t = 0; t < 64; ++t)
        exact += vx[static_cast<std::size_t>(i * 64 + t)] * vx[static_cast<std::size_t>(j * 64 + t)];
      inexact += static_cast<double>(d2[static_cast<std::size_t>(i * 4 + j)]) != exact;
    }
  CHECK(inexact == 0);
}

TEST_CASE("block-scaled reference GEMM: packed FP4, tiled scales and 16-bit outputs give the same values",
          "[gemm][reference]") {
  const std::int64_t m = 130, n = 3, k = 64;  // A's tiled scales pad to 256 rows
  const operand_data a = make_mx_operand(block_element::float4_e2m1, m, k, 3);
  const operand_data b = make_mx_operand(block_element::float8_e4m3, n, k, 4);
  std::vector<float> d_plain;
  block_scaled_problem p = make_problem(a, b, block_scaling::mx_vec32_ue8m0, d_plain);
  mixprec::reference::block_scaled_gemm(p);
  // A packed two per byte (element 2t in the low nibble) with tiled scales.
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(m * k / 2));
  for (std::size_t t = 0; t < packed.size(); ++t)
    packed[t] = static_cast<std::uint8_t>(a.codes[2 * t] | (a.codes[2 * t + 1] << 4));
  std::vector<mixprec::float8_e8m0> compact, tiled(256 * 4);
  for (const auto c : a.scales) compact.push_back(mixprec::float8_e8m0::from_bits(c));
  mixprec::gemm::to_cublaslt_tiled(compact.data(), static_cast<std::size_t>(m), 2, tiled.data());
  std::vector<float> d_packed(d_plain.size());
  block_scaled_problem q = p;
  q.a.data = packed.data();
  q.a.packed = true;
  q.a.scales = tiled.data();
  q.a.scale_layout = block_scale_layout::cublaslt_tiled;
  q.d.data = d_packed.data();
  mixprec::reference::block_scaled_gemm(q);
  CHECK(d_packed == d_plain);
  // bfloat16 and float16 outputs: the float result rounded once (nearest even),
  // by the independent reference's rounding.
  CHECK(sixteen_bit_output_matches<mixprec::bfloat16>(p, d_plain, reference::bfloat16_spec));
  CHECK(sixteen_bit_output_matches<mixprec::float16>(p, d_plain, reference::float16_spec));
}

TEST_CASE("gemm::validate rejects malformed block-scaled problems before writing", "[gemm][validation][mx]") {
  const operand_data a = make_mx_operand(block_element::float8_e4m3, 2, 32, 1);
  const operand_data b = make_mx_operand(block_element::float8_e4m3, 2, 32, 2);
  std::vector<float> d;
  const block_scaled_problem good = make_problem(a, b, block_scaling::mx_vec32_ue8m0, d);
  CHECK_NOTHROW(mixprec::gemm::validate(good));
  using mixprec::gemm::validate;
  auto p = good;
  p.scaling = static_cast<block_scaling>(7);
  MIXPREC_REQUIRE_ERROR(validate(p), "scaling = 7");
  p = good;
  p.k = 0;
  MIXPREC_REQUIRE_ERROR(validate(p), "at least 1");
  p = good;
  p.a.type = static_cast<block_element>(9);
  MIXPREC_REQUIRE_ERROR(validate(p), "A.type = 9");
  p = good;
  p.scaling = block_scaling::nvfp4_vec16_ue4m3;
  MIXPREC_REQUIRE_ERROR(validate(p), "NVFP4");
  p = good;
  p.b.packed = true;
  MIXPREC_REQUIRE_ERROR(validate(p), "only float4_e2m1 packs");
  p = good;
  p.a.ld = 31;
  MIXPREC_REQUIRE_ERROR(validate(p), "A.ld = 31 is less than K = 32");
  p = good;
  p.b.scales = nullptr;
  MIXPREC_REQUIRE_ERROR(validate(p), "B.scales is null");
  p = good;
  p.a.data = nullptr;
  MIXPREC_REQUIRE_ERROR(validate(p), "A.data is null");
  p = good;
  p.a.scale_layout = static_cast<block_scale_layout>(4);
  MIXPREC_REQUIRE_ERROR(validate(p), "A.scale_layout = 4");
  p = good;
  p.d.type = mixprec::gemm::element_type::float8_e4m3;
  MIXPREC_REQUIRE_ERROR(validate(p), "writes float32, bfloat16 or float16");
  p = good;
  p.d.ld = 1;
  MIXPREC_REQUIRE_ERROR(validate(p), "d.ld = 1");
  p = good;
  p.alpha = std::numeric_limits<float>::infinity();
  MIXPREC_REQUIRE_ERROR(validate(p), "alpha");
  p = good;
  p.m = INT64_MAX / 2;
  MIXPREC_REQUIRE_ERROR(validate(p), "INT64_MAX");
  p = good;
  p.d.data = const_cast<std::uint8_t*>(a.codes.data());  // D over A
  MIXPREC_REQUIRE_ERROR(validate(p), "D overlaps A or B");
  p = good;
  p.d.data = const_cast<std::uint8_t*>(b.scales.data());  // D over B's scales
  MIXPREC_REQUIRE_ERROR(validate(p), "D overlaps A's or B's scales");
  // Packed FP4 with an odd ld.
  const operand_data f = make_mx_operand(block_element::float4_e2m1, 2, 32, 3);
  p = make_problem(f, b, block_scaling::mx_vec32_ue8m0, d);
  p.a.packed = true;
  p.a.ld = 33;
  MIXPREC_REQUIRE_ERROR(validate(p), "odd");
  // The reference writes nothing when validation fails.
  p = good;
  p.alpha = NAN;
  std::fill(d.begin(), d.end(), 7.0f);
  MIXPREC_REQUIRE_ERROR(mixprec::reference::block_scaled_gemm(p), "alpha");
  CHECK(d[0] == 7.0f);
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::nvfp4_alpha(0.0f, 1.0f), "finite and positive");
}

TEST_CASE("gemm::validate_for_cublaslt: block-scaled GEMMs need Blackwell, tiled scales, packed FP4, no FP6",
          "[gemm][validation][mx][nvfp4]") {
  // A 16-byte aligned problem cuBLASLt could run on sm_100: NVFP4, K = 64, packed, tiled.
  alignas(16) static std::uint8_t a_data[128 * 32], b_data[128 * 32];
  alignas(16) static std::uint8_t a_scales[128 * 4], b_scales[128 * 4];
  alignas(16) static float d_data[128 * 132];  // room for ldd = 130 below
  block_scaled_problem good;
  good.m = 128;
  good.n = 128;
  good.k = 64;
  good.scaling = block_scaling::nvfp4_vec16_ue4m3;
  good.a = {block_element::float4_e2m1, a_data, 64, true, a_scales, block_scale_layout::cublaslt_tiled};
  good.b = {block_element::float4_e2m1, b_data, 64, true, b_scales, block_scale_layout::cublaslt_tiled};
  good.d.type = mixprec::gemm::element_type::float32;
  good.d.data = d_data;
  good.d.ld = 128;
  const mixprec::gemm::device_capabilities blackwell{10, 0, 130100}, hopper{9, 0, 130100}, old{10, 0, 120700};
  using mixprec::gemm::validate_for_cublaslt;
  CHECK_NOTHROW(validate_for_cublaslt(good, blackwell));
  CHECK(mixprec::gemm::describe(good) ==
        "M=128 N=128 K=64 nvfp4_vec16_ue4m3 A=float4_e2m1 (packed, ld=64, scales cublaslt_tiled) B=float4_e2m1 "
        "(packed, ld=64, scales cublaslt_tiled) D=float32 (ldd=128) alpha=1");
  CHECK_NOTHROW(validate_for_cublaslt(good, {12, 0, 130100}));
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(good, hopper), "run on Blackwell (compute capability 10.x or 12.x");
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(good, hopper), "this device is 9.0");
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(good, old), "predates block-scaled matmul");
  auto p = good;
  p.k = 40;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "K = 40 is not a multiple of 16");
  p = good;
  p.b.scale_layout = block_scale_layout::compact;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "128x4 tiled layout");
  p = good;
  p.a.packed = false;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "packed two per byte");
  p = good;
  p.a.data = a_data + 1;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "16-byte aligned");
  p = good;
  p.scaling = block_scaling::mx_vec32_ue8m0;
  p.a.type = block_element::float6_e2m3;
  p.a.packed = false;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "no storage layout for FP6");
  p = good;
  p.d.ld = 130;  // 520 bytes: not a multiple of 16
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "ldd = 130");
  // MXFP8 on Blackwell: K multiple of 32.
  p = good;
  p.scaling = block_scaling::mx_vec32_ue8m0;
  p.a = {block_element::float8_e4m3, a_data, 32, false, a_scales, block_scale_layout::cublaslt_tiled};
  p.b = {block_element::float8_e5m2, b_data, 32, false, b_scales, block_scale_layout::cublaslt_tiled};
  p.k = 32;
  CHECK_NOTHROW(validate_for_cublaslt(p, blackwell));
  p.k = 16;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "multiple of 32");
}

namespace {

// A 1 x 1 x 32 MXFP8 problem validate_for_cublaslt accepts on Blackwell.
block_scaled_problem small_tiled_problem() {
  alignas(16) static std::uint8_t a_data[32], b_data[32], a_scales[512], b_scales[512];
  alignas(16) static float d_data[16];
  block_scaled_problem p;
  p.m = p.n = 1;
  p.k = 32;
  p.a = {block_element::float8_e4m3, a_data, 32, false, a_scales, block_scale_layout::cublaslt_tiled};
  p.b = {block_element::float8_e4m3, b_data, 32, false, b_scales, block_scale_layout::cublaslt_tiled};
  p.d.type = mixprec::gemm::element_type::float32;
  p.d.data = d_data;
  p.d.ld = 16;
  return p;
}

}  // namespace

TEST_CASE("block-scaled validation: an ldd whose bytes overflow, a D type that is no enumerator",
          "[gemm][validation][mx]") {
  block_scaled_problem p = small_tiled_problem();
  const mixprec::gemm::device_capabilities blackwell{10, 0, 130100};
  CHECK_NOTHROW(mixprec::gemm::validate_for_cublaslt(p, blackwell));
  // With M = 1, validate() bounds N, not ldd: ldd · 4 overflowed int64 (UB).
  p.d.ld = INT64_MAX;
  CHECK_NOTHROW(mixprec::gemm::validate(p));
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::validate_for_cublaslt(p, blackwell),
                        "ldd = 9223372036854775807 float32 elements overflow a 64-bit byte count");
  p.d.ld = 16;
  p.d.type = static_cast<mixprec::gemm::element_type>(99);
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::validate(p), "D is unknown scalar_type (element_type 99)");
}

TEST_CASE("block-scaled reference GEMM: a workspace beyond the address space is a mixprec::error",
          "[gemm][reference][mx]") {
  // A valid description whose decoded operand (2^56 · 64 doubles) exceeds the
  // address space: a mixprec::error before any byte of D, not a
  // std::length_error. The pointers are never dereferenced.
  block_scaled_problem huge = small_tiled_problem();
  huge.m = std::int64_t{1} << 56;
  huge.k = 64;
  huge.a.data = reinterpret_cast<const void*>(std::uintptr_t{0x1000});  // 2^62 bytes
  huge.a.ld = 64;
  huge.a.scales = reinterpret_cast<const void*>((std::uintptr_t{1} << 62) + 0x10000);
  huge.a.scale_layout = huge.b.scale_layout = block_scale_layout::compact;
  huge.b.ld = 64;
  static std::uint8_t b_wide[64];
  huge.b.data = b_wide;
  huge.d.type = mixprec::gemm::element_type::float32;
  huge.d.data = reinterpret_cast<void*>(std::uintptr_t{1} << 63);
  huge.d.ld = 1;
  CHECK_NOTHROW(mixprec::gemm::validate(huge));
  MIXPREC_REQUIRE_ERROR(mixprec::reference::block_scaled_gemm(huge),
                        "mixprec::reference::block_scaled_gemm: an operand decoded of M=72057594037927936 N=1 K=64");
  MIXPREC_REQUIRE_ERROR(mixprec::reference::block_scaled_gemm(huge), "split the problem");
}

TEST_CASE("nvfp4_alpha rejects a non-finite alpha0 and a quotient that overflows float", "[gemm][nvfp4]") {
  // nvfp4_alpha: a NaN alpha0 and an overflowing quotient were returned as they were.
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::nvfp4_alpha(1.0f, 1.0f, NAN), "alpha0 = nan must be finite");
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::nvfp4_alpha(1e-30f, 1e-30f), "alpha0 / (s_a * s_b) = 1 / (1e-30 * 1e-30)");
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::nvfp4_alpha(1e-30f, 1e-30f), "overflows float");
  CHECK(std::isfinite(mixprec::gemm::nvfp4_alpha(1e-20f, 1e-10f)));
}
