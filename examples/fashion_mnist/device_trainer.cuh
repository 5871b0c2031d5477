// examples/fashion_mnist/device_trainer.cuh — one recipe's training run on
// the GPU, with the CPU trainer's semantics (mlp.hpp) on mixprec's device
// parts.
//
// Same as the CPU path: the initial weights, the batch order and the cosine
// schedule (training_setup.hpp), the optimizer settings (optimizer_adapter.hpp),
// the per-recipe casts and scale rules (recipes.hpp), FP32 bias, ReLU and
// softmax cross-entropy, the GEMM mapping of mixprec/gemm/problem.hpp. What
// differs is where each piece runs:
//   casts        mixprec::cuda::quantize (cast-transpose, amax in the same
//                pass) and quantize_blockwise (current per-tensor, 1x128,
//                128x128 scales)
//   GEMMs        mixprec::cuda::scaled_gemm_engine (cuBLASLt); its
//                accumulation order is not the CPU reference's, so results
//                agree to rounding, not bit for bit
//   loss scale   mixprec::cuda::device_loss_scaler (fp16)
//   FP8 scales   mixprec::cuda::device_delayed_scaling (fp8): every tensor's
//                history and scale updated by one launch per step
//   optimizer    mixprec::cuda::fused_adamw / fused_sgd: FP32 master weights,
//                writes the BF16/FP16/FP8 model copy, skips on found_inf read
//                on the device
//   the rest     the small kernels below (bias+ReLU, softmax cross-entropy,
//                bias gradient, ReLU', transposes, counters)
//
// Everything is ordered on one stream. Inside a step nothing waits for the
// host: the learning-rate update (fused_optimizer::set_lr) is a stream-ordered
// copy of the group options. Per-step loss, loss scale and skip flags are
// written to device arrays and read once per epoch.
//
// cuBLASLt's FP8 kernels need N and K multiples of 16 (gemm::validate_for_
// cublaslt): the batch and the hidden widths must be multiples of 16, and the
// 10-class output layer is stored 16 wide — rows 10..15 of its W and b are
// zero and stay zero (their gradients are exactly zero: the softmax writes 0
// to the padded logits' gradient), and the softmax reads the 10 real logits.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/cast.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/cuda/scaled_gemm.hpp"
#include "mixprec/cuda/training.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "numerics.hpp"
#include "optimizer_adapter.hpp"
#include "recipes.hpp"
#include "training_setup.hpp"

