// double -> every format: rounded once, never through float (issue 2 §2).
//
// A double has 29 more significand bits than a float, so the inputs that
// matter are those close to a rounding decision: for every finite value of
// every format, the value itself and the midpoints to both neighbours, each
// also one double ulp below and above; plus random doubles over the whole
// range and over each format's range. Every input is checked in every
// deterministic mode under both saturations against the independent
// reference, which compares doubles exactly with the grid and its midpoints,
// and, where they exist, against CUDA's host double conversions.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

#if MIXPREC_HAVE_CUDA_HOST_HEADERS
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp6.h>
#include <cuda_fp8.h>
#endif

namespace {

using mixprec::rounding;
using mixprec::saturation;

// For every finite grid value v of the format (both signs): v, the midpoints
// to the neighbours below and above (above max: the midpoint to the first
// point beyond max, where overflow starts), and each of these one double ulp
// below and above. Plus beyond_max itself and its neighbours.
std::vector<double> decision_points(const reference::rounder& ref) {
  std::vector<double> points;
  const auto add_with_neighbours = [&points](double v) {
    for (double sign : {1.0, -1.0}) {
      points.push_back(sign * v);
      points.push_back(sign * std::nextafter(v, 0.0));
      points.push_back(sign * std::nextafter(v, HUGE_VAL));
    }
  };
  for (std::size_t i = 0; i < ref.grid_size(); ++i) {
    const double lower = ref.grid_value(i);
    add_with_neighbours(lower);
    add_with_neighbours((lower + ref.upper_of(i)) / 2);  // the midpoint above; the one below is the previous point's
  }
  add_with_neighbours(ref.beyond_max());
  return points;
}

// Random doubles: raw 64-bit patterns (every exponent, NaNs, infinities) and
// values whose exponent lies in or just around the format's range.
std::vector<double> random_doubles(const reference::rounder& ref, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<double> values;
  values.reserve(2 * count);
  for (std::size_t i = 0; i < count; ++i) values.push_back(reference::double_from_bits(generator()));
  int max_exponent = 0;
  (void)std::frexp(ref.max(), &max_exponent);
  const int lowest_exponent = 1 - ref.spec().bias - ref.spec().mantissa_bits - 3;  // below half of denorm_min
  std::uniform_int_distribution<int> exponent(lowest_exponent, max_exponent + 2);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t bits = generator();
    const double significand = 1.0 + static_cast<double>(bits >> 12) * 0x1p-52;  // [1, 2), 52 random bits
    const double value = std::ldexp(significand, exponent(generator));
    values.push_back((bits & 1u) ? -value : value);
  }
  return values;
}

std::vector<double> special_doubles() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0,
          -0.0,
          inf,
          -inf,
          std::numeric_limits<double>::quiet_NaN(),
          -std::numeric_limits<double>::quiet_NaN(),
          reference::double_from_bits(0x7FF0000000000001ull),  // signalling NaN, smallest payload
          reference::double_from_bits(0xFFF0000000000001ull),
          reference::double_from_bits(0x7FFFFFFFFFFFFFFFull),  // would be a negative zero after bias tricks
          std::numeric_limits<double>::max(),
          -std::numeric_limits<double>::max(),
          std::numeric_limits<double>::denorm_min(),
          -std::numeric_limits<double>::denorm_min(),
          std::numeric_limits<double>::min(),
          1e300,
          -1e300,
          1e-300,
          -1e-300,
          static_cast<double>(std::numeric_limits<float>::max()) * 2,
          -431.99999999999994};
}

// CUDA's double conversions, where they implement a combination.
struct cuda_double_reference {
  const char* name = nullptr;
  bool (*covers)(double) = nullptr;
  std::uint32_t (*convert)(double) = nullptr;
};

