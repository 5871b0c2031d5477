// tests/support/independent_reference.hpp — what a conversion should give,
// computed without any of mixprec's code.
//
// The library rounds by integer manipulation of bit patterns. This reference
// takes the opposite route, so that a shared mistake is unlikely:
//   1. decode every code of a format from its fields (sign, exponent,
//      mantissa) into a double, using only the format's published numbers
//      (OCP OFP8 v1.0 for E4M3/E5M2, IEEE 754 for binary16, Google's bfloat16,
//      AMD's MI300 ISA for the fnuz pair, OCP Microscaling Formats (MX) v1.0
//      §5.3.3 for FP6 E2M3/E3M2 and FP4 E2M1 and §5.4.1 for E8M0);
//   2. sort the finite non-negative values into a grid and append the first
//      point of the grid beyond max as if the exponent range were unbounded
//      above ("beyond_max", e.g. 480 for E4M3);
//   3. round a magnitude by comparing it with its two neighbours on that grid
//      and with their midpoint.
// Every format value, every midpoint and every float is a double, so all the
// comparisons are exact. Inputs wider than double (64-bit integers) are
// compared in long double, which is exact for them on x86-64 and aarch64.
//
// The rule implemented is issue 2 §2: round on the unbounded grid, then a
// result beyond max overflows; saturation `finite` makes overflow and ±inf
// ±max, `none` makes them ±inf, or NaN where the format has no infinity
// (E4M3 keeps the sign: 0x7F / 0xFF; fnuz has one NaN, 0x80). toward_zero
// (and the directed mode pointing towards zero) never passes max for a finite
// input. NaN gives the format's canonical positive NaN. Zero and underflow
// keep their sign, except in fnuz formats, which have no -0.
//
// The microscaling formats (issue 13 §1): FP6 and FP4 have neither inf nor
// NaN, so overflow and ±inf give ±max under both policies and in every mode,
// and NaN gives +max (CUDA's __nv_cvt_float_to_fp4/fp6). E8M0 has no sign:
// the input's sign is dropped first (CUDA's __nv_cvt_float_to_e8m0 converts
// |x|); it has no zero: zero and every magnitude below 2^-127 give 2^-127
// (code 0) in every mode; nearest_even ties (1.5 * 2^e) go to the even code,
// i.e. the even biased exponent (no spec fixes it; ml_dtypes rounds ties
// up); overflow and inf follow the E4M3 rule (NaN under none, max under
// finite), NaN gives 0xFF.
//
// Deliberately no mixprec header is included here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace reference {

// How a format uses its top exponent (and its -0 code).
enum class specials_kind {
  ieee,       // all-ones exponent: mantissa 0 is ±inf, anything else NaN
  e4m3fn,     // no infinity; only S.1111.111 is NaN; the top binade is otherwise finite
  fnuz,       // no infinity, no -0; the code 1000...0 is the only NaN
  finite,     // OCP MX FP6/FP4: no infinity, no NaN; every code is a number
  e8m0,       // OCP MX E8M0: no sign, no mantissa; code c is 2^(c - bias) except all-ones, the NaN
};

struct format_spec {
  const char* name;
  int exponent_bits;
  int mantissa_bits;
  int bias;
  specials_kind specials;

  bool is_signed() const { return specials != specials_kind::e8m0; }
  int total_bits() const { return (is_signed() ? 1 : 0) + exponent_bits + mantissa_bits; }
  std::uint32_t code_count() const { return std::uint32_t{1} << total_bits(); }
  // Codes without the sign bit: 0 .. magnitude_codes() - 1.
  std::uint32_t magnitude_codes() const { return std::uint32_t{1} << (exponent_bits + mantissa_bits); }
  // The sign bit; 0 in an unsigned format.
  std::uint32_t sign_bit() const { return is_signed() ? std::uint32_t{1} << (total_bits() - 1) : 0u; }
  bool has_infinity() const { return specials == specials_kind::ieee; }
  bool has_nan() const { return specials != specials_kind::finite; }
  bool has_zero() const { return specials != specials_kind::e8m0; }
  bool has_negative_zero() const { return is_signed() && has_zero() && specials != specials_kind::fnuz; }
};

