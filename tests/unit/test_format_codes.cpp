// Every code of every format: exact decoding, round trips, classification
// and std::numeric_limits (issue 2 §3 and §6), against the independent
// decoder of tests/support/independent_reference.hpp and against the values
// published for each format.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>

#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

namespace {

using mixprec::rounding;
using mixprec::saturation;

struct code_failures {
  std::uint64_t count = 0;
  std::string first;
  void add(const char* what, std::uint32_t code, std::uint32_t expected, std::uint32_t actual) {
    if (count++ < 8) {
      char line[160];
      std::snprintf(line, sizeof line, "  %s: code 0x%04X: expected 0x%08X, got 0x%08X\n", what, code, expected, actual);
      first += line;
    }
  }
  void check(bool ok, const char* what, std::uint32_t code, std::uint32_t expected, std::uint32_t actual) {
    if (!ok) add(what, code, expected, actual);
  }
};

// Every code of T: 2^total_bits (16 for FP4, 64 for FP6, 256 for 8 bits).
template <class T>
std::uint32_t code_count() {
  return std::uint32_t{1} << T::format::total_bits;
}

}  // namespace

TEST_CASE("every code decodes exactly to float and double", "[format][codes]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    const reference::format_spec& spec = reference::spec_of<T>();
    code_failures failures;
    for (std::uint32_t code = 0; code < code_count<T>(); ++code) {
      const T value = T::from_bits(static_cast<typename T::storage_type>(code));
      const std::uint32_t expected = reference::expected_float_bits(spec, code);
      const std::uint32_t as_float = reference::float_bits(static_cast<float>(value));
      failures.check(as_float == expected, "static_cast<float>", code, expected, as_float);
      failures.check(value.bits() == code, "from_bits(code).bits()", code, code, value.bits());
      // double: the same value (NaN: NaN with the same sign).
      const double as_double = static_cast<double>(value);
      const reference::decoded d = reference::decode(spec, code);
      const bool double_ok = d.kind == reference::value_kind::nan
                                 ? std::isnan(as_double) && std::signbit(as_double) == ((expected >> 31) != 0)
                                 : reference::double_bits(as_double) == reference::double_bits(d.value);
      failures.check(double_ok, "static_cast<double>", code, expected, as_float);
    }
    INFO(spec.name << ": " << failures.count << " failures\n" << failures.first);
    CHECK(failures.count == 0);
  });
}

TEST_CASE("NaN decodes keeping sign and payload with the quiet bit set; fnuz's NaN is +qNaN 0x7FC00000",
          "[format][codes]") {
  // Spot checks of the rule the exhaustive decode test applies to every NaN code.
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e4m3::from_bits(0x7F))) == 0x7FF00000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e4m3::from_bits(0xFF))) == 0xFFF00000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e5m2::from_bits(0x7D))) == 0x7FE00000u);  // sNaN made quiet
  CHECK(reference::float_bits(static_cast<float>(mixprec::float16::from_bits(0xFC01))) == 0xFFC02000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::bfloat16::from_bits(0x7F81))) == 0x7FC10000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e4m3fnuz::from_bits(0x80))) == 0x7FC00000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e5m2fnuz::from_bits(0x80))) == 0x7FC00000u);
  CHECK(reference::float_bits(static_cast<float>(mixprec::float8_e8m0::from_bits(0xFF))) == 0x7FC00000u);
}

TEST_CASE("from_bits clears the bits above a 4- or 6-bit code", "[format][codes]") {
  CHECK(mixprec::float4_e2m1::from_bits(0xF7).bits() == 0x07);
  CHECK(mixprec::float6_e2m3::from_bits(0xFF).bits() == 0x3F);
  CHECK(mixprec::float6_e3m2::from_bits(0x41).bits() == 0x01);
  CHECK(mixprec::float8_e8m0::from_bits(0xFF).bits() == 0xFF);
}

