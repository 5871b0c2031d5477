// mixprec/core/exact_float.hpp — the few float and double steps of the
// library's rules (scales, their reciprocals, a block's pre-scaling, the
// optimizers' updates), computed so that the host gives the bits the device
// gives whatever the caller's floating-point environment.
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
//  - add_nearest, subtract_nearest, multiply_doubles_nearest, divide_nearest
//    and sqrt_nearest (double), add_nearest, fma_nearest and sqrt_nearest
//    (float) are the IEEE operations rounded to nearest, in integers around
//    engine::round_value (see "IEEE float and double operations" below):
//    the optimizers' update rules take them (training/update_rules.hpp's
//    exact_arithmetic) where MXCSR is not in its default state;
//  - the bit tests (is_zero_exactly, is_positive_exactly, is_greater_exactly
//    and the rest) are IEEE comparisons, which DAZ would make with subnormals
//    read as 0;
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
// payload's top bits in float; an operation with a NaN operand is the
// hardware's own, which DAZ and the mode do not change: with two NaN
// operands, which one comes out depends on the order the compiler gives a
// commutative operation's operands, as for the plain operator). The device
// compiles the plain operations (its float arithmetic keeps subnormals and
// rounds to nearest unless the caller builds with -ftz=true or
// --use_fast_math).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

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
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_zero_exactly(double x) noexcept {
  return (bit_cast<std::uint64_t>(x) & formats::binary64::magnitude_mask) == 0;
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
// |x| as its bit pattern, the integer every amax takes the maximum of: NaN >
// inf > every finite magnitude, so host loops and device atomicMax agree
// exactly, and DAZ cannot read a subnormal as 0.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::uint32_t magnitude_bits(float x) noexcept {
  return bit_cast<std::uint32_t>(x) & formats::binary32::magnitude_mask;
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

// x is neither infinite nor NaN, from the bits (DAZ never changes them).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_finite_exactly(float x) noexcept {
  return (bit_cast<std::uint32_t>(x) & formats::binary32::magnitude_mask) < formats::binary32::infinity_magnitude;
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_finite_exactly(double x) noexcept {
  return (bit_cast<std::uint64_t>(x) & formats::binary64::magnitude_mask) < formats::binary64::infinity_magnitude;
}

// x > y as IEEE 754 compares (NaN unordered, -0 == +0), from the bits: under
// DAZ the hardware compares two subnormals as 0 > 0 (false), so an amsgrad
// maximum would keep the smaller one. A code's magnitude with its sign is an
// integer in the values' order (both zeros map to 0).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS bool is_greater_exactly(float x, float y) noexcept {
  constexpr std::uint32_t magnitude_mask = formats::binary32::magnitude_mask;
  const std::uint32_t x_bits = bit_cast<std::uint32_t>(x), y_bits = bit_cast<std::uint32_t>(y);
  const std::uint32_t x_magnitude = x_bits & magnitude_mask, y_magnitude = y_bits & magnitude_mask;
  if (x_magnitude > formats::binary32::infinity_magnitude || y_magnitude > formats::binary32::infinity_magnitude)
    return false;
  const std::int32_t x_order =
      (x_bits >> 31) != 0 ? -static_cast<std::int32_t>(x_magnitude) : static_cast<std::int32_t>(x_magnitude);
  const std::int32_t y_order =
      (y_bits >> 31) != 0 ? -static_cast<std::int32_t>(y_magnitude) : static_cast<std::int32_t>(y_magnitude);
  return x_order > y_order;
}

