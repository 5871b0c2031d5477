/// \file
/// The fused multi-tensor optimizer step on the device (torch.optim.AdamW /
/// SGD with fused=True): FP32 master weights and states in device memory, every
/// parameter updated by one launch.
///
/// Per element, one pass: read the stored (scaled, low-precision) gradient,
/// unscale and clip it, update the FP32 master and states, write the model
/// copy (nearest even or stochastic) — each buffer read once and written once.
/// The step reads found_inf, the scale and the squared gradient norm from
/// device memory (no host synchronisation) and, when found_inf is set, every
/// block returns before touching memory: nothing changes, not even the step
/// counter. So does every block when a model copy's scale is not finite and
/// > 0 (where the host optimizer throws): the launch is refused and counted
/// (read_rejected_steps(), require_no_rejected_step()). The per-element function is the host optimizer's
/// (mixprec::detail::update_element with the same rule), so master, states and
/// copies equal mixprec::basic_optimizer's bit for bit. Per-parameter progress
/// (applied steps, momentum started) lives in device memory too, and is
/// advanced by the launch's last block, after every block has read it.
///
/// A parameter without a gradient this step (frozen, an MoE expert no token
/// reached): clear its byte in gradient_mask() (device memory, one byte per
/// parameter, 1 = has a gradient) before the step; nothing of that parameter
/// changes, as on the host with an empty gradient. Checkpoints: save() and
/// load() (mixprec/training/checkpoint.hpp's state, the host optimizer's), and
/// their byte forms save_bytes() / load_bytes().
///
/// This header holds the optimizer class (registration, validation, uploads,
/// checkpoints, the launch); the kernel and the tables it reads are in
/// mixprec/cuda/detail/fused_step_kernel.hpp.
///
/// \code
///   mixprec::cuda::fused_adamw optimizer;                  // optimizer_options as on the host
///   auto group = optimizer.add_group(mixprec::adamw_options{});
///   optimizer.add_parameter(group, w1_initial, n1,          // host or device floats
///                           mixprec::const_tensor_view{grad_w1, n1},       // device BF16 gradient
///                           mixprec::model_copy{mixprec::tensor_view{w1_bf16, n1}});  // device BF16 copy
///   optimizer.prepare();
///   // each step, after unscale_and_check(gradients, scaler, stream):
///   optimizer.step(scaler, stream);
///   scaler.update(stream);
/// \endcode
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/cuda/detail/fused_step_kernel.hpp"
#include "mixprec/cuda/loss_scaler.hpp"
#include "mixprec/cuda/multi_tensor.hpp"
#include "mixprec/training/checkpoint.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {

/// The device optimizer: FP32 master weights and states in device memory, the
/// update rule `Rule` (sgd_rule or adamw_rule) applied per element by one
/// launch over every parameter; bit for bit the host basic_optimizer<Rule>.
/// Register groups and parameters, then prepare() (or the first step()); the
/// registered device buffers (gradients, copies, scales, amax slots, BF16
/// weights) must stay allocated while the optimizer is used. Every rejected
/// call throws mixprec::error; CUDA failures throw mixprec::runtime_error.
template <class Rule>
class fused_optimizer {
 public:
  using rule = Rule;                        ///< sgd_rule or adamw_rule
  using options = typename Rule::options;   ///< one group's hyper-parameters: sgd_options or adamw_options
  static constexpr int state_count = Rule::state_count;  ///< FP32 state arrays per element at most (SGD 1, AdamW 3)
  static_assert(state_count <= training_detail::max_state_arrays, "the device optimizer holds at most three state arrays per parameter");
  /// The complete state, the host optimizer's (mixprec/training/checkpoint.hpp).
  using state_type = optimizer_checkpoint<Rule>;
  static_assert(std::is_trivially_copyable<options>::value, "group options are copied to device memory as bytes");