TEST_CASE("every non-NaN code round-trips through float and double in every mode and saturation", "[format][codes]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    const reference::format_spec& spec = reference::spec_of<T>();
    code_failures failures;
    std::uint64_t round_trips = 0;
    for (std::uint32_t code = 0; code < code_count<T>(); ++code) {
      const reference::decoded d = reference::decode(spec, code);
      if (d.kind == reference::value_kind::nan) continue;
      const T value = T::from_bits(static_cast<typename T::storage_type>(code));
      for (const rounding r : reference::deterministic_modes) {
        for (const saturation s : reference::saturations) {
          // An exact value is unchanged by every mode and policy, except that
          // saturation::finite turns ±inf into ±max.
          const std::uint32_t expected = d.kind == reference::value_kind::infinite && s == saturation::finite
                                             ? (code & spec.sign_bit()) | reference::rounder_of<T>().max_code()
                                             : code;
          const std::uint32_t via_float = mixprec::convert<T>(static_cast<float>(value), r, s).bits();
          const std::uint32_t via_double = mixprec::convert<T>(static_cast<double>(value), r, s).bits();
          failures.check(via_float == expected, "convert<T>(float(code))", code, expected, via_float);
          failures.check(via_double == expected, "convert<T>(double(code))", code, expected, via_double);
          ++round_trips;
        }
      }
      const std::uint32_t constructed = T(static_cast<float>(value)).bits();
      const std::uint32_t expected_default =
          d.kind == reference::value_kind::infinite && T::default_saturation == saturation::finite
              ? (code & spec.sign_bit()) | reference::rounder_of<T>().max_code()
              : code;
      failures.check(constructed == expected_default, "T(float(code))", code, expected_default, constructed);
    }
    INFO(spec.name << ": " << round_trips << " round trips, " << failures.count << " failures\n" << failures.first);
    CHECK(round_trips > 0);
    CHECK(failures.count == 0);
  });
}

TEST_CASE("fnuz formats have no -0: -0.0 and negative underflow give +0 (0x00) in every mode", "[format][codes]") {
  int failures = 0;
  for (const rounding r : reference::deterministic_modes) {
    for (const saturation s : reference::saturations) {
      const bool toward_minus = r == rounding::downward;  // -tiny rounds down to -denorm_min, not to zero
      failures += mixprec::convert<mixprec::float8_e4m3fnuz>(-0.0f, r, s).bits() != 0x00;
      failures += mixprec::convert<mixprec::float8_e5m2fnuz>(-0.0, r, s).bits() != 0x00;
      failures += mixprec::convert<mixprec::float8_e4m3fnuz>(-1e-30f, r, s).bits() != (toward_minus ? 0x81 : 0x00);
      failures += mixprec::convert<mixprec::float8_e5m2fnuz>(-1e-30, r, s).bits() != (toward_minus ? 0x81 : 0x00);
      // The formats with a -0 keep it.
      failures += mixprec::convert<mixprec::float8_e4m3>(-0.0f, r, s).bits() != 0x80;
      failures += mixprec::convert<mixprec::float16>(-1e-30f, r, s).bits() != (toward_minus ? 0x8001 : 0x8000);
    }
  }
  CHECK(failures == 0);
  CHECK(mixprec::float8_e4m3fnuz(-0.0f).bits() == 0x00);
  CHECK(mixprec::float8_e5m2fnuz(-0.0f).bits() == 0x00);
}

