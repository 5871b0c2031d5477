// mixprec/host/detail/vector_engine.hpp — the engine's float <-> format
// conversions, written once for a vector of lanes.
//
// The SIMD kernels of convert_n (mixprec/host/convert_n.hpp) load floats or
// codes into GNU vector types (one lane per element, 32 or 16 bits wide),
// apply the converters below, and store the lanes. The converters are the
// engine's algorithm (mixprec/core/engine.hpp) specialised to an IEEE input
// (binary32, or bfloat16 for the 8-bit kernels) or a binary32 output, and to
// the modes worth vectorising (nearest_even, toward_zero). They are generic
// over the format description: every constant is derived from it or taken
// from the engine itself (what overflow gives, the canonical NaN), so no
// format is named here. The tests hold them to the engine's bits on every
// float input and every code.
//
// Integer arithmetic on bit patterns throughout, so the results do not depend
// on MXCSR (rounding mode, DAZ, FTZ) and no floating-point exception is
// raised. The one floating-point step, in decode, converts small integers and
// scales by a power of two: exact, with normal inputs and results.
//
// Vectors travel by reference: passed by value from code compiled without AVX
// they would change the ABI (GCC's and Clang's -Wpsabi). Every member is
// force-inlined into a kernel compiled for its instruction set.
#pragma once

#include <cstdint>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"

#if MIXPREC_HOST_SIMD

#define MIXPREC_VECTOR_INLINE __attribute__((always_inline)) inline

// The instruction sets of the two SIMD paths (host::simd_path), as function
// attributes: kernels carry them, so no -march flag is needed.
#define MIXPREC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define MIXPREC_TARGET_AVX2 __attribute__((target("avx2")))

namespace mixprec {
namespace host {
namespace detail {

// Lanes of 32 or 16 bits; Bytes is the vector's size (32 for AVX2, 64 for AVX-512).
template <int Bytes>
struct vector_of {
  typedef std::uint32_t u32 __attribute__((vector_size(Bytes)));
  typedef std::int32_t i32 __attribute__((vector_size(Bytes)));
  typedef float f32 __attribute__((vector_size(Bytes)));
  typedef std::uint16_t u16 __attribute__((vector_size(Bytes)));
};

// A constant in every lane. GCC would rebuild each broadcast constant inside
// the loop at every use (a move and a vpbroadcastd), costing about 40% of
// the encoder's time; made opaque by an empty asm, the constants are built
// once per call and stay in registers. (Clang keeps them without help, and
// checks the asm's register size outside the kernel's target, so it gets
// none.)
template <class V, class Lane>
MIXPREC_VECTOR_INLINE void broadcast(V& lanes, Lane value) {
  lanes = V{} + value;
#if !defined(__clang__)
  __asm__("" : "+x"(lanes));
#endif
}

// Bit patterns of format From -> codes of format To, one per lane (in the
// low bits). From is binary32 in 32-bit lanes; the AVX-512 kernel for 8-bit
// formats also uses bfloat16 in 16-bit lanes (see round_to_odd_bfloat16 in
// convert_n.hpp).
template <class From, class To, rounding Mode, saturation Policy, class V>
class lane_encoder {
  using lane = typename From::storage_type;
  static_assert(sizeof(V{}[0]) == sizeof(lane), "one lane holds one pattern of From");
  static_assert(engine::detail::is_normal_narrowing<To, From>::value && From::specials == special_encoding::ieee,
                "the vector encoder narrows an IEEE format to a format inside its range");
  static_assert(To::bias <= From::bias && To::total_bits <= 16, "formats of up to 16 bits, biased no more than From");
  static_assert(Mode == rounding::nearest_even || Mode == rounding::toward_zero,
                "the vector encoder rounds to nearest even or toward zero");
  static constexpr lane pattern(std::uint64_t value) { return static_cast<lane>(value); }

 public:
  using vector = V;
  static constexpr int to_bits = To::total_bits;
  // Bits discarded when the result is a normal number of To.
  static constexpr int shift = From::mantissa_bits - To::mantissa_bits;
  // The pattern (of From) of To's smallest normal number.
  static constexpr lane min_normal = pattern(static_cast<std::uint64_t>(To::min_exponent + From::bias)
                                             << From::mantissa_bits);
  // Whether some of To's subnormals are normal numbers of From, which then
  // round at another position than `shift` (not so for binary32 -> bfloat16,
  // which share the exponent range).
  static constexpr bool has_subnormal_lanes = To::min_exponent > From::min_exponent;

  // The magnitudes on To's subnormal grid that do not round to zero, the
  // only ones that need round_subnormal: the `subnormal_count` patterns from
  // `subnormal_first` on, so one unsigned comparison finds them. The largest
  // magnitude that rounds to zero is half the smallest subnormal (the tie
  // goes to the even 0) for nearest_even, just under it for toward_zero.
  static constexpr lane smallest_subnormal =
      pattern(min_normal - (static_cast<std::uint64_t>(To::mantissa_bits) << From::mantissa_bits));
  static constexpr lane subnormal_first =
      pattern(Mode == rounding::nearest_even ? smallest_subnormal - (std::uint64_t{1} << From::mantissa_bits) + 1
                                             : smallest_subnormal);
  static constexpr lane subnormal_count = pattern(min_normal - subnormal_first);
  static_assert(!has_subnormal_lanes ||
                    (engine::convert_bits<To, From>(subnormal_first - 1u, Mode, saturation::finite) == 0 &&
                     engine::convert_bits<To, From>(subnormal_first, Mode, saturation::finite) == 1),
                "subnormal_first is the engine's smallest input that does not round to zero");

