// Stochastic rounding (issue 2 §2): the result is one of the two neighbours
// of x, away from zero exactly when fraction32 + random_bits >= 2^32, where
// fraction32 is the discarded fraction truncated to 32 bits; so for uniform
// random bits it rounds away with probability fraction32 / 2^32 and the
// expected result is x (to 2^-32 of a step). The overflow rule still applies.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/failure_log.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

namespace {

using mixprec::rounding;
using mixprec::saturation;

// The failure log with this file's line format.
struct failures : mixprec_test::failure_log {
  void add(const char* what, double x, std::uint32_t random_bits, std::uint32_t expected, std::uint32_t actual) {
    char line[200];
    std::snprintf(line, sizeof line, "%s: x = %.17g, random 0x%08X: expected 0x%04X, got 0x%04X", what, x, random_bits,
                  expected, actual);
    failure_log::add(line);
  }
};

// Random inputs for a format: raw float patterns and values in its range.
template <class Real>
std::vector<Real> sample_inputs(const reference::rounder& ref, std::size_t count, std::mt19937_64& generator) {
  std::vector<Real> inputs;
  int max_exponent = 0;
  (void)std::frexp(ref.max(), &max_exponent);
  std::uniform_int_distribution<int> exponent(1 - ref.spec().bias - ref.spec().mantissa_bits - 2, max_exponent + 1);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t bits = generator();
    if (i % 4 == 0) {
      if constexpr (std::is_same<Real, float>::value)
        inputs.push_back(reference::float_from_bits(static_cast<std::uint32_t>(bits)));
      else
        inputs.push_back(reference::double_from_bits(bits));
    } else {
      const double value = std::ldexp(1.0 + static_cast<double>(bits >> 12) * 0x1p-52, exponent(generator));
      inputs.push_back(static_cast<Real>((bits & 1u) ? -value : value));
    }
  }
  return inputs;
}

template <class T, class Real>
void check_always_a_neighbour(failures& result, std::uint64_t& checked) {
  const reference::rounder& ref = reference::rounder_of<T>();
  std::mt19937_64 generator(0xC0FFEEull + static_cast<unsigned long long>(ref.spec().total_bits()));
  const std::vector<Real> inputs = sample_inputs<Real>(ref, 20000, generator);
  for (const saturation s : reference::saturations) {
    for (const Real x : inputs) {
      std::uint32_t toward = 0, away = 0;
      ref.neighbours(x, reference::to_reference(s), toward, away);
      for (int draw = 0; draw < 4; ++draw) {
        // Include the extreme random words as well as uniform ones.
        const std::uint32_t random_bits =
            draw == 0 ? 0u : draw == 1 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(generator());
        const std::uint32_t actual = mixprec::convert_stochastic<T>(x, random_bits, s).bits();
        ++checked;
        if (actual != toward && actual != away)
          result.add(s == saturation::finite ? "finite" : "none", static_cast<double>(x), random_bits, toward, actual);
      }
    }
  }
}

}  // namespace

TEST_CASE("stochastic rounding always gives one of the two neighbours, for float and double inputs",
          "[stochastic]") {
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    failures result;
    std::uint64_t checked = 0;
    check_always_a_neighbour<T, float>(result, checked);
    check_always_a_neighbour<T, double>(result, checked);
    INFO(reference::spec_of<T>().name << ": " << checked << " conversions, " << result.count
                                      << " not a neighbour (expected shows the neighbour toward zero)\n"
                                      << result.first);
    CHECK(checked > 0);
    CHECK(result.count == 0);
  });
}

