// mixprec/cuda/runtime.hpp — CUDA runtime statuses as exceptions, and the
// device facts the launchers size their grids by.
//
// Host code only (cuda_runtime.h): compiles with nvcc and with g++/clang++
// against the CUDA headers, so host programs can call the GEMM wrapper
// without nvcc.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>

#include "mixprec/core/error.hpp"

namespace mixprec {
namespace cuda {

// Throws mixprec::runtime_error naming the call and CUDA's error when status
// is not cudaSuccess.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw mixprec::runtime_error(mixprec::detail::make_message("mixprec::cuda: ", what, " failed: ",
                                                               cudaGetErrorName(status), " (",
                                                               cudaGetErrorString(status), ")"));
  }
}

// The current device's ordinal.
inline int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

// Streaming multiprocessors of the current device, queried once per device
// (a launcher asks on every call; cudaDeviceGetAttribute is cheap, but not
// free).
inline int multiprocessor_count() {
  static std::array<std::atomic<int>, 64> cache{};
  const int device = current_device();
  if (device >= 0 && device < static_cast<int>(cache.size())) {
    const int known = cache[static_cast<std::size_t>(device)].load(std::memory_order_relaxed);
    if (known > 0) return known;
  }
  int count = 0;
  check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  if (device >= 0 && device < static_cast<int>(cache.size()))
    cache[static_cast<std::size_t>(device)].store(count, std::memory_order_relaxed);
  return count;
}

}  // namespace cuda
}  // namespace mixprec