// The published parameters, written out here independently of mixprec's format.hpp.
inline const format_spec float16_spec{"float16", 5, 10, 15, specials_kind::ieee};
inline const format_spec bfloat16_spec{"bfloat16", 8, 7, 127, specials_kind::ieee};
inline const format_spec e4m3_spec{"float8_e4m3", 4, 3, 7, specials_kind::e4m3fn};
inline const format_spec e5m2_spec{"float8_e5m2", 5, 2, 15, specials_kind::ieee};
inline const format_spec e4m3fnuz_spec{"float8_e4m3fnuz", 4, 3, 8, specials_kind::fnuz};
inline const format_spec e5m2fnuz_spec{"float8_e5m2fnuz", 5, 2, 16, specials_kind::fnuz};
inline const format_spec e2m1_spec{"float4_e2m1", 2, 1, 1, specials_kind::finite};
inline const format_spec e2m3_spec{"float6_e2m3", 2, 3, 1, specials_kind::finite};
inline const format_spec e3m2_spec{"float6_e3m2", 3, 2, 3, specials_kind::finite};
inline const format_spec e8m0_spec{"float8_e8m0", 8, 0, 127, specials_kind::e8m0};

enum class value_kind { finite, infinite, nan };

struct decoded {
  value_kind kind;
  bool negative;  // the sign bit (fnuz's NaN: false, it has no sign)
  double value;   // exact; -0.0 for negative zero, ±inf, or a NaN
};

// Decodes one code from its fields.
inline decoded decode(const format_spec& f, std::uint32_t code) {
  const std::uint32_t exponent_max = (std::uint32_t{1} << f.exponent_bits) - 1;
  const std::uint32_t mantissa_max = (std::uint32_t{1} << f.mantissa_bits) - 1;
  const bool negative = ((code >> (f.exponent_bits + f.mantissa_bits)) & 1u) != 0;
  const std::uint32_t exponent = (code >> f.mantissa_bits) & exponent_max;
  const std::uint32_t mantissa = code & mantissa_max;

  switch (f.specials) {
    case specials_kind::e8m0:
      // Every code is a power of two, 2^(code - bias), except 0xFF.
      if (code == exponent_max) return {value_kind::nan, false, std::nan("")};
      return {value_kind::finite, false, std::ldexp(1.0, static_cast<int>(code) - f.bias)};
    case specials_kind::finite: break;
    case specials_kind::ieee:
      if (exponent == exponent_max) {
        if (mantissa == 0)
          return {value_kind::infinite, negative, negative ? -HUGE_VAL : HUGE_VAL};
        return {value_kind::nan, negative, std::nan("")};
      }
      break;
    case specials_kind::e4m3fn:
      if (exponent == exponent_max && mantissa == mantissa_max) return {value_kind::nan, negative, std::nan("")};
      break;
    case specials_kind::fnuz:
      if (negative && exponent == 0 && mantissa == 0) return {value_kind::nan, false, std::nan("")};
      break;
  }
  // value = 0.mantissa * 2^(1 - bias) for exponent 0, 1.mantissa * 2^(exponent - bias) otherwise.
  const double magnitude =
      exponent == 0 ? std::ldexp(static_cast<double>(mantissa), 1 - f.bias - f.mantissa_bits)
                    : std::ldexp(static_cast<double>(mantissa + (std::uint32_t{1} << f.mantissa_bits)),
                                 static_cast<int>(exponent) - f.bias - f.mantissa_bits);
  return {value_kind::finite, negative, negative ? -magnitude : magnitude};
}

