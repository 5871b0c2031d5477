// basic_float as a value type (issue 2 §1 and §3): layout, comparisons,
// negation, arithmetic rounded back correctly, integer construction rounded
// once, conversions between formats, std::hash and operator<<. Expected
// values come from the independent reference, not from mixprec.
//
// Compile time: the sweeps (loops over codes, reference calls, failure
// messages, Catch2 assertions) are plain functions over a table of formats
// (format_under_test) and of format pairs (conversion_under_test). Only the
// operations under test are templates, one small function per type or pair,
// kept out of line ([[gnu::noinline]], called through pointers) so that each
// inlines the engine once, with the rounding and saturation read at run time,
// instead of every sweep being compiled again for each of the 10 formats and
// the 100 pairs (95% of the compile time was that code generation).
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/failure_log.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

namespace {

using mixprec::rounding;
using mixprec::saturation;

using failures = mixprec_test::failure_log;

std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llX", static_cast<unsigned long long>(value));
  return text;
}

template <class T>
T from_code(std::uint32_t code) {
  return T::from_bits(static_cast<typename T::storage_type>(code));
}

// The six comparisons a == b, a != b, a < b, a <= b, a > b, a >= b as bits,
// for a mixprec type and for the reference's doubles alike.
template <class Value>
unsigned comparisons(const Value& a, const Value& b) {
  return (a == b ? 1u : 0u) | (a != b ? 2u : 0u) | (a < b ? 4u : 0u) | (a <= b ? 8u : 0u) | (a > b ? 16u : 0u) |
         (a >= b ? 32u : 0u);
}

// The operations under test, on codes: one out-of-line function per type T.
template <class T>
[[gnu::noinline]] unsigned compare_codes(std::uint32_t a, std::uint32_t b) {
  return comparisons(from_code<T>(a), from_code<T>(b));
}
template <class T>
[[gnu::noinline]] std::uint32_t negate_code(std::uint32_t code) {
  return (-from_code<T>(code)).bits();
}
template <class T>
[[gnu::noinline]] std::uint32_t unary_plus_code(std::uint32_t code) {
  return (+from_code<T>(code)).bits();
}
// a + b, a - b, a * b, a / b.
template <class T>
[[gnu::noinline]] std::array<std::uint32_t, 4> arithmetic_codes(std::uint32_t a, std::uint32_t b) {
  const T x = from_code<T>(a), y = from_code<T>(b);
  return {(x + y).bits(), (x - y).bits(), (x * y).bits(), (x / y).bits()};
}
template <class T, class Integer>
[[gnu::noinline]] std::uint32_t construct_from_integer(Integer value) {
  return T(value).bits();
}
template <class T>
[[gnu::noinline]] std::size_t hash_code(std::uint32_t code) {
  const std::hash<T> hash;
  return hash(from_code<T>(code));
}
template <class T>
[[gnu::noinline]] bool is_nan_code(std::uint32_t code) {
  return isnan(from_code<T>(code));
}
// The size of a std::unordered_set<T> holding every non-NaN code of T.
template <class T>
[[gnu::noinline]] std::size_t distinct_non_nan_values() {
  std::unordered_set<T> set;
  for (std::uint32_t code = 0; code < (std::uint32_t{1} << T::format::total_bits); ++code) {
    const T x = from_code<T>(code);
    if (!isnan(x)) set.insert(x);
  }
  return set.size();
}

// T(Integer) for each integer type, found by std::get<std::uint32_t (*)(Integer)>.
using integer_constructors =
    std::tuple<std::uint32_t (*)(signed char), std::uint32_t (*)(unsigned char), std::uint32_t (*)(short),
               std::uint32_t (*)(unsigned short), std::uint32_t (*)(int), std::uint32_t (*)(unsigned),
               std::uint32_t (*)(long), std::uint32_t (*)(unsigned long), std::uint32_t (*)(long long),
               std::uint32_t (*)(unsigned long long)>;