namespace fashion_mnist {
namespace device {

using mixprec::cuda::check;
using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

// cuBLASLt's FP8 kernels read N and K in multiples of 16.
constexpr std::size_t gemm_multiple = 16;

inline std::size_t padded(std::size_t width) {
  return static_cast<std::size_t>(mixprec::gemm::round_up(static_cast<std::int64_t>(width), gemm_multiple));
}

// ---- RAII owners -------------------------------------------------------------

// n elements of device memory: the library's owning array.
template <class T>
using buffer = mixprec::cuda::device_array<T>;

// Whether T is one of the FP8 element types, the only ones cast with scales.
template <class T>
constexpr bool is_fp8_element =
    std::is_same<T, mixprec::float8_e4m3>::value || std::is_same<T, mixprec::float8_e5m2>::value;

class stream {
 public:
  // A blocking stream: it stays ordered with the legacy default stream on
  // which the library's set-up copies (cudaMemcpy, cudaMemset) run.
  stream() { check(cudaStreamCreate(&stream_), "cudaStreamCreate"); }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const noexcept { return stream_; }
  void synchronize() const { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t stream_ = nullptr;
};

class event {
 public:
  event() { check(cudaEventCreate(&event_), "cudaEventCreate"); }
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event() { cudaEventDestroy(event_); }
  void record(cudaStream_t s) { check(cudaEventRecord(event_, s), "cudaEventRecord"); }
  // Milliseconds from `start` to this event (waits for this event).
  float since(const event& start) const {
    check(cudaEventSynchronize(event_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start.event_, event_), "cudaEventElapsedTime");
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

// ---- The example's kernels ----------------------------------------------------
//
// Written plainly, one thread per element (or row, or column) in grid-stride
// loops: they are a small part of a step next to the GEMMs, and plain code is
// easy to check against the CPU trainer line by line.

constexpr int threads = 256;

inline unsigned blocks_for(std::size_t work) {
  const std::size_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, std::size_t{1} << 16)));
}

inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

#define FASHION_MNIST_GRID_STRIDE(i, n)                                                                \
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)

namespace kernels {

// x[r, :] = images[order[first + r], :], y[r] = labels[order[first + r]]:
// the batch the CPU trainer copies on the host, gathered on the device.
__global__ void gather_batch(const float* images, const std::uint8_t* labels, const std::uint32_t* order,
                             std::size_t first, std::size_t rows, std::size_t width, float* x, std::uint8_t* y) {
  FASHION_MNIST_GRID_STRIDE(i, rows * width) {
    const std::size_t r = i / width, c = i % width;
    const std::size_t source = order[first + r];
    x[i] = images[source * width + c];
    if (c == 0) y[r] = labels[source];
  }
}

// Z += b (FP32, row by row); with `activation`, also ReLU(Z) there. The CPU
// trainer's loop: output += bias, then fmax(output, 0).
__global__ void add_bias_relu(float* z, const float* bias, std::size_t rows, std::size_t cols, float* activation) {
  FASHION_MNIST_GRID_STRIDE(i, rows * cols) {
    const float value = z[i] + bias[i % cols];
    z[i] = value;
    if (activation != nullptr) activation[i] = fmaxf(value, 0.0f);
  }
}

// Softmax cross-entropy of the first class_count logits of each row (the
// rest is padding), in FP32 as in the CPU trainer: row_loss[r] = log Σ exp(z -
// z_max) - (z_y - z_max), row_correct[r] = argmax == y, and the loss-scaled
// gradient (p - onehot) / rows · scale; the padded columns' gradient is 0, so
// the padded weight rows never move.
__global__ void softmax_cross_entropy(const float* logits, std::size_t rows, std::size_t ld,
                                      const std::uint8_t* labels, const float* loss_scale, float* grad,
                                      float* row_loss, unsigned* row_correct) {
  const float scale = loss_scale != nullptr ? *loss_scale : 1.0f;
  FASHION_MNIST_GRID_STRIDE(r, rows) {
    const float* z = logits + r * ld;
    std::size_t predicted = 0;
    for (std::size_t c = 1; c < class_count; ++c)
      if (z[c] > z[predicted]) predicted = c;
    const std::size_t y = labels[r];
    float p[class_count];
    float sum = 0;
    for (std::size_t c = 0; c < class_count; ++c) sum += (p[c] = expf(z[c] - z[predicted]));
    row_loss[r] = logf(sum) - (z[y] - z[predicted]);
    row_correct[r] = predicted == y ? 1u : 0u;
    for (std::size_t c = 0; c < ld; ++c)
      grad[r * ld + c] =
          c < class_count ? (p[c] / sum - (c == y ? 1.0f : 0.0f)) / static_cast<float>(rows) * scale : 0.0f;
  }
}

// Where a step leaves what the host reads once per epoch.
struct step_outputs {
  float* loss;                     // [steps]: mean loss of the batch
  float* loss_scale;               // [steps]: the loss scale the step used
  std::uint8_t* skipped;           // [steps]: 1 when found_inf skipped the step
  unsigned long long* correct;     // this epoch's correctly classified training images
  unsigned long long* skipped_total;  // skipped steps of the run
};

// One block: the batch's mean loss (row losses summed in double, in a fixed
// order, so repeatable), the correct count, and the step's loss scale and skip
// flag — read before the scaler's update clears found_inf.
__global__ void finish_step(const float* row_loss, const unsigned* row_correct, std::size_t rows,
                            const float* loss_scale, const float* found_inf, step_outputs out, std::size_t slot) {
  __shared__ double loss_partial[threads];
  __shared__ unsigned long long correct_partial[threads];
  double loss = 0;
  unsigned long long correct = 0;
  for (std::size_t r = threadIdx.x; r < rows; r += blockDim.x) {
    loss += static_cast<double>(row_loss[r]);
    correct += row_correct[r];
  }
  loss_partial[threadIdx.x] = loss;
  correct_partial[threadIdx.x] = correct;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      loss_partial[threadIdx.x] += loss_partial[threadIdx.x + half];
      correct_partial[threadIdx.x] += correct_partial[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const bool skipped = found_inf != nullptr && *found_inf != 0.0f;
    out.loss[slot] = static_cast<float>(loss_partial[0] / static_cast<double>(rows));
    out.loss_scale[slot] = loss_scale != nullptr ? *loss_scale : 1.0f;
    out.skipped[slot] = skipped ? 1 : 0;
    *out.correct += correct_partial[0];
    *out.skipped_total += skipped ? 1u : 0u;
  }
}

// sums[c] = Σ_r dy[r, c], rows in order: the CPU trainer's bias-gradient loop
// (same order, so the same FP32 sums for the same dY).
__global__ void column_sums(const float* dy, std::size_t rows, std::size_t cols, float* sums) {
  FASHION_MNIST_GRID_STRIDE(c, cols) {
    float sum = 0;
    for (std::size_t r = 0; r < rows; ++r) sum += dy[r * cols + c];
    sums[c] = sum;
  }
}

// dX = 0 where the layer's pre-activation was not positive (ReLU').
__global__ void relu_backward(float* dx, const float* pre_activation, std::size_t n) {
  FASHION_MNIST_GRID_STRIDE(i, n) {
    if (!(pre_activation[i] > 0.0f)) dx[i] = 0.0f;
  }
}

// out [cols, rows] = in [rows, cols]ᵀ for elements of any size (Word: their
// bits), through a 32 x 33 shared tile so both global accesses are coalesced.
// Used where the values are not cast on the way: FP32 operands, model copies
// the optimizer wrote, and the FP32 input of 1x128 casts along the batch.
constexpr int tile = 32;
template <class Word>
__global__ void transpose(const Word* in, std::size_t rows, std::size_t cols, Word* out) {
  __shared__ Word staged[tile][tile + 1];
  const std::size_t c0 = static_cast<std::size_t>(blockIdx.x) * tile, r0 = static_cast<std::size_t>(blockIdx.y) * tile;
  for (int dy = static_cast<int>(threadIdx.y); dy < tile; dy += static_cast<int>(blockDim.y)) {
    const std::size_t r = r0 + static_cast<std::size_t>(dy), c = c0 + threadIdx.x;
    if (r < rows && c < cols) staged[dy][threadIdx.x] = in[r * cols + c];
  }
  __syncthreads();
  for (int dy = static_cast<int>(threadIdx.y); dy < tile; dy += static_cast<int>(blockDim.y)) {
    const std::size_t c = c0 + static_cast<std::size_t>(dy), r = r0 + threadIdx.x;  // out row c, column r
    if (c < cols && r < rows) out[c * rows + r] = staged[threadIdx.x][dy];
  }
}

// counts[0] += non-zero elements of dY, counts[1] += those a cast at the
// unscaled magnitude |dY / loss_scale| flushes to zero: numerics.hpp's
// count_flushed on the device (the summary's "grad -> 0 unscaled").
__global__ void count_flushed(const float* values, std::size_t n, const float* loss_scale, float flush_threshold,
                              unsigned long long* counts) {
  __shared__ unsigned long long block_counts[2];
  if (threadIdx.x < 2) block_counts[threadIdx.x] = 0;
  __syncthreads();
  const float inverse_scale = loss_scale != nullptr ? __fdiv_rn(1.0f, *loss_scale) : 1.0f;
  unsigned long long nonzero = 0, flushed = 0;
  FASHION_MNIST_GRID_STRIDE(i, n) {
    if (values[i] == 0.0f) continue;
    ++nonzero;
    flushed += fabsf(__fmul_rn(values[i], inverse_scale)) <= flush_threshold ? 1u : 0u;
  }
  atomicAdd(&block_counts[0], nonzero);
  atomicAdd(&block_counts[1], flushed);
  __syncthreads();
  if (threadIdx.x < 2) atomicAdd(&counts[threadIdx.x], block_counts[threadIdx.x]);
}

// *correct += rows whose largest of the first class_count logits is the label.
__global__ void count_correct(const float* logits, std::size_t rows, std::size_t ld, const std::uint8_t* labels,
                              unsigned long long* correct) {
  FASHION_MNIST_GRID_STRIDE(r, rows) {
    const float* z = logits + r * ld;
    std::size_t best = 0;
    for (std::size_t c = 1; c < class_count; ++c)
      if (z[c] > z[best]) best = c;
    if (best == labels[r]) atomicAdd(correct, 1ull);
  }
}

// Delayed scaling: after an applied optimizer step the weight copies hold
// convert(w · new scale), so the GEMMs read them with the new scale_inv;
// after a skipped step they keep the old copy and the old factor (the CPU
// trainer's copy_scale_written).
__global__ void commit_weight_scales(const float* found_inf, const float* weight_scale_invs, std::size_t layers,
                                     float* written_scale_invs) {
  if (found_inf != nullptr && *found_inf != 0.0f) return;
  for (std::size_t l = threadIdx.x; l < layers; l += blockDim.x) written_scale_invs[l] = weight_scale_invs[l];
}

}  // namespace kernels

#undef FASHION_MNIST_GRID_STRIDE

// ---- GEMM operands -------------------------------------------------------------

// What a GEMM reads: [rows, cols] row-major, cols = K contiguous, in `type`,
// with dequantisation factors in `mode`'s layout (FP8 only; null otherwise).
struct operand {
  element_type type = element_type::float32;
  const void* data = nullptr;
  std::int64_t rows = 0, cols = 0;
  scale_mode mode = scale_mode::per_tensor;
  const float* scale_inv = nullptr;
};

// Storage for one cast tensor and its transposed copy, with their factors.
struct cast_storage {
  buffer<unsigned char> plain_bytes, transposed_bytes;
  buffer<float> plain_scale_inv, transposed_scale_inv;
  operand plain, transposed;  // set by each cast

