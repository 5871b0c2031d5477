// mixprec/host/detail/block_quantize_kernels.hpp — the per-block loops of
// host::quantize_mx and host::quantize_nvfp4 (mixprec/host/block_quantize.hpp):
// block amax, the MX and NVFP4 scales, and the exact pre-scaling that turns
// each element into a float which convert_n's encoders (dispatch.hpp) round
// exactly as the reference rounds the exact quotient.
//
// Each kernel is plain scalar C++ (a struct with a static run()), written
// once. run_kernel instantiates it three times: as it is (the portable path)
// and force-inlined into a function compiled for AVX2 or for AVX-512, where
// the compiler vectorises its loops (integer and double arithmetic only,
// nothing whose result depends on the vector width). The rounding itself is
// never done here: the elements and the NVFP4 block scales go through
// encode_on_path, the engine's vector encoder where it has the mode.
#pragma once

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/vector_engine.hpp"

#if MIXPREC_HOST_SIMD
#include <immintrin.h>
#endif

#if MIXPREC_HOST_SIMD
#define MIXPREC_KERNEL_INLINE MIXPREC_VECTOR_INLINE
#define MIXPREC_LAMBDA_INLINE __attribute__((always_inline))
#else
#define MIXPREC_KERNEL_INLINE inline
#define MIXPREC_LAMBDA_INLINE
#endif