// ---- IEEE float and double operations rounded to nearest, in integers ------
// For the optimizers' update rules (training/update_rules.hpp, exact_arithmetic)
// on a host whose MXCSR is not in its default state: the same bits as the
// hardware operation in the default environment, in every environment.
// Finite operands are unpacked into sign · integer significand · 2^exponent,
// the exact result (or enough of it: its leading bits and one sticky bit for
// the rest) is formed in integers, and engine::round_value rounds it to
// nearest even, subnormal results kept: the one rounding step they share.
// An operation with a NaN operand is the hardware's own (DAZ and the mode
// change no NaN result), and so is a sum with an infinite operand. One whose
// result is 0, inf or NaN because of a zero or an infinite operand takes the
// hardware operation on stand-ins (finite_stand_in: every finite nonzero
// operand as ±1, which DAZ leaves alone): no rounding happens there, so no
// mode changes it, and an invalid operation gives the hardware's default
// NaN. The device takes its _rn intrinsics.

// A finite value as significand · 2^exponent (the exponent of its last bit);
// any float or double, a float's as a double's.
struct unpacked_double {
  bool negative;
  std::uint64_t significand;
  int exponent;
};
// The finite code `bits` of Format (binary32 or binary64) unpacked.
template <class Format>
MIXPREC_HOST_DEVICE constexpr unpacked_double unpack(std::uint64_t bits) noexcept {
  const int biased =
      static_cast<int>((bits >> Format::mantissa_bits) & ((std::uint64_t{1} << Format::exponent_bits) - 1));
  const std::uint64_t mantissa = bits & Format::mantissa_mask;
  return {(bits & Format::sign_mask) != 0,
          biased == 0 ? mantissa : mantissa | (std::uint64_t{1} << Format::mantissa_bits),
          (biased == 0 ? 1 : biased) - Format::bias - Format::mantissa_bits};
}
MIXPREC_HOST_DEVICE constexpr unpacked_double unpack_double(std::uint64_t bits) noexcept {
  return unpack<formats::binary64>(bits);
}
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS unpacked_double unpack_float(float x) noexcept {
  return unpack<formats::binary32>(bit_cast<std::uint32_t>(x));
}
// x (significand nonzero, below 2^53) with its leading bit moved to bit 52:
// the same value, so that every operand aligns the same way.
MIXPREC_HOST_DEVICE constexpr unpacked_double normalize(unpacked_double x) noexcept {
  const int shift = 52 - engine::detail::highest_set_bit(x.significand);
  return {x.negative, x.significand << shift, x.exponent - shift};
}
// The exact value x rounded to nearest even on Format: its code.
template <class Format>
MIXPREC_HOST_DEVICE constexpr typename Format::storage_type nearest_code(const unpacked_double& x) noexcept {
  return engine::round_value<Format>(x.negative, x.significand, x.exponent, rounding::nearest_even, saturation::none);
}

// x + y rounded to nearest on Format (x and y finite, significands below
// 2^53): an exact zero sum is +0, -0 only for -0 + -0; with one operand zero
// the other, rounded. Both normalised, the one with the lower last bit is
// aligned to at most 10 bits below the other's (63 bits in all); bits it
// loses beyond that only decide the rounding, so they are kept as one sticky
// bit, at least 9 places below the result's last bit (the result has at
// least 61 bits then, Format's significand at most 53).
template <class Format>
MIXPREC_HOST_DEVICE constexpr typename Format::storage_type sum_nearest(unpacked_double x, unpacked_double y) noexcept {
  using storage = typename Format::storage_type;
  if (x.significand == 0 && y.significand == 0)
    return x.negative && y.negative ? static_cast<storage>(Format::sign_mask) : storage{0};
  if (y.significand == 0) return nearest_code<Format>(x);
  if (x.significand == 0) return nearest_code<Format>(y);
  unpacked_double high = normalize(x), low = normalize(y);
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
  if (high.negative == low.negative) return nearest_code<Format>({high.negative, big + small, exponent});
  if (big == small) return storage{0};  // an exact zero sum, rounding to nearest
  return nearest_code<Format>(
      {big > small ? high.negative : low.negative, big > small ? big - small : small - big, exponent});
}

// The IEEE format of float or double.
template <class Real>
using format_of = std::conditional_t<sizeof(Real) == 4, formats::binary32, formats::binary64>;

