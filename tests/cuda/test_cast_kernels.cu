// The cast kernels instantiated for the GPU tests (declarations and meaning in
// cast_kernels.hpp): a switch from element_type to the template arguments.
#include "cuda/cast_kernels.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/cuda/cast.hpp"

namespace mixprec_test {

void device_quantize(element_type source, element_type target, const void* x, std::size_t n, const float* scale,
                     void* out, float* amax, const mixprec::quantize_options& o, cudaStream_t stream) {
  with_source(source, [&](auto s) {
    using S = decltype(s);
    with_fp8(target, [&](auto t) {
      using T = decltype(t);
      mixprec::cuda::quantize(static_cast<const S*>(x), n, scale, static_cast<T*>(out), amax, o, stream);
    });
  });
}

void device_quantize_transpose(element_type source, element_type target, const void* x, std::int64_t rows,
                               std::int64_t cols, const float* scale, void* out, void* out_transposed, float* amax,
                               const mixprec::quantize_options& o, cudaStream_t stream) {
  with_source(source, [&](auto s) {
    using S = decltype(s);
    with_fp8(target, [&](auto t) {
      using T = decltype(t);
      mixprec::cuda::quantize(static_cast<const S*>(x), rows, cols, scale, static_cast<T*>(out),
                              static_cast<T*>(out_transposed), amax, o, stream);
    });
  });
}

void device_quantize_blockwise(element_type source, element_type target, const void* x, std::int64_t rows,
                               std::int64_t cols, scale_mode mode, void* out, float* scale_inv, void* out_transposed,
                               float* scale_inv_transposed, float* amax, const mixprec::quantize_options& o,
                               cudaStream_t stream) {
  with_source(source, [&](auto s) {
    using S = decltype(s);
    with_fp8(target, [&](auto t) {
      using T = decltype(t);
      mixprec::cuda::quantize_blockwise(static_cast<const S*>(x), rows, cols, mode, static_cast<T*>(out), scale_inv,
                                        static_cast<T*>(out_transposed), scale_inv_transposed, amax, o, stream);
    });
  });
}

void device_dequantize(element_type source, element_type target, const void* q, std::size_t n,
                       const float* scale_inv, void* out, cudaStream_t stream) {
  with_fp8(source, [&](auto s) {
    using S = decltype(s);
    with_source(target, [&](auto t) {
      using T = decltype(t);
      mixprec::cuda::dequantize(static_cast<const S*>(q), n, scale_inv, static_cast<T*>(out), stream);
    });
  });
}

void device_dequantize_blockwise(element_type source, element_type target, const void* q, std::int64_t rows,
                                 std::int64_t cols, scale_mode mode, const float* scale_inv, void* out,
                                 cudaStream_t stream) {
  with_fp8(source, [&](auto s) {
    using S = decltype(s);
    with_source(target, [&](auto t) {
      using T = decltype(t);
      mixprec::cuda::dequantize_blockwise(static_cast<const S*>(q), rows, cols, mode, scale_inv, static_cast<T*>(out),
                                          stream);
    });
  });
}

void device_amax(element_type source, const void* x, std::size_t n, float* amax, cudaStream_t stream) {
  with_source(source, [&](auto s) {
    using S = decltype(s);
    mixprec::cuda::amax(static_cast<const S*>(x), n, amax, stream);
  });
}

}  // namespace mixprec_test