// The float bits a code should decode to. Finite values and infinities are
// exact. NaN follows the rule documented in mixprec's engine.hpp (IEEE 754
// §6.2.3 for widening): sign and payload kept, payload left-aligned in the
// float mantissa, quiet bit set; fnuz's and E8M0's NaN (which have no sign
// and no payload) give +qNaN.
inline std::uint32_t expected_float_bits(const format_spec& f, std::uint32_t code) {
  const decoded d = decode(f, code);
  if (d.kind == value_kind::nan) {
    if (f.specials == specials_kind::fnuz || f.specials == specials_kind::e8m0) return 0x7FC00000u;
    const std::uint32_t payload = (code & ((std::uint32_t{1} << f.mantissa_bits) - 1)) << (23 - f.mantissa_bits);
    return (d.negative ? 0x80000000u : 0u) | 0x7F800000u | 0x00400000u | payload;
  }
  const float value = static_cast<float>(d.value);  // exact: every format here is a subset of binary32
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline std::uint32_t float_bits(float x) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}
inline float float_from_bits(std::uint32_t bits) {
  float x = 0;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
inline std::uint64_t double_bits(double x) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}
inline double double_from_bits(std::uint64_t bits) {
  double x = 0;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// The reference's own names for the rounding modes and saturation policies.
enum class mode { nearest_even, toward_zero, upward, downward };
enum class overflow { finite, none };

inline const char* name(mode m) {
  switch (m) {
    case mode::nearest_even: return "nearest_even";
    case mode::toward_zero: return "toward_zero";
    case mode::upward: return "upward";
    case mode::downward: return "downward";
  }
  return "?";
}
inline const char* name(overflow s) { return s == overflow::finite ? "finite" : "none"; }

// Where a magnitude lies relative to its neighbours on the unbounded grid:
// lower = grid[index] <= magnitude < upper, where upper is grid[index + 1]
// or beyond_max.
enum class position { exact, below_midpoint, at_midpoint, above_midpoint };

struct location {
  std::size_t index;  // grid index of the lower neighbour
  position where;
};

class rounder {
 public:
  explicit rounder(const format_spec& f) : spec_(f) {
    for (std::uint32_t code = 0; code < f.magnitude_codes(); ++code) {
      const decoded d = decode(f, code);
      if (d.kind != value_kind::finite) continue;
      grid_.push_back({d.value, code});
    }
    std::sort(grid_.begin(), grid_.end(), [](const point& a, const point& b) { return a.value < b.value; });
    for (std::size_t i = 1; i < grid_.size(); ++i)
      if (!(grid_[i - 1].value < grid_[i].value)) throw std::logic_error("reference grid is not strictly increasing");
    if (grid_.empty() || (grid_.front().value == 0.0) != f.has_zero())
      throw std::logic_error("reference grid starts at 0 exactly when the format has a zero");

    max_ = grid_.back().value;
    max_code_ = grid_.back().code;
    // The next grid point above max with the exponent range unbounded: max
    // plus the spacing of max's binade.
    int max_exponent = 0;
    (void)std::frexp(max_, &max_exponent);  // max = m * 2^max_exponent, m in [0.5, 1)
    beyond_max_ = max_ + std::ldexp(1.0, max_exponent - 1 - f.mantissa_bits);
    const std::uint32_t exponent_max = (std::uint32_t{1} << f.exponent_bits) - 1;
    const std::uint32_t mantissa_max = (std::uint32_t{1} << f.mantissa_bits) - 1;
    switch (f.specials) {
      case specials_kind::ieee:
        infinity_code_ = exponent_max << f.mantissa_bits;
        nan_code_ = infinity_code_ | mantissa_max;
        break;
      case specials_kind::e4m3fn: nan_code_ = (exponent_max << f.mantissa_bits) | mantissa_max; break;
      case specials_kind::fnuz: nan_code_ = f.sign_bit(); break;
      case specials_kind::finite: nan_code_ = max_code_; break;  // no NaN: +max
      case specials_kind::e8m0: nan_code_ = exponent_max; break;
    }
    // Parity of the significand of each grid point, read from its value:
    // v = n * 2^q with q the spacing exponent at v's binade (the subnormal
    // spacing below the normal range). Ties go to the even n. E8M0's
    // significand is always 1; its ties go to the even code, i.e. the even
    // biased exponent log2(v) + bias (mixprec's documented E8M0 tie rule).
    for (point& p : grid_) p.even = is_even_significand(p.value);
    beyond_max_even_ = is_even_significand(beyond_max_);
  }

  const format_spec& spec() const { return spec_; }
  double max() const { return max_; }
  double beyond_max() const { return beyond_max_; }
  std::uint32_t max_code() const { return max_code_; }
  std::uint32_t nan_code() const { return nan_code_; }
  // What every magnitude below the smallest grid value gives (only E8M0,
  // which has no zero, has such magnitudes): the smallest value, in every mode.
  std::uint32_t below_grid_code() const { return grid_.front().code; }
  std::size_t grid_size() const { return grid_.size(); }
  double grid_value(std::size_t i) const { return grid_[i].value; }
  std::uint32_t grid_code(std::size_t i) const { return grid_[i].code; }
  // The upper neighbour of grid point i (beyond_max for the last one).
  double upper_of(std::size_t i) const { return i + 1 < grid_.size() ? grid_[i + 1].value : beyond_max_; }

  // Locates a finite magnitude (>= 0). Real is double or long double; the
  // grid values convert to it exactly.
  template <class Real>
  location locate(Real magnitude) const {
    // upper_bound: first grid value > magnitude.
    auto it = std::upper_bound(grid_.begin(), grid_.end(), magnitude,
                               [](Real m, const point& p) { return m < static_cast<Real>(p.value); });
    const std::size_t index = static_cast<std::size_t>(it - grid_.begin()) - 1;
    return locate_from(index, magnitude);
  }

  template <class Real>
  location locate_from(std::size_t index, Real magnitude) const {
    const Real lower = static_cast<Real>(grid_[index].value);
    const Real upper = static_cast<Real>(upper_of(index));
    if (magnitude == lower) return {index, position::exact};
    const Real midpoint = (lower + upper) / 2;  // exact: at most one bit more than the format's precision
    const position where = magnitude < midpoint    ? position::below_midpoint
                           : magnitude == midpoint ? position::at_midpoint
                                                   : position::above_midpoint;
    return {index, where};
  }

  // The rounded grid index for a located magnitude: the lower neighbour or the
  // one above it; grid_size() means beyond max (overflow). Above max the
  // upper neighbour is beyond_max, so every magnitude past the midpoint
  // between max and beyond_max overflows under nearest_even, and any
  // magnitude above max overflows when rounding away from zero.
  std::size_t rounded_index(const location& at, mode m, bool negative) const {
    negative = negative && spec_.is_signed();  // E8M0 rounds |x|
    if (at.where == position::exact) return at.index;
    bool up = false;  // towards the larger magnitude
    switch (m) {
      case mode::nearest_even:
        up = at.where == position::above_midpoint ||
             (at.where == position::at_midpoint && !grid_[at.index].even &&
              (at.index + 1 < grid_.size() ? grid_[at.index + 1].even : beyond_max_even_));
        break;
      case mode::toward_zero: up = false; break;
      case mode::upward: up = !negative; break;
      case mode::downward: up = negative; break;
    }
    return up ? at.index + 1 : at.index;
  }

  // The code for a rounded grid index (grid_size() = overflowed).
  std::uint32_t encode_index(std::size_t index, bool negative, mode m, overflow s) const {
    negative = negative && spec_.is_signed();
    const std::uint32_t sign = negative ? spec_.sign_bit() : 0u;
    if (index >= grid_.size()) {
      // IEEE 754 §7.4: a mode that points towards zero gives max for any
      // finite overflow, whatever the saturation.
      const bool toward_zero = m == mode::toward_zero || (m == mode::upward && negative) ||
                               (m == mode::downward && !negative);
      return special_or_max(negative, s == overflow::none && !toward_zero);
    }
    const std::uint32_t code = grid_[index].code;
    if (code == 0) return (negative && spec_.has_negative_zero()) ? sign : 0u;
    return sign | code;
  }

  // ±inf input: ±max under finite, ±inf (or NaN) under none, in every mode.
  std::uint32_t infinity_result(bool negative, overflow s) const {
    return special_or_max(negative && spec_.is_signed(), s == overflow::none);
  }

  // The full reference for a float, double or long double input.
  template <class Real>
  std::uint32_t round(Real x, mode m, overflow s) const {
    if (std::isnan(x)) return nan_code_;
    const bool negative = std::signbit(x);
    if (std::isinf(x)) return infinity_result(negative, s);
    const Real magnitude = negative ? -x : x;
    if (magnitude < static_cast<Real>(grid_.front().value)) return below_grid_code();
    return encode_index(rounded_index(locate(magnitude), m, negative), negative, m, s);
  }

  // The two candidates of stochastic rounding: the neighbour towards zero
  // and the one away from zero (after the overflow rule, with nearest-like
  // overflow, i.e. a finite value away from max overflows under none).
  template <class Real>
  void neighbours(Real x, overflow s, std::uint32_t& toward, std::uint32_t& away) const {
    if (std::isnan(x)) {
      toward = away = nan_code_;
      return;
    }
    const bool negative = std::signbit(x) && spec_.is_signed();
    if (std::isinf(x)) {
      toward = away = infinity_result(negative, s);
      return;
    }
    const Real magnitude = std::signbit(x) ? -x : x;
    if (magnitude < static_cast<Real>(grid_.front().value)) {
      toward = away = below_grid_code();
      return;
    }
    const location at = locate(magnitude);
    toward = encode_index(at.index, negative, mode::toward_zero, s);
    if (at.where == position::exact) {
      away = toward;
      return;
    }
    // Away from zero: the upper neighbour, or an overflow beyond max (which
    // stochastic rounding treats like round-to-nearest: special under none).
    const std::size_t up = at.index + 1;
    away = up < grid_.size() ? ((negative ? spec_.sign_bit() : 0u) | grid_[up].code)
                             : special_or_max(negative, s == overflow::none);
  }

 private:
  struct point {
    double value;
    std::uint32_t code;
    bool even = false;
  };

  bool is_even_significand(double v) const {
    if (spec_.specials == specials_kind::e8m0) {
      int exponent = 0;
      (void)std::frexp(v, &exponent);  // v = 2^(exponent - 1)
      return (exponent - 1 + spec_.bias) % 2 == 0;
    }
    if (v == 0.0) return true;
    int exponent = 0;
    (void)std::frexp(v, &exponent);  // v in [2^(exponent-1), 2^exponent)
    const int min_normal_exponent = 1 - spec_.bias;
    const int binade = std::max(exponent - 1, min_normal_exponent);
    const double n = std::ldexp(v, spec_.mantissa_bits - binade);  // integer significand
    return std::fmod(n, 2.0) == 0.0;
  }

  std::uint32_t special_or_max(bool negative, bool special) const {
    const std::uint32_t sign = negative ? spec_.sign_bit() : 0u;
    if (!special) return sign | max_code_;
    switch (spec_.specials) {
      case specials_kind::ieee: return sign | infinity_code_;
      case specials_kind::e4m3fn: return sign | nan_code_;  // the overflowing value's sign is kept
      case specials_kind::fnuz: return nan_code_;           // the one NaN
      case specials_kind::finite: return sign | max_code_;  // nothing else to give
      case specials_kind::e8m0: return nan_code_;           // unsigned: 0xFF
    }
    return nan_code_;
  }

  format_spec spec_;
  std::vector<point> grid_;
  double max_ = 0, beyond_max_ = 0;
  bool beyond_max_even_ = false;
  std::uint32_t max_code_ = 0, nan_code_ = 0, infinity_code_ = 0;
};

// One shared, lazily built rounder per format.
inline const rounder& rounder_for(const format_spec& f) {
  static const rounder float16_r(float16_spec), bfloat16_r(bfloat16_spec), e4m3_r(e4m3_spec), e5m2_r(e5m2_spec),
      e4m3fnuz_r(e4m3fnuz_spec), e5m2fnuz_r(e5m2fnuz_spec), e2m1_r(e2m1_spec), e2m3_r(e2m3_spec), e3m2_r(e3m2_spec),
      e8m0_r(e8m0_spec);
  const std::string n = f.name;
  if (n == float16_spec.name) return float16_r;
  if (n == bfloat16_spec.name) return bfloat16_r;
  if (n == e4m3_spec.name) return e4m3_r;
  if (n == e5m2_spec.name) return e5m2_r;
  if (n == e4m3fnuz_spec.name) return e4m3fnuz_r;
  if (n == e5m2fnuz_spec.name) return e5m2fnuz_r;
  if (n == e2m1_spec.name) return e2m1_r;
  if (n == e2m3_spec.name) return e2m3_r;
  if (n == e3m2_spec.name) return e3m2_r;
  if (n == e8m0_spec.name) return e8m0_r;
  throw std::logic_error("reference::rounder_for: unknown format " + n);
}

}  // namespace reference