namespace mixprec {
namespace host {
namespace detail {

// ---- Lanes: the same code on one value or on a vector of them ----------------
// A kernel's run<Lanes>() is written once over lane types that are plain
// scalars on the portable path and GNU vectors (AVX2: 32 bytes, AVX-512: 64)
// on the others; the operators (+ - & | >> < ?:) mean the same per lane.
// Vectors travel by reference (see vector_engine.hpp).

// Portable: one lane. u32 lanes of 32 bits; f64 lanes of doubles with the
// floats (f32_narrow) and 32-bit patterns (u32_narrow) of the same count.
struct scalar_lanes {
  using u32 = std::uint32_t;
  using i32 = std::int32_t;
  using f32 = float;
  using f64 = double;
  using u64 = std::uint64_t;
  using f32_narrow = float;
  using u32_narrow = std::uint32_t;
};

#if MIXPREC_HOST_SIMD
template <int Bytes>
struct vector_lanes {
  using u32 = typename vector_of<Bytes>::u32;
  using i32 = typename vector_of<Bytes>::i32;
  using f32 = typename vector_of<Bytes>::f32;
  typedef double f64 __attribute__((vector_size(Bytes)));
  typedef std::uint64_t u64 __attribute__((vector_size(Bytes)));
  typedef float f32_narrow __attribute__((vector_size(Bytes / 2)));
  typedef std::uint32_t u32_narrow __attribute__((vector_size(Bytes / 2)));
};
#endif

template <class V, class T>
MIXPREC_KERNEL_INLINE void load_lanes(V& lanes, const T* source) noexcept {
  std::memcpy(&lanes, source, sizeof lanes);
}
template <class V, class T>
MIXPREC_KERNEL_INLINE void store_lanes(T* destination, const V& lanes) noexcept {
  std::memcpy(destination, &lanes, sizeof lanes);
}
// The same bits as another lane type of the same size.
template <class From, class To>
MIXPREC_KERNEL_INLINE void reinterpret_lanes(const From& from, To& to) noexcept {
  static_assert(sizeof(From) == sizeof(To), "same size");
  std::memcpy(&to, &from, sizeof to);
}
// Lane-wise value conversion (C's conversions: exact where used here).
template <class From, class To>
MIXPREC_KERNEL_INLINE void convert_lanes(const From& from, To& to) noexcept {
  if constexpr (std::is_arithmetic<From>::value) {
    to = static_cast<To>(from);
  } else {
#if MIXPREC_HOST_SIMD
    to = __builtin_convertvector(from, To);
#endif
  }
}
// The floats whose patterns are `bits` as doubles, exactly, whatever the
// caller's MXCSR: the hardware conversion (cvtps2pd), except in subnormal
// lanes, which DAZ would read as 0 (what core/exact_float.hpp's widen_exactly
// does for one float): there the integer significand times 2^-149, from an
// integer conversion, which DAZ does not touch (exact: at most 23 bits, and
// the product a normal double).
template <class Lanes>
MIXPREC_KERNEL_INLINE void widen_lanes_exactly(const typename Lanes::u32_narrow& bits,
                                               typename Lanes::f64& result) noexcept {
  typename Lanes::f32_narrow value;
  reinterpret_lanes(bits, value);
  convert_lanes(value, result);
  typename Lanes::f64 significand;
  convert_lanes(typename Lanes::u32_narrow(bits & 0x007FFFFFu), significand);
  typename Lanes::u64 wide_bits, subnormal_bits, result_bits;
  convert_lanes(bits, wide_bits);
  reinterpret_lanes(typename Lanes::f64(significand * 0x1p-149), subnormal_bits);
  subnormal_bits |= (wide_bits & 0x80000000u) << 32;  // the float's sign
  reinterpret_lanes(result, result_bits);
  result_bits = (wide_bits & 0x7F800000u) == 0 ? subnormal_bits : result_bits;  // ±0 gives ±0 either way
  reinterpret_lanes(result_bits, result);
}

// The largest lane.
template <class V>
MIXPREC_KERNEL_INLINE std::uint32_t largest_lane(const V& lanes) noexcept {
  if constexpr (std::is_arithmetic<V>::value) {
    return lanes;
  } else if constexpr (sizeof(V) == 8) {
    return lanes[0] > lanes[1] ? lanes[0] : lanes[1];
  } else {
#if MIXPREC_HOST_SIMD
    using half = typename vector_of<static_cast<int>(sizeof(V) / 2)>::u32;
    half low, high;
    std::memcpy(&low, &lanes, sizeof low);
    std::memcpy(&high, reinterpret_cast<const unsigned char*>(&lanes) + sizeof low, sizeof high);
    const half larger = low > high ? low : high;
    return largest_lane(larger);
#endif
  }
}

#if MIXPREC_HOST_SIMD
template <class Kernel, class... Args>
MIXPREC_TARGET_AVX512 void run_kernel_avx512(Args... args) {
  Kernel::template run<vector_lanes<64>>(args...);
}
template <class Kernel, class... Args>
MIXPREC_TARGET_AVX2 void run_kernel_avx2(Args... args) {
  Kernel::template run<vector_lanes<32>>(args...);
}
#endif

// Kernel::run compiled for `path` (same results on every path: the lanes
// are independent and the arithmetic is exact or IEEE double).
template <class Kernel, class... Args>
void run_kernel(simd_path path, Args... args) {
#if MIXPREC_HOST_SIMD
  if (path == simd_path::avx512) return run_kernel_avx512<Kernel>(args...);
  if (path == simd_path::avx2) return run_kernel_avx2<Kernel>(args...);
#else
  (void)path;
#endif
  Kernel::template run<scalar_lanes>(args...);
}

// Calls lanes(i, V-tag) for i = 0, width, 2 · width, ... while a vector of
// Lanes fits in count, then lanes(i, scalar-tag) for the rest.
template <class T>
struct lane_tag {
  using type = T;
};
template <class Vector, class Scalar, class Count, class Body>
MIXPREC_KERNEL_INLINE void for_lanes(Count count, Body&& body) {
  constexpr std::size_t width = sizeof(Vector) / sizeof(Scalar);
  std::size_t i = 0;
  for (; i + width <= count; i += width) body(i, lane_tag<Vector>{});
  for (; i < count; ++i) body(i, lane_tag<Scalar>{});
}

constexpr std::uint32_t float_magnitude_mask = 0x7FFFFFFFu;
constexpr std::uint32_t float_sign_mask = 0x80000000u;
constexpr std::uint32_t float_infinity_bits = 0x7F800000u;
constexpr std::uint32_t float_min_normal_bits = 0x00800000u;
constexpr std::uint32_t float_quiet_nan_bits = 0x7FC00000u;

inline std::uint32_t bits_of(float value) noexcept { return mixprec::detail::bit_cast<std::uint32_t>(value); }
inline float float_of(std::uint32_t bits) noexcept { return mixprec::detail::bit_cast<float>(bits); }

// Calls body(block, begin, length) for the blocks of `block_length`
// elements (the last one possibly shorter) of count elements; Block is the
// usual block length (32 or 16), whose full blocks get a compile-time length.
template <std::size_t Block, class Body>
MIXPREC_KERNEL_INLINE void for_each_block(std::size_t count, std::size_t block_length, Body&& body) {
  std::size_t block = 0, begin = 0;
  if (block_length == Block)
    for (; begin + Block <= count; begin += Block, ++block) body(block, begin, std::integral_constant<std::size_t, Block>{});
  for (; begin < count; begin += block_length, ++block)
    body(block, begin, count - begin < block_length ? count - begin : block_length);
}

// ---- Column-wise gathering (panels under the Hadamard transform) -----------

#if MIXPREC_HOST_SIMD
// dst[c · dst_stride + r] = src[r · src_stride + c] for r, c < 8: the usual
// AVX 8x8 transpose (unpack pairs, shuffle quads, swap 128-bit halves). Pure
// data movement, so the floats keep their bits.
MIXPREC_TARGET_AVX2 MIXPREC_VECTOR_INLINE void transpose_8x8(const float* src, std::size_t src_stride, float* dst,
                                                            std::size_t dst_stride) noexcept {
  __m256 row[8], pair[8], quad[8];
  for (std::size_t r = 0; r < 8; ++r) row[r] = _mm256_loadu_ps(src + r * src_stride);
  for (std::size_t r = 0; r < 8; r += 2) {
    pair[r] = _mm256_unpacklo_ps(row[r], row[r + 1]);
    pair[r + 1] = _mm256_unpackhi_ps(row[r], row[r + 1]);
  }
  for (std::size_t r = 0; r < 8; r += 4) {
    quad[r] = _mm256_shuffle_ps(pair[r], pair[r + 2], 0x44);
    quad[r + 1] = _mm256_shuffle_ps(pair[r], pair[r + 2], 0xEE);
    quad[r + 2] = _mm256_shuffle_ps(pair[r + 1], pair[r + 3], 0x44);
    quad[r + 3] = _mm256_shuffle_ps(pair[r + 1], pair[r + 3], 0xEE);
  }
  for (std::size_t c = 0; c < 4; ++c) {
    _mm256_storeu_ps(dst + c * dst_stride, _mm256_permute2f128_ps(quad[c], quad[c + 4], 0x20));
    _mm256_storeu_ps(dst + (c + 4) * dst_stride, _mm256_permute2f128_ps(quad[c], quad[c + 4], 0x31));
  }
}

// dst[c · dst_stride + r] = src[r · src_stride + c] for r < rows, c < cols:
// 8x8 tiles, the ragged edges element by element. (AVX2 instructions, which
// every AVX-512 machine has too.)
MIXPREC_TARGET_AVX2 inline void transpose_floats_avx2(const float* src, std::size_t src_stride, std::size_t rows,
                                                      std::size_t cols, float* dst, std::size_t dst_stride) noexcept {
  const std::size_t full_rows = rows / 8 * 8, full_cols = cols / 8 * 8;
  for (std::size_t c = 0; c < full_cols; c += 8) {
    for (std::size_t r = 0; r < full_rows; r += 8) transpose_8x8(src + r * src_stride + c, src_stride, dst + c * dst_stride + r, dst_stride);
    for (std::size_t r = full_rows; r < rows; ++r)
      for (std::size_t k = c; k < c + 8; ++k) dst[k * dst_stride + r] = src[r * src_stride + k];
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = full_cols; k < cols; ++k) dst[k * dst_stride + r] = src[r * src_stride + k];
}
#endif

// ---- Block amax -------------------------------------------------------------
// Non-negative floats, +inf and NaN order as their bit patterns do as
// unsigned integers, so the largest magnitude of a block is the largest
// magnitude pattern: above float_infinity_bits exactly when the block holds
// a NaN (the reference's NaN amax), equal to it for an infinity; -0 counts
// as 0. amax_bits[b] = that pattern for block b.
template <std::size_t Block>
struct block_magnitude_max {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* y, std::size_t count, std::size_t block_length,
                                        std::uint32_t* amax_bits) {
    using u32 = typename Lanes::u32;
    for_each_block<Block>(count, block_length, [&](std::size_t block, std::size_t begin, auto length) MIXPREC_LAMBDA_INLINE {
      u32 largest = {};
      std::uint32_t tail = 0;
      for_lanes<u32, std::uint32_t>(length, [&](std::size_t i, auto tag) MIXPREC_LAMBDA_INLINE {
        using V = typename decltype(tag)::type;
        V magnitude;
        load_lanes(magnitude, y + begin + i);
        magnitude &= float_magnitude_mask;
        if constexpr (std::is_same<V, u32>::value)
          largest = magnitude > largest ? magnitude : largest;
        else
          tail = magnitude > tail ? magnitude : tail;
      });
      const std::uint32_t vector_largest = largest_lane(largest);
      amax_bits[block] = vector_largest > tail ? vector_largest : tail;
    });
  }
};

// ---- MX ---------------------------------------------------------------------

// The E8M0 code of cast::mx_scale<Element>(amax, rule) from amax's pattern
// (a magnitude), without the engine's general E8M0 rounding (per block, it
// would cost more than the block's 32 elements). The tests compare it with
// cast::mx_scale on every exponent and the mantissas around each boundary.
//  - NaN or inf: 0xFF.
//  - floor: E8M0's toward-zero rounding of amax is 2^(biased exponent − 127),
//    code = amax's exponent field (0 for subnormals and zero: 2^−127, E8M0's
//    bottom), then − emax, clamped at 0 (cast::mx_scale).
//  - rceil: the smallest c with 2^(c − 127) >= amax / max. With amax =
//    (1 + fa)·2^(Ea − 127) and max = (1 + fm)·2^(Em − 127), amax / max =
//    r·2^(Ea − Em), r = (1 + fa) / (1 + fm) in (1/2, 2), so c = Ea − Em + 127
//    plus 1 when r > 1, i.e. when amax's mantissa field exceeds max's; clamped
//    at 0 (amax below 2^(emax − 127)); the top cannot be reached (c <= 253 for
//    max >= 6). A subnormal or zero amax is below 2^−126 / 6 < 2^−128: code 0.
template <class Element>
constexpr std::uint8_t mx_scale_code(std::uint32_t amax_bits, mx_scale_rule rule) noexcept {
  using format = typename Element::format;
  if (amax_bits >= float_infinity_bits) return 0xFF;
  const int exponent_field = static_cast<int>(amax_bits >> 23);
  int code = 0;
  if (rule == mx_scale_rule::floor) {
    code = exponent_field - format::max_exponent;
  } else if (exponent_field != 0) {
    constexpr std::uint32_t max_bits = engine::decode_to_binary32<format>(format::max_finite_magnitude);
    const bool above = (amax_bits & 0x7FFFFFu) > (max_bits & 0x7FFFFFu);
    code = exponent_field - static_cast<int>(max_bits >> 23) + 127 + (above ? 1 : 0);
  }
  return static_cast<std::uint8_t>(code > 0 ? code : 0);
}

// x / X for X = 2^k the scale of E8M0 code c (k = c − 127, in [−127, 127]),
// as the pattern of a float that every MX element format rounds, under
// nearest_even and toward_zero, exactly as the reference rounds the exact
// quotient (cast::mx_encode divides in double, exactly):
//  - where x / X is a normal float, that float: the exponent field lowered by
//    k, integer arithmetic, exact. Float subnormals x are first written as
//    normal patterns with an extended exponent (float(m) · 2^−149, m the
//    mantissa field: an exact conversion of an integer below 2^23).
//  - where |x / X| < 2^−126 (x / X would be a float subnormal, maybe inexact),
//    ±0 with x's sign. Harmless: every MX element's smallest subnormal is at
//    least 2^−16 (E5M2), so nearest_even and toward_zero round any value of
//    magnitude below 2^−126 to ±0 with its sign, as they round ±0 (asserted
//    in block_quantize.hpp for each format). Other modes do not take this path.
//  - never above float's range: the scale rules keep |x / X| below
//    2^(emax + 1) <= 2^16 (floor) or at most max (rceil) for every x of the
//    block, and blocks holding NaN or inf have a NaN scale (not this path).
// With offset = 128 · 2^23 added, every intermediate is a positive 32-bit
// value: unscale = mx_unscale_bits(c) = (c + 1) · 2^23 is (k + 128) · 2^23.
// Unscale is one value for every lane (a row-wise block) or a vector of
// them, one per lane (column-wise: a block per lane).
constexpr std::uint32_t mx_unscale_bits(std::uint32_t scale_code) noexcept { return (scale_code + 1u) << 23; }
template <class Lanes, class Unscale>
MIXPREC_KERNEL_INLINE void mx_unscaled_lanes(const typename Lanes::u32& bits, const Unscale& unscale,
                                             typename Lanes::u32& result) noexcept {
  using u32 = typename Lanes::u32;
  constexpr std::uint32_t offset = 128u << 23;
  const u32 magnitude = bits & float_magnitude_mask;
  // float(m) has exponent field 127 + floor(log2 m); the subnormal's value is
  // m · 2^−149, so its extended pattern is float(m)'s minus 149 · 2^23, plus
  // the offset: minus 21 · 2^23 (0 stays 0, below every threshold).
  typename Lanes::i32 mantissa;
  reinterpret_lanes(u32(magnitude & 0x7FFFFFu), mantissa);
  typename Lanes::f32 mantissa_value;
  convert_lanes(mantissa, mantissa_value);
  u32 as_integer;
  reinterpret_lanes(mantissa_value, as_integer);
  const u32 subnormal = as_integer - (as_integer < (21u << 23) ? as_integer : u32{} + (21u << 23));
  const u32 widened = magnitude >= float_min_normal_bits ? magnitude + offset : subnormal;
  const u32 quotient = widened >= unscale + float_min_normal_bits ? widened - unscale : u32{};
  result = quotient | (bits & float_sign_mask);
}

// Whether nearest_even and toward_zero give zero for every magnitude below
// 2^−126 (the premise of mx_unscaled_lanes; rounding is monotone, so 2^−126
// itself suffices).
template <class Format>
constexpr bool rounds_below_float_normals_to_zero() {
  const float smallest_normal = mixprec::detail::bit_cast<float>(float_min_normal_bits);
  return engine::encode<Format>(smallest_normal, rounding::nearest_even, saturation::finite) == 0 &&
         engine::encode<Format>(smallest_normal, rounding::toward_zero, saturation::finite) == 0;
}

// pre[i] = the float of mx_unscaled_lanes for y[i] with its block's scale
// code; a block with a NaN scale (0xFF) gets quiet NaNs, which the encoder
// turns into the element's conversion of NaN, as cast::mx_encode does.
struct mx_unscale {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* y, std::size_t count, std::size_t block_length,
                                        const std::uint8_t* scale_codes, float* pre) {
    for_each_block<mx_block_size>(count, block_length, [&](std::size_t block, std::size_t begin, auto length) MIXPREC_LAMBDA_INLINE {
      const std::uint32_t code = scale_codes[block];
      if (code == 0xFF) {
        for (std::size_t i = 0; i < length; ++i) pre[begin + i] = float_of(float_quiet_nan_bits);
        return;
      }
      const std::uint32_t unscale = mx_unscale_bits(code);
      for_lanes<typename Lanes::u32, std::uint32_t>(length, [&](std::size_t i, auto tag) MIXPREC_LAMBDA_INLINE {
        using V = typename decltype(tag)::type;
        using L = std::conditional_t<std::is_same<V, std::uint32_t>::value, scalar_lanes, Lanes>;
        V bits, quotient;
        load_lanes(bits, y + begin + i);
        mx_unscaled_lanes<L>(bits, unscale, quotient);
        store_lanes(pre + begin + i, quotient);
      });
    });
  }
};

// ---- NVFP4 ------------------------------------------------------------------

// The float rounded to odd from `value` (positive, 2^−126 <= value < 2^128):
// float's precision truncated, the last bit set when anything was cut. A
// value rounded to odd with at least two bits more than a format rounds, in
// every mode, as the value itself does (Boldo and Melquiond, IEEE Trans.
// Computers 57(4), 2008; convert_n's AVX-512 kernels use the same fact for
// bfloat16): float has 24 bits, E4M3 4 and E2M1 2, and both formats' grids
// lie inside float's normal range, so E4M3(ro(v)) = E4M3(v) and E2M1(ro(v)) =
// E2M1(v). Integer arithmetic: no rounding mode, no flag.
template <class Lanes>
MIXPREC_KERNEL_INLINE void round_to_odd_lanes(const typename Lanes::f64& value,
                                              typename Lanes::u32_narrow& result) noexcept {
  using u64 = typename Lanes::u64;
  u64 bits;
  reinterpret_lanes(value, bits);
  const u64 rebased = bits - (std::uint64_t{1023 - 127} << 52);
  const u64 sticky = (rebased & ((std::uint64_t{1} << 29) - 1)) != 0 ? u64{} + std::uint64_t{1} : u64{};
  convert_lanes(u64((rebased >> 29) | sticky), result);
}

// `value` clamped to [low, high].
template <class F64>
MIXPREC_KERNEL_INLINE void clamp_lanes(F64& value, double low, double high) noexcept {
  value = value < low ? F64{} + low : value > high ? F64{} + high : value;
}

// The NVFP4 block scale d = E4M3(amax · S / 6), nearest even, saturated
// (cast::nvfp4_block_scale), happens in two steps: values[b] here, then the
// E4M3 encoder. amax · S / 6 is computed as the reference does (in double,
// the same two operations); clamping it to [2^−30, 2^20] changes no code
// (everything up to 2^−10 gives 0 and everything from 464 on gives 448: see
// the static_asserts in block_quantize.hpp), and then the float rounded to
// odd rounds like it. A NaN or infinite block gets NaN, which the encoder
// turns into 0x7F as cast::nvfp4_block_scale does.
constexpr double nvfp4_block_value_low = 0x1p-30;
constexpr double nvfp4_block_value_high = 0x1p20;
struct nvfp4_block_values {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const std::uint32_t* amax_bits, std::size_t count, float tensor_scale,
                                        float* values) {
    const double scale = static_cast<double>(tensor_scale);
    for_lanes<typename Lanes::u32_narrow, std::uint32_t>(count, [&](std::size_t i, auto tag) MIXPREC_LAMBDA_INLINE {
      using V = typename decltype(tag)::type;
      using L = std::conditional_t<std::is_same<V, std::uint32_t>::value, scalar_lanes, Lanes>;
      typename L::u32_narrow amax;
      load_lanes(amax, amax_bits + i);
      typename L::f64 value;
      widen_lanes_exactly<L>(amax, value);
      value = value * scale / 6.0;
      clamp_lanes(value, nvfp4_block_value_low, nvfp4_block_value_high);
      typename L::u32_narrow rounded;
      round_to_odd_lanes<L>(value, rounded);
      rounded = amax >= float_infinity_bits ? typename L::u32_narrow{} + float_quiet_nan_bits : rounded;
      store_lanes(values + i, rounded);
    });
  }
};