  /// Default optimizer_options: no clipping, nearest-even model copies.
  fused_optimizer() : fused_optimizer(optimizer_options{}) {}
  /// An optimizer with options `o` and no groups or parameters yet.
  /// \throws mixprec::error when `o` is invalid (the host optimizer's checks).
  explicit fused_optimizer(const optimizer_options& o) : options_(o) { validate(o); }

  /// Adds a parameter group with hyper-parameters `hyper` (PyTorch's
  /// param_groups entry) and returns its index (0, 1, ...).
  /// \throws mixprec::error after prepare() or the first step, or when
  /// `hyper` is invalid (Rule::validate).
  std::size_t add_group(const options& hyper) {
    require(!prepared_, "mixprec::cuda::fused_optimizer::add_group: add every group before prepare() or the first ",
            "step (a captured step keeps the device table it was captured with)");
    Rule::validate(hyper);
    groups_.push_back(hyper);
    return groups_.size() - 1;
  }
  /// Group g's hyper-parameters (the host copy, as last set).
  /// \throws mixprec::error when g does not exist.
  const options& group(std::size_t g) const {
    check_group(g);
    return groups_[g];
  }
  /// Changes a group's hyper-parameters from the next step on `stream`: a
  /// stream-ordered copy into the device table, so a learning-rate schedule
  /// costs no host synchronisation per step. The source is pageable host
  /// memory, which cudaMemcpyAsync consumes before it returns (it stages it, or
  /// copies synchronously: CUDA Runtime API, "API synchronization behavior"),
  /// so later calls may change groups_ freely. Outside graph capture only: a
  /// captured step keeps reading the device table, which set_group rewrites
  /// between replays.
  /// \throws mixprec::error when g does not exist, `hyper` is invalid, or,
  /// after prepare(), `hyper` needs more state arrays than the group's
  /// parameters hold (AdamW: choose amsgrad before prepare()), or `stream` is
  /// being captured; mixprec::runtime_error when the copy fails.
  void set_group(std::size_t g, const options& hyper, cudaStream_t stream = nullptr) {
    check_group(g);
    Rule::validate(hyper);
    if (prepared_) {
      for (std::size_t p = 0; p < entries_.size(); ++p) {
        require(entries_[p].group != g || state_arrays_held(p) >= Rule::states_used(hyper),
                "mixprec::cuda::fused_optimizer::set_group: group ", g, "'s new options need ",
                Rule::states_used(hyper), " state arrays but parameter ", p, " holds ", state_arrays_held(p),
                "; choose amsgrad before prepare() or the first step");
      }
    }
    groups_[g] = hyper;
    if (!prepared_) return;
    training_detail::require_not_capturing(stream, "mixprec::cuda::fused_optimizer::set_group");
    training_detail::check(cudaMemcpyAsync(device_groups_.get() + g, &groups_[g], sizeof(options),
                                           cudaMemcpyHostToDevice, stream),
                           "cudaMemcpyAsync of group options");
  }
  /// Changes only the learning rate of group g, from the next step on `stream`.
  /// \throws mixprec::error as set_group does.
  void set_lr(std::size_t g, float lr, cudaStream_t stream = nullptr) {
    options hyper = group(g);
    hyper.lr = lr;
    set_group(g, hyper, stream);
  }

