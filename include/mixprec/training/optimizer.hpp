// mixprec/training/optimizer.hpp — FP32 master weights and fused optimizers
// (host). mixprec/cuda/optimizer.hpp runs the same per-element code on the GPU.
//
// The model computes with low-precision weights (BF16, FP16, or FP8 with a
// scale); the optimizer keeps an FP32 master copy of every weight, updates it
// from the (scaled, low-precision) gradients and writes the model copy again.
// One pass per parameter reads each gradient and master/state value once and
// writes each once: unscale, clip, update (SGD or AdamW), round the copy.
//
//   mixprec::adamw_optimizer optimizer;                       // clipping off, nearest-even copies
//   std::size_t group = optimizer.add_group({/*lr*/ 1e-3f, 0.9f, 0.999f, 1e-8f, /*weight_decay*/ 0.01f});
//   std::vector<mixprec::bfloat16> w1_model(n1);              // what the forward pass reads
//   optimizer.add_parameter(group, w1_initial /*float[n1]*/, n1, mixprec::model_copy{w1_model});
//   ...                                                       // more parameters, in a fixed order
//   mixprec::dynamic_loss_scaler scaler;
//   for (...) {
//     /* forward with w1_model; backward of loss * scaler.scale() into g1 (float or bf16 or fp16) */
//     mixprec::step_report r = optimizer.step({g1, g2, ...}, scaler);  // unscale, skip on inf/NaN, update, scaler.update
//   }
//
// Or with found_inf decided elsewhere: optimizer.step(gradients, found_inf).
//
// FP8 weights with a delayed-scaling recipe (mixprec/scaling/fp8_scaling.hpp):
//   float w_scale = 1.0f, w_amax = 0.0f;
//   optimizer.add_parameter(group, w1_initial, n1, mixprec::model_copy{w1_e4m3, &w_scale, &w_amax});
//   each step: w_scale = recipe.weight.scale();  optimizer.step(...);
//              recipe.weight.record(w_amax); w_amax = 0.0f; recipe.weight.update();
//   the GEMM then reads w1_e4m3 with scale_inv = 1 / w_scale.
//
// Semantics:
//   - Parameter groups carry their own hyper-parameters (add_group, set_group).
//   - The effective gradient is (stored gradient · inverse_scale) · clip, each
//     product rounded in FP32; clip = max_grad_norm / (norm + 1e-6) clamped to
//     1 (torch.nn.utils.clip_grad_norm_), from the global norm of the unscaled
//     gradients over every parameter.
//   - A step with found_inf (given, or found while computing the norm) is
//     skipped: master weights, states, model copies, amax outputs and the step
//     counter stay byte for byte as they were.
//   - Model copy: BF16/FP16/FP32, or FP8 E4M3/E5M2 storing convert(w · scale)
//     with *scale read at every step (give the recipe's current scale); an
//     optional amax output is raised to max |w| of the updated weights (the
//     caller resets it after handing it to its recipe, as for the cast kernels).
//     Rounding: nearest even, or stochastic with
//     stochastic_rounding_bits(seed, step · total_elements, element index).
//   - BF16-only parameters (add_bf16_parameter): no FP32 master (2 bytes per
//     weight instead of 6); the FP32 update of the BF16 weight is rounded back
//     stochastically, so updates far below BF16's spacing still move the
//     weight on average (plain rounding would stall). States stay FP32.
//   - Every parameter is registered before the first step.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {

// A non-owning view of n elements of one scalar type.
struct tensor_view {
  void* data = nullptr;
  std::size_t size = 0;
  scalar_type type = scalar_type::float32;

  tensor_view() = default;
  tensor_view(void* d, std::size_t n, scalar_type t) : data(d), size(n), type(t) {}
  template <class T, class = decltype(scalar_type_of<T>::value)>
  tensor_view(T* d, std::size_t n) : data(d), size(n), type(scalar_type_of<T>::value) {}
  template <class T, class = decltype(scalar_type_of<T>::value)>
  tensor_view(std::vector<T>& v) : data(v.data()), size(v.size()), type(scalar_type_of<T>::value) {}  // NOLINT
};

struct const_tensor_view {
  const void* data = nullptr;
  std::size_t size = 0;
  scalar_type type = scalar_type::float32;