// x where it is 0 or inf; else ±1 with x's sign: the operand of a special
// case's hardware operation (see above). Not for NaN operands, which take the
// hardware operation as they are (a compiler may turn x · -1 into -x, which
// flips a NaN's sign).
template <class Real>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS Real finite_stand_in(Real x) noexcept {
  if (!is_finite_exactly(x) || is_zero_exactly(x)) return x;
  return (bit_cast<typename format_of<Real>::storage_type>(x) & format_of<Real>::sign_mask) != 0 ? Real(-1) : Real(1);
}
// a + b, the IEEE double sum rounded to nearest, whatever the host's MXCSR.
// Infinities and NaN take the hardware sum, which no mode or DAZ changes.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double add_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dadd_rn(a, b);
#else
  if (!is_finite_exactly(a) || !is_finite_exactly(b)) return a + b;
  return bit_cast<double>(static_cast<std::uint64_t>(sum_nearest<formats::binary64>(
      unpack_double(bit_cast<std::uint64_t>(a)), unpack_double(bit_cast<std::uint64_t>(b)))));
#endif
}
// a - b, the same way.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double subtract_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dsub_rn(a, b);
#else
  if (!is_finite_exactly(a) || !is_finite_exactly(b)) return a - b;
  unpacked_double negated = unpack_double(bit_cast<std::uint64_t>(b));
  negated.negative = !negated.negative;
  return bit_cast<double>(
      static_cast<std::uint64_t>(sum_nearest<formats::binary64>(unpack_double(bit_cast<std::uint64_t>(a)), negated)));
#endif
}
// a + b, the IEEE float sum rounded to nearest, the same way.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float add_nearest(float a, float b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __fadd_rn(a, b);
#else
  if (!is_finite_exactly(a) || !is_finite_exactly(b)) return a + b;
  return bit_cast<float>(sum_nearest<formats::binary32>(unpack_float(a), unpack_float(b)));
#endif
}

// fma(a, b, c), a · b + c rounded once to nearest, whatever the host's MXCSR:
// the exact product of the floats' significands (below 2^48) added to c by
// sum_nearest. A zero product keeps its sign (-0 + -0 = -0).
MIXPREC_HOST_DEVICE inline float fma_nearest(float a, float b, float c) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __fmaf_rn(a, b, c);
#else
  if (a != a || b != b || c != c) return std::fma(a, b, c);  // DAZ changes no NaN result
  if (!is_finite_exactly(a) || !is_finite_exactly(b) || !is_finite_exactly(c))
    return std::fma(finite_stand_in(a), finite_stand_in(b), finite_stand_in(c));
  const unpacked_double x = unpack_float(a), y = unpack_float(b);
  return bit_cast<float>(sum_nearest<formats::binary32>(
      {x.negative != y.negative, x.significand * y.significand, x.exponent + y.exponent}, unpack_float(c)));
#endif
}

// a · b, the IEEE double product rounded to nearest, whatever the host's
// MXCSR: the 106-bit product of the significands, its bits below the top 62
// kept as one sticky bit, rounded by engine::round_value.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double multiply_doubles_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dmul_rn(a, b);
#else
  if (a != a || b != b) return a * b;  // DAZ changes no NaN result
  if (!is_finite_exactly(a) || !is_finite_exactly(b) || is_zero_exactly(a) || is_zero_exactly(b))
    return finite_stand_in(a) * finite_stand_in(b);
  const unpacked_double x = unpack_double(bit_cast<std::uint64_t>(a)), y = unpack_double(bit_cast<std::uint64_t>(b));
  __extension__ typedef unsigned __int128 wide;
  const wide product = static_cast<wide>(x.significand) * y.significand;  // below 2^106
  const auto high = static_cast<std::uint64_t>(product >> 64), low = static_cast<std::uint64_t>(product);
  const int length =
      1 + (high != 0 ? 64 + engine::detail::highest_set_bit(high) : engine::detail::highest_set_bit(low));
  const int shift = length > 62 ? length - 62 : 0;
  const bool lost = shift != 0 && (product & ((static_cast<wide>(1) << shift) - 1)) != 0;
  const std::uint64_t significand = static_cast<std::uint64_t>(product >> shift) | (lost ? 1u : 0u);
  return bit_cast<double>(static_cast<std::uint64_t>(
      nearest_code<formats::binary64>({x.negative != y.negative, significand, x.exponent + y.exponent + shift})));