// One format: its reference description and the operations under test.
struct format_under_test {
  const reference::format_spec* spec;
  const reference::rounder* reference;
  int total_bits;                       // T::format::total_bits
  reference::overflow default_overflow;  // T::default_saturation
  bool has_sign;                        // T::format::has_sign: float8_e8m0's operator- does not compile
  unsigned (*compare)(std::uint32_t, std::uint32_t);
  std::uint32_t (*negate)(std::uint32_t);  // nullptr without a sign
  std::uint32_t (*unary_plus)(std::uint32_t);
  std::array<std::uint32_t, 4> (*arithmetic)(std::uint32_t, std::uint32_t);
  integer_constructors from_integer;
  std::size_t (*hash)(std::uint32_t);
  bool (*is_nan)(std::uint32_t);
  std::size_t (*distinct_non_nan_values)();

  // Every code of T: 2^total_bits (16 for FP4, 64 for FP6).
  std::uint32_t code_count() const { return std::uint32_t{1} << total_bits; }
};

template <class T>
format_under_test format_under_test_of() {
  std::uint32_t (*negate)(std::uint32_t) = nullptr;
  if constexpr (T::format::has_sign) negate = &negate_code<T>;
  return {&reference::spec_of<T>(),
          &reference::rounder_of<T>(),
          T::format::total_bits,
          reference::to_reference(T::default_saturation),
          T::format::has_sign,
          &compare_codes<T>,
          negate,
          &unary_plus_code<T>,
          &arithmetic_codes<T>,
          integer_constructors{&construct_from_integer<T, signed char>, &construct_from_integer<T, unsigned char>,
                               &construct_from_integer<T, short>, &construct_from_integer<T, unsigned short>,
                               &construct_from_integer<T, int>, &construct_from_integer<T, unsigned>,
                               &construct_from_integer<T, long>, &construct_from_integer<T, unsigned long>,
                               &construct_from_integer<T, long long>, &construct_from_integer<T, unsigned long long>},
          &hash_code<T>,
          &is_nan_code<T>,
          &distinct_non_nan_values<T>};
}

// Every format, in reference::for_each_format's order.
const std::vector<format_under_test>& formats_under_test() {
  static const std::vector<format_under_test> formats = [] {
    std::vector<format_under_test> all;
    reference::for_each_format([&all](auto tag) { all.push_back(format_under_test_of<decltype(tag)>()); });
    return all;
  }();
  return formats;
}

// The conversions under test from U to T, on codes, for run-time r and s.
template <class T, class U>
[[gnu::noinline]] std::uint32_t convert_code(std::uint32_t code, rounding r, saturation s) {
  return mixprec::convert<T>(from_code<U>(code), r, s).bits();
}
template <class T, class U>
[[gnu::noinline]] std::uint32_t convert_bits_code(std::uint32_t code, rounding r, saturation s) {
  return mixprec::engine::convert_bits<typename T::format, typename U::format>(code, r, s);
}
template <class T, class U>
[[gnu::noinline]] std::uint32_t convert_code_with_defaults(std::uint32_t code) {
  return mixprec::convert<T>(from_code<U>(code)).bits();
}

// One pair of formats: convert<T>(U) and engine::convert_bits<T, U>.
struct conversion_under_test {
  const format_under_test* target;
  const format_under_test* source;
  std::uint32_t (*convert)(std::uint32_t, rounding, saturation);
  std::uint32_t (*convert_bits)(std::uint32_t, rounding, saturation);
  std::uint32_t (*convert_with_defaults)(std::uint32_t);
};

