// examples/fashion_mnist/mlp.hpp — the model and one recipe's training run.
//
// An MLP 784-256-128-10 with ReLU; softmax cross-entropy in FP32. Every
// linear layer Y = X · Wᵀ + b runs its three GEMMs (forward, dgrad, wgrad,
// mapped onto one GEMM shape as mixprec/gemm/problem.hpp describes) on
// operands cast to the recipe's formats with the recipe's scales, through
// mixprec's CPU reference. Bias, ReLU, softmax and the loss stay in FP32, as
// in TransformerEngine's FP8 linear layers.
//
// Per step:
//   forward   X_l cast (recipe scale; amax recorded) · W_l copy  -> Z_l (FP32) + b_l, ReLU
//   loss      softmax cross-entropy in FP32; dZ_3 = (p - onehot) / batch · loss scale
//   backward  dY_l cast (gradient format, its scale) ->
//               wgrad dW_l = dY_lᵀ · X_l, stored in the weight-gradient format
//               dgrad dX_l = dY_l · W_l, times ReLU'
//   update    mixprec optimizer: unscale, skip on inf/NaN, update the FP32
//             master weights and moments, write the low-precision model copy
//             (BF16/FP16/FP8 with its scale) that the next forward reads;
//             loss scaler and FP8 scales advance.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backend.hpp"
#include "checkpoint_file.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/optimizer.hpp"
#include "numerics.hpp"
#include "optimizer_adapter.hpp"
#include "recipes.hpp"
#include "training_setup.hpp"

namespace fashion_mnist {

constexpr std::size_t layer_count = 3;
constexpr std::size_t layer_widths[layer_count + 1] = {784, 256, 128, 10};

namespace detail {

// CPU time of the calling thread (0 where POSIX thread clocks are missing):
// with other work on the machine, it measures the run better than wall time.
inline double thread_cpu_seconds_now() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0)
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
#endif
  return 0.0;
}

// The per-tensor scale of one FP8 operand under the recipe's scaling: the
// library's delayed_scaling (TE's DelayedScaling: scale from the amax history
// of earlier steps) or current_scaling (from this tensor's amax).
template <class T>
class fp8_operand_scale {
 public:
  explicit fp8_operand_scale(operand_scaling mode) : mode_(mode) {}
  // The quantisation factor for a cast of x (current scaling reads x's amax).
  float scale_for(const float* x, std::size_t count) {
    if (mode_ == operand_scaling::current) return current_.update(mixprec::reference::amax(x, count));
    if (mode_ == operand_scaling::delayed) return delayed_.scale();
    return 1.0f;
  }
  void record(float amax) {
    if (mode_ == operand_scaling::delayed) delayed_.record(amax);
  }
  float end_step() { return mode_ == operand_scaling::delayed ? delayed_.update() : 1.0f; }
  float scale() const { return mode_ == operand_scaling::delayed ? delayed_.scale() : current_.scale(); }
  // Checkpointing: delayed scaling's state (current scaling keeps none across steps).
  mixprec::delayed_scaling_state save_delayed() const { return delayed_.save(); }
  void load_delayed(const mixprec::delayed_scaling_state& s) { delayed_.load(s); }

 private:
  operand_scaling mode_;
  mixprec::delayed_scaling<T> delayed_;
  mixprec::current_scaling<T> current_;
};

// An operand's scale, whatever its format: FP32/BF16/FP16 operands are cast
// unscaled; FP8 ones by E4M3's or E5M2's rule.
class scale_slot {
 public:
  scale_slot(element_type type, operand_scaling mode)
      : mode_(mixprec::gemm::is_fp8(type) ? mode : operand_scaling::none),
        is_e5m2_(type == element_type::float8_e5m2),
        e4m3_(mode_),
        e5m2_(mode_) {}
  float scale_for(const float* x, std::size_t count) {
    return is_e5m2_ ? e5m2_.scale_for(x, count) : e4m3_.scale_for(x, count);
  }
  void record(float amax) { is_e5m2_ ? e5m2_.record(amax) : e4m3_.record(amax); }
  float end_step() { return is_e5m2_ ? e5m2_.end_step() : e4m3_.end_step(); }
  float scale() const { return is_e5m2_ ? e5m2_.scale() : e4m3_.scale(); }
  operand_scaling mode() const { return mode_; }
  mixprec::delayed_scaling_state save_delayed() const {
    return is_e5m2_ ? e5m2_.save_delayed() : e4m3_.save_delayed();
  }
  void load_delayed(const mixprec::delayed_scaling_state& s) {
    is_e5m2_ ? e5m2_.load_delayed(s) : e4m3_.load_delayed(s);
  }