#endif
}

// a / b, the IEEE double quotient rounded to nearest, whatever the host's
// MXCSR: both significands normalised to [2^52, 2^53), the integer quotient
// of a's shifted up 62 places (between 2^61 and 2^63) and a sticky bit for a
// nonzero remainder.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS double divide_nearest(double a, double b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __ddiv_rn(a, b);
#else
  if (a != a || b != b) return a / b;  // DAZ changes no NaN result
  if (!is_finite_exactly(a) || !is_finite_exactly(b) || is_zero_exactly(a) || is_zero_exactly(b))
    return finite_stand_in(a) / finite_stand_in(b);
  const unpacked_double x = normalize(unpack_double(bit_cast<std::uint64_t>(a)));
  const unpacked_double y = normalize(unpack_double(bit_cast<std::uint64_t>(b)));
  __extension__ typedef unsigned __int128 wide;
  const wide numerator = static_cast<wide>(x.significand) << 62;
  const auto quotient = static_cast<std::uint64_t>(numerator / y.significand);
  const bool inexact = numerator % y.significand != 0;
  return bit_cast<double>(static_cast<std::uint64_t>(nearest_code<formats::binary64>(
      {x.negative != y.negative, quotient | (inexact ? 1u : 0u), x.exponent - y.exponent - 62})));
#endif
}

// sqrt(x) of a finite x > 0 rounded to nearest on Format, in integers: the
// significand normalised and shifted up an even number of places net of the
// exponent, so that its integer root has mantissa_bits + 4 bits (two more
// than the rounding needs), found bit by bit; a nonzero remainder is the
// sticky bit. A float's root fits 64-bit words, a double's needs 128.
template <class Format, class Word>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS typename Format::storage_type square_root_nearest(
    std::uint64_t bits) noexcept {
  constexpr int root_bits = Format::mantissa_bits + 4;
  const unpacked_double x = normalize(unpack<Format>(bits));
  int shift = 2 * root_bits - 2 - 52;  // the radicand in [2^(2 root_bits - 2), 2^(2 root_bits))
  if (((x.exponent - shift) & 1) != 0) ++shift;
  Word remainder = static_cast<Word>(x.significand) << shift, root = 0;
  for (Word bit = static_cast<Word>(1) << (2 * root_bits - 2); bit != 0; bit >>= 2) {
    if (remainder >= root + bit) {
      remainder -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
  }
  return nearest_code<Format>(
      {false, static_cast<std::uint64_t>(root) | (remainder != 0 ? 1u : 0u), (x.exponent - shift) / 2});
}
// sqrt(x), the IEEE float square root rounded to nearest, whatever the
// host's MXCSR. Zeros, +inf, NaN and negative x take the hardware root (of
// ±1 for a negative finite x, which DAZ would read as -0).
MIXPREC_HOST_DEVICE inline float sqrt_nearest(float x) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __fsqrt_rn(x);
#else
  if (!is_finite_positive(x)) return std::sqrt(finite_stand_in(x));
  return bit_cast<float>(square_root_nearest<formats::binary32, std::uint64_t>(bit_cast<std::uint32_t>(x)));
#endif
}
// sqrt(x), the IEEE double square root rounded to nearest, the same way.
MIXPREC_HOST_DEVICE inline double sqrt_nearest(double x) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return __dsqrt_rn(x);
#else
  if (!is_finite_positive(x)) return std::sqrt(finite_stand_in(x));
  __extension__ typedef unsigned __int128 wide;
  return bit_cast<double>(square_root_nearest<formats::binary64, wide>(bit_cast<std::uint64_t>(x)));
#endif
}

}  // namespace detail
}  // namespace mixprec
