/// \file
/// Static and dynamic loss scaling (PyTorch's torch.amp.GradScaler on the host).
///
/// FP16 gradients underflow: many lie between 1e-7 and 1e-4, below FP16's
/// smallest normal (6.1e-5). Multiplying the loss by a scale S moves them into
/// range; the gradients are divided by S again before the optimizer uses them.
/// A dynamic scaler keeps S as large as possible without overflow: it backs off
/// when a step produced inf/NaN gradients (the step is then skipped) and grows
/// after `growth_interval` clean steps in a row.
///
/// \code
///   mixprec::dynamic_loss_scaler scaler;                 // PyTorch GradScaler's defaults
///   for (...) {
///     backward(loss * scaler.scale());                   // scaled gradients
///     bool found_inf = /* any gradient element inf or NaN */;
///     if (!found_inf) optimizer_step(/* gradients * scaler.inverse_scale() */);
///     scaler.update(found_inf);
///   }
/// \endcode
///
/// (mixprec::adamw_optimizer::step(gradients, scaler) does the middle three
/// lines in one call; mixprec/cuda/loss_scaler.hpp keeps the same state in
/// device memory.)
///
/// The rule, `detail::advance_loss_scale`, is one host/device function: the
/// device scaler's update kernel calls it too, so both follow one definition.
///   - hysteresis = 1, scale inside [min_scale, max_scale]: exactly PyTorch's
///     GradScaler (torch/amp/grad_scaler.py, _amp_update_scale_cuda_kernel):
///     an overflow multiplies the scale by backoff_factor and resets the growth
///     counter; growth_interval clean steps in a row multiply it by growth_factor.
///   - hysteresis = h > 1: Megatron-LM's DynamicGradScaler: every overflow
///     resets the growth counter and uses up one unit of hysteresis; the scale
///     backs off only once it is used up, and then on every further overflow;
///     the hysteresis refills when a growth interval completes.
///   - The scale is clamped to [min_scale, max_scale], so it never becomes 0
///     or inf (plain GradScaler reaches 0 after 166 overflows in a row from
///     65536). An overflow while the scale sits at min_scale is counted
///     (overflows_at_min_scale): a diverging run is visible, not silent.
///   - The growth counter is compared with >=, so a state restored with a
///     counter past the interval still grows (GradScaler's == never would).
///   - Growth and backoff round as GradScaler's kernels do: the float scale
///     times the double factor, rounded to double, then to float,
///     (float)(scale * (double)factor). The factors are doubles, as PyTorch's
///     Python floats are, so growth_factor = 1.001 gives PyTorch's scales.
///   - The counters saturate at INT64_MAX instead of overflowing (no sequence
///     of updates, however long or whatever state was loaded, is undefined).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"