// The NVFP4 element q = E2M1(x · S / d) in two steps: pre[i] here, then the
// E2M1 encoder. x · S / d is computed as the reference does (in double: x · S
// exact, one rounding of the quotient); clamping its magnitude to [2^−40,
// 2^10] changes no code under nearest_even or toward_zero (everything up to
// 0.25 gives ±0 and everything from 6 on gives ±6, E2M1 saturating), and the
// float rounded to odd rounds like it; the sign is x's (S, d > 0). A block
// with d = 0 gets ±0 (x's sign) and one with d = NaN quiet NaNs (E2M1's
// conversion of NaN, +6), as cast::nvfp4_encode gives.
constexpr double nvfp4_element_low = 0x1p-40;
constexpr double nvfp4_element_high = 0x1p10;

// The pattern of pre for x with the block's d > 0 (divisor = d as a double:
// one for every lane, or one per lane), scale = S. The quotient is computed
// from |x| (its sign bit cleared: no comparison, which the portable path
// would compile into an unpredictable branch): rounding is symmetric, so
// |x| · S / d is the magnitude of x · S / d.
// `exact_widening`: widen |x| with widen_lanes_exactly (the caller's MXCSR
// is not in its default state: DAZ may be set), else with the hardware
// conversion, exact then and a third of the work; the callers check MXCSR
// once per call (default_float_environment).
template <class Lanes, class Divisor>
MIXPREC_KERNEL_INLINE void nvfp4_prescaled_lanes(const typename Lanes::f32_narrow& x, const Divisor& divisor,
                                                 double scale, bool exact_widening,
                                                 typename Lanes::u32_narrow& result) noexcept {
  typename Lanes::u32_narrow x_bits;
  reinterpret_lanes(x, x_bits);
  const typename Lanes::u32_narrow magnitude_bits = x_bits & float_magnitude_mask;
  typename Lanes::f64 quotient;
  if (exact_widening) {
    widen_lanes_exactly<Lanes>(magnitude_bits, quotient);
  } else {
    typename Lanes::f32_narrow magnitude;
    reinterpret_lanes(magnitude_bits, magnitude);
    convert_lanes(magnitude, quotient);
  }
  quotient = quotient * scale / divisor;
  clamp_lanes(quotient, nvfp4_element_low, nvfp4_element_high);
  round_to_odd_lanes<Lanes>(quotient, result);
  result |= x_bits & float_sign_mask;
}
struct nvfp4_prescale {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* y, std::size_t count, std::size_t block_length,
                                        const float* block_scales, float tensor_scale, float* pre) {
    const double scale = static_cast<double>(tensor_scale);
    const bool exact_widening = !mixprec::detail::default_float_environment();
    for_each_block<16>(count, block_length, [&](std::size_t block, std::size_t begin, auto length) MIXPREC_LAMBDA_INLINE {
      const float d = block_scales[block];
      if (!(d > 0.0f)) {  // 0 or NaN
        const std::uint32_t fill = d == 0.0f ? 0u : float_quiet_nan_bits;
        const std::uint32_t sign_mask = d == 0.0f ? float_sign_mask : 0u;
        for (std::size_t i = 0; i < length; ++i) pre[begin + i] = float_of(fill | (bits_of(y[begin + i]) & sign_mask));
        return;
      }
      const double divisor = static_cast<double>(d);
      for_lanes<typename Lanes::f32_narrow, float>(length, [&](std::size_t i, auto tag) MIXPREC_LAMBDA_INLINE {
        using V = typename decltype(tag)::type;
        using L = std::conditional_t<std::is_same<V, float>::value, scalar_lanes, Lanes>;
        typename L::f32_narrow x;
        load_lanes(x, y + begin + i);
        typename L::u32_narrow rounded;
        nvfp4_prescaled_lanes<L>(x, divisor, scale, exact_widening, rounded);
        store_lanes(pre + begin + i, rounded);
      });
    });
  }
};