  // For a [rows, cols] tensor (rows: the largest count used) of `type`, with
  // factors in `mode` (plain along cols, transposed along rows).
  cast_storage(element_type type, std::size_t rows, std::size_t cols, scale_mode mode, bool with_transposed) {
    const std::size_t bytes = rows * cols * mixprec::gemm::size_of(type);
    plain_bytes = buffer<unsigned char>(bytes);
    plain_scale_inv = buffer<float>(scale_count(mode, rows, cols));
    if (with_transposed) {
      transposed_bytes = buffer<unsigned char>(bytes);
      transposed_scale_inv = buffer<float>(scale_count(mode, cols, rows));
    }
  }
  static std::size_t scale_count(scale_mode mode, std::size_t rows, std::size_t cols) {
    return static_cast<std::size_t>(std::max<std::int64_t>(
        1, mixprec::gemm::scale_layout{mode, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)}.count()));
  }
};

// The fused optimizer picked at run time (the library's are templates on
// their update rule), with the CPU trainer's two groups.
class device_optimizer {
 public:
  explicit device_optimizer(const optimizer_settings& s) {
    check_optimizer_name(s);
    if (s.name == "adamw") {
      adamw_ = std::make_unique<mixprec::cuda::fused_adamw>();
      const auto groups = adamw_groups(s);
      weight_group_ = adamw_->add_group(groups.weights);
      bias_group_ = adamw_->add_group(groups.biases);
    } else {
      sgd_ = std::make_unique<mixprec::cuda::fused_sgd>();
      const auto groups = sgd_groups(s);
      weight_group_ = sgd_->add_group(groups.weights);
      bias_group_ = sgd_->add_group(groups.biases);
    }
  }
  std::size_t add(const std::vector<float>& initial, bool decayed, const mixprec::const_tensor_view& gradient,
                  const mixprec::model_copy& copy) {
    const std::size_t group = decayed ? weight_group_ : bias_group_;
    return adamw_ ? adamw_->add_parameter(group, initial.data(), initial.size(), gradient, copy)
                  : sgd_->add_parameter(group, initial.data(), initial.size(), gradient, copy);
  }
  // Stream-ordered: the next step on `stream` reads the new rate.
  void set_learning_rate(float lr, cudaStream_t stream) {
    if (adamw_) {
      adamw_->set_lr(weight_group_, lr, stream);
      adamw_->set_lr(bias_group_, lr, stream);
    } else {
      sgd_->set_lr(weight_group_, lr, stream);
      sgd_->set_lr(bias_group_, lr, stream);
    }
  }
  void prepare(cudaStream_t stream) { adamw_ ? adamw_->prepare(stream) : sgd_->prepare(stream); }
  void step(const float* found_inf, const float* loss_scale, cudaStream_t stream) {
    if (adamw_) adamw_->step(found_inf, loss_scale, nullptr, stream);
    else sgd_->step(found_inf, loss_scale, nullptr, stream);
  }
  float* master(std::size_t parameter) const { return adamw_ ? adamw_->master(parameter) : sgd_->master(parameter); }

 private:
  std::unique_ptr<mixprec::cuda::fused_adamw> adamw_;
  std::unique_ptr<mixprec::cuda::fused_sgd> sgd_;
  std::size_t weight_group_ = 0, bias_group_ = 0;
};

// A data split in device memory.
struct device_split {
  std::size_t count = 0;
  buffer<float> images;
  buffer<std::uint8_t> labels;
  explicit device_split(const prepared_split& split)
      : count(split.count), images(split.count * image_size), labels(split.count) {
    images.upload(split.images.data(), split.count * image_size);
    labels.upload(split.labels.data(), split.count);
  }
};

// One linear layer Y = X · Wᵀ + b on the device; out_stored is out rounded
// up to gemm_multiple (only the output layer's differs).
struct device_layer {
  std::size_t in = 0, out = 0, out_stored = 0;
  std::size_t weight_parameter = 0, bias_parameter = 0;
  std::size_t input_slot = 0, weight_slot = 0, grad_slot = 0;  // delayed scaling (fp8)
  buffer<unsigned char> weight_copy;      // what the optimizer writes (bf16, fp16, fp8 delayed)
  buffer<unsigned char> weight_grad, bias_grad;  // in the recipe's weight-gradient format, loss-scaled
  buffer<float> output, activation;       // Z [rows, out_stored] and ReLU(Z) (hidden layers)
  std::unique_ptr<cast_storage> weight, input;  // W / Wᵀ and X / Xᵀ as the GEMMs read them
  const float* input_values = nullptr;    // the FP32 X of the last forward pass
};

