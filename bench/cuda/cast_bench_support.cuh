// bench/cuda/cast_bench_support.cuh — what the cast benchmarks
// (bench_cast.cu, bench_block_cast.cu) share: device arrays filled on the
// device with uniform values in [−4, 4), and GB/s reporting (nvcc only).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "gpu_timing.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/cuda/runtime.hpp"

namespace mixprec_bench {

/// Writes out[i] = 4 · (u_i − 1), u_i in [0, 2) from the counter-based bits
/// of (seed, i), converted to T (float or a mixprec value type).
template <class T>
__global__ void fill_kernel(T* out, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float x = 4.0f * (static_cast<float>(mixprec::stochastic_rounding_bits(seed, 0, i)) * 0x1p-31f - 1.0f);
    if constexpr (std::is_same<T, float>::value) {
      out[i] = x;
    } else {
      out[i] = T(x);
    }
  }
}

/// n elements of T in device memory, optionally filled by fill_kernel.
/// @throws mixprec::runtime_error when cudaMalloc or the fill fails.
template <class T>
struct device_array {
  T* data = nullptr;
  explicit device_array(std::size_t n, bool fill = false) {
    mixprec::cuda::check(cudaMalloc(&data, n * sizeof(T)), "cudaMalloc");
    if (fill) {
      fill_kernel<<<1024, 256>>>(data, n, 1);
      mixprec::cuda::check(cudaDeviceSynchronize(), "fill");
    }
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  ~device_array() { cudaFree(data); }
};

/// Times body (10 calls per iteration) and reports GB/s of bytes_per_call.
template <class Body>
void time_bandwidth(benchmark::State& state, double bytes_per_call, Body body) {
  time_with_events(state, 10, body);
  state.counters["GB/s"] = benchmark::Counter(bytes_per_call / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

/// 2^range(0): the element count of a benchmark.
inline std::size_t elements(const benchmark::State& state) { return std::size_t{1} << state.range(0); }

}  // namespace mixprec_bench
