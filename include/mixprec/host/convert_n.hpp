// mixprec/host/convert_n.hpp — bulk conversion between float arrays and
// arrays of a mixprec type.
//
//   convert_n(src, n, dst, rounding, saturation)   float[n] -> T[n]
//   convert_n(src, n, dst)                         T[n] -> float[n], exact
//   convert_n_stochastic(src, n, dst, seed, offset, saturation)
//   convert_n(src, n, float4_e2m1x2* dst, ...)     float[n] -> n FP4 codes, two per byte
//   convert_n(const float4_e2m1x2* src, n, dst)    n packed FP4 codes -> float[n]
//
// Every element gets exactly the bits of the scalar conversion
// (mixprec::convert<T>, static_cast<float>, convert_stochastic), on every
// input. nearest_even and toward_zero run as AVX-512 or AVX2 code where the
// CPU has it, chosen at run time (mixprec/host/cpu_features.hpp), so no
// -march flag is needed; the other modes, the microscaling formats (FP6, FP4,
// E8M0: the vector engine covers the IEEE-like, E4M3FN and fnuz encodings),
// and every machine without those instruction sets, use the scalar engine
// element by element. The overloads
// taking a host::simd_path run a given path (tests and benchmarks use them).
//
// Arguments: n == 0 accepts null pointers; otherwise both must point to n
// elements. src and dst must not overlap — not even exactly, e.g. narrowing a
// float buffer in place through a reinterpret_cast — since the elements differ
// in size; an overlap is reported as mixprec::error rather than left undefined.
//
// The kernels do integer arithmetic on bit patterns: the caller's MXCSR
// (rounding mode, DAZ, FTZ) changes nothing, and no floating-point exception
// flag is raised or trapped. The conversion instructions are not used for
// that reason: F16C's vcvtps2ph gives the engine's FP16 bits after a NaN
// fix-up (it keeps the payload; the engine gives 0x7FFF) but raises
// overflow, underflow, precision and invalid flags (GCC emits no {sae} for
// the AVX-512 form either); AVX512-BF16's vcvtneps2bf16 raises none but
// flushes float subnormals to zero and keeps NaN payloads, so it would need
// fix-ups that cost what the integer path does.
/// \file
/// mixprec/host/convert_n.hpp — bulk conversion between float arrays and
/// arrays of a mixprec type.
///
/// ~~~~
///   convert_n(src, n, dst, rounding, saturation)   float[n] -> T[n]
///   convert_n(src, n, dst)                         T[n] -> float[n], exact
///   convert_n_stochastic(src, n, dst, seed, offset, saturation)
/// ~~~~
///
/// Every element gets exactly the bits of the scalar conversion
/// (mixprec::convert<T>, static_cast<float>, convert_stochastic), on every
/// input. nearest_even and toward_zero run as AVX-512 or AVX2 code where the
/// CPU has it, chosen at run time (mixprec/host/cpu_features.hpp), so no
/// -march flag is needed; the other modes, and every machine without those
/// instruction sets, use the scalar engine element by element. The overloads
/// taking a host::simd_path run a given path (tests and benchmarks use them).
///
/// Arguments: n == 0 accepts null pointers; otherwise both must point to n
/// elements. src and dst must not overlap — not even exactly, e.g. narrowing a
/// float buffer in place through a reinterpret_cast — since the elements differ
/// in size; an overlap is reported as mixprec::error rather than left undefined.
///
/// The kernels do integer arithmetic on bit patterns: the caller's MXCSR
/// (rounding mode, DAZ, FTZ) changes nothing, and no floating-point exception
/// flag is raised or trapped. The conversion instructions are not used for
/// that reason: F16C's vcvtps2ph gives the engine's FP16 bits after a NaN
/// fix-up (it keeps the payload; the engine gives 0x7FFF) but raises
/// overflow, underflow, precision and invalid flags (GCC emits no {sae} for
/// the AVX-512 form either); AVX512-BF16's vcvtneps2bf16 raises none but
/// flushes float subnormals to zero and keeps NaN payloads, so it would need
/// fix-ups that cost what the integer path does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/vector_engine.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

#if MIXPREC_HOST_SIMD
#include <immintrin.h>
#endif

