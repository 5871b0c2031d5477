// tests/cuda/block_cast_kernels.hpp — the block-scaled cast kernels of
// mixprec/cuda/block_cast.hpp behind type-erased entry points
// (test_block_cast.cu), so that the Catch2 tests in test_block_cast.cpp are
// plain C++. Only the instantiations the tests need exist (ptxas time): MX
// with float sources for every element type and bfloat16 sources for E4M3;
// NVFP4 with float and bfloat16 sources; packed FP4 pairs (MXFP4, NVFP4)
// with float sources. Pointers are device pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/types.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec_test {

/// The MX element types, named at run time.
enum class mx_element { float8_e4m3, float8_e5m2, float6_e2m3, float6_e3m2, float4_e2m1 };

/// Calls visit(T{}) with the C++ type of `element`.
template <class Visitor>
void with_mx_element(mx_element element, Visitor visit) {
  switch (element) {
    case mx_element::float8_e4m3: return visit(mixprec::float8_e4m3{});
    case mx_element::float8_e5m2: return visit(mixprec::float8_e5m2{});
    case mx_element::float6_e2m3: return visit(mixprec::float6_e2m3{});
    case mx_element::float6_e3m2: return visit(mixprec::float6_e3m2{});
    case mx_element::float4_e2m1: return visit(mixprec::float4_e2m1{});
  }
  throw mixprec::error("block cast tests: unknown MX element type");
}

/// The name of `element`, for test messages.
inline const char* to_string(mx_element element) {
  switch (element) {
    case mx_element::float8_e4m3: return "float8_e4m3";
    case mx_element::float8_e5m2: return "float8_e5m2";
    case mx_element::float6_e2m3: return "float6_e2m3";
    case mx_element::float6_e3m2: return "float6_e3m2";
    case mx_element::float4_e2m1: return "float4_e2m1";
  }
  return "?";
}

/// mixprec::cuda::quantize_mx with Source = `source` (float32, or bfloat16
/// with float8_e4m3 elements) and Element = `element` (float8_e4m3,
/// float8_e5m2, float6_e2m3, float6_e3m2, float4_e2m1).
void device_quantize_mx(mixprec::scalar_type source, mx_element element, const void* x, std::int64_t rows,
                        std::int64_t cols, void* out, void* scales, void* out_t, void* scales_t, float* amax,
                        const mixprec::mx_options& o, cudaStream_t stream = nullptr);

/// mixprec::cuda::quantize_nvfp4 with Source = `source` (float32 or bfloat16).
void device_quantize_nvfp4(mixprec::scalar_type source, const void* x, std::int64_t rows, std::int64_t cols,
                           void* out, void* scales, void* out_t, void* scales_t, float* amax, float* tensor_scale,
                           const mixprec::nvfp4_options& o, cudaStream_t stream = nullptr);

/// mixprec::cuda::quantize_mx with float32 sources and packed FP4 pairs
/// (Element = float4_e2m1x2): out and out_t hold lines · length / 2 bytes.
void device_quantize_mx_packed(const float* x, std::int64_t rows, std::int64_t cols, void* out, void* scales,
                               void* out_t, void* scales_t, float* amax, const mixprec::mx_options& o,
                               cudaStream_t stream = nullptr);

/// mixprec::cuda::quantize_nvfp4 with float32 sources and packed FP4 pairs
/// (Storage = float4_e2m1x2).
void device_quantize_nvfp4_packed(const float* x, std::int64_t rows, std::int64_t cols, void* out, void* scales,
                                  void* out_t, void* scales_t, float* amax, float* tensor_scale,
                                  const mixprec::nvfp4_options& o, cudaStream_t stream = nullptr);

}  // namespace mixprec_test
