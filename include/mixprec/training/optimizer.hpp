/// \file
/// FP32 master weights and fused SGD/AdamW optimizers on the host
/// (torch.optim.SGD, torch.optim.AdamW); mixprec/cuda/optimizer.hpp runs the
/// same per-element code on the GPU.
///
/// The model computes with low-precision weights (BF16, FP16, or FP8 with a
/// scale); the optimizer keeps an FP32 master copy of every weight, updates it
/// from the (scaled, low-precision) gradients and writes the model copy again.
/// One pass per parameter reads each gradient and master/state value once and
/// writes each once: unscale, clip, update (SGD or AdamW), round the copy.
///
/// \code
///   mixprec::adamw_optimizer optimizer;                       // clipping off, nearest-even copies
///   std::size_t group = optimizer.add_group({/*lr*/ 1e-3f, 0.9f, 0.999f, 1e-8f, /*weight_decay*/ 0.01f});
///   std::vector<mixprec::bfloat16> w1_model(n1);              // what the forward pass reads
///   optimizer.add_parameter(group, w1_initial /*float[n1]*/, n1, mixprec::model_copy{w1_model});
///   ...                                                       // more parameters, in a fixed order
///   mixprec::dynamic_loss_scaler scaler;
///   for (...) {
///     /* forward with w1_model; backward of loss * scaler.scale() into g1 (float or bf16 or fp16) */
///     mixprec::step_report r = optimizer.step({g1, g2, ...}, scaler);  // unscale, skip on inf/NaN, update, scaler.update
///   }
/// \endcode
///
/// Or with found_inf decided elsewhere: optimizer.step(gradients, found_inf).
///
/// FP8 weights with a delayed-scaling recipe (mixprec/scaling/fp8_scaling.hpp):
/// \code
///   float w_scale = 1.0f, w_amax = 0.0f;
///   optimizer.add_parameter(group, w1_initial, n1, mixprec::model_copy{w1_e4m3, &w_scale, &w_amax});
///   each step: w_scale = recipe.weight.scale();  optimizer.step(...);
///              recipe.weight.record(w_amax); w_amax = 0.0f; recipe.weight.update();
///   the GEMM then reads w1_e4m3 with scale_inv = 1 / w_scale.
/// \endcode
///
/// Semantics:
///   - Parameter groups carry their own hyper-parameters (add_group, set_group).
///   - The effective gradient is (stored gradient · inverse_scale) · clip, each
///     product rounded in FP32; clip = max_grad_norm / (norm + 1e-6) clamped to
///     1 (torch.nn.utils.clip_grad_norm_), from the global norm of the unscaled
///     gradients over every parameter.
///   - A step with found_inf (given, or found while computing the norm) is
///     skipped: master weights, states, model copies, amax outputs and the step
///     counter stay byte for byte as they were.
///   - Model copy: BF16/FP16/FP32, or FP8 E4M3/E5M2 storing convert(w · scale)
///     with *scale read at every step (give the recipe's current scale); an
///     optional amax output is raised to max |w| of the updated weights (the
///     caller resets it after handing it to its recipe, as for the cast kernels).
///     Rounding: nearest even, or stochastic with
///     stochastic_rounding_bits(seed, step · total_elements, element index).
///   - BF16-only parameters (add_bf16_parameter): no FP32 master (2 bytes per
///     weight instead of 6); the FP32 update of the BF16 weight is rounded back
///     stochastically, so updates far below BF16's spacing still move the
///     weight on average (plain rounding would stall). States stay FP32.
///   - Every parameter is registered before the first step.
///   - The update is FP32 arithmetic, every operation rounded to nearest
///     with subnormals kept whatever the caller's MXCSR (DAZ, FTZ, fesetround),
///     which the GPU does not see: each step checks it once and takes the
///     hardware arithmetic where it is in its default state, else the same
///     operations in integer code (update_rules.hpp). So masters, states,
///     copies, BF16-only weights, amax, grad_norm and clip_coefficient have
///     the same bytes in every environment (see README.md, Semantics).
///   - Each parameter has its own progress, as in PyTorch: its applied-step
///     count (AdamW's bias correction) and whether its momentum buffer has
///     started (SGD copies the gradient into it the first time momentum is
///     used). An empty gradient (size 0) means "no gradient this step": no
///     byte of that parameter's master, states, progress, copy or amax changes.
///   - Rejected calls (mixprec::error) change nothing: step() checks counts,
///     sizes, types, copy scales and that no gradient overlaps a buffer the step
///     writes before it touches anything; add_parameter() rejects copies that
///     overlap another parameter's buffers.
///   - Checkpoints: save()/load() the complete state (optimizer_checkpoint),
///     save_bytes()/load_bytes() its versioned byte form
///     (mixprec/training/checkpoint.hpp); a resumed run continues bit for bit.
///
/// The pieces this header includes: the buffer views (tensor_view,
/// const_tensor_view, model_copy: mixprec/training/tensor_view.hpp), the
/// gradient check (check_gradients: mixprec/training/gradient_check.hpp), the
/// update rules and options (mixprec/training/update_rules.hpp), the
/// checkpoint format (mixprec/training/checkpoint.hpp) and the buffer-overlap
/// check both optimizers share (mixprec/training/detail/buffer_overlap.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/training/checkpoint.hpp"
#include "mixprec/training/detail/buffer_overlap.hpp"
#include "mixprec/training/gradient_check.hpp"
#include "mixprec/training/tensor_view.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {

/// What the caller knows about this step's gradients.
struct step_inputs {
  bool found_inf = false;      ///< skip the step (some gradient, on some rank, was inf or NaN)
  float inverse_scale = 1.0f;  ///< 1 / loss scale, finite and > 0
  /// The squared global norm of the unscaled gradients if known (e.g. from the
  /// device unscale kernel); < 0: computed here when clipping needs it; NaN or
  /// +inf: the gradients overflowed, so the step is skipped (as found_inf).
  float squared_grad_norm = -1.0f;
};

/// What one optimizer step did.
struct step_report {
  bool skipped = false;          ///< nothing changed (found_inf, or the gradient norm overflowed)
  /// The global L2 norm of the unscaled gradients, before clipping; NaN: not
  /// computed (no clipping and no norm given); +inf when the step was skipped
  /// because the gradients overflowed.
  float grad_norm = std::numeric_limits<float>::quiet_NaN();
  /// The factor every gradient was multiplied by: max_grad_norm / (norm + 1e-6)
  /// clamped to 1 (torch.nn.utils.clip_grad_norm_); 1 without clipping.
  float clip_coefficient = 1.0f;
  std::int64_t steps = 0;        ///< steps applied so far (skipped steps not counted)
};

/// The host optimizer: FP32 master weights, the update rule `Rule`
/// (sgd_rule or adamw_rule) applied per element, model copies rewritten.
/// See the file comment for the semantics; every rejected call throws
/// mixprec::error before changing any byte.
template <class Rule>
class basic_optimizer {
 public:
  using rule = Rule;                         ///< sgd_rule or adamw_rule
  using options = typename Rule::options;    ///< one group's hyper-parameters: sgd_options or adamw_options
  /// The complete state, for checkpoints (mixprec/training/checkpoint.hpp).
  using state_type = optimizer_checkpoint<Rule>;
  static constexpr int state_count = Rule::state_count;  ///< FP32 state arrays per element at most (SGD 1, AdamW 3)

  /// Default optimizer_options: no clipping, nearest-even model copies.
  basic_optimizer() : basic_optimizer(optimizer_options{}) {}
  /// An optimizer with options `o` and no groups or parameters yet.
  /// \throws mixprec::error when `o` is invalid (see validate(optimizer_options)).
  explicit basic_optimizer(const optimizer_options& o) : options_(o) { validate(o); }

  /// Adds a parameter group with hyper-parameters `hyper` (PyTorch's
  /// param_groups entry) and returns its index (0, 1, ...).
  /// \throws mixprec::error when `hyper` is invalid (Rule::validate).
  std::size_t add_group(const options& hyper) {
    Rule::validate(hyper);
    groups_.push_back(hyper);
    return groups_.size() - 1;
  }
  /// Group g's hyper-parameters.
  /// \throws mixprec::error when g does not exist.
  const options& group(std::size_t g) const {
    check_group(g, "group");
    return groups_[g];
  }
  /// Changes a group's hyper-parameters (e.g. a learning-rate schedule) from
  /// the next step on (amsgrad may be switched on: the new max(v) arrays
  /// start at 0).
  /// \throws mixprec::error when g does not exist or `hyper` is invalid.
  void set_group(std::size_t g, const options& hyper) {
    check_group(g, "set_group");
    Rule::validate(hyper);
    groups_[g] = hyper;
  }
  /// Changes only the learning rate of group g, from the next step on.
  /// \throws mixprec::error as set_group does.
  void set_lr(std::size_t g, float lr) {
    options hyper = group(g);
    hyper.lr = lr;
    set_group(g, hyper);
  }

