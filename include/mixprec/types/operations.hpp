/// \file
/// mixprec/types/operations.hpp — what makes basic_float a numeric type:
/// classification, comparisons, arithmetic, std::numeric_limits, std::hash and
/// operator<<.
///
/// Arithmetic: `+ - * /` and `+= -= *= /=` on two values of the same basic_float
/// type are done in float and rounded back with the type's default rule
/// (nearest even; FP8 saturates, so `float8_e4m3(448) + float8_e4m3(448)` is
/// 448, while `float16(65504) + float16(65504)` is +inf). For + - * / the result
/// is the correctly rounded one (float carries at least 2p + 2 bits for every
/// format here).
///
/// The arithmetic and the comparisons are float operations, so on the host
/// they follow the caller's MXCSR like any float code: under DAZ a bfloat16
/// subnormal compares equal to 0, under FTZ a subnormal sum is flushed, and
/// fesetround changes the float rounding (the conversions back do not
/// depend on it). Classification, abs, negation and every conversion read
/// bits and give the same results in every environment.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <ostream>

#include "mixprec/core/config.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec {

// Classification, found by argument-dependent lookup, on the bits alone.

/// True when x is a NaN (of either sign). Found by argument-dependent lookup; reads the bits alone.
template <class F>
MIXPREC_HOST_DEVICE constexpr bool isnan(basic_float<F> x) noexcept { return F::is_nan_code(x.bits()); }
/// True when x is +inf or -inf; always false in formats without infinity.
template <class F>
MIXPREC_HOST_DEVICE constexpr bool isinf(basic_float<F> x) noexcept { return F::is_infinity_code(x.bits()); }
/// True when x is neither NaN nor infinite.
template <class F>
MIXPREC_HOST_DEVICE constexpr bool isfinite(basic_float<F> x) noexcept { return !isnan(x) && !isinf(x); }
/// signbit and abs read and clear the sign bit, NaN included (IEEE 754 §5.5.1,
/// as std::signbit and std::fabs do on the decoded float). The one exception is
/// fnuz's NaN: it occupies the -0 code and has no sign.
template <class F>
MIXPREC_HOST_DEVICE constexpr bool signbit(basic_float<F> x) noexcept {
  if (!F::has_negative_zero && isnan(x)) return false;
  return (x.bits() & F::sign_mask) != 0;
}
/// x with its sign bit cleared (NaN included); fnuz's NaN is returned unchanged.
template <class F>
MIXPREC_HOST_DEVICE constexpr basic_float<F> abs(basic_float<F> x) noexcept {
  if (!F::has_negative_zero && isnan(x)) return x;
  return basic_float<F>::from_bits(static_cast<typename F::storage_type>(x.bits() & F::magnitude_mask));
}

/// Comparisons follow IEEE 754: NaN is unordered, +0 == -0.
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator==(basic_float<F> a, basic_float<F> b) noexcept {
  return static_cast<float>(a) == static_cast<float>(b);
}
/// True when a == b is false (so true when either is NaN).
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator!=(basic_float<F> a, basic_float<F> b) noexcept {
  return !(a == b);
}
/// IEEE 754 less-than on the exact values; false when either is NaN.
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator<(basic_float<F> a, basic_float<F> b) noexcept {
  return static_cast<float>(a) < static_cast<float>(b);
}
/// IEEE 754 greater-than; false when either is NaN.
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator>(basic_float<F> a, basic_float<F> b) noexcept {
  return b < a;
}
/// IEEE 754 less-or-equal; false when either is NaN.
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator<=(basic_float<F> a, basic_float<F> b) noexcept {
  return static_cast<float>(a) <= static_cast<float>(b);
}
/// IEEE 754 greater-or-equal; false when either is NaN.
template <class F>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool operator>=(basic_float<F> a, basic_float<F> b) noexcept {
  return b <= a;
}

