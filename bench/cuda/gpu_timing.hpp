// bench/cuda/gpu_timing.hpp — what the GPU benchmarks share: skipping
// without a device, and timing with CUDA events as Google Benchmark's manual
// time. Host code (plain C++ or nvcc).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <exception>

#include "mixprec/cuda/runtime.hpp"

namespace mixprec_bench {

// False, with the benchmark marked as skipped, without a usable device.
inline bool have_device(benchmark::State& state) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    state.SkipWithError("no CUDA device");
    return false;
  }
  return true;
}

// Runs body (a benchmark's set-up and timed loop); an exception it throws
// (a cuBLASLt status, an allocation that fails, a launch error) marks this
// benchmark as failed with the message, instead of escaping Google
// Benchmark, which does not catch and would end the whole run there.
template <class Body>
void skip_on_error(benchmark::State& state, Body body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());  // also stops the timer when thrown inside the timed loop
  }
}

// Runs body once to warm up, then per benchmark iteration `calls` times
// between two events on `stream`; the iteration time is the time per call.
template <class Body>
void time_with_events(benchmark::State& state, int calls, Body body, cudaStream_t stream = nullptr) {
  using mixprec::cuda::check;
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  body();
  check(cudaStreamSynchronize(stream), "warm-up");
  for (auto _ : state) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < calls; ++i) body();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    state.SetIterationTime(static_cast<double>(ms) / 1000.0 / calls);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace mixprec_bench
