// mixprec/core/mxcsr.hpp — the host's SSE control and status register
// (MXCSR): its rounding control and its DAZ and FTZ bits, which change what
// float code computes on the host (core/exact_float.hpp explains how the
// library's rules stay independent of them) and which the GPU never sees.
// Read and written with stmxcsr/ldmxcsr on x86-64 with GCC or Clang; where
// there is no MXCSR to reach (another host, the device), has_mxcsr is false
// and the functions do nothing.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__)
#define MIXPREC_HAS_MXCSR 1
#else
#define MIXPREC_HAS_MXCSR 0
#endif

namespace mixprec {
namespace detail {

constexpr bool has_mxcsr = MIXPREC_HAS_MXCSR != 0;

constexpr std::uint32_t mxcsr_denormals_are_zero = 0x0040u;  // DAZ, bit 6
constexpr std::uint32_t mxcsr_flush_to_zero = 0x8000u;       // FTZ, bit 15
constexpr std::uint32_t mxcsr_rounding_control = 0x6000u;    // bits 13-14, 0 = to nearest

// MXCSR's value (0 where has_mxcsr is false).
inline std::uint32_t read_mxcsr() noexcept {
  std::uint32_t control = 0;
#if MIXPREC_HAS_MXCSR
  __asm__ volatile("stmxcsr %0" : "=m"(control));
#endif
  return control;
}

// Sets MXCSR to `control` (nothing where has_mxcsr is false).
inline void write_mxcsr(std::uint32_t control) noexcept {
#if MIXPREC_HAS_MXCSR
  __asm__ volatile("ldmxcsr %0" : : "m"(control));
#else
  (void)control;
#endif
}

}  // namespace detail
}  // namespace mixprec