// Every pair (T, U), T the outer loop, both in reference::for_each_format's order.
std::vector<conversion_under_test> conversions_under_test() {
  const std::vector<format_under_test>& formats = formats_under_test();
  std::vector<conversion_under_test> all;
  std::size_t target = 0;
  reference::for_each_format([&](auto target_tag) {
    std::size_t source = 0;
    reference::for_each_format([&](auto source_tag) {
      using T = decltype(target_tag);
      using U = decltype(source_tag);
      all.push_back({&formats[target], &formats[source], &convert_code<T, U>, &convert_bits_code<T, U>,
                     &convert_code_with_defaults<T, U>});
      ++source;
    });
    ++target;
  });
  return all;
}

// Pairs of codes: all of them for the formats of at most 8 bits, a random
// sample (with the special codes mixed in) for the 16-bit ones.
std::vector<std::pair<std::uint32_t, std::uint32_t>> code_pairs(const format_under_test& format, std::uint64_t seed) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
  if (format.total_bits <= 8) {
    for (std::uint32_t a = 0; a < format.code_count(); ++a)
      for (std::uint32_t b = 0; b < format.code_count(); ++b) pairs.emplace_back(a, b);
    return pairs;
  }
  std::mt19937_64 generator(seed);
  const reference::rounder& ref = *format.reference;
  const std::uint32_t sign = ref.spec().sign_bit();
  const std::vector<std::uint32_t> specials = {0u, sign, ref.max_code(), sign | ref.max_code(), ref.nan_code(), 1u,
                                               sign | 1u, 0x7C00u & (sign - 1), 0x7F80u & (sign - 1)};
  for (const std::uint32_t a : specials)
    for (const std::uint32_t b : specials) pairs.emplace_back(a, b);
  for (int i = 0; i < 300000; ++i) {
    const std::uint64_t r = generator();
    pairs.emplace_back(static_cast<std::uint32_t>(r & 0xFFFFu), static_cast<std::uint32_t>((r >> 16) & 0xFFFFu));
  }
  return pairs;
}

}  // namespace

TEST_CASE("the value types are trivially copyable standard-layout wrappers of their storage", "[value_type]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    INFO(reference::spec_of<T>().name);
    STATIC_REQUIRE(std::is_trivially_copyable<T>::value);
    STATIC_REQUIRE(std::is_standard_layout<T>::value);
    STATIC_REQUIRE(std::is_trivially_default_constructible<T>::value);
    STATIC_REQUIRE(sizeof(T) == sizeof(typename T::storage_type));
    STATIC_REQUIRE(alignof(T) == alignof(typename T::storage_type));
    // Conversions from float and to float are explicit; value-initialisation is +0.
    STATIC_REQUIRE(std::is_constructible<T, float>::value);
    STATIC_REQUIRE_FALSE(std::is_convertible<float, T>::value);
    STATIC_REQUIRE_FALSE(std::is_convertible<T, float>::value);
    const T zero{};
    CHECK(zero.bits() == 0);
  });
  STATIC_REQUIRE(sizeof(mixprec::float16) == 2);
  STATIC_REQUIRE(sizeof(mixprec::bfloat16) == 2);
  STATIC_REQUIRE(sizeof(mixprec::float8_e4m3) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float8_e5m2) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float8_e4m3fnuz) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float8_e5m2fnuz) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float8_e4m3[64]) == 64);
  // One microscaling value per byte, as ml_dtypes stores them.
  STATIC_REQUIRE(sizeof(mixprec::float4_e2m1) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float6_e2m3) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float6_e3m2) == 1);
  STATIC_REQUIRE(sizeof(mixprec::float8_e8m0) == 1);
}

