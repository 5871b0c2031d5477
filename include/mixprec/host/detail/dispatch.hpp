// mixprec/host/detail/dispatch.hpp — which kernel runs a conversion: the
// vector engine's AVX-512 or AVX2 kernel where the format and mode have one
// and the path allows it, the portable path otherwise; arguments checked first.
#pragma once

#include <cstddef>

#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/avx2_kernels.hpp"
#include "mixprec/host/detail/avx512_kernels.hpp"
#include "mixprec/host/detail/checks.hpp"
#include "mixprec/host/detail/portable_kernels.hpp"

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

#if MIXPREC_HOST_SIMD

template <class Format, rounding Mode, saturation Policy>
void encode_simd(simd_path path, const float* src, std::size_t n, void* dst) {
  if (path == simd_path::avx512)
    encode_avx512<Format, Mode, Policy>(src, n, dst);
  else
    encode_avx2<Format, Mode, Policy>(src, n, dst);
}

#endif  // MIXPREC_HOST_SIMD

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
}  // namespace mixprec