class trainer {
 public:
  trainer(const recipe& r, const training_options& options, const std::vector<std::size_t>& widths,
          std::size_t max_rows)
      : recipe_(r), options_(options), max_rows_(max_rows), optimizer_(options.optimizer) {
    mixprec::require(widths.size() >= 2 && widths.front() == image_size && widths.back() == class_count,
                     "fashion_mnist::device::trainer: the widths must run from ", image_size, " to ", class_count);
    const bool fp8 = mixprec::gemm::is_fp8(r.forward_type);
    if (r.loss == loss_scaling::dynamic) scaler_ = std::make_unique<mixprec::cuda::device_loss_scaler>();
    else found_inf_ = buffer<float>(1);
    const std::size_t layer_count = widths.size() - 1;
    layers_.resize(layer_count);
    std::size_t widest = 0;
    for (std::size_t l = 0; l < layer_count; ++l) {
      device_layer& layer = layers_[l];
      layer.in = widths[l];
      layer.out = widths[l + 1];
      layer.out_stored = padded(layer.out);
      // Only the output layer is padded: a hidden layer's output is the next layer's input as it is.
      mixprec::require(l + 1 == layer_count || layer.out_stored == layer.out, "fashion_mnist::device::trainer: ",
                       "hidden width ", layer.out, " must be a multiple of ", gemm_multiple, " on the device");
      widest = std::max({widest, layer.in, layer.out_stored});
    }

    // Delayed scaling: one recipe for every FP8 tensor — the X slots, then the
    // W slots (contiguous, for commit_weight_scales), then the dY slots.
    if (fp8 && r.scaling == operand_scaling::delayed) {
      delayed_ = std::make_unique<mixprec::cuda::device_delayed_scaling>();
      for (device_layer& layer : layers_) layer.input_slot = add_slot(r.forward_type);
      for (device_layer& layer : layers_) layer.weight_slot = add_slot(r.forward_type);
      for (device_layer& layer : layers_) layer.grad_slot = add_slot(r.gradient_type);
      delayed_->prepare();
      written_weight_scale_inv_ = buffer<float>(layer_count);
      const std::vector<float> ones(layer_count, 1.0f);  // 1 / the initial scale 1
      written_weight_scale_inv_.upload(ones.data(), ones.size());
    }

    const scale_mode x_mode = uses_blocks() ? scale_mode::block_1x128 : scale_mode::per_tensor;
    const scale_mode w_mode = uses_blocks() ? scale_mode::block_128x128 : scale_mode::per_tensor;
    const std::vector<initial_layer> initial = initial_parameters(options.seed, widths);
    const std::size_t gradient_bytes = mixprec::gemm::size_of(r.weight_gradient_type);
    for (std::size_t l = 0; l < layer_count; ++l) {
      device_layer& layer = layers_[l];
      // W [out, in] and b [out] padded with zero rows to out_stored.
      std::vector<float> weight(layer.out_stored * layer.in, 0.0f), bias(layer.out_stored, 0.0f);
      std::copy(initial[l].weight.begin(), initial[l].weight.end(), weight.begin());
      std::copy(initial[l].bias.begin(), initial[l].bias.end(), bias.begin());
      layer.weight_grad = buffer<unsigned char>(weight.size() * gradient_bytes);
      layer.bias_grad = buffer<unsigned char>(bias.size() * gradient_bytes);
      const mixprec::scalar_type gradient_type = r.weight_gradient_type;
      const mixprec::const_tensor_view weight_gradient(layer.weight_grad.get(), weight.size(), gradient_type),
          bias_gradient(layer.bias_grad.get(), bias.size(), gradient_type);
      mixprec::model_copy copy;
      if (optimizer_writes_copy()) {
        layer.weight_copy = buffer<unsigned char>(weight.size() * mixprec::gemm::size_of(r.forward_type));
        const bool delayed = delayed_ != nullptr;
        copy = mixprec::model_copy(
            mixprec::tensor_view(layer.weight_copy.get(), weight.size(), r.forward_type),
            delayed ? delayed_->scale(layer.weight_slot) : nullptr, delayed ? delayed_->amax(layer.weight_slot) : nullptr);
      }
      layer.weight_parameter = optimizer_.add(weight, true, weight_gradient, copy);
      layer.bias_parameter = optimizer_.add(bias, false, bias_gradient, {});
      gradients_.add(weight_gradient);
      gradients_.add(bias_gradient);

      layer.output = buffer<float>(max_rows * layer.out_stored);
      if (l + 1 < layer_count) layer.activation = buffer<float>(max_rows * layer.out_stored);
      layer.weight = std::make_unique<cast_storage>(r.forward_type, layer.out_stored, layer.in, w_mode, true);
      layer.input = std::make_unique<cast_storage>(r.forward_type, max_rows, layer.in, x_mode, true);
    }
    optimizer_.prepare(stream_.get());
    gradients_.prepare(stream_.get());
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // the masters' uploads are complete
    if (optimizer_writes_copy())
      for (device_layer& layer : layers_) write_first_copy(layer);

    grad_ = buffer<float>(max_rows * widest);
    next_grad_ = buffer<float>(max_rows * widest);
    bias_sums_ = buffer<float>(widest);
    amax_scratch_ = buffer<float>(1);
    grad_cast_ = std::make_unique<cast_storage>(r.gradient_type, max_rows, widest, x_mode, true);
    row_loss_ = buffer<float>(max_rows);
    row_correct_ = buffer<unsigned>(max_rows);
    counters_ = buffer<unsigned long long>(counter_count);
    counters_.zero(stream_.get());
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }

  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;
  // Nothing may still run on the buffers the members free.
  ~trainer() { cudaStreamSynchronize(stream_.get()); }

