// mixprec/types/cuda_interop.hpp — zero-cost conversions between mixprec's
// value types and CUDA's: __half <-> float16, __nv_bfloat16 <-> bfloat16,
// __nv_fp8_e4m3 <-> float8_e4m3, __nv_fp8_e5m2 <-> float8_e5m2,
// __nv_fp8_e8m0 <-> float8_e8m0, __nv_fp6_e2m3 <-> float6_e2m3,
// __nv_fp6_e3m2 <-> float6_e3m2, __nv_fp4_e2m1 <-> float4_e2m1 and
// __nv_fp4x2_e2m1 <-> float4_e2m1x2 (the same nibble order).
//
// Each pair holds the same format in the same bits, so a conversion copies
// the storage and changes no value, in either direction and implicitly:
//
//   #include <mixprec/types/cuda_interop.hpp>
//   __half h = mixprec::float16(1.5f);   mixprec::float16 x = h;
//
// CUDA's headers compile with nvcc and, for host code, with g++ and clang++;
// they must be on the include path (e.g. /usr/local/cuda/include); the FP4,
// FP6 and E8M0 types need CUDA 12.8 or later. Include
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
// CUDA 13.0's cuda_fp4.hpp leaves parameters unused, which -Wextra reports
// where CUDA's include directory is no system directory (as under nvcc).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <cuda_fp4.h>
#include <cuda_fp6.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#include <cuda_fp8.h>

#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

namespace mixprec {

namespace detail {

// CUDA's 16-bit types convert to and from their *_raw structs, whose member x
// holds the bits.
template <class Foreign, class Raw, class Value>
struct raw_struct_traits {
  using value_type = Value;
  MIXPREC_HOST_DEVICE static std::uint16_t to_bits(const Foreign& value) noexcept {
    return static_cast<Raw>(value).x;
  }
  MIXPREC_HOST_DEVICE static Foreign from_bits(std::uint16_t bits) noexcept {
    Raw raw;
    raw.x = bits;
    return Foreign(raw);
  }
};

// CUDA's FP8, FP6 and FP4 structs expose their storage byte as the public
// member __x (FP6 and FP4: the code in its low bits, as in mixprec).
template <class Foreign, class Value>
struct fp8_struct_traits {
  using value_type = Value;
  MIXPREC_HOST_DEVICE static std::uint8_t to_bits(const Foreign& value) noexcept { return value.__x; }
  MIXPREC_HOST_DEVICE static Foreign from_bits(std::uint8_t bits) noexcept {
    Foreign value;
    value.__x = bits;
    return value;
  }
};

}  // namespace detail

template <>
struct foreign_float_traits<__half> : detail::raw_struct_traits<__half, __half_raw, float16> {};
template <>
struct foreign_float_traits<__nv_bfloat16> : detail::raw_struct_traits<__nv_bfloat16, __nv_bfloat16_raw, bfloat16> {};
template <>
struct foreign_float_traits<__nv_fp8_e4m3> : detail::fp8_struct_traits<__nv_fp8_e4m3, float8_e4m3> {};
template <>
struct foreign_float_traits<__nv_fp8_e5m2> : detail::fp8_struct_traits<__nv_fp8_e5m2, float8_e5m2> {};
/// CUDA's E8M0 scale type holds float8_e8m0's bits.
template <>
struct foreign_float_traits<__nv_fp8_e8m0> : detail::fp8_struct_traits<__nv_fp8_e8m0, float8_e8m0> {};
/// CUDA's FP6 E2M3 type holds float6_e2m3's bits.
template <>
struct foreign_float_traits<__nv_fp6_e2m3> : detail::fp8_struct_traits<__nv_fp6_e2m3, float6_e2m3> {};
/// CUDA's FP6 E3M2 type holds float6_e3m2's bits.
template <>
struct foreign_float_traits<__nv_fp6_e3m2> : detail::fp8_struct_traits<__nv_fp6_e3m2, float6_e3m2> {};
/// CUDA's FP4 E2M1 type holds float4_e2m1's bits.
template <>
struct foreign_float_traits<__nv_fp4_e2m1> : detail::fp8_struct_traits<__nv_fp4_e2m1, float4_e2m1> {};
/// CUDA's packed FP4 pair holds float4_e2m1x2's byte (element 0 = .x in the low nibble).
template <>
struct foreign_float_traits<__nv_fp4x2_e2m1> : detail::fp8_struct_traits<__nv_fp4x2_e2m1, float4_e2m1x2> {};

}  // namespace mixprec
