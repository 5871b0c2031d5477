// NVFP4 block quantization (issue 13 §2, CPU reference): mixprec/cast/nvfp4_rules.hpp
// and mixprec/reference/nvfp4_quantize.hpp against exact arithmetic. The
// expected tensor scale is 2688 / amax evaluated in long double and rounded to
// float, the expected block scales and elements the independent reference's
// rounding of the exact values amax · S / 6 and x · S / d (computed in long
// double, where amax · S and x · S are exact), the expected Hadamard
// transform a float64 product with the Sylvester matrix built from
// (−1)^popcount(i & j) — never the library's own code paths.
#include <algorithm>
#include <bitset>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/unwritten.hpp"
#include "support/failure_log.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

namespace {

using mixprec::float4_e2m1;
using mixprec::float8_e4m3;
using mixprec::mx_orientation;
using mixprec::nvfp4_options;
using mixprec::rounding;
using mixprec::gemm::block_scale_layout;
using mixprec::reference::dequantize_nvfp4;
using mixprec::reference::quantize_nvfp4;

// TE's rule, written out: 2688 / amax rounded to float, FLT_MAX past it; 1
// for 0, inf, NaN.
float expected_tensor_scale(double amax) {
  if (!(amax > 0) || !(amax <= static_cast<double>(FLT_MAX))) return 1.0f;
  const long double s = 2688.0L / static_cast<long double>(amax);
  return s > static_cast<long double>(FLT_MAX) ? FLT_MAX : static_cast<float>(s);
}

std::uint32_t expected_block_scale(double block_amax, float s) {
  if (!std::isfinite(block_amax)) return 0x7F;
  return reference::rounder_of<float8_e4m3>().round(
      static_cast<long double>(block_amax) * static_cast<long double>(s) / 6.0L, reference::mode::nearest_even,
      reference::overflow::finite);
}

double e4m3_value(std::uint32_t code) { return reference::decode(reference::e4m3_spec, code).value; }
double e2m1_value(std::uint32_t code) { return reference::decode(reference::e2m1_spec, code).value; }

// The exact quotient x · S / d in long double (x · S exact, one rounding of
// the division, far from every E2M1 grid point and midpoint unless exact).
long double element_quotient(float x, float s, std::uint32_t d_code) {
  return static_cast<long double>(x) * static_cast<long double>(s) / static_cast<long double>(e4m3_value(d_code));
}

std::uint32_t expected_element(float x, float s, std::uint32_t d_code, rounding mode) {
  if (d_code == 0x7F || d_code == 0xFF) return 0x7;  // NaN scale: E2M1's conversion of NaN, +6
  if (d_code == 0x00 || d_code == 0x80) return std::signbit(x) ? 0x8u : 0x0u;
  return reference::rounder_of<float4_e2m1>().round(element_quotient(x, s, d_code), reference::to_reference(mode),
                                                    reference::overflow::finite);
}

// Tensors whose 16-element blocks have their own magnitudes (a spread of
// 2^-30 .. 2^20 between blocks), with zeros and exact powers of two.
std::vector<float> random_tensor(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<float> x(n);
  std::uniform_int_distribution<int> block_exponent(-30, 20), spread(-6, 0), kind(0, 9);
  int exponent = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 16 == 0) exponent = block_exponent(generator);
    const std::uint64_t bits = generator();
    double v = std::ldexp(1.0 + static_cast<double>(bits >> 40) * 0x1p-24, exponent + spread(generator));
    const int k = kind(generator);
    if (k == 0) v = 0.0;
    if (k == 1) v = std::ldexp(1.0, exponent);
    x[i] = static_cast<float>((bits & 1u) ? -v : v);
  }
  return x;
}

using tally = mixprec_test::check_log;

// y [lines, length] (already transposed / transformed by the test) quantized
// with 1x16 blocks, or 16x16 tiles when `tiles`: checks S, every block scale
// and every element (deterministic mode) against exact arithmetic.
void check_against_exact(const std::vector<float>& y, std::int64_t lines, std::int64_t length, bool tiles,
                         rounding mode, float got_s, const std::vector<float8_e4m3>& got_scales,
                         const std::vector<float4_e2m1>& got_q, tally& t) {
  double amax = 0;
  for (const float v : y)
    amax = std::isnan(v) || std::isnan(amax) ? std::numeric_limits<double>::quiet_NaN()
                                             : std::max(amax, std::fabs(static_cast<double>(v)));
  const float s = expected_tensor_scale(amax);
  t.check(got_s == s, "tensor scale " + std::to_string(got_s) + ", expected " + std::to_string(s));
  const std::int64_t blocks = (length + 15) / 16;
  for (std::int64_t l = 0; l < lines; ++l)
    for (std::int64_t b = 0; b < blocks; ++b) {
      double block_amax = 0;
      const std::int64_t first = tiles ? l / 16 * 16 : l, last = tiles ? std::min(first + 16, lines) : l + 1;
      for (std::int64_t r = first; r < last; ++r)
        for (std::int64_t p = b * 16; p < std::min(b * 16 + 16, length); ++p) {
          const double v = static_cast<double>(y[static_cast<std::size_t>(r * length + p)]);
          block_amax = std::isnan(v) || std::isnan(block_amax) ? std::numeric_limits<double>::quiet_NaN()
                                                               : std::max(block_amax, std::fabs(v));
        }
      const std::uint32_t d = expected_block_scale(block_amax, s);
      const std::uint32_t got_d = got_scales[static_cast<std::size_t>(l * blocks + b)].bits();
      t.check(got_d == d, "line " + std::to_string(l) + " block " + std::to_string(b) + " amax " +
                              std::to_string(block_amax) + ": scale code " + std::to_string(got_d) + ", expected " +
                              std::to_string(d));
      for (std::int64_t p = b * 16; p < std::min(b * 16 + 16, length); ++p) {
        const std::size_t i = static_cast<std::size_t>(l * length + p);
        const std::uint32_t e = expected_element(y[i], s, d, mode);
        t.check(got_q[i].bits() == e, "element " + std::to_string(y[i]) + " (line " + std::to_string(l) + "): code " +
                                          std::to_string(got_q[i].bits()) + ", expected " + std::to_string(e));
      }
    }
}