  /// A parameter with an FP32 master on the device, initialised from `initial`
  /// (host or device memory, `size` floats); `gradient` is where the backward
  /// pass leaves its (scaled) gradient, in device memory; `copy` the device
  /// model copy the step rewrites (optional; FP8 needs a device scale pointer;
  /// amax, if given, is raised with atomicMax). Returns the parameter's index.
  /// The gradient pointer is fixed: the backward pass must write each step's
  /// gradient to the same buffer.
  /// \throws mixprec::error after prepare() or the first step, when the group
  /// does not exist, size is 0, a pointer is null, a type or size does not fit
  /// (gradients are float32, bfloat16 or float16; an FP8 copy needs a scale),
  /// or a buffer the step writes (the model copy) overlaps any registered
  /// gradient, copy, scale or amax slot; mixprec::runtime_error when the
  /// device allocation or upload fails.
  std::size_t add_parameter(std::size_t g, const float* initial, std::size_t size, const const_tensor_view& gradient,
                            const model_copy& copy = {}) {
    const char* who = "mixprec::cuda::fused_optimizer::add_parameter: ";
    check_can_add(g, size, gradient, who);
    require(initial != nullptr, who, "initial values are null for a parameter of size ", size);
    training_detail::parameter_entry e = base_entry(g, size, gradient);
    if (copy.target.data != nullptr || copy.target.size != 0) {
      require(size_of(copy.target.type) != 0, who, "the model copy's type ", static_cast<int>(copy.target.type),
              " is not a scalar_type (float32, bfloat16, float16, float8_e4m3 or float8_e5m2)");
      require(copy.target.size == size, who, "the model copy has ", copy.target.size, " elements, the parameter ", size);
      require(copy.target.data != nullptr, who, "the model copy of ", size, " elements has no data");
      require(!is_fp8(copy.target.type) || copy.scale != nullptr, who, "an FP8 model copy (",
              to_string(copy.target.type), ") needs a scale: pass model_copy{target, device_scale_pointer}");
      e.model = copy.target.data;
      e.model_type = static_cast<std::uint8_t>(copy.target.type);
      e.model_scale = copy.scale;
      e.model_amax = copy.amax;
    }
    check_buffers_disjoint(e, who);
    owned_.emplace_back();
    parameter_memory& memory = owned_.back();
    memory.master = training_detail::device_array<float>(size);
    memory.master.upload(initial, size);
    e.master = memory.master.get();
    allocate_states(memory, e, size);
    add_entry(e);
    return entries_.size() - 1;
  }

  /// A BF16-only parameter: `weights` (device BF16) are updated in place
  /// without an FP32 master; the update is rounded as options.bf16_only_rounding says.
  /// `gradient` is device memory, as for add_parameter(). Returns the
  /// parameter's index.
  /// \throws mixprec::error as add_parameter does (weights null included);
  /// mixprec::runtime_error when a device allocation fails.
  std::size_t add_bf16_parameter(std::size_t g, bfloat16* weights, std::size_t size, const const_tensor_view& gradient) {
    const char* who = "mixprec::cuda::fused_optimizer::add_bf16_parameter: ";
    check_can_add(g, size, gradient, who);
    require(weights != nullptr, who, "weights are null for a parameter of size ", size);
    training_detail::parameter_entry e = base_entry(g, size, gradient);
    e.bf16_only = true;
    e.model = weights;
    e.model_type = static_cast<std::uint8_t>(scalar_type::bfloat16);
    check_buffers_disjoint(e, who);
    owned_.emplace_back();
    allocate_states(owned_.back(), e, size);
    add_entry(e);
    return entries_.size() - 1;
  }

  /// Uploads the tables; not capturable. step() calls it when needed outside capture.
  /// Does nothing when already prepared; afterwards no group or parameter can
  /// be added.
  /// \throws mixprec::error when no parameter was added or `stream` is being
  /// captured; mixprec::runtime_error when an allocation or copy fails.
  void prepare(cudaStream_t stream = nullptr) {
    if (prepared_) return;
    training_detail::require_not_capturing(stream, "mixprec::cuda::fused_optimizer::prepare");
    require(!entries_.empty(), "mixprec::cuda::fused_optimizer: no parameters were added");
    // Groups changed since add_parameter (amsgrad switched on) get their arrays now.
    for (std::size_t p = 0; p < entries_.size(); ++p) allocate_states(owned_[p], entries_[p], entries_[p].size);
    device_entries_.upload(entries_);
    device_chunks_.upload(chunks_);
    device_groups_.upload(groups_);
    state_ = training_detail::device_array<training_detail::step_state>(1);
    fill_and_wait(state_.get(), 0, sizeof(training_detail::step_state));
    progress_ = training_detail::device_array<training_detail::parameter_progress>(entries_.size());
    fill_and_wait(progress_.get(), 0, entries_.size() * sizeof(training_detail::parameter_progress));
    has_gradient_ = training_detail::device_array<unsigned char>(entries_.size());
    fill_and_wait(has_gradient_.get(), 1, entries_.size());
    prepared_ = true;
  }