  run_result run(const prepared_split& train, const prepared_split& test, const progress_callback& progress) {
    run_result result;
    result.which = recipe_;
    const std::size_t batch = options_.batch_size;
    const std::size_t steps_per_epoch = train.count / batch;  // the last partial batch is dropped
    mixprec::require(steps_per_epoch >= 1, "fashion_mnist::device::trainer: ", train.count,
                     " training images make no batch of ", batch);
    const auto total_steps = static_cast<std::int64_t>(steps_per_epoch * options_.epochs);
    const device_split train_data(train), test_data(test);
    allocate_step_outputs(steps_per_epoch);
    batch_order order(train.count, options_.seed);
    std::vector<std::uint32_t> positions(train.count);
    buffer<std::uint32_t> device_order(train.count);
    buffer<float> x(batch * image_size);
    buffer<std::uint8_t> y(batch);
    std::int64_t step = 0;
    for (std::size_t epoch = 1; epoch <= options_.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      order.shuffle();
      for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<std::uint32_t>(order.order()[i]);
      device_order.upload(positions.data(), positions.size());
      step_correct_.zero(stream_.get());
      for (std::size_t s = 0; s < steps_per_epoch; ++s, ++step) {
        kernels::gather_batch<<<blocks_for(batch * image_size), threads, 0, stream_.get()>>>(
            train_data.images.get(), train_data.labels.get(), device_order.get(), s * batch, batch, image_size, x.get(),
            y.get());
        check_launch("gather_batch");
        optimizer_.set_learning_rate(cosine_learning_rate(options_, step, total_steps), stream_.get());
        train_step(x.get(), y.get(), batch, s, true);
      }
      stream_.synchronize();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      result.seconds += seconds;

      // The epoch's per-step records, read once.
      const std::vector<float> losses = step_loss_.download(steps_per_epoch);
      const std::vector<float> scales = step_loss_scale_.download(steps_per_epoch);
      const std::vector<std::uint8_t> skipped = step_skipped_.download(steps_per_epoch);
      const std::vector<unsigned long long> correct = step_correct_.download(1);
      const std::vector<unsigned long long> counters = counters_.download(counter_count);
      double loss_sum = 0;
      for (std::size_t s = 0; s < steps_per_epoch; ++s) {
        step_record record;
        record.step = step - static_cast<std::int64_t>(steps_per_epoch - s);
        record.epoch = epoch;
        record.loss = losses[s];
        record.loss_scale = scales[s];
        record.skipped = skipped[s] != 0;
        loss_sum += record.loss;
        result.steps.push_back(record);
      }
      epoch_record e;
      e.epoch = epoch;
      e.train_loss = loss_sum / static_cast<double>(steps_per_epoch);
      e.train_accuracy = static_cast<double>(correct[0]) / static_cast<double>(steps_per_epoch * batch);
      e.test_accuracy = evaluate(test_data);
      e.skipped_steps = static_cast<std::int64_t>(counters[skipped_counter]);
      e.loss_scale = scaler_ ? scaler_->read_scale(stream_.get()) : 1.0f;
      e.seconds = seconds;
      result.epochs.push_back(e);
      result.gradient_nonzero = counters[nonzero_counter];
      result.gradient_flushed = counters[flushed_counter];
      if (progress) progress(recipe_, e, options_.epochs);
    }
    result.skipped_steps = result.epochs.empty() ? 0 : result.epochs.back().skipped_steps;
    result.final_loss_scale = result.epochs.empty() ? 1.0f : result.epochs.back().loss_scale;
    result.final_train_loss = result.epochs.empty() ? 0.0 : result.epochs.back().train_loss;
    result.report_step = -1;  // the numerics report is the CPU path's
    return result;
  }

  // Mean milliseconds per step over `steps` steps after `warmup`, on the
  // batches of `data` in order (cycling), at the peak learning rate.
  double time_steps(const prepared_split& data, std::size_t warmup, std::size_t steps) {
    const std::size_t batch = options_.batch_size;
    const std::size_t batches = data.count / batch;
    mixprec::require(batches >= 1 && steps >= 1, "fashion_mnist::device::trainer::time_steps: ", data.count,
                     " images make no batch of ", batch, " or no step was asked for");
    const device_split device_data(data);
    allocate_step_outputs(1);
    step_correct_.zero(stream_.get());
    auto run_step = [&](std::size_t n) {
      const std::size_t first = (n % batches) * batch;
      train_step(device_data.images.get() + first * image_size, device_data.labels.get() + first, batch, 0, false);
    };
    for (std::size_t n = 0; n < warmup; ++n) run_step(n);
    event start, stop;
    start.record(stream_.get());
    for (std::size_t n = 0; n < steps; ++n) run_step(warmup + n);
    stop.record(stream_.get());
    const float ms = stop.since(start);
    stream_.synchronize();
    return static_cast<double>(ms) / static_cast<double>(steps);
  }

 private:
  enum : std::size_t { nonzero_counter, flushed_counter, skipped_counter, counter_count };

  std::size_t add_slot(element_type type) {
    return type == element_type::float8_e5m2 ? delayed_->add<mixprec::float8_e5m2>()
                                             : delayed_->add<mixprec::float8_e4m3>();
  }
  bool uses_blocks() const { return recipe_.scaling == operand_scaling::block; }
  // As in the CPU trainer: BF16/FP16 copies and FP8 copies under delayed
  // scaling are written by the optimizer's fused step; current and block
  // scaling cast from the master weights at the start of each step; FP32
  // reads the master.
  bool optimizer_writes_copy() const {
    return recipe_.forward_type != element_type::float32 &&
           (recipe_.scaling == operand_scaling::none || recipe_.scaling == operand_scaling::delayed);
  }
  const float* loss_scale() const { return scaler_ ? scaler_->scale() : nullptr; }
  float* found_inf() const { return scaler_ ? scaler_->found_inf() : found_inf_.get(); }

  void allocate_step_outputs(std::size_t steps) {
    step_loss_ = buffer<float>(steps);
    step_loss_scale_ = buffer<float>(steps);
    step_skipped_ = buffer<std::uint8_t>(steps);
    step_correct_ = buffer<unsigned long long>(1);
  }

  // The first model copy, cast from the initial master weights with the
  // scale's initial value (1; delayed scaling records its amax), as the CPU
  // trainer's constructor does.
  void write_first_copy(device_layer& layer) {
    const float* master = optimizer_.master(layer.weight_parameter);
    const std::size_t n = layer.out_stored * layer.in;
    with_type(recipe_.forward_type, [&](auto zero) {
      using T = decltype(zero);
      if constexpr (!std::is_same<T, float>::value) {
        const float* scale = delayed_ ? delayed_->scale(layer.weight_slot) : nullptr;
        float* amax = delayed_ ? delayed_->amax(layer.weight_slot) : nullptr;
        mixprec::cuda::quantize<T>(master, n, scale, reinterpret_cast<T*>(layer.weight_copy.get()), amax,
                                   cast_options(recipe_.forward_type), stream_.get());
      }
    });
  }

