/// \file
/// Delayed scaling for many FP8 tensors (TransformerEngine's DelayedScaling
/// recipe), its state in device memory, updated by one kernel launch per step.
///
/// Each tensor has an amax slot that the cast kernels raise during the step
/// (amax(i), or the contiguous amaxes() for a data-parallel all-reduce): a
/// cast that records into a slot leaves max(slot, max |x|) and never zeroes it
/// (mixprec/cuda/cast.hpp, TransformerEngine's rule), so several casts of one
/// tensor in a step keep the largest; update() is what resets the slots. It
/// also has an amax history window and a scale / scale_inv pair that the casts and GEMMs
/// read from device memory. update() does, for every tensor at once, what the
/// host delayed_scaling<T> does for `record(slot); update();` — with the same
/// functions (detail::fp8_scale_from_amax, an fmaxf window reduction), so the
/// scales are the host's bit for bit — and resets the slots to 0.
///
/// \code
///   mixprec::cuda::device_delayed_scaling recipe;          // TE's defaults
///   auto x = recipe.add<mixprec::float8_e4m3>();            // forward tensors (hybrid convention)
///   auto dy = recipe.add<mixprec::float8_e5m2>();           // gradients
///   recipe.prepare();
///   // each step: casts read recipe.scale(x) and raise recipe.amax(x); then
///   recipe.update(stream);                                  // one launch
/// \endcode
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/multi_tensor.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace training_detail {

// One block per tensor.
template <int = 0>
__global__ void delayed_scaling_update_kernel(float* amax_slots, float* history, std::int64_t* recorded,
                                              const float* scaled_max, float* scales, float* scale_invs,
                                              float* window_amaxes, std::uint32_t history_len, amax_algo algo,
                                              bool power_of_two) {
  const unsigned int t = blockIdx.x;
  float* h = history + static_cast<std::size_t>(t) * history_len;
  __shared__ float newest;
  if (threadIdx.x == 0) {
    newest = amax_slots[t];
    h[recorded[t] % history_len] = newest;  // record(): the slot after the newest
    amax_slots[t] = 0.0f;
    recorded[t] += 1;
  }
  __syncthreads();
  float window = 0.0f;
  if (algo == amax_algo::most_recent) {
    window = newest;
  } else {
    // Unfilled entries are 0, which never changes an fmaxf from 0.
    for (std::uint32_t i = threadIdx.x; i < history_len; i += blockDim.x) window = fmaxf(window, h[i]);
    __shared__ float partial[32];
    for (int offset = 16; offset > 0; offset >>= 1) window = fmaxf(window, __shfl_down_sync(0xFFFFFFFFu, window, offset));
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = window;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (unsigned int w = 1; w < blockDim.x / 32; ++w) window = fmaxf(window, partial[w]);
    }
  }
  if (threadIdx.x == 0) {
    const float scale = mixprec::detail::fp8_scale_from_amax(window, scaled_max[t], scales[t], power_of_two);
    scales[t] = scale;
    scale_invs[t] = __fdiv_rn(1.0f, scale);
    window_amaxes[t] = window;
  }
}

}  // namespace training_detail

/// Delayed scaling of many tensors on the device, one shared set of options;
/// per tensor the same scales, bit for bit, as a host delayed_scaling<T>.
/// Register every tensor with add(), then prepare() (or the first update())
/// allocates the state on the current device.
class device_delayed_scaling {
 public:
  using options = delayed_scaling_options;  ///< the configuration shared by every tensor

  /// TE's defaults: history 1024, amax_algo::max, margin 0.
  device_delayed_scaling() : device_delayed_scaling(options{}) {}
  /// A recipe with options `o` and no tensors yet.
  /// \throws mixprec::error when `o` is invalid (validate(const delayed_scaling_options&))
  /// or history_len exceeds 2^32 - 1.
  explicit device_delayed_scaling(const options& o) : options_(o) {
    validate(o);
    require(o.history_len <= 0xFFFFFFFFu, "mixprec::cuda::device_delayed_scaling: history_len = ", o.history_len,
            " is too long for the device (at most 2^32 - 1)");
  }

  /// A tensor cast to T (an FP8 type, or any mixprec type); returns its index.
  /// \throws mixprec::error after prepare(), or when the margin exceeds T's
  /// max_margin (14 for E4M3, 29 for E5M2).
  template <class T>
  std::size_t add() {
    require(!prepared_, "mixprec::cuda::device_delayed_scaling::add: add every tensor before prepare()");
    mixprec::detail::validate_margin<T>(options_.margin, "mixprec::cuda::device_delayed_scaling::add: ");
    scaled_max_.push_back(mixprec::detail::fp8_traits<T>::scaled_max(options_.margin));
    return scaled_max_.size() - 1;
  }
  /// add<float8_e4m3>() or add<float8_e5m2>() by runtime type.
  /// \throws mixprec::error when `type` is not an FP8 type, or as add<T>() does.
  std::size_t add(scalar_type type) {
    require(is_fp8(type), "mixprec::cuda::device_delayed_scaling::add: ", to_string(type),
            " is not an FP8 type (float8_e4m3 or float8_e5m2)");
    return type == scalar_type::float8_e4m3 ? add<float8_e4m3>() : add<float8_e5m2>();
  }
  /// Registered tensors.
  std::size_t size() const noexcept { return scaled_max_.size(); }

