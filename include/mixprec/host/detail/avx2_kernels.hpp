// mixprec/host/detail/avx2_kernels.hpp — convert_n's AVX2 kernels: the vector
// engine (host/detail/vector_engine.hpp) on 8 lanes of 32 bits, compiled for
// AVX2 by function attributes and chosen at run time (host/cpu_features.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/vector_engine.hpp"

#if MIXPREC_HOST_SIMD
#include <immintrin.h>

namespace mixprec {
namespace host {
namespace detail {

// ---- AVX2: 8 lanes, blocks of 32 (8-bit) or 16 (16-bit) elements -----------
// Codes are packed with unsigned saturation, which keeps them (all are below
// 2^16, and below 2^8 for 8-bit formats). A tail shorter than a block goes
// through a zero-padded copy.

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

}  // namespace detail
}  // namespace host
}  // namespace mixprec

#endif  // MIXPREC_HOST_SIMD
