// mixprec/host/detail/avx512_kernels.hpp — convert_n's AVX-512 (F, BW, VL)
// kernels: the vector engine (host/detail/vector_engine.hpp) on 16 lanes of 32
// bits or 32 of 16, compiled for AVX-512 by function attributes and chosen at
// run time (host/cpu_features.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/vector_engine.hpp"

#if MIXPREC_HOST_SIMD
#include <immintrin.h>

namespace mixprec {
namespace host {
namespace detail {

// ---- AVX-512 (F, BW, VL): 16 lanes of 32 bits or 32 of 16 -------------------
// Tails run the same code under a lane mask; masked loads do not touch memory
// outside the arrays.


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
}  // namespace detail
}  // namespace host
}  // namespace mixprec

#endif  // MIXPREC_HOST_SIMD