namespace mixprec {
namespace host {
namespace detail {

// Whether the vector engine (host/detail/vector_engine.hpp) encodes, and
// decodes, the format; the others run the scalar engine on every path. The
// encoder covers FP6 and FP4 too (their overflow and NaN results come from
// the engine's traits); E8M0 is outside its static_asserts (float's normal
// range does not cover E8M0's), and the AVX-512 decoder's table assumes the
// sign in bit 7, so FP6/FP4 decode through a table of their codes instead.
template <class Format>
struct has_vector_encoder {
  static constexpr bool value = Format::specials == special_encoding::ieee ||
                                Format::specials == special_encoding::finite_nan_all_ones ||
                                Format::specials == special_encoding::finite_nan_negative_zero ||
                                Format::specials == special_encoding::finite;
};
template <class Format>
struct has_vector_decoder {
  static constexpr bool value = Format::specials == special_encoding::ieee ||
                                Format::specials == special_encoding::finite_nan_all_ones ||
                                Format::specials == special_encoding::finite_nan_negative_zero;
};

// ---- The portable path: the scalar engine --------------------------------

template <class T>
void encode_portable(const float* src, std::size_t n, T* dst, rounding mode, saturation policy) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = T::from_bits(engine::encode<typename T::format>(src[i], mode, policy));
}

// Every code of a format of at most 8 bits, decoded once at compile time by
// the engine, so that the portable decode is one table look-up per element
// (FP4 and E8M0 decode through the engine's general path otherwise: about
// 10x slower).
template <class Format>
struct decoded_codes {
  std::uint32_t float_bits[std::size_t{1} << Format::total_bits];
};
template <class Format>
constexpr decoded_codes<Format> decode_every_code() {
  decoded_codes<Format> table{};
  for (std::uint32_t code = 0; code < (std::uint32_t{1} << Format::total_bits); ++code)
    table.float_bits[code] = engine::decode_to_binary32<Format>(code);
  return table;
}
template <class Format>
inline constexpr decoded_codes<Format> every_code_decoded = decode_every_code<Format>();

// The float of one code, exactly as engine::decode_to_binary32 gives it.
template <class Format>
inline float decode_code(std::uint64_t code) {
  if constexpr (Format::total_bits <= 8) {
    return mixprec::detail::bit_cast<float>(every_code_decoded<Format>.float_bits[code & Format::code_mask]);
  } else {
    return mixprec::detail::bit_cast<float>(engine::decode_to_binary32<Format>(code));
  }
}

template <class T>
void decode_portable(const T* src, std::size_t n, float* dst) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = decode_code<typename T::format>(src[i].bits());
}

#if MIXPREC_HOST_SIMD

// ---- AVX-512 (F, BW, VL): 16 lanes of 32 bits or 32 of 16 -------------------
// Tails run the same code under a lane mask; masked loads do not touch memory
// outside the arrays.

#define MIXPREC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// Formats with at least two mantissa bits fewer than bfloat16 (the 8-bit
// ones) are encoded from 16-bit lanes, 32 at a time: each float is first
// narrowed to bfloat16 by rounding to odd (the high half of the pattern, its
// last bit set when anything was cut). A value rounded to odd with two bits
// more than the target rounds, in every mode, as the exact value does (Boldo
// and Melquiond, IEEE Trans. Computers 57(4), 2008), and bfloat16 has
// float's exponent range, so subnormal grids, overflow, infinity and NaN all
// stay where they were. The tests hold the result to the engine on every
// float.
template <class Format>
struct encodes_through_bfloat16 {
  static constexpr bool value = Format::total_bits <= 8 &&
                                Format::mantissa_bits + 2 <= formats::bfloat16::mantissa_bits &&
                                engine::detail::is_normal_narrowing<Format, formats::bfloat16>::value;
};

// Lane i < 16 from `low`, lane 16 + i from `high`.
MIXPREC_TARGET_AVX512 MIXPREC_VECTOR_INLINE __m512i round_to_odd_bfloat16(__m512i low, __m512i high) {
  alignas(64) static constexpr std::uint16_t halves[2][32] = {
      {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62},
      {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63}};
  const __m512i truncated = _mm512_permutex2var_epi16(low, _mm512_load_si512(halves[1]), high);
  const __m512i cut = _mm512_permutex2var_epi16(low, _mm512_load_si512(halves[0]), high);
  return _mm512_or_si512(truncated, _mm512_min_epu16(cut, _mm512_set1_epi16(1)));
}

// Encodes the lanes `bits` (32-bit or 16-bit, as the encoder's V) and stores
// the codes of the `lanes` set in the mask.
template <class Encoder, class Mask>
MIXPREC_TARGET_AVX512 MIXPREC_VECTOR_INLINE void encode_lanes_avx512(const Encoder& encoder, __m512i bits_in,
                                                                   Mask lanes, void* dst) {
  using V = typename Encoder::vector;
  constexpr bool wide = sizeof(V{}[0]) == 4;
  const V bits = reinterpret_cast<V>(bits_in);
  V code;
  bool any_subnormal = false;
  if constexpr (Encoder::has_subnormal_lanes) {
    V needed;
    encoder.find_subnormals(bits, needed);
    if constexpr (wide)
      any_subnormal = _mm512_mask_test_epi32_mask(lanes, reinterpret_cast<__m512i>(needed), reinterpret_cast<__m512i>(needed)) != 0;
    else
      any_subnormal = _mm512_mask_test_epi16_mask(lanes, reinterpret_cast<__m512i>(needed), reinterpret_cast<__m512i>(needed)) != 0;
  }
  // Lanes on the subnormal grid are rare in practice (values within a few
  // binades of zero); only vectors that have one take the full rounding.
  if (__builtin_expect(any_subnormal, 0))
    encoder.template encode<true>(bits, code);
  else
    encoder.template encode<false>(bits, code);
  if constexpr (!wide)
    _mm512_mask_cvtepi16_storeu_epi8(dst, lanes, reinterpret_cast<__m512i>(code));
  else if constexpr (Encoder::to_bits <= 8)
    _mm512_mask_cvtepi32_storeu_epi8(dst, lanes, reinterpret_cast<__m512i>(code));
  else
    _mm512_mask_cvtepi32_storeu_epi16(dst, lanes, reinterpret_cast<__m512i>(code));
}

template <class Format, rounding Mode, saturation Policy>
MIXPREC_TARGET_AVX512 void encode_avx512(const float* src, std::size_t n, void* dst_bytes) {
  auto* dst = static_cast<typename Format::storage_type*>(dst_bytes);
  std::size_t i = 0;
  if constexpr (encodes_through_bfloat16<Format>::value) {
    const lane_encoder<formats::bfloat16, Format, Mode, Policy, vector_of<64>::u16> encoder;
    for (; i + 32 <= n; i += 32)
      encode_lanes_avx512(encoder, round_to_odd_bfloat16(_mm512_loadu_si512(src + i), _mm512_loadu_si512(src + i + 16)),
                          ~__mmask32{0}, dst + i);
    if (i < n) {
      const std::size_t rest = n - i;
      const auto low = static_cast<__mmask16>(rest >= 16 ? 0xFFFFu : (1u << rest) - 1);
      const auto high = static_cast<__mmask16>(rest > 16 ? (1u << (rest - 16)) - 1 : 0u);
      encode_lanes_avx512(encoder,
                          round_to_odd_bfloat16(_mm512_maskz_loadu_epi32(low, src + i),
                                                _mm512_maskz_loadu_epi32(high, src + i + 16)),
                          static_cast<__mmask32>((std::uint64_t{1} << rest) - 1), dst + i);
    }
  } else {
    const lane_encoder<formats::binary32, Format, Mode, Policy, vector_of<64>::u32> encoder;
    for (; i + 16 <= n; i += 16) encode_lanes_avx512(encoder, _mm512_loadu_si512(src + i), __mmask16{0xFFFF}, dst + i);
    if (i < n) {
      const auto lanes = static_cast<__mmask16>((1u << (n - i)) - 1);
      encode_lanes_avx512(encoder, _mm512_maskz_loadu_epi32(lanes, src + i), lanes, dst + i);
    }
  }
}

// 8-bit codes decode by table: the engine's decode of each of the 128
// magnitudes, computed at compile time, looked up 32 lanes at a time
// (vpermi2w). Every such value is a bfloat16 (its float pattern ends in 16
// zero bits), so the table holds the high halves; the sign bit is or-ed in,
// except for fnuz's NaN, which sits at the would-be -0 code.
template <class Format>
struct decode_table {
  static constexpr std::uint32_t decode(std::uint32_t code) {
    return engine::decode_to_binary32<Format>(code);
  }
  static constexpr bool sign_is_or_ed(std::uint32_t code) {
    const std::uint32_t sign = (code & Format::sign_mask) ? 0x80000000u : 0u;
    return decode(code) == (decode(code & Format::magnitude_mask) | sign) ||
           (!Format::has_negative_zero && code == Format::sign_mask);
  }
  static constexpr bool applies() {
    if (Format::total_bits > 8) return false;
    for (std::uint32_t code = 0; code < (1u << Format::total_bits); ++code)
      if ((decode(code) & 0xFFFFu) != 0 || !sign_is_or_ed(code)) return false;
    return true;
  }
  static constexpr bool value = applies();
  struct halves {
    std::uint16_t of[128];
  };
  static constexpr halves make() {
    halves table{};
    for (std::uint32_t magnitude = 0; magnitude < 128; ++magnitude)
      table.of[magnitude] = static_cast<std::uint16_t>(decode(magnitude & Format::magnitude_mask) >> 16);
    return table;
  }
  static constexpr halves high_halves = make();
};

template <class Format>
MIXPREC_TARGET_AVX512 void decode_avx512_by_table(const std::uint8_t* src, std::size_t n, float* dst) {
  using table = decode_table<Format>;
  const __m512i t0 = _mm512_loadu_si512(table::high_halves.of), t1 = _mm512_loadu_si512(table::high_halves.of + 32);
  const __m512i t2 = _mm512_loadu_si512(table::high_halves.of + 64), t3 = _mm512_loadu_si512(table::high_halves.of + 96);
  // Word j of `halves` goes to the high half of float lane j (first_floats)
  // or j - 16 (second_floats); the low halves are 0.
  alignas(64) static constexpr std::uint16_t first_floats[32] = {0, 32, 0, 33, 0, 34, 0, 35, 0, 36, 0, 37, 0, 38, 0, 39,
                                                                 0, 40, 0, 41, 0, 42, 0, 43, 0, 44, 0, 45, 0, 46, 0, 47};
  alignas(64) static constexpr std::uint16_t second_floats[32] = {0, 48, 0, 49, 0, 50, 0, 51, 0, 52, 0, 53, 0, 54, 0, 55,
                                                                  0, 56, 0, 57, 0, 58, 0, 59, 0, 60, 0, 61, 0, 62, 0, 63};
  const __m512i first = _mm512_load_si512(first_floats), second = _mm512_load_si512(second_floats);
  const __m512i zero = _mm512_setzero_si512();
  for (std::size_t i = 0; i < n; i += 32) {
    const std::size_t rest = n - i;
    const auto lanes = static_cast<__mmask32>(rest >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << rest) - 1);
    const __m512i codes = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(lanes, src + i));
    // The low 6 bits of a code pick one of 64 entries; bit 6 picks the half of the table.
    __m512i halves = _mm512_mask_blend_epi16(_mm512_test_epi16_mask(codes, _mm512_set1_epi16(0x40)),
                                             _mm512_permutex2var_epi16(t0, codes, t1),
                                             _mm512_permutex2var_epi16(t2, codes, t3));
    halves = _mm512_or_si512(halves, _mm512_and_si512(_mm512_slli_epi16(codes, 8), _mm512_set1_epi16(-0x8000)));
    if constexpr (!Format::has_negative_zero) {
      const auto nan = static_cast<std::int16_t>(table::decode(Format::sign_mask) >> 16);
      halves = _mm512_mask_mov_epi16(halves, _mm512_cmpeq_epi16_mask(codes, _mm512_set1_epi16(0x80)),
                                     _mm512_set1_epi16(nan));
    }
    const __m512i low = _mm512_permutex2var_epi16(zero, first, halves);
    const __m512i high = _mm512_permutex2var_epi16(zero, second, halves);
    if (rest >= 32) {
      _mm512_storeu_si512(dst + i, low);
      _mm512_storeu_si512(dst + i + 16, high);
    } else {
      _mm512_mask_storeu_epi32(dst + i, static_cast<__mmask16>(lanes), low);
      _mm512_mask_storeu_epi32(dst + i + 16, static_cast<__mmask16>(lanes >> 16), high);
    }
  }
}