  /// One byte per parameter in device memory (after prepare()): 1 = the
  /// parameter has a gradient this step, 0 = it has none and the step changes
  /// nothing of it (no master, state, progress or copy byte; PyTorch's grad
  /// None). All 1 after prepare(); the mask persists across steps, so reset
  /// it when the set of gradient-less parameters changes.
  /// \throws mixprec::error before prepare().
  unsigned char* gradient_mask() const {
    require(prepared_, "mixprec::cuda::fused_optimizer::gradient_mask: call prepare() first");
    return has_gradient_.get();
  }

  /// One launch over every parameter. found_inf, scale and squared_norm are
  /// device pointers (scale null: 1; found_inf null: never skip); squared_norm
  /// is required when options.max_grad_norm > 0, and a NaN or infinite value
  /// there skips the step (the gradients overflowed), as on the host. Parameters
  /// whose gradient_mask() byte is 0 are left unchanged. Asynchronous on
  /// `stream`; capturable into a CUDA graph once prepared.
  ///
  /// A model copy's scale (device memory, read by the launch) that is not
  /// finite and > 0 — NaN, inf, 0 or negative — refuses the whole step:
  /// host optimizer: step() throws mixprec::error before touching anything;
  /// device optimizer: the launch changes no byte (masters, states, copies,
  /// amax slots, progress and the step count stay) and records the refusal,
  /// which read_rejected_steps() returns and require_no_rejected_step()
  /// raises as the host's error. The launch cannot tell the loss scaler:
  /// scaler.update() after it counts the step as clean, so check before a
  /// checkpoint (issue 12, defect 8).
  /// \throws mixprec::error when clipping lacks squared_norm, or as prepare()
  /// does when the optimizer is not prepared yet; mixprec::runtime_error when
  /// the launch fails.
  void step(const float* found_inf, const float* scale, const float* squared_norm, cudaStream_t stream = nullptr) {
    require(options_.max_grad_norm <= 0.0f || squared_norm != nullptr, "mixprec::cuda::fused_optimizer::step: ",
            "clipping (max_grad_norm = ", options_.max_grad_norm,
            ") needs the squared gradient norm: run unscale_and_check with a squared_norm output first");
    prepare(stream);
    training_detail::step_arguments a{};
    a.chunks = device_chunks_.get();
    a.parameters = device_entries_.get();
    a.groups = device_groups_.get();
    a.state = state_.get();
    a.progress = progress_.get();
    a.has_gradient = has_gradient_.get();
    a.parameter_count = static_cast<std::uint32_t>(entries_.size());
    a.found_inf = found_inf;
    a.scale = scale;
    a.squared_norm = !mixprec::detail::is_zero_exactly(options_.max_grad_norm) ? squared_norm : nullptr;
    a.max_grad_norm = options_.max_grad_norm;
    a.total_elements = total_elements_;
    a.seed = options_.seed;
    a.stochastic_model = options_.model_rounding == rounding::stochastic;
    a.stochastic_bf16_only = options_.bf16_only_rounding == rounding::stochastic;
    training_detail::fused_step_kernel<Rule>
        <<<training_detail::grid_for(chunks_.size()), training_detail::block_threads, 0, stream>>>(a);
    training_detail::check(cudaGetLastError(), "launching the fused optimizer step");
  }
  /// The usual call: the scaler's found_inf, scale and squared norm (after
  /// unscale_and_check(gradients, scaler, stream)). Throws as the pointer
  /// overload does.
  void step(const device_loss_scaler& scaler, cudaStream_t stream = nullptr) {
    step(scaler.found_inf(), scaler.scale(), scaler.squared_norm(), stream);
  }