TEST_CASE("isnan isinf isfinite signbit and abs agree with the decoded value of every code", "[format][codes]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    const reference::format_spec& spec = reference::spec_of<T>();
    code_failures failures;
    for (std::uint32_t code = 0; code < code_count<T>(); ++code) {
      const reference::decoded d = reference::decode(spec, code);
      const T value = T::from_bits(static_cast<typename T::storage_type>(code));
      const bool nan = d.kind == reference::value_kind::nan;
      const bool inf = d.kind == reference::value_kind::infinite;
      // Found by argument-dependent lookup, as users call them.
      failures.check(isnan(value) == nan, "isnan", code, nan, isnan(value));
      failures.check(isinf(value) == inf, "isinf", code, inf, isinf(value));
      failures.check(isfinite(value) == (!nan && !inf), "isfinite", code, !nan && !inf, isfinite(value));
      // signbit: the sign bit, as std::signbit of the decoded float; fnuz's
      // NaN (the would-be -0 code) has no sign.
      const bool sign = spec.specials == reference::specials_kind::fnuz && nan ? false : (code & spec.sign_bit()) != 0;
      failures.check(signbit(value) == sign, "signbit", code, sign, signbit(value));
      failures.check(std::signbit(static_cast<float>(value)) == sign, "std::signbit(float)", code, sign,
                     std::signbit(static_cast<float>(value)));
      // abs clears the sign bit (IEEE 754 §5.5.1, NaN included); fnuz's NaN stays NaN.
      const std::uint32_t expected_abs =
          spec.specials == reference::specials_kind::fnuz && nan ? code : code & (spec.sign_bit() - 1);
      failures.check(abs(value).bits() == expected_abs, "abs", code, expected_abs, abs(value).bits());
    }
    INFO(spec.name << ": " << failures.count << " failures\n" << failures.first);
    CHECK(failures.count == 0);
  });
}

namespace {

// Detects whether std::numeric_limits<T>::infinity() can be called.
template <class T, class = void>
struct has_infinity_function : std::false_type {};
template <class T>
struct has_infinity_function<T, std::void_t<decltype(std::numeric_limits<T>::infinity())>> : std::true_type {};

// The published values of each format, written out as numbers.
struct published_limits {
  double max, min_normal, denorm_min, epsilon;
  int digits, min_exponent, max_exponent, min_exponent10, max_exponent10, digits10, max_digits10;
  bool has_infinity;
  bool is_signed = true, has_nan = true, has_denorm = true;
};

template <class T>
published_limits published();
template <>
published_limits published<mixprec::float16>() {
  return {65504.0, 0x1p-14, 0x1p-24, 0x1p-10, 11, -13, 16, -4, 4, 3, 5, true};
}
template <>
published_limits published<mixprec::bfloat16>() {
  return {0x1.FEp127, 0x1p-126, 0x1p-133, 0x1p-7, 8, -125, 128, -37, 38, 2, 4, true};
}
template <>
published_limits published<mixprec::float8_e4m3>() {
  return {448.0, 0x1p-6, 0x1p-9, 0.125, 4, -5, 9, -1, 2, 0, 3, false};
}
template <>
published_limits published<mixprec::float8_e5m2>() {
  return {57344.0, 0x1p-14, 0x1p-16, 0.25, 3, -13, 16, -4, 4, 0, 2, true};
}
template <>
published_limits published<mixprec::float8_e4m3fnuz>() {
  return {240.0, 0x1p-7, 0x1p-10, 0.125, 4, -6, 8, -2, 2, 0, 3, false};
}
template <>
published_limits published<mixprec::float8_e5m2fnuz>() {
  return {57344.0, 0x1p-15, 0x1p-17, 0.25, 3, -14, 16, -4, 4, 0, 2, false};
}
// OCP MX v1.0 Table 2 (FP6 E2M3, E3M2; FP4 E2M1) and §5.4.1 (E8M0).
template <>
published_limits published<mixprec::float4_e2m1>() {
  return {6.0, 1.0, 0.5, 0.5, 2, 1, 3, 0, 0, 0, 2, false, true, false, true};
}
template <>
published_limits published<mixprec::float6_e2m3>() {
  return {7.5, 1.0, 0.125, 0.125, 4, 1, 3, 0, 0, 0, 3, false, true, false, true};
}
template <>
published_limits published<mixprec::float6_e3m2>() {
  return {28.0, 0.25, 0.0625, 0.25, 3, -1, 5, 0, 1, 0, 2, false, true, false, true};
}
template <>
published_limits published<mixprec::float8_e8m0>() {
  return {0x1p127, 0x1p-127, 0x1p-127, 1.0, 1, -126, 128, -38, 38, 0, 2, false, false, true, false};
}

// Detects whether std::numeric_limits<T>::quiet_NaN() can be called.
template <class T, class = void>
struct has_quiet_nan_function : std::false_type {};
template <class T>
struct has_quiet_nan_function<T, std::void_t<decltype(std::numeric_limits<T>::quiet_NaN())>> : std::true_type {};

template <class T>
double as_double(T x) {
  return static_cast<double>(x);
}

}  // namespace

