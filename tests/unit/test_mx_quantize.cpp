// MX block quantization (issue 13 §2, CPU reference): mixprec/cast/mx_rules.hpp
// and mixprec/reference/mx_quantize.hpp against exact arithmetic. The
// expected scale exponent comes from frexp and exact power-of-two products in
// double (never from the E8M0 conversion the library uses), the expected
// elements from the independent reference's rounding of the exact quotient
// x / X, and the published element parameters (OCP MX v1.0 Table 1/2) are
// written out here.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/failure_log.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"
#include "support/unwritten.hpp"

namespace {

using mixprec::mx_orientation;
using mixprec::mx_scale_rule;
using mixprec::rounding;

// OCP MX v1.0: the exponent of each element format's largest normal, and its max.
struct element_parameters {
  int emax;
  double max;
};
template <class T>
element_parameters published();
template <>
element_parameters published<mixprec::float8_e4m3>() {
  return {8, 448.0};
}
template <>
element_parameters published<mixprec::float8_e5m2>() {
  return {15, 57344.0};
}
template <>
element_parameters published<mixprec::float6_e2m3>() {
  return {2, 7.5};
}
template <>
element_parameters published<mixprec::float6_e3m2>() {
  return {4, 28.0};
}
template <>
element_parameters published<mixprec::float4_e2m1>() {
  return {2, 6.0};
}

template <class F>
void for_each_mx_element(F&& f) {
  f(mixprec::float8_e4m3{});
  f(mixprec::float8_e5m2{});
  f(mixprec::float6_e2m3{});
  f(mixprec::float6_e3m2{});
  f(mixprec::float4_e2m1{});
}

// The unbiased exponent k of X = 2^k for a finite amax, by exact arithmetic.
template <class T>
int expected_exponent(double amax, mx_scale_rule rule) {
  const element_parameters p = published<T>();
  int k = -127;
  if (rule == mx_scale_rule::floor) {
    if (amax > 0) {
      int e = 0;
      (void)std::frexp(amax, &e);  // amax in [2^(e-1), 2^e)
      k = e - 1 - p.emax;
    }
  } else {
    while (p.max * std::ldexp(1.0, k) < amax) ++k;  // the smallest 2^k with amax / 2^k <= max (exact products)
  }
  return k < -127 ? -127 : k;
}

// Blocks with a spread of magnitudes: every element of a block within a few
// binades of a random block exponent, some zeros, some exact powers of two
// and some amax = max · 2^k exactly (where rceil must not round up).
std::vector<float> random_tensor(std::size_t n, std::uint64_t seed, double max) {
  std::mt19937_64 generator(seed);
  std::vector<float> x(n);
  std::uniform_int_distribution<int> block_exponent(-140, 120), spread(-12, 0), kind(0, 9);
  int exponent = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 32 == 0) exponent = block_exponent(generator);
    const std::uint64_t bits = generator();
    const double significand = 1.0 + static_cast<double>(bits >> 40) * 0x1p-24;
    double v = std::ldexp(significand, exponent + spread(generator));
    switch (kind(generator)) {
      case 0: v = 0.0; break;
      case 1: v = std::ldexp(1.0, exponent); break;
      case 2: v = std::ldexp(max, exponent - 8); break;
      default: break;
    }
    x[i] = static_cast<float>((bits & 1u) ? -v : v);
  }
  return x;
}

using tally = mixprec_test::check_log;

