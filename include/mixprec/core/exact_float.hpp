// mixprec/core/exact_float.hpp — the few float and double steps of the
// library's rules (scales, their reciprocals, a block's pre-scaling),
// computed so that the host gives the bits the device gives whatever the
// caller's floating-point environment.
//
// The host's SSE arithmetic obeys MXCSR: DAZ reads subnormal operands as zero
// (cvtss2sd of a float subnormal gives 0), FTZ flushes subnormal results to
// zero, and the rounding control (fesetround) rounds every inexact result.
// Frameworks set DAZ and FTZ (-ffast-math's crtfastmath.o,
// torch.set_flush_denormal, oneDNN); the GPU never sees them. So on the host:
//  - widen_exactly converts a float to double exactly: a float subnormal,
//    which DAZ would read as 0, through its integer significand (a normal
//    double, which DAZ leaves alone);
//  - round_to_float rounds a double to the nearest float with the engine
//    (integer code: subnormal results stay, the mode is nearest even);
//  - add_nearest and multiply_doubles_nearest are IEEE double addition and
//    multiplication rounded to nearest, in integers;
//  - multiply_nearest and divide_nearest are IEEE float multiplication and
//    division, rounded to nearest: evaluated on those widened doubles, whose
//    results are normal doubles (or 0, inf, NaN). The product of two floats
//    is exact in double. A quotient is rounded once in double, in the
//    caller's mode, then to float: the exact quotient of two floats is either
//    a float, or a float midpoint (exact in double, 25 bits), or at a relative
//    distance of more than 2^-49 from every float midpoint (a/b - m is a
//    nonzero multiple of an integer power of two over b: relative distance at
//    least 1 / (b's and m's significands, 2^24 · 2^25)), while a double
//    rounding moves it by less than 2^-52: it never crosses or reaches a
//    midpoint, so the float is the correctly rounded quotient in every mode.
//  - default_float_environment tells a block-level rule that MXCSR is in its
//    default state, where the plain operations already give these bits.
// NaN keeps what the hardware gives (the first NaN operand, made quiet, its
// payload's top bits in float). The device compiles the plain operations (its
// float arithmetic keeps subnormals and rounds to nearest unless the caller
// builds with -ftz=true or --use_fast_math).
#pragma once

#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/mxcsr.hpp"
#include "mixprec/core/rounding.hpp"

