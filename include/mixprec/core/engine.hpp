/// \file
/// mixprec/core/engine.hpp — the one conversion engine.
///
/// Every conversion in mixprec — scalar, bulk SIMD, CUDA kernels, the GEMM
/// reference — is defined by the functions in this file; faster paths elsewhere
/// are optimisations that the tests hold to these bits. The engine is
/// constexpr integer code on bit patterns, so it runs unchanged in
/// static_assert, on the host and on the device.
///
/// The rule (OCP OFP8 v1.0 §5, extended to every format and rounding mode):
/// round the exact input onto the target's grid as if the exponent range were
/// unbounded above (subnormals kept at the bottom); a result beyond the largest
/// finite magnitude has overflowed, and the saturation policy decides what it
/// becomes.
///
/// The microscaling formats follow from their traits (core/format.hpp), with
/// no case of their own here: a format with neither infinity nor NaN (FP6,
/// FP4) saturates under every policy and turns NaN into +max; an unsigned
/// format (E8M0) rounds |x|; a format without zero (E8M0) gives its smallest
/// value wherever another would give zero; ties go to the even code, which
/// without mantissa bits is the even exponent.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/hardware_conversion.hpp"
#include "mixprec/core/rounding.hpp"

namespace mixprec {
/// The conversion engine: constexpr integer code on bit patterns that defines
/// every conversion of the library (see core/engine.hpp).
namespace engine {
namespace detail {

MIXPREC_HOST_DEVICE constexpr int highest_set_bit(std::uint64_t x) noexcept {
  // x != 0. On the host one instruction (the binary search cost encode's
  // general path about 3 of its 5 ns per float); in constant evaluation and
  // under nvcc, a binary search that is constexpr everywhere.
#if defined(__has_builtin) && !defined(__CUDACC__)
#if __has_builtin(__builtin_is_constant_evaluated) && __has_builtin(__builtin_clzll)
  if (!__builtin_is_constant_evaluated()) return 63 - __builtin_clzll(x);
#endif
#endif
  int position = 0;
  if (x >> 32) { x >>= 32; position += 32; }
  if (x >> 16) { x >>= 16; position += 16; }
  if (x >> 8) { x >>= 8; position += 8; }
  if (x >> 4) { x >>= 4; position += 4; }
  if (x >> 2) { x >>= 2; position += 2; }
  if (x >> 1) { position += 1; }
  return position;
}

// What a value that rounds to zero becomes: a signed zero; fnuz formats have
// no -0, so a negative value gives +0; a format without zero (E8M0) gives its
// smallest value, the only one in reach (CUDA's __nv_cvt_float_to_e8m0 gives
// 2^-127 for zero and for every input below it, in both of its modes).
template <class To>
MIXPREC_HOST_DEVICE constexpr std::uint64_t underflow(bool negative) noexcept {
  if (!To::has_zero) return To::min_normal_magnitude;
  return (negative && To::has_negative_zero) ? To::sign_mask : 0;
}

// The code of `integer` quanta at grid binade `binade` (see round_value's
// encoding trick): where the lowest exponent field is an ordinary binade
// (no subnormals) the hidden bit is not part of the code.
template <class To>
MIXPREC_HOST_DEVICE constexpr std::uint64_t magnitude_code(int binade, std::uint64_t integer) noexcept {
  constexpr std::uint64_t hidden_bit = To::has_subnormals ? 0 : std::uint64_t{1} << To::mantissa_bits;
  return (static_cast<std::uint64_t>(binade) << To::mantissa_bits) + integer - hidden_bit;
}

// What a value beyond ±max becomes. `infinite` marks an infinite input, which
// under saturation::none stays infinite in every rounding mode; a finite input
// follows IEEE 754 §7.4: directed roundings that point towards zero stop at max.
template <class To>
MIXPREC_HOST_DEVICE constexpr std::uint64_t overflow(bool negative, bool infinite, rounding mode,
                                                     saturation policy) noexcept {
  const std::uint64_t sign = negative ? To::sign_mask : 0;
  bool special = false;
  // A format with neither infinity nor NaN (FP6, FP4) has nothing but max
  // to give: it saturates in every mode and policy.
  if (policy == saturation::none && (To::has_infinity || To::has_nan)) {
    if (infinite) {
      special = true;
    } else {
      switch (mode) {
        case rounding::nearest_even:
        case rounding::stochastic: special = true; break;
        case rounding::toward_zero: special = false; break;
        case rounding::upward: special = !negative; break;
        case rounding::downward: special = negative; break;
      }
    }
  }
  if (!special) return sign | To::max_finite_magnitude;
  if (To::has_infinity) return sign | To::infinity_magnitude;
  // No infinity: NaN. E4M3 keeps the sign of the overflowing value (as CUDA's
  // __nv_cvt_*_to_fp8 with __NV_NOSAT does); fnuz has a single NaN; an
  // unsigned format's sign_mask is 0.
  if (To::specials == special_encoding::finite_nan_negative_zero) return To::canonical_nan;
  return sign | To::canonical_nan;
}

// A widening conversion changes no finite value: the target holds every value
// of the source. Only such conversions keep a NaN's sign and payload.
template <class To, class From>
struct is_exact_widening {
  static constexpr bool value = To::specials == special_encoding::ieee && To::mantissa_bits >= From::mantissa_bits &&
                                To::min_exponent - To::mantissa_bits <= From::min_exponent - From::mantissa_bits &&
                                To::max_exponent >= From::max_exponent;
};

template <class To, class From>
MIXPREC_HOST_DEVICE constexpr std::uint64_t convert_nan(std::uint64_t source) noexcept {
  if constexpr (is_exact_widening<To, From>::value) {
    const std::uint64_t quiet = std::uint64_t{1} << (To::mantissa_bits - 1);
    if (From::specials == special_encoding::finite_nan_negative_zero) {
      return To::infinity_magnitude | quiet;  // fnuz's NaN carries no sign
    }
    // IEEE 754 §6.2.3: widening keeps the sign and payload; the result is
    // quiet (as F16C and CUDA's hardware conversions deliver).
    const std::uint64_t sign = (source & From::sign_mask) ? To::sign_mask : 0;
    const std::uint64_t payload = (source & From::mantissa_mask) << (To::mantissa_bits - From::mantissa_bits);
    return sign | To::infinity_magnitude | payload | quiet;
  } else {
    (void)source;
    // Narrowing: the canonical NaN, as CUDA's conversions and PTX cvt produce;
    // +max in a format without NaN (CUDA's __nv_cvt_float_to_fp4 / _fp6).
    return To::nan_conversion_code;
  }
}

// From's normal numbers cover To's normal range with a finer grid: every
// normal result of To can be rounded from a normal From at one fixed position.
//
// The fast path below takes the round-to-even parity from From's bit above
// the cut; that is the parity of To's code unless To has no mantissa bits and
// the rebiasing is odd, which it excludes.
template <class To, class From>
struct is_normal_narrowing {
  static constexpr bool value = From::mantissa_bits > To::mantissa_bits && From::min_exponent <= To::min_exponent &&
                                From::max_exponent >= To::max_exponent &&
                                (To::mantissa_bits > 0 || (From::bias - To::bias) % 2 == 0);
};

// Every finite code of From is zero or a normal number of To (a subnormal's
// significand normalised): widening moves the fields.
template <class To, class From>
struct is_normal_widening {
  static constexpr bool value =
      is_exact_widening<To, From>::value && To::min_exponent <= From::min_exponent &&
      (!From::has_subnormals || To::min_exponent <= From::min_exponent - From::mantissa_bits);
};

// To's fields extend From's at the low end (bfloat16 in binary32): the same
// sign bit and exponent field, the mantissa continued with zeros. Every code,
// subnormals and infinities included, widens by one left shift.
template <class To, class From>
struct is_field_extension {
  static constexpr bool value = is_exact_widening<To, From>::value && From::specials == special_encoding::ieee &&
                                From::has_sign && To::exponent_bits == From::exponent_bits && To::bias == From::bias;
};

// Conversions that never round and move fields only: a field extension or a
// normal widening. convert_bits takes them whole through widen_by_moving_fields,
// so the rounding core is never compiled into them.
template <class To, class From>
struct widens_by_moving_fields {
  static constexpr bool value = is_field_extension<To, From>::value || is_normal_widening<To, From>::value;
};

// convert_bits for widens_by_moving_fields (same bits as round_value; the
// exhaustive decode and format-pair tests hold every code to CUDA's host
// functions and the independent reference). Why it exists: inlined into a
// kernel that decodes 16 bfloat16 or float16 values per thread, the general
// path's subnormal branch (round_value) made each cast kernel ~8x the
// instructions of its float-source twin. The arithmetic is 32-bit wherever To
// fits, since a GPU does 64-bit integer work in pairs.
template <class To, class From>
MIXPREC_HOST_DEVICE constexpr std::uint64_t widen_by_moving_fields(std::uint64_t source, saturation policy) noexcept {
  static_assert(widens_by_moving_fields<To, From>::value, "only for conversions that move fields");
  using word = typename std::conditional<(To::total_bits <= 32), std::uint32_t, std::uint64_t>::type;
  constexpr int shift = To::mantissa_bits - From::mantissa_bits;
  const word code = static_cast<word>(source & From::code_mask);
  const word magnitude = code & static_cast<word>(From::magnitude_mask);
  const word sign = (code & static_cast<word>(From::sign_mask)) != 0 ? static_cast<word>(To::sign_mask) : word{0};
  constexpr word min_normal = static_cast<word>(From::min_normal_magnitude);
  if constexpr (is_field_extension<To, From>::value) {
    // Every finite code, subnormals and zeros included: one shift.
    if (magnitude < static_cast<word>(From::infinity_magnitude)) return static_cast<word>(code << shift);
  } else {
    constexpr word max_finite = static_cast<word>(From::max_finite_magnitude);
    constexpr word rebias = static_cast<word>(static_cast<word>(To::bias - From::bias) << To::mantissa_bits);
    // Most codes are normal: one unsigned compare selects them.
    if (static_cast<word>(magnitude - min_normal) <= max_finite - min_normal)
      return sign | static_cast<word>((magnitude << shift) + rebias);
  }
  if (From::is_nan_code(code)) return convert_nan<To, From>(code);
  // An infinity follows the policy, as in every conversion (saturation::finite: ±max).
  if (From::is_infinity_code(code)) return overflow<To>(sign != 0, true, rounding::nearest_even, policy);
  if constexpr (!is_field_extension<To, From>::value && From::has_subnormals) {
    if (magnitude == 0) return sign;
    // A subnormal, significand · 2^(min_exponent - mantissa_bits), is normal in
    // To: shift the significand up to the implicit bit, one exponent step per
    // place (at most mantissa_bits steps; rare, so a short loop beats
    // unrolled selects).
    word significand = magnitude;
    word biased = static_cast<word>(From::min_exponent + To::bias);
    while (significand < min_normal) {
      significand = static_cast<word>(significand << 1);
      --biased;
    }
    const word mantissa = static_cast<word>((significand & static_cast<word>(From::mantissa_mask)) << shift);
    return sign | static_cast<word>(biased << To::mantissa_bits) | mantissa;
  }
  return 0;  // unreachable: every code was handled above
}

}  // namespace detail

/// Rounds the exact value (-1)^negative · significand · 2^exponent onto format
/// To. `significand` may be any non-negative integer (0 gives a signed zero;
/// E8M0, without zero, its smallest value).
/// This is the heart of the engine; the functions below only unpack their
/// inputs into this form.
///
/// Stochastic rounding: the discarded fraction, truncated to 32 bits (f), is
/// added to `random_bits` (r); the result rounds away from zero exactly when
/// f + r >= 2^32, i.e. with probability f / 2^32 for uniform r.
///
/// `To` is a binary_format; `random_bits` is read only for rounding::stochastic;
/// `policy` decides what a result beyond ±max becomes (saturation::finite: ±max;
/// saturation::none: ±inf, or NaN where To has no infinity; see the README's table).
/// Returns the bit pattern of the result in To.
///
/// An unsigned format (E8M0) encodes the magnitude: `negative` is ignored.
/// Ties of nearest_even go to the even code; in a format without mantissa
/// bits that is the even exponent (1.5 -> 2, 3 -> 2), between neighbours 2^e
/// and 2^(e+1) whose midpoint is 1.5 * 2^e. No spec fixes this tie (OCP MX
/// v1.0 defines no float -> E8M0 rounding); ml_dtypes (b793a6e) rounds every
/// tie up (3 -> 4), and its open PR #398 proposes this rule.
template <class To>
MIXPREC_HOST_DEVICE constexpr typename To::storage_type round_value(bool negative, std::uint64_t significand,
                                                                    int exponent, rounding mode, saturation policy,
                                                                    std::uint32_t random_bits = 0) noexcept {
  using storage = typename To::storage_type;
  negative = negative && To::has_sign;
  if (significand == 0) return static_cast<storage>(detail::underflow<To>(negative));

  const int leading_exponent = exponent + detail::highest_set_bit(significand);
  // The spacing of To's grid at this magnitude; below the normal range it
  // stays at the subnormal spacing.
  const int quantum_exponent =
      (leading_exponent > To::min_exponent ? leading_exponent : To::min_exponent) - To::mantissa_bits;
  const int discarded_bits = quantum_exponent - exponent;
  // Encoding trick: with q the quantum exponent and q_min the subnormal one,
  // ((q - q_min) << mantissa_bits) + integer is the magnitude code, for
  // subnormals, normals, and the carry out of the mantissa alike
  // (detail::magnitude_code; formats without subnormals drop the hidden bit).
  constexpr int min_quantum_exponent = To::min_exponent - To::mantissa_bits;
  const int binade = quantum_exponent - min_quantum_exponent;

  std::uint64_t integer = 0;  // the value in units of the quantum, rounded
  if (discarded_bits <= 0) {
    integer = significand << -discarded_bits;  // exact: nothing to round
  } else {
    std::uint64_t remainder = 0, half = 0;
    std::uint32_t fraction32 = 0;  // the discarded fraction, truncated to 2^-32
    bool above_half = false, at_half = false;
    if (discarded_bits >= 64) {
      // Everything is discarded and the value is below half a quantum
      // (significands have fewer than 64 bits).
      remainder = significand;
      fraction32 = discarded_bits - 32 < 64 ? static_cast<std::uint32_t>(significand >> (discarded_bits - 32)) : 0u;
    } else {
      integer = significand >> discarded_bits;
      remainder = significand & ((std::uint64_t{1} << discarded_bits) - 1);
      half = std::uint64_t{1} << (discarded_bits - 1);
      above_half = remainder > half;
      at_half = remainder == half;
      fraction32 = discarded_bits >= 32 ? static_cast<std::uint32_t>(remainder >> (discarded_bits - 32))
                                        : static_cast<std::uint32_t>(remainder << (32 - discarded_bits));
    }
    bool away = false;
    switch (mode) {
      case rounding::nearest_even:
        away = above_half || (at_half && (detail::magnitude_code<To>(binade, integer) & 1u));
        break;
      case rounding::toward_zero: away = false; break;
      case rounding::upward: away = remainder != 0 && !negative; break;
      case rounding::downward: away = remainder != 0 && negative; break;
      case rounding::stochastic:
        away = ((static_cast<std::uint64_t>(fraction32) + random_bits) >> 32) != 0;
        break;
    }
    integer += away ? 1u : 0u;
    if (integer == 0) return static_cast<storage>(detail::underflow<To>(negative));
  }

  // Beyond any finite code (guards the shift for huge inputs, e.g. 1e300 -> E4M3).
  if (binade > To::max_biased_exponent + 1)
    return static_cast<storage>(detail::overflow<To>(negative, false, mode, policy));
  const std::uint64_t magnitude = detail::magnitude_code<To>(binade, integer);
  if (magnitude > To::max_finite_magnitude)
    return static_cast<storage>(detail::overflow<To>(negative, false, mode, policy));
  return static_cast<storage>((negative ? To::sign_mask : 0) | magnitude);
}

/// Converts a bit pattern of format From to format To.
///
/// Same rule as round_value: NaN gives To's canonical NaN (an exact widening keeps
/// sign and payload, made quiet), ±inf follows `policy`. `random_bits` is read only
/// for rounding::stochastic.
/// `To` and `From` are binary_format descriptions; `source` is the input code, in
/// the low `From::total_bits` bits.
template <class To, class From>
MIXPREC_HOST_DEVICE constexpr typename To::storage_type convert_bits(std::uint64_t source, rounding mode,
                                                                     saturation policy,
                                                                     std::uint32_t random_bits = 0) noexcept {
  using storage = typename To::storage_type;
  if constexpr (detail::widens_by_moving_fields<To, From>::value) {
    // Never rounds: the fields move, and the rounding core is not compiled in.
    (void)mode;
    (void)random_bits;
    return static_cast<storage>(detail::widen_by_moving_fields<To, From>(source, policy));
  } else {
    if constexpr (detail::is_normal_narrowing<To, From>::value) {
      // Fast path, same bits as round_value: a normal input whose rounded value
      // is a normal number of To no larger than max. Its significand is rounded
      // at a fixed position, so the rounding is one add and a shift of the bit
      // pattern; the carry runs into the exponent field (as the encoding trick
      // in round_value does). The bounds exclude NaN and inf.
      constexpr int shift = From::mantissa_bits - To::mantissa_bits;
      constexpr std::uint64_t lowest = static_cast<std::uint64_t>(To::min_exponent + From::bias) << From::mantissa_bits;
      constexpr std::uint64_t highest =
          (static_cast<std::uint64_t>(To::max_exponent + From::bias) << From::mantissa_bits) |
          ((To::max_finite_magnitude & To::mantissa_mask) << shift);
      constexpr std::uint64_t rebias = static_cast<std::uint64_t>(From::bias - To::bias) << To::mantissa_bits;
      const std::uint64_t magnitude = source & From::magnitude_mask;
      if (magnitude - lowest <= highest - lowest && (mode == rounding::nearest_even || mode == rounding::toward_zero)) {
        const std::uint64_t half_minus_one = (std::uint64_t{1} << (shift - 1)) - 1;
        const std::uint64_t increment =
            mode == rounding::nearest_even ? half_minus_one + ((magnitude >> shift) & 1u) : std::uint64_t{0};
        const std::uint64_t sign = (source & From::sign_mask) ? To::sign_mask : 0;
        return static_cast<storage>(sign | (((magnitude + increment) >> shift) - rebias));
      }
    }
    if (From::is_nan_code(source)) return static_cast<storage>(detail::convert_nan<To, From>(source));
    // An unsigned target encodes |x| (CUDA's __nv_cvt_float_to_e8m0 ignores the sign).
    const bool negative = To::has_sign && (source & From::sign_mask) != 0;
    if (From::is_infinity_code(source)) return static_cast<storage>(detail::overflow<To>(negative, true, mode, policy));
    const std::uint64_t magnitude = source & From::magnitude_mask;
    const int biased = static_cast<int>(magnitude >> From::mantissa_bits);
    const std::uint64_t mantissa = magnitude & From::mantissa_mask;
    if (biased == 0 && From::has_subnormals)  // zero or subnormal
      return round_value<To>(negative, mantissa, From::min_exponent - From::mantissa_bits, mode, policy, random_bits);
    // Shortcuts, same bits as round_value, for normal inputs far outside To's
    // range (most floats, for the 8- and 16-bit formats):
    //  - at or above 2^(max_exponent + 1) every mode rounds past max: overflow;
    //  - below half the smallest subnormal, nearest_even and toward_zero give
    //    zero, and upward and downward zero or the smallest magnitude, by sign.
    const int exponent = biased - From::bias;
    if (exponent > To::max_exponent)
      return static_cast<storage>(detail::overflow<To>(negative, false, mode, policy));
    constexpr int smallest_subnormal_exponent = To::min_exponent - To::mantissa_bits;
    if (exponent < smallest_subnormal_exponent - 1 && mode != rounding::stochastic) {
      const bool away = (mode == rounding::upward && !negative) || (mode == rounding::downward && negative);
      if (!away) return static_cast<storage>(detail::underflow<To>(negative));
      return static_cast<storage>((negative ? To::sign_mask : 0) | detail::magnitude_code<To>(0, 1));
    }
    return round_value<To>(negative, mantissa | (std::uint64_t{1} << From::mantissa_bits),
                           biased - From::bias - From::mantissa_bits, mode, policy, random_bits);
  }
}

/// float / double -> format To. A double is rounded once, never through float.
///
/// Returns the bit pattern of `x` rounded with `mode` and `policy` (as convert_bits);
/// `random_bits` is read only for rounding::stochastic. constexpr where
/// MIXPREC_CONSTEXPR_BITS allows it (core/config.hpp).
template <class To>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS typename To::storage_type encode(float x, rounding mode, saturation policy,
                                                                           std::uint32_t random_bits = 0) noexcept {
#if MIXPREC_HAS_HARDWARE_CONVERSIONS
  // On the device, one instruction where it gives exactly these bits
  // (core/hardware_conversion.hpp); constant evaluation stays on the engine.
  if (!__builtin_is_constant_evaluated()) {
    std::uint64_t code = 0;
    if (detail::hardware_encode<To>(x, mode, policy, code)) return static_cast<typename To::storage_type>(code);
  }
#endif
  return convert_bits<To, formats::binary32>(mixprec::detail::bit_cast<std::uint32_t>(x), mode, policy, random_bits);
}
/// \copydoc encode(float, rounding, saturation, std::uint32_t)
template <class To>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS typename To::storage_type encode(double x, rounding mode, saturation policy,
                                                                           std::uint32_t random_bits = 0) noexcept {
  return convert_bits<To, formats::binary64>(mixprec::detail::bit_cast<std::uint64_t>(x), mode, policy, random_bits);
}

/// Format From -> float, exactly (every format here is a subset of binary32).
///
/// Returns the binary32 bit pattern; a NaN keeps its sign and payload, made quiet
/// (fnuz's NaN becomes a positive quiet NaN).
template <class From>
MIXPREC_HOST_DEVICE constexpr std::uint32_t decode_to_binary32(std::uint64_t source) noexcept {
  using To = formats::binary32;
  static_assert(detail::is_exact_widening<To, From>::value, "decode needs a format inside binary32");
  const std::uint64_t code = source & From::code_mask;
#if MIXPREC_HAS_HARDWARE_CONVERSIONS
  // On the device, one instruction where it gives exactly these bits
  // (core/hardware_conversion.hpp); constant evaluation stays on the engine.
  if (!__builtin_is_constant_evaluated()) {
    std::uint32_t float_bits = 0;
    if (detail::hardware_decode<From>(code, float_bits)) return float_bits;
  }
#endif
  // bfloat16, float16 and the 8/6/4-bit formats but E8M0 widen by moving
  // fields (detail::widen_by_moving_fields), without the rounding core.
  return static_cast<std::uint32_t>(convert_bits<To, From>(code, rounding::nearest_even, saturation::none));
}

}  // namespace engine
}  // namespace mixprec