template <class Format>
MIXPREC_TARGET_AVX512 void decode_avx512(const void* src_bytes, std::size_t n, float* dst) {
  if constexpr (Format::total_bits <= 8) {
    static_assert(decode_table<Format>::value, "every 8-bit format decodes to bfloat16-exact floats");
    decode_avx512_by_table<Format>(static_cast<const std::uint8_t*>(src_bytes), n, dst);
  } else {
    using V = vector_of<64>::u32;
    const lane_decoder<Format, V> decoder;
    const auto* src = static_cast<const typename Format::storage_type*>(src_bytes);
    for (std::size_t i = 0; i < n; i += 16) {
      const std::size_t rest = n - i;
      const auto lanes = static_cast<__mmask16>(rest >= 16 ? 0xFFFFu : (1u << rest) - 1);
      const __m512i codes = rest >= 16 ? _mm512_maskz_cvtepu16_epi32(lanes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)))
                                       : _mm512_maskz_cvtepu16_epi32(lanes, _mm256_maskz_loadu_epi16(lanes, src + i));
      V bits;
      decoder.decode(reinterpret_cast<V>(codes), bits);
      if (rest >= 16)
        _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(bits));
      else
        _mm512_mask_storeu_epi32(dst + i, lanes, reinterpret_cast<__m512i>(bits));
    }
  }
}