  // What the engine gives beyond max, for an overflowing finite value and for
  // an infinite input, with this mode and policy (positive; the sign is or-ed
  // in, which is the engine's rule for every format: fnuz's NaN is the sign
  // bit itself).
  static constexpr lane overflow = pattern(engine::detail::overflow<To>(false, false, Mode, Policy));
  static constexpr lane infinite = pattern(engine::detail::overflow<To>(false, true, Mode, Policy));
  static_assert(engine::detail::overflow<To>(true, false, Mode, Policy) == (overflow | To::sign_mask) &&
                    engine::detail::overflow<To>(true, true, Mode, Policy) == (infinite | To::sign_mask),
                "a negative overflow is the positive one with the sign bit");

  MIXPREC_VECTOR_INLINE lane_encoder() noexcept {
    broadcast(magnitude_mask_, pattern(From::magnitude_mask));
    // Round half to even at bit `shift`: add half a quantum less one, plus
    // the kept lowest bit. The rebias (From's exponent bias minus To's) is
    // subtracted in the same addition, wrapping for magnitudes below
    // min_normal, whose lanes are replaced.
    const std::uint64_t rebias = static_cast<std::uint64_t>(From::bias - To::bias) << From::mantissa_bits;
    broadcast(increment_,
              pattern((Mode == rounding::nearest_even ? (std::uint64_t{1} << (shift - 1)) - 1 : 0u) - rebias));
    broadcast(one_, pattern(1));
    broadcast(min_normal_, min_normal);
    broadcast(max_finite_, pattern(To::max_finite_magnitude));
    broadcast(overflow_, overflow);
    broadcast(infinity_, pattern(From::infinity_magnitude));
    broadcast(sign_mask_, pattern(To::sign_mask));
    // What a NaN input gives: the canonical NaN, or +max in FP6/FP4 (no NaN).
    broadcast(canonical_nan_, pattern(To::nan_conversion_code));
    broadcast(subnormal_first_, subnormal_first);
    broadcast(subnormal_count_, subnormal_count);
  }

  // The lanes (all ones) that need round_subnormal. Only where has_subnormal_lanes.
  MIXPREC_VECTOR_INLINE void find_subnormals(const V& bits, V& needed) const noexcept {
    needed = reinterpret_cast<V>(((bits & magnitude_mask_) - subnormal_first_) < subnormal_count_);
  }

  // WithSubnormals = false is for vectors where find_subnormals found no
  // lane: every magnitude below min_normal then rounds to zero.
  template <bool WithSubnormals>
  MIXPREC_VECTOR_INLINE void encode(const V& bits, V& code) const noexcept {
    const V magnitude = bits & magnitude_mask_;
    // Normal results, as the engine's fast path: round at bit `shift`; the
    // carry runs into the exponent (and past max, caught below).
    V rounded = magnitude + increment_;
    if constexpr (Mode == rounding::nearest_even) rounded += (magnitude >> shift) & one_;
    V result = rounded >> shift;
    if constexpr (has_subnormal_lanes) {
      if constexpr (WithSubnormals) {
        V subnormal;
        round_subnormal(magnitude, subnormal);
        result = magnitude < min_normal_ ? subnormal : result;
      } else {
        result = magnitude < min_normal_ ? V{} : result;
      }
    }
    // Beyond max (infinity and NaN inputs too).
    if constexpr (overflow == To::max_finite_magnitude) {
      result = result < max_finite_ ? result : max_finite_;
    } else {
      result = result > max_finite_ ? overflow_ : result;
    }
    if constexpr (infinite != overflow) result = magnitude == infinity_ ? V{} + infinite : result;
    // The sign: To's sign bit where From's is set; fnuz has no -0, so a
    // negative value that rounds to zero is +0 (engine::detail::signed_zero).
    V sign = (bits >> (From::total_bits - To::total_bits)) & sign_mask_;
    if constexpr (!To::has_negative_zero) sign = result == 0 ? V{} : sign;
    // NaN gives To's canonical NaN (engine::detail::convert_nan, narrowing).
    code = magnitude > infinity_ ? canonical_nan_ : result | sign;
  }