  const_tensor_view() = default;
  const_tensor_view(const void* d, std::size_t n, scalar_type t) : data(d), size(n), type(t) {}
  const_tensor_view(const tensor_view& v) : data(v.data), size(v.size), type(v.type) {}  // NOLINT
  template <class T, class = decltype(scalar_type_of<T>::value)>
  const_tensor_view(const T* d, std::size_t n) : data(d), size(n), type(scalar_type_of<T>::value) {}
  template <class T, class = decltype(scalar_type_of<T>::value)>
  const_tensor_view(const std::vector<T>& v)  // NOLINT(google-explicit-constructor)
      : data(v.data()), size(v.size()), type(scalar_type_of<T>::value) {}
};

// Where the optimizer writes a parameter's low-precision copy after a step.
struct model_copy {
  tensor_view target;            // empty: no copy (use the master weights directly)
  const float* scale = nullptr;  // BF16/FP16/FP8 copies store convert(w · *scale); required for FP8, ignored for FP32
  float* amax = nullptr;         // optional: raised to max |w| of the updated weights

  model_copy() = default;
  model_copy(tensor_view t, const float* s = nullptr, float* a = nullptr) : target(t), scale(s), amax(a) {}  // NOLINT
  template <class T, class = decltype(scalar_type_of<T>::value)>
  model_copy(std::vector<T>& v, const float* s = nullptr, float* a = nullptr)  // NOLINT
      : target(v), scale(s), amax(a) {}
};

struct optimizer_options {
  float max_grad_norm = 0.0f;                         // > 0: clip the global gradient norm to it; 0: off
  rounding model_rounding = rounding::nearest_even;   // the model copies: nearest_even or stochastic
  rounding bf16_only_rounding = rounding::stochastic; // BF16-only weights: stochastic (or nearest_even, which stalls)
  std::uint64_t seed = 0;                             // the stochastic-rounding stream
};

// What the caller knows about this step's gradients.
struct step_inputs {
  bool found_inf = false;      // skip the step (some gradient, on some rank, was inf or NaN)
  float inverse_scale = 1.0f;  // 1 / loss scale
  // The squared global norm of the unscaled gradients if known (e.g. from the
  // device unscale kernel); < 0: computed here when clipping needs it.
  float squared_grad_norm = -1.0f;
};

struct step_report {
  bool skipped = false;          // nothing changed
  float grad_norm = std::numeric_limits<float>::quiet_NaN();  // unscaled, before clipping (NaN: not computed)
  float clip_coefficient = 1.0f;
  std::int64_t steps = 0;        // steps applied so far
};

// The result of checking (and measuring) a set of scaled gradients.
struct gradient_check {
  bool found_inf = false;      // some gradient · inverse_scale is inf or NaN
  double squared_norm = 0.0;   // sum of (gradient · inverse_scale)², accumulated in double
};

namespace detail {
template <class Element>
inline float widen(Element x) noexcept {
  return static_cast<float>(x);
}
inline void check_gradient_view(const const_tensor_view& g, std::size_t index, const char* who) {
  require(g.type == scalar_type::float32 || g.type == scalar_type::bfloat16 || g.type == scalar_type::float16, who,
          "gradient ", index, " is ", to_string(g.type), "; gradients are float32, bfloat16 or float16");
  require(g.data != nullptr || g.size == 0, who, "gradient ", index, " has size ", g.size, " but no data");
}
}  // namespace detail

// Host counterpart of the device unscale kernel: found_inf and the squared
// global norm of gradient · inverse_scale (each product rounded in FP32, as
// the optimizer's effective gradient), without modifying the gradients.
inline gradient_check check_gradients(const std::vector<const_tensor_view>& gradients, float inverse_scale = 1.0f) {
  gradient_check result;
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    detail::check_gradient_view(gradients[t], t, "mixprec::check_gradients: ");
    visit_scalar_type(gradients[t].type, [&](auto zero) {
      using G = decltype(zero);
      const G* g = static_cast<const G*>(gradients[t].data);
      double sum = 0.0;
      bool bad = false;
      for (std::size_t i = 0; i < gradients[t].size; ++i) {
        const float x = detail::mul_rn(detail::widen(g[i]), inverse_scale);
        bad |= !std::isfinite(x);
        sum += static_cast<double>(x) * static_cast<double>(x);
      }
      result.found_inf |= bad;
      result.squared_norm += sum;
    });
  }
  return result;
}

template <class Rule>
class basic_optimizer {
 public:
  using rule = Rule;
  using options = typename Rule::options;
  static constexpr int state_count = Rule::state_count;

