/// \file
/// Dynamic loss scaling with its state in device memory (PyTorch's GradScaler
/// on CUDA), and the fused multi-tensor unscale / inf-check / norm kernel.
///
/// Nothing here waits for the host: the scale, the counters and found_inf live
/// in device memory; unscale_and_check raises found_inf and writes the squared
/// global norm; the fused optimizer reads both on the device and skips the step
/// itself; update() is one single-thread kernel that applies the same rule as
/// the host scaler (mixprec::detail::advance_loss_scale) and clears found_inf
/// for the next step. The host reads the state only when it asks (save(),
/// read_scale()).
///
/// \code
///   mixprec::cuda::device_loss_scaler scaler;            // GradScaler's defaults
///   mixprec::cuda::gradient_set gradients;               // registered once
///   gradients.add(mixprec::tensor_view{grad_w1, n1});     // device pointers (FP32, BF16 or FP16)
///   ...
///   // each step, all on `stream`:
///   //   loss scaled by the value at scaler.scale() (a device pointer) in the backward kernels
///   mixprec::cuda::unscale_and_check(gradients, scaler, stream);   // found_inf, squared norm
///   optimizer.step(scaler, stream);                                 // skips on found_inf, on the device
///   scaler.update(stream);                                          // one tiny kernel
/// \endcode
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/multi_tensor.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {

/// The scaler's device memory: one plain struct (device_loss_scaler::device_block()).
struct loss_scaler_block {
  dynamic_loss_scaler_state state;  ///< the host scaler's complete state, options included
  float found_inf;     ///< 0 or 1: raised by unscale_and_check (and max-all-reduced), cleared by update()
  float squared_norm;  ///< sum of squares of the unscaled gradients, written by unscale_and_check
};

namespace training_detail {

// Kernels are templates so that the header can be included in many .cu files.
template <int = 0>
__global__ void advance_loss_scale_kernel(loss_scaler_block* block) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    mixprec::detail::advance_loss_scale(block->state, block->found_inf != 0.0f);
    block->found_inf = 0.0f;
  }
}

struct gradient_entry {
  void* data;
  std::uint64_t size;
  scalar_type type;
};

template <class G>
__device__ inline void unscale_element(G& x, float inverse_scale, bool write_back, bool& bad, double& sum) {
  const float y = mixprec::detail::mul_rn(widen(x), inverse_scale);
  bad |= !(fabsf(y) <= FLT_MAX);
  sum = fma(static_cast<double>(y), static_cast<double>(y), sum);  // y·y is exact in double
  if (write_back) {
    if constexpr (std::is_same<G, float>::value) {
      x = y;
    } else {
      x = mixprec::convert<G>(y);
    }
  }
}

template <class G>
__device__ inline void unscale_chunk(G* p, std::uint32_t length, float inverse_scale, bool write_back, bool& bad,
                                     double& sum) {
  std::uint32_t done = 0;
  if (aligned_for_vector4<G>(p)) {
    const std::uint32_t vectors = length / 4;
    for (std::uint32_t v = threadIdx.x; v < vectors; v += blockDim.x) {
      vector4<G> x = reinterpret_cast<const vector4<G>*>(p)[v];
#pragma unroll
      for (int k = 0; k < 4; ++k) unscale_element(x.value[k], inverse_scale, write_back, bad, sum);
      if (write_back) reinterpret_cast<vector4<G>*>(p)[v] = x;
    }
    done = vectors * 4;
  }
  for (std::uint32_t i = done + threadIdx.x; i < length; i += blockDim.x) {
    G x = p[i];
    unscale_element(x, inverse_scale, write_back, bad, sum);
    if (write_back) p[i] = x;
  }
}