  /// Registered parameters.
  std::size_t parameter_count() const noexcept { return entries_.size(); }
  /// Device pointer to parameter p's FP32 master, size floats (nullptr for BF16-only).
  /// \throws mixprec::error when p does not exist.
  float* master(std::size_t p) const { return entry(p).master; }
  /// Device pointer to state k of parameter p (SGD: 0 = momentum buffer;
  /// AdamW: 0 = m, 1 = v, 2 = max v), size floats; nullptr when the
  /// parameter does not hold state k (AdamW's state 2 without amsgrad).
  /// \throws mixprec::error when p does not exist or k is outside [0, state_count).
  float* state(std::size_t p, int k) const {
    require(k >= 0 && k < state_count, Rule::name, ": state ", k, " does not exist; this optimizer has ", state_count);
    return entry(p).state[k];
  }
  /// State arrays parameter p holds on the device (SGD 1; AdamW 2, or 3 with amsgrad).
  /// \throws mixprec::error when p does not exist.
  std::size_t state_arrays(std::size_t p) const {
    entry(p);
    return static_cast<std::size_t>(state_arrays_held(p));
  }
  /// Applied steps, skipped steps not counted (waits for `stream`; 0 before prepare()).
  /// \throws mixprec::error while `stream` is being captured;
  /// mixprec::runtime_error when a CUDA call fails.
  std::int64_t read_steps(cudaStream_t stream = nullptr) const {
    if (!prepared_) return 0;
    training_detail::require_not_capturing(stream, "reading the optimizer's step count");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    training_detail::step_state s{};
    state_.download(&s, 1);
    return s.steps;
  }
  /// Launches step() refused because a model copy's scale was not finite and
  /// > 0, and the first one's offending parameter and scale.
  struct rejected_steps_report {
    std::int64_t rejected_steps = 0;  ///< refused launches since prepare() or load()
    std::size_t first_parameter = 0;  ///< the first refused launch's lowest offending parameter (when rejected_steps > 0)
    float first_scale = 0.0f;         ///< the scale it read there: NaN, inf, 0 or negative
  };
  /// What step() refused so far (waits for `stream`; all 0 before prepare()).
  /// 	hrows mixprec::error while `stream` is being captured;
  /// mixprec::runtime_error when a CUDA call fails.
  rejected_steps_report read_rejected_steps(cudaStream_t stream = nullptr) const {
    rejected_steps_report report;
    if (!prepared_) return report;
    training_detail::require_not_capturing(stream, "reading the optimizer's refused steps");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    training_detail::step_state s{};
    state_.download(&s, 1);
    report.rejected_steps = s.rejection.rejected_steps;
    report.first_parameter = s.rejection.first_parameter;
    report.first_scale = s.rejection.first_scale;
    return report;
  }
  /// The host optimizer's error for a bad model-copy scale, raised late: call
  /// it where the host may wait (after an epoch, before a checkpoint).
  /// 	hrows mixprec::error naming the parameter and the scale when step()
  /// refused a launch since prepare() or load(); otherwise as read_rejected_steps().
  void require_no_rejected_step(cudaStream_t stream = nullptr) const {
    const rejected_steps_report r = read_rejected_steps(stream);
    require(r.rejected_steps == 0, Rule::name, "::step (device): ", r.rejected_steps,
            " launch(es) changed nothing because a model-copy scale was not finite and > 0; the first read ",
            r.first_scale, " for parameter ", r.first_parameter,
            " (give the recipe's current scale; the host optimizer rejects such a step with this message)");
  }
  /// Chunks of at most 32768 elements over all parameters: the step's grid size.
  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  /// Elements of all registered parameters together.
  std::uint64_t total_elements() const noexcept { return total_elements_; }