 private:
  // Rounds magnitudes below min_normal onto To's subnormal grid: as
  // engine::round_value, the significand (with its hidden bit, none for
  // From's subnormals) shifted right by the distance from its quantum to
  // To's, rounded by the bits shifted out. Lanes at or above min_normal give
  // garbage.
  MIXPREC_VECTOR_INLINE void round_subnormal(const V& magnitude, V& code) const noexcept {
    constexpr int mantissa_bits = From::mantissa_bits;
    // Clamping keeps every lane's shift in range; only the subnormal lanes are used.
    const V clamped = magnitude < min_normal_ ? magnitude : min_normal_ - 1;
    const V biased = clamped >> mantissa_bits;
    const V effective = biased == 0 ? one_ : biased;  // subnormals share exponent 1
    const V significand = clamped - ((effective - 1) << mantissa_bits);
    // Bits to discard: shift + (To's smallest normal exponent - the lane's).
    // From mantissa_bits + 2 on, the significand is under half a quantum;
    // the clamp keeps the shifts within the lane.
    constexpr lane base = pattern(shift + (min_normal >> mantissa_bits));
    constexpr lane most = pattern(mantissa_bits + 2);
    V discarded = base - effective;
    discarded = discarded < most ? discarded : V{} + most;
    if constexpr (Mode == rounding::nearest_even) {
      const V half = one_ << (discarded - 1);
      code = (significand + (half - 1) + ((significand >> discarded) & 1)) >> discarded;
    } else {
      code = significand >> discarded;
    }
  }

  V magnitude_mask_, increment_, one_, min_normal_, max_finite_, overflow_, infinity_, sign_mask_, canonical_nan_,
      subnormal_first_, subnormal_count_;
};

// Codes of format From (zero-extended lanes) -> float bit patterns, exactly.
template <class From, class V>
class lane_decoder {
  using binary32 = formats::binary32;
  static_assert(engine::detail::is_exact_widening<binary32, From>::value, "decode needs a format inside binary32");
  static constexpr int shift = binary32::mantissa_bits - From::mantissa_bits;
  // Whether From's subnormals are normal floats (not so for bfloat16, whose
  // subnormal codes move to float subnormals like the normal ones).
  static constexpr bool has_subnormal_lanes = From::min_exponent > binary32::min_exponent;
  // Infinity and NaN (engine::detail::convert_nan, widening): exponent all
  // ones, the payload kept and a NaN made quiet. E4M3's NaN has its mantissa
  // all ones and is quiet already; fnuz's one NaN is handled on its own.
  static constexpr bool has_special_exponent = From::specials != special_encoding::finite_nan_negative_zero;
  static constexpr std::uint32_t first_special = static_cast<std::uint32_t>(
      From::specials == special_encoding::ieee ? From::infinity_magnitude : From::canonical_nan & From::magnitude_mask);
  static constexpr std::uint32_t quiet = 1u << (binary32::mantissa_bits - 1);

 public:
  MIXPREC_VECTOR_INLINE lane_decoder() noexcept {
    broadcast(magnitude_mask_, static_cast<std::uint32_t>(From::magnitude_mask));
    broadcast(sign_mask_, static_cast<std::uint32_t>(From::sign_mask));
    // The exponent fields differ by the difference of the biases.
    broadcast(rebias_, static_cast<std::uint32_t>(binary32::bias - From::bias) << binary32::mantissa_bits);
    broadcast(min_normal_code_, 1u << From::mantissa_bits);
    broadcast(first_special_, first_special);
    broadcast(exponent_all_ones_, static_cast<std::uint32_t>(binary32::infinity_magnitude));
    broadcast(quiet_, quiet);
  }

  MIXPREC_VECTOR_INLINE void decode(const V& code, V& bits) const noexcept {
    const V magnitude = code & magnitude_mask_;
    // Normal codes, as the engine's widening fast path: the fields move.
    V result = (magnitude << shift) + rebias_;
    if constexpr (has_subnormal_lanes) {
      // Subnormal codes (and zero): magnitude * 2^(min_exponent - mantissa
      // bits), a normal float. An exact conversion of a small integer and an
      // exact scaling by a power of two, so MXCSR cannot change them.
      using f32 = typename vector_of<sizeof(V)>::f32;
      using i32 = typename vector_of<sizeof(V)>::i32;
      constexpr float quantum = [] {
        float value = 1.0f;
        for (int e = 0; e < From::mantissa_bits - From::min_exponent; ++e) value *= 0.5f;
        return value;
      }();
      const f32 subnormal = __builtin_convertvector(reinterpret_cast<i32>(magnitude), f32) * quantum;
      result = magnitude < min_normal_code_ ? reinterpret_cast<V>(subnormal) : result;
    }
    if constexpr (has_special_exponent) {
      const V special = (magnitude << shift) | exponent_all_ones_ | (magnitude > first_special_ ? quiet_ : V{});
      result = magnitude >= first_special_ ? special : result;
    }
    result |= (code & sign_mask_) << (32 - From::total_bits);
    if constexpr (!has_special_exponent) {
      // fnuz's NaN is the would-be -0 code; it decodes to the positive quiet NaN.
      result = code == sign_mask_ ? exponent_all_ones_ | quiet_ : result;
    }
    bits = result;
  }

 private:
  V magnitude_mask_, sign_mask_, rebias_, min_normal_code_, first_special_, exponent_all_ones_, quiet_;
};

}  // namespace detail
}  // namespace host
}  // namespace mixprec

#endif  // MIXPREC_HOST_SIMD
