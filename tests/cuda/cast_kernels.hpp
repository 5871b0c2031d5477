// tests/cuda/cast_kernels.hpp — the cast kernels of mixprec/cuda/cast.hpp
// behind type-erased entry points (test_cast_kernels.cu), so the Catch2 tests
// in test_cast_kernels.cpp are plain C++. Element types are named by
// gemm::element_type; pointers are device pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/types.hpp"

namespace mixprec_test {

using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

// Calls visit(T{}) with the C++ type of a source (float32, bfloat16, float16)
// or FP8 type.
template <class Visitor>
void with_source(element_type type, Visitor visit) {
  switch (type) {
    case element_type::float32: return visit(float{});
    case element_type::bfloat16: return visit(mixprec::bfloat16{});
    case element_type::float16: return visit(mixprec::float16{});
    default: throw mixprec::error("cast tests: unsupported source type");
  }
}
template <class Visitor>
void with_fp8(element_type type, Visitor visit) {
  switch (type) {
    case element_type::float8_e4m3: return visit(mixprec::float8_e4m3{});
    case element_type::float8_e5m2: return visit(mixprec::float8_e5m2{});
    default: throw mixprec::error("cast tests: unsupported FP8 type");
  }
}

// Sources: float32, bfloat16, float16. Targets: float8_e4m3, float8_e5m2.
void device_quantize(element_type source, element_type target, const void* x, std::size_t n, const float* scale,
                     void* out, float* amax, const mixprec::quantize_options& o, cudaStream_t stream = nullptr);
void device_quantize_transpose(element_type source, element_type target, const void* x, std::int64_t rows,
                               std::int64_t cols, const float* scale, void* out, void* out_transposed, float* amax,
                               const mixprec::quantize_options& o, cudaStream_t stream = nullptr);
void device_quantize_blockwise(element_type source, element_type target, const void* x, std::int64_t rows,
                               std::int64_t cols, scale_mode mode, void* out, float* scale_inv, void* out_transposed,
                               float* scale_inv_transposed, float* amax, const mixprec::quantize_options& o,
                               cudaStream_t stream = nullptr);
// Sources: float8_e4m3, float8_e5m2. Targets: float32, bfloat16, float16.
void device_dequantize(element_type source, element_type target, const void* q, std::size_t n,
                       const float* scale_inv, void* out, cudaStream_t stream = nullptr);
void device_dequantize_blockwise(element_type source, element_type target, const void* q, std::int64_t rows,
                                 std::int64_t cols, scale_mode mode, const float* scale_inv, void* out,
                                 cudaStream_t stream = nullptr);
// Sources: float32, bfloat16, float16.
void device_amax(element_type source, const void* x, std::size_t n, float* amax, cudaStream_t stream = nullptr);

}  // namespace mixprec_test