// Two E2M1 codes (each below 16) per byte, as float4_e2m1x2 stores them:
// out[t] = codes[2t] | codes[2t + 1] << 4 (host::quantize_nvfp4_packed's
// pass over each panel's codes, while they are in L1).
struct pack_nibble_pairs {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const std::uint8_t* codes, std::size_t pairs, std::uint8_t* out) {
    for (std::size_t t = 0; t < pairs; ++t)
      out[t] = static_cast<std::uint8_t>(codes[2 * t] | (codes[2 * t + 1] << 4));
  }
};

// ---- Column-wise panels read in place -----------------------------------------
// Column-wise, each block of y is a stretch of one column of x. A panel of
// `width` columns and `rows` (<= one block) rows is read as it lies in x,
// row after row (element (line j, position i) of y at y[i · stride + j]),
// with the lanes across columns: each lane then holds one block, so the
// block's amax is a lane-wise maximum over the rows and its scale a per-lane
// value, and no float is transposed (a fourth of the bytes the gathered
// panels moved). The pre-scaling kernels take one row of the panel (its
// floats then stay in L1 until encoded); the element codes, a byte each, are
// transposed into out's lines as they are stored (transpose_bytes).

// amax_bits[j] = the largest magnitude pattern of column j (block_magnitude_max's
// order, lane by lane).
struct column_magnitude_max {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* y, std::size_t stride, std::size_t rows, std::size_t width,
                                        std::uint32_t* amax_bits) {
    for (std::size_t j = 0; j < width; ++j) amax_bits[j] = 0;
    for (std::size_t i = 0; i < rows; ++i)
      for_lanes<typename Lanes::u32, std::uint32_t>(width, [&](std::size_t j, auto tag) MIXPREC_LAMBDA_INLINE {
        using V = typename decltype(tag)::type;
        V magnitude, largest;
        load_lanes(magnitude, y + i * stride + j);
        load_lanes(largest, amax_bits + j);
        magnitude &= float_magnitude_mask;
        largest = magnitude > largest ? magnitude : largest;
        store_lanes(amax_bits + j, largest);
      });
  }
};