namespace mixprec {

/// The configuration of a dynamic_loss_scaler (dynamic_loss_scaler::options).
/// Defaults: PyTorch GradScaler's, with Megatron's hysteresis at 1 (off) and
/// clamping bounds of [1, 2^24].
struct dynamic_loss_scaler_options {
  float init_scale = 65536.0f;     ///< the first scale, inside [min_scale, max_scale]
  double growth_factor = 2.0;      ///< > 1, finite: applied after growth_interval clean steps (a double, as in PyTorch)
  double backoff_factor = 0.5;     ///< in (0, 1): applied on overflow, once hysteresis is used up (a double, as in PyTorch)
  std::int64_t growth_interval = 2000;  ///< clean steps in a row before the scale grows, >= 1
  std::int32_t hysteresis = 1;     ///< overflows tolerated before backing off, >= 1 (1: GradScaler)
  float min_scale = 1.0f;          ///< > 0, with 1/min_scale finite
  float max_scale = 16777216.0f;   ///< 2^24; finite, >= min_scale
};

/// The complete state of a dynamic_loss_scaler: a plain, trivially copyable
/// struct (checkpoint it as bytes, copy it to and from device memory). Loading
/// it restores the options too, so a resumed run continues bit for bit.
struct dynamic_loss_scaler_state {
  dynamic_loss_scaler_options options;  ///< the options the state evolves under
  float scale = 65536.0f;               ///< the current loss scale, in [options.min_scale, options.max_scale]
  std::int32_t hysteresis_left = 1;     ///< overflows still tolerated before backing off
  std::int64_t growth_tracker = 0;      ///< clean steps since the last growth or overflow
  std::int64_t steps = 0;               ///< update() calls
  std::int64_t skipped_steps = 0;       ///< update(true) calls: steps whose gradients had inf/NaN
  std::int64_t overflows_at_min_scale = 0;  ///< overflows while the scale was already at min_scale
};

namespace detail {

/// Adds 1 to a non-negative counter, saturating at INT64_MAX (never signed overflow).
MIXPREC_HOST_DEVICE inline void saturating_increment(std::int64_t& counter) noexcept {
  if (counter < INT64_MAX) ++counter;
}

/// scale · factor as PyTorch's _amp_update_scale kernels compute it: the
/// float scale times the double factor, rounded to double, then to float
/// (to nearest both times, on the host whatever its MXCSR:
/// mixprec/core/exact_float.hpp).
MIXPREC_HOST_DEVICE inline float scale_times_factor(float scale, double factor) noexcept {
  return mixprec::detail::round_to_float(
      mixprec::detail::multiply_doubles_nearest(mixprec::detail::widen_exactly(scale), factor));
}

/// One step of the scaling rule (see the file comment), host and device:
/// `found_inf` says whether this step's gradients held inf/NaN.
MIXPREC_HOST_DEVICE inline void advance_loss_scale(dynamic_loss_scaler_state& state, bool found_inf) noexcept {
  const dynamic_loss_scaler_options& o = state.options;
  saturating_increment(state.steps);
  if (found_inf) {
    saturating_increment(state.skipped_steps);
    if (state.scale <= o.min_scale) saturating_increment(state.overflows_at_min_scale);
    state.growth_tracker = 0;
    if (state.hysteresis_left > 0) --state.hysteresis_left;
    if (state.hysteresis_left == 0) {
      const float backed_off = scale_times_factor(state.scale, o.backoff_factor);
      state.scale = backed_off > o.min_scale ? backed_off : o.min_scale;
    }
  } else {
    saturating_increment(state.growth_tracker);
    if (state.growth_tracker >= o.growth_interval) {
      const float grown = scale_times_factor(state.scale, o.growth_factor);
      state.scale = grown < o.max_scale ? grown : o.max_scale;
      state.growth_tracker = 0;
      state.hysteresis_left = o.hysteresis;
    }
  }
}

}  // namespace detail

/// Rejects options the rule cannot honour; every message names the field, the
/// value and the constraint.
/// \throws mixprec::error when a field breaks the constraint listed on
/// dynamic_loss_scaler_options, or init_scale lies outside [min_scale, max_scale].
inline void validate(const dynamic_loss_scaler_options& o) {
  const char* who = "mixprec::dynamic_loss_scaler::options: ";
  require(std::isfinite(o.init_scale), who, "init_scale = ", o.init_scale, " must be finite");
  require(std::isfinite(o.growth_factor) && o.growth_factor > 1.0, who, "growth_factor = ", o.growth_factor,
          " must be finite and > 1 (the scale would never grow; for a fixed scale use mixprec::static_loss_scaler)");
  require(mixprec::detail::is_finite_positive(o.backoff_factor) && o.backoff_factor < 1.0, who,
          "backoff_factor = ", o.backoff_factor, " must lie in (0, 1)");
  require(o.growth_interval >= 1, who, "growth_interval = ", o.growth_interval, " must be >= 1");
  require(o.hysteresis >= 1, who, "hysteresis = ", o.hysteresis,
          " must be >= 1 (1 backs off on every overflow, as PyTorch's GradScaler does)");
  require(mixprec::detail::is_finite_positive(o.min_scale), who, "min_scale = ", o.min_scale,
          " must be finite and > 0 (a scale of 0 erases every gradient)");
  require(std::isfinite(mixprec::detail::reciprocal_nearest(o.min_scale)), who, "min_scale = ", o.min_scale,
          " is too small: 1/min_scale overflows float; use at least ", 1.0f / std::numeric_limits<float>::max());
  require(std::isfinite(o.max_scale), who, "max_scale = ", o.max_scale, " must be finite");
  require(o.min_scale <= o.max_scale, who, "min_scale = ", o.min_scale, " must be <= max_scale = ", o.max_scale);
  require(o.init_scale >= o.min_scale && o.init_scale <= o.max_scale, who, "init_scale = ", o.init_scale,
          " must lie in [min_scale, max_scale] = [", o.min_scale, ", ", o.max_scale, "]");
}

/// Rejects a state that no sequence of updates could produce from its options
/// (a corrupt or mismatched checkpoint).
/// \throws mixprec::error when the options are invalid, the scale lies
/// outside [min_scale, max_scale], hysteresis_left outside [0, hysteresis], or
/// a counter is negative or inconsistent (skipped_steps <= steps,
/// overflows_at_min_scale <= skipped_steps).
inline void validate(const dynamic_loss_scaler_state& s) {
  validate(s.options);
  const char* who = "mixprec::dynamic_loss_scaler: loaded state: ";
  require(std::isfinite(s.scale) && s.scale >= s.options.min_scale && s.scale <= s.options.max_scale, who,
          "scale = ", s.scale, " must lie in [min_scale, max_scale] = [", s.options.min_scale, ", ",
          s.options.max_scale, "]");
  require(s.hysteresis_left >= 0 && s.hysteresis_left <= s.options.hysteresis, who, "hysteresis_left = ",
          s.hysteresis_left, " must lie in [0, hysteresis = ", s.options.hysteresis, "]");
  require(s.growth_tracker >= 0, who, "growth_tracker = ", s.growth_tracker, " must be >= 0");
  require(s.steps >= 0 && s.skipped_steps >= 0 && s.skipped_steps <= s.steps, who, "skipped_steps = ",
          s.skipped_steps, " and steps = ", s.steps, " must satisfy 0 <= skipped_steps <= steps");
  require(s.overflows_at_min_scale >= 0 && s.overflows_at_min_scale <= s.skipped_steps, who,
          "overflows_at_min_scale = ", s.overflows_at_min_scale, " must lie in [0, skipped_steps = ",
          s.skipped_steps, "]");
}

/// A fixed loss scale. update() only counts: a step with inf/NaN gradients is
/// still skipped (and counted), but the scale never changes. (PyTorch:
/// multiplying the loss by a constant by hand.)
class static_loss_scaler {
 public:
  /// A scaler whose scale is always `scale` (1: no scaling).
  /// \throws mixprec::error unless scale is finite and > 0 with 1/scale finite.
  explicit static_loss_scaler(float scale = 1.0f) : scale_(scale) {
    require(mixprec::detail::is_finite_positive(scale) && std::isfinite(mixprec::detail::reciprocal_nearest(scale)),
            "mixprec::static_loss_scaler: scale = ", scale, " must be finite and > 0, with 1/scale finite");
  }
  /// The factor the loss is multiplied by.
  float scale() const noexcept { return scale_; }
  /// 1 / scale(), rounded once: the factor that unscales the gradients.
  float inverse_scale() const noexcept { return detail::reciprocal_nearest(scale_); }
  /// Ends a step: counts it, and counts it as skipped when found_inf.
  void update(bool found_inf) noexcept {
    ++steps_;
    if (found_inf) ++skipped_steps_;
  }
  /// update() calls.
  std::int64_t steps() const noexcept { return steps_; }
  /// update(true) calls.
  std::int64_t skipped_steps() const noexcept { return skipped_steps_; }