  /// A parameter with an FP32 master copy starting at initial[0..size), and
  /// optionally a model copy the optimizer rewrites after each step; `initial`
  /// (host memory, copied) is not used afterwards. Returns the parameter's
  /// index, its position in step()'s gradient list.
  /// \throws mixprec::error when a step was already taken, the group does not
  /// exist, size is 0 or too large, initial is null, the copy's type, size or
  /// scale is invalid (an FP8 copy without scale), or the copy (its buffer,
  /// scale or amax slot) overlaps another parameter's copy or BF16 weights.
  std::size_t add_parameter(std::size_t g, const float* initial, std::size_t size, const model_copy& copy = {}) {
    const char* who = "mixprec::optimizer::add_parameter: ";
    check_can_add(g, size, who);
    require(initial != nullptr, who, "initial values are null for a parameter of size ", size);
    const bool has_copy = copy.target.data != nullptr || copy.target.size != 0;
    if (has_copy) {
      require(size_of(copy.target.type) != 0, who, "the model copy's type ", static_cast<int>(copy.target.type),
              " is not a scalar_type (float32, bfloat16, float16, float8_e4m3 or float8_e5m2)");
      require(copy.target.size == size, who, "the model copy has ", copy.target.size, " elements, the parameter ", size);
      require(copy.target.data != nullptr, who, "the model copy of ", size, " elements has no data");
      const bool fp8 = is_fp8(copy.target.type);
      require(!fp8 || copy.scale != nullptr, who, "an FP8 model copy (", to_string(copy.target.type),
              ") needs a scale: pass model_copy{target, &scale} with the recipe's scale");
      check_new_buffer_disjoint(
          detail::span_of(copy.target.data, size, size_of(copy.target.type), "model copy", parameters_.size(), who),
          copy.scale, copy.amax, who);
    }
    parameter p;
    p.group = g;
    p.size = size;
    p.master.assign(initial, initial + size);
    p.state.assign(static_cast<std::size_t>(Rule::states_used(groups_[g])) * size, 0.0f);
    if (has_copy) p.copy = copy;
    p.first_element = total_elements_;
    total_elements_ += size;
    parameters_.push_back(std::move(p));
    return parameters_.size() - 1;
  }
  /// add_parameter(g, initial.data(), initial.size(), copy).
  /// \throws mixprec::error as that overload does.
  std::size_t add_parameter(std::size_t g, const std::vector<float>& initial, const model_copy& copy = {}) {
    return add_parameter(g, initial.data(), initial.size(), copy);
  }

  /// A BF16-only parameter: the weights live in `weights` (the model reads them
  /// directly), updated in place without an FP32 master and rounded back with
  /// optimizer_options::bf16_only_rounding. `weights` (host memory) must
  /// outlive the optimizer. Returns the parameter's index.
  /// \throws mixprec::error as add_parameter does, and when `weights` is null
  /// or overlaps another parameter's copy or BF16 weights (the same weights
  /// registered twice included).
  std::size_t add_bf16_parameter(std::size_t g, bfloat16* weights, std::size_t size) {
    const char* who = "mixprec::optimizer::add_bf16_parameter: ";
    check_can_add(g, size, who);
    require(weights != nullptr, who, "weights are null for a parameter of size ", size);
    check_new_buffer_disjoint(detail::span_of(weights, size, sizeof(bfloat16), "BF16 weights", parameters_.size(), who),
                              nullptr, nullptr, who);
    parameter p;
    p.group = g;
    p.size = size;
    p.bf16_weights = weights;
    p.state.assign(static_cast<std::size_t>(Rule::states_used(groups_[g])) * size, 0.0f);
    p.first_element = total_elements_;
    total_elements_ += size;
    parameters_.push_back(std::move(p));
    return parameters_.size() - 1;
  }
  /// add_bf16_parameter(g, weights.data(), weights.size()); `weights` must
  /// not be resized while registered.
  /// \throws mixprec::error as that overload does.
  std::size_t add_bf16_parameter(std::size_t g, std::vector<bfloat16>& weights) {
    return add_bf16_parameter(g, weights.data(), weights.size());
  }

