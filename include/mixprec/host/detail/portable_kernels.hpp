// mixprec/host/detail/portable_kernels.hpp — convert_n's portable path: the
// scalar engine element by element, and the decode tables of the formats of at
// most 8 bits. Every machine runs it; the SIMD kernels fall back to it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec {
namespace host {
namespace detail {

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

}  // namespace detail
}  // namespace host
}  // namespace mixprec