TEST_CASE("numeric_limits follow the standard's definitions and the published values", "[format][limits]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    using limits = std::numeric_limits<T>;
    const published_limits p = published<T>();
    INFO(reference::spec_of<T>().name);
    CHECK(limits::is_specialized);
    CHECK(limits::is_signed == p.is_signed);
    CHECK_FALSE(limits::is_integer);
    CHECK_FALSE(limits::is_exact);
    CHECK(limits::is_bounded);
    CHECK(limits::radix == 2);
    CHECK(limits::has_quiet_NaN == p.has_nan);
    CHECK(has_quiet_nan_function<T>::value == p.has_nan);
    CHECK(limits::has_denorm == (p.has_denorm ? std::denorm_present : std::denorm_absent));
    CHECK(limits::round_style == std::round_to_nearest);
    CHECK(as_double(limits::max()) == p.max);
    // lowest() is -max; in an unsigned format the smallest value.
    CHECK(as_double(limits::lowest()) == (p.is_signed ? -p.max : p.min_normal));
    CHECK(as_double(limits::min()) == p.min_normal);
    CHECK(as_double(limits::denorm_min()) == p.denorm_min);
    CHECK(as_double(limits::epsilon()) == p.epsilon);
    CHECK(as_double(limits::round_error()) == 0.5);
    CHECK(limits::digits == p.digits);
    CHECK(limits::digits10 == p.digits10);
    CHECK(limits::max_digits10 == p.max_digits10);
    CHECK(limits::min_exponent == p.min_exponent);
    CHECK(limits::max_exponent == p.max_exponent);
    CHECK(limits::min_exponent10 == p.min_exponent10);
    CHECK(limits::max_exponent10 == p.max_exponent10);
    CHECK(limits::has_infinity == p.has_infinity);
    CHECK(has_infinity_function<T>::value == p.has_infinity);
    if constexpr (has_quiet_nan_function<T>::value) CHECK(isnan(limits::quiet_NaN()));
    // The definitions, checked on the values: min() is 2^(min_exponent - 1),
    // max() < 2^max_exponent, epsilon is the gap above 1, denorm_min is
    // min() * epsilon.
    CHECK(as_double(limits::min()) == std::ldexp(1.0, limits::min_exponent - 1));
    CHECK(as_double(limits::max()) < std::ldexp(1.0, limits::max_exponent));
    CHECK(as_double(limits::max()) >= std::ldexp(1.0, limits::max_exponent - 1));
    CHECK(as_double(limits::epsilon()) == std::ldexp(1.0, 1 - limits::digits));
    // denorm_min is min() * epsilon with subnormals, min() without (the
    // standard's value when has_denorm is denorm_absent).
    CHECK(as_double(limits::denorm_min()) ==
          as_double(limits::min()) * (p.has_denorm ? as_double(limits::epsilon()) : 1.0));
    CHECK(std::pow(10.0, limits::min_exponent10) >= as_double(limits::min()));
    CHECK(std::pow(10.0, limits::min_exponent10 - 1) < as_double(limits::min()));
    CHECK(std::pow(10.0, limits::max_exponent10) <= as_double(limits::max()));
    CHECK(std::pow(10.0, limits::max_exponent10 + 1) > as_double(limits::max()));
    // max is the largest finite code and the next code up is not finite or
    // does not exist (E4M3: 0x7F is NaN).
    const std::uint32_t max_code = limits::max().bits();
    CHECK(max_code == reference::rounder_of<T>().max_code());
  });
  // infinity() exists exactly where the format has one.
  CHECK(std::numeric_limits<mixprec::float16>::infinity().bits() == 0x7C00);
  CHECK(std::numeric_limits<mixprec::bfloat16>::infinity().bits() == 0x7F80);
  CHECK(std::numeric_limits<mixprec::float8_e5m2>::infinity().bits() == 0x7C);
  STATIC_REQUIRE_FALSE(has_infinity_function<mixprec::float8_e4m3>::value);
  STATIC_REQUIRE_FALSE(has_infinity_function<mixprec::float8_e4m3fnuz>::value);
  STATIC_REQUIRE_FALSE(has_infinity_function<mixprec::float8_e5m2fnuz>::value);
  STATIC_REQUIRE(has_infinity_function<mixprec::float8_e5m2>::value);
  // The published maxima, bit for bit.
  CHECK(std::numeric_limits<mixprec::float8_e4m3>::max().bits() == 0x7E);
  CHECK(std::numeric_limits<mixprec::float8_e5m2>::max().bits() == 0x7B);
  CHECK(std::numeric_limits<mixprec::float16>::max().bits() == 0x7BFF);
  CHECK(std::numeric_limits<mixprec::bfloat16>::max().bits() == 0x7F7F);
  CHECK(std::numeric_limits<mixprec::float8_e4m3fnuz>::max().bits() == 0x7F);
  CHECK(std::numeric_limits<mixprec::float8_e5m2fnuz>::max().bits() == 0x7F);
  CHECK(std::numeric_limits<mixprec::float4_e2m1>::max().bits() == 0x7);
  CHECK(std::numeric_limits<mixprec::float4_e2m1>::lowest().bits() == 0xF);
  CHECK(std::numeric_limits<mixprec::float6_e2m3>::max().bits() == 0x1F);
  CHECK(std::numeric_limits<mixprec::float6_e3m2>::max().bits() == 0x1F);
  CHECK(std::numeric_limits<mixprec::float8_e8m0>::max().bits() == 0xFE);
  CHECK(std::numeric_limits<mixprec::float8_e8m0>::min().bits() == 0x00);
  CHECK(std::numeric_limits<mixprec::float8_e8m0>::lowest().bits() == 0x00);
  CHECK(std::numeric_limits<mixprec::float8_e8m0>::quiet_NaN().bits() == 0xFF);
  CHECK(std::numeric_limits<mixprec::float4_e2m1>::epsilon().bits() == 0x1);  // 0.5, a subnormal
  STATIC_REQUIRE_FALSE(has_quiet_nan_function<mixprec::float4_e2m1>::value);
  STATIC_REQUIRE_FALSE(has_quiet_nan_function<mixprec::float6_e2m3>::value);
  STATIC_REQUIRE_FALSE(has_quiet_nan_function<mixprec::float6_e3m2>::value);
  STATIC_REQUIRE_FALSE(has_infinity_function<mixprec::float8_e8m0>::value);
}