  void transpose(const void* in, std::size_t rows, std::size_t cols, std::size_t element_size, void* out) {
    const dim3 grid(static_cast<unsigned>((cols + kernels::tile - 1) / kernels::tile),
                    static_cast<unsigned>((rows + kernels::tile - 1) / kernels::tile));
    const dim3 block(kernels::tile, 8);
    switch (element_size) {
      case 1:
        kernels::transpose<<<grid, block, 0, stream_.get()>>>(static_cast<const std::uint8_t*>(in), rows, cols,
                                                               static_cast<std::uint8_t*>(out));
        break;
      case 2:
        kernels::transpose<<<grid, block, 0, stream_.get()>>>(static_cast<const std::uint16_t*>(in), rows, cols,
                                                               static_cast<std::uint16_t*>(out));
        break;
      default:
        kernels::transpose<<<grid, block, 0, stream_.get()>>>(static_cast<const std::uint32_t*>(in), rows, cols,
                                                               static_cast<std::uint32_t*>(out));
        break;
    }
    check_launch("transpose");
  }

  // Casts x [rows, cols] (FP32) to `type` as the recipe says — the CPU
  // trainer's cast_activation and transposed_operand — into out.plain and,
  // with `transposed`, out.transposed. Delayed scaling reads slot's scale and,
  // with `record`, leaves x's amax in the slot for the recipe's update.
  void cast(const float* x, std::size_t rows, std::size_t cols, element_type type, std::size_t slot, bool record,
            bool transposed, cast_storage& out) {
    const auto r = static_cast<std::int64_t>(rows), c = static_cast<std::int64_t>(cols);
    out.plain = operand{type, out.plain_bytes.get(), r, c, scale_mode::per_tensor, nullptr};
    out.transposed = operand{type, out.transposed_bytes.get(), c, r, scale_mode::per_tensor, nullptr};
    const cudaStream_t s = stream_.get();
    with_type(type, [&](auto zero) {
      using T = decltype(zero);
      if constexpr (std::is_same<T, float>::value) {
        // FP32 operands are read as they are; the transposed copy is a transpose.
        out.plain.data = x;
        if (transposed) transpose(x, rows, cols, sizeof(float), out.transposed_bytes.get());
      } else {
        T* q = reinterpret_cast<T*>(out.plain_bytes.get());
        T* q_t = transposed ? reinterpret_cast<T*>(out.transposed_bytes.get()) : nullptr;
        const mixprec::quantize_options o = cast_options(type);
        // `if constexpr`: the scaled casts below are compiled for the FP8
        // types only (with a run-time test their kernels were compiled for
        // BF16 and FP16 too, a third of this file's device code, never run).
        if constexpr (!is_fp8_element<T>) {
          mixprec::cuda::quantize<T>(x, r, c, nullptr, q, q_t, nullptr, o, s);  // BF16 / FP16: unscaled
        } else if (recipe_.scaling == operand_scaling::delayed) {
          mixprec::cuda::quantize<T>(x, r, c, delayed_->scale(slot), q, q_t, record ? delayed_->amax(slot) : nullptr,
                                     o, s);
          out.plain.scale_inv = out.transposed.scale_inv = delayed_->scale_inv(slot);
        } else if (recipe_.scaling == operand_scaling::current) {
          mixprec::cuda::quantize_blockwise<T>(x, r, c, scale_mode::per_tensor, q, out.plain_scale_inv.get(), q_t,
                                               transposed ? out.transposed_scale_inv.get() : nullptr,
                                               amax_scratch_.get(), o, s);
          out.plain.scale_inv = out.plain_scale_inv.get();
          out.transposed.scale_inv = out.transposed_scale_inv.get();
        } else {
          // 1x128 blocks run along K: the transposed operand's blocks run
          // along the batch and have scales of their own, which the fused
          // 1x128 cast-transpose computes in the same pass over x.
          mixprec::cuda::quantize_blockwise<T>(x, r, c, scale_mode::block_1x128, q, out.plain_scale_inv.get(), q_t,
                                               transposed ? out.transposed_scale_inv.get() : nullptr, nullptr, o, s);
          out.plain.mode = out.transposed.mode = scale_mode::block_1x128;
          out.plain.scale_inv = out.plain_scale_inv.get();
          if (transposed) out.transposed.scale_inv = out.transposed_scale_inv.get();
        }
      }
    });
  }

  // W and Wᵀ as the GEMMs read them: the optimizer's copy (and its
  // transpose), a cast of the master (current and block scaling), or the
  // FP32 master itself.
  void prepare_weights() {
    for (device_layer& layer : layers_) {
      cast_storage& w = *layer.weight;
      const auto rows = static_cast<std::int64_t>(layer.out_stored), cols = static_cast<std::int64_t>(layer.in);
      const float* master = optimizer_.master(layer.weight_parameter);
      const element_type type = recipe_.forward_type;
      if (optimizer_writes_copy()) {
        const float* factor = delayed_ ? written_weight_scale_inv_.get() + (&layer - layers_.data()) : nullptr;
        w.plain = operand{type, layer.weight_copy.get(), rows, cols, scale_mode::per_tensor, factor};
        w.transposed = operand{type, w.transposed_bytes.get(), cols, rows, scale_mode::per_tensor, factor};
        transpose(layer.weight_copy.get(), layer.out_stored, layer.in, mixprec::gemm::size_of(type),
                  w.transposed_bytes.get());
      } else if (uses_blocks()) {
        with_type(type, [&](auto zero) {
          using T = decltype(zero);
          if constexpr (is_fp8_element<T>) {  // block scaling is an FP8 recipe's
            mixprec::cuda::quantize_blockwise<T>(master, rows, cols, scale_mode::block_128x128,
                                                 reinterpret_cast<T*>(w.plain_bytes.get()), w.plain_scale_inv.get(),
                                                 reinterpret_cast<T*>(w.transposed_bytes.get()),
                                                 w.transposed_scale_inv.get(), nullptr, cast_options(type),
                                                 stream_.get());
          } else {
            mixprec::require(false, "fashion_mnist: block scaling needs an FP8 forward type, not ",
                             mixprec::to_string(type));
          }
        });
        w.plain = operand{type, w.plain_bytes.get(), rows, cols, scale_mode::block_128x128, w.plain_scale_inv.get()};
        w.transposed = operand{type, w.transposed_bytes.get(), cols, rows, scale_mode::block_128x128,
                               w.transposed_scale_inv.get()};
      } else {
        // FP32 (the master and its transpose) or FP8 current scaling.
        cast(master, layer.out_stored, layer.in, type, 0, false, true, w);
      }
    }
  }