template <class T>
std::vector<std::pair<std::pair<rounding, saturation>, cuda_double_reference>> cuda_double_references() {
#if MIXPREC_HAVE_CUDA_HOST_HEADERS
  const auto everything = [](double) { return true; };
  // __nv_cvt_double_to_fp8 passes a NaN's sign and top mantissa bits through
  // (0xFF, 0x7E, ...); mixprec, like the float variant __nv_cvt_float_to_fp8,
  // returns the canonical 0x7F. Compared on every other input.
  const auto not_nan = [](double x) { return !std::isnan(x); };
  if constexpr (std::is_same<T, mixprec::float8_e4m3>::value) {
    return {{{rounding::nearest_even, saturation::finite},
             {"__nv_cvt_double_to_fp8(__NV_SATFINITE, __NV_E4M3)", not_nan,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }}},
            {{rounding::nearest_even, saturation::none},
             {"__nv_cvt_double_to_fp8(__NV_NOSAT, __NV_E4M3)", not_nan,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_fp8(x, __NV_NOSAT, __NV_E4M3); }}}};
  } else if constexpr (std::is_same<T, mixprec::float8_e5m2>::value) {
    return {{{rounding::nearest_even, saturation::finite},
             {"__nv_cvt_double_to_fp8(__NV_SATFINITE, __NV_E5M2)", not_nan,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_fp8(x, __NV_SATFINITE, __NV_E5M2); }}},
            {{rounding::nearest_even, saturation::none},
             {"__nv_cvt_double_to_fp8(__NV_NOSAT, __NV_E5M2)", not_nan,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_fp8(x, __NV_NOSAT, __NV_E5M2); }}}};
  } else if constexpr (std::is_same<T, mixprec::float4_e2m1>::value) {
    // FP4 and FP6 have no inf or NaN: CUDA saturates, as mixprec does under
    // both policies; NaN gives +max in both.
    const cuda_double_reference rn{"__nv_cvt_double_to_fp4(__NV_E2M1, cudaRoundNearest)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp4(x, __NV_E2M1, cudaRoundNearest);
                                   }};
    const cuda_double_reference rz{"__nv_cvt_double_to_fp4(__NV_E2M1, cudaRoundZero)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp4(x, __NV_E2M1, cudaRoundZero);
                                   }};
    return {{{rounding::nearest_even, saturation::finite}, rn},
            {{rounding::nearest_even, saturation::none}, rn},
            {{rounding::toward_zero, saturation::finite}, rz},
            {{rounding::toward_zero, saturation::none}, rz}};
  } else if constexpr (std::is_same<T, mixprec::float6_e2m3>::value) {
    const cuda_double_reference rn{"__nv_cvt_double_to_fp6(__NV_E2M3, cudaRoundNearest)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp6(x, __NV_E2M3, cudaRoundNearest);
                                   }};
    const cuda_double_reference rz{"__nv_cvt_double_to_fp6(__NV_E2M3, cudaRoundZero)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp6(x, __NV_E2M3, cudaRoundZero);
                                   }};
    return {{{rounding::nearest_even, saturation::finite}, rn},
            {{rounding::nearest_even, saturation::none}, rn},
            {{rounding::toward_zero, saturation::finite}, rz},
            {{rounding::toward_zero, saturation::none}, rz}};
  } else if constexpr (std::is_same<T, mixprec::float6_e3m2>::value) {
    const cuda_double_reference rn{"__nv_cvt_double_to_fp6(__NV_E3M2, cudaRoundNearest)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp6(x, __NV_E3M2, cudaRoundNearest);
                                   }};
    const cuda_double_reference rz{"__nv_cvt_double_to_fp6(__NV_E3M2, cudaRoundZero)", everything,
                                   [](double x) -> std::uint32_t {
                                     return __nv_cvt_double_to_fp6(x, __NV_E3M2, cudaRoundZero);
                                   }};
    return {{{rounding::nearest_even, saturation::finite}, rn},
            {{rounding::nearest_even, saturation::none}, rn},
            {{rounding::toward_zero, saturation::finite}, rz},
            {{rounding::toward_zero, saturation::none}, rz}};
  } else if constexpr (std::is_same<T, mixprec::float8_e8m0>::value) {
    // |x| toward zero (cudaRoundZero) or up (cudaRoundPosInf); CUDA rounds
    // the double to float with a sticky bit first, which keeps both exact.
    return {{{rounding::toward_zero, saturation::finite},
             {"__nv_cvt_double_to_e8m0(__NV_SATFINITE, cudaRoundZero)", everything,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_e8m0(x, __NV_SATFINITE, cudaRoundZero); }}},
            {{rounding::toward_zero, saturation::none},
             {"__nv_cvt_double_to_e8m0(__NV_NOSAT, cudaRoundZero)", everything,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_e8m0(x, __NV_NOSAT, cudaRoundZero); }}},
            {{rounding::upward, saturation::finite},
             {"__nv_cvt_double_to_e8m0(__NV_SATFINITE, cudaRoundPosInf)", everything,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf); }}},
            {{rounding::upward, saturation::none},
             {"__nv_cvt_double_to_e8m0(__NV_NOSAT, cudaRoundPosInf)", everything,
              [](double x) -> std::uint32_t { return __nv_cvt_double_to_e8m0(x, __NV_NOSAT, cudaRoundPosInf); }}}};
  } else if constexpr (std::is_same<T, mixprec::float16>::value) {
    return {{{rounding::nearest_even, saturation::none},
             {"__double2half", everything,
              [](double x) -> std::uint32_t { return static_cast<__half_raw>(__double2half(x)).x; }}}};
  } else if constexpr (std::is_same<T, mixprec::bfloat16>::value) {
    return {{{rounding::nearest_even, saturation::none},
             {"__double2bfloat16", everything,
              [](double x) -> std::uint32_t { return static_cast<__nv_bfloat16_raw>(__double2bfloat16(x)).x; }}}};
  }