 private:
  float scale_;
  std::int64_t steps_ = 0;
  std::int64_t skipped_steps_ = 0;
};

/// Dynamic loss scaling on the host: PyTorch's torch.amp.GradScaler rule
/// (with Megatron-LM's hysteresis as an option, and the scale clamped to
/// [min_scale, max_scale]); see the file comment for the rule.
class dynamic_loss_scaler {
 public:
  using options = dynamic_loss_scaler_options;  ///< the configuration
  using state = dynamic_loss_scaler_state;      ///< the complete state, for checkpoints

  /// GradScaler's defaults: scale 65536, growth 2 every 2000 clean steps, backoff 0.5.
  dynamic_loss_scaler() : dynamic_loss_scaler(options{}) {}
  /// A scaler starting at o.init_scale with the full hysteresis.
  /// \throws mixprec::error when `o` is invalid (validate(const dynamic_loss_scaler_options&)).
  explicit dynamic_loss_scaler(const options& o) {
    validate(o);
    state_.options = o;
    state_.scale = o.init_scale;
    state_.hysteresis_left = o.hysteresis;
  }

  /// The factor the loss is multiplied by this step (GradScaler.get_scale()).
  float scale() const noexcept { return state_.scale; }
  /// 1 / scale(), rounded once: the factor that unscales the gradients.
  float inverse_scale() const noexcept { return detail::reciprocal_nearest(state_.scale); }

  /// Ends a step: found_inf says whether any gradient (on any rank) was inf or
  /// NaN, in which case the step must have been skipped (GradScaler.update()).
  void update(bool found_inf) noexcept { detail::advance_loss_scale(state_, found_inf); }

  /// update() calls so far (saturating at INT64_MAX).
  std::int64_t steps() const noexcept { return state_.steps; }
  /// update(true) calls: steps whose gradients had inf/NaN.
  std::int64_t skipped_steps() const noexcept { return state_.skipped_steps; }
  /// Overflows while the scale was already at min_scale (a diverging run).
  std::int64_t overflows_at_min_scale() const noexcept { return state_.overflows_at_min_scale; }
  /// Clean steps since the last growth or overflow.
  std::int64_t growth_tracker() const noexcept { return state_.growth_tracker; }
  /// Overflows still tolerated before backing off (0 once used up; refilled
  /// to options.hysteresis when a growth interval completes).
  std::int32_t hysteresis_left() const noexcept { return state_.hysteresis_left; }
  /// The options in force (those loaded with the last load()).
  const options& get_options() const noexcept { return state_.options; }

  /// Checkpointing: the complete state, options included (GradScaler.state_dict()).
  state save() const noexcept { return state_; }
  /// Restores a state from save(), options included (GradScaler.load_state_dict()).
  /// \throws mixprec::error, changing nothing, when `s` is invalid
  /// (validate(const dynamic_loss_scaler_state&)).
  void load(const state& s) {
    validate(s);
    state_ = s;
  }

 private:
  state state_;
};

}  // namespace mixprec