// Checks quantize_mx's rowwise output for x [rows, cols] against exact
// arithmetic; for a deterministic mode.
template <class T>
void check_against_exact(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, mx_scale_rule rule,
                         rounding mode, tally& result) {
  const std::size_t blocks = (static_cast<std::size_t>(cols) + 31) / 32;
  std::vector<T> q(x.size());
  std::vector<mixprec::float8_e8m0> scales(static_cast<std::size_t>(rows) * blocks);
  mixprec::mx_options o;
  o.rule = rule;
  o.mode = mode;
  mixprec::reference::quantize_mx(x.data(), rows, cols, q.data(), scales.data(), o);
  std::vector<float> y(x.size());
  mixprec::reference::dequantize_mx(q.data(), scales.data(), rows, cols, y.data());
  const reference::rounder& ref = reference::rounder_of<T>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = static_cast<std::size_t>(r * cols) + b * 32;
      const std::size_t end = std::min(begin + 32, static_cast<std::size_t>((r + 1) * cols));
      double amax = 0;
      for (std::size_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      const int k = expected_exponent<T>(amax, rule);
      const unsigned scale_code = scales[static_cast<std::size_t>(r) * blocks + b].bits();
      result.check(scale_code == static_cast<unsigned>(k + 127),
                   "block amax " + std::to_string(amax) + ": scale code " + std::to_string(scale_code) +
                       ", expected " + std::to_string(k + 127));
      for (std::size_t i = begin; i < end; ++i) {
        const double quotient = std::ldexp(static_cast<double>(x[i]), -k);  // exact
        const std::uint32_t expected =
            ref.round(quotient, reference::to_reference(mode), reference::overflow::finite);
        result.check(q[i].bits() == expected, "element " + std::to_string(x[i]) + " / 2^" + std::to_string(k) +
                                                  ": code " + std::to_string(q[i].bits()) + ", expected " +
                                                  std::to_string(expected));
        const double value = std::ldexp(reference::decode(ref.spec(), expected).value, k);  // exact
        result.check(y[i] == static_cast<float>(value), "dequantized element " + std::to_string(i));
      }
    }
  }
}

}  // namespace

TEST_CASE("MX scales and elements match exact arithmetic for every element format, rule and mode", "[mx][reference]") {
  for_each_mx_element([](auto tag) {
    using T = decltype(tag);
    const element_parameters p = published<T>();
    REQUIRE(static_cast<double>(std::numeric_limits<T>::max()) == p.max);  // the published max
    for (const mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil}) {
      for (const rounding mode : reference::deterministic_modes) {
        tally result;
        const std::int64_t rows = 7, cols = 100;  // 4 blocks per row, the last of 4 elements
        check_against_exact<T>(random_tensor(static_cast<std::size_t>(rows * cols), 11, p.max), rows, cols, rule, mode,
                               result);
        INFO(reference::spec_of<T>().name << " rule " << static_cast<int>(rule) << " mode " << static_cast<int>(mode)
                                          << ": " << result.checked << " checks, " << result.count << " wrong\n"
                                          << result.first);
        CHECK(result.checked > 0);
        CHECK(result.count == 0);
      }
    }
  });
}

TEST_CASE("MX floor clamps elements past max; rceil picks the smallest power of two that needs no clamping",
          "[mx][reference]") {
  using mixprec::cast::mx_scale;
  // E4M3 (emax 8, max 448): amax 511 -> floor X = 2^0 and 511 clamps to 448;
  // rceil X = 2^1 (511 / 448 > 1).
  CHECK(mx_scale<mixprec::float8_e4m3>(511.0f, mx_scale_rule::floor).bits() == 127);
  CHECK(mx_scale<mixprec::float8_e4m3>(511.0f, mx_scale_rule::rceil).bits() == 128);
  CHECK(mixprec::cast::mx_encode<mixprec::float8_e4m3>(511.0f, mixprec::float8_e8m0::from_bits(127),
                                                       rounding::nearest_even, 0)
            .bits() == 0x7E);
  // amax = max · 2^k exactly: rceil gives 2^k, not 2^(k+1).
  CHECK(mx_scale<mixprec::float8_e4m3>(448.0f, mx_scale_rule::rceil).bits() == 127);
  CHECK(mx_scale<mixprec::float8_e4m3>(449.0f, mx_scale_rule::rceil).bits() == 128);
  CHECK(mx_scale<mixprec::float4_e2m1>(6.0f * 0x1p-20f, mx_scale_rule::rceil).bits() == 127 - 20);
  CHECK(mx_scale<mixprec::float4_e2m1>(6.0f, mx_scale_rule::floor).bits() == 127);  // floor(log2 6) - 2 = 0
  CHECK(mx_scale<mixprec::float8_e5m2>(1.0f, mx_scale_rule::floor).bits() == 127 - 15);
  // The exponent is clamped to E8M0's bottom: tiny blocks get 2^-127.
  CHECK(mx_scale<mixprec::float8_e4m3>(0x1p-140f, mx_scale_rule::floor).bits() == 0);
  CHECK(mx_scale<mixprec::float8_e4m3>(0x1p-140f, mx_scale_rule::rceil).bits() == 0);
  // The largest float: floor 127 - 8, rceil ceil(log2(FLT_MAX / 448)) = 128 - 8.
  CHECK(mx_scale<mixprec::float8_e4m3>(std::numeric_limits<float>::max(), mx_scale_rule::floor).bits() == 127 + 127 - 8);
  CHECK(mx_scale<mixprec::float8_e4m3>(std::numeric_limits<float>::max(), mx_scale_rule::rceil).bits() == 127 + 120);
}