TEST_CASE("stochastic rounding rounds away from zero exactly when fraction32 + random_bits >= 2^32",
          "[stochastic]") {
  // x = lower + (F + tail) / 2^32 * step, built exactly in double: the
  // discarded fraction truncated to 32 bits is F, whatever the tail in
  // [0, 1). At random = 2^32 - F the sum reaches 2^32 (away); one less stays
  // toward zero. F = 0 with a tail never rounds away. Where x is also a float
  // (no tail, F with few enough bits) the float path is checked too.
  reference::for_each_format([](auto tag) {
    using T = decltype(tag);
    const reference::rounder& ref = reference::rounder_of<T>();
    std::mt19937_64 generator(0xF4AC7ull + static_cast<unsigned long long>(ref.spec().total_bits()));
    failures result;
    std::uint64_t checked = 0, float_checked = 0;
    // Every grid interval of the 8-bit formats; a spread of them for 16 bits.
    const std::size_t step_between = ref.grid_size() > 1000 ? 97 : 1;
    for (std::size_t i = 0; i < ref.grid_size(); i += step_between) {
      const double lower = ref.grid_value(i);
      const double step = ref.upper_of(i) - lower;
      for (int trial = 0; trial < 6; ++trial) {
        std::uint32_t fraction32 = static_cast<std::uint32_t>(generator());
        if (trial == 0) fraction32 = 0;
        if (trial == 1) fraction32 = 0x80000000u;
        if (trial == 2) fraction32 = 1;
        if (trial == 3) fraction32 = 0xFFFFFFFFu;
        if (trial == 4) fraction32 &= 0xFFF00000u;  // few bits: x may be a float as well
        const double tail = trial == 4 ? 0.0 : 0.25;
        const double x = lower + (static_cast<double>(fraction32) + tail) * 0x1p-32 * step;
        for (const bool negative : {false, true}) {
          const double signed_x = negative ? -x : x;
          std::uint32_t toward = 0, away = 0;
          for (const saturation s : reference::saturations) {
            ref.neighbours(signed_x, reference::to_reference(s), toward, away);
            if (toward == away) continue;  // x on the grid (F = 0 without tail): nothing to decide
            const std::uint64_t boundary = (std::uint64_t{1} << 32) - fraction32;  // first random word that rounds away
            const auto expect = [&](std::uint64_t random_bits, std::uint32_t expected) {
              if (random_bits > 0xFFFFFFFFu) return;
              const std::uint32_t r = static_cast<std::uint32_t>(random_bits);
              const std::uint32_t actual = mixprec::convert_stochastic<T>(signed_x, r, s).bits();
              ++checked;
              if (actual != expected) result.add("double", signed_x, r, expected, actual);
              if (static_cast<double>(static_cast<float>(signed_x)) == signed_x) {
                const std::uint32_t via_float = mixprec::convert_stochastic<T>(static_cast<float>(signed_x), r, s).bits();
                ++float_checked;
                if (via_float != expected) result.add("float", signed_x, r, expected, via_float);
              }
            };
            expect(boundary, away);
            expect(boundary - 1, toward);
            expect(0xFFFFFFFFu, fraction32 == 0 ? toward : away);
            expect(0, toward);
          }
        }
      }
    }
    INFO(ref.spec().name << ": " << checked << " double and " << float_checked << " float conversions, "
                         << result.count << " failures\n"
                         << result.first);
    CHECK(float_checked > 0);
    CHECK(result.count == 0);
  });
}

TEST_CASE("stochastic rounding is unbiased: the mean of many draws is x within 5 standard deviations",
          "[stochastic]") {
  // For p = fraction32 / 2^32 the result is lower + step * Bernoulli(p), so
  // the mean of N draws has expectation lower + p * step and standard
  // deviation step * sqrt(p (1 - p) / N). With N = 200000 and the fixed
  // seeds below the bound is 5 standard deviations (plus 2^-32 of a step for
  // the truncation of the fraction). Random words come from both
  // std::mt19937 and mixprec::stochastic_rounding_bits.
  constexpr int draws = 200000;
  reference::for_each_format([&](auto tag) {
    using T = decltype(tag);
    const reference::rounder& ref = reference::rounder_of<T>();
    int failures_found = 0;
    std::string report;
    for (const double fraction : {0.1, 0.3, 0.5, 0.77, 0.999}) {
      for (const std::size_t i : {std::size_t{1}, ref.grid_size() / 3, ref.grid_size() - 2}) {
        const double lower = ref.grid_value(i);
        const double step = ref.upper_of(i) - lower;
        const double x = lower + fraction * step;
        const double p = std::floor(fraction * 0x1p32) * 0x1p-32;
        for (const bool use_counter_bits : {false, true}) {
          std::mt19937 generator(12345u);
          double sum = 0;
          for (int k = 0; k < draws; ++k) {
            const std::uint32_t random_bits = use_counter_bits
                                                  ? mixprec::stochastic_rounding_bits(2024u, 0u, static_cast<std::uint64_t>(k))
                                                  : static_cast<std::uint32_t>(generator());
            sum += static_cast<double>(mixprec::convert_stochastic<T>(x, random_bits, saturation::none));
          }
          const double mean = sum / draws;
          const double expected = lower + p * step;
          const double sigma = step * std::sqrt(p * (1 - p) / draws);
          const double bound = 5 * sigma + step * 0x1p-32;
          if (!(std::fabs(mean - expected) <= bound)) {
            ++failures_found;
            char line[200];
            std::snprintf(line, sizeof line, "  x = %.17g (p = %.3f, %s): mean %.17g, expected %.17g, bound %.3g\n", x, p,
                          use_counter_bits ? "stochastic_rounding_bits" : "mt19937", mean, expected, bound);
            report += line;
          }
        }
      }
    }
    INFO(ref.spec().name << "\n" << report);
    CHECK(failures_found == 0);
  });
}

