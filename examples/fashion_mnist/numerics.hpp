// examples/fashion_mnist/numerics.hpp — what a cast to FP16, BF16, E4M3 or
// E5M2 does to a tensor: which values underflow into the subnormal range,
// flush to zero, or saturate.
//
// The thresholds are found by bisection over the float bit patterns through
// the conversion engine itself (round to nearest even), so the statistics
// agree with the casts the training actually performs, bit for bit, while
// costing a comparison per element.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/format.hpp"

namespace fashion_mnist {

struct format_limits {
  std::string name;
  float flush_threshold = 0;     // the largest |x| that rounds to zero
  float min_normal = 0;          // the smallest normal magnitude
  float overflow_threshold = 0;  // the largest |x| that rounds to a finite value (beyond it: inf, or max when saturating)
};

namespace detail {

// The largest positive finite float for which `holds` is true, given that it
// holds for 0 and that it is monotone (true, then false) in the magnitude.
template <class Predicate>
float largest_float_where(Predicate holds) {
  std::uint32_t low = 0, high = 0x7F800000u;  // holds(low), !holds(high) (+inf)
  while (high - low > 1) {
    const std::uint32_t middle = low + (high - low) / 2;
    if (holds(mixprec::detail::bit_cast<float>(middle))) low = middle;
    else high = middle;
  }
  return mixprec::detail::bit_cast<float>(low);
}

}  // namespace detail

template <class Format>
format_limits limits_of(const std::string& name) {
  using mixprec::rounding;
  using mixprec::saturation;
  format_limits limits;
  limits.name = name;
  limits.flush_threshold = detail::largest_float_where([](float x) {
    return (mixprec::engine::encode<Format>(x, rounding::nearest_even, saturation::none) & Format::magnitude_mask) == 0;
  });
  limits.min_normal = std::ldexp(1.0f, Format::min_exponent);
  limits.overflow_threshold = detail::largest_float_where([](float x) {
    const std::uint64_t code = mixprec::engine::encode<Format>(x, rounding::nearest_even, saturation::none);
    return !Format::is_nan_code(code) && !Format::is_infinity_code(code);
  });
  return limits;
}

// The four formats of the report, in its column order.
inline const std::vector<format_limits>& report_formats() {
  static const std::vector<format_limits> formats = {
      limits_of<mixprec::formats::binary16>("FP16"), limits_of<mixprec::formats::bfloat16>("BF16"),
      limits_of<mixprec::formats::e4m3>("E4M3"), limits_of<mixprec::formats::e5m2>("E5M2")};
  return formats;
}

// What a cast of `values` · scale to one format does, counted over the
// non-zero values (exact zeros, e.g. after ReLU, stay zero in every format).
struct cast_census {
  std::uint64_t nonzero = 0;
  std::uint64_t flushed = 0;    // became ±0
  std::uint64_t subnormal = 0;  // became a non-zero subnormal: precision lost
  std::uint64_t saturated = 0;  // beyond the largest finite value: ±max or ±inf
  double fraction(std::uint64_t count) const { return nonzero == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(nonzero); }
};

inline cast_census census(const float* values, std::size_t count, float scale, const format_limits& limits) {
  cast_census result;
  for (std::size_t i = 0; i < count; ++i) {
    const float magnitude = std::fabs(values[i] * scale);
    if (values[i] == 0.0f) continue;
    ++result.nonzero;
    if (!(magnitude <= limits.overflow_threshold)) ++result.saturated;  // NaN counts as saturated
    else if (magnitude <= limits.flush_threshold) ++result.flushed;
    else if (magnitude < limits.min_normal) ++result.subnormal;
  }
  return result;
}

// Non-zero values that a cast of values · scale turns into zero.
inline std::uint64_t count_flushed(const float* values, std::size_t count, float scale, float flush_threshold,
                                   std::uint64_t& nonzero) {
  std::uint64_t flushed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (values[i] == 0.0f) continue;
    ++nonzero;
    flushed += std::fabs(values[i] * scale) <= flush_threshold ? 1u : 0u;
  }
  return flushed;
}

}  // namespace fashion_mnist