/// Arithmetic is done in float and rounded back with the type's default rule
/// (nearest even; FP8 saturates, so float8_e4m3(448) + float8_e4m3(448) is
/// 448, while float16(65504) + float16(65504) is +inf). For + - * / the result
/// is the correctly rounded one: float carries at least 2p + 2 bits for every
/// format here, so rounding twice equals rounding once (Figueroa 1995).
///
/// Internal: defines `operator op` and `operator compound` for every basic_float;
/// undefined right after its four uses (+, -, *, /).
#define MIXPREC_DEFINE_ARITHMETIC(op, compound)                                                                 \
  template <class F>                                                                                            \
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS basic_float<F> operator op(basic_float<F> a, basic_float<F> b) noexcept { \
    return basic_float<F>(static_cast<float>(a) op static_cast<float>(b));                                     \
  }                                                                                                             \
  template <class F>                                                                                            \
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS basic_float<F>& operator compound(basic_float<F>& a, basic_float<F> b) noexcept { \
    a = a op b;                                                                                                 \
    return a;                                                                                                   \
  }
MIXPREC_DEFINE_ARITHMETIC(+, +=)
MIXPREC_DEFINE_ARITHMETIC(-, -=)
MIXPREC_DEFINE_ARITHMETIC(*, *=)
MIXPREC_DEFINE_ARITHMETIC(/, /=)
#undef MIXPREC_DEFINE_ARITHMETIC

/// Prints the exact value through float (shortest round-trip formatting of
/// the stream's float output), e.g. "448" or "nan".
template <class F>
std::ostream& operator<<(std::ostream& out, basic_float<F> x) {
  return out << static_cast<float>(x);
}

}  // namespace mixprec

namespace std {

/// numeric_limits by the standard's definitions: digits counts the hidden bit,
/// min() is the smallest normal, lowest() is -max().
template <class F>
class numeric_limits<mixprec::basic_float<F>> {
  using T = mixprec::basic_float<F>;
  using storage = typename F::storage_type;
  MIXPREC_HOST_DEVICE static constexpr storage code(std::uint64_t bits) noexcept { return static_cast<storage>(bits); }

 public:
  static constexpr bool is_specialized = true;  ///< True: this specialisation exists.
  static constexpr bool is_signed = F::has_sign;  ///< False only for E8M0, which has no sign bit.
  static constexpr bool is_integer = false;  ///< False.
  static constexpr bool is_exact = false;  ///< False.
  static constexpr bool has_infinity = F::has_infinity;  ///< Whether the format encodes ±inf (E5M2, FP16, BF16).
  static constexpr bool has_quiet_NaN = F::has_nan;  ///< Whether the format has a NaN (not FP4, FP6).
  static constexpr bool has_signaling_NaN = F::specials == mixprec::special_encoding::ieee;  ///< True for the IEEE-encoded formats only.
  static constexpr float_denorm_style has_denorm = F::has_subnormals ? denorm_present : denorm_absent;  ///< denorm_absent only for E8M0.
  static constexpr bool has_denorm_loss = false;  ///< False.
  static constexpr float_round_style round_style = round_to_nearest;  ///< round_to_nearest, the rounding of the constructors and arithmetic.
  static constexpr bool is_iec559 = F::specials == mixprec::special_encoding::ieee && F::total_bits == 16 &&
                                    F::exponent_bits == 5;  ///< only binary16 is an IEEE 754 interchange format
  static constexpr bool is_bounded = true;  ///< True.
  static constexpr bool is_modulo = false;  ///< False.
  static constexpr int digits = F::mantissa_bits + 1;  ///< Significand bits, hidden bit included.
  /// floor((digits - 1) * log10(2)) and ceil(1 + digits * log10(2)), in integers (30103 / 100000 ~ log10 2).
  static constexpr int digits10 = (F::mantissa_bits * 30103) / 100000;  ///< Decimal digits that survive a round trip through T.
  static constexpr int max_digits10 = 2 + ((F::mantissa_bits + 1) * 30103) / 100000;  ///< Decimal digits that print every T uniquely.
  static constexpr int radix = 2;  ///< 2.
  /// The standard's exponents are those of 0.1xxx * 2^e, one above ours.
  static constexpr int min_exponent = F::min_exponent + 1;  ///< One more than the exponent of min() (the standard's 0.1xxx · 2^e convention).
  static constexpr int max_exponent = F::max_exponent + 1;  ///< One more than the exponent of max() (the standard's convention).
  /// Computed by repeated scaling at compile time; no power of two is a power of ten, so no ties.
  /// min_exponent10: the least e with 10^e a normal value (ceil(log10(min()))).
  static constexpr int min_exponent10 = [] {
    double smallest_normal = 1.0;
    for (int i = 0; i < -F::min_exponent; ++i) smallest_normal /= 2.0;
    int e = 0;
    double power = 1.0;
    while (power / 10.0 >= smallest_normal) { power /= 10.0; --e; }
    return e;
  }();
  /// max_exponent10: the greatest e with 10^e finite (floor(log10(max()))).
  static constexpr int max_exponent10 = [] {
    double value = 1.0;
    for (int i = 0; i < F::max_exponent; ++i) value *= 2.0;
    value *= 1.0 + static_cast<double>(F::max_finite_magnitude & F::mantissa_mask) /
                       static_cast<double>(std::uint64_t{1} << F::mantissa_bits);
    int e = 0;
    while (value >= 10.0) { value /= 10.0; ++e; }
    return e;
  }();
  static constexpr bool traps = false;  ///< False: no operation traps.
  static constexpr bool tinyness_before = false;  ///< False.