// One block per chunk. found_inf is only ever raised (every writer stores 1),
// also when the squared norm overflows float.
// The squared norm is reduced deterministically: block partials, then the
// last block sums them in block order.
template <int = 0>
__global__ void __launch_bounds__(block_threads) unscale_kernel(const chunk* chunks, const gradient_entry* tensors,
                                                                const float* scale, float* found_inf, bool write_back,
                                                                double* partials, float* squared_norm,
                                                                unsigned int* ticket) {
  const chunk c = chunks[blockIdx.x];
  const gradient_entry e = tensors[c.tensor];
  const float inverse_scale = scale != nullptr ? mixprec::detail::reciprocal_nearest(*scale) : 1.0f;
  bool bad = false;
  double sum = 0.0;
  switch (e.type) {
    case scalar_type::float32:
      unscale_chunk(static_cast<float*>(e.data) + c.begin, c.length, inverse_scale, write_back, bad, sum);
      break;
    case scalar_type::bfloat16:
      unscale_chunk(static_cast<bfloat16*>(e.data) + c.begin, c.length, inverse_scale, write_back, bad, sum);
      break;
    case scalar_type::float16:
      unscale_chunk(static_cast<float16*>(e.data) + c.begin, c.length, inverse_scale, write_back, bad, sum);
      break;
    default: break;  // rejected on the host
  }
  if (bad) *found_inf = 1.0f;
  if (squared_norm == nullptr) return;
  const double block_total = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = block_total;
  if (last_block_done(ticket)) {
    double total = 0.0;
    for (unsigned int b = threadIdx.x; b < gridDim.x; b += blockDim.x) total += __ldcg(partials + b);
    total = block_sum(total);
    if (threadIdx.x == 0) {
      const float norm = static_cast<float>(total);
      *squared_norm = norm;
      // A squared norm beyond float overflows clipping (coefficient 0) as the
      // host step(gradients, scaler) treats it: found_inf.
      if (!(norm <= FLT_MAX)) *found_inf = 1.0f;
    }
  }
}

}  // namespace training_detail

/// Dynamic loss scaling in device memory; the rule and the options are the
/// host dynamic_loss_scaler's (PyTorch's GradScaler on CUDA, whose scale and
/// growth tracker are device tensors too). Owns one loss_scaler_block on the
/// current device; the scale is read by kernels, never by the host per step.
class device_loss_scaler {
 public:
  /// GradScaler's defaults (see dynamic_loss_scaler_options).
  /// \throws mixprec::runtime_error when the device allocation or upload fails.
  device_loss_scaler() : device_loss_scaler(dynamic_loss_scaler_options{}) {}
  /// A scaler starting at o.init_scale, found_inf 0; allocates and uploads
  /// its block synchronously.
  /// \throws mixprec::error when `o` is invalid (validate(const dynamic_loss_scaler_options&));
  /// mixprec::runtime_error when the device allocation or upload fails.
  explicit device_loss_scaler(const dynamic_loss_scaler_options& o) : block_(1) {
    validate(o);
    loss_scaler_block initial{};
    initial.state.options = o;
    initial.state.scale = o.init_scale;
    initial.state.hysteresis_left = o.hysteresis;
    block_.upload(&initial, 1);
  }

  /// Device pointer to found_inf (0 or 1), for kernels and the all-reduce
  /// hook (a max all-reduce over ranks makes every rank skip together).
  float* found_inf() const noexcept { return &block_.get()->found_inf; }
  /// Device pointer to the current loss scale: multiply the loss by it.
  const float* scale() const noexcept { return &block_.get()->state.scale; }
  /// Device pointer to the squared global norm written by unscale_and_check.
  float* squared_norm() const noexcept { return &block_.get()->squared_norm; }
  /// Device pointer to the whole block.
  loss_scaler_block* device_block() const noexcept { return block_.get(); }

  /// Ends a step: advances the scale from found_inf and clears found_inf
  /// (GradScaler.update()). One single-thread kernel on `stream`; no
  /// synchronisation, capturable into a CUDA graph.
  /// \throws mixprec::runtime_error when the launch fails.
  void update(cudaStream_t stream = nullptr) const {
    training_detail::advance_loss_scale_kernel<><<<1, 1, 0, stream>>>(block_.get());
    training_detail::check(cudaGetLastError(), "launching the loss-scale update");
  }