#endif
  return {};
}

struct tally {
  std::uint64_t checked = 0, mismatches = 0, cuda_checked = 0, cuda_mismatches = 0;
  std::string first;
  void record(const std::string& what, double x, std::uint32_t expected, std::uint32_t actual) {
    if (mismatches + cuda_mismatches < 8) {
      char line[200];
      std::snprintf(line, sizeof line, "  %s: input %.17g (0x%016llX): expected 0x%04X, mixprec gave 0x%04X\n",
                    what.c_str(), x, static_cast<unsigned long long>(reference::double_bits(x)), expected, actual);
      first += line;
    }
  }
};

template <class T>
void check_doubles(const std::vector<double>& inputs, tally& result) {
  const reference::rounder& ref = reference::rounder_of<T>();
  const auto cuda = cuda_double_references<T>();
  for (const rounding r : reference::deterministic_modes) {
    for (const saturation s : reference::saturations) {
      const std::string label = std::string(ref.spec().name) + " " + reference::name(reference::to_reference(r)) + " " +
                                reference::name(reference::to_reference(s));
      const cuda_double_reference* against = nullptr;
      for (const auto& entry : cuda)
        if (entry.first.first == r && entry.first.second == s) against = &entry.second;
      for (const double x : inputs) {
        const std::uint32_t actual = mixprec::convert<T>(x, r, s).bits();
        const std::uint32_t expected = ref.round(x, reference::to_reference(r), reference::to_reference(s));
        ++result.checked;
        if (actual != expected) {
          result.record(label + " vs reference", x, expected, actual);
          ++result.mismatches;
        }
        if (against != nullptr && against->covers(x)) {
          const std::uint32_t from_cuda = against->convert(x);
          ++result.cuda_checked;
          if (actual != from_cuda) {
            result.record(label + " vs " + against->name, x, from_cuda, actual);
            ++result.cuda_mismatches;
          }
        }
      }
    }
  }
}

