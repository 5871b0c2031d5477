// mixprec/cuda/nccl_hook.hpp — the data-parallel hook over NCCL (nvcc only).
//
// nccl_max_allreduce(comm) is a mixprec::cuda::max_allreduce: in place on
// `stream`, stream-ordered, and capturable in a CUDA graph (NCCL >= 2.9).
// Link libnccl (cmake/mixprecNccl.cmake defines mixprec::nccl when NCCL is
// found).
//
// NaN must win. A NaN amax on one rank (a step whose activations or
// gradients overflowed there) has to reach every rank, or the ranks' recipes
// and loss scalers drift apart. NCCL's float MAX gives no such promise (it is
// a max of two values, like fmaxf, which returns the number when the other is
// NaN). So the hook does not all-reduce the floats: it maps each float, in
// place, to an unsigned order key (order_key below: the floats' order, with
// every NaN above +inf), runs ncclAllReduce(MAX) on the keys as ncclUint32 —
// an integer maximum, exact and NaN-free — and maps the result back. One
// kernel before and one after the all-reduce, all on `stream`. Call it
// outside ncclGroupStart / ncclGroupEnd (one rank per process or host thread,
// as data-parallel training does): inside a group NCCL defers the collective
// to ncclGroupEnd, which would put it after the conversion back.
//
//   ncclComm_t comm = ...;                                   // one per rank
//   auto all_reduce = mixprec::cuda::nccl_max_allreduce(comm);
//   mixprec::cuda::agree_across_ranks(all_reduce, scaler, {&recipe}, stream);
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <cstdint>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/multi_tensor.hpp"

namespace mixprec {
namespace cuda {

namespace nccl_detail {

/// The order key of a float's bits: an unsigned integer that orders like the
/// float (-inf < ... < -0 < +0 < ... < +inf), with every NaN mapped to
/// 0xFFFFFFFF, above everything. Non-negative floats get their bits with the
/// sign bit set; negative ones the complement of their bits (the usual
/// radix-sort key). No non-NaN float maps to 0xFFFFFFFF.
__host__ __device__ constexpr std::uint32_t order_key(std::uint32_t bits) {
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFFFFFFu;  // NaN
  return (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
}

/// The float bits of an order key: order_key's inverse on non-NaN floats;
/// the NaN key gives the quiet NaN 0x7FC00000.
__host__ __device__ constexpr std::uint32_t bits_of_order_key(std::uint32_t key) {
  if (key == 0xFFFFFFFFu) return 0x7FC00000u;
  return (key & 0x80000000u) != 0 ? (key & 0x7FFFFFFFu) : ~key;
}

// words[i] = order_key(words[i]) (ToKeys) or its inverse, for i < count.
template <bool ToKeys>
__global__ void convert_order_keys_kernel(std::uint32_t* words, std::size_t count) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    words[i] = ToKeys ? order_key(words[i]) : bits_of_order_key(words[i]);
}

template <bool ToKeys>
void convert_order_keys(std::uint32_t* words, std::size_t count, cudaStream_t stream) {
  constexpr std::size_t threads = 256, max_blocks = 1024;
  const std::size_t blocks = (count + threads - 1) / threads < max_blocks ? (count + threads - 1) / threads : max_blocks;
  convert_order_keys_kernel<ToKeys><<<static_cast<unsigned>(blocks), static_cast<unsigned>(threads), 0, stream>>>(
      words, count);
  check(cudaGetLastError(), "launching mixprec::cuda::nccl_max_allreduce's order-key conversion");
}

}  // namespace nccl_detail

/// The data-parallel hook over an NCCL communicator (one per rank; the
/// caller keeps it alive while the hook is used): MAX over ranks, in place,
/// of `count` device floats on `stream`, NaN winning over every number (see
/// the top of this file). Throws mixprec::error for a null communicator, and
/// mixprec::runtime_error when NCCL fails (the buffer is converted back first).
/// A max_allreduce hook (for agree_across_ranks) that runs ncclAllReduce with
/// ncclMax in place over `communicator` on the caller's stream.
/// \throws mixprec::error if `communicator` is null; the hook throws
/// mixprec::runtime_error naming NCCL's error when the all-reduce fails.
inline max_allreduce nccl_max_allreduce(ncclComm_t communicator) {
  require(communicator != nullptr, "mixprec::cuda::nccl_max_allreduce: the NCCL communicator is null");
  return [communicator](float* buffer, std::size_t count, cudaStream_t stream) {
    if (count == 0) return;
    auto* words = reinterpret_cast<std::uint32_t*>(buffer);
    nccl_detail::convert_order_keys<true>(words, count, stream);
    const ncclResult_t result = ncclAllReduce(words, words, count, ncclUint32, ncclMax, communicator, stream);
    nccl_detail::convert_order_keys<false>(words, count, stream);
    if (result != ncclSuccess) {
      throw mixprec::runtime_error(mixprec::detail::make_message(
          "mixprec::cuda::nccl_max_allreduce: ncclAllReduce(MAX) of ", count, " order keys failed: ",
          ncclGetErrorString(result)));
    }
  };
}

}  // namespace cuda
}  // namespace mixprec
