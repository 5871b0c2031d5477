// mixprec/core/hardware_conversion.hpp — the device's conversion instructions,
// used by the engine only where they give exactly the engine's bits.
//
// Each instruction below implements one (format, rounding, saturation) case
// of the engine's rule, NaN included: PTX cvt returns the canonical NaN that
// the engine returns (0x7F / 0x7FFF), `.satfinite` maps ±inf and overflow to
// ±max like saturation::finite, and plain `.rn` to f16/bf16 overflows to ±inf
// like saturation::none. CUDA's own host fallbacks (cuda_fp8.hpp,
// cuda_fp16.hpp, cuda_bf16.hpp), which mirror these instructions, agree with
// the engine on all 2^32 inputs (tests/unit/test_conversion_exhaustive.cpp);
// tests/cuda/test_device_conversion.cpp checks the instructions themselves on
// all 2^32 inputs, and every code decoded. Define
// MIXPREC_NO_HARDWARE_CONVERSIONS to use the integer engine on the device too.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"

namespace mixprec {
namespace engine {
namespace detail {

#if MIXPREC_DEVICE_COMPILATION && !defined(MIXPREC_NO_HARDWARE_CONVERSIONS)
#define MIXPREC_HAS_HARDWARE_CONVERSIONS 1

// Sets `code` and returns true when the device has an instruction for this
// case; returns false to let the integer engine do it.
template <class To>
__device__ inline bool hardware_encode(float x, rounding mode, saturation policy, std::uint64_t& code) {
  (void)x, (void)mode, (void)policy, (void)code;
#if __CUDA_ARCH__ >= 890
  if (mode == rounding::nearest_even && policy == saturation::finite) {
    unsigned short pair = 0;
    if constexpr (std::is_same<To, formats::e4m3>::value) {
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(0.0f), "f"(x));
      code = pair & 0xFFu;
      return true;
    } else if constexpr (std::is_same<To, formats::e5m2>::value) {
      asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(0.0f), "f"(x));
      code = pair & 0xFFu;
      return true;
    }
  }
#endif
  if constexpr (std::is_same<To, formats::binary16>::value) {
    if (policy == saturation::none && (mode == rounding::nearest_even || mode == rounding::toward_zero)) {
      // IEEE overflow in both: rn gives ±inf; rz gives ±max for finite input
      // and keeps ±inf — exactly the engine's saturation::none.
      unsigned short half = 0;
      if (mode == rounding::nearest_even) {
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(half) : "f"(x));
      } else {
        asm("cvt.rz.f16.f32 %0, %1;" : "=h"(half) : "f"(x));
      }
      code = half;
      return true;
    }
  }
#if __CUDA_ARCH__ >= 800
  if constexpr (std::is_same<To, formats::bfloat16>::value) {
    if (policy == saturation::none && mode == rounding::nearest_even) {
      unsigned short bf16 = 0;
      asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(bf16) : "f"(x));
      code = bf16;
      return true;
    }
  }
#endif
  return false;
}

// Sets `float_bits` to the value of `code` and returns true when the device
// has an instruction for it: cvt.f32.f16 widens every float16 that is not a
// NaN exactly (subnormals included; .ftz applies to f32 operands only). NaN
// is left to the engine, which keeps the payload and makes it quiet.
template <class From>
__device__ inline bool hardware_decode(std::uint64_t code, std::uint32_t& float_bits) {
  (void)code, (void)float_bits;
  if constexpr (std::is_same<From, formats::binary16>::value) {
    if ((code & 0x7FFFu) > 0x7C00u) return false;
    float value = 0;
    asm("cvt.f32.f16 %0, %1;" : "=f"(value) : "h"(static_cast<unsigned short>(code)));
    float_bits = __float_as_uint(value);
    return true;
  }
  return false;
}
#else
#define MIXPREC_HAS_HARDWARE_CONVERSIONS 0
#endif

}  // namespace detail
}  // namespace engine
}  // namespace mixprec