TEST_CASE("MX special blocks: all zeros give 2^-127 and zeros; NaN or inf give a NaN scale and NaN elements",
          "[mx][reference]") {
  for_each_mx_element([](auto tag) {
    using T = decltype(tag);
    const reference::rounder& ref = reference::rounder_of<T>();
    for (const mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil}) {
      INFO(reference::spec_of<T>().name << " rule " << static_cast<int>(rule));
      std::vector<float> x(96, 0.0f);
      for (std::size_t i = 0; i < 32; i += 2) x[i] = -0.0f;  // block 0: zeros of both signs
      for (std::size_t i = 32; i < 64; ++i) x[i] = 1.0f;       // block 1: NaN among ones
      x[40] = std::numeric_limits<float>::quiet_NaN();
      for (std::size_t i = 64; i < 96; ++i) x[i] = -2.0f;      // block 2: -inf among -2s
      x[70] = -std::numeric_limits<float>::infinity();
      std::vector<T> q(96);
      std::vector<mixprec::float8_e8m0> scales(3);
      mixprec::mx_options o;
      o.rule = rule;
      mixprec::reference::quantize_mx(x.data(), 1, 96, q.data(), scales.data(), o);
      CHECK(scales[0].bits() == 0x00);
      CHECK(scales[1].bits() == 0xFF);
      CHECK(scales[2].bits() == 0xFF);
      int wrong = 0;
      for (std::size_t i = 0; i < 32; ++i) wrong += q[i].bits() != (i % 2 == 0 ? ref.spec().sign_bit() : 0u);
      // Every element of a NaN-scaled block is the conversion of NaN: the
      // canonical NaN, or +max in FP6/FP4.
      for (std::size_t i = 32; i < 96; ++i) wrong += q[i].bits() != ref.nan_code();
      CHECK(wrong == 0);
      std::vector<float> y(96);
      mixprec::reference::dequantize_mx(q.data(), scales.data(), 1, 96, y.data());
      for (std::size_t i = 32; i < 96; ++i) wrong += !std::isnan(y[i]);
      for (std::size_t i = 0; i < 32; ++i) wrong += y[i] != 0.0f || std::signbit(y[i]) != (i % 2 == 0);
      CHECK(wrong == 0);
    }
  });
}