  basic_optimizer() : basic_optimizer(optimizer_options{}) {}
  explicit basic_optimizer(const optimizer_options& o) : options_(o) {
    const char* who = "mixprec::optimizer_options: ";
    require(std::isfinite(o.max_grad_norm) && o.max_grad_norm >= 0.0f, who, "max_grad_norm = ", o.max_grad_norm,
            " must be finite and >= 0 (0 turns clipping off)");
    require(o.model_rounding == rounding::nearest_even || o.model_rounding == rounding::stochastic, who,
            "model_rounding = ", static_cast<int>(o.model_rounding), " must be nearest_even or stochastic");
    require(o.bf16_only_rounding == rounding::nearest_even || o.bf16_only_rounding == rounding::stochastic, who,
            "bf16_only_rounding = ", static_cast<int>(o.bf16_only_rounding), " must be nearest_even or stochastic");
  }

  // A parameter group: its hyper-parameters apply to the parameters added to it.
  std::size_t add_group(const options& hyper) {
    Rule::validate(hyper);
    groups_.push_back(hyper);
    return groups_.size() - 1;
  }
  const options& group(std::size_t g) const {
    check_group(g, "group");
    return groups_[g];
  }
  // Changes a group's hyper-parameters (e.g. a learning-rate schedule).
  void set_group(std::size_t g, const options& hyper) {
    check_group(g, "set_group");
    Rule::validate(hyper);
    groups_[g] = hyper;
  }
  void set_lr(std::size_t g, float lr) {
    options hyper = group(g);
    hyper.lr = lr;
    set_group(g, hyper);
  }

  // A parameter with an FP32 master copy starting at initial[0..size), and
  // optionally a model copy the optimizer rewrites after each step.
  std::size_t add_parameter(std::size_t g, const float* initial, std::size_t size, const model_copy& copy = {}) {
    const char* who = "mixprec::optimizer::add_parameter: ";
    check_can_add(g, size, who);
    require(initial != nullptr, who, "initial values are null for a parameter of size ", size);
    if (copy.target.data != nullptr || copy.target.size != 0) {
      require(copy.target.size == size, who, "the model copy has ", copy.target.size, " elements, the parameter ", size);
      require(copy.target.data != nullptr, who, "the model copy of ", size, " elements has no data");
      const bool fp8 = is_fp8(copy.target.type);
      require(!fp8 || copy.scale != nullptr, who, "an FP8 model copy (", to_string(copy.target.type),
              ") needs a scale: pass model_copy{target, &scale} with the recipe's scale");
    }
    parameter p;
    p.group = g;
    p.size = size;
    p.master.assign(initial, initial + size);
    p.state.assign(static_cast<std::size_t>(state_count) * size, 0.0f);
    p.copy = copy;
    p.first_element = total_elements_;
    total_elements_ += size;
    parameters_.push_back(std::move(p));
    return parameters_.size() - 1;
  }
  std::size_t add_parameter(std::size_t g, const std::vector<float>& initial, const model_copy& copy = {}) {
    return add_parameter(g, initial.data(), initial.size(), copy);
  }

  // A BF16-only parameter: the weights live in `weights` (the model reads them
  // directly), updated in place without an FP32 master.
  std::size_t add_bf16_parameter(std::size_t g, bfloat16* weights, std::size_t size) {
    const char* who = "mixprec::optimizer::add_bf16_parameter: ";
    check_can_add(g, size, who);
    require(weights != nullptr, who, "weights are null for a parameter of size ", size);
    parameter p;
    p.group = g;
    p.size = size;
    p.bf16_weights = weights;
    p.state.assign(static_cast<std::size_t>(state_count) * size, 0.0f);
    p.first_element = total_elements_;
    total_elements_ += size;
    parameters_.push_back(std::move(p));
    return parameters_.size() - 1;
  }
  std::size_t add_bf16_parameter(std::size_t g, std::vector<bfloat16>& weights) {
    return add_bf16_parameter(g, weights.data(), weights.size());
  }

  std::size_t parameter_count() const noexcept { return parameters_.size(); }
  std::size_t size(std::size_t p) const { return at(p).size; }
  // The FP32 master weights (nullptr for a BF16-only parameter).
  const float* master(std::size_t p) const { return at(p).master.empty() ? nullptr : at(p).master.data(); }
  float* master(std::size_t p) { return at(p).master.empty() ? nullptr : parameters_[p].master.data(); }
  // State k of every element (SGD: 0 = momentum buffer; AdamW: 0 = m, 1 = v).
  const float* state(std::size_t p, int k) const {
    require(k >= 0 && k < state_count, Rule::name, ": state ", k, " does not exist; this optimizer has ", state_count);
    return at(p).state.data() + static_cast<std::size_t>(k) * at(p).size;
  }
  std::int64_t steps() const noexcept { return steps_; }
  const optimizer_options& get_options() const noexcept { return options_; }