  // ---- Checkpointing ------------------------------------------------------

  /// The complete state (waits for `stream`, then copies from the device):
  /// the same state the host optimizer saves, so either loads it. Not
  /// capturable. Prepares first when needed.
  /// \throws mixprec::error while `stream` is being captured, or as prepare()
  /// does; mixprec::runtime_error when a CUDA call fails.
  state_type save(cudaStream_t stream = nullptr) {
    prepare(stream);
    training_detail::require_not_capturing(stream, "mixprec::cuda::fused_optimizer::save");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    state_type c;
    c.options = options_;
    c.groups = groups_;
    training_detail::step_state st{};
    state_.download(&st, 1);
    c.steps = st.steps;
    const std::vector<training_detail::parameter_progress> progress = progress_.download(entries_.size());
    c.parameters.resize(entries_.size());
    for (std::size_t p = 0; p < entries_.size(); ++p) {
      const training_detail::parameter_entry& e = entries_[p];
      const parameter_layout layout = layout_of(e);
      parameter_checkpoint& out = c.parameters[p];
      out.group = layout.group;
      out.size = layout.size;
      out.kind = layout.kind;
      out.model_type = layout.model_type;
      out.steps = progress[p].steps;
      out.state_started = progress[p].state_started != 0;
      if (e.master != nullptr) out.master = owned_[p].master.download(e.size);
      out.state_arrays = static_cast<std::size_t>(state_arrays_held(p));
      out.state.resize(out.state_arrays * e.size);
      for (std::size_t k = 0; k < out.state_arrays; ++k) owned_[p].state[k].download(out.state.data() + k * e.size, e.size);
      if (layout.kind != parameter_kind::master_only) {
        out.model.resize(e.size * size_of(layout.model_type));
        training_detail::check(cudaMemcpy(out.model.data(), e.model, out.model.size(), cudaMemcpyDeviceToHost),
                               "cudaMemcpy of a model copy");
      }
    }
    return c;
  }
  /// Restores a state saved by this or the host optimizer with the same
  /// groups and parameters (count, order, group, size, kind, model-copy
  /// type), copying masters, states, progress, the step count and the model
  /// copies' (or BF16 weights') bytes to the device and the groups' options
  /// to the device table. Validated entirely first: a state that does not fit
  /// throws mixprec::error naming the mismatch and changes nothing. Waits for
  /// `stream`; not capturable. Clears no gradient mask byte.
  /// \throws mixprec::error when `c` does not fit or `stream` is being
  /// captured; mixprec::runtime_error when a CUDA call fails.
  void load(const state_type& c, cudaStream_t stream = nullptr) {
    const char* who = "mixprec::cuda::fused_optimizer::load: ";
    validate_checkpoint(c, groups_.size(), layouts(), who);
    training_detail::require_not_capturing(stream, "mixprec::cuda::fused_optimizer::load");
    training_detail::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    groups_ = c.groups;
    if (!prepared_) {
      prepare(stream);
    } else {
      // Arrays the loaded groups use (amsgrad) that are not held yet; the
      // device tables keep their addresses, so captured graphs stay valid.
      for (std::size_t p = 0; p < entries_.size(); ++p) allocate_states(owned_[p], entries_[p], entries_[p].size);
      device_entries_.upload(entries_);
      device_groups_.upload(groups_);
    }
    std::vector<training_detail::parameter_progress> progress(entries_.size());
    for (std::size_t p = 0; p < entries_.size(); ++p) {
      const parameter_checkpoint& in = c.parameters[p];
      const training_detail::parameter_entry& e = entries_[p];
      progress[p] = training_detail::parameter_progress{in.steps, in.state_started ? 1u : 0u, 0u};
      if (e.master != nullptr) owned_[p].master.upload(in.master.data(), e.size);
      const std::size_t held = static_cast<std::size_t>(state_arrays_held(p));
      for (std::size_t k = 0; k < held; ++k) {
        if (k < in.state_arrays) {
          owned_[p].state[k].upload(in.state.data() + k * e.size, e.size);
        } else {
          fill_and_wait(owned_[p].state[k].get(), 0, e.size * sizeof(float));
        }
      }
      if (!in.model.empty()) {
        training_detail::check(cudaMemcpy(e.model, in.model.data(), in.model.size(), cudaMemcpyHostToDevice),
                               "cudaMemcpy of a model copy");
      }
    }
    progress_.upload(progress);
    training_detail::step_state st{};
    st.steps = c.steps;
    state_.upload(&st, 1);
    options_ = c.options;
  }
  /// save() as a version-1 byte string (mixprec/training/checkpoint.hpp).
  /// Throws as save() does.
  std::vector<unsigned char> save_bytes(cudaStream_t stream = nullptr) { return to_bytes(save(stream)); }
  /// Parses and loads a byte string written by this or the host optimizer;
  /// `bytes` is host memory.
  /// \throws mixprec::error, changing nothing, when it is corrupt, truncated,
  /// of another version or rule, or does not fit; otherwise as load() does.
  void load_bytes(const std::vector<unsigned char>& bytes, cudaStream_t stream = nullptr) {
    load(checkpoint_from_bytes<Rule>(bytes.data(), bytes.size()), stream);
  }