TEST_CASE("stochastic rounding is deterministic for the same input and random bits", "[stochastic]") {
  std::mt19937_64 generator(99);
  int differences = 0;
  for (int i = 0; i < 10000; ++i) {
    const float x = reference::float_from_bits(static_cast<std::uint32_t>(generator()));
    const std::uint32_t bits = mixprec::stochastic_rounding_bits(7, 100, static_cast<std::uint64_t>(i));
    differences += mixprec::convert_stochastic<mixprec::float8_e4m3>(x, bits).bits() !=
                   mixprec::convert_stochastic<mixprec::float8_e4m3>(x, mixprec::stochastic_rounding_bits(7, 100, static_cast<std::uint64_t>(i))).bits();
    differences += mixprec::convert_stochastic<mixprec::bfloat16>(x, bits).bits() !=
                   mixprec::convert_stochastic<mixprec::bfloat16>(x, bits).bits();
  }
  CHECK(differences == 0);
}

TEST_CASE("stochastic rounding keeps the overflow rule: E4M3 449 with all random bits set is NaN under none",
          "[stochastic]") {
  using mixprec::convert_stochastic;
  // 449 lies between 448 (max) and 480 (the first grid point beyond max).
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0xFFFFFFFFu, saturation::none).bits() == 0x7F);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0xFFFFFFFFu, saturation::finite).bits() == 0x7E);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0xFFFFFFFFu).bits() == 0x7E);  // default: finite
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0u, saturation::none).bits() == 0x7E);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(-449.0f, 0xFFFFFFFFu, saturation::none).bits() == 0xFF);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0, 0xFFFFFFFFu, saturation::none).bits() == 0x7F);
  // fraction of 449 above 448 is 1/32: away exactly from 2^32 - 2^27 on.
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0xF8000000u, saturation::none).bits() == 0x7F);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(449.0f, 0xF7FFFFFFu, saturation::none).bits() == 0x7E);
  CHECK(convert_stochastic<mixprec::float16>(65505.0f, 0xFFFFFFFFu).bits() == 0x7C00);  // FP16 default: none
  CHECK(convert_stochastic<mixprec::float16>(65505.0f, 0xFFFFFFFFu, saturation::finite).bits() == 0x7BFF);
  CHECK(convert_stochastic<mixprec::float8_e5m2>(-57345.0f, 0xFFFFFFFFu, saturation::none).bits() == 0xFC);
  CHECK(convert_stochastic<mixprec::float8_e4m3fnuz>(-241.0f, 0xFFFFFFFFu, saturation::none).bits() == 0x80);
  CHECK(convert_stochastic<mixprec::bfloat16>(3.4e38f, 0xFFFFFFFFu, saturation::none).bits() == 0x7F80);
  // Infinite and NaN inputs, whatever the random bits.
  CHECK(convert_stochastic<mixprec::float8_e4m3>(-INFINITY, 0u, saturation::none).bits() == 0xFF);
  CHECK(convert_stochastic<mixprec::float8_e4m3>(-INFINITY, 0u, saturation::finite).bits() == 0xFE);
  CHECK(convert_stochastic<mixprec::float16>(INFINITY, 0u).bits() == 0x7C00);
  CHECK(convert_stochastic<mixprec::float8_e5m2>(NAN, 0xFFFFFFFFu).bits() == 0x7F);
  CHECK(convert_stochastic<mixprec::bfloat16>(reference::float_from_bits(0xFFFFFFFFu), 0u).bits() == 0x7FFF);
}

TEST_CASE("stochastic rounding of a double rounds once: -431.99999999999994 to E4M3 at random 2^31",
          "[stochastic][double]") {
  // The discarded fraction of |x| above 416 is just under 1/2: fraction32 =
  // 2^31 - 1, so random 2^31 stays at -416 (0xFD) and 2^31 + 1 goes to -448.
  // Through float, x would be -432, fraction exactly 1/2, and 2^31 would round away.
  const double x = -431.99999999999994;
  CHECK(mixprec::convert_stochastic<mixprec::float8_e4m3>(x, 0x80000000u).bits() == 0xFD);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e4m3>(x, 0x80000001u).bits() == 0xFE);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e4m3>(static_cast<float>(x), 0x80000000u).bits() == 0xFE);
}