  // D = A · Bᵀ (gemm/problem.hpp's shape), FP32 accumulation, D in d_type;
  // `which` and `layer` name the GEMM in errors. A shape or scale-mode
  // combination this device's cuBLASLt does not run (it answers
  // CUBLAS_STATUS_NOT_SUPPORTED or CUBLAS_STATUS_INVALID_VALUE, which it may do
  // for block scales with small K or N, such as the quick mode's K = 64
  // weight-gradient GEMM or the output layer's N = K = 16) fails the recipe on
  // its first step with a mixprec::error that names the GEMM, its shape and
  // scale modes, and what to try; nothing is trained on a partial plan.
  void gemm(const operand& a, const operand& b, element_type d_type, void* d, const char* which, std::size_t layer) {
    mixprec::require(a.cols == b.cols, "fashion_mnist::device::gemm: A is [", a.rows, ", ", a.cols, "] but B is [",
                     b.rows, ", ", b.cols, "]; both must be K-contiguous with the same K");
    mixprec::gemm::problem p = mixprec::gemm::make_problem(a.rows, b.rows, a.cols, a.type, b.type, d_type);
    p.a.data = a.data;
    p.b.data = b.data;
    if (mixprec::gemm::is_fp8(a.type)) {  // cuBLASLt scales FP8 operands only; the others have none
      p.a.scaling = a.mode;
      p.a.scale = a.scale_inv;
      p.b.scaling = b.mode;
      p.b.scale = b.scale_inv;
    }
    p.d.data = d;
    try {
      engine_.run(p, stream_.get());  // validates with gemm::validate_for_cublaslt first
    } catch (const mixprec::cuda::cublas_error& e) {
      if (e.status() != CUBLAS_STATUS_NOT_SUPPORTED && e.status() != CUBLAS_STATUS_INVALID_VALUE) throw;
      throw mixprec::error(mixprec::detail::make_message(
          "fashion_mnist --device cuda: recipe ", recipe_.name, ": cuBLASLt on this device does not run the ", which,
          " GEMM of layer ", layer + 1, " (M=", p.m, " N=", p.n, " K=", p.k, ", A ", p.a.type, " ", p.a.scaling,
          ", B ", p.b.type, " ", p.b.scaling, "): ", cublasLtGetStatusName(e.status()),
          ". Block-scaled FP8 kernels may need K and N of at least one 128-element block: try --batch 128 (K of the "
          "weight-gradient GEMMs) and hidden widths that are multiples of 128, or a recipe with per-tensor scales. "
          "cuBLASLt said: ", e.what()));
    }
  }