std::vector<float> transpose(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(x.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      t[static_cast<std::size_t>(c * rows + r)] = x[static_cast<std::size_t>(r * cols + c)];
  return t;
}

// The transform by definition: y_j = (1/4) Σ_i s_i x_i (−1)^popcount(i & j),
// in float64 in index order (exact for the inputs used with it).
std::vector<double> hadamard_by_definition(const float* x, std::uint16_t signs) {
  std::vector<double> y(16, 0.0);
  for (int j = 0; j < 16; ++j)
    for (int i = 0; i < 16; ++i) {
      const double s = ((signs >> i) & 1) ? -1.0 : 1.0;
      const double h = std::bitset<4>(static_cast<unsigned>(i & j)).count() % 2 ? -1.0 : 1.0;
      y[static_cast<std::size_t>(j)] += s * h * static_cast<double>(x[i]) / 4.0;
    }
  return y;
}

}  // namespace

TEST_CASE("NVFP4 tensor scale: 2688 / amax rounded once; 1 for amax 0, inf and NaN; FLT_MAX when it overflows",
          "[nvfp4][reference]") {
  using mixprec::cast::nvfp4_tensor_scale;
  CHECK(mixprec::nvfp4_tensor_scale_numerator == 2688.0f);
  CHECK(nvfp4_tensor_scale(2688.0f) == 1.0f);
  CHECK(nvfp4_tensor_scale(1.0f) == 2688.0f);
  CHECK(nvfp4_tensor_scale(0.0f) == 1.0f);
  CHECK(nvfp4_tensor_scale(std::numeric_limits<float>::infinity()) == 1.0f);
  CHECK(nvfp4_tensor_scale(std::numeric_limits<float>::quiet_NaN()) == 1.0f);
  CHECK(nvfp4_tensor_scale(1e-38f) == FLT_MAX);  // 2.688e41 overflows
  CHECK(nvfp4_tensor_scale(std::numeric_limits<float>::denorm_min()) == FLT_MAX);
  CHECK(nvfp4_tensor_scale(FLT_MAX) == static_cast<float>(2688.0L / static_cast<long double>(FLT_MAX)));
  std::mt19937_64 generator(7);
  std::uniform_int_distribution<std::uint32_t> bits(0x00800000u, 0x7F7FFFFFu);  // positive normal floats
  int wrong = 0;
  for (int i = 0; i < 20000; ++i) {
    const float amax = reference::float_from_bits(bits(generator));
    wrong += nvfp4_tensor_scale(amax) != expected_tensor_scale(static_cast<double>(amax));
  }
  CHECK(wrong == 0);
}

