// examples/fashion_mnist/optimizer_adapter.hpp — one interface over
// mixprec::adamw_optimizer and mixprec::sgd_optimizer, so the trainer picks
// the optimizer at run time (the library's optimizers are templates on their
// update rule). Two parameter groups: weights (with weight decay) and biases
// (without), as is usual.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/optimizer.hpp"

namespace fashion_mnist {

struct optimizer_settings {
  std::string name = "adamw";  // or "sgd"
  float learning_rate = 2e-3f;
  float weight_decay = 1e-4f;
  float momentum = 0.9f;  // SGD only
};

class optimizer_adapter {
 public:
  virtual ~optimizer_adapter() = default;
  // Registers a parameter (weights: decayed) with its FP32 initial values and
  // optional low-precision model copy; returns its index.
  virtual std::size_t add(const std::vector<float>& initial, bool decayed, const mixprec::model_copy& copy) = 0;
  virtual void set_learning_rate(float lr) = 0;
  // Unscales, skips on inf/NaN, updates master, moments and model copies,
  // then updates the scaler. Returns whether the step was skipped.
  virtual bool step(const std::vector<mixprec::const_tensor_view>& gradients, mixprec::dynamic_loss_scaler* dynamic,
                    mixprec::static_loss_scaler& fixed) = 0;
  virtual const float* master(std::size_t parameter) const = 0;
  /// The optimizer's complete state as mixprec's versioned checkpoint bytes
  /// (masters, states, progress, model-copy bytes; mixprec/training/checkpoint.hpp).
  virtual std::vector<unsigned char> save_state() const = 0;
  /// Restores save_state()'s bytes into an optimizer with the same parameters
  /// registered; throws mixprec::error, changing nothing, when they do not fit.
  virtual void load_state(const std::vector<unsigned char>& bytes) = 0;
};

template <class Optimizer>
class optimizer_over : public optimizer_adapter {
 public:
  optimizer_over(const typename Optimizer::options& weights, const typename Optimizer::options& biases) {
    weight_group_ = optimizer_.add_group(weights);
    bias_group_ = optimizer_.add_group(biases);
  }
  std::size_t add(const std::vector<float>& initial, bool decayed, const mixprec::model_copy& copy) override {
    return optimizer_.add_parameter(decayed ? weight_group_ : bias_group_, initial, copy);
  }
  void set_learning_rate(float lr) override {
    optimizer_.set_lr(weight_group_, lr);
    optimizer_.set_lr(bias_group_, lr);
  }
  bool step(const std::vector<mixprec::const_tensor_view>& gradients, mixprec::dynamic_loss_scaler* dynamic,
            mixprec::static_loss_scaler& fixed) override {
    return dynamic != nullptr ? optimizer_.step(gradients, *dynamic).skipped : optimizer_.step(gradients, fixed).skipped;
  }
  const float* master(std::size_t parameter) const override { return optimizer_.master(parameter); }
  std::vector<unsigned char> save_state() const override { return optimizer_.save_bytes(); }
  void load_state(const std::vector<unsigned char>& bytes) override { optimizer_.load_bytes(bytes); }

 private:
  Optimizer optimizer_;
  std::size_t weight_group_ = 0, bias_group_ = 0;
};

// The hyper-parameters of the two groups, weights (decayed) and biases (not),
// from the settings: one definition for the host optimizer here and the
// device's fused optimizer (device_trainer.cuh).
template <class Options>
struct parameter_groups {
  Options weights, biases;
};

inline parameter_groups<mixprec::adamw_options> adamw_groups(const optimizer_settings& s) {
  mixprec::adamw_options weights;
  weights.lr = s.learning_rate;
  weights.weight_decay = s.weight_decay;
  mixprec::adamw_options biases = weights;
  biases.weight_decay = 0.0f;
  return {weights, biases};
}

inline parameter_groups<mixprec::sgd_options> sgd_groups(const optimizer_settings& s) {
  mixprec::sgd_options weights;
  weights.lr = s.learning_rate;
  weights.momentum = s.momentum;
  weights.weight_decay = s.weight_decay;
  mixprec::sgd_options biases = weights;
  biases.weight_decay = 0.0f;
  return {weights, biases};
}

inline void check_optimizer_name(const optimizer_settings& s) {
  mixprec::require(s.name == "adamw" || s.name == "sgd", "unknown optimizer '", s.name, "'; use adamw or sgd");
}

inline std::unique_ptr<optimizer_adapter> make_optimizer(const optimizer_settings& s) {
  check_optimizer_name(s);
  if (s.name == "adamw") {
    const auto groups = adamw_groups(s);
    return std::make_unique<optimizer_over<mixprec::adamw_optimizer>>(groups.weights, groups.biases);
  }
  const auto groups = sgd_groups(s);
  return std::make_unique<optimizer_over<mixprec::sgd_optimizer>>(groups.weights, groups.biases);
}

}  // namespace fashion_mnist