 private:
  struct parameter_memory {
    training_detail::device_array<float> master;
    training_detail::device_array<float> state[training_detail::max_state_arrays];
  };

  int state_arrays_held(std::size_t p) const noexcept {
    int held = 0;
    while (held < state_count && entries_[p].state[held] != nullptr) ++held;
    return held;
  }
  static parameter_layout layout_of(const training_detail::parameter_entry& e) {
    parameter_layout l;
    l.group = e.group;
    l.size = static_cast<std::size_t>(e.size);
    if (e.bf16_only) {
      l.kind = parameter_kind::bf16_only;
      l.model_type = scalar_type::bfloat16;
    } else if (e.model != nullptr) {
      l.kind = parameter_kind::master_and_copy;
      l.model_type = static_cast<scalar_type>(e.model_type);
    }
    return l;
  }
  std::vector<parameter_layout> layouts() const {
    std::vector<parameter_layout> out;
    for (const training_detail::parameter_entry& e : entries_) out.push_back(layout_of(e));
    return out;
  }
  // The new entry's written buffer (copy or BF16 weights) must not overlap any
  // gradient, written buffer, scale or amax slot registered so far; its
  // gradient, scale and amax must not overlap any registered written buffer.
  void check_buffers_disjoint(const training_detail::parameter_entry& e, const char* who) const {
    using mixprec::detail::byte_span;
    using mixprec::detail::require_disjoint;
    using mixprec::detail::span_of;
    const std::size_t index = entries_.size();
    auto spans = [&](const training_detail::parameter_entry& x, std::size_t i, byte_span& written, byte_span& gradient,
                     byte_span& scale, byte_span& amax) {
      const std::size_t n = static_cast<std::size_t>(x.size);
      written = x.model != nullptr ? span_of(x.model, n, size_of(static_cast<scalar_type>(x.model_type)),
                                             x.bf16_only ? "BF16 weights" : "model copy", i, who)
                                   : byte_span{};
      gradient = span_of(x.gradient, n, size_of(x.gradient_type), "gradient", i, who);
      scale = x.model_scale != nullptr ? span_of(x.model_scale, 1, 4, "model-copy scale", i, who) : byte_span{};
      amax = x.model_amax != nullptr ? span_of(x.model_amax, 1, 4, "model-copy amax", i, who) : byte_span{};
    };
    byte_span w, g, sc, am;
    spans(e, index, w, g, sc, am);
    require_disjoint(g, w, who);
    require_disjoint(w, sc, who);
    require_disjoint(w, am, who);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      byte_span ow, og, osc, oam;
      spans(entries_[i], i, ow, og, osc, oam);
      for (const byte_span* mine : {&w, &g, &sc, &am}) require_disjoint(*mine, ow, who);
      for (const byte_span* theirs : {&og, &osc, &oam}) require_disjoint(w, *theirs, who);
    }
  }

  const training_detail::parameter_entry& entry(std::size_t p) const {
    require(p < entries_.size(), Rule::name, ": parameter ", p, " does not exist; ", entries_.size(), " are registered");
    return entries_[p];
  }
  void check_group(std::size_t g) const {
    require(g < groups_.size(), Rule::name, ": group ", g, " does not exist; ", groups_.size(),
            " groups were added (add_group first)");
  }
  void check_can_add(std::size_t g, std::size_t size, const const_tensor_view& gradient, const char* who) const {
    require(!prepared_, who, "parameters must all be registered before prepare() or the first step");
    require(g < groups_.size(), who, "group ", g, " does not exist; ", groups_.size(), " groups were added (add_group first)");
    require(size > 0, who, "size = 0: a parameter needs at least one element");
    require(gradient.type == scalar_type::float32 || gradient.type == scalar_type::bfloat16 ||
                gradient.type == scalar_type::float16,
            who, "the gradient is ", to_string(gradient.type), "; gradients are float32, bfloat16 or float16");
    require(gradient.size == size, who, "the gradient has ", gradient.size, " elements, the parameter ", size);
    require(gradient.data != nullptr, who, "the gradient of ", size, " elements has no data");
  }
  training_detail::parameter_entry base_entry(std::size_t g, std::size_t size, const const_tensor_view& gradient) const {
    training_detail::parameter_entry e{};
    e.gradient = gradient.data;
    e.gradient_type = gradient.type;
    e.size = size;
    e.group = static_cast<std::uint32_t>(g);
    e.model_type = training_detail::no_model_copy;
    e.first_element = total_elements_;
    return e;
  }
  // Allocates (zeroed) the state arrays the entry's group uses that it does not hold yet.
  void allocate_states(parameter_memory& memory, training_detail::parameter_entry& e, std::size_t size) const {
    const int needed = Rule::states_used(groups_[e.group]);
    for (int k = 0; k < needed; ++k) {
      if (e.state[k] != nullptr) continue;
      memory.state[k] = training_detail::device_array<float>(size);
      fill_and_wait(memory.state[k].get(), 0, size * sizeof(float));
      e.state[k] = memory.state[k].get();
    }
  }
  void add_entry(const training_detail::parameter_entry& e) {
    training_detail::append_chunks(chunks_, entries_.size(), e.size);
    entries_.push_back(e);
    total_elements_ += e.size;
  }

  optimizer_options options_;
  std::vector<options> groups_;
  std::vector<training_detail::parameter_entry> entries_;
  std::vector<training_detail::chunk> chunks_;
  std::vector<parameter_memory> owned_;
  std::uint64_t total_elements_ = 0;
  bool prepared_ = false;
  training_detail::device_array<training_detail::parameter_entry> device_entries_;
  training_detail::device_array<training_detail::chunk> device_chunks_;
  training_detail::device_array<options> device_groups_;
  training_detail::device_array<training_detail::step_state> state_;
  training_detail::device_array<training_detail::parameter_progress> progress_;
  training_detail::device_array<unsigned char> has_gradient_;
};

/// SGD (torch.optim.SGD) on the device, the host sgd_optimizer's bits.
using fused_sgd = fused_optimizer<sgd_rule>;
/// AdamW (torch.optim.AdamW) on the device, the host adamw_optimizer's bits.
using fused_adamw = fused_optimizer<adamw_rule>;

}  // namespace cuda
}  // namespace mixprec