TEST_CASE("comparisons follow IEEE 754: NaN is unordered and +0 == -0", "[value_type]") {
  for (const format_under_test& format : formats_under_test()) {
    const reference::format_spec& spec = *format.spec;
    failures result;
    for (const auto& pair : code_pairs(format, 1)) {
      const double x = reference::decode(spec, pair.first).value, y = reference::decode(spec, pair.second).value;
      const bool ok = format.compare(pair.first, pair.second) == comparisons(x, y);
      if (!ok) result.add(hex(pair.first) + " vs " + hex(pair.second));
    }
    INFO(spec.name << ": " << result.count << " pairs compared wrongly\n" << result.first);
    CHECK(result.count == 0);
  }
  CHECK(mixprec::float8_e4m3::from_bits(0x00) == mixprec::float8_e4m3::from_bits(0x80));
  CHECK_FALSE(mixprec::float8_e4m3::from_bits(0x00) < mixprec::float8_e4m3::from_bits(0x80));
  const mixprec::float16 nan = std::numeric_limits<mixprec::float16>::quiet_NaN();
  CHECK_FALSE(nan == nan);
  CHECK(nan != nan);
  CHECK_FALSE(nan < nan);
  CHECK_FALSE(nan >= nan);
}

TEST_CASE("unary minus flips the sign; fnuz has no -0 and its NaN stays NaN", "[value_type]") {
  for (const format_under_test& format : formats_under_test()) {
    // float8_e8m0 has no sign: its operator- does not compile (a static_assert).
    if (!format.has_sign) continue;
    const reference::format_spec& spec = *format.spec;
    failures result;
    for (std::uint32_t code = 0; code < format.code_count(); ++code) {
      const reference::decoded d = reference::decode(spec, code);
      const std::uint32_t negated = format.negate(code);
      const reference::decoded n = reference::decode(spec, negated);
      bool ok = false;
      if (d.kind == reference::value_kind::nan) {
        ok = n.kind == reference::value_kind::nan;
      } else if (d.value == 0.0) {
        // -(+0) is -0 and -(-0) is +0 where -0 exists; fnuz's zero is its own negation.
        ok = n.kind == reference::value_kind::finite && n.value == 0.0 &&
             std::signbit(n.value) == (spec.has_negative_zero() && !std::signbit(d.value));
      } else {
        ok = reference::double_bits(n.value) == reference::double_bits(-d.value);
      }
      if (format.unary_plus(code) != code) ok = false;
      if (!ok) {
        // Appended, not "-" + hex(code): g++ 12 -std=c++20 -O3 warns falsely
        // (-Wstringop-overflow) on inserting into the front of a string here.
        std::string line = "-";
        line += hex(code);
        line += " gave ";
        line += hex(negated);
        result.add(line);
      }
    }
    INFO(spec.name << "\n" << result.first);
    CHECK(result.count == 0);
  }
  CHECK((-mixprec::float4_e2m1::from_bits(0x7)).bits() == 0xF);
  CHECK((-mixprec::float6_e3m2::from_bits(0x00)).bits() == 0x20);
  CHECK((-mixprec::float8_e4m3fnuz::from_bits(0x00)).bits() == 0x00);
  CHECK((-mixprec::float8_e5m2fnuz::from_bits(0x80)).bits() == 0x80);
  CHECK((-mixprec::float8_e4m3::from_bits(0x00)).bits() == 0x80);
}