// mx_unscale for a row of the panel (pre[j] for row[j]), with column j's block scale as unscales[j] = mx_unscale_bits(its
// code): the same pattern per element, quiet NaNs where the code is 0xFF.
constexpr std::uint32_t mx_nan_unscale = mx_unscale_bits(0xFF);
struct mx_unscale_columns {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* row, std::size_t width, const std::uint32_t* unscales,
                                        float* pre) {
    for_lanes<typename Lanes::u32, std::uint32_t>(width, [&](std::size_t j, auto tag) MIXPREC_LAMBDA_INLINE {
      using V = typename decltype(tag)::type;
      using L = std::conditional_t<std::is_same<V, std::uint32_t>::value, scalar_lanes, Lanes>;
      V bits, unscale, quotient;
      load_lanes(bits, row + j);
      load_lanes(unscale, unscales + j);
      mx_unscaled_lanes<L>(bits, unscale, quotient);
      quotient = unscale == mx_nan_unscale ? V{} + float_quiet_nan_bits : quotient;
      store_lanes(pre + j, quotient);
    });
  }
};

// What nvfp4_prescale's per-block test on d decides, per column of a
// position-major panel (column j's d is d[j]): the divisor (d where d > 0,
// else 1, so that no division by zero or NaN is computed) and the patterns
// that give each lane its result, pre = (quotient & keep) | fill | (x's sign
// & sign): the quotient with x's sign where d > 0, ±0 with x's sign where
// d = 0, a quiet NaN otherwise (NaN). Worked out once per panel, not per row.
// `all_positive`: every d > 0 (the usual panel), where those patterns change
// nothing (the quotient already carries x's sign), so the rows skip them.
struct nvfp4_column_scales {
  std::vector<double> divisor;
  std::vector<std::uint32_t> keep, fill, sign;
  bool all_positive = true;