TEST_CASE("stochastic rounding from another mixprec type rounds its exact value", "[stochastic]") {
  // float16 1 + 2^-10 lies 1/128 of an E4M3 step above 1: fraction32 = 2^25.
  const mixprec::float16 x = mixprec::float16::from_bits(0x3C01);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e4m3>(x, 0xFE000000u).bits() == 0x39);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e4m3>(x, 0xFDFFFFFFu).bits() == 0x38);
}

TEST_CASE("convert with rounding::stochastic but no random bits is rejected with mixprec::error", "[stochastic]") {
  REQUIRE_THROWS_AS(mixprec::convert<mixprec::float8_e4m3>(1.5f, rounding::stochastic), mixprec::error);
  REQUIRE_THROWS_AS(mixprec::convert<mixprec::bfloat16>(1.5, rounding::stochastic), mixprec::error);
  REQUIRE_THROWS_AS(mixprec::convert<mixprec::float8_e5m2>(mixprec::float16(1.0f), rounding::stochastic),
                    mixprec::error);
  MIXPREC_REQUIRE_ERROR(mixprec::convert<mixprec::float16>(1.5f, rounding::stochastic), "convert_stochastic");
}

TEST_CASE("stochastic_rounding_bits is a pure function of seed and offset + index", "[stochastic][random]") {
  int differences = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const std::uint32_t word = mixprec::stochastic_rounding_bits(42, 1000, i);
    differences += word != mixprec::stochastic_rounding_bits(42, 1000, i);
    differences += word != mixprec::stochastic_rounding_bits(42, 1000 + i, 0);
    differences += word != mixprec::stochastic_rounding_bits(42, 0, 1000 + i);
  }
  CHECK(differences == 0);
  // Usable at compile time, so host and device agree by construction.
  static_assert(mixprec::stochastic_rounding_bits(1, 2, 3) == mixprec::stochastic_rounding_bits(1, 5, 0), "");
  // Different seeds give different streams: few equal words at equal positions.
  int equal = 0;
  for (std::uint64_t i = 0; i < 100000; ++i)
    equal += mixprec::stochastic_rounding_bits(1, 0, i) == mixprec::stochastic_rounding_bits(2, 0, i);
  CHECK(equal <= 2);
}

TEST_CASE("stochastic_rounding_bits is uniform: bit balance and chi-square within stated bounds",
          "[stochastic][random]") {
  // N = 2^20 consecutive words of a few streams. Bit balance: each of the 32
  // bits is set in N/2 +- 5 sqrt(N)/2 words. Chi-square of the top and bottom
  // bytes over 256 buckets (255 degrees of freedom: mean 255, standard
  // deviation sqrt(510) ~ 22.6) is below 255 + 5 * 22.6 = 368. Consecutive
  // words: word[i] < word[i+1] for N/2 +- 5 sqrt(N)/2 of the pairs.
  constexpr std::uint64_t n = std::uint64_t{1} << 20;
  const double balance_bound = 5 * std::sqrt(static_cast<double>(n)) / 2;
  for (const std::uint64_t seed : {0ull, 1ull, 0x123456789ABCDEFull}) {
    for (const std::uint64_t offset : {0ull, 1ull << 40}) {
      std::uint64_t bit_count[32] = {};
      std::uint64_t top[256] = {}, bottom[256] = {};
      std::uint64_t increasing = 0;
      std::uint32_t previous = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint32_t word = mixprec::stochastic_rounding_bits(seed, offset, i);
        for (int b = 0; b < 32; ++b) bit_count[b] += (word >> b) & 1u;
        ++top[word >> 24];
        ++bottom[word & 0xFFu];
        if (i > 0 && previous < word) ++increasing;
        previous = word;
      }
      INFO("seed " << seed << ", offset " << offset);
      double worst_balance = 0;
      for (const std::uint64_t count : bit_count)
        worst_balance = std::max(worst_balance, std::fabs(static_cast<double>(count) - n / 2.0));
      CHECK(worst_balance <= balance_bound);
      const auto chi_square = [&](const std::uint64_t (&buckets)[256]) {
        const double expected = n / 256.0;
        double sum = 0;
        for (const std::uint64_t observed : buckets)
          sum += (static_cast<double>(observed) - expected) * (static_cast<double>(observed) - expected) / expected;
        return sum;
      };
      CHECK(chi_square(top) < 368.0);
      CHECK(chi_square(bottom) < 368.0);
      CHECK(std::fabs(static_cast<double>(increasing) - (n - 1) / 2.0) <= balance_bound);
    }
  }
}