template <class T>
void require_double_conversions_correct() {
  const reference::rounder& ref = reference::rounder_of<T>();
  std::vector<double> inputs = decision_points(ref);
  const std::vector<double> random = random_doubles(ref, 100000, 0x5EEDull + static_cast<unsigned long long>(ref.spec().total_bits()));
  inputs.insert(inputs.end(), random.begin(), random.end());
  const std::vector<double> special = special_doubles();
  inputs.insert(inputs.end(), special.begin(), special.end());

  tally result;
  check_doubles<T>(inputs, result);

  // The sample must be able to tell single from double rounding: count the
  // inputs where going through float first gives a different nearest_even
  // result. (Every midpoint ± one double ulp rounds to the midpoint in
  // float, which is a tie there.)
  std::uint64_t through_float_differs = 0;
  for (const double x : inputs)
    if (mixprec::convert<T>(static_cast<float>(x)).bits() !=
        ref.round(x, reference::mode::nearest_even, reference::to_reference(T::default_saturation)))
      ++through_float_differs;

  INFO(ref.spec().name << ": " << inputs.size() << " doubles x 4 modes x 2 saturations = " << result.checked
                       << " conversions; reference mismatches " << result.mismatches << "; CUDA comparisons "
                       << result.cuda_checked << ", mismatches " << result.cuda_mismatches << "\n"
                       << result.first);
  CHECK(through_float_differs > 0);
  // Where CUDA has a double conversion for this format, it was used.
  CHECK((result.cuda_checked > 0) == !cuda_double_references<T>().empty());
  REQUIRE(result.mismatches == 0);
  REQUIRE(result.cuda_mismatches == 0);
}

}  // namespace

TEST_CASE("double to float16 rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::float16>();
}
TEST_CASE("double to bfloat16 rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::bfloat16>();
}
TEST_CASE("double to float8_e4m3 rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::float8_e4m3>();
}
TEST_CASE("double to float8_e5m2 rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::float8_e5m2>();
}
TEST_CASE("double to float8_e4m3fnuz rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::float8_e4m3fnuz>();
}
TEST_CASE("double to float8_e5m2fnuz rounds once: midpoints +- one ulp and random doubles match the reference",
          "[conversion][double]") {
  require_double_conversions_correct<mixprec::float8_e5m2fnuz>();
}

TEST_CASE("double to float4_e2m1 rounds once: midpoints +- one ulp and random doubles match the reference and CUDA",
          "[conversion][double][microscaling]") {
  require_double_conversions_correct<mixprec::float4_e2m1>();
}
TEST_CASE("double to float6_e2m3 rounds once: midpoints +- one ulp and random doubles match the reference and CUDA",
          "[conversion][double][microscaling]") {
  require_double_conversions_correct<mixprec::float6_e2m3>();
}
TEST_CASE("double to float6_e3m2 rounds once: midpoints +- one ulp and random doubles match the reference and CUDA",
          "[conversion][double][microscaling]") {
  require_double_conversions_correct<mixprec::float6_e3m2>();
}
TEST_CASE("double to float8_e8m0 rounds once: midpoints +- one ulp and random doubles match the reference and CUDA",
          "[conversion][double][microscaling]") {
  require_double_conversions_correct<mixprec::float8_e8m0>();
}

TEST_CASE("double -431.99999999999994 to float8_e4m3 is 0xFD in nearest_even: rounding through float would give 0xFE",
          "[conversion][double]") {
  const double x = -431.99999999999994;  // just below the midpoint -432 of -416 (0xFD) and -448 (0xFE)
  REQUIRE(x > -432.0);
  REQUIRE(static_cast<float>(x) == -432.0f);  // through float it would be a tie, resolved to even 0xFE
  CHECK(mixprec::convert<mixprec::float8_e4m3>(x).bits() == 0xFD);
  CHECK(mixprec::float8_e4m3(x).bits() == 0xFD);
  CHECK(mixprec::convert<mixprec::float8_e4m3>(static_cast<float>(x)).bits() == 0xFE);
  const reference::rounder& ref = reference::rounder_of<mixprec::float8_e4m3>();
  int mismatches = 0;
  for (const rounding r : reference::deterministic_modes)
    for (const saturation s : reference::saturations)
      if (mixprec::convert<mixprec::float8_e4m3>(x, r, s).bits() !=
          ref.round(x, reference::to_reference(r), reference::to_reference(s)))
        ++mismatches;
  CHECK(mismatches == 0);
  CHECK(mixprec::convert<mixprec::float8_e4m3>(x, rounding::toward_zero).bits() == 0xFD);
  CHECK(mixprec::convert<mixprec::float8_e4m3>(x, rounding::upward).bits() == 0xFD);
  CHECK(mixprec::convert<mixprec::float8_e4m3>(x, rounding::downward).bits() == 0xFE);
}
