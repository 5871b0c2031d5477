/// \file
/// mixprec/host/cpu_features.hpp — which SIMD paths this machine can run.
///
/// mixprec's bulk conversions (mixprec/host/convert_n.hpp) carry an AVX2 and
/// an AVX-512 version of every kernel, compiled for those instruction sets
/// with function attributes, and pick one at run time. The library therefore
/// needs no -march flag: a binary built for plain x86-64 uses AVX-512 where the
/// CPU (and the operating system) supports it, and the portable path on any
/// other machine. Tests and benchmarks can ask for a path by name.
#pragma once

#include <string>
#include <vector>

#include "mixprec/core/error.hpp"

/// \def MIXPREC_HOST_SIMD
/// MIXPREC_HOST_SIMD is 1 where the x86 kernels are compiled: GCC or Clang (or
/// a compiler built on them) targeting x86, outside nvcc's host pass. Define it
/// as 0 to build the portable path only.
#if !defined(MIXPREC_HOST_SIMD)
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(__CUDACC__) && !defined(__INTEL_COMPILER)
#define MIXPREC_HOST_SIMD 1
#else
#define MIXPREC_HOST_SIMD 0
#endif
#endif

namespace mixprec {
/// Host bulk conversion (convert_n) and its run-time SIMD dispatch.
namespace host {

/// The instruction sets a bulk conversion can run on.
enum class simd_path {
  portable,  ///< the scalar engine, element by element: every machine
  avx2,      ///< AVX2 (Haswell, Zen and later)
  avx512,    ///< AVX-512 F + BW + VL (Skylake-SP, Ice Lake, Zen 4 and later)
};

/// The enumerator's name: "portable", "avx2" or "avx512".
inline const char* to_string(simd_path path) noexcept {
  switch (path) {
    case simd_path::portable: return "portable";
    case simd_path::avx2: return "avx2";
    case simd_path::avx512: return "avx512";
  }
  return "unknown";
}

namespace detail {

struct cpu_support {
  bool avx2 = false;
  bool avx512 = false;
};

inline cpu_support detect_cpu_support() noexcept {
  cpu_support support;
#if MIXPREC_HOST_SIMD
  // __builtin_cpu_init makes the answers valid even before static
  // initialisation has run; the runtime checks that the operating system
  // saves the wider registers (XCR0), not just that the CPU has them.
  __builtin_cpu_init();
  support.avx2 = __builtin_cpu_supports("avx2");
  support.avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#endif
  return support;
}

inline const cpu_support& cpu() noexcept {
  static const cpu_support support = detect_cpu_support();
  return support;
}

}  // namespace detail

/// Whether this build and this CPU can run `path`.
///
/// Checks the CPU and that the operating system saves the wider registers; always false
/// for avx2 and avx512 when MIXPREC_HOST_SIMD is 0.
inline bool is_supported(simd_path path) noexcept {
  switch (path) {
    case simd_path::portable: return true;
    case simd_path::avx2: return detail::cpu().avx2;
    case simd_path::avx512: return detail::cpu().avx512;
  }
  return false;
}

/// Every path this machine can run, portable first, fastest last.
inline std::vector<simd_path> available_simd_paths() {
  std::vector<simd_path> paths;
  for (simd_path path : {simd_path::portable, simd_path::avx2, simd_path::avx512})
    if (is_supported(path)) paths.push_back(path);
  return paths;
}

/// The path convert_n uses when none is named: avx512, else avx2, else portable.
inline simd_path best_simd_path() noexcept {
  if (is_supported(simd_path::avx512)) return simd_path::avx512;
  if (is_supported(simd_path::avx2)) return simd_path::avx2;
  return simd_path::portable;
}

/// Throws mixprec::error when `path` cannot run here.
///
/// `caller` starts the message. \throws mixprec::error when is_supported(path) is false.
inline void require_supported(simd_path path, const char* caller) {
  if (is_supported(path)) return;
  std::string available;
  for (simd_path p : available_simd_paths()) available += std::string(available.empty() ? "" : ", ") + to_string(p);
  require(false, caller, ": simd_path::", to_string(path), " (", static_cast<int>(path),
          ") is not supported by this CPU or build (available: ", available,
          "); pick one of mixprec::host::available_simd_paths()");
}

}  // namespace host
}  // namespace mixprec