// ---- AVX2: 8 lanes, blocks of 32 (8-bit) or 16 (16-bit) elements -----------
// Codes are packed with unsigned saturation, which keeps them (all are below
// 2^16, and below 2^8 for 8-bit formats). A tail shorter than a block goes
// through a zero-padded copy.

#define MIXPREC_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__clang__)
#define MIXPREC_UNROLL _Pragma("unroll")
#else
#define MIXPREC_UNROLL _Pragma("GCC unroll 4")
#endif

template <class Format, rounding Mode, saturation Policy>
MIXPREC_TARGET_AVX2 MIXPREC_VECTOR_INLINE void encode_block_avx2(
    const lane_encoder<formats::binary32, Format, Mode, Policy, vector_of<32>::u32>& encoder, const float* src, void* dst) {
  using V = vector_of<32>::u32;
  constexpr std::size_t vectors = Format::total_bits <= 8 ? 4 : 2;
  V bits[vectors], code[vectors];
  // (GCC keeps these loops, and the arrays in memory, unless told to unroll.)
  MIXPREC_UNROLL
  for (std::size_t v = 0; v < vectors; ++v) bits[v] = reinterpret_cast<V>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 8 * v)));
  bool any_subnormal = false;
  if constexpr (lane_encoder<formats::binary32, Format, Mode, Policy, V>::has_subnormal_lanes) {
    V needed = {}, lane;
    MIXPREC_UNROLL
    for (std::size_t v = 0; v < vectors; ++v) {
      encoder.find_subnormals(bits[v], lane);
      needed |= lane;
    }
    any_subnormal = !_mm256_testz_si256(reinterpret_cast<__m256i>(needed), reinterpret_cast<__m256i>(needed));
  }
  if (__builtin_expect(any_subnormal, 0)) {
    MIXPREC_UNROLL
    for (std::size_t v = 0; v < vectors; ++v) encoder.template encode<true>(bits[v], code[v]);
  } else {
    MIXPREC_UNROLL
    for (std::size_t v = 0; v < vectors; ++v) encoder.template encode<false>(bits[v], code[v]);
  }
  // packus works within 128-bit halves; the permutes restore element order.
  if constexpr (Format::total_bits <= 8) {
    const __m256i words01 = _mm256_packus_epi32(reinterpret_cast<__m256i>(code[0]), reinterpret_cast<__m256i>(code[1]));
    const __m256i words23 = _mm256_packus_epi32(reinterpret_cast<__m256i>(code[2]), reinterpret_cast<__m256i>(code[3]));
    const __m256i bytes = _mm256_packus_epi16(words01, words23);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  } else {
    const __m256i words = _mm256_packus_epi32(reinterpret_cast<__m256i>(code[0]), reinterpret_cast<__m256i>(code[1]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permute4x64_epi64(words, 0xD8));
  }
}

