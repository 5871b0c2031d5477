// mixprec/cuda/nccl_hook.hpp — the data-parallel hook over NCCL.
//
// nccl_max_allreduce(comm) is a mixprec::cuda::max_allreduce that runs
// ncclAllReduce(buffer, buffer, count, ncclFloat32, ncclMax, comm, stream):
// in place, stream-ordered, and capturable in a CUDA graph (NCCL >= 2.9).
// Link libnccl (cmake/mixprecNccl.cmake defines mixprec::nccl when NCCL is
// found); this header itself needs only nccl.h.
//
//   ncclComm_t comm = ...;                                   // one per rank
//   auto all_reduce = mixprec::cuda::nccl_max_allreduce(comm);
//   mixprec::cuda::agree_across_ranks(all_reduce, scaler, {&recipe}, stream);
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/multi_tensor.hpp"

namespace mixprec {
namespace cuda {

/// A max_allreduce hook (for agree_across_ranks) that runs ncclAllReduce with
/// ncclMax in place over `communicator` on the caller's stream.
/// \throws mixprec::error if `communicator` is null; the hook throws
/// mixprec::runtime_error naming NCCL's error when the all-reduce fails.
inline max_allreduce nccl_max_allreduce(ncclComm_t communicator) {
  require(communicator != nullptr, "mixprec::cuda::nccl_max_allreduce: the NCCL communicator is null");
  return [communicator](float* buffer, std::size_t count, cudaStream_t stream) {
    const ncclResult_t result = ncclAllReduce(buffer, buffer, count, ncclFloat32, ncclMax, communicator, stream);
    if (result != ncclSuccess) {
      throw mixprec::runtime_error(mixprec::detail::make_message(
          "mixprec::cuda::nccl_max_allreduce: ncclAllReduce(MAX) of ", count, " floats failed: ",
          ncclGetErrorString(result)));
    }
  };
}

}  // namespace cuda
}  // namespace mixprec