TEST_CASE("NVFP4 block scale: E4M3(amax * S / 6) rounded once to nearest, saturated; NaN for inf/NaN blocks",
          "[nvfp4][reference]") {
  using mixprec::cast::nvfp4_block_scale;
  // Hand-worked: the block holding the tensor's amax gets 448 (0x7E).
  CHECK(nvfp4_block_scale(3.0f, mixprec::cast::nvfp4_tensor_scale(3.0f)).bits() == 0x7E);
  CHECK(nvfp4_block_scale(6.0f, 1.0f).bits() == 0x38);           // 1.0
  CHECK(nvfp4_block_scale(6.0f * 500.0f, 1.0f).bits() == 0x7E);  // 500 saturates to 448
  CHECK(nvfp4_block_scale(0.0f, 2688.0f).bits() == 0x00);
  CHECK(nvfp4_block_scale(6.0f * 0x1p-10f, 1.0f).bits() == 0x00);  // 2^-10: the tie between 0 and 2^-9 goes to 0
  CHECK(nvfp4_block_scale(6.0f * 0x1.01p-10f, 1.0f).bits() == 0x01);
  CHECK(nvfp4_block_scale(std::numeric_limits<float>::infinity(), 1.0f).bits() == 0x7F);
  CHECK(nvfp4_block_scale(std::numeric_limits<float>::quiet_NaN(), 1.0f).bits() == 0x7F);
  // 6 * 1.0625 = 6.375: 1.0625 is the midpoint of 1 and 1.125, ties to even 1.0.
  CHECK(nvfp4_block_scale(6.375f, 1.0f).bits() == 0x38);
  CHECK(nvfp4_block_scale(std::nextafter(6.375f, 7.0f), 1.0f).bits() == 0x39);
  // Rounded once from the exact value, not from TE's float evaluation
  // block_amax * (S * (1/6)): pairs found by search where the two differ by
  // one code (TE's code in the comment), decided here by the independent
  // reference in long double.
  const float pairs[][2] = {
      {0x1.519122p+7f, 0x1.a29e84p-2f}, {0x1.c4850ep+2f, 0x1.cda0e4p-1f}, {0x1.754548p-8f, 0x1.38bcfcp+7f}};
  const unsigned exact_codes[] = {0x53, 0x39, 0x21};  // TE's float formula gives 0x54, 0x38, 0x22
  for (int i = 0; i < 3; ++i) {
    CHECK(nvfp4_block_scale(pairs[i][0], pairs[i][1]).bits() == exact_codes[i]);
    CHECK(expected_block_scale(static_cast<double>(pairs[i][0]), pairs[i][1]) == exact_codes[i]);
  }
  std::mt19937_64 generator(8);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<std::uint32_t> bits(0x00800000u, 0x7F7FFFFFu);
  int wrong = 0;
  for (int i = 0; i < 20000; ++i) {
    const float tensor_amax = reference::float_from_bits(bits(generator));
    const float s = expected_tensor_scale(static_cast<double>(tensor_amax));
    const float block_amax = static_cast<float>(static_cast<double>(tensor_amax) * std::pow(unit(generator), 8.0));
    wrong += nvfp4_block_scale(block_amax, s).bits() != expected_block_scale(static_cast<double>(block_amax), s);
  }
  CHECK(wrong == 0);
}

TEST_CASE("NVFP4 elements: E2M1(x * S / d) rounded once in every mode, clamped to 6; decode q * d / S",
          "[nvfp4][reference]") {
  using mixprec::cast::nvfp4_decode;
  using mixprec::cast::nvfp4_encode;
  // Hand-worked: x = 1, S = 2688, d = 448 gives 6; x = 0.25 · 448 / 2688 gives 0.25 -> tie to 0 (even).
  CHECK(nvfp4_encode(1.0f, float8_e4m3::from_bits(0x7E), 2688.0f, rounding::nearest_even, 0).bits() == 0x7);
  CHECK(nvfp4_encode(2.0f, float8_e4m3::from_bits(0x7E), 2688.0f, rounding::nearest_even, 0).bits() == 0x7);  // clamps
  CHECK(nvfp4_encode(-2.5f, float8_e4m3::from_bits(0x38), 1.0f, rounding::nearest_even, 0).bits() == 0xC);    // -2
  CHECK(nvfp4_encode(-2.5f, float8_e4m3::from_bits(0x38), 1.0f, rounding::upward, 0).bits() == 0xC);          // -2
  CHECK(nvfp4_encode(-2.5f, float8_e4m3::from_bits(0x38), 1.0f, rounding::downward, 0).bits() == 0xD);        // -3
  // Special block scales.
  CHECK(nvfp4_encode(-3.0f, float8_e4m3::from_bits(0x00), 1.0f, rounding::nearest_even, 0).bits() == 0x8);
  CHECK(nvfp4_encode(3.0f, float8_e4m3::from_bits(0x00), 1.0f, rounding::upward, 0).bits() == 0x0);
  CHECK(nvfp4_encode(3.0f, float8_e4m3::from_bits(0x7F), 1.0f, rounding::nearest_even, 0).bits() == 0x7);
  CHECK(std::isnan(nvfp4_decode(float4_e2m1::from_bits(0x7), float8_e4m3::from_bits(0x7F), 1.0f)));
  CHECK(nvfp4_decode(float4_e2m1::from_bits(0xF), float8_e4m3::from_bits(0x00), 3.0f) == 0.0f);
  CHECK(nvfp4_decode(float4_e2m1::from_bits(0x7), float8_e4m3::from_bits(0x7E), 2688.0f) == 1.0f);

  std::mt19937_64 generator(9);
  std::uniform_int_distribution<std::uint32_t> d_codes(0x01, 0x7E), float_bits;
  std::uniform_int_distribution<int> exponent(-20, 20);
  int wrong = 0, wrong_decode = 0, checked = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::uint32_t d = d_codes(generator);
    const float s =
        reference::float_from_bits(0x3F800000u | (float_bits(generator) >> 9)) * std::ldexp(1.0f, exponent(generator));
    // x near the block's range, so that every E2M1 code and the clamp occur.
    const float x = static_cast<float>(
        static_cast<double>(reference::float_from_bits(0x3F800000u | (float_bits(generator) >> 9)) - 1.5f) * 16.0 *
        e4m3_value(d) / static_cast<double>(s));
    for (const rounding mode : reference::deterministic_modes) {
      ++checked;
      wrong += nvfp4_encode(x, float8_e4m3::from_bits(static_cast<std::uint8_t>(d)), s, mode, 0).bits() !=
               expected_element(x, s, d, mode);
    }
    const std::uint32_t q = float_bits(generator) & 0xFu;
    const float expected_value =
        static_cast<float>(static_cast<long double>(e2m1_value(q)) * static_cast<long double>(e4m3_value(d)) /
                           static_cast<long double>(s));
    wrong_decode += nvfp4_decode(float4_e2m1::from_bits(static_cast<std::uint8_t>(q)),
                                 float8_e4m3::from_bits(static_cast<std::uint8_t>(d)), s) != expected_value;
  }
  CHECK(checked == 16000);
  CHECK(wrong == 0);
  CHECK(wrong_decode == 0);
}