  /// \name Host reads
  /// Each synchronises `stream` and copies the block to the host, so none may
  /// run while `stream` is being captured into a CUDA graph.
  /// \throws mixprec::error while `stream` is being captured;
  /// mixprec::runtime_error when the synchronisation or copy fails.
  ///@{

  /// The complete state, options included (GradScaler.state_dict()); loads
  /// into a device_loss_scaler or a host dynamic_loss_scaler.
  dynamic_loss_scaler_state save(cudaStream_t stream = nullptr) const { return read(stream).state; }
  /// The current loss scale.
  float read_scale(cudaStream_t stream = nullptr) const { return read(stream).state.scale; }
  /// Whether found_inf is raised (since the last update()).
  bool read_found_inf(cudaStream_t stream = nullptr) const { return read(stream).found_inf != 0.0f; }
  /// The squared norm last written by unscale_and_check.
  float read_squared_norm(cudaStream_t stream = nullptr) const { return read(stream).squared_norm; }
  ///@}

  /// Restores a checkpoint (validated as the host scaler does); clears found_inf.
  /// Synchronises `stream` first, then uploads.
  /// \throws mixprec::error when `s` is invalid (validate(const dynamic_loss_scaler_state&))
  /// or `stream` is being captured; mixprec::runtime_error when a CUDA call fails.
  void load(const dynamic_loss_scaler_state& s, cudaStream_t stream = nullptr) {
    validate(s);
    training_detail::require_not_capturing(stream, "mixprec::cuda::device_loss_scaler::load");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    loss_scaler_block b{};
    b.state = s;
    block_.upload(&b, 1);
  }

 private:
  loss_scaler_block read(cudaStream_t stream) const {
    training_detail::require_not_capturing(stream, "reading the device loss scaler");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    loss_scaler_block b{};
    block_.download(&b, 1);
    return b;
  }
  training_detail::device_array<loss_scaler_block> block_;
};

/// A registered list of device gradient tensors (FP32, BF16 or FP16, any
/// count and sizes) for the multi-tensor unscale kernel. Pointers are fixed
/// once added; the table is uploaded by prepare() (or the first use).
/// The gradient buffers must stay allocated while the set is used.
class gradient_set {
 public:
  /// A gradient the kernel may also write back (unscale in place);
  /// `gradient.data` is device memory. Returns its index.
  /// \throws mixprec::error when its type is not float32, bfloat16 or
  /// float16, its size is 0, or its data is null.
  std::size_t add(const tensor_view& gradient) { return add_entry(gradient.data, gradient.size, gradient.type, true); }
  /// A read-only gradient (check and norm only); `gradient.data` is device
  /// memory. Returns its index.
  /// \throws mixprec::error as add(const tensor_view&) does.
  std::size_t add(const const_tensor_view& gradient) {
    return add_entry(const_cast<void*>(gradient.data), gradient.size, gradient.type, false);
  }
  /// Registered gradients.
  std::size_t size() const noexcept { return entries_.size(); }
  /// Chunks of at most 32768 elements over all gradients: the unscale kernel's grid size.
  std::size_t chunk_count() const noexcept { return chunks_.size(); }

  /// Uploads the tables; not capturable (the steps after it are). Does
  /// nothing when nothing was added since the last prepare().
  /// \throws mixprec::error when no gradient was added or `stream` is being
  /// captured; mixprec::runtime_error when an allocation or copy fails.
  void prepare(cudaStream_t stream = nullptr) {
    if (!dirty_) return;
    training_detail::require_not_capturing(stream, "mixprec::cuda::gradient_set::prepare");
    require(!entries_.empty(), "mixprec::cuda::gradient_set: no gradients were added");
    device_entries_.upload(entries_);
    device_chunks_.upload(chunks_);
    partials_ = training_detail::device_array<double>(chunks_.size());
    ticket_ = training_detail::device_array<unsigned int>(1);
    fill_and_wait(ticket_.get(), 0, sizeof(unsigned int));
    dirty_ = false;
  }