namespace mixprec {
namespace detail {

// Whether the host's SSE arithmetic is in its default state — rounding to
// nearest, DAZ and FTZ clear (MXCSR bits 13-14, 6 and 15) — so that float
// and double operations give the device's bits as they are: a block-level
// rule checks once and takes its plain arithmetic then. False where it
// cannot tell (a host other than x86 with GCC or Clang); true on the device.
MIXPREC_HOST_DEVICE inline bool default_float_environment() noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return true;
#else
  return has_mxcsr && (read_mxcsr() & (mxcsr_rounding_control | mxcsr_denormals_are_zero | mxcsr_flush_to_zero)) == 0;
#endif
}

// Comparisons with zero as IEEE 754 makes them (-0 == 0, NaN unordered),
// from the bits: under DAZ the hardware compares a subnormal as 0, so
// `x > 0` rejected a positive subnormal and `x >= 0` accepted a negative one
// (a validation's verdict would depend on the caller's MXCSR).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_zero_exactly(float x) noexcept {
  return (bit_cast<std::uint32_t>(x) & formats::binary32::magnitude_mask) == 0;
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_positive_exactly(float x) noexcept {  // x > 0, +inf included
  return bit_cast<std::uint32_t>(x) - 1u < formats::binary32::infinity_magnitude;
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_nonnegative_exactly(float x) noexcept {  // x >= 0, -0 included
  return is_positive_exactly(x) || is_zero_exactly(x);
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_negative_exactly(float x) noexcept {  // x < 0, -inf included
  return (bit_cast<std::uint32_t>(x) ^ formats::binary32::sign_mask) - 1u < formats::binary32::infinity_magnitude;
}
// x finite and > 0: a scale, a factor or a step size that can be used.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_finite_positive(float x) noexcept {
  return bit_cast<std::uint32_t>(x) - 1u < formats::binary32::infinity_magnitude - 1u;
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_finite_positive(double x) noexcept {
  return bit_cast<std::uint64_t>(x) - 1u < formats::binary64::infinity_magnitude - 1u;
}

// x as a double, exactly, on the host whatever DAZ says: the hardware
// conversion for every float but the subnormals, the only operands DAZ reads
// as 0. A subnormal is its integer significand times 2^-149, both exact
// doubles, and so is their product (a normal double, which DAZ leaves
// alone); that rare case is out of line, so callers' loops stay small.
#if !MIXPREC_DEVICE_COMPILATION && (defined(__GNUC__) || defined(__clang__))
__attribute__((noinline, cold))
#endif
MIXPREC_HOST_DEVICE constexpr double
widen_subnormal(std::uint32_t x_bits) noexcept {
  const double magnitude = static_cast<double>(static_cast<std::int32_t>(x_bits & 0x007FFFFFu)) * 0x1p-149;
  return (x_bits >> 31) != 0 ? -magnitude : magnitude;
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double widen_exactly(float x) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return static_cast<double>(x);
#else
  const std::uint32_t x_bits = bit_cast<std::uint32_t>(x);
  if ((x_bits & formats::binary32::infinity_magnitude) != 0 || is_zero_exactly(x)) return static_cast<double>(x);
  return widen_subnormal(x_bits);
#endif
}

// x rounded to the nearest float (ties to even; beyond float's range ±inf),
// subnormal results kept, on the host whatever MXCSR says. A NaN becomes the
// float NaN cvtsd2ss gives: the sign, quiet, the payload's top 22 bits.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float round_to_float(double x) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return static_cast<float>(x);
#else
  const std::uint64_t bits = bit_cast<std::uint64_t>(x);
  if ((bits & formats::binary64::magnitude_mask) > formats::binary64::infinity_magnitude)
    return bit_cast<float>(
        static_cast<std::uint32_t>(((bits >> 32) & 0x80000000u) | 0x7FC00000u | ((bits >> 29) & 0x003FFFFFu)));
  return bit_cast<float>(
      static_cast<std::uint32_t>(engine::encode<formats::binary32>(x, rounding::nearest_even, saturation::none)));
#endif
}

// a · b, the IEEE float product rounded to nearest, whatever the host's
// MXCSR (see the file comment).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float multiply_nearest(float a, float b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __fmul_rn(a, b);
#else
  return round_to_float(widen_exactly(a) * widen_exactly(b));  // the double product is exact
#endif
}

// The same, for loops over many elements: the hardware product where the
// caller found the environment in its default state (default_float_environment,
// checked once per call), where it already rounds so; else the exact one.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float multiply_nearest(float a, float b,
                                                                 bool default_environment) noexcept {
  return default_environment ? a * b : multiply_nearest(a, b);
}

// a / b, the IEEE float quotient rounded to nearest, whatever the host's
// MXCSR (see the file comment for why the double quotient rounds right).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float divide_nearest(float a, float b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __fdiv_rn(a, b);
#else
  return round_to_float(widen_exactly(a) / widen_exactly(b));
#endif
}

// 1 / x rounded to nearest: every scale's reciprocal (a dequantisation
// factor, the inverse loss scale), the same bits on host and device. The
// device's rcp.rn is IEEE division of 1 by x, as __fdiv_rn(1, x) is, and
// stays so where device code is compiled with -prec-div=false.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float reciprocal_nearest(float x) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __frcp_rn(x);
#else
  return divide_nearest(1.0f, x);
#endif
}

// A finite double as significand · 2^exponent (the exponent of its last bit).
struct unpacked_double {
  bool negative;
  std::uint64_t significand;
  int exponent;
};
MIXPREC_HOST_DEVICE constexpr unpacked_double unpack_double(std::uint64_t bits) noexcept {
  const int biased = static_cast<int>((bits >> 52) & 0x7FFu);
  const std::uint64_t mantissa = bits & 0x000FFFFFFFFFFFFFull;
  return {(bits >> 63) != 0, biased == 0 ? mantissa : mantissa | (std::uint64_t{1} << 52),
          (biased == 0 ? 1 : biased) - 1075};
}

