/// \file
/// mixprec/cuda/multi_tensor.hpp — what the training kernels share: RAII
/// device memory, CUDA error checks, the chunk table that lets one launch
/// cover any number of tensors of any sizes, block reductions, and the
/// data-parallel hook type.
///
/// Multi-tensor launches (the idea of Apex's multi_tensor_apply, with the
/// table in device memory instead of kernel arguments): every tensor is cut
/// into chunks of at most chunk_elements; block b of the grid processes chunk
/// b. The table is uploaded once when the tensors are registered (prepare()),
/// so a step is a single launch with a handful of pointer arguments —
/// stream-ordered, no host synchronisation, and capturable in a CUDA graph.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/detail/block_reduce.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {

/// The data-parallel hook: all-reduces MAX, in place, over `count` floats of
/// device memory on `stream` (enqueued, not synchronised). Called before the
/// scaler and recipe updates so that found_inf (0 or 1) and every amax agree
/// across ranks. mixprec/cuda/nccl_hook.hpp adapts an NCCL communicator.
using max_allreduce = std::function<void(float* device_buffer, std::size_t count, cudaStream_t stream)>;

namespace training_detail {

using mixprec::cuda::check;  // CUDA statuses as mixprec::runtime_error (mixprec/cuda/runtime.hpp)

// Operations that allocate or copy synchronously cannot be captured.
inline void require_not_capturing(cudaStream_t stream, const char* what) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  require(status == cudaStreamCaptureStatusNone, what,
          " cannot run while the stream is being captured into a CUDA graph: call prepare(stream) (or run one step) "
          "before capturing");
}

// Device memory of the training utilities: mixprec/cuda/runtime.hpp's array.
using mixprec::cuda::device_array;

// A chunk: elements [begin, begin + length) of tensor `tensor`.
struct chunk {
  std::uint32_t tensor;
  std::uint32_t length;
  std::uint64_t begin;
};

// Chunks are a multiple of 4 elements long (except a tensor's last), so the
// vectorised loops stay aligned within a tensor.
constexpr std::uint32_t chunk_elements = 32768;
constexpr int block_threads = 256;

inline void append_chunks(std::vector<chunk>& chunks, std::size_t tensor, std::uint64_t size) {
  require(tensor < 0xFFFFFFFFu, "mixprec::cuda: more than 2^32 - 1 tensors in one multi-tensor launch");
  for (std::uint64_t begin = 0; begin < size; begin += chunk_elements) {
    const std::uint64_t length = size - begin < chunk_elements ? size - begin : chunk_elements;
    chunks.push_back(chunk{static_cast<std::uint32_t>(tensor), static_cast<std::uint32_t>(length), begin});
  }
}

// A launch over chunks.size() blocks, within the grid limit.
inline unsigned grid_for(std::size_t chunks) {
  require(chunks <= 0x7FFFFFFFu, "mixprec::cuda: ", chunks, " chunks exceed the grid limit of 2^31 - 1 blocks");
  return static_cast<unsigned>(chunks);
}

#if defined(__CUDACC__)

// Four consecutive elements, for 4·sizeof(T)-byte vector loads and stores.
template <class T>
struct alignas(4 * sizeof(T)) vector4 {
  T value[4];
};

template <class T>
__device__ inline bool aligned_for_vector4(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) % (4 * sizeof(T))) == 0;
}

// Exact widening to float on the device (float itself unchanged): the
// engine's decode, which is one shift for bfloat16 and one cvt.f32.f16 for
// float16 on the device (engine::decode_to_binary32,
// core/hardware_conversion.hpp).
template <class T>
__device__ inline float widen(T x) {
  return static_cast<float>(x);
}

// Block reductions (cuda/detail/block_reduce.hpp): block_max returns the
// maximum to every thread, block_sum the sum to thread 0.
using reduce_detail::block_max;
using reduce_detail::block_sum;

// True in every thread of the last block of the grid to get here (the CUDA
// samples' threadFenceReduction pattern); that block may then finish the
// launch's bookkeeping. The counter is reset for the next launch.
__device__ inline bool last_block_done(unsigned int* ticket) {
  __shared__ bool last;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned int done = atomicAdd(ticket, 1u);
    last = done == gridDim.x - 1;
    if (last) *ticket = 0u;
  }
  __syncthreads();
  return last;
}

#endif  // __CUDACC__

}  // namespace training_detail
}  // namespace cuda
}  // namespace mixprec