 private:
  friend void unscale_and_check(gradient_set&, const float*, float*, float*, bool, cudaStream_t);

  std::size_t add_entry(void* data, std::size_t size, scalar_type type, bool writable) {
    const char* who = "mixprec::cuda::gradient_set::add: ";
    require(type == scalar_type::float32 || type == scalar_type::bfloat16 || type == scalar_type::float16, who,
            "gradient ", entries_.size(), " is ", to_string(type), "; gradients are float32, bfloat16 or float16");
    require(size > 0, who, "gradient ", entries_.size(), " has size 0");
    require(data != nullptr, who, "gradient ", entries_.size(), " of size ", size, " has no data");
    training_detail::append_chunks(chunks_, entries_.size(), size);
    entries_.push_back(training_detail::gradient_entry{data, size, type});
    writable_.push_back(writable);
    dirty_ = true;
    return entries_.size() - 1;
  }

  std::vector<training_detail::gradient_entry> entries_;
  std::vector<bool> writable_;
  std::vector<training_detail::chunk> chunks_;
  training_detail::device_array<training_detail::gradient_entry> device_entries_;
  training_detail::device_array<training_detail::chunk> device_chunks_;
  training_detail::device_array<double> partials_;
  training_detail::device_array<unsigned int> ticket_;
  bool dirty_ = true;
};

/// One launch over every gradient: g · (1/scale) (scale == nullptr: 1) is
/// checked for inf/NaN — raising *found_inf to 1, never clearing it — and,
/// when squared_norm is not null, its squared global norm is written there
/// (accumulated in double, reduced in a fixed order, so repeatable); a
/// squared norm beyond FLT_MAX raises found_inf too. With
/// write_back the unscaled values replace the gradients (rounded to nearest
/// even in their own type), as PyTorch's unscale_ does; without it the
/// gradients are only read, and the fused optimizer unscales on the fly.
/// Asynchronous on `stream`; capturable once `gradients` is prepared.
/// \param gradients the registered gradients (prepared here if needed)
/// \param scale device pointer to the loss scale, or nullptr for 1
/// \param found_inf device pointer, not null
/// \param squared_norm device pointer, or nullptr: no norm
/// \param write_back unscale the gradients in place
/// \param stream the CUDA stream
/// \throws mixprec::error when found_inf is null, write_back is set but a
/// gradient was added as a const_tensor_view, or prepare() throws;
/// mixprec::runtime_error when the launch fails.
inline void unscale_and_check(gradient_set& gradients, const float* scale, float* found_inf, float* squared_norm,
                              bool write_back, cudaStream_t stream) {
  require(found_inf != nullptr, "mixprec::cuda::unscale_and_check: found_inf must point to device memory");
  if (write_back) {
    for (std::size_t i = 0; i < gradients.writable_.size(); ++i) {
      require(gradients.writable_[i], "mixprec::cuda::unscale_and_check: write_back needs writable gradients, but ",
              "gradient ", i, " was added as a const_tensor_view");
    }
  }
  gradients.prepare(stream);
  training_detail::unscale_kernel<><<<training_detail::grid_for(gradients.chunks_.size()), training_detail::block_threads,
                                    0, stream>>>(gradients.device_chunks_.get(), gradients.device_entries_.get(), scale,
                                                 found_inf, write_back, gradients.partials_.get(), squared_norm,
                                                 gradients.ticket_.get());
  training_detail::check(cudaGetLastError(), "launching the unscale kernel");
}

/// The usual call: the scaler's scale, found_inf and squared-norm slots
/// (GradScaler.unscale_ when write_back, else the check the fused optimizer
/// needs). Throws as the pointer overload does.
inline void unscale_and_check(gradient_set& gradients, const device_loss_scaler& scaler, cudaStream_t stream = nullptr,
                              bool write_back = false) {
  unscale_and_check(gradients, scaler.scale(), scaler.found_inf(), scaler.squared_norm(), write_back, stream);
}

}  // namespace cuda
}  // namespace mixprec