 private:
  operand_scaling mode_;
  bool is_e5m2_;
  fp8_operand_scale<mixprec::float8_e4m3> e4m3_;
  fp8_operand_scale<mixprec::float8_e5m2> e5m2_;
};

inline void transpose_floats(const float* in, std::size_t rows, std::size_t cols, std::vector<float>& out) {
  out.resize(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

}  // namespace detail

// One linear layer: parameter indices in the optimizer (which owns the FP32
// master weights), the model copy it writes, scales, and what a step keeps.
struct linear_layer {
  std::size_t in = 0, out = 0;
  std::size_t weight_parameter = 0, bias_parameter = 0;
  detail::scale_slot input_scale, weight_scale, grad_scale;

  // The weight copy the optimizer writes (BF16, FP16 or FP8 recipes with
  // per-tensor scales): convert(w · copy_scale). copy_scale is what the
  // optimizer reads at its next step; copy_scale_written what the current
  // copy was written with (they differ after a skipped step).
  std::vector<unsigned char> weight_copy;
  float copy_scale = 1.0f, copy_scale_written = 1.0f, copy_amax = 0.0f;

  gemm_operand weight_q, weight_q_t;  // W [out, in] and Wᵀ [in, out] as the GEMMs read them
  std::vector<unsigned char> weight_grad, bias_grad;  // in the recipe's weight-gradient format (scaled)

  // Kept from the forward pass for the backward pass.
  std::vector<float> input;   // X [batch, in], FP32
  std::vector<float> output;  // Z = X·Wᵀ + b [batch, out], FP32
  gemm_operand input_q;
  float input_scale_used = 1, grad_scale_used = 1;

  linear_layer(std::size_t in_features, std::size_t out_features, const recipe& r)
      : in(in_features),
        out(out_features),
        input_scale(r.forward_type, r.scaling),
        weight_scale(r.forward_type, r.scaling),
        grad_scale(r.gradient_type, r.scaling) {}
};

// Trains one recipe from the seed and reports everything the demo prints.
class trainer {
 public:
  trainer(const recipe& r, const training_options& options) : recipe_(r), options_(options) {
    optimizer_ = make_optimizer(options.optimizer);
    require_batch_fits(r, options.batch_size);
    if (r.loss == loss_scaling::dynamic) scaler_ = std::make_unique<mixprec::dynamic_loss_scaler>();
    // The same initial weights for every recipe and device (training_setup.hpp).
    std::vector<initial_layer> initial =
        initial_parameters(options.seed, std::vector<std::size_t>(std::begin(layer_widths), std::end(layer_widths)));
    layers_.reserve(layer_count);
    for (std::size_t l = 0; l < layer_count; ++l) {
      layers_.emplace_back(layer_widths[l], layer_widths[l + 1], r);
      linear_layer& layer = layers_.back();
      const std::vector<float>& weight = initial[l].weight;
      const std::vector<float>& bias = initial[l].bias;
      mixprec::model_copy copy;
      if (optimizer_writes_copy()) {
        // The first copy is cast here, with the scale's initial value (1 for
        // delayed scaling, as in TE); the optimizer rewrites it every step.
        layer.copy_scale = layer.copy_scale_written = layer.weight_scale.scale();
        gemm_operand first;
        const float amax = cast_per_tensor(weight.data(), static_cast<std::int64_t>(layer.out),
                                           static_cast<std::int64_t>(layer.in), r.forward_type, layer.copy_scale,
                                           &first, nullptr);
        layer.weight_scale.record(amax);
        layer.weight_copy = first.storage;
        copy = mixprec::model_copy(mixprec::tensor_view(layer.weight_copy.data(), weight.size(),
                                                        r.forward_type),
                                   &layer.copy_scale, &layer.copy_amax);
      }
      layer.weight_parameter = optimizer_->add(weight, true, copy);
      layer.bias_parameter = optimizer_->add(bias, false, {});
      const std::size_t gradient_bytes = mixprec::gemm::size_of(r.weight_gradient_type);
      layer.weight_grad.resize(weight.size() * gradient_bytes);
      layer.bias_grad.resize(bias.size() * gradient_bytes);
    }
  }

  // The optimizer holds pointers into the layers (model copies and their scales).
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;

  // What a checkpoint of this trainer's run on `train_count` / `test_count`
  // images must agree with.
  run_identity identity(std::size_t train_count, std::size_t test_count) const {
    run_identity id;
    id.recipe = recipe_.name;
    id.seed = options_.seed;
    id.batch = options_.batch_size;
    id.epochs = options_.epochs;
    id.train_count = train_count;
    id.test_count = test_count;
    id.eval_batch = options_.eval_batch;
    id.widths.assign(std::begin(layer_widths), std::end(layer_widths));
    id.optimizer = options_.optimizer.name;
    id.learning_rate = options_.optimizer.learning_rate;
    id.weight_decay = options_.optimizer.weight_decay;
    id.momentum = options_.optimizer.momentum;
    id.final_learning_rate_fraction = options_.final_learning_rate_fraction;
    const auto steps_per_epoch = static_cast<std::int64_t>(options_.batch_size == 0 ? 0 : train_count / options_.batch_size);
    id.report_step = options_.report_step >= 0 ? options_.report_step : steps_per_epoch - 1;
    return id;
  }

  // Restores a checkpoint into this freshly constructed trainer and `result`;
  // returns the epochs it had finished. Throws mixprec::error when it belongs
  // to another run (naming every differing field) or does not fit.
  std::size_t restore(const recipe_checkpoint& c, std::size_t train_count, std::size_t test_count,
                      run_result& result) {
    const std::string differences = identity_differences(c.identity, identity(train_count, test_count));
    mixprec::require(differences.empty(), "the checkpoint was written by another run (", differences,
                     "); resume with the arguments it was written with, or delete it to start afresh");
    const std::size_t steps_per_epoch = train_count / options_.batch_size;
    mixprec::require(c.epochs_done <= options_.epochs && c.records.epochs.size() == c.epochs_done &&
                         c.step >= 0 && static_cast<std::uint64_t>(c.step) == c.epochs_done * steps_per_epoch &&
                         c.records.steps.size() == static_cast<std::size_t>(c.step) && c.skipped >= 0 &&
                         c.skipped <= c.step,
                     "the checkpoint's counters do not fit together: ", c.epochs_done, " epochs done of ",
                     options_.epochs, ", ", c.records.epochs.size(), " epoch records, step ", c.step, " (",
                     steps_per_epoch, " per epoch), ", c.records.steps.size(), " step records, ", c.skipped,
                     " skipped");
    mixprec::require(c.has_scaler == (scaler_ != nullptr), "the checkpoint ", c.has_scaler ? "has" : "lacks",
                     " a loss scaler, recipe ", recipe_.name, (scaler_ ? " uses" : " uses none"));
    mixprec::require(c.layers.size() == layer_count, "the checkpoint holds ", c.layers.size(), " layers, the model ",
                     layer_count);
    for (const layer_checkpoint& l : c.layers)
      mixprec::require(l.delayed.size() == 3, "a layer of the checkpoint holds ", l.delayed.size(),
                       " scale states, not 3 (input, weight, gradient)");
    optimizer_->load_state(c.optimizer);  // masters, moments, progress and the weight copies' bytes
    if (scaler_) scaler_->load(c.scaler);
    for (std::size_t l = 0; l < layer_count; ++l) {
      linear_layer& layer = layers_[l];
      layer.copy_scale = c.layers[l].copy_scale;
      layer.copy_scale_written = c.layers[l].copy_scale_written;
      layer.input_scale.load_delayed(c.layers[l].delayed[0]);
      layer.weight_scale.load_delayed(c.layers[l].delayed[1]);
      layer.grad_scale.load_delayed(c.layers[l].delayed[2]);
    }
    step_ = c.step;
    skipped_ = c.skipped;
    result = c.records;
    result.which = recipe_;
    return static_cast<std::size_t>(c.epochs_done);
  }

  run_result run(const prepared_split& train, const prepared_split& test, const progress_callback& progress,
                 const checkpoint_hooks& checkpoints = {}) {
    const double cpu_start = thread_cpu_seconds();
    run_result result;
    result.which = recipe_;
    const std::size_t batch = options_.batch_size;
    const std::size_t steps_per_epoch = train.count / batch;  // the last partial batch is dropped
    total_steps_ = static_cast<std::int64_t>(steps_per_epoch * options_.epochs);
    result.report_step =
        options_.report_step >= 0 ? options_.report_step : static_cast<std::int64_t>(steps_per_epoch) - 1;
    batch_order order(train.count, options_.seed);
    std::size_t epochs_done = 0;
    if (checkpoints.resume != nullptr) {
      epochs_done = restore(*checkpoints.resume, train.count, test.count, result);
      for (std::size_t e = 0; e < epochs_done; ++e) order.shuffle();  // the batch order's position, replayed
    }
    const double cpu_before = result.cpu_seconds;
    std::vector<float> x(batch * image_size);
    std::vector<std::uint8_t> y(batch);
    for (std::size_t epoch = epochs_done + 1; epoch <= options_.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      order.shuffle();
      double loss_sum = 0;
      std::size_t correct = 0;
      for (std::size_t s = 0; s < steps_per_epoch; ++s) {
        for (std::size_t b = 0; b < batch; ++b) {
          const std::size_t index = order.order()[s * batch + b];
          std::copy_n(&train.images[index * image_size], image_size, &x[b * image_size]);
          y[b] = train.labels[index];
        }
        step_record record = train_step(x.data(), y.data(), batch, correct, result, step_ == result.report_step);
        record.epoch = epoch;
        loss_sum += static_cast<double>(record.loss);
        result.steps.push_back(record);
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      result.seconds += seconds;
      epoch_record e;
      e.epoch = epoch;
      e.train_loss = loss_sum / static_cast<double>(steps_per_epoch);
      e.train_accuracy = static_cast<double>(correct) / static_cast<double>(steps_per_epoch * batch);
      e.test_accuracy = evaluate(test);
      e.skipped_steps = skipped_;
      e.loss_scale = loss_scale();
      e.seconds = seconds;
      result.epochs.push_back(e);
      result.cpu_seconds = cpu_before + (thread_cpu_seconds() - cpu_start);
      if (checkpoints.save) checkpoints.save(to_bytes(make_checkpoint(result, epoch, train.count, test.count)));
      if (progress) progress(recipe_, e, options_.epochs);
      if (epoch == checkpoints.stop_after_epochs) break;
    }
    result.skipped_steps = skipped_;
    result.final_loss_scale = loss_scale();
    result.final_train_loss = result.epochs.empty() ? 0.0 : result.epochs.back().train_loss;
    result.cpu_seconds = cpu_before + (thread_cpu_seconds() - cpu_start);
    return result;
  }

  // Fraction of `data` classified right, through the same casts as training
  // (delayed scales are read, not updated).
  double evaluate(const prepared_split& data) {
    prepare_weights();
    std::size_t correct = 0;
    for (std::size_t start = 0; start < data.count; start += options_.eval_batch) {
      const std::size_t rows = std::min(options_.eval_batch, data.count - start);
      const float* logits = forward(&data.images[start * image_size], rows, false);
      for (std::size_t r = 0; r < rows; ++r) correct += argmax(logits + r * class_count) == data.labels[start + r];
    }
    return static_cast<double>(correct) / static_cast<double>(data.count);
  }

 private:
  static double thread_cpu_seconds() { return detail::thread_cpu_seconds_now(); }

  // The state after `epochs_done` epochs, with the records so far.
  recipe_checkpoint make_checkpoint(const run_result& records, std::size_t epochs_done, std::size_t train_count,
                                    std::size_t test_count) const {
    recipe_checkpoint c;
    c.identity = identity(train_count, test_count);
    c.epochs_done = epochs_done;
    c.step = step_;
    c.skipped = skipped_;
    c.optimizer = optimizer_->save_state();
    c.has_scaler = scaler_ != nullptr;
    if (scaler_) c.scaler = scaler_->save();
    for (const linear_layer& layer : layers_)
      c.layers.push_back({layer.copy_scale, layer.copy_scale_written,
                          {layer.input_scale.save_delayed(), layer.weight_scale.save_delayed(),
                           layer.grad_scale.save_delayed()}});
    c.records = records;
    return c;
  }
  float loss_scale() const { return scaler_ ? scaler_->scale() : 1.0f; }
  bool uses_blocks() const { return recipe_.scaling == operand_scaling::block; }
  // MX / NVFP4 operands (recipe_.blocks), each quantized by the CPU reference.
  bool uses_microscaling() const { return recipe_.scaling == operand_scaling::microscaling; }
  // The stochastic-rounding stream of layer l's gradient at this step: 2^32
  // counters apart per (step, layer), more than any tensor's element count,
  // so no two casts share random bits; both orientations of dY share them
  // (element (r, c) draws the same bits, reference/mx_quantize.hpp).
  std::uint64_t rounding_offset(std::size_t l) const {
    return (static_cast<std::uint64_t>(step_) * layer_count + l) << 32;
  }
  // BF16/FP16 copies, and FP8 copies under delayed scaling (whose scale is
  // known before the weights are), are written by the optimizer's fused step.
  // Current and block scaling need the new weights' amax first, so they cast
  // from the master weights at the start of each step; FP32 reads the master.
  bool optimizer_writes_copy() const {
    return recipe_.forward_type != element_type::float32 &&
           (recipe_.scaling == operand_scaling::none || recipe_.scaling == operand_scaling::delayed);
  }

  static std::size_t argmax(const float* v) {
    std::size_t best = 0;
    for (std::size_t c = 1; c < class_count; ++c)
      if (v[c] > v[best]) best = c;
    return best;
  }

  // W and Wᵀ as the GEMMs read them, from the model copy or the master.
  void prepare_weights() {
    for (linear_layer& layer : layers_) {
      const auto rows = static_cast<std::int64_t>(layer.out), cols = static_cast<std::int64_t>(layer.in);
      const float* master = optimizer_->master(layer.weight_parameter);
      if (optimizer_writes_copy()) {
        layer.weight_q.refer_to(layer.weight_copy.data(), recipe_.forward_type, rows, cols,
                                1.0f / layer.copy_scale_written);
        transpose_operand(layer.weight_q, layer.weight_q_t);
      } else if (uses_microscaling()) {
        // W row-wise for the forward GEMM, W column-wise (Wᵀ) for dgrad, both from the master weights.
        cast_block_scaled(master, rows, cols, *recipe_.blocks, mixprec::linear_operand::forward_weight, 0, 0,
                          layer.weight_q);
        cast_block_scaled(master, rows, cols, *recipe_.blocks, mixprec::linear_operand::dgrad_weight, 0, 0,
                          layer.weight_q_t);
      } else if (uses_blocks()) {
        cast_blockwise(master, rows, cols, recipe_.forward_type, scale_mode::block_128x128, layer.weight_q,
                       &layer.weight_q_t);
      } else {
        const float scale = layer.weight_scale.scale_for(master, layer.in * layer.out);
        cast_per_tensor(master, rows, cols, recipe_.forward_type, scale, &layer.weight_q, &layer.weight_q_t);
      }
    }
  }

  // Casts x [rows, cols] to `type` with the slot's scale (or per block, or as
  // operand `role` of a microscaling recipe, with stochastic rounding from
  // `offset`); the amax is recorded for delayed scaling when `record`.
  void cast_activation(const float* x, std::size_t rows, std::size_t cols, element_type type,
                       detail::scale_slot& slot, bool record, gemm_operand& out, float& scale_used,
                       mixprec::linear_operand role, std::uint64_t offset) {
    if (uses_microscaling()) {
      cast_block_scaled(x, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), *recipe_.blocks, role,
                        options_.seed, offset, out);
      scale_used = 0;
      return;
    }
    if (uses_blocks()) {
      cast_blockwise(x, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), type,
                     scale_mode::block_1x128, out);
      scale_used = 0;
      return;
    }
    scale_used = slot.scale_for(x, rows * cols);
    const float amax = cast_per_tensor(x, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), type,
                                       scale_used, &out, nullptr);
    if (record) slot.record(amax);
  }

  // The K-major copy the wgrad GEMM reads: the same values for per-tensor
  // scales (cast-transpose); 1x128 blocks run along the batch then, so
  // block recipes cast the transpose on its own.
  // Microscaling recipes quantize x column-wise as operand `role`.
  void transposed_operand(const float* x, const gemm_operand& cast, std::size_t rows, std::size_t cols,
                          gemm_operand& out, mixprec::linear_operand role, std::uint64_t offset) {
    if (uses_microscaling()) {
      cast_block_scaled(x, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), *recipe_.blocks, role,
                        options_.seed, offset, out);
    } else if (uses_blocks()) {
      detail::transpose_floats(x, rows, cols, scratch_t_);
      cast_blockwise(scratch_t_.data(), static_cast<std::int64_t>(cols), static_cast<std::int64_t>(rows), cast.type,
                     scale_mode::block_1x128, out);
    } else {
      transpose_operand(cast, out);
    }
  }

  // Logits [rows, 10] of a batch; keeps what backward needs.
  const float* forward(const float* images, std::size_t rows, bool training) {
    const float* input = images;
    for (std::size_t l = 0; l < layer_count; ++l) {
      linear_layer& layer = layers_[l];
      layer.input.assign(input, input + rows * layer.in);
      cast_activation(input, rows, layer.in, recipe_.forward_type, layer.input_scale, training, layer.input_q,
                      layer.input_scale_used, mixprec::linear_operand::forward_input, 0);
      layer.output.resize(rows * layer.out);
      gemm_nt(layer.input_q, layer.weight_q, element_type::float32, layer.output.data());
      const float* bias = optimizer_->master(layer.bias_parameter);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < layer.out; ++c) layer.output[r * layer.out + c] += bias[c];
      if (l + 1 < layer_count) {
        activation_[l].resize(rows * layer.out);
        for (std::size_t i = 0; i < rows * layer.out; ++i) activation_[l][i] = std::fmax(layer.output[i], 0.0f);
        input = activation_[l].data();
      }
    }
    return layers_.back().output.data();
  }

  step_record train_step(const float* x, const std::uint8_t* y, std::size_t rows, std::size_t& correct,
                         run_result& result, bool report) {
    step_record record;
    record.step = step_;
    record.loss_scale = loss_scale();
    prepare_weights();
    const float* logits = forward(x, rows, true);

    // Softmax cross-entropy in FP32; dLoss/dlogits = (p - onehot) / rows,
    // times the loss scale.
    grad_.assign(rows * class_count, 0.0f);
    double loss = 0;
    const float scale = loss_scale();
    for (std::size_t r = 0; r < rows; ++r) {
      const float* z = logits + r * class_count;
      const std::size_t predicted = argmax(z);
      correct += predicted == y[r];
      float sum = 0;
      float p[class_count];
      for (std::size_t c = 0; c < class_count; ++c) sum += (p[c] = std::exp(z[c] - z[predicted]));
      loss += static_cast<double>(std::log(sum) - (z[y[r]] - z[predicted]));
      for (std::size_t c = 0; c < class_count; ++c)
        grad_[r * class_count + c] = (p[c] / sum - (c == y[r] ? 1.0f : 0.0f)) / static_cast<float>(rows) * scale;
    }
    record.loss = static_cast<float>(loss / static_cast<double>(rows));

    if (report) result.report.clear();
    // Backward, last layer first; grad_ holds dY of the current layer, scaled.
    const float inverse_scale = 1.0f / scale;
    const format_limits& gradient_limits = gradient_format_limits();
    for (std::size_t l = layer_count; l-- > 0;) {
      linear_layer& layer = layers_[l];
      result.gradient_flushed += count_flushed(grad_.data(), grad_.size(), inverse_scale,
                                               gradient_limits.flush_threshold, result.gradient_nonzero);
      cast_activation(grad_.data(), rows, layer.out, recipe_.gradient_type, layer.grad_scale, true, grad_q_,
                      layer.grad_scale_used, mixprec::linear_operand::dgrad_gradient, rounding_offset(l));
      // wgrad: dW[out, in] = dYᵀ · X: A = dYᵀ [out, rows], B = Xᵀ [in, rows],
      // stored in the weight-gradient format (FP16 overflows to inf here).
      transposed_operand(grad_.data(), grad_q_, rows, layer.out, grad_q_t_, mixprec::linear_operand::wgrad_gradient,
                         rounding_offset(l));
      transposed_operand(layer.input.data(), layer.input_q, rows, layer.in, input_q_t_,
                         mixprec::linear_operand::wgrad_input, 0);
      gemm_nt(grad_q_t_, input_q_t_, recipe_.weight_gradient_type, layer.weight_grad.data());
      // The bias gradient: the column sums of dY in FP32, stored alike.
      bias_sum_.assign(layer.out, 0.0f);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < layer.out; ++c) bias_sum_[c] += grad_[r * layer.out + c];
      gemm_operand bias_store;
      cast_per_tensor(bias_sum_.data(), 1, static_cast<std::int64_t>(layer.out), recipe_.weight_gradient_type, 1.0f,
                      &bias_store, nullptr);
      std::copy(bias_store.storage.begin(), bias_store.storage.end(), layer.bias_grad.begin());
      if (report) report_layer(result, l, rows, inverse_scale);
      if (l == 0) break;
      // dgrad: dX[rows, in] = dY · W: A = dY [rows, out], B = Wᵀ [in, out]; then ReLU'.
      next_grad_.resize(rows * layer.in);
      gemm_nt(grad_q_, layer.weight_q_t, element_type::float32, next_grad_.data());
      const std::vector<float>& pre_activation = layers_[l - 1].output;
      for (std::size_t i = 0; i < next_grad_.size(); ++i)
        if (!(pre_activation[i] > 0.0f)) next_grad_[i] = 0.0f;
      grad_.swap(next_grad_);
    }

    // FP8 scales for the next step (delayed scaling: from the amax history,
    // this step's amaxes included). The weight copy the optimizer writes
    // below already uses the new weight scale.
    for (linear_layer& layer : layers_) {
      layer.input_scale.end_step();
      layer.grad_scale.end_step();
      layer.copy_scale = layer.weight_scale.end_step();
      if (!optimizer_writes_copy() || recipe_.scaling != operand_scaling::delayed) layer.copy_scale = 1.0f;
    }
    const element_type gradient_type = recipe_.weight_gradient_type;
    std::vector<mixprec::const_tensor_view> gradients;
    for (const linear_layer& layer : layers_) {
      gradients.emplace_back(layer.weight_grad.data(), layer.in * layer.out, gradient_type);
      gradients.emplace_back(layer.bias_grad.data(), layer.out, gradient_type);
    }
    optimizer_->set_learning_rate(learning_rate());
    // Unscale, skip the whole step on inf/NaN (master weights, moments and
    // copies stay), update the loss scaler.
    const bool skipped = optimizer_->step(gradients, scaler_.get(), no_loss_scaling_);
    if (skipped) ++skipped_;
    for (linear_layer& layer : layers_) {
      if (!skipped) layer.copy_scale_written = layer.copy_scale;
      if (optimizer_writes_copy() && !skipped) layer.weight_scale.record(layer.copy_amax);
      layer.copy_amax = 0.0f;
    }
    record.skipped = skipped;
    ++step_;
    return record;
  }

  float learning_rate() const { return cosine_learning_rate(options_, step_, total_steps_); }

  static const format_limits& limits_for(element_type type) {
    static const format_limits fp32{"FP32", 0.0f, 0.0f, 3.4028235e38f};
    const std::vector<format_limits>& formats = report_formats();
    switch (type) {
      case element_type::float16: return formats[0];
      case element_type::bfloat16: return formats[1];
      case element_type::float8_e4m3: return formats[2];
      case element_type::float8_e5m2: return formats[3];
      case element_type::float32: break;
    }
    return fp32;
  }

  // The limits of the format dY is cast to (E2M1 for the FP4 recipes).
  const format_limits& gradient_format_limits() const {
    static const format_limits e2m1 = limits_of<mixprec::formats::e2m1>("E2M1");
    if (recipe_.blocks &&
        recipe_.blocks->operand(mixprec::linear_operand::dgrad_gradient).element ==
            mixprec::gemm::block_element::float4_e2m1)
      return e2m1;
    return limits_for(recipe_.gradient_type);
  }

  // Census of a tensor of true values cast at `scale` (per tensor), or with
  // each element's block scale (block recipes).
  tensor_report make_row(std::size_t layer, const char* name, const float* values, std::size_t rows, std::size_t cols,
                         float scale, bool blocked, element_type type, scale_mode mode) {
    tensor_report row;
    row.layer = layer + 1;
    row.tensor = name;
    row.amax = mixprec::reference::amax(values, rows * cols);
    if (blocked) {
      gemm_operand blocks;
      cast_blockwise(values, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), type, mode, blocks);
      const mixprec::gemm::scale_layout layout{mode, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)};
      std::vector<float> scaled(rows * cols);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          scaled[r * cols + c] =
              values[r * cols + c] / blocks.scale_inv[static_cast<std::size_t>(
                                         layout.index(static_cast<std::int64_t>(r), static_cast<std::int64_t>(c)))];
      for (const format_limits& f : report_formats())
        row.formats.push_back(census(scaled.data(), scaled.size(), 1.0f, f));
      row.scale = "block";
    } else {
      for (const format_limits& f : report_formats()) row.formats.push_back(census(values, rows * cols, scale, f));
      std::ostringstream text;
      text << scale;
      row.scale = text.str();
    }
    return row;
  }

  // A report row for operand `role` of a microscaling recipe: the cast in
  // use (its own format, at its block scales) and, like the fp8-block rows,
  // what each report format would do to the values at those block scales.
  tensor_report make_block_row(std::size_t layer, const char* name, const float* values, std::size_t rows,
                               std::size_t cols, mixprec::linear_operand role, std::uint64_t offset) {
    tensor_report row;
    row.layer = layer + 1;
    row.tensor = name;
    row.amax = mixprec::reference::amax(values, rows * cols);
    gemm_operand unused;
    block_cast_report cast;
    cast_block_scaled(values, static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), *recipe_.blocks, role,
                      options_.seed, offset, unused, &cast);
    for (const format_limits& f : report_formats())
      row.formats.push_back(census(cast.scaled.data(), cast.scaled.size(), 1.0f, f));
    const mixprec::block_operand_recipe& operand = recipe_.blocks->operand(role);
    row.own_format = std::string(operand.quantizer == mixprec::block_quantizer::nvfp4 ? "NVFP4 " : "MX ") +
                     short_name(operand.element);
    row.own = cast.census;
    row.scale = "block";
    return row;
  }

  // W, X, dY and dW of one layer at the report step, as true values with the
  // scale the recipe applies to each.
  void report_layer(run_result& result, std::size_t l, std::size_t rows, float inverse_scale) {
    linear_layer& layer = layers_[l];
    const bool blocked = uses_blocks();
    const float loss_scale_now = 1.0f / inverse_scale;
    const bool fp8 = mixprec::gemm::is_fp8(recipe_.forward_type);
    std::vector<float> true_grad(grad_.size());
    for (std::size_t i = 0; i < grad_.size(); ++i) true_grad[i] = grad_[i] * inverse_scale;
    // dW as the FP32 accumulator holds it (one extra GEMM, at this step only).
    std::vector<float> true_wgrad(layer.out * layer.in);
    gemm_nt(grad_q_t_, input_q_t_, element_type::float32, true_wgrad.data());
    for (float& g : true_wgrad) g *= inverse_scale;
    std::vector<tensor_report> rows_out;
    if (uses_microscaling()) {
      // The row-wise operands (forward and dgrad): the column-wise ones hold
      // the same values in other blocks (or, with the RHT, transformed ones).
      rows_out.push_back(make_block_row(l, "W", optimizer_->master(layer.weight_parameter), layer.out, layer.in,
                                        mixprec::linear_operand::forward_weight, 0));
      rows_out.push_back(make_block_row(l, "X", layer.input.data(), rows, layer.in,
                                        mixprec::linear_operand::forward_input, 0));
      rows_out.push_back(make_block_row(l, "dY", true_grad.data(), rows, layer.out,
                                        mixprec::linear_operand::dgrad_gradient, rounding_offset(l)));
    } else {
      rows_out.push_back(make_row(l, "W", optimizer_->master(layer.weight_parameter), layer.out, layer.in,
                                  fp8 ? 1.0f / layer.weight_q.scale_inv[0] : 1.0f, blocked, recipe_.forward_type,
                                  scale_mode::block_128x128));
      rows_out.push_back(make_row(l, "X", layer.input.data(), rows, layer.in, layer.input_scale_used, blocked,
                                  recipe_.forward_type, scale_mode::block_1x128));
      // dY is cast with the loss scale and its own FP8 scale together.
      rows_out.push_back(make_row(l, "dY", true_grad.data(), rows, layer.out,
                                  loss_scale_now * (mixprec::gemm::is_fp8(recipe_.gradient_type) ? layer.grad_scale_used
                                                                                                  : 1.0f),
                                  blocked, recipe_.gradient_type, scale_mode::block_1x128));
    }
    // dW is stored in the weight-gradient format with the loss scale only.
    rows_out.push_back(make_row(l, "dW", true_wgrad.data(), layer.out, layer.in, loss_scale_now, false,
                                recipe_.weight_gradient_type, scale_mode::per_tensor));
    // Layers are visited last first; keep the report in layer order.
    result.report.insert(result.report.begin(), rows_out.begin(), rows_out.end());
  }

  recipe recipe_;
  training_options options_;
  std::vector<linear_layer> layers_;
  std::unique_ptr<optimizer_adapter> optimizer_;
  std::unique_ptr<mixprec::dynamic_loss_scaler> scaler_;
  mixprec::static_loss_scaler no_loss_scaling_{1.0f};
  std::int64_t step_ = 0;
  std::int64_t total_steps_ = 0;
  std::int64_t skipped_ = 0;
  std::vector<float> activation_[layer_count - 1];
  std::vector<float> grad_, next_grad_, bias_sum_, scratch_t_;
  gemm_operand grad_q_, grad_q_t_, input_q_t_;
};

}  // namespace fashion_mnist