  // One optimizer step over every registered parameter; gradients[i] belongs
  // to parameter i and holds the scaled gradient (FP32, BF16 or FP16).
  step_report step(const std::vector<const_tensor_view>& gradients, const step_inputs& in) {
    check_gradients_match(gradients);
    return step_checked(gradients, in.found_inf, in.inverse_scale, in.squared_grad_norm);
  }
  step_report step(const std::vector<const_tensor_view>& gradients, bool found_inf) {
    step_inputs in;
    in.found_inf = found_inf;
    return step(gradients, in);
  }
  // The whole loss-scaled step: checks the gradients (inf/NaN and the global
  // norm, after unscaling by scaler.inverse_scale()), steps unless found_inf,
  // then scaler.update(found_inf). Works with dynamic_loss_scaler and
  // static_loss_scaler.
  template <class Scaler, class = decltype(std::declval<Scaler&>().update(true)),
            class = decltype(std::declval<const Scaler&>().inverse_scale())>
  step_report step(const std::vector<const_tensor_view>& gradients, Scaler& scaler) {
    check_gradients_match(gradients);
    const float inverse_scale = scaler.inverse_scale();
    const gradient_check check = check_gradients(gradients, inverse_scale);
    const float squared_norm = static_cast<float>(check.squared_norm);
    const bool found_inf = check.found_inf || !std::isfinite(squared_norm);
    step_report report = step_checked(gradients, found_inf, inverse_scale, found_inf ? -1.0f : squared_norm);
    if (found_inf) report.grad_norm = std::numeric_limits<float>::infinity();
    scaler.update(found_inf);
    return report;
  }

 private:
  struct parameter {
    std::size_t group = 0;
    std::size_t size = 0;
    std::vector<float> master;       // empty for BF16-only
    std::vector<float> state;        // state_count · size
    model_copy copy;
    bfloat16* bf16_weights = nullptr;  // BF16-only
    std::uint64_t first_element = 0;   // index of element 0 among all parameters' elements
  };

  const parameter& at(std::size_t p) const {
    require(p < parameters_.size(), Rule::name, ": parameter ", p, " does not exist; ", parameters_.size(),
            " are registered");
    return parameters_[p];
  }
  void check_group(std::size_t g, const char* what) const {
    require(g < groups_.size(), Rule::name, "::", what, ": group ", g, " does not exist; ", groups_.size(),
            " groups were added (add_group first)");
  }
  void check_can_add(std::size_t g, std::size_t size, const char* who) const {
    require(steps_ == 0, who, "parameters must all be registered before the first step (", steps_,
            " steps were taken)");
    require(g < groups_.size(), who, "group ", g, " does not exist; ", groups_.size(),
            " groups were added (add_group first)");
    require(size > 0, who, "size = 0: a parameter needs at least one element");
  }
  void check_gradients_match(const std::vector<const_tensor_view>& gradients) const {
    require(gradients.size() == parameters_.size(), Rule::name, "::step: ", gradients.size(),
            " gradients for ", parameters_.size(), " parameters; pass one per parameter, in registration order");
    for (std::size_t i = 0; i < gradients.size(); ++i) {
      detail::check_gradient_view(gradients[i], i, "mixprec::optimizer::step: ");
      require(gradients[i].size == parameters_[i].size, Rule::name, "::step: gradient ", i, " has ",
              gradients[i].size, " elements, parameter ", i, " has ", parameters_[i].size);
    }
  }

  // squared_norm: of the unscaled gradients, < 0 when unknown.
  step_report step_checked(const std::vector<const_tensor_view>& gradients, bool found_inf, float inverse_scale,
                           float squared_norm) {
    require(std::isfinite(inverse_scale) && inverse_scale > 0.0f, Rule::name, "::step: inverse_scale = ",
            inverse_scale, " must be finite and > 0");
    step_report report;
    report.steps = steps_;
    if (found_inf) {
      report.skipped = true;
      return report;
    }
    if (options_.max_grad_norm > 0.0f && squared_norm < 0.0f) {
      const gradient_check check = check_gradients(gradients, inverse_scale);
      squared_norm = static_cast<float>(check.squared_norm);
      if (check.found_inf || !std::isfinite(squared_norm)) {
        report.skipped = true;
        report.grad_norm = std::numeric_limits<float>::infinity();
        return report;
      }
    }
    if (squared_norm >= 0.0f) report.grad_norm = detail::sqrt_rn(squared_norm);
    if (options_.max_grad_norm > 0.0f) report.clip_coefficient = detail::clip_coefficient(squared_norm, options_.max_grad_norm);
    apply(gradients, inverse_scale, report.clip_coefficient);
    report.steps = steps_;
    return report;
  }

