// The block-scaled cast kernels instantiated for the GPU tests (declarations
// and meaning in block_cast_kernels.hpp): only the pairs the tests use.
#include "cuda/block_cast_kernels.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/cuda/block_cast.hpp"

namespace mixprec_test {

void device_quantize_mx(mixprec::scalar_type source, mx_element element, const void* x, std::int64_t rows,
                        std::int64_t cols, void* out, void* scales, void* out_t, void* scales_t, float* amax,
                        const mixprec::mx_options& o, cudaStream_t stream) {
  using mixprec::float8_e8m0;
  const auto launch = [&](auto source_tag, auto element_tag) {
    using S = decltype(source_tag);
    using E = decltype(element_tag);
    mixprec::cuda::quantize_mx(static_cast<const S*>(x), rows, cols, static_cast<E*>(out),
                               static_cast<float8_e8m0*>(scales), static_cast<E*>(out_t),
                               static_cast<float8_e8m0*>(scales_t), amax, o, stream);
  };
  if (source == mixprec::scalar_type::float32) {
    with_mx_element(element, [&](auto e) { launch(float{}, e); });
  } else if (source == mixprec::scalar_type::bfloat16 && element == mx_element::float8_e4m3) {
    launch(mixprec::bfloat16{}, mixprec::float8_e4m3{});
  } else {
    throw mixprec::error("device_quantize_mx: not instantiated for this source / element pair");
  }
}

void device_quantize_nvfp4(mixprec::scalar_type source, const void* x, std::int64_t rows, std::int64_t cols,
                           void* out, void* scales, void* out_t, void* scales_t, float* amax, float* tensor_scale,
                           const mixprec::nvfp4_options& o, cudaStream_t stream) {
  using mixprec::float4_e2m1;
  using mixprec::float8_e4m3;
  const auto launch = [&](auto source_tag) {
    using S = decltype(source_tag);
    mixprec::cuda::quantize_nvfp4(static_cast<const S*>(x), rows, cols, static_cast<float4_e2m1*>(out),
                                  static_cast<float8_e4m3*>(scales), static_cast<float4_e2m1*>(out_t),
                                  static_cast<float8_e4m3*>(scales_t), amax, tensor_scale, o, stream);
  };
  if (source == mixprec::scalar_type::float32) {
    launch(float{});
  } else if (source == mixprec::scalar_type::bfloat16) {
    launch(mixprec::bfloat16{});
  } else {
    throw mixprec::error("device_quantize_nvfp4: not instantiated for this source type");
  }
}

void device_quantize_mx_packed(const float* x, std::int64_t rows, std::int64_t cols, void* out, void* scales,
                               void* out_t, void* scales_t, float* amax, const mixprec::mx_options& o,
                               cudaStream_t stream) {
  using mixprec::float4_e2m1x2;
  using mixprec::float8_e8m0;
  mixprec::cuda::quantize_mx(x, rows, cols, static_cast<float4_e2m1x2*>(out), static_cast<float8_e8m0*>(scales),
                             static_cast<float4_e2m1x2*>(out_t), static_cast<float8_e8m0*>(scales_t), amax, o, stream);
}

void device_quantize_nvfp4_packed(const float* x, std::int64_t rows, std::int64_t cols, void* out, void* scales,
                                  void* out_t, void* scales_t, float* amax, float* tensor_scale,
                                  const mixprec::nvfp4_options& o, cudaStream_t stream) {
  using mixprec::float4_e2m1x2;
  using mixprec::float8_e4m3;
  mixprec::cuda::quantize_nvfp4(x, rows, cols, static_cast<float4_e2m1x2*>(out), static_cast<float8_e4m3*>(scales),
                                static_cast<float4_e2m1x2*>(out_t), static_cast<float8_e4m3*>(scales_t), amax,
                                tensor_scale, o, stream);
}

}  // namespace mixprec_test