TEST_CASE("quantize_nvfp4: 1x16 blocks in both orientations, each from the high-precision data, match exact arithmetic",
          "[nvfp4][reference]") {
  const std::int64_t rows = 19, cols = 40;  // ragged: blocks of 16, 16, 8 along a row; 16, 3 down a column
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 21);
  for (const rounding mode : reference::deterministic_modes) {
    for (const mx_orientation orientation : {mx_orientation::rowwise, mx_orientation::columnwise}) {
      const bool rowwise = orientation == mx_orientation::rowwise;
      const std::int64_t lines = rowwise ? rows : cols, length = rowwise ? cols : rows;
      nvfp4_options o;
      o.mode = mode;
      std::vector<float4_e2m1> q(x.size());
      std::vector<float8_e4m3> scales(static_cast<std::size_t>(lines * ((length + 15) / 16)));
      const float s = quantize_nvfp4(x.data(), rows, cols, q.data(), scales.data(), o, orientation);
      tally t;
      check_against_exact(rowwise ? x : transpose(x, rows, cols), lines, length, false, mode, s, scales, q, t);
      INFO("mode " << static_cast<int>(mode) << " rowwise " << rowwise << ": " << t.checked << " checks, " << t.count
                   << " wrong\n"
                   << t.first);
      CHECK(t.checked > 700);
      CHECK(t.count == 0);
      // dequantize gives q · d / S for every element.
      std::vector<float> y(x.size());
      dequantize_nvfp4(q.data(), scales.data(), s, lines, length, y.data(), o);
      int wrong = 0;
      for (std::int64_t l = 0; l < lines; ++l)
        for (std::int64_t p = 0; p < length; ++p) {
          const std::size_t i = static_cast<std::size_t>(l * length + p);
          const double d = e4m3_value(scales[static_cast<std::size_t>(l * ((length + 15) / 16) + p / 16)].bits());
          wrong += y[i] != static_cast<float>(static_cast<long double>(e2m1_value(q[i].bits())) *
                                              static_cast<long double>(d) / static_cast<long double>(s));
        }
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("quantize_nvfp4 special tensors: all zeros give S = 1, zero scales and zeros; NaN and inf blocks a NaN scale",
          "[nvfp4][reference]") {
  std::vector<float> x(32, 0.0f);
  x[3] = -0.0f;
  std::vector<float4_e2m1> q(32, float4_e2m1::from_bits(0x5));
  std::vector<float8_e4m3> scales(2, float8_e4m3::from_bits(0x55));
  CHECK(quantize_nvfp4(x.data(), 1, 32, q.data(), scales.data()) == 1.0f);
  CHECK(scales[0].bits() == 0x00);
  CHECK(scales[1].bits() == 0x00);
  CHECK(q[0].bits() == 0x0);
  CHECK(q[3].bits() == 0x8);  // -0 keeps its sign
  // A NaN in block 0 and an inf in block 1: S = 1 (amax NaN), both scales NaN,
  // their elements +6; the decode is NaN.
  x.assign(48, 1.0f);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[20] = -std::numeric_limits<float>::infinity();
  q.resize(48);
  scales.resize(3);
  const float s = quantize_nvfp4(x.data(), 1, 48, q.data(), scales.data());
  CHECK(s == 1.0f);
  CHECK(scales[0].bits() == 0x7F);
  CHECK(scales[1].bits() == 0x7F);
  CHECK(scales[2].bits() == expected_block_scale(1.0, 1.0f));
  CHECK(q[0].bits() == 0x7);
  CHECK(q[20].bits() == 0x7);
  std::vector<float> y(48);
  dequantize_nvfp4(q.data(), scales.data(), s, 1, 48, y.data());
  CHECK(std::isnan(y[0]));
  CHECK(std::isnan(y[20]));
  CHECK(y[40] == static_cast<float>(e2m1_value(q[40].bits()) * e4m3_value(scales[2].bits())));
  // A tiny block beside a large one: its scale underflows to 0, its elements are ±0.
  x.assign(32, 1e-6f);
  x[16] = 1000.0f;
  x[1] = -1e-6f;
  q.resize(32);
  scales.resize(2);
  quantize_nvfp4(x.data(), 1, 32, q.data(), scales.data());
  CHECK(scales[0].bits() == 0x00);
  CHECK(q[0].bits() == 0x0);
  CHECK(q[1].bits() == 0x8);
  CHECK(scales[1].bits() == 0x7E);
}

TEST_CASE("quantize_nvfp4 16x16 tiles: one scale per tile (stored per row), columnwise is exactly the transpose",
          "[nvfp4][reference]") {
  const std::int64_t rows = 35, cols = 24;  // tiles 16/16/3 rows by 16/8 columns
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 22);
  nvfp4_options o;
  o.two_dimensional_blocks = true;
  std::vector<float4_e2m1> q_row(x.size()), q_col(x.size());
  std::vector<float8_e4m3> s_row(static_cast<std::size_t>(rows * 2)), s_col(static_cast<std::size_t>(cols * 3));
  const float s1 = quantize_nvfp4(x.data(), rows, cols, q_row.data(), s_row.data(), o);
  const float s2 = quantize_nvfp4(x.data(), rows, cols, q_col.data(), s_col.data(), o, mx_orientation::columnwise);
  tally t;
  check_against_exact(x, rows, cols, true, rounding::nearest_even, s1, s_row, q_row, t);
  check_against_exact(transpose(x, rows, cols), cols, rows, true, rounding::nearest_even, s2, s_col, q_col, t);
  INFO(t.checked << " checks, " << t.count << " wrong\n" << t.first);
  CHECK(t.count == 0);
  int not_transposed = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      not_transposed +=
          q_row[static_cast<std::size_t>(r * cols + c)].bits() != q_col[static_cast<std::size_t>(c * rows + r)].bits();
      not_transposed += s_row[static_cast<std::size_t>(r * 2 + c / 16)].bits() !=
                        s_col[static_cast<std::size_t>(c * 3 + r / 16)].bits();
    }
  CHECK(not_transposed == 0);
}

