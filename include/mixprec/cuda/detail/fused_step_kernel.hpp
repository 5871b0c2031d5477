/// \file
/// mixprec/cuda/detail/fused_step_kernel.hpp — the device side of
/// mixprec/cuda/optimizer.hpp's fused_optimizer: the per-parameter table the
/// host uploads (parameter_entry), the step's shared arguments, progress and
/// refusal records, and the one kernel that updates every parameter (chunk
/// by chunk, with the host optimizer's per-element functions of
/// mixprec/training/update_rules.hpp, so the bits are basic_optimizer's).
/// Kept apart from the optimizer class, which registers, validates, uploads
/// and launches; internal (namespace mixprec::cuda::training_detail): include
/// mixprec/cuda/optimizer.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>

#include "mixprec/cuda/multi_tensor.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {
namespace cuda {
namespace training_detail {

constexpr std::uint8_t no_model_copy = 0xFF;

constexpr int max_state_arrays = 3;

struct parameter_entry {
  float* master;                // nullptr for BF16-only
  float* state[max_state_arrays];  // the arrays in use first; unused ones null
  const void* gradient;
  void* model;                  // model copy, or the BF16 weights of a BF16-only parameter
  const float* model_scale;     // nullable
  float* model_amax;            // nullable
  std::uint64_t size;
  std::uint64_t first_element;  // among all parameters' elements (stochastic-rounding index)
  std::uint32_t group;
  scalar_type gradient_type;
  std::uint8_t model_type;      // a scalar_type, or no_model_copy
  bool bf16_only;
};

// Steps the kernel refused because a model-copy scale was not finite and > 0
// (issue 12, defect 8): the host optimizer throws before touching anything;
// the device launch cannot throw, so it changes nothing and records it here.
struct step_rejection {
  std::int64_t rejected_steps;   // refused launches since prepare() or load()
  std::uint32_t first_parameter; // the lowest offending parameter of the first refused launch
  float first_scale;             // and the scale it read there
};

struct step_state {
  std::int64_t steps;  // applied steps
  unsigned int ticket;
  step_rejection rejection;
};

// One parameter's progress, as the host optimizer's parameter::steps and
// parameter::state_started.
struct parameter_progress {
  std::int64_t steps;
  std::uint32_t state_started;
  std::uint32_t unused;
};

// What every element of one launch shares.
struct step_arguments {
  const chunk* chunks;
  const parameter_entry* parameters;
  const void* groups;   // Rule::options[groups]
  step_state* state;
  parameter_progress* progress;         // one per parameter
  const unsigned char* has_gradient;    // one byte per parameter: 0 = no gradient this step
  std::uint32_t parameter_count;
  const float* found_inf;     // nullable
  const float* scale;         // nullable: 1
  const float* squared_norm;  // nullable: no clipping
  float max_grad_norm;
  std::uint64_t total_elements;
  std::uint64_t seed;
  bool stochastic_model;
  bool stochastic_bf16_only;
};

template <class Rule, class G, class M>
__device__ inline void update_chunk(const parameter_entry& e, const chunk& c, const typename Rule::scalars& s,
                                    float inverse_scale, float clip, std::int64_t step, const step_arguments& a,
                                    std::uint32_t& amax_bits) {
  constexpr int S = Rule::state_count;
  const G* g = static_cast<const G*>(e.gradient) + c.begin;
  const bool bf16_only = e.bf16_only;
  float* master = bf16_only ? nullptr : e.master + c.begin;
  float* state[S];
#pragma unroll
  for (int k = 0; k < S; ++k) state[k] = e.state[k] != nullptr ? e.state[k] + c.begin : nullptr;
  M* model = static_cast<M*>(e.model);
  if (model != nullptr) model += c.begin;
  const bool stochastic = bf16_only ? a.stochastic_bf16_only : a.stochastic_model;
  const float copy_scale = e.model_scale != nullptr ? *e.model_scale : 1.0f;
  const std::uint64_t first = e.first_element + c.begin;

  // One element: the same functions as the host optimizer.
  auto element = [&](float w, float stored_gradient, float* st, std::uint32_t i, M& out) -> float {
    const float updated = mixprec::detail::update_element<Rule>(w, stored_gradient, inverse_scale, clip, st, s);
    const std::uint32_t bits =
        stochastic ? mixprec::detail::step_random_bits(a.seed, step, a.total_elements, first + i) : 0u;
    out = mixprec::detail::round_model_copy<M>(updated, copy_scale, stochastic, bits);
    return updated;
  };

  std::uint32_t done = 0;
  bool vectorised = aligned_for_vector4<G>(g) && (model == nullptr || aligned_for_vector4<M>(model));
  if (!bf16_only) vectorised = vectorised && aligned_for_vector4<float>(master);
#pragma unroll
  for (int k = 0; k < S; ++k) vectorised = vectorised && (state[k] == nullptr || aligned_for_vector4<float>(state[k]));
  if (vectorised) {
    const std::uint32_t vectors = c.length / 4;
    for (std::uint32_t v = threadIdx.x; v < vectors; v += blockDim.x) {
      const vector4<G> gv = reinterpret_cast<const vector4<G>*>(g)[v];
      vector4<float> wv;
      vector4<M> mv;
      if (bf16_only) {
        const vector4<M> current = reinterpret_cast<const vector4<M>*>(model)[v];
#pragma unroll
        for (int k = 0; k < 4; ++k) wv.value[k] = widen(current.value[k]);
      } else {
        wv = reinterpret_cast<const vector4<float>*>(master)[v];
      }
      vector4<float> sv[S] = {};
#pragma unroll
      for (int k = 0; k < S; ++k) {
        if (state[k] != nullptr) sv[k] = reinterpret_cast<const vector4<float>*>(state[k])[v];
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float st[S];
#pragma unroll
        for (int k = 0; k < S; ++k) st[k] = sv[k].value[j];
        wv.value[j] = element(wv.value[j], widen(gv.value[j]), st, v * 4 + j, mv.value[j]);
#pragma unroll
        for (int k = 0; k < S; ++k) sv[k].value[j] = st[k];
        const std::uint32_t magnitude = mixprec::detail::magnitude_bits(wv.value[j]);
        amax_bits = magnitude > amax_bits ? magnitude : amax_bits;
      }
      if (!bf16_only) reinterpret_cast<vector4<float>*>(master)[v] = wv;
#pragma unroll
      for (int k = 0; k < S; ++k) {
        if (state[k] != nullptr) reinterpret_cast<vector4<float>*>(state[k])[v] = sv[k];
      }
      if (model != nullptr) reinterpret_cast<vector4<M>*>(model)[v] = mv;
    }
    done = vectors * 4;
  }
  for (std::uint32_t i = done + threadIdx.x; i < c.length; i += blockDim.x) {
    float st[S] = {};
#pragma unroll
    for (int k = 0; k < S; ++k) st[k] = state[k] != nullptr ? state[k][i] : 0.0f;
    const float w = bf16_only ? widen(model[i]) : master[i];
    M out;
    const float updated = element(w, widen(g[i]), st, i, out);
    if (!bf16_only) master[i] = updated;
#pragma unroll
    for (int k = 0; k < S; ++k) {
      if (state[k] != nullptr) state[k][i] = st[k];
    }
    if (model != nullptr) model[i] = out;
    const std::uint32_t magnitude = mixprec::detail::magnitude_bits(updated);
    amax_bits = magnitude > amax_bits ? magnitude : amax_bits;
  }
}

template <class Rule, class G>
__device__ inline void update_chunk_for_model(const parameter_entry& e, const chunk& c,
                                              const typename Rule::scalars& s, float inverse_scale, float clip,
                                              std::int64_t step, const step_arguments& a, std::uint32_t& amax_bits) {
  switch (e.model_type) {
    case static_cast<std::uint8_t>(scalar_type::bfloat16):
      return update_chunk<Rule, G, bfloat16>(e, c, s, inverse_scale, clip, step, a, amax_bits);
    case static_cast<std::uint8_t>(scalar_type::float16):
      return update_chunk<Rule, G, float16>(e, c, s, inverse_scale, clip, step, a, amax_bits);
    case static_cast<std::uint8_t>(scalar_type::float8_e4m3):
      return update_chunk<Rule, G, float8_e4m3>(e, c, s, inverse_scale, clip, step, a, amax_bits);
    case static_cast<std::uint8_t>(scalar_type::float8_e5m2):
      return update_chunk<Rule, G, float8_e5m2>(e, c, s, inverse_scale, clip, step, a, amax_bits);
    default:  // float32, or no copy (M = float, a null pointer: writes nothing); one inlined copy for both
      return update_chunk<Rule, G, float>(e, c, s, inverse_scale, clip, step, a, amax_bits);
  }
}

// Whether some model copy's scale is not finite and > 0: such a scale writes
// an all-NaN copy (NaN), all zeros (0), ±max (inf) or flipped signs (< 0).
// The host optimizer rejects it in check_step() before touching anything; here
// every block reads every scale (the kernel writes none of them: registration
// keeps them disjoint from the written buffers), so all blocks agree and
// return before writing a byte or taking the ticket. Block 0 records the
// refusal in a.state->rejection for the host to read. Every thread of the
// block must call it.
__device__ inline bool refuse_bad_copy_scale(const step_arguments& a) {
  __shared__ unsigned int lowest_bad;
  if (threadIdx.x == 0) lowest_bad = 0xFFFFFFFFu;
  __syncthreads();
  for (std::uint32_t p = threadIdx.x; p < a.parameter_count; p += blockDim.x) {
    const parameter_entry& e = a.parameters[p];
    // As the host: FP32 copies are written unscaled, so only the others' scales count.
    if (e.model_scale == nullptr || e.model_type == no_model_copy ||
        e.model_type == static_cast<std::uint8_t>(scalar_type::float32))
      continue;
    const float copy_scale = *e.model_scale;
    if (!(copy_scale > 0.0f && copy_scale <= FLT_MAX)) atomicMin(&lowest_bad, p);  // false for NaN
  }
  __syncthreads();
  const unsigned int bad = lowest_bad;
  if (bad == 0xFFFFFFFFu) return false;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    step_rejection& r = a.state->rejection;
    if (r.rejected_steps == 0) {
      r.first_parameter = bad;
      r.first_scale = *a.parameters[bad].model_scale;
    }
    r.rejected_steps += 1;
  }
  return true;
}

template <class Rule>
__global__ void __launch_bounds__(block_threads) fused_step_kernel(step_arguments a) {
  // Validation first, as on the host (a bad scale is reported even when the
  // step would have been skipped for found_inf).
  if (refuse_bad_copy_scale(a)) return;
  if (a.found_inf != nullptr && *a.found_inf != 0.0f) return;  // the skipped step: nothing is written
  // A NaN or infinite squared norm means the gradients overflowed: skipped, as on the host.
  if (a.squared_norm != nullptr && !(*a.squared_norm <= FLT_MAX)) return;
  const std::int64_t step = a.state->steps + 1;
  const float inverse_scale = a.scale != nullptr ? mixprec::detail::reciprocal_nearest(*a.scale) : 1.0f;
  const float clip =
      a.squared_norm != nullptr ? mixprec::detail::clip_coefficient(*a.squared_norm, a.max_grad_norm) : 1.0f;
  const chunk c = a.chunks[blockIdx.x];
  const parameter_entry e = a.parameters[c.tensor];
  const typename Rule::options* groups = static_cast<const typename Rule::options*>(a.groups);
  const parameter_progress progress = a.progress[c.tensor];
  const typename Rule::scalars s = Rule::prepare(groups[e.group], progress.steps + 1, progress.state_started != 0);
  const bool has_gradient = a.has_gradient[c.tensor] != 0;
  std::uint32_t amax_bits = 0;
  if (has_gradient) switch (e.gradient_type) {
    case scalar_type::float32:
      update_chunk_for_model<Rule, float>(e, c, s, inverse_scale, clip, step, a, amax_bits);
      break;
    case scalar_type::bfloat16:
      update_chunk_for_model<Rule, bfloat16>(e, c, s, inverse_scale, clip, step, a, amax_bits);
      break;
    case scalar_type::float16:
      update_chunk_for_model<Rule, float16>(e, c, s, inverse_scale, clip, step, a, amax_bits);
      break;
    default: break;  // rejected on the host
  }
  if (has_gradient && e.model_amax != nullptr) {
    const std::uint32_t block_amax = block_max(amax_bits);
    if (threadIdx.x == 0) atomicMax(reinterpret_cast<unsigned int*>(e.model_amax), block_amax);
  }
  // Every block has read a.state->steps and its parameter's progress before
  // the last block advances them.
  if (last_block_done(&a.state->ticket)) {
    for (std::uint32_t p = threadIdx.x; p < a.parameter_count; p += blockDim.x) {
      if (a.has_gradient[p] == 0) continue;
      a.progress[p].steps += 1;
      if (Rule::starts_state(groups[a.parameters[p].group])) a.progress[p].state_started = 1u;
    }
    if (threadIdx.x == 0) a.state->steps = step;
  }
}

}  // namespace training_detail
}  // namespace cuda
}  // namespace mixprec
