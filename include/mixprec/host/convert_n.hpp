/// \file
/// mixprec/host/convert_n.hpp — bulk conversion between float arrays and
/// arrays of a mixprec type.
///
/// ~~~~
///   convert_n(src, n, dst, rounding, saturation)   float[n] -> T[n]
///   convert_n(src, n, dst)                         T[n] -> float[n], exact
///   convert_n_stochastic(src, n, dst, seed, offset, saturation)
///   convert_n(src, n, float4_e2m1x2* dst, ...)     float[n] -> n FP4 codes, two per byte
///   convert_n(const float4_e2m1x2* src, n, dst)    n packed FP4 codes -> float[n]
/// ~~~~
///
/// Every element gets exactly the bits of the scalar conversion
/// (mixprec::convert<T>, static_cast<float>, convert_stochastic), on every
/// input. nearest_even and toward_zero run as AVX-512 or AVX2 code where the
/// CPU has it, chosen at run time (mixprec/host/cpu_features.hpp), so no
/// -march flag is needed; the other modes, the microscaling formats (FP6, FP4,
/// E8M0: the vector engine covers the IEEE-like, E4M3FN and fnuz encodings),
/// and every machine without those instruction sets, use the scalar engine
/// element by element. The overloads taking a host::simd_path run a given path
/// (tests and benchmarks use them).
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
///
/// The kernels live in host/detail/: portable_kernels.hpp (the scalar engine),
/// avx512_kernels.hpp and avx2_kernels.hpp (the vector engine of
/// vector_engine.hpp on each instruction set), dispatch.hpp (which kernel runs),
/// checks.hpp (the argument checks) and packed_fp4.hpp (two FP4 codes per byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/checks.hpp"
#include "mixprec/host/detail/dispatch.hpp"
#include "mixprec/host/detail/packed_fp4.hpp"
#include "mixprec/host/detail/portable_kernels.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

namespace mixprec {

/// float[n] -> T[n], each element as convert<T>(src[i], mode, policy), on the
/// fastest path this CPU supports; n counts elements.
/// \throws mixprec::error, before writing anything, for a null array with
///         n > 0, arrays that overlap or do not fit in the address space with
///         n elements, rounding::stochastic (use convert_n_stochastic), and a
///         mode or policy that is no enumerator.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const float* src, std::size_t n, T* dst, rounding mode = rounding::nearest_even,
               saturation policy = T::default_saturation) {
  host::detail::encode_dispatch(src, n, dst, mode, policy, host::best_simd_path());
}

/// The same on a given path. Modes other than nearest_even and toward_zero use
/// the engine on every path.
/// \throws mixprec::error as above, and when this CPU cannot run `path`.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const float* src, std::size_t n, T* dst, rounding mode, saturation policy, host::simd_path path) {
  host::require_supported(path, "mixprec::convert_n");
  host::detail::encode_dispatch(src, n, dst, mode, policy, path);
}

/// T[n] -> float[n], exactly, each element as static_cast<float>(src[i]).
/// \throws mixprec::error, before writing anything, for a null array with
///         n > 0 or arrays that overlap or do not fit in the address space.
template <class T, std::enable_if_t<is_basic_float<T>::value, int> = 0>
void convert_n(const T* src, std::size_t n, float* dst) {
  host::detail::decode_dispatch(src, n, dst, host::best_simd_path());
}

/// T[n] -> float[n] on a given path (same bits on every path).
/// \throws mixprec::error as above, and when this CPU cannot run `path`.
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
/// Scalar engine only (no SIMD path).
/// \throws mixprec::error, before writing anything, for a null array with
///         n > 0, overlapping arrays or arrays beyond the address space, and
///         a policy that is no enumerator.
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