  explicit nvfp4_column_scales(std::size_t width) : divisor(width), keep(width), fill(width), sign(width) {}

  void set(const float* d, std::size_t width) {
    all_positive = true;
    for (std::size_t j = 0; j < width; ++j) {
      const bool positive = d[j] > 0.0f, zero = d[j] == 0.0f;
      divisor[j] = positive ? static_cast<double>(d[j]) : 1.0;
      keep[j] = positive ? ~0u : 0u;
      fill[j] = positive || zero ? 0u : float_quiet_nan_bits;
      sign[j] = positive || zero ? float_sign_mask : 0u;
      all_positive = all_positive && positive;
    }
  }
};

// nvfp4_prescale for a row of the panel (pre[j] for row[j]), with column j's
// d as described by `columns`. The arrays' addresses are read once, before
// the loop: read through `columns` in it, they were reloaded after every
// store into pre (which the compiler cannot tell apart from the vectors'
// own pointers). Where the panel's d are all positive, the loop skips
// the keep/fill/sign patterns (three loads and three logic operations per
// vector fewer, the same bits: see nvfp4_column_scales).
struct nvfp4_prescale_columns {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const float* row, std::size_t width, const nvfp4_column_scales* columns,
                                        float tensor_scale, float* pre) {
    const double scale = static_cast<double>(tensor_scale);
    const bool exact_widening = !mixprec::detail::default_float_environment();
    const bool all_positive = columns->all_positive;
    const double* const divisors = columns->divisor.data();
    const std::uint32_t *const keeps = columns->keep.data(), *const fills = columns->fill.data(),
                              *const signs = columns->sign.data();
    for_lanes<typename Lanes::f32_narrow, float>(width, [&](std::size_t j, auto tag) MIXPREC_LAMBDA_INLINE {
      using V = typename decltype(tag)::type;
      using L = std::conditional_t<std::is_same<V, float>::value, scalar_lanes, Lanes>;
      using u32 = typename L::u32_narrow;
      typename L::f32_narrow x;
      typename L::f64 divisor;
      u32 rounded;
      load_lanes(x, row + j);
      load_lanes(divisor, divisors + j);
      nvfp4_prescaled_lanes<L>(x, divisor, scale, exact_widening, rounded);
      if (!all_positive) {  // the same for every vector of the row: predicted
        u32 keep, fill, sign, x_bits;
        load_lanes(keep, keeps + j);
        load_lanes(fill, fills + j);
        load_lanes(sign, signs + j);
        reinterpret_lanes(x, x_bits);
        rounded = (rounded & keep) | fill | (x_bits & sign);
      }
      store_lanes(pre + j, rounded);
    });
  }
};