template <class Format, rounding Mode, saturation Policy>
MIXPREC_TARGET_AVX2 void encode_avx2(const float* src, std::size_t n, void* dst_bytes) {
  using storage = typename Format::storage_type;
  constexpr std::size_t block = Format::total_bits <= 8 ? 32 : 16;
  const lane_encoder<formats::binary32, Format, Mode, Policy, vector_of<32>::u32> encoder;
  auto* dst = static_cast<storage*>(dst_bytes);
  std::size_t i = 0;
  for (; i + block <= n; i += block) encode_block_avx2(encoder, src + i, dst + i);
  if (i < n) {
    float in[block] = {};
    storage out[block];
    std::memcpy(in, src + i, (n - i) * sizeof(float));
    encode_block_avx2(encoder, in, out);
    std::memcpy(dst + i, out, (n - i) * sizeof(storage));
  }
}

template <class Format>
MIXPREC_TARGET_AVX2 MIXPREC_VECTOR_INLINE void decode_block_avx2(const lane_decoder<Format, vector_of<32>::u32>& decoder,
                                                                 const void* src, float* dst) {
  using V = vector_of<32>::u32;
  __m256i code;
  if constexpr (Format::total_bits <= 8)
    code = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src)));
  else
    code = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
  V bits;
  decoder.decode(reinterpret_cast<V>(code), bits);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), reinterpret_cast<__m256i>(bits));
}

template <class Format>
MIXPREC_TARGET_AVX2 void decode_avx2(const void* src_bytes, std::size_t n, float* dst) {
  using storage = typename Format::storage_type;
  const lane_decoder<Format, vector_of<32>::u32> decoder;
  const auto* src = static_cast<const storage*>(src_bytes);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) decode_block_avx2(decoder, src + i, dst + i);
  if (i < n) {
    storage in[8] = {};
    float out[8];
    std::memcpy(in, src + i, (n - i) * sizeof(storage));
    decode_block_avx2(decoder, in, out);
    std::memcpy(dst + i, out, (n - i) * sizeof(float));
  }
}

#undef MIXPREC_UNROLL
#undef MIXPREC_TARGET_AVX2
#undef MIXPREC_TARGET_AVX512

template <class Format, rounding Mode, saturation Policy>
void encode_simd(simd_path path, const float* src, std::size_t n, void* dst) {
  if (path == simd_path::avx512)
    encode_avx512<Format, Mode, Policy>(src, n, dst);
  else
    encode_avx2<Format, Mode, Policy>(src, n, dst);
}

#endif  // MIXPREC_HOST_SIMD

// ---- Checks shared by every entry point ------------------------------------