// a + b, the IEEE double sum rounded to nearest (an exact zero sum is +0,
// -0 only for -0 + -0), whatever the host's rounding mode: the operands'
// fields are added as integers and engine::round_value rounds. The
// operand with the lower last bit is aligned to at most 10 bits below the
// other's (63 bits in all); bits it loses beyond that only decide the
// rounding, so they are kept as one sticky bit, at least 9 places below the
// result's last bit. Infinities and NaN take the hardware sum, which no
// mode changes.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double add_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dadd_rn(a, b);
#else
  constexpr std::uint64_t magnitude_mask = formats::binary64::magnitude_mask;
  constexpr std::uint64_t infinity = formats::binary64::infinity_magnitude;
  const std::uint64_t a_bits = bit_cast<std::uint64_t>(a), b_bits = bit_cast<std::uint64_t>(b);
  if ((a_bits & magnitude_mask) >= infinity || (b_bits & magnitude_mask) >= infinity) return a + b;
  unpacked_double high = unpack_double(a_bits), low = unpack_double(b_bits);
  if (high.significand == 0 && low.significand == 0)
    return bit_cast<double>(high.negative && low.negative ? std::uint64_t{1} << 63 : std::uint64_t{0});
  if (low.significand == 0) return a;
  if (high.significand == 0) return b;
  if (high.exponent < low.exponent) {
    const unpacked_double swapped = high;
    high = low;
    low = swapped;
  }
  const int distance = high.exponent - low.exponent;
  const int up = distance < 10 ? distance : 10, down = distance - up;
  const std::uint64_t big = high.significand << up;
  std::uint64_t small = 1;  // beyond 63 places: only its sticky bit is left
  if (down == 0) {
    small = low.significand;
  } else if (down < 64) {
    const bool lost = (low.significand & ((std::uint64_t{1} << down) - 1)) != 0;
    small = (low.significand >> down) | (lost ? 1u : 0u);
  }
  const int exponent = high.exponent - up;
  using engine::round_value;
  if (high.negative == low.negative)
    return bit_cast<double>(static_cast<std::uint64_t>(round_value<formats::binary64>(
        high.negative, big + small, exponent, rounding::nearest_even, saturation::none)));
  if (big == small) return 0.0;  // an exact zero sum, rounding to nearest
  const bool negative = big > small ? high.negative : low.negative;
  return bit_cast<double>(static_cast<std::uint64_t>(round_value<formats::binary64>(
      negative, big > small ? big - small : small - big, exponent, rounding::nearest_even, saturation::none)));
#endif
}

// a · b, the IEEE double product rounded to nearest, whatever the host's
// MXCSR: the 106-bit product of the significands, its bits below the top 62
// kept as one sticky bit, rounded by engine::round_value. Zeros, infinities
// and NaN take the hardware product, which no mode changes.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double multiply_doubles_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dmul_rn(a, b);
#else
  constexpr std::uint64_t magnitude_mask = formats::binary64::magnitude_mask;
  constexpr std::uint64_t infinity = formats::binary64::infinity_magnitude;
  const std::uint64_t a_bits = bit_cast<std::uint64_t>(a), b_bits = bit_cast<std::uint64_t>(b);
  const std::uint64_t a_magnitude = a_bits & magnitude_mask, b_magnitude = b_bits & magnitude_mask;
  if (a_magnitude == 0 || b_magnitude == 0 || a_magnitude >= infinity || b_magnitude >= infinity) return a * b;
  const unpacked_double x = unpack_double(a_bits), y = unpack_double(b_bits);
  __extension__ typedef unsigned __int128 wide;
  const wide product = static_cast<wide>(x.significand) * y.significand;  // below 2^106
  const auto high = static_cast<std::uint64_t>(product >> 64), low = static_cast<std::uint64_t>(product);
  const int length =
      1 + (high != 0 ? 64 + engine::detail::highest_set_bit(high) : engine::detail::highest_set_bit(low));
  const int shift = length > 62 ? length - 62 : 0;
  const bool lost = shift != 0 && (product & ((static_cast<wide>(1) << shift) - 1)) != 0;
  const std::uint64_t significand = static_cast<std::uint64_t>(product >> shift) | (lost ? 1u : 0u);
  return bit_cast<double>(static_cast<std::uint64_t>(
      engine::round_value<formats::binary64>(x.negative != y.negative, significand, x.exponent + y.exponent + shift,
                                             rounding::nearest_even, saturation::none)));
#endif
}

}  // namespace detail
}  // namespace mixprec