// Column-wise packed NVFP4: byte t of column j's line pairs the tile's rows
// 2t and 2t + 1 (elements 2t and 2t + 1 of the line, low nibble first), so
// the position-major code tile is packed row pair by row pair before it is
// transposed: pairs[t · width + j] = codes[2t · width + j] | codes[(2t + 1) ·
// width + j] << 4. pairs may be codes itself: row t is written after rows
// 2t and 2t + 1 are read.
struct pack_nibble_rows {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const std::uint8_t* codes, std::size_t pair_rows, std::size_t width,
                                        std::uint8_t* pairs) {
    for (std::size_t t = 0; t < pair_rows; ++t)
      for (std::size_t j = 0; j < width; ++j)
        pairs[t * width + j] =
            static_cast<std::uint8_t>(codes[2 * t * width + j] | (codes[(2 * t + 1) * width + j] << 4));
  }
};

#if MIXPREC_HOST_SIMD
// The 8 rows src[r · stride + c] (r < 8, c < 16) transposed: column 2k's 8
// bytes (rows 0 to 7) in the low half of columns[k], column 2k + 1's in the
// high half. Unpacks of bytes, then 16-bit pairs, then 32-bit quads: SSE2,
// which every x86-64 CPU has, so no target attribute is needed and the
// AVX-512 instantiation of transpose_bytes gets its 32 registers.
MIXPREC_VECTOR_INLINE void transpose_bytes_8x16(const std::uint8_t* src, std::size_t stride,
                                                __m128i (&columns)[8]) noexcept {
  __m128i row[8], two[8], four[8];
  for (std::size_t r = 0; r < 8; ++r) row[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + r * stride));
  // two[2p + h]: rows 2p, 2p + 1 of columns 8h to 8h + 7, two bytes per column.
  for (std::size_t p = 0; p < 4; ++p) {
    two[2 * p] = _mm_unpacklo_epi8(row[2 * p], row[2 * p + 1]);
    two[2 * p + 1] = _mm_unpackhi_epi8(row[2 * p], row[2 * p + 1]);
  }
  // four[4h + 2q + s]: rows 4q to 4q + 3 of columns 8h + 4s to 8h + 4s + 3.
  for (std::size_t h = 0; h < 2; ++h)
    for (std::size_t q = 0; q < 2; ++q) {
      four[4 * h + 2 * q] = _mm_unpacklo_epi16(two[4 * q + h], two[4 * q + 2 + h]);
      four[4 * h + 2 * q + 1] = _mm_unpackhi_epi16(two[4 * q + h], two[4 * q + 2 + h]);
    }
  for (std::size_t h = 0; h < 2; ++h)
    for (std::size_t s = 0; s < 2; ++s) {
      columns[4 * h + 2 * s] = _mm_unpacklo_epi32(four[4 * h + s], four[4 * h + 2 + s]);
      columns[4 * h + 2 * s + 1] = _mm_unpackhi_epi32(four[4 * h + s], four[4 * h + 2 + s]);
    }
}
#endif

