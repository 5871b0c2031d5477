/// \file
/// mixprec/cuda/detail/cast_elementwise_kernels.hpp — the 1-D kernels of
/// mixprec/cuda/cast.hpp: quantize with one per-tensor scale, amax, and
/// dequantize, each a grid-stride loop over 16-element vectors with a scalar
/// head and tail (span_plan). Their launchers are in cast_launch.hpp.
/// Internal (namespace mixprec::cuda::cast_detail): include mixprec/cuda/cast.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/cuda/detail/cast_device.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace cast_detail {

// Elements [0, head) and [head + 16·vectors, n) are scalar, the rest comes
// in 16-element vectors (see plan_vectors).
struct span_plan {
  std::size_t n, head, vectors;
  __host__ __device__ std::size_t tail_start() const { return head + vectors * vector_elements; }
  __host__ __device__ std::size_t scalar_count() const { return head + (n - tail_start()); }
  __host__ __device__ std::size_t scalar_index(std::size_t s) const { return s < head ? s : tail_start() + (s - head); }
};

template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_kernel(const Source* x, span_plan plan, scale_source source, Target* out, float* amax,
                    quantize_options o) {
  const float scale = resolve_scale<Target>(source, o);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::uint32_t largest = 0;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    const std::size_t first = plan.head + v * vector_elements;
    float value[vector_elements];
    load_values(x + first, true, vector_elements, value);
    largest = max(largest, largest_magnitude(value));
#pragma unroll
    for (int i = 0; i < vector_elements; ++i) value[i] *= scale;
    Target q[vector_elements];
    encode_values<Target, NearestFinite>(value, o, first, q);
    store_vector(out + first, q);
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride) {
    const std::size_t i = plan.scalar_index(s);
    const float value = cast::to_float(x[i]);
    largest = max(largest, cast::magnitude_bits(value));
    out[i] = cast::encode<Target>(value * scale, o, i);
  }
  publish_amax(amax, largest);
}

template <class Source>
__global__ void __launch_bounds__(block_threads) amax_kernel(const Source* x, span_plan plan, float* amax) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::uint32_t largest = 0;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    float value[vector_elements];
    load_values(x + plan.head + v * vector_elements, true, vector_elements, value);
    largest = max(largest, largest_magnitude(value));
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride)
    largest = max(largest, cast::magnitude_bits(cast::to_float(x[plan.scalar_index(s)])));
  publish_amax(amax, largest);
}

template <class Target, class Source>
__global__ void __launch_bounds__(block_threads)
    dequantize_kernel(const Source* q, span_plan plan, const float* scale_inv_pointer, Target* out) {
  const float scale_inv = scale_inv_pointer != nullptr ? *scale_inv_pointer : 1.0f;
  auto decode = [scale_inv](float value) -> Target {
    if constexpr (std::is_same<Target, float>::value) {
      return value * scale_inv;
    } else {
      return convert<Target>(value * scale_inv);
    }
  };
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    const std::size_t first = plan.head + v * vector_elements;
    float value[vector_elements];
    load_values(q + first, true, vector_elements, value);
    Target y[vector_elements];
#pragma unroll
    for (int i = 0; i < vector_elements; ++i) y[i] = decode(value[i]);
    store_vector(out + first, y);
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride) {
    const std::size_t i = plan.scalar_index(s);
    out[i] = decode(cast::to_float(q[i]));
  }
}

}  // namespace cast_detail
}  // namespace cuda
}  // namespace mixprec