  void apply(const std::vector<const_tensor_view>& gradients, float inverse_scale, float clip) {
    const std::int64_t step_number = steps_ + 1;
    std::vector<typename Rule::scalars> scalars;
    scalars.reserve(groups_.size());
    for (const options& hyper : groups_) scalars.push_back(Rule::prepare(hyper, step_number));
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      parameter& p = parameters_[i];
      const typename Rule::scalars& s = scalars[p.group];
      visit_scalar_type(gradients[i].type, [&](auto gradient_zero) {
        using G = decltype(gradient_zero);
        const G* g = static_cast<const G*>(gradients[i].data);
        if (p.bf16_weights != nullptr) {
          update_bf16_only(p, g, inverse_scale, clip, s, step_number);
        } else if (p.copy.target.data == nullptr) {
          update_master<G, float>(p, g, nullptr, inverse_scale, clip, s, step_number);
        } else {
          visit_scalar_type(p.copy.target.type, [&](auto model_zero) {
            using M = decltype(model_zero);
            update_master<G, M>(p, g, static_cast<M*>(p.copy.target.data), inverse_scale, clip, s, step_number);
          });
        }
      });
    }
    steps_ = step_number;
  }

  template <class G, class M>
  void update_master(parameter& p, const G* g, M* model, float inverse_scale, float clip,
                     const typename Rule::scalars& s, std::int64_t step_number) {
    const bool stochastic = options_.model_rounding == rounding::stochastic;
    const float scale = p.copy.scale != nullptr ? *p.copy.scale : 1.0f;
    std::uint32_t amax_bits = 0;
    float state[state_count > 0 ? state_count : 1];
    for (std::size_t i = 0; i < p.size; ++i) {
      for (int k = 0; k < state_count; ++k) state[k] = p.state[static_cast<std::size_t>(k) * p.size + i];
      const float w = detail::update_element<Rule>(p.master[i], detail::widen(g[i]), inverse_scale, clip, state, s);
      p.master[i] = w;
      for (int k = 0; k < state_count; ++k) p.state[static_cast<std::size_t>(k) * p.size + i] = state[k];
      if (model != nullptr) {
        const std::uint32_t bits =
            stochastic ? detail::step_random_bits(options_.seed, step_number, total_elements_, p.first_element + i) : 0u;
        model[i] = detail::round_model_copy<M>(w, scale, stochastic, bits);
      }
      const std::uint32_t magnitude = detail::magnitude_bits(w);
      amax_bits = magnitude > amax_bits ? magnitude : amax_bits;
    }
    raise_amax(p, amax_bits);
  }

  template <class G>
  void update_bf16_only(parameter& p, const G* g, float inverse_scale, float clip, const typename Rule::scalars& s,
                        std::int64_t step_number) {
    const bool stochastic = options_.bf16_only_rounding == rounding::stochastic;
    float state[state_count > 0 ? state_count : 1];
    for (std::size_t i = 0; i < p.size; ++i) {
      for (int k = 0; k < state_count; ++k) state[k] = p.state[static_cast<std::size_t>(k) * p.size + i];
      const float w = detail::update_element<Rule>(static_cast<float>(p.bf16_weights[i]), detail::widen(g[i]),
                                                   inverse_scale, clip, state, s);
      for (int k = 0; k < state_count; ++k) p.state[static_cast<std::size_t>(k) * p.size + i] = state[k];
      const std::uint32_t bits =
          stochastic ? detail::step_random_bits(options_.seed, step_number, total_elements_, p.first_element + i) : 0u;
      p.bf16_weights[i] = detail::round_model_copy<bfloat16>(w, 1.0f, stochastic, bits);
    }
  }

  static void raise_amax(parameter& p, std::uint32_t amax_bits) {
    if (p.copy.amax == nullptr) return;
    const std::uint32_t current = detail::magnitude_bits(*p.copy.amax);
    if (amax_bits > current) *p.copy.amax = mixprec::detail::bit_cast<float>(amax_bits);
  }

  optimizer_options options_;
  std::vector<options> groups_;
  std::vector<parameter> parameters_;
  std::uint64_t total_elements_ = 0;
  std::int64_t steps_ = 0;
};

using sgd_optimizer = basic_optimizer<sgd_rule>;
using adamw_optimizer = basic_optimizer<adamw_rule>;

}  // namespace mixprec