TEST_CASE(
    "quantize_nvfp4 stochastic rounding: one of the two neighbours of x * S / d, with the bits of the source index",
    "[nvfp4][reference][stochastic]") {
  const std::int64_t rows = 32, cols = 48;
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 23);
  nvfp4_options o;
  o.mode = rounding::stochastic;
  o.seed = 99;
  o.offset = 3;
  o.two_dimensional_blocks = true;  // equal scales in both orientations: the same bits give the same elements
  std::vector<float4_e2m1> q_row(x.size()), q_col(x.size());
  std::vector<float8_e4m3> s_row(static_cast<std::size_t>(rows * 3)), s_col(static_cast<std::size_t>(cols * 2));
  const float s = quantize_nvfp4(x.data(), rows, cols, q_row.data(), s_row.data(), o);
  quantize_nvfp4(x.data(), rows, cols, q_col.data(), s_col.data(), o, mx_orientation::columnwise);
  const reference::rounder& ref = reference::rounder_of<float4_e2m1>();
  int not_neighbour = 0, wrong_bits = 0, rounded_away = 0, differs = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * cols + c);
      const std::uint32_t d = s_row[static_cast<std::size_t>(r * 3 + c / 16)].bits();
      if (d == 0) continue;
      const long double quotient = element_quotient(x[i], s, d);
      std::uint32_t toward = 0, away = 0;
      ref.neighbours(quotient, reference::overflow::finite, toward, away);
      const std::uint32_t got = q_row[i].bits();
      not_neighbour += got != toward && got != away;
      rounded_away += got == away && away != toward;
      const auto expected = mixprec::convert_stochastic<float4_e2m1>(
          static_cast<double>(quotient), mixprec::stochastic_rounding_bits(99, 3, i), mixprec::saturation::finite);
      wrong_bits += expected.bits() != got;
      differs += q_col[static_cast<std::size_t>(c * rows + r)].bits() != got;
    }
  CHECK(not_neighbour == 0);
  CHECK(wrong_bits == 0);
  CHECK(rounded_away > 0);
  CHECK(differs == 0);
  // Unbiased: over many seeds the mean decoded value of x = 0.3 (S = 2688 / 0.3 ... a one-element block) tends to x.
  std::vector<float> one(16, 0.0f);
  one[0] = 6.0f;
  one[1] = 1.3f;  // 1.3 lies between E2M1's 1 and 1.5
  double sum = 0;
  const int trials = 4000;
  for (int seed = 0; seed < trials; ++seed) {
    o.seed = static_cast<std::uint64_t>(seed);
    o.two_dimensional_blocks = false;
    std::vector<float4_e2m1> q(16);
    std::vector<float8_e4m3> scale(1);
    const float tensor_scale = quantize_nvfp4(one.data(), 1, 16, q.data(), scale.data(), o);
    std::vector<float> y(16);
    dequantize_nvfp4(q.data(), scale.data(), tensor_scale, 1, 16, y.data());
    CHECK((y[1] == 1.0f || y[1] == 1.5f));
    sum += static_cast<double>(y[1]);
  }
  // E[y] = 1.3; the standard deviation of the mean is 0.5 · sqrt(0.6 · 0.4 / 4000) ≈ 0.004.
  CHECK(std::fabs(sum / trials - 1.3) < 0.02);
}