TEST_CASE("arithmetic is done in float and rounded back correctly with the type's default rule", "[value_type]") {
  // The documented saturation behaviour of the defaults.
  const mixprec::float8_e4m3 e4m3_max(448.0f);
  CHECK((e4m3_max + e4m3_max).bits() == 0x7E);  // E4M3 saturates: 448 + 448 = 448
  const mixprec::float16 fp16_max(65504.0f);
  CHECK((fp16_max + fp16_max).bits() == 0x7C00);  // FP16 overflows: 65504 + 65504 = inf
  CHECK((mixprec::float8_e5m2(57344.0f) * mixprec::float8_e5m2(2.0f)).bits() == 0x7B);
  mixprec::bfloat16 accumulator(1.0f);
  accumulator += mixprec::bfloat16(0.5f);
  accumulator *= mixprec::bfloat16(4.0f);
  accumulator -= mixprec::bfloat16(1.0f);
  accumulator /= mixprec::bfloat16(2.0f);
  CHECK(static_cast<float>(accumulator) == 2.5f);

  // + - * / on all pairs (8-bit formats) or many random pairs (16-bit): the
  // result is the exact result rounded once to nearest even with the
  // default saturation. The exact result is taken in double, whose 53 bits
  // are at least 2p + 2 for every format here, so rounding it once more in
  // the reference is the correctly rounded result (Figueroa 1995).
  for (const format_under_test& format : formats_under_test()) {
    const reference::format_spec& spec = *format.spec;
    const reference::rounder& ref = *format.reference;
    const reference::overflow policy = format.default_overflow;
    failures result;
    std::uint64_t operations = 0;
    for (const auto& pair : code_pairs(format, 2)) {
      const double x = reference::decode(spec, pair.first).value, y = reference::decode(spec, pair.second).value;
      const std::array<std::uint32_t, 4> got = format.arithmetic(pair.first, pair.second);
      const double exact[4] = {x + y, x - y, x * y, x / y};
      const char* names[4] = {" + ", " - ", " * ", " / "};
      for (std::size_t op = 0; op < 4; ++op) {
        const std::uint32_t expected = ref.round(exact[op], reference::mode::nearest_even, policy);
        ++operations;
        if (got[op] != expected)
          result.add(hex(pair.first) + names[op] + hex(pair.second) + ": expected " + hex(expected) + ", got " +
                     hex(got[op]));
      }
    }
    INFO(spec.name << ": " << operations << " operations, " << result.count << " wrong\n" << result.first);
    CHECK(result.count == 0);
  }
}

namespace {

template <class Integer>
void check_integers(const format_under_test& format, failures& result, std::uint64_t& checked) {
  const reference::rounder& ref = *format.reference;
  const reference::overflow policy = format.default_overflow;
  const auto construct = std::get<std::uint32_t (*)(Integer)>(format.from_integer);
  std::vector<Integer> values = {0,
                                 1,
                                 2,
                                 3,
                                 std::numeric_limits<Integer>::max(),
                                 std::numeric_limits<Integer>::min(),
                                 static_cast<Integer>(std::numeric_limits<Integer>::max() - 1),
                                 static_cast<Integer>(std::numeric_limits<Integer>::min() + 1)};
  std::mt19937_64 generator(sizeof(Integer) * 2 + std::is_signed<Integer>::value);
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t r = generator();
    // Random magnitudes of every width, not only the huge ones.
    values.push_back(static_cast<Integer>(r >> (r % 64)));
  }
  for (const Integer v : values) {
    // long double holds every 64-bit integer exactly (checked by the caller).
    const std::uint32_t expected = ref.round(static_cast<long double>(v), reference::mode::nearest_even, policy);
    const std::uint32_t actual = construct(v);
    ++checked;
    if (actual != expected)
      result.add(std::to_string(v) + ": expected " + hex(expected) + ", got " + hex(actual));
  }
}

}  // namespace