  /// The smallest positive normal value (E8M0: 2^-127).
  MIXPREC_HOST_DEVICE static constexpr T min() noexcept { return T::from_bits(code(F::min_normal_magnitude)); }
  /// The largest finite value (6 for FP4, 448 for E4M3, 57344 for E5M2, 65504 for FP16).
  MIXPREC_HOST_DEVICE static constexpr T max() noexcept { return T::from_bits(code(F::max_finite_magnitude)); }
  /// -max; in an unsigned format (E8M0) the smallest value, min().
  MIXPREC_HOST_DEVICE static constexpr T lowest() noexcept {
    return F::has_sign ? T::from_bits(code(F::sign_mask | F::max_finite_magnitude)) : min();
  }
  /// 2^-(digits - 1): the gap between 1 and the next value (FP4: 0.5, a
  /// subnormal; E8M0: 1), encoded exactly by the engine.
  MIXPREC_HOST_DEVICE static constexpr T epsilon() noexcept {
    return T::from_bits(mixprec::engine::round_value<F>(false, 1, -F::mantissa_bits, mixprec::rounding::nearest_even,
                                                        mixprec::saturation::finite));
  }
  /// Half an ulp of 1: the largest error of round-to-nearest, 0.5.
  MIXPREC_HOST_DEVICE static constexpr T round_error() noexcept {
    return T::from_bits(
        mixprec::engine::round_value<F>(false, 1, -1, mixprec::rounding::nearest_even, mixprec::saturation::finite));
  }
  /// +inf. Only where the format has an infinity (has_infinity); elsewhere this is a
  /// compile error rather than the quiet zero the standard's default gives.
  template <class U = F, std::enable_if_t<U::has_infinity, int> = 0>
  MIXPREC_HOST_DEVICE static constexpr T infinity() noexcept {
    return T::from_bits(code(F::infinity_magnitude));
  }
  /// The canonical NaN (positive, all mantissa bits set; 0x80 in the fnuz
  /// formats, 0xFF in E8M0). Only where the format has a NaN (has_quiet_NaN;
  /// not FP6 or FP4): elsewhere a compile error.
  template <class U = F, std::enable_if_t<U::has_nan, int> = 0>
  MIXPREC_HOST_DEVICE static constexpr T quiet_NaN() noexcept {
    return T::from_bits(code(F::canonical_nan));
  }
  /// A signaling NaN (exponent all ones, mantissa 1); only for the
  /// IEEE-encoded formats, a compile error elsewhere.
  template <class U = F, std::enable_if_t<U::specials == mixprec::special_encoding::ieee, int> = 0>
  MIXPREC_HOST_DEVICE static constexpr T signaling_NaN() noexcept {
    return T::from_bits(code(F::infinity_magnitude | 1));
  }
  /// The smallest positive value: min() where there are no subnormals (E8M0).
  MIXPREC_HOST_DEVICE static constexpr T denorm_min() noexcept {
    return F::has_subnormals ? T::from_bits(code(1)) : min();
  }
};

/// Hash of a basic_float, consistent with its operator==.
template <class F>
struct hash<mixprec::basic_float<F>> {
  /// Equal values hash equally: +0 and -0 share a hash (NaN != NaN, so any hash
  /// is consistent for it).
  std::size_t operator()(mixprec::basic_float<F> x) const noexcept {
    const auto bits = x.bits();
    return std::hash<typename F::storage_type>{}(F::is_zero_code(bits) ? typename F::storage_type{0} : bits);
  }
};

}  // namespace std