TEST_CASE("random Hadamard transform: matches the Sylvester matrix product, its inverse undoes it",
          "[nvfp4][reference][hadamard]") {
  using mixprec::cast::random_hadamard_transform;
  // TE's fixed sign vector, as a mask.
  const int te_signs[16] = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
  for (int i = 0; i < 16; ++i)
    CHECK((((mixprec::transformer_engine_hadamard_signs >> i) & 1) != 0) == (te_signs[i] == -1));
  constexpr std::uint16_t seeded = mixprec::cast::random_hadamard_signs(5);  // constexpr
  CHECK(seeded != mixprec::cast::random_hadamard_signs(6));
  std::mt19937_64 generator(31);
  std::uniform_real_distribution<float> range(-1000.0f, 1000.0f);
  std::uniform_int_distribution<int> integers(-(1 << 18) + 1, (1 << 18) - 1);
  int wrong = 0, wrong_round_trip = 0, inexact_round_trip = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const std::uint16_t signs = trial == 0 ? mixprec::transformer_engine_hadamard_signs
                                           : mixprec::cast::random_hadamard_signs(static_cast<std::uint64_t>(trial));
    float x[16], y[16], back[16];
    // Values of magnitude 2^-5 .. 2^10 (within 2^25 of each other): every
    // double sum is exact, so both evaluations are the exact value rounded once.
    for (float& v : x) {
      v = range(generator);
      if (std::fabs(v) < 0x1p-5f) v = 0x1p-5f;
    }
    random_hadamard_transform(x, y, signs, false);
    const std::vector<double> expected = hadamard_by_definition(x, signs);
    for (int j = 0; j < 16; ++j) wrong += y[j] != static_cast<float>(expected[static_cast<std::size_t>(j)]);
    // Round trip: y_j is rounded to float (error <= 2^-22 max|x|), the inverse sums 16 of those / 4.
    random_hadamard_transform(y, back, signs, true);
    double scale = 0;
    for (const float v : x) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    for (int i = 0; i < 16; ++i)
      inexact_round_trip += std::fabs(static_cast<double>(back[i]) - static_cast<double>(x[i])) > scale * 0x1p-18;
    // Integers below 2^18: every intermediate is exact, the round trip too.
    for (float& v : x) v = static_cast<float>(integers(generator));
    random_hadamard_transform(x, y, signs, false);
    random_hadamard_transform(y, back, signs, true);
    for (int i = 0; i < 16; ++i) wrong_round_trip += back[i] != x[i];
  }
  CHECK(wrong == 0);
  CHECK(inexact_round_trip == 0);
  CHECK(wrong_round_trip == 0);
  // In place works (the quantizer transforms its copy in place).
  float v[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  random_hadamard_transform(v, v, 0, false);
  CHECK(v[0] == 34.0f);  // (1 + ... + 16) / 4
  CHECK(v[1] == -2.0f);  // (-1 · 8) / 4: odd positions minus even ones
}

TEST_CASE("random Hadamard transform: every NaN output is the canonical NaN 0x7FFFFFFF, whatever NaN came in",
          "[nvfp4][reference][hadamard]") {
  using mixprec::cast::random_hadamard_transform;
  const auto from_bits = [](std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  };
  const auto bits_of = [](float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
  };
  // A negative NaN with a payload, a positive one, and inf beside -inf (their
  // sum is NaN) in blocks of otherwise ordinary values, under several signs.
  const std::uint32_t nan_inputs[][2] = {{0xFFF00000u, 0x7FC00001u}, {0x7FF00000u, 0xFFC00000u},
                                         {0x7F800000u, 0xFF800000u}};
  int not_canonical = 0, nan_outputs = 0;
  for (const auto& pair : nan_inputs)
    for (std::uint64_t seed = 0; seed < 8; ++seed)
      for (const bool inverse : {false, true}) {
        float x[16], y[16];
        for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i) - 7.5f;
        x[3] = from_bits(pair[0]);
        x[12] = from_bits(pair[1]);
        random_hadamard_transform(x, y, mixprec::cast::random_hadamard_signs(seed), inverse);
        for (const float v : y) {
          if (v == v) continue;  // ±inf where the two infinities have the same sign in y_j
          ++nan_outputs;
          not_canonical += bits_of(v) != 0x7FFFFFFFu;
        }
      }
  // Every y_j sums every x_i: all 16 outputs are NaN for the NaN pairs, some
  // for the infinities.
  CHECK(nan_outputs > 2 * 8 * 2 * 16);
  CHECK(not_canonical == 0);
}