  /// Registered parameters.
  std::size_t parameter_count() const noexcept { return parameters_.size(); }
  /// Elements of parameter p.
  /// \throws mixprec::error when p does not exist.
  std::size_t size(std::size_t p) const { return at(p).size; }
  /// The FP32 master weights of parameter p, size(p) floats (nullptr for a
  /// BF16-only parameter).
  /// \throws mixprec::error when p does not exist.
  const float* master(std::size_t p) const { return at(p).master.empty() ? nullptr : at(p).master.data(); }
  /// The FP32 master weights of parameter p, writable (e.g. to re-initialise
  /// them before training); nullptr for a BF16-only parameter. A change
  /// reaches the model copy at the next applied step.
  /// \throws mixprec::error when p does not exist.
  float* master(std::size_t p) { return at(p).master.empty() ? nullptr : parameters_[p].master.data(); }
  /// State k of every element (SGD: 0 = momentum buffer; AdamW: 0 = m, 1 = v,
  /// 2 = max v with amsgrad) of parameter p: size(p) floats.
  /// \throws mixprec::error when p does not exist or state k is not held
  /// (k outside [0, state_count), or 2 with amsgrad never switched on).
  const float* state(std::size_t p, int k) const {
    require(k >= 0 && k < state_count, Rule::name, ": state ", k, " does not exist; this optimizer has ", state_count);
    const parameter& q = at(p);
    require(static_cast<std::size_t>(k) < q.state.size() / q.size, Rule::name, ": parameter ", p, " holds ",
            q.state.size() / q.size, " state arrays, not state ", k, " (AdamW's state 2 exists with amsgrad)");
    return q.state.data() + static_cast<std::size_t>(k) * q.size;
  }
  /// State arrays parameter p holds (SGD 1; AdamW 2, or 3 once amsgrad is on).
  /// \throws mixprec::error when p does not exist.
  std::size_t state_arrays(std::size_t p) const { return at(p).state.size() / at(p).size; }
  /// Applied optimizer steps (skipped steps not counted).
  std::int64_t steps() const noexcept { return steps_; }
  /// Steps applied to parameter p (not counting steps where its gradient was
  /// empty): PyTorch's per-parameter state['step'].
  /// \throws mixprec::error when p does not exist.
  std::int64_t parameter_steps(std::size_t p) const { return at(p).steps; }
  /// The options given at construction (or restored by load()).
  const optimizer_options& get_options() const noexcept { return options_; }

  /// One optimizer step over every registered parameter; gradients[i] belongs
  /// to parameter i and holds the scaled gradient (FP32, BF16 or FP16), or is
  /// empty (size 0): parameter i then has no gradient this step and no byte
  /// of its master, states, progress or model copy changes (PyTorch's grad
  /// None). in.squared_grad_norm: < 0 unknown (computed here when clipping
  /// needs it); NaN or +inf means the gradients overflowed, and the step is
  /// skipped (report.skipped, grad_norm = inf), as when found_inf is set.
  /// All gradients are host memory.
  /// \throws mixprec::error, changing nothing, for a count, size or type
  /// mismatch, an inverse_scale that is not finite and > 0, a model-copy
  /// scale that is not finite and > 0, a gradient overlapping a buffer the
  /// step writes, or a step count at INT64_MAX (from a loaded checkpoint).
  step_report step(const std::vector<const_tensor_view>& gradients, const step_inputs& in) {
    check_step(gradients, in.inverse_scale);
    const bool norm_overflowed = std::isnan(in.squared_grad_norm) || in.squared_grad_norm == HUGE_VALF;
    step_report report =
        step_checked(gradients, in.found_inf || norm_overflowed, in.inverse_scale, in.squared_grad_norm);
    if (norm_overflowed) report.grad_norm = std::numeric_limits<float>::infinity();
    return report;
  }
  /// step(gradients, step_inputs{found_inf}): unscaled gradients (inverse_scale 1).
  /// \throws mixprec::error as step(gradients, in) does.
  step_report step(const std::vector<const_tensor_view>& gradients, bool found_inf) {
    step_inputs in;
    in.found_inf = found_inf;
    return step(gradients, in);
  }
  /// The whole loss-scaled step: checks the gradients (inf/NaN and the global
  /// norm, after unscaling by scaler.inverse_scale()), steps unless found_inf,
  /// then scaler.update(found_inf). Works with dynamic_loss_scaler and
  /// static_loss_scaler (GradScaler's unscale_, step and update in one call).
  /// \throws mixprec::error as step(gradients, in) does, before the scaler
  /// is updated.
  template <class Scaler, class = decltype(std::declval<Scaler&>().update(true)),
            class = decltype(std::declval<const Scaler&>().inverse_scale())>
  step_report step(const std::vector<const_tensor_view>& gradients, Scaler& scaler) {
    const float inverse_scale = scaler.inverse_scale();
    check_step(gradients, inverse_scale);
    const gradient_check check = check_gradients(gradients, inverse_scale);
    const float squared_norm = mixprec::detail::round_to_float(check.squared_norm);  // to nearest in every mode
    const bool found_inf = check.found_inf || !std::isfinite(squared_norm);
    step_report report = step_checked(gradients, found_inf, inverse_scale, found_inf ? -1.0f : squared_norm);
    if (found_inf) report.grad_norm = std::numeric_limits<float>::infinity();
    scaler.update(found_inf);
    return report;
  }