// The bytes of n elements of `size` bytes, or SIZE_MAX when n · size does
// not fit: require_arrays then rejects it (no array ends at SIZE_MAX), so a
// wrapped product cannot pass the overlap check.
constexpr std::size_t array_bytes(std::size_t n, std::size_t size) noexcept {
  return size != 0 && n > SIZE_MAX / size ? SIZE_MAX : n * size;
}

// src_bytes and dst_bytes come from array_bytes (or an exact count such as
// packed_fp4_bytes): each array must end inside the address space, and the
// two must not overlap.
inline void require_arrays(const char* caller, const void* src, std::size_t src_bytes, const void* dst,
                           std::size_t dst_bytes, std::size_t n) {
  if (n == 0) return;
  require(src != nullptr && dst != nullptr, caller, ": ", src == nullptr ? "src" : "dst", " is null but n = ", n,
          "; pass arrays of n elements (null is accepted only with n = 0)");
  const auto src_begin = reinterpret_cast<std::uintptr_t>(src);
  const auto dst_begin = reinterpret_cast<std::uintptr_t>(dst);
  const std::uintptr_t last_address = UINTPTR_MAX;
  // Pointer differences within one array must be representable.
  const auto largest_object = static_cast<std::size_t>(PTRDIFF_MAX);
  require(src_bytes <= largest_object && dst_bytes <= largest_object && src_bytes <= last_address - src_begin &&
              dst_bytes <= last_address - dst_begin,
          caller, ": n = ", n, " elements reach beyond the address space (src: ", src_bytes, " bytes from ", src,
          ", dst: ", dst_bytes, " bytes from ", dst, "; ", SIZE_MAX,
          " means n times the element size overflows); n must be the number of elements in the arrays");
  require(src_begin + src_bytes <= dst_begin || dst_begin + dst_bytes <= src_begin, caller, ": src [", src, ", +",
          src_bytes, " bytes) and dst [", dst, ", +", dst_bytes,
          " bytes) overlap; convert into a separate buffer (elements differ in size, so not even exact aliasing "
          "works)");
}

inline void require_saturation(const char* caller, saturation policy) {
  require(is_valid(policy), caller, ": saturation value ", static_cast<int>(policy),
          " is not a mixprec::saturation enumerator; pass saturation::finite or saturation::none");
}

inline void reject_stochastic(rounding mode) {
  require(mode != rounding::stochastic,
          "mixprec::convert_n: rounding::stochastic needs random bits; call mixprec::convert_n_stochastic(src, n, "
          "dst, seed, offset) instead");
}

// The rounding of convert_n (not stochastic: it has no random bits) and its
// saturation must be enumerators.
inline void require_rounding_and_saturation(rounding mode, saturation policy) {
  reject_stochastic(mode);
  require(is_valid(mode), "mixprec::convert_n: rounding value ", static_cast<int>(mode),
          " is not a mixprec::rounding enumerator; pass rounding::nearest_even, toward_zero, upward or downward");
  require_saturation("mixprec::convert_n", policy);
}

// The conversion on `path`, for arguments already checked.
template <class T>
void encode_on_path(const float* src, std::size_t n, T* dst, rounding mode, saturation policy, simd_path path) {
#if MIXPREC_HOST_SIMD
  using F = typename T::format;
  if constexpr (has_vector_encoder<F>::value) if (path != simd_path::portable) {
    const bool finite = policy == saturation::finite;
    switch (mode) {
      case rounding::nearest_even:
        return finite ? encode_simd<F, rounding::nearest_even, saturation::finite>(path, src, n, dst)
                      : encode_simd<F, rounding::nearest_even, saturation::none>(path, src, n, dst);
      case rounding::toward_zero:
        return finite ? encode_simd<F, rounding::toward_zero, saturation::finite>(path, src, n, dst)
                      : encode_simd<F, rounding::toward_zero, saturation::none>(path, src, n, dst);
      default: break;  // upward, downward: the engine, element by element
    }
  }
#else
  (void)path;
#endif
  encode_portable(src, n, dst, mode, policy);
}

template <class T>
void encode_dispatch(const float* src, std::size_t n, T* dst, rounding mode, saturation policy, simd_path path) {
  require_arrays("mixprec::convert_n", src, array_bytes(n, sizeof(float)), dst, array_bytes(n, sizeof(T)), n);
  require_rounding_and_saturation(mode, policy);
  if (n == 0) return;
  encode_on_path(src, n, dst, mode, policy, path);
}

