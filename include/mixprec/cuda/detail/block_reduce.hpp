/// \file
/// mixprec/cuda/detail/block_reduce.hpp — reductions over a warp and a thread
/// block, shared by the cast kernels (amax of a tile or a tensor), the fused
/// optimizer step (amax of the updated model) and the loss scaler (gradient
/// norms).
///
/// Internal (namespace mixprec::cuda::reduce_detail): include the public
/// header that uses it (mixprec/cuda/cast.hpp, optimizer.hpp, loss_scaler.hpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

// Device code: a host compiler including a cuda/ header sees none of it.
#ifdef __CUDACC__
namespace mixprec {
namespace cuda {
namespace reduce_detail {

/// The maximum over the warp, in every lane (redux.sync: sm_80 and later).
/// Every lane of the warp must call it.
__device__ inline std::uint32_t warp_max(std::uint32_t value) { return __reduce_max_sync(0xFFFFFFFFu, value); }

/// The maximum over the block, returned to every thread. Every thread of the
/// block must call it (it synchronises); blockDim.x is at most 1024.
__device__ inline std::uint32_t block_max(std::uint32_t value) {
  __shared__ std::uint32_t warp_maxima[32];
  value = warp_max(value);
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // a previous call may still be reading warp_maxima
  if (lane == 0) warp_maxima[warp] = value;
  __syncthreads();
  const unsigned warps = (blockDim.x + 31) / 32;
  return warp_max(lane < warps ? warp_maxima[lane] : 0u);
}

/// The sum over the block, in thread 0 (the other threads get partial sums).
/// Deterministic for a given block size: the additions run in a fixed tree
/// order. Every thread of the block must call it; blockDim.x is a multiple of 32.
__device__ inline double block_sum(double value) {
  __shared__ double partial[32];
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xFFFFFFFFu, value, offset);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  __syncthreads();  // a previous call may still be reading partial
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  value = 0.0;
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : 0.0;
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_down_sync(0xFFFFFFFFu, value, offset);
  }
  return value;
}

}  // namespace reduce_detail
}  // namespace cuda
}  // namespace mixprec
#endif  // __CUDACC__
