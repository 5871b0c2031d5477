// examples/fashion_mnist/training_setup.hpp — what every trainer of the demo
// shares, so that a recipe trained on the CPU reference (mlp.hpp) and on the
// GPU (device_trainer.cuh) starts from the same weights, sees the same
// batches in the same order, follows the same learning-rate schedule and
// reports into the same records.
//
// Host-only and free of the GEMM backends: the CUDA translation unit of the
// device path includes it as well.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "numerics.hpp"
#include "optimizer_adapter.hpp"
#include "recipes.hpp"

namespace fashion_mnist {

constexpr std::size_t image_size = 784;
constexpr std::size_t class_count = 10;

// The demo's model: 784-256-128-10. The device path takes other hidden
// widths (--hidden); the CPU path trains this one.
inline std::vector<std::size_t> default_layer_widths() { return {image_size, 256, 128, class_count}; }

// Layer widths as the messages write them: "784-256-128-10". (Appended a
// piece at a time: `"-" + std::to_string(w)` trips g++ 12's false
// -Wrestrict at -O3 in C++20, GCC bug 105329.)
template <class Width>
std::string describe_widths(const std::vector<Width>& widths) {
  std::string text;
  for (const Width w : widths) {
    if (!text.empty()) text += '-';
    text += std::to_string(w);
  }
  return text;
}

// A split of the data set as the model reads it: pixels / 255 in [0, 1].
struct prepared_split {
  std::size_t count = 0;
  std::vector<float> images;  // count x 784
  std::vector<std::uint8_t> labels;
};

struct training_options {
  std::size_t epochs = 10;
  std::size_t batch_size = 128;
  optimizer_settings optimizer;
  float final_learning_rate_fraction = 0.05f;  // cosine decay to this fraction of the peak rate
  std::uint64_t seed = 20240501;
  std::int64_t report_step = -1;  // global step of the numerics report; -1: the last step of epoch 1
  std::size_t eval_batch = 1000;
};

// SplitMix64 (Steele, Lea, Flood 2014): the same stream on every compiler
// and standard library (std::uniform_real_distribution and std::shuffle are
// not specified bit for bit).
class random_stream {
 public:
  explicit random_stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 24 random bits.
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-24f; }
  // Uniform in [0, n) for n < 2^32 (Lemire's multiply-shift; bias below n / 2^32).
  std::uint64_t below(std::uint64_t n) { return ((next() >> 32) * n) >> 32; }

 private:
  std::uint64_t state_;
};

// The FP32 initial values of one linear layer Y = X · Wᵀ + b: W is
// [out, in] row-major.
struct initial_layer {
  std::size_t in = 0, out = 0;
  std::vector<float> weight, bias;
};

// PyTorch's default nn.Linear initialisation: W and b uniform in
// ±1/sqrt(fan_in), layer by layer (W, then b), from one stream shared by
// every recipe.
inline std::vector<initial_layer> initial_parameters(std::uint64_t seed, const std::vector<std::size_t>& widths) {
  mixprec::require(widths.size() >= 2, "fashion_mnist::initial_parameters: ", widths.size(),
                   " widths describe no layer; give the input width, the hidden widths and the class count");
  random_stream init(seed);
  std::vector<initial_layer> layers(widths.size() - 1);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    initial_layer& layer = layers[l];
    layer.in = widths[l];
    layer.out = widths[l + 1];
    const float bound = 1.0f / std::sqrt(static_cast<float>(layer.in));
    layer.weight.resize(layer.in * layer.out);
    layer.bias.resize(layer.out);
    for (float& w : layer.weight) w = (2.0f * init.uniform() - 1.0f) * bound;
    for (float& b : layer.bias) b = (2.0f * init.uniform() - 1.0f) * bound;
  }
  return layers;
}

// Cosine decay from the peak rate to final_learning_rate_fraction of it over
// total_steps (the step counts from 0).
inline float cosine_learning_rate(const training_options& o, std::int64_t step, std::int64_t total_steps) {
  const double progress = total_steps > 1 ? static_cast<double>(step) / static_cast<double>(total_steps - 1) : 0.0;
  const double floor = static_cast<double>(o.final_learning_rate_fraction);
  const double factor = floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  return static_cast<float>(static_cast<double>(o.optimizer.learning_rate) * factor);
}

// The order in which the epochs visit the training images: a Fisher-Yates
// shuffle per epoch from a stream seeded by the run's seed, so every recipe
// (and both devices) sees the same batches. Step s of an epoch takes the
// images at positions [s · batch, (s + 1) · batch) of order(); the last
// partial batch is dropped.
class batch_order {
 public:
  batch_order(std::size_t count, std::uint64_t seed) : order_(count), shuffle_(seed ^ 0xDA7A5E7ull) {
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  }
  // Call at the start of every epoch.
  void shuffle() {
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[shuffle_.below(i)]);
  }
  const std::vector<std::size_t>& order() const noexcept { return order_; }

 private:
  std::vector<std::size_t> order_;
  random_stream shuffle_;
};

struct step_record {
  std::int64_t step = 0;
  std::size_t epoch = 0;
  float loss = 0;
  float loss_scale = 1;
  bool skipped = false;
};

struct epoch_record {
  std::size_t epoch = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double test_accuracy = 0;
  std::int64_t skipped_steps = 0;  // so far
  float loss_scale = 1;
  double seconds = 0;
};

// One row of the numerics report: a tensor, its amax and what casting it at
// the scale in use would do in each report format.
struct tensor_report {
  std::size_t layer = 0;
  std::string tensor;                // "W", "X", "dY", "dW"
  float amax = 0;                    // of the true (unscaled) values
  std::string scale;                 // the scale in use ("65536", "block", "1")
  std::vector<cast_census> formats;  // report_formats() order
  // Microscaling recipes: the cast in use, in the operand's own element format
  // at its block scales ("MXFP8 E4M3", ...; empty for the other recipes).
  std::string own_format;
  cast_census own;
};

struct run_result {
  recipe which;
  std::vector<step_record> steps;
  std::vector<epoch_record> epochs;
  std::int64_t skipped_steps = 0;
  float final_loss_scale = 1;
  double final_train_loss = 0;  // mean over the last epoch
  std::uint64_t gradient_nonzero = 0;
  std::uint64_t gradient_flushed = 0;  // dY elements a cast to the gradient format at scale 1 turns to 0
  std::int64_t report_step = -1;
  std::vector<tensor_report> report;
  double seconds = 0;      // wall time, training only (evaluation excluded)
  double cpu_seconds = 0;  // CPU time of the training thread, evaluation included
  double test_accuracy() const { return epochs.empty() ? 0.0 : epochs.back().test_accuracy; }
  double seconds_per_epoch() const { return epochs.empty() ? 0.0 : seconds / static_cast<double>(epochs.size()); }
};

using progress_callback = std::function<void(const recipe&, const epoch_record&, std::size_t epochs)>;

}  // namespace fashion_mnist