TEST_CASE("integer constructors round the exact integer once, whatever its width", "[value_type][integer]") {
  if constexpr (std::numeric_limits<long double>::digits < 64) {
    WARN("long double cannot hold 64-bit integers exactly here: skipping the comparison with the reference");
  } else {
    for (const format_under_test& format : formats_under_test()) {
      failures result;
      std::uint64_t checked = 0;
      check_integers<signed char>(format, result, checked);
      check_integers<unsigned char>(format, result, checked);
      check_integers<short>(format, result, checked);
      check_integers<unsigned short>(format, result, checked);
      check_integers<int>(format, result, checked);
      check_integers<unsigned>(format, result, checked);
      check_integers<long>(format, result, checked);
      check_integers<unsigned long>(format, result, checked);
      check_integers<long long>(format, result, checked);
      check_integers<unsigned long long>(format, result, checked);
      INFO(format.spec->name << ": " << checked << " integers, " << result.count << " wrong\n" << result.first);
      CHECK(result.count == 0);
    }
  }
  // 2^63 + 2^55 + 1 lies just above the midpoint of bf16's 2^63 and
  // 2^63 + 2^56: once rounded it is 2^63 + 2^56 (0x5F01); through double it
  // would become the midpoint and then the even 2^63 (0x5F00).
  CHECK(mixprec::bfloat16(std::uint64_t{0x8080000000000001ull}).bits() == 0x5F01);
  CHECK(mixprec::bfloat16(static_cast<double>(std::uint64_t{0x8080000000000001ull})).bits() == 0x5F00);
  CHECK(mixprec::bfloat16(std::numeric_limits<std::int64_t>::max()).bits() == 0x5F00);   // 2^63 - 1 -> 2^63
  CHECK(mixprec::bfloat16(std::numeric_limits<std::int64_t>::min()).bits() == 0xDF00);   // -2^63 exactly
  CHECK(mixprec::bfloat16(std::numeric_limits<std::uint64_t>::max()).bits() == 0x5F80);  // 2^64 - 1 -> 2^64
  CHECK(mixprec::float8_e4m3(std::numeric_limits<std::uint64_t>::max()).bits() == 0x7E);  // saturates
  CHECK(mixprec::float16(std::numeric_limits<std::int64_t>::min()).bits() == 0xFC00);      // -inf
  CHECK(mixprec::float8_e4m3fnuz(-0).bits() == 0x00);
}

TEST_CASE("convert<T>(U) and engine::convert_bits between formats round the exact value of every code of U",
          "[value_type][conversion]") {
  for (const conversion_under_test& conversion : conversions_under_test()) {
    const reference::rounder& ref = *conversion.target->reference;
    const reference::format_spec& source = *conversion.source->spec;
    failures result;
    for (std::uint32_t code = 0; code < conversion.source->code_count(); ++code) {
      const reference::decoded decoded = reference::decode(source, code);
      const double value = decoded.value;
      for (const rounding r : reference::deterministic_modes) {
        for (const saturation s : reference::saturations) {
          const std::uint32_t expected = ref.round(value, reference::to_reference(r), reference::to_reference(s));
          const std::uint32_t actual = conversion.convert(code, r, s);
          // The engine's direct format-to-format conversion (convert goes
          // through float) gives the same on every number; its widening
          // branch moves fields without the rounding core. A NaN may differ:
          // an exact widening keeps sign and payload (made quiet) where the
          // narrowing from float gives the canonical NaN, so a NaN of T is
          // all that is asked of it there.
          const std::uint32_t direct = conversion.convert_bits(code, r, s);
          const bool nan_to_nan = decoded.kind == reference::value_kind::nan &&
                                  reference::decode(ref.spec(), direct).kind == reference::value_kind::nan;
          const bool direct_ok = direct == expected || nan_to_nan;
          if (actual != expected || !direct_ok)
            result.add(std::string(source.name) + " " + hex(code) + " " + reference::name(reference::to_reference(r)) +
                       " " + reference::name(reference::to_reference(s)) + ": expected " + hex(expected) + ", got " +
                       hex(actual) + " (convert), " + hex(direct) + " (engine::convert_bits)");
        }
      }
      const std::uint32_t expected_default =
          ref.round(value, reference::mode::nearest_even, conversion.target->default_overflow);
      if (conversion.convert_with_defaults(code) != expected_default) result.add(hex(code) + " with the defaults");
    }
    INFO(source.name << " -> " << ref.spec().name << ": " << result.count << " wrong\n" << result.first);
    CHECK(result.count == 0);
  }
}