TEST_CASE("MX columnwise quantizes the transposed high-precision data, with blocks down the columns",
          "[mx][reference]") {
  const std::int64_t rows = 70, cols = 5;  // columnwise: 5 lines of 70, 3 blocks each (the last of 6)
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 23, 448.0);
  std::vector<float> transposed(x.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      transposed[static_cast<std::size_t>(c * rows + r)] = x[static_cast<std::size_t>(r * cols + c)];
  for (const mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil}) {
    mixprec::mx_options o;
    o.rule = rule;
    std::vector<mixprec::float8_e4m3> columnwise(x.size()), of_transposed(x.size());
    std::vector<mixprec::float8_e8m0> scales_columnwise(5 * 3), scales_of_transposed(5 * 3);
    mixprec::reference::quantize_mx(x.data(), rows, cols, columnwise.data(), scales_columnwise.data(), o,
                                    mx_orientation::columnwise);
    mixprec::reference::quantize_mx(transposed.data(), cols, rows, of_transposed.data(), scales_of_transposed.data(), o);
    int wrong = 0;
    for (std::size_t i = 0; i < x.size(); ++i) wrong += columnwise[i].bits() != of_transposed[i].bits();
    for (std::size_t i = 0; i < scales_columnwise.size(); ++i)
      wrong += scales_columnwise[i].bits() != scales_of_transposed[i].bits();
    CHECK(wrong == 0);
    // And that is the exact rule, checked on the transposed tensor.
    tally result;
    check_against_exact<mixprec::float8_e4m3>(transposed, cols, rows, rule, rounding::nearest_even, result);
    CHECK(result.count == 0);
  }
}

TEST_CASE("MX stochastic rounding: each element one of the two neighbours of x / X, with the bits of its source index",
          "[mx][reference][stochastic]") {
  const std::int64_t rows = 40, cols = 64;
  const std::vector<float> x = random_tensor(static_cast<std::size_t>(rows * cols), 31, 6.0);
  const reference::rounder& ref = reference::rounder_of<mixprec::float4_e2m1>();
  for (const mx_orientation orientation : {mx_orientation::rowwise, mx_orientation::columnwise}) {
    mixprec::mx_options o;
    o.mode = rounding::stochastic;
    o.rule = mx_scale_rule::rceil;
    o.seed = 2026;
    o.offset = 5;
    std::vector<mixprec::float4_e2m1> q(x.size());
    const bool rowwise = orientation == mx_orientation::rowwise;
    const std::int64_t lines = rowwise ? rows : cols, length = rowwise ? cols : rows;
    std::vector<mixprec::float8_e8m0> scales(static_cast<std::size_t>(lines) * 2);
    mixprec::reference::quantize_mx(x.data(), rows, cols, q.data(), scales.data(), o, orientation);
    int not_neighbour = 0, wrong_bits = 0, rounded_away = 0;
    for (std::int64_t l = 0; l < lines; ++l)
      for (std::int64_t p = 0; p < length; ++p) {
        const std::size_t source = static_cast<std::size_t>(rowwise ? l * cols + p : p * cols + l);
        const auto scale = scales[static_cast<std::size_t>(l) * 2 + static_cast<std::size_t>(p) / 32];
        const double quotient = std::ldexp(static_cast<double>(x[source]), 127 - static_cast<int>(scale.bits()));
        std::uint32_t toward = 0, away = 0;
        ref.neighbours(quotient, reference::overflow::finite, toward, away);
        const std::uint32_t got = q[static_cast<std::size_t>(l * length + p)].bits();
        not_neighbour += got != toward && got != away;
        rounded_away += got == away && away != toward;
        // The random word is that of the element's index in x.
        const auto expected = mixprec::convert_stochastic<mixprec::float4_e2m1>(
            quotient, mixprec::stochastic_rounding_bits(2026, 5, source), mixprec::saturation::finite);
        wrong_bits += expected.bits() != got;
      }
    CHECK(not_neighbour == 0);
    CHECK(wrong_bits == 0);
    CHECK(rounded_away > 0);
  }
}

