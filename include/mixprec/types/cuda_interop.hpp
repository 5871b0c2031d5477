// mixprec/types/cuda_interop.hpp — zero-cost conversions between mixprec's
// value types and CUDA's: __half <-> float16, __nv_bfloat16 <-> bfloat16,
// __nv_fp8_e4m3 <-> float8_e4m3, __nv_fp8_e5m2 <-> float8_e5m2.
//
// Each pair holds the same format in the same bits, so a conversion copies
// the storage and changes no value, in either direction and implicitly:
//
//   #include <mixprec/types/cuda_interop.hpp>
//   __half h = mixprec::float16(1.5f);   mixprec::float16 x = h;
//
// CUDA's headers compile with nvcc and, for host code, with g++ and clang++;
// they must be on the include path (e.g. /usr/local/cuda/include). Include
// this header before any code that asks whether a CUDA type converts to a
// mixprec type, so the specialisations below are seen first.
//
// The *_raw structs (__half_raw, __nv_bfloat16_raw) are deliberately not
// interoperable: __half has assignment operators from both __half and
// __half_raw, so with both conversions `h = x` would be ambiguous. Go
// through __half instead.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec {

template <>
struct foreign_float_traits<__half> {
  using value_type = float16;
  MIXPREC_HOST_DEVICE static std::uint16_t to_bits(const __half& value) noexcept {
    return static_cast<__half_raw>(value).x;
  }
  MIXPREC_HOST_DEVICE static __half from_bits(std::uint16_t bits) noexcept {
    __half_raw raw;
    raw.x = bits;
    return __half(raw);
  }
};

template <>
struct foreign_float_traits<__nv_bfloat16> {
  using value_type = bfloat16;
  MIXPREC_HOST_DEVICE static std::uint16_t to_bits(const __nv_bfloat16& value) noexcept {
    return static_cast<__nv_bfloat16_raw>(value).x;
  }
  MIXPREC_HOST_DEVICE static __nv_bfloat16 from_bits(std::uint16_t bits) noexcept {
    __nv_bfloat16_raw raw;
    raw.x = bits;
    return __nv_bfloat16(raw);
  }
};

// CUDA's FP8 structs expose their storage as the public member __x.
template <>
struct foreign_float_traits<__nv_fp8_e4m3> {
  using value_type = float8_e4m3;
  MIXPREC_HOST_DEVICE static std::uint8_t to_bits(const __nv_fp8_e4m3& value) noexcept { return value.__x; }
  MIXPREC_HOST_DEVICE static __nv_fp8_e4m3 from_bits(std::uint8_t bits) noexcept {
    __nv_fp8_e4m3 value;
    value.__x = bits;
    return value;
  }
};

template <>
struct foreign_float_traits<__nv_fp8_e5m2> {
  using value_type = float8_e5m2;
  MIXPREC_HOST_DEVICE static std::uint8_t to_bits(const __nv_fp8_e5m2& value) noexcept { return value.__x; }
  MIXPREC_HOST_DEVICE static __nv_fp8_e5m2 from_bits(std::uint8_t bits) noexcept {
    __nv_fp8_e5m2 value;
    value.__x = bits;
    return value;
  }
};

}  // namespace mixprec