TEST_CASE("std::hash: equal values hash equally, +0 and -0 included", "[value_type]") {
  for (const format_under_test& format : formats_under_test()) {
    const reference::rounder& ref = *format.reference;
    INFO(ref.spec().name);
    if (ref.spec().has_negative_zero()) CHECK(format.hash(0) == format.hash(ref.spec().sign_bit()));
    // Every non-NaN code is a distinct value except the two zeros (where -0 exists).
    std::size_t values = 0;
    for (std::uint32_t code = 0; code < format.code_count(); ++code)
      if (!format.is_nan(code)) ++values;
    CHECK(format.distinct_non_nan_values() == values - (ref.spec().has_negative_zero() ? 1 : 0));
  }
  const std::hash<mixprec::float16> hash;
  CHECK(hash(mixprec::float16(0.0f)) == hash(mixprec::float16(-0.0f)));
  CHECK(std::hash<mixprec::float8_e4m3>{}(mixprec::float8_e4m3(0.0f)) == std::hash<mixprec::float8_e4m3>{}(mixprec::float8_e4m3(-0.0f)));
}

TEST_CASE("operator<< prints the exact value", "[value_type]") {
  const auto text = [](auto x) {
    std::ostringstream out;
    out << x;
    return out.str();
  };
  CHECK(text(mixprec::float8_e4m3(448.0f)) == "448");
  CHECK(text(mixprec::float8_e4m3(-0.5f)) == "-0.5");
  CHECK(text(mixprec::float16(65504.0f)) == "65504");
  CHECK(text(mixprec::bfloat16(1.0f)) == "1");
  CHECK(text(mixprec::float8_e5m2::from_bits(0xFC)) == "-inf");
  CHECK(text(mixprec::float8_e4m3::from_bits(0x7F)).find("nan") != std::string::npos);
  CHECK(text(mixprec::float8_e4m3fnuz::from_bits(0x80)).find("nan") != std::string::npos);
  CHECK(text(mixprec::float8_e4m3::from_bits(0x01)) == text(0x1p-9f));
  CHECK(text(mixprec::float4_e2m1(-5.5f)) == "-6");
  CHECK(text(mixprec::float6_e2m3(0.125f)) == "0.125");
  CHECK(text(mixprec::float6_e3m2(28.0f)) == "28");
  CHECK(text(mixprec::float8_e8m0(1024.0f)) == "1024");
  CHECK(text(mixprec::float8_e8m0::from_bits(0xFF)).find("nan") != std::string::npos);
}

TEST_CASE("convert refuses rounding and saturation values that are no enumerator", "[value_type][conversion]") {
  // Before: rounding(42) behaved as toward_zero (1.7 -> 1.625 in E4M3) and
  // saturation(7) as finite. On the host they are mixprec::error; in a
  // constant expression they do not compile; on the device they trap.
  using mixprec::convert;
  using mixprec::float8_e4m3;
  CHECK_THROWS_AS(convert<float8_e4m3>(1.7f, static_cast<rounding>(42)), mixprec::error);
  MIXPREC_REQUIRE_ERROR(convert<float8_e4m3>(1.7f, static_cast<rounding>(42)),
                        "rounding value 42 is not a mixprec::rounding enumerator");
  MIXPREC_REQUIRE_ERROR(convert<mixprec::bfloat16>(1.7, rounding::nearest_even, static_cast<saturation>(7)),
                        "saturation value 7 is not a mixprec::saturation enumerator");
  MIXPREC_REQUIRE_ERROR(convert<mixprec::float16>(mixprec::bfloat16(1.5f), static_cast<rounding>(5)),
                        "rounding value 5");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_stochastic<float8_e4m3>(1.7f, 0x12345678u, static_cast<saturation>(2)),
                        "saturation value 2");
  // Every enumerator still converts (stochastic through convert_stochastic).
  for (rounding mode : {rounding::nearest_even, rounding::toward_zero, rounding::upward, rounding::downward})
    for (saturation policy : {saturation::finite, saturation::none})
      CHECK_NOTHROW(convert<float8_e4m3>(1.7f, mode, policy));
  CHECK_FALSE(mixprec::is_valid(static_cast<rounding>(42)));
  CHECK_FALSE(mixprec::is_valid(static_cast<saturation>(2)));
  CHECK(mixprec::is_valid(rounding::stochastic));
}