// dst[c · dst_stride + r] = src[r · src_stride + c] for r < rows, c < cols:
// a position-major tile of codes into out's lines. On the SIMD paths 16
// columns at a time, by 16 rows (two 8x16 transposes joined: a 16-byte store
// per column) or 8 rows (8-byte stores); the ragged edges byte by byte.
struct transpose_bytes {
  template <class Lanes>
  static MIXPREC_KERNEL_INLINE void run(const std::uint8_t* src, std::size_t src_stride, std::size_t rows,
                                        std::size_t cols, std::uint8_t* dst, std::size_t dst_stride) {
    std::size_t simd_cols = 0;
#if MIXPREC_HOST_SIMD
    if constexpr (!std::is_same<Lanes, scalar_lanes>::value) {
      simd_cols = cols / 16 * 16;
      for (std::size_t c = 0; c < simd_cols; c += 16) {
        std::uint8_t* column = dst + c * dst_stride;
        std::size_t r = 0;
        // Up to 32 rows at a time: a column's two 16-byte stores follow each
        // other, so its line of out is fetched once (the lines of out are
        // `dst_stride` apart, often a power of two: they share a few L1 sets
        // and would be evicted between the two).
        for (; r + 16 <= rows; r += 32) {
          const std::size_t tiles = r + 32 <= rows ? 2 : 1;
          __m128i columns[2][16];
          for (std::size_t t = 0; t < tiles; ++t) {
            __m128i top[8], bottom[8];
            transpose_bytes_8x16(src + (r + 16 * t) * src_stride + c, src_stride, top);
            transpose_bytes_8x16(src + (r + 16 * t + 8) * src_stride + c, src_stride, bottom);
            for (std::size_t k = 0; k < 8; ++k) {
              columns[t][2 * k] = _mm_unpacklo_epi64(top[k], bottom[k]);
              columns[t][2 * k + 1] = _mm_unpackhi_epi64(top[k], bottom[k]);
            }
          }
          for (std::size_t k = 0; k < 16; ++k)
            for (std::size_t t = 0; t < tiles; ++t)
              _mm_storeu_si128(reinterpret_cast<__m128i*>(column + k * dst_stride + r + 16 * t), columns[t][k]);
        }
        if (r > rows) r -= 16;  // the last step took one tile
        for (; r + 8 <= rows; r += 8) {
          __m128i pairs[8];
          transpose_bytes_8x16(src + r * src_stride + c, src_stride, pairs);
          for (std::size_t k = 0; k < 8; ++k) {
            _mm_storel_epi64(reinterpret_cast<__m128i*>(column + 2 * k * dst_stride + r), pairs[k]);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(column + (2 * k + 1) * dst_stride + r),
                             _mm_unpackhi_epi64(pairs[k], pairs[k]));
          }
        }
        for (std::size_t k = 0; k < 16; ++k)
          for (std::size_t rest = r; rest < rows; ++rest) column[k * dst_stride + rest] = src[rest * src_stride + c + k];
      }
    }
#endif
    // Column by column: each line of out is written front to back (the
    // other order would write a different line, often a few L1 sets apart,
    // at every byte).
    for (std::size_t c = simd_cols; c < cols; ++c)
      for (std::size_t r = 0; r < rows; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
  }
};

}  // namespace detail
}  // namespace host
}  // namespace mixprec