  // ---- Checkpointing ------------------------------------------------------

  /// The complete state: options, groups, and per parameter its master,
  /// states, progress and model-copy bytes (as the last step wrote them):
  /// PyTorch's state_dict.
  state_type save() const {
    state_type c;
    c.options = options_;
    c.groups = groups_;
    c.steps = steps_;
    c.parameters.reserve(parameters_.size());
    for (const parameter& p : parameters_) {
      parameter_checkpoint out;
      const parameter_layout layout = layout_of(p);
      out.group = p.group;
      out.size = p.size;
      out.kind = layout.kind;
      out.model_type = layout.model_type;
      out.steps = p.steps;
      out.state_started = p.state_started;
      out.master = p.master;
      out.state_arrays = p.state.size() / p.size;
      out.state = p.state;
      if (layout.kind != parameter_kind::master_only) {
        const unsigned char* bytes = static_cast<const unsigned char*>(model_data(p));
        out.model.assign(bytes, bytes + p.size * size_of(layout.model_type));
      }
      c.parameters.push_back(std::move(out));
    }
    return c;
  }
  /// Restores a state saved by this or a device optimizer with the same
  /// groups and parameters (count, order, group, size, kind, model-copy
  /// type): options, group hyper-parameters, masters, states, progress, step
  /// count, and the model copies' (or BF16 weights') bytes. The next step then
  /// continues bit for bit as if never interrupted (PyTorch's load_state_dict).
  /// \throws mixprec::error naming the mismatch, changing nothing, when the
  /// state does not fit.
  void load(const state_type& c) {
    validate_checkpoint(c, groups_.size(), layouts(), "mixprec::optimizer::load: ");
    std::vector<parameter> restored = parameters_;  // copies first: a bad_alloc leaves *this unchanged
    for (std::size_t i = 0; i < restored.size(); ++i) {
      restored[i].master = c.parameters[i].master;
      restored[i].state = c.parameters[i].state;
      restored[i].steps = c.parameters[i].steps;
      restored[i].state_started = c.parameters[i].state_started;
    }
    std::vector<options> groups = c.groups;
    // Nothing below can throw.
    parameters_.swap(restored);
    groups_.swap(groups);
    options_ = c.options;
    steps_ = c.steps;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      if (!c.parameters[i].model.empty()) {
        std::memcpy(model_data(parameters_[i]), c.parameters[i].model.data(), c.parameters[i].model.size());
      }
    }
  }
  /// save() as a version-1 byte string (mixprec/training/checkpoint.hpp).
  std::vector<unsigned char> save_bytes() const { return to_bytes(save()); }
  /// Parses and loads a byte string written by save_bytes() (host or
  /// device); `data` is host memory of `size` bytes.
  /// \throws mixprec::error, changing nothing, when it is corrupt,
  /// truncated, of another version or rule, or does not fit.
  void load_bytes(const unsigned char* data, std::size_t size) { load(checkpoint_from_bytes<Rule>(data, size)); }
  /// load_bytes(bytes.data(), bytes.size()).
  /// \throws mixprec::error as that overload does.
  void load_bytes(const std::vector<unsigned char>& bytes) { load_bytes(bytes.data(), bytes.size()); }

 private:
  struct parameter {
    std::size_t group = 0;
    std::size_t size = 0;
    std::vector<float> master;       // empty for BF16-only
    std::vector<float> state;        // (state arrays held) · size
    model_copy copy;
    bfloat16* bf16_weights = nullptr;  // BF16-only
    std::uint64_t first_element = 0;   // index of element 0 among all parameters' elements
    std::int64_t steps = 0;            // steps applied to this parameter (PyTorch's state['step'])
    bool state_started = false;        // SGD: the momentum buffer exists (PyTorch's momentum_buffer is not None)
  };

  static parameter_layout layout_of(const parameter& p) {
    parameter_layout l;
    l.group = p.group;
    l.size = p.size;
    if (p.bf16_weights != nullptr) {
      l.kind = parameter_kind::bf16_only;
      l.model_type = scalar_type::bfloat16;
    } else if (p.copy.target.data != nullptr) {
      l.kind = parameter_kind::master_and_copy;
      l.model_type = p.copy.target.type;
    }
    return l;
  }
  std::vector<parameter_layout> layouts() const {
    std::vector<parameter_layout> out;
    out.reserve(parameters_.size());
    for (const parameter& p : parameters_) out.push_back(layout_of(p));
    return out;
  }
  static void* model_data(const parameter& p) noexcept {
    return p.bf16_weights != nullptr ? static_cast<void*>(p.bf16_weights) : p.copy.target.data;
  }
  // The bytes a step writes for parameter p (copy or BF16 weights), if any.
  static bool written_span(const parameter& p, std::size_t index, detail::byte_span& out) {
    const parameter_layout l = layout_of(p);
    if (l.kind == parameter_kind::master_only) return false;
    const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(model_data(p));
    out = detail::byte_span{first, first + p.size * size_of(l.model_type),
                            l.kind == parameter_kind::bf16_only ? "BF16 weights" : "model copy", index};
    return true;
  }

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
    // Master and states: at most 1 + state_count floats per element.
    const std::size_t largest = std::numeric_limits<std::size_t>::max() / (sizeof(float) * (1 + state_count));
    require(size <= largest, who, "size = ", size, " is too large: its FP32 master and states would overflow size_t (at "
            "most ", largest, " elements)");
  }
  // A new parameter's written buffer (and its copy's scale and amax slots)
  // must not overlap any registered parameter's written buffer; the new
  // buffer must not cover a registered copy's scale or amax either.
  void check_new_buffer_disjoint(const detail::byte_span& written, const float* scale, const float* amax,
                                 const char* who) const {
    const std::size_t index = parameters_.size();
    const detail::byte_span scale_span =
        scale != nullptr ? detail::span_of(scale, 1, sizeof(float), "model-copy scale", index, who) : detail::byte_span{};
    const detail::byte_span amax_span =
        amax != nullptr ? detail::span_of(amax, 1, sizeof(float), "model-copy amax", index, who) : detail::byte_span{};
    detail::require_disjoint(written, scale_span, who);
    detail::require_disjoint(written, amax_span, who);
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      detail::byte_span other;
      if (written_span(parameters_[i], i, other)) {
        detail::require_disjoint(written, other, who);
        detail::require_disjoint(scale_span, other, who);
        detail::require_disjoint(amax_span, other, who);
      }
      const model_copy& c = parameters_[i].copy;
      if (c.scale != nullptr) detail::require_disjoint(written, detail::span_of(c.scale, 1, 4, "model-copy scale", i, who), who);
      if (c.amax != nullptr) detail::require_disjoint(written, detail::span_of(c.amax, 1, 4, "model-copy amax", i, who), who);
    }
  }
  // Everything step() checks before it may change anything.
  void check_step(const std::vector<const_tensor_view>& gradients, float inverse_scale) const {
    const char* who = "mixprec::optimizer::step: ";
    require(gradients.size() == parameters_.size(), Rule::name, "::step: ", gradients.size(),
            " gradients for ", parameters_.size(), " parameters; pass one per parameter, in registration order");
    require(mixprec::detail::is_finite_positive(inverse_scale), Rule::name, "::step: inverse_scale = ", inverse_scale,
            " must be finite and > 0");
    // A loaded checkpoint may hold any count below INT64_MAX: the step after
    // the one that reaches it could not be counted (steps_ + 1 would overflow).
    require(steps_ < std::numeric_limits<std::int64_t>::max(), Rule::name, "::step: ", steps_,
            " steps are applied, the most an int64 step count holds; no further step can be counted");
    std::vector<detail::byte_span> written;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      detail::byte_span span;
      if (written_span(parameters_[i], i, span)) written.push_back(span);
      const model_copy& c = parameters_[i].copy;
      if (c.amax != nullptr) written.push_back(detail::span_of(c.amax, 1, sizeof(float), "model-copy amax", i, who));
      if (c.scale != nullptr && c.target.type != scalar_type::float32) {
        require(mixprec::detail::is_finite_positive(*c.scale), who, "the model-copy scale of parameter ", i, " is ",
                *c.scale, "; it must be finite and > 0 (give the recipe's current scale)");
      }
    }
    for (std::size_t i = 0; i < gradients.size(); ++i) {
      detail::check_gradient_view(gradients[i], i, who);
      if (gradients[i].size == 0) continue;  // no gradient for this parameter this step
      require(gradients[i].size == parameters_[i].size, Rule::name, "::step: gradient ", i, " has ",
              gradients[i].size, " elements, parameter ", i, " has ", parameters_[i].size,
              " (an empty gradient skips the parameter)");
      const detail::byte_span g = detail::span_of(gradients[i].data, gradients[i].size, size_of(gradients[i].type),
                                                  "gradient", i, who);
      for (const detail::byte_span& w : written) detail::require_disjoint(g, w, who);
    }
  }

  // squared_norm: of the unscaled gradients, < 0 when unknown.
  step_report step_checked(const std::vector<const_tensor_view>& gradients, bool found_inf, float inverse_scale,
                           float squared_norm) {
    step_report report;
    report.steps = steps_;
    if (found_inf) {
      report.skipped = true;
      return report;
    }
    if (!mixprec::detail::is_zero_exactly(options_.max_grad_norm) &&
        mixprec::detail::is_negative_exactly(squared_norm)) {
      const gradient_check check = check_gradients(gradients, inverse_scale);
      squared_norm = mixprec::detail::round_to_float(check.squared_norm);
      if (check.found_inf || !std::isfinite(squared_norm)) {
        report.skipped = true;
        report.grad_norm = std::numeric_limits<float>::infinity();
        return report;
      }
    }
    // The environment, checked once per step: the hardware arithmetic where
    // MXCSR is in its default state, else the same roundings in integer code
    // (update_rules.hpp's exact_arithmetic), so the step has the device's bits.
    if (mixprec::detail::default_float_environment())
      apply_step<detail::hardware_arithmetic>(gradients, inverse_scale, squared_norm, report);
    else
      apply_step<detail::exact_arithmetic>(gradients, inverse_scale, squared_norm, report);
    report.steps = steps_;
    return report;
  }

  // The applied step in one arithmetic: the norm and clipping coefficient
  // into `report`, then every parameter's update.
  template <class Arithmetic>
  void apply_step(const std::vector<const_tensor_view>& gradients, float inverse_scale, float squared_norm,
                  step_report& report) {
    if (mixprec::detail::is_nonnegative_exactly(squared_norm)) report.grad_norm = Arithmetic::sqrt(squared_norm);
    if (!mixprec::detail::is_zero_exactly(options_.max_grad_norm))
      report.clip_coefficient = detail::clip_coefficient<Arithmetic>(squared_norm, options_.max_grad_norm);
    grow_states();
    apply<Arithmetic>(gradients, inverse_scale, report.clip_coefficient);
  }

  // amsgrad switched on for a group after its parameters were added: their
  // max(v) arrays start at 0 (max(0, v) = v). Allocated before any update,
  // so a bad_alloc changes nothing that matters.
  void grow_states() {
    for (parameter& p : parameters_) {
      const std::size_t needed = static_cast<std::size_t>(Rule::states_used(groups_[p.group])) * p.size;
      if (p.state.size() < needed) p.state.resize(needed, 0.0f);
    }
  }

  template <class Arithmetic>
  void apply(const std::vector<const_tensor_view>& gradients, float inverse_scale, float clip) {
    const std::int64_t step_number = steps_ + 1;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      if (gradients[i].size == 0) continue;  // no gradient: nothing of this parameter changes
      parameter& p = parameters_[i];
      const options& hyper = groups_[p.group];
      const typename Rule::scalars s = Rule::template prepare<Arithmetic>(hyper, p.steps + 1, p.state_started);
      visit_scalar_type(gradients[i].type, [&](auto gradient_zero) {
        using G = decltype(gradient_zero);
        const G* g = static_cast<const G*>(gradients[i].data);
        if (p.bf16_weights != nullptr) {
          update_bf16_only<Arithmetic>(p, g, inverse_scale, clip, s, step_number);
        } else if (p.copy.target.data == nullptr) {
          update_master<Arithmetic, G, float>(p, g, nullptr, inverse_scale, clip, s, step_number);
        } else {
          visit_scalar_type(p.copy.target.type, [&](auto model_zero) {
            using M = decltype(model_zero);
            update_master<Arithmetic, G, M>(p, g, static_cast<M*>(p.copy.target.data), inverse_scale, clip, s,
                                            step_number);
          });
        }
      });
      p.steps += 1;
      p.state_started = p.state_started || Rule::template starts_state<Arithmetic>(hyper);
    }
    steps_ = step_number;
  }

  // The exact update of one element, out of line: compiled once per rule,
  // whatever the gradient and copy types.
  [[gnu::noinline, gnu::cold]] static float update_element_exactly(float w, float gradient, float inverse_scale,
                                                                   float clip, float* state,
                                                                   const typename Rule::scalars& s) noexcept {
    return detail::update_element<Rule, detail::exact_arithmetic>(w, gradient, inverse_scale, clip, state, s);
  }
  template <class Arithmetic>
  static float update_element(float w, float gradient, float inverse_scale, float clip, float* state,
                              const typename Rule::scalars& s) noexcept {
    if constexpr (std::is_same<Arithmetic, detail::hardware_arithmetic>::value)
      return detail::update_element<Rule>(w, gradient, inverse_scale, clip, state, s);
    else
      return update_element_exactly(w, gradient, inverse_scale, clip, state, s);
  }

  // The update loops, one per arithmetic: the environment is checked once
  // per step, so the default loop tests nothing per element (the copy's
  // rounding included) and compiles as a plain loop.
  template <class Arithmetic, class G, class M>
  void update_master(parameter& p, const G* g, M* model, float inverse_scale, float clip,
                     const typename Rule::scalars& s, std::int64_t step_number) {
    const bool stochastic = options_.model_rounding == rounding::stochastic;
    const float scale = p.copy.scale != nullptr ? *p.copy.scale : 1.0f;
    const std::size_t arrays = p.state.size() / p.size;
    std::uint32_t amax_bits = 0;
    float state[static_cast<std::size_t>(state_count)] = {};
    for (std::size_t i = 0; i < p.size; ++i) {
      for (std::size_t k = 0; k < arrays; ++k) state[k] = p.state[k * p.size + i];
      const float w = update_element<Arithmetic>(p.master[i], detail::widen(g[i]), inverse_scale, clip, state, s);
      p.master[i] = w;
      for (std::size_t k = 0; k < arrays; ++k) p.state[k * p.size + i] = state[k];
      if (model != nullptr) {
        const std::uint32_t bits =
            stochastic ? detail::step_random_bits(options_.seed, step_number, total_elements_, p.first_element + i) : 0u;
        model[i] = detail::round_model_copy<M, Arithmetic>(w, scale, stochastic, bits);
      }
      const std::uint32_t magnitude = detail::magnitude_bits(w);
      amax_bits = magnitude > amax_bits ? magnitude : amax_bits;
    }
    raise_amax(p, amax_bits);
  }

  template <class Arithmetic, class G>
  void update_bf16_only(parameter& p, const G* g, float inverse_scale, float clip, const typename Rule::scalars& s,
                        std::int64_t step_number) {
    const bool stochastic = options_.bf16_only_rounding == rounding::stochastic;
    const std::size_t arrays = p.state.size() / p.size;
    float state[static_cast<std::size_t>(state_count)] = {};
    for (std::size_t i = 0; i < p.size; ++i) {
      for (std::size_t k = 0; k < arrays; ++k) state[k] = p.state[k * p.size + i];
      const float w = update_element<Arithmetic>(static_cast<float>(p.bf16_weights[i]), detail::widen(g[i]),
                                                 inverse_scale, clip, state, s);
      for (std::size_t k = 0; k < arrays; ++k) p.state[k * p.size + i] = state[k];
      const std::uint32_t bits =
          stochastic ? detail::step_random_bits(options_.seed, step_number, total_elements_, p.first_element + i) : 0u;
      p.bf16_weights[i] = detail::round_model_copy<bfloat16, Arithmetic>(w, 1.0f, stochastic, bits);
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

/// SGD (torch.optim.SGD) with FP32 masters on the host.
using sgd_optimizer = basic_optimizer<sgd_rule>;
/// AdamW (torch.optim.AdamW) with FP32 masters on the host.
using adamw_optimizer = basic_optimizer<adamw_rule>;

}  // namespace mixprec
