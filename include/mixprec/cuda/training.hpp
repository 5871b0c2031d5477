// mixprec/cuda/training.hpp — the device training utilities in one include:
// device-resident loss scaling and the multi-tensor unscale kernel, delayed
// FP8 scaling for many tensors, the fused multi-tensor optimizers, and the
// data-parallel agreement step.
//
// A step on the device, all stream-ordered with no host synchronisation (and
// so capturable in a CUDA graph once prepare() has run on each object):
//
//   unscale_and_check(gradients, scaler, stream);         // found_inf, squared norm
//   agree_across_ranks(all_reduce, scaler, {&recipe}, stream);  // data parallel only
//   optimizer.step(scaler, stream);                        // skips itself on found_inf
//   scaler.update(stream);
//   recipe.update(stream);
#pragma once

#include <cuda_runtime.h>

#include <initializer_list>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/fp8_scaling.hpp"
#include "mixprec/cuda/loss_scaler.hpp"
#include "mixprec/cuda/multi_tensor.hpp"
#include "mixprec/cuda/optimizer.hpp"

namespace mixprec {
namespace cuda {

/// Makes found_inf and every amax agree across data-parallel ranks: one MAX
/// all-reduce (e.g. nccl_max_allreduce) of the scaler's found_inf and one of
/// each recipe's contiguous amax slots, enqueued on `stream` before the
/// optimizer step and the updates. Found_inf is 0 or 1, so MAX is a logical OR:
/// every rank skips the same steps and keeps the same scales. (The squared
/// gradient norm is left alone: with replicated gradients it is already equal
/// on every rank; with sharded gradients sum it with your own all-reduce.)
inline void agree_across_ranks(const max_allreduce& all_reduce, const device_loss_scaler& scaler,
                               std::initializer_list<const device_delayed_scaling*> recipes,
                               cudaStream_t stream = nullptr) {
  require(static_cast<bool>(all_reduce), "mixprec::cuda::agree_across_ranks: the all-reduce hook is empty");
  all_reduce(scaler.found_inf(), 1, stream);
  for (const device_delayed_scaling* recipe : recipes) {
    require(recipe != nullptr, "mixprec::cuda::agree_across_ranks: a null recipe was passed");
    all_reduce(recipe->amaxes(), recipe->size(), stream);
  }
}

}  // namespace cuda
}  // namespace mixprec