  /// Allocates the device state: histories 0, scales 1, amax slots 0. Not
  /// capturable (it waits for the device); does nothing when already prepared.
  /// \throws mixprec::error when no tensor was added; mixprec::runtime_error
  /// when an allocation or copy fails.
  void prepare() {
    require(!scaled_max_.empty(), "mixprec::cuda::device_delayed_scaling::prepare: no tensors were added");
    if (prepared_) return;
    const std::size_t n = scaled_max_.size();
    amax_slots_ = zeros<float>(n);
    history_ = zeros<float>(n * options_.history_len);
    recorded_ = zeros<std::int64_t>(n);
    window_amaxes_ = zeros<float>(n);
    scaled_max_device_ = training_detail::device_array<float>(n);
    scaled_max_device_.upload(scaled_max_);
    const std::vector<float> ones(n, 1.0f);
    scales_ = training_detail::device_array<float>(n);
    scales_.upload(ones);
    scale_invs_ = training_detail::device_array<float>(n);
    scale_invs_.upload(ones);
    prepared_ = true;
  }

  /// \name Device pointers
  /// Valid from prepare() on, for the lifetime of this object. amaxes() is
  /// contiguous: all-reduce it with MAX across data-parallel ranks before update().
  /// \throws mixprec::error before prepare(), or for a tensor index i >= size().
  ///@{

  /// The size() amax slots, in registration order.
  float* amaxes() const { return prepared_state(amax_slots_.get()); }
  /// Tensor i's amax slot: the casts raise it to max |x|; update() resets it to 0.
  float* amax(std::size_t i) const { return amaxes() + checked(i); }
  /// The size() current scales: quantise as convert(x · scale).
  const float* scales() const { return prepared_state(scales_.get()); }
  /// Tensor i's current scale.
  const float* scale(std::size_t i) const { return scales() + checked(i); }
  /// The size() reciprocals 1 / scale: dequantise (the GEMM's scale inputs).
  const float* scale_invs() const { return prepared_state(scale_invs_.get()); }
  /// Tensor i's 1 / scale.
  const float* scale_inv(std::size_t i) const { return scale_invs() + checked(i); }
  ///@}

  /// Records every slot into its history, resets the slots and computes the
  /// new scales: one launch on `stream`, no synchronisation (capturable once
  /// prepared). Prepares first when prepare() was not called.
  /// \throws mixprec::error when it must prepare while `stream` is being
  /// captured, or as prepare() does; mixprec::runtime_error when the launch fails.
  void update(cudaStream_t stream = nullptr) {
    if (!prepared_) {
      training_detail::require_not_capturing(stream, "mixprec::cuda::device_delayed_scaling (first update)");
      prepare();
    }
    training_detail::delayed_scaling_update_kernel<><<<static_cast<unsigned>(size()), 128, 0, stream>>>(
        amax_slots_.get(), history_.get(), recorded_.get(), scaled_max_device_.get(), scales_.get(), scale_invs_.get(),
        window_amaxes_.get(), static_cast<std::uint32_t>(options_.history_len), options_.algo, options_.power_of_two);
    training_detail::check(cudaGetLastError(), "launching the delayed-scaling update");
  }

  /// \name Host reads
  /// Each synchronises `stream` and copies size() values to the host.
  /// \throws mixprec::error before prepare() or while `stream` is being
  /// captured; mixprec::runtime_error when a CUDA call fails.
  ///@{

  /// Every tensor's current scale.
  std::vector<float> read_scales(cudaStream_t stream = nullptr) const { return read(scales_, stream); }
  /// Every tensor's 1 / scale.
  std::vector<float> read_scale_invs(cudaStream_t stream = nullptr) const { return read(scale_invs_, stream); }
  /// The amax each tensor's last update used.
  std::vector<float> read_window_amaxes(cudaStream_t stream = nullptr) const { return read(window_amaxes_, stream); }
  ///@}
  /// The options given at construction.
  const options& get_options() const noexcept { return options_; }

 private:
  template <class T>
  static training_detail::device_array<T> zeros(std::size_t n) {
    training_detail::device_array<T> a(n);
    fill_and_wait(a.get(), 0, n * sizeof(T));  // complete before update() runs on any stream
    return a;
  }
  template <class T>
  T* prepared_state(T* p) const {
    require(prepared_, "mixprec::cuda::device_delayed_scaling: call prepare() before using the device state");
    return p;
  }
  std::size_t checked(std::size_t i) const {
    require(i < size(), "mixprec::cuda::device_delayed_scaling: tensor ", i, " does not exist; ", size(),
            " were added");
    return i;
  }
  std::vector<float> read(const training_detail::device_array<float>& a, cudaStream_t stream) const {
    prepared_state(a.get());
    training_detail::require_not_capturing(stream, "reading the device delayed-scaling state");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return a.download(size());
  }

  options options_;
  std::vector<float> scaled_max_;  // max(T) · 2^-margin per tensor
  bool prepared_ = false;
  training_detail::device_array<float> amax_slots_, history_, window_amaxes_, scaled_max_device_, scales_, scale_invs_;
  training_detail::device_array<std::int64_t> recorded_;
};

}  // namespace cuda
}  // namespace mixprec