TEST_CASE("quantize_mx and dequantize_mx reject bad arguments before writing anything", "[mx][reference]") {
  std::vector<float> x(64, 1.0f);
  std::vector<mixprec::float8_e4m3> q(64, mixprec::float8_e4m3::from_bits(0x55));
  std::vector<mixprec::float8_e8m0> scales(2, mixprec::float8_e8m0::from_bits(0x33));
  const auto untouched = [&] {
    return mixprec_test::every_code_is(q, 0x55) && mixprec_test::every_code_is(scales, 0x33);
  };
  using mixprec::reference::quantize_mx;
  CHECK_THROWS_AS(quantize_mx(x.data(), -1, 64, q.data(), scales.data()), mixprec::error);
  CHECK_THROWS_AS(quantize_mx(x.data(), INT64_MAX, 2, q.data(), scales.data()), mixprec::error);
  CHECK_THROWS_AS(quantize_mx(static_cast<const float*>(nullptr), 1, 64, q.data(), scales.data()), mixprec::error);
  CHECK_THROWS_AS(quantize_mx(x.data(), 1, 64, static_cast<mixprec::float8_e4m3*>(nullptr), scales.data()),
                  mixprec::error);
  CHECK_THROWS_AS(quantize_mx(x.data(), 1, 64, q.data(), nullptr), mixprec::error);
  mixprec::mx_options bad_rule;
  bad_rule.rule = static_cast<mx_scale_rule>(9);
  CHECK_THROWS_AS(quantize_mx(x.data(), 1, 64, q.data(), scales.data(), bad_rule), mixprec::error);
  mixprec::mx_options bad_mode;
  bad_mode.mode = static_cast<rounding>(42);
  CHECK_THROWS_AS(quantize_mx(x.data(), 1, 64, q.data(), scales.data(), bad_mode), mixprec::error);
  CHECK_THROWS_AS(quantize_mx(x.data(), 1, 64, q.data(), scales.data(), {}, static_cast<mx_orientation>(3)),
                  mixprec::error);
  CHECK(untouched());
  try {
    quantize_mx(x.data(), 1, 64, q.data(), scales.data(), bad_rule);
  } catch (const mixprec::error& e) {
    CHECK(std::string(e.what()).find("mx_scale_rule") != std::string::npos);
  }
  std::vector<float> y(64, 3.0f);
  CHECK_THROWS_AS(mixprec::reference::dequantize_mx(q.data(), scales.data(), -2, 32, y.data()), mixprec::error);
  CHECK_THROWS_AS(mixprec::reference::dequantize_mx(q.data(), static_cast<const mixprec::float8_e8m0*>(nullptr), 1, 64,
                                                    y.data()),
                  mixprec::error);
  CHECK(y[0] == 3.0f);
  // Empty tensors accept null pointers.
  CHECK_NOTHROW(quantize_mx(static_cast<const float*>(nullptr), 0, 64, static_cast<mixprec::float8_e4m3*>(nullptr),
                            nullptr));
}

TEST_CASE("dequantize_mx rejects overlapping arrays and counts beyond the address space", "[mx][reference]") {
  std::vector<mixprec::float8_e4m3> q(64, mixprec::float8_e4m3::from_bits(0x38));
  std::vector<mixprec::float8_e8m0> scales(2, mixprec::float8_e8m0::from_bits(127));
  std::vector<float> y(64, 3.0f);
  using mixprec::reference::dequantize_mx;
  // In place, floats were written over the codes still to be read.
  MIXPREC_REQUIRE_ERROR(dequantize_mx(q.data(), scales.data(), 1, 16, reinterpret_cast<float*>(q.data())),
                        "mixprec::reference::dequantize_mx: q [");
  MIXPREC_REQUIRE_ERROR(dequantize_mx(q.data(), scales.data(), 1, 16, reinterpret_cast<float*>(q.data())), "overlap");
  MIXPREC_REQUIRE_ERROR(
      dequantize_mx(q.data(), reinterpret_cast<const mixprec::float8_e8m0*>(y.data()), 1, 64, y.data()), "scales [");
  volatile std::int64_t opaque_lines = INT64_MAX / 64;
  const std::int64_t lines = opaque_lines;
  MIXPREC_REQUIRE_ERROR(dequantize_mx(q.data(), scales.data(), lines, 64, y.data()),
                        "reaches beyond the address space");
  CHECK(mixprec_test::every_code_is(q, 0x38));
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 3.0f; }));
}