template <class T>
void decode_dispatch(const T* src, std::size_t n, float* dst, simd_path path) {
  require_arrays("mixprec::convert_n", src, array_bytes(n, sizeof(T)), dst, array_bytes(n, sizeof(float)), n);
  if (n == 0) return;
#if MIXPREC_HOST_SIMD
  if constexpr (has_vector_decoder<typename T::format>::value) {
    if (path == simd_path::avx512) return decode_avx512<typename T::format>(src, n, dst);
    if (path == simd_path::avx2) return decode_avx2<typename T::format>(src, n, dst);
  }
#else
  (void)path;
#endif
  decode_portable(src, n, dst);
}

}  // namespace detail
}  // namespace host

/// float[n] -> T[n], each element as convert<T>(src[i], mode, policy), on the
/// fastest path this CPU supports.
/// @throws mixprec::error, before writing anything, for a null array with
///         n > 0, arrays that overlap or do not fit in the address space with
///         n elements, rounding::stochastic (use convert_n_stochastic), and a
///         mode or policy that is no enumerator.
/// float[n] -> T[n], each element as convert<T>(src[i], mode, policy). The
/// fastest path this CPU supports; rounding::stochastic is rejected (use
/// convert_n_stochastic).
///
/// n counts elements. \throws mixprec::error when n > 0 and src or dst is null, when src
/// and dst overlap, or when mode is rounding::stochastic.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const float* src, std::size_t n, T* dst, rounding mode = rounding::nearest_even,
               saturation policy = T::default_saturation) {
  host::detail::encode_dispatch(src, n, dst, mode, policy, host::best_simd_path());
}

/// The same on a given path. Modes other than nearest_even and toward_zero use
/// the engine on every path.
/// @throws mixprec::error as above, and if this CPU cannot run `path`.
/// The same on a given path; mixprec::error if this CPU cannot run it. Modes
/// other than nearest_even and toward_zero use the engine on every path.
/// \throws mixprec::error when `path` is not supported here, and as convert_n above.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const float* src, std::size_t n, T* dst, rounding mode, saturation policy, host::simd_path path) {
  host::require_supported(path, "mixprec::convert_n");
  host::detail::encode_dispatch(src, n, dst, mode, policy, path);
}

/// T[n] -> float[n], exactly, each element as static_cast<float>(src[i]).
/// @throws mixprec::error, before writing anything, for a null array with
///         n > 0 or arrays that overlap or do not fit in the address space.
/// \throws mixprec::error when n > 0 and src or dst is null, or when src and dst overlap.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const T* src, std::size_t n, float* dst) {
  host::detail::decode_dispatch(src, n, dst, host::best_simd_path());
}

/// The same on a given path.
/// @throws mixprec::error as above, and if this CPU cannot run `path`.
/// T[n] -> float[n] on a given path (same bits on every path).
/// \throws mixprec::error when `path` is not supported here, and as convert_n above.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const T* src, std::size_t n, float* dst, host::simd_path path) {
  host::require_supported(path, "mixprec::convert_n");
  host::detail::decode_dispatch(src, n, dst, path);
}

/// float[n] -> T[n] with stochastic rounding: element i is
/// convert_stochastic<T>(src[i], stochastic_rounding_bits(seed, offset, i), policy),
/// so a call gives the same bits as the scalar loop, on the host and on the
/// device, whatever the chunking: advance `offset` by n between calls to
/// continue one stream.
/// @throws mixprec::error, before writing anything, for a null array with
///         n > 0, overlapping arrays or arrays beyond the address space, and
///         a policy that is no enumerator.
///
/// Scalar engine only (no SIMD path). \throws mixprec::error when n > 0 and src or dst
/// is null, or when src and dst overlap.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n_stochastic(const float* src, std::size_t n, T* dst, std::uint64_t seed, std::uint64_t offset,
                          saturation policy = T::default_saturation) {
  host::detail::require_arrays("mixprec::convert_n_stochastic", src, host::detail::array_bytes(n, sizeof(float)), dst,
                               host::detail::array_bytes(n, sizeof(T)), n);
  host::detail::require_saturation("mixprec::convert_n_stochastic", policy);
  for (std::size_t i = 0; i < n; ++i)
    dst[i] = T::from_bits(engine::encode<typename T::format>(src[i], rounding::stochastic, policy,
                                                             stochastic_rounding_bits(seed, offset, i)));
}

// ---- Packed FP4: two float4_e2m1 codes per byte ---------------------------
// Element i of the n goes to byte i / 2, the low nibble for even i (CUDA's
// __nv_fp4x2_e2m1 and PyTorch's float4_e2m1fn_x2 order). An odd n leaves the
// last byte's high nibble 0 (+0). Encoding runs on the vector encoder where
// the mode has one (about 15x the scalar engine on random data here), the
// packing of nibbles is scalar; decoding is a look-up in the table of the 16
// codes.