TEST_CASE("the independent decoder agrees with the published key values", "[format][reference]") {
  // Guards the reference itself: a wrong field layout there would otherwise
  // be compared against the library and could hide a shared mistake.
  CHECK(reference::decode(reference::e4m3_spec, 0x7E).value == 448.0);
  CHECK(reference::decode(reference::e4m3_spec, 0x7F).kind == reference::value_kind::nan);
  CHECK(reference::decode(reference::e4m3_spec, 0x78).value == 256.0);
  CHECK(reference::decode(reference::e4m3_spec, 0x01).value == 0x1p-9);
  CHECK(reference::decode(reference::e5m2_spec, 0x7B).value == 57344.0);
  CHECK(reference::decode(reference::e5m2_spec, 0x7C).kind == reference::value_kind::infinite);
  CHECK(reference::decode(reference::float16_spec, 0x7BFF).value == 65504.0);
  CHECK(reference::decode(reference::float16_spec, 0x3C00).value == 1.0);
  CHECK(reference::decode(reference::float16_spec, 0x0001).value == 0x1p-24);
  CHECK(reference::decode(reference::bfloat16_spec, 0x3F80).value == 1.0);
  CHECK(reference::decode(reference::bfloat16_spec, 0x7F7F).value == 0x1.FEp127);
  CHECK(reference::decode(reference::e4m3fnuz_spec, 0x7F).value == 240.0);
  CHECK(reference::decode(reference::e4m3fnuz_spec, 0x80).kind == reference::value_kind::nan);
  CHECK(reference::decode(reference::e4m3fnuz_spec, 0x40).value == 1.0);
  CHECK(reference::decode(reference::e5m2fnuz_spec, 0x7F).value == 57344.0);
  CHECK(reference::decode(reference::e5m2fnuz_spec, 0x40).value == 1.0);
  CHECK(reference::rounder_for(reference::e4m3_spec).beyond_max() == 480.0);
  CHECK(reference::rounder_for(reference::e5m2_spec).beyond_max() == 65536.0);
  CHECK(reference::rounder_for(reference::float16_spec).beyond_max() == 65536.0);
  CHECK(reference::rounder_for(reference::e4m3fnuz_spec).beyond_max() == 256.0);
  CHECK(reference::rounder_for(reference::bfloat16_spec).grid_size() == 0x7F7F + 1);
  // The microscaling formats (OCP MX v1.0 Table 2 and §5.4.1).
  CHECK(reference::decode(reference::e2m1_spec, 0x7).value == 6.0);
  CHECK(reference::decode(reference::e2m1_spec, 0x1).value == 0.5);
  CHECK(reference::decode(reference::e2m1_spec, 0x2).value == 1.0);
  CHECK(reference::decode(reference::e2m1_spec, 0xD).value == -3.0);
  CHECK(reference::decode(reference::e2m3_spec, 0x1F).value == 7.5);
  CHECK(reference::decode(reference::e2m3_spec, 0x01).value == 0.125);
  CHECK(reference::decode(reference::e3m2_spec, 0x1F).value == 28.0);
  CHECK(reference::decode(reference::e3m2_spec, 0x01).value == 0.0625);
  CHECK(reference::decode(reference::e3m2_spec, 0x04).value == 0.25);
  CHECK(reference::decode(reference::e8m0_spec, 0x00).value == 0x1p-127);
  CHECK(reference::decode(reference::e8m0_spec, 0x7F).value == 1.0);
  CHECK(reference::decode(reference::e8m0_spec, 0xFE).value == 0x1p127);
  CHECK(reference::decode(reference::e8m0_spec, 0xFF).kind == reference::value_kind::nan);
  CHECK(reference::rounder_for(reference::e2m1_spec).beyond_max() == 8.0);
  CHECK(reference::rounder_for(reference::e2m3_spec).beyond_max() == 8.0);
  CHECK(reference::rounder_for(reference::e3m2_spec).beyond_max() == 32.0);
  CHECK(reference::rounder_for(reference::e8m0_spec).beyond_max() == 0x1p128);
  CHECK(reference::rounder_for(reference::e8m0_spec).grid_size() == 255);
  // The rule on its key cases.
  const reference::rounder& e4m3 = reference::rounder_for(reference::e4m3_spec);
  using reference::mode;
  using reference::overflow;
  CHECK(e4m3.round(464.0, mode::nearest_even, overflow::none) == 0x7E);         // tie between 448 and 480: even
  CHECK(e4m3.round(464.5, mode::nearest_even, overflow::none) == 0x7F);         // overflow: NaN
  CHECK(e4m3.round(-464.5, mode::nearest_even, overflow::none) == 0xFF);        // NaN keeps the sign
  CHECK(e4m3.round(464.5, mode::nearest_even, overflow::finite) == 0x7E);       // saturated
  CHECK(e4m3.round(1e30, mode::toward_zero, overflow::none) == 0x7E);           // never past max
  CHECK(e4m3.round(449.0, mode::upward, overflow::none) == 0x7F);
  CHECK(e4m3.round(-449.0, mode::upward, overflow::none) == 0xFE);
  CHECK(e4m3.round(-HUGE_VAL, mode::toward_zero, overflow::none) == 0xFF);      // infinite input
  CHECK(e4m3.round(std::nan(""), mode::nearest_even, overflow::finite) == 0x7F);
  const reference::rounder& fp16 = reference::rounder_for(reference::float16_spec);
  CHECK(fp16.round(65520.0, mode::nearest_even, overflow::none) == 0x7C00);     // tie with 65536: even overflows
  CHECK(fp16.round(65519.99, mode::nearest_even, overflow::none) == 0x7BFF);
  CHECK(fp16.round(-0x1p-25, mode::nearest_even, overflow::none) == 0x8000);    // tie with 0: even
  CHECK(fp16.round(-0x1.8p-25, mode::nearest_even, overflow::none) == 0x8001);
  const reference::rounder& fnuz = reference::rounder_for(reference::e4m3fnuz_spec);
  CHECK(fnuz.round(-1e-10, mode::nearest_even, overflow::none) == 0x00);
  CHECK(fnuz.round(-1e10, mode::nearest_even, overflow::none) == 0x80);
  CHECK(fnuz.round(248.0, mode::nearest_even, overflow::none) == 0x80);         // 240 is odd: the tie overflows
  const reference::rounder& fp4 = reference::rounder_for(reference::e2m1_spec);
  CHECK(fp4.round(7.0, mode::nearest_even, overflow::none) == 0x7);             // no inf/NaN: saturates
  CHECK(fp4.round(-HUGE_VAL, mode::nearest_even, overflow::none) == 0xF);
  CHECK(fp4.round(std::nan(""), mode::toward_zero, overflow::none) == 0x7);     // NaN: +max
  CHECK(fp4.round(2.5, mode::nearest_even, overflow::none) == 0x4);             // tie between 2 and 3: even
  CHECK(fp4.round(0.25, mode::nearest_even, overflow::none) == 0x0);            // tie with 0: even
  CHECK(fp4.round(-0.25, mode::nearest_even, overflow::none) == 0x8);           // -0
  CHECK(fp4.round(0.1, mode::upward, overflow::none) == 0x1);
  const reference::rounder& e8m0 = reference::rounder_for(reference::e8m0_spec);
  CHECK(e8m0.round(0.0, mode::nearest_even, overflow::none) == 0x00);           // no zero: 2^-127
  CHECK(e8m0.round(0.0, mode::upward, overflow::finite) == 0x00);
  CHECK(e8m0.round(1e-300, mode::toward_zero, overflow::none) == 0x00);
  CHECK(e8m0.round(-4.0, mode::nearest_even, overflow::none) == 0x81);          // |x|
  CHECK(e8m0.round(-5.0, mode::upward, overflow::none) == 0x82);                // |x| rounded up
  CHECK(e8m0.round(1.5, mode::nearest_even, overflow::none) == 0x80);           // tie 1 (0x7F) / 2 (0x80): even code
  CHECK(e8m0.round(3.0, mode::nearest_even, overflow::none) == 0x80);           // tie 2 (0x80) / 4 (0x81): even code
  CHECK(e8m0.round(2.9, mode::nearest_even, overflow::none) == 0x80);
  CHECK(e8m0.round(3.1, mode::nearest_even, overflow::none) == 0x81);
  CHECK(e8m0.round(0x1.8p127, mode::nearest_even, overflow::none) == 0xFE);     // tie with 2^128: 0xFE is even
  CHECK(e8m0.round(0x1.8000000000001p127, mode::nearest_even, overflow::none) == 0xFF);  // overflow: NaN
  CHECK(e8m0.round(0x1.8000000000001p127, mode::nearest_even, overflow::finite) == 0xFE);
  CHECK(e8m0.round(-HUGE_VAL, mode::toward_zero, overflow::none) == 0xFF);
  CHECK(e8m0.round(HUGE_VAL, mode::upward, overflow::finite) == 0xFE);
  CHECK(e8m0.round(std::nan(""), mode::upward, overflow::finite) == 0xFF);
}