TEST_CASE("quantize_nvfp4 with the random Hadamard transform quantizes the transformed blocks; dequantize inverts it",
          "[nvfp4][reference][hadamard]") {
  const std::int64_t rows = 32, cols = 24;  // columnwise: lines of 32 = two transform blocks
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  std::mt19937_64 generator(41);
  std::uniform_real_distribution<float> range(-8.0f, 8.0f);
  for (float& v : x) {
    v = range(generator);
    if (std::fabs(v) < 0x1p-10f) v = 0x1p-10f;  // keep the block's span within 2^25: exact float64 sums
  }
  nvfp4_options o;
  o.random_hadamard = true;
  o.hadamard_signs = mixprec::cast::random_hadamard_signs(77);
  std::vector<float4_e2m1> q(x.size());
  std::vector<float8_e4m3> scales(static_cast<std::size_t>(cols * 2));
  const float s = quantize_nvfp4(x.data(), rows, cols, q.data(), scales.data(), o, mx_orientation::columnwise);
  // The transformed xᵀ by definition (exact in float64 for these inputs), rounded once to float.
  std::vector<float> xt = transpose(x, rows, cols), transformed(xt.size());
  for (std::size_t begin = 0; begin < xt.size(); begin += 16) {
    const std::vector<double> y = hadamard_by_definition(&xt[begin], o.hadamard_signs);
    for (std::size_t j = 0; j < 16; ++j) transformed[begin + j] = static_cast<float>(y[j]);
  }
  tally t;
  check_against_exact(transformed, cols, rows, false, rounding::nearest_even, s, scales, q, t);
  INFO(t.checked << " checks, " << t.count << " wrong\n" << t.first);
  CHECK(t.count == 0);
  // dequantize with the same options returns approximately xᵀ (NVFP4's error, spread by the transform).
  std::vector<float> back(x.size());
  dequantize_nvfp4(q.data(), scales.data(), s, cols, rows, back.data(), o);
  double error = 0, energy = 0;
  for (std::size_t i = 0; i < xt.size(); ++i) {
    error += (static_cast<double>(back[i]) - static_cast<double>(xt[i])) *
             (static_cast<double>(back[i]) - static_cast<double>(xt[i]));
    energy += static_cast<double>(xt[i]) * static_cast<double>(xt[i]);
  }
  CHECK(error < 0.05 * energy);  // FP4's relative error is ~1/8 per element at worst
  CHECK(error > 0.0);
}

TEST_CASE("quantize_nvfp4 and dequantize_nvfp4 write cuBLASLt's tiled scale layout on request", "[nvfp4][reference]") {
  const std::int64_t rows = 130, cols = 80;  // 130 rows -> 256 padded, 5 scale columns -> 8
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 51);
  nvfp4_options compact, tiled;
  tiled.scale_layout = block_scale_layout::cublaslt_tiled;
  std::vector<float4_e2m1> q1(x.size()), q2(x.size());
  std::vector<float8_e4m3> s1(static_cast<std::size_t>(rows * 5)), s2(256 * 8, float8_e4m3::from_bits(0x11));
  const float t1 = quantize_nvfp4(x.data(), rows, cols, q1.data(), s1.data(), compact);
  const float t2 = quantize_nvfp4(x.data(), rows, cols, q2.data(), s2.data(), tiled);
  CHECK(t1 == t2);
  std::vector<float8_e4m3> back(s1.size());
  mixprec::gemm::from_cublaslt_tiled(s2.data(), static_cast<std::size_t>(rows), 5, back.data());
  int differs = 0, padding_not_zero = 0;
  for (std::size_t i = 0; i < s1.size(); ++i) differs += s1[i].bits() != back[i].bits();
  for (std::size_t i = 0; i < x.size(); ++i) differs += q1[i].bits() != q2[i].bits();
  // Row 129, scale column 7 is padding: tile (1, 1), (129 % 32) * 16 + (129 % 128 / 32) * 4 + 3.
  padding_not_zero += s2[3 * 512 + 1 * 16 + 0 * 4 + 3].bits() != 0;
  std::vector<bool> real(s2.size(), false);
  for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r)
    for (std::size_t c = 0; c < 5; ++c) real[mixprec::gemm::cublaslt_tiled_scale_offset(r, c, 5)] = true;
  for (std::size_t i = 0; i < s2.size(); ++i) padding_not_zero += !real[i] && s2[i].bits() != 0;
  CHECK(differs == 0);
  CHECK(padding_not_zero == 0);
  std::vector<float> y1(x.size()), y2(x.size());
  dequantize_nvfp4(q1.data(), s1.data(), t1, rows, cols, y1.data(), compact);
  dequantize_nvfp4(q2.data(), s2.data(), t2, rows, cols, y2.data(), tiled);
  CHECK(y1 == y2);
}