namespace host {
namespace detail {

// The number of bytes n packed FP4 codes occupy, without overflow.
constexpr std::size_t packed_fp4_bytes(std::size_t n) noexcept { return n / 2 + n % 2; }

template <class CodeOf>
void pack_fp4(std::size_t n, float4_e2m1x2* dst, CodeOf&& code_of) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    dst[i / 2] = float4_e2m1x2(float4_e2m1::from_bits(code_of(i)), float4_e2m1::from_bits(code_of(i + 1)));
  if (n % 2 != 0) dst[n / 2] = float4_e2m1x2(float4_e2m1::from_bits(code_of(n - 1)), float4_e2m1::from_bits(0));
}

}  // namespace detail
}  // namespace host

namespace host {
namespace detail {

// Packs n FP4 codes: the elements are encoded a chunk at a time into
// float4_e2m1 bytes on `path` (the vector encoder for nearest_even and
// toward_zero), then two per byte.
inline void encode_packed_fp4(const float* src, std::size_t n, float4_e2m1x2* dst, rounding mode, saturation policy,
                              simd_path path) {
  require_arrays("mixprec::convert_n", src, array_bytes(n, sizeof(float)), dst, packed_fp4_bytes(n), n);
  require_rounding_and_saturation(mode, policy);
  constexpr std::size_t chunk = 512;  // even, so every chunk but the last packs whole pairs
  float4_e2m1 codes[chunk];
  for (std::size_t begin = 0; begin < n; begin += chunk) {
    const std::size_t count = n - begin < chunk ? n - begin : chunk;
    encode_on_path(src + begin, count, codes, mode, policy, path);
    pack_fp4(count, dst + begin / 2, [&codes](std::size_t i) { return codes[i].bits(); });
  }
}

}  // namespace detail
}  // namespace host

/// float[n] -> n FP4 (E2M1) codes packed two per byte into dst[(n + 1) / 2]:
/// element i is convert<float4_e2m1>(src[i], mode, policy), stored in the low
/// nibble of dst[i / 2] for even i and the high nibble for odd i; an odd n
/// leaves the last high nibble 0. FP4 saturates under either policy.
/// nearest_even and toward_zero run on the CPU's best SIMD path.
/// Throws mixprec::error, before writing anything, for a null pointer with
/// n > 0, overlapping arrays, rounding::stochastic (use
/// convert_n_stochastic), or a mode or policy that is no enumerator.
inline void convert_n(const float* src, std::size_t n, float4_e2m1x2* dst, rounding mode = rounding::nearest_even,
                      saturation policy = float4_e2m1::default_saturation) {
  host::detail::encode_packed_fp4(src, n, dst, mode, policy, host::best_simd_path());
}

/// The same on a given path (tests and benchmarks use it).
/// Throws mixprec::error as above, and when this CPU cannot run `path`.
inline void convert_n(const float* src, std::size_t n, float4_e2m1x2* dst, rounding mode, saturation policy,
                      host::simd_path path) {
  host::require_supported(path, "mixprec::convert_n");
  host::detail::encode_packed_fp4(src, n, dst, mode, policy, path);
}

/// n FP4 codes packed two per byte (src[(n + 1) / 2], element 0 in the low
/// nibble) -> float[n], exactly. Throws mixprec::error, before writing
/// anything, for a null pointer with n > 0 or overlapping arrays.
inline void convert_n(const float4_e2m1x2* src, std::size_t n, float* dst) {
  host::detail::require_arrays("mixprec::convert_n", src, host::detail::packed_fp4_bytes(n), dst,
                               host::detail::array_bytes(n, sizeof(float)), n);
  for (std::size_t i = 0; i < n; ++i) {
    const float4_e2m1 element = i % 2 == 0 ? src[i / 2].element0() : src[i / 2].element1();
    dst[i] = host::detail::decode_code<formats::e2m1>(element.bits());
  }
}

/// float[n] -> n packed FP4 codes with stochastic rounding: element i is
/// convert_stochastic<float4_e2m1>(src[i], stochastic_rounding_bits(seed,
/// offset, i), policy), packed as convert_n does. Throws mixprec::error,
/// before writing anything, for a null pointer with n > 0, overlapping
/// arrays, or a policy that is no enumerator.
inline void convert_n_stochastic(const float* src, std::size_t n, float4_e2m1x2* dst, std::uint64_t seed,
                                 std::uint64_t offset, saturation policy = float4_e2m1::default_saturation) {
  host::detail::require_arrays("mixprec::convert_n_stochastic", src, host::detail::array_bytes(n, sizeof(float)), dst,
                               host::detail::packed_fp4_bytes(n), n);
  host::detail::require_saturation("mixprec::convert_n_stochastic", policy);
  host::detail::pack_fp4(n, dst, [&](std::size_t i) {
    return engine::encode<formats::e2m1>(src[i], rounding::stochastic, policy, stochastic_rounding_bits(seed, offset, i));
  });
}

}  // namespace mixprec