  // Logits [rows, out_stored] of a batch (device images); keeps what the
  // backward pass needs when training.
  const float* forward(const float* images, std::size_t rows, bool training) {
    mixprec::require(rows >= 1 && rows <= max_rows_, "fashion_mnist::device::trainer: a batch of ", rows,
                     " rows; the buffers hold 1 to ", max_rows_);
    const float* input = images;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      device_layer& layer = layers_[l];
      layer.input_values = input;
      cast(input, rows, layer.in, recipe_.forward_type, layer.input_slot, training, training, *layer.input);
      gemm(layer.input->plain, layer.weight->plain, element_type::float32, layer.output.get(), "forward", l);
      const bool hidden = l + 1 < layers_.size();
      kernels::add_bias_relu<<<blocks_for(rows * layer.out_stored), threads, 0, stream_.get()>>>(
          layer.output.get(), optimizer_.master(layer.bias_parameter), rows, layer.out_stored,
          hidden ? layer.activation.get() : nullptr);
      check_launch("add_bias_relu");
      if (hidden) input = layer.activation.get();
    }
    return layers_.back().output.get();
  }

  // One step on the batch x [rows, 784], y [rows]; its records go to `slot`
  // of the step outputs. `diagnostics`: count the gradients that would flush
  // to zero unscaled (the summary's column; the timing mode leaves it out).
  void train_step(const float* x, const std::uint8_t* y, std::size_t rows, std::size_t slot, bool diagnostics) {
    const cudaStream_t s = stream_.get();
    if (!scaler_) found_inf_.zero(s);  // the scaler clears its own in update()
    prepare_weights();
    const float* logits = forward(x, rows, true);
    const device_layer& last = layers_.back();
    kernels::softmax_cross_entropy<<<blocks_for(rows), threads, 0, s>>>(
        logits, rows, last.out_stored, y, loss_scale(), grad_.get(), row_loss_.get(), row_correct_.get());
    check_launch("softmax_cross_entropy");

    // Backward, last layer first; grad_ holds the current layer's dY (loss-scaled).
    const float flush_threshold = flush_threshold_of(recipe_.gradient_type);
    for (std::size_t l = layers_.size(); l-- > 0;) {
      device_layer& layer = layers_[l];
      const std::size_t width = layer.out_stored;
      if (diagnostics) {
        kernels::count_flushed<<<blocks_for(rows * width), threads, 0, s>>>(
            grad_.get(), rows * width, loss_scale(), flush_threshold, counters_.get() + nonzero_counter);
        check_launch("count_flushed");
      }
      cast(grad_.get(), rows, width, recipe_.gradient_type, layer.grad_slot, true, true, *grad_cast_);
      // wgrad: dW[out, in] = dYᵀ · X: A = dYᵀ [out, rows], B = Xᵀ [in, rows].
      gemm(grad_cast_->transposed, layer.input->transposed, recipe_.weight_gradient_type, layer.weight_grad.get(),
           "weight-gradient", l);
      // The bias gradient: dY's column sums in FP32, stored in the weight-gradient format.
      const bool fp32_gradient = recipe_.weight_gradient_type == element_type::float32;
      float* sums = fp32_gradient ? reinterpret_cast<float*>(layer.bias_grad.get()) : bias_sums_.get();
      kernels::column_sums<<<blocks_for(width), threads, 0, s>>>(grad_.get(), rows, width, sums);
      check_launch("column_sums");
      if (!fp32_gradient) {
        with_type(recipe_.weight_gradient_type, [&](auto zero) {
          using T = decltype(zero);
          if constexpr (!std::is_same<T, float>::value)
            mixprec::cuda::quantize<T>(sums, width, nullptr, reinterpret_cast<T*>(layer.bias_grad.get()), nullptr,
                                       cast_options(recipe_.weight_gradient_type), s);
        });
      }
      if (l == 0) break;
      // dgrad: dX[rows, in] = dY · W: A = dY [rows, out], B = Wᵀ [in, out]; then ReLU'.
      gemm(grad_cast_->plain, layer.weight->transposed, element_type::float32, next_grad_.get(), "input-gradient", l);
      kernels::relu_backward<<<blocks_for(rows * layer.in), threads, 0, s>>>(next_grad_.get(),
                                                                              layers_[l - 1].output.get(),
                                                                              rows * layer.in);
      check_launch("relu_backward");
      std::swap(grad_, next_grad_);
    }

    // found_inf over every gradient (unscaled on the fly: nothing is written back).
    mixprec::cuda::unscale_and_check(gradients_, loss_scale(), found_inf(), nullptr, false, s);
    kernels::step_outputs out{step_loss_.get(), step_loss_scale_.get(), step_skipped_.get(), step_correct_.get(),
                              counters_.get() + skipped_counter};
    kernels::finish_step<<<1, threads, 0, s>>>(row_loss_.get(), row_correct_.get(), rows, loss_scale(), found_inf(),
                                               out, slot);
    check_launch("finish_step");
    // FP8 scales for the next step, from the histories with this step's
    // amaxes (and the weights' from the last optimizer step); the optimizer
    // below writes the weight copies with the new weight scales.
    if (delayed_) delayed_->update(s);
    optimizer_.step(found_inf(), loss_scale(), s);
    if (delayed_) {
      kernels::commit_weight_scales<<<1, 32, 0, s>>>(found_inf(), delayed_->scale_inv(layers_.front().weight_slot),
                                                     layers_.size(), written_weight_scale_inv_.get());
      check_launch("commit_weight_scales");
    }
    if (scaler_) scaler_->update(s);
  }

  // Fraction of `data` classified right, through the same casts as training
  // (delayed scales are read, not updated).
  double evaluate(const device_split& data) {
    prepare_weights();
    buffer<unsigned long long> correct(1);
    correct.zero(stream_.get());
    for (std::size_t start = 0; start < data.count; start += options_.eval_batch) {
      const std::size_t rows = std::min(options_.eval_batch, data.count - start);
      // Block scales need M % 4 == 0 (gemm::validate_for_cublaslt): a block
      // recipe's ragged last batch gets zero rows, which change nothing (each
      // row's 1x128 scales are its own) and are not counted. Per-tensor
      // scales take any M, and there extra rows would change the amax.
      const std::size_t gemm_rows =
          uses_blocks() ? static_cast<std::size_t>(mixprec::gemm::round_up(static_cast<std::int64_t>(rows), 4)) : rows;
      const float* images = data.images.get() + start * image_size;
      if (gemm_rows != rows) {
        if (eval_padding_.size() < gemm_rows * image_size) eval_padding_ = buffer<float>(gemm_rows * image_size);
        check(cudaMemsetAsync(eval_padding_.get(), 0, gemm_rows * image_size * sizeof(float), stream_.get()),
              "cudaMemsetAsync");
        check(cudaMemcpyAsync(eval_padding_.get(), images, rows * image_size * sizeof(float),
                              cudaMemcpyDeviceToDevice, stream_.get()),
              "cudaMemcpyAsync");
        images = eval_padding_.get();
      }
      const float* logits = forward(images, gemm_rows, false);
      kernels::count_correct<<<blocks_for(rows), threads, 0, stream_.get()>>>(
          logits, rows, layers_.back().out_stored, data.labels.get() + start, correct.get());
      check_launch("count_correct");
    }
    stream_.synchronize();
    return static_cast<double>(correct.download(1)[0]) / static_cast<double>(data.count);
  }

  static float flush_threshold_of(element_type type) {
    const std::vector<format_limits>& formats = report_formats();
    switch (type) {
      case element_type::float16: return formats[0].flush_threshold;
      case element_type::bfloat16: return formats[1].flush_threshold;
      case element_type::float8_e4m3: return formats[2].flush_threshold;
      case element_type::float8_e5m2: return formats[3].flush_threshold;
      case element_type::float32: break;
    }
    return 0.0f;
  }

  recipe recipe_;
  training_options options_;
  std::size_t max_rows_;
  // Declared before everything that enqueues work on it: destroyed last.
  stream stream_;
  mixprec::cuda::scaled_gemm_engine engine_;
  device_optimizer optimizer_;
  mixprec::cuda::gradient_set gradients_;
  std::unique_ptr<mixprec::cuda::device_loss_scaler> scaler_;
  buffer<float> found_inf_;  // recipes without loss scaling: inf/NaN still skips the step, as on the CPU
  std::unique_ptr<mixprec::cuda::device_delayed_scaling> delayed_;
  buffer<float> written_weight_scale_inv_;  // per layer: the factor the current weight copy was written with
  std::vector<device_layer> layers_;
  buffer<float> grad_, next_grad_, bias_sums_, amax_scratch_;
  std::unique_ptr<cast_storage> grad_cast_;
  buffer<float> row_loss_;
  buffer<unsigned> row_correct_;
  buffer<float> step_loss_, step_loss_scale_;
  buffer<std::uint8_t> step_skipped_;
  buffer<unsigned long long> step_correct_, counters_;
  buffer<float> eval_padding_;
};

}  // namespace device
}  // namespace fashion_mnist