TEST_CASE("quantize_nvfp4 packed: two elements per byte, element 2t in the low nibble; odd lines rejected",
          "[nvfp4][reference]") {
  const std::int64_t rows = 6, cols = 34;
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 61);
  for (const mx_orientation orientation : {mx_orientation::rowwise, mx_orientation::columnwise}) {
    std::vector<float4_e2m1> q(x.size());
    std::vector<mixprec::float4_e2m1x2> packed(x.size() / 2, mixprec::float4_e2m1x2::from_bits(0xAA));
    std::vector<float8_e4m3> s1(64), s2(64);
    const float t1 = quantize_nvfp4(x.data(), rows, cols, q.data(), s1.data(), {}, orientation);
    const float t2 =
        mixprec::reference::quantize_nvfp4_packed(x.data(), rows, cols, packed.data(), s2.data(), {}, orientation);
    CHECK(t1 == t2);
    int wrong = 0;
    for (std::size_t i = 0; i < q.size(); ++i) wrong += ((packed[i / 2].bits() >> (4 * (i % 2))) & 0xFu) != q[i].bits();
    for (std::size_t i = 0; i < s1.size(); ++i) wrong += s1[i].bits() != s2[i].bits();
    CHECK(wrong == 0);
  }
  std::vector<mixprec::float4_e2m1x2> packed(64, mixprec::float4_e2m1x2::from_bits(0x11));
  std::vector<float8_e4m3> scales(4);
  MIXPREC_REQUIRE_ERROR(mixprec::reference::quantize_nvfp4_packed(x.data(), 1, 15, packed.data(), scales.data()),
                        "odd");
  MIXPREC_REQUIRE_ERROR(mixprec::reference::quantize_nvfp4_packed(x.data(), 3, 2, packed.data(), scales.data(), {},
                                                                  mx_orientation::columnwise),
                        "odd");
  MIXPREC_REQUIRE_ERROR(mixprec::reference::quantize_nvfp4_packed(x.data(), 1, 16, nullptr, scales.data()),
                        "out is null");
  CHECK(packed[0].bits() == 0x11);
}

TEST_CASE("quantize_nvfp4 and dequantize_nvfp4 reject bad arguments before writing anything", "[nvfp4][reference]") {
  std::vector<float> x(64, 1.0f);
  std::vector<float4_e2m1> q(64, float4_e2m1::from_bits(0x5));
  std::vector<float8_e4m3> scales(4, float8_e4m3::from_bits(0x33));
  const auto untouched = [&] {
    return mixprec_test::every_code_is(q, 0x5) && mixprec_test::every_code_is(scales, 0x33);
  };
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), -1, 64, q.data(), scales.data()), "must not be negative");
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), INT64_MAX, 2, q.data(), scales.data()), "overflows");
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(static_cast<const float*>(nullptr), 1, 64, q.data(), scales.data()),
                        "x is null");
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, nullptr, scales.data()), "out is null");
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, q.data(), nullptr), "block_scales is null");
  nvfp4_options bad_mode;
  bad_mode.mode = static_cast<rounding>(42);
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, q.data(), scales.data(), bad_mode), "mode = 42");
  nvfp4_options bad_layout;
  bad_layout.scale_layout = static_cast<block_scale_layout>(7);
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, q.data(), scales.data(), bad_layout), "block_scale_layout = 7");
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, q.data(), scales.data(), {}, static_cast<mx_orientation>(3)),
                        "orientation = 3");
  nvfp4_options both;
  both.random_hadamard = true;
  both.two_dimensional_blocks = true;
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 1, 64, q.data(), scales.data(), both), "choose one");
  nvfp4_options rht;
  rht.random_hadamard = true;
  MIXPREC_REQUIRE_ERROR(quantize_nvfp4(x.data(), 2, 32, q.data(), scales.data(), rht, mx_orientation::columnwise),
                        "multiple of 16, but it is 2");
  CHECK(untouched());
  std::vector<float> y(64, 3.0f);
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), 1.0f, -2, 32, y.data()), "must not be negative");
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), nullptr, 1.0f, 1, 64, y.data()), "block_scales is null");
  for (const float bad : {0.0f, -1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
    MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), bad, 1, 64, y.data()), "tensor_scale");
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), 1.0f, 1, 64, y.data(), bad_layout),
                        "block_scale_layout");
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), 1.0f, 1, 24, y.data(), rht), "multiple of 16");
  CHECK(y[0] == 3.0f);
  // Empty tensors accept null pointers (S = 1).
  CHECK(quantize_nvfp4(static_cast<const float*>(nullptr), 0, 64, nullptr, nullptr) == 1.0f);
}

TEST_CASE("dequantize_nvfp4 rejects overlapping arrays and counts beyond the address space", "[nvfp4][reference]") {
  std::vector<float4_e2m1> q(64, float4_e2m1::from_bits(0x2));
  std::vector<float8_e4m3> scales(4, float8_e4m3::from_bits(0x38));
  std::vector<float> y(64, 3.0f);
  // In place, floats were written over the codes still to be read.
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), 1.0f, 1, 16, reinterpret_cast<float*>(q.data())),
                        "mixprec::reference::dequantize_nvfp4: q [");
  MIXPREC_REQUIRE_ERROR(
      dequantize_nvfp4(q.data(), reinterpret_cast<const float8_e4m3*>(y.data()), 1.0f, 1, 64, y.data()),
      "block_scales [");
  volatile std::int64_t opaque_lines = INT64_MAX / 64;
  const std::int64_t lines = opaque_lines;
  MIXPREC_REQUIRE_ERROR(dequantize_nvfp4(q.data(), scales.data(), 1.0f, lines, 64, y.data()),
                        "reaches beyond the address space");
  CHECK(mixprec_test::every_code_is(q, 0x2));
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 3.0f; }));
}
