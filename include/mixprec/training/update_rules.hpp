/// \file
/// The per-element optimizer math (SGD, AdamW), written once for the host loop and
/// the device kernel.
///
/// Bit-identical results on host and device need every operation rounded the
/// same way on both. Each operation here is one IEEE 754 correctly rounded
/// operation, spelled through an arithmetic policy (detail::hardware_arithmetic
/// and its wrappers): on the device the _rn intrinsics, which nvcc never
/// contracts into an FMA; on the host the plain operators and std::fma. Where
/// a multiply-add is wanted it is an explicit fma on both sides.
/// Hyper-parameter scalars are derived in double through the same policy
/// (double operations are correctly rounded on both sides too).
///
/// The host's plain operations obey the caller's MXCSR, which the GPU never
/// sees: DAZ reads subnormal operands as 0 (in comparisons too), FTZ flushes
/// subnormal results, fesetround rounds every inexact result. The host
/// optimizer (training/optimizer.hpp) checks it once per step
/// (detail::default_float_environment): in its default state it takes
/// hardware_arithmetic, else detail::exact_arithmetic, the same operations
/// rounded to nearest with subnormals kept in integer code, and the
/// comparisons from the bits (core/exact_float.hpp). So the update, the
/// scalars, the norm and the clipping coefficient have the device's bits in
/// every environment. The policy is a template parameter (default
/// hardware_arithmetic), not a run-time flag, so that the device and the
/// default-environment host loop compile exactly as before (the kernels'
/// cubin is byte-identical), and the exact path is compiled once per rule.
///
/// Host compilers may contract a product into a later addition when the
/// target has FMA (g++'s default -ffp-contract=fast with -mfma/-march=native,
/// clang++ with -ffp-contract=fast). The rules never feed a plain product into
/// a plain addition (products go into fma operands or are final), and on such
/// targets the host mul_rn also ends in an empty asm barrier, so no
/// contraction can change a result: g++ and clang++ at -O2 and at
/// -O3 -march=haswell/-march=native produce the same bits.
///
/// The rules follow PyTorch's torch.optim.SGD and torch.optim.AdamW (the
/// foreach/fused forms): coupled L2 weight decay for SGD, decoupled weight
/// decay for AdamW applied before the moment update, bias-corrected moments,
/// maximize (the gradient negated first) for both and amsgrad for AdamW. As in
/// PyTorch, the state that defines a step lives per parameter: its applied
/// step count (AdamW's bias corrections) and whether its momentum buffer has
/// started (SGD: the first step that uses momentum copies the gradient into
/// the buffer, even when momentum is switched on mid-run).
///
/// One deliberate difference in rounding, not in the rule: AdamW's decoupled
/// decay w·(1 - lr·wd) is computed as fma(-(lr·wd), w, w), one rounding of the
/// exact decayed weight, instead of rounding 1 - lr·wd to float first (that
/// rounding error has the same sign every step and accumulates: against
/// float64 over 1000 steps the fused form is measurably closer; see
/// tests/unit/test_optimizers.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/types.hpp"

namespace mixprec {

/// torch.optim.SGD's hyper-parameters and defaults (lr has no default there).
struct sgd_options {
  float lr = 0.01f;           ///< learning rate, finite and >= 0, with lr·weight_decay <= FLT_MAX
  float momentum = 0.0f;      ///< in [0, 1)
  float dampening = 0.0f;     ///< in [0, 1]
  bool nesterov = false;      ///< needs momentum > 0 and dampening = 0
  float weight_decay = 0.0f;  ///< L2 penalty added to the gradient, finite and >= 0
  bool maximize = false;      ///< ascend: the gradient is negated before everything else (PyTorch's maximize)
};

/// torch.optim.AdamW's hyper-parameters and defaults.
struct adamw_options {
  float lr = 1e-3f;            ///< learning rate, finite and >= 0; lr/(1-beta1) and lr·weight_decay <= FLT_MAX
  float beta1 = 0.9f;          ///< in [0, 1)
  float beta2 = 0.999f;        ///< in [0, 1)
  float eps = 1e-8f;           ///< finite and > 0, added to sqrt(v̂) (0 would give 0/0 = NaN for a zero gradient)
  float weight_decay = 1e-2f;  ///< decoupled: w -= lr·weight_decay·w, finite and >= 0
  bool amsgrad = false;        ///< use the running maximum of v in the denominator (a third state array)
  bool maximize = false;       ///< ascend: the gradient is negated before everything else (PyTorch's maximize)
};

/// What an optimizer does around the update rule (host and device alike).
struct optimizer_options {
  float max_grad_norm = 0.0f;                         ///< > 0: clip the global gradient norm to it; 0: off
  rounding model_rounding = rounding::nearest_even;   ///< the model copies: nearest_even or stochastic
  rounding bf16_only_rounding = rounding::stochastic; ///< BF16-only weights: stochastic (or nearest_even, which stalls)
  std::uint64_t seed = 0;                             ///< the stochastic-rounding stream
};

/// Checks that `o` can be honoured; the optimizers call it on construction
/// and when loading a checkpoint.
/// \throws mixprec::error naming the field when `o` cannot be honoured:
/// max_grad_norm negative or not finite, a rounding other than nearest_even
/// or stochastic.
inline void validate(const optimizer_options& o) {
  const char* who = "mixprec::optimizer_options: ";
  require(std::isfinite(o.max_grad_norm) && mixprec::detail::is_nonnegative_exactly(o.max_grad_norm), who,
          "max_grad_norm = ", o.max_grad_norm, " must be finite and >= 0 (0 turns clipping off)");
  require(o.model_rounding == rounding::nearest_even || o.model_rounding == rounding::stochastic, who,
          "model_rounding = ", static_cast<int>(o.model_rounding), " must be nearest_even or stochastic");
  require(o.bf16_only_rounding == rounding::nearest_even || o.bf16_only_rounding == rounding::stochastic, who,
          "bf16_only_rounding = ", static_cast<int>(o.bf16_only_rounding), " must be nearest_even or stochastic");
}

namespace detail {

// ---- Correctly rounded operations, identical on host and device -----------

// Stops the host compiler from contracting a product into a later addition
// (see the file comment); a no-op on the device and without FMA.
template <class Real>
MIXPREC_HOST_DEVICE inline Real no_contraction(Real x) noexcept {
#if !MIXPREC_DEVICE_COMPILATION && defined(__GNUC__) && (defined(__FP_FAST_FMAF) || defined(__FP_FAST_FMA))
#if defined(__x86_64__) || defined(__i386__)
  __asm__("" : "+x"(x));
#elif defined(__aarch64__)
  __asm__("" : "+w"(x));
#endif
#endif
  return x;
}

// Each wrapper is the device's _rn intrinsic in device code and the plain
// IEEE operation on the host.
#if MIXPREC_DEVICE_COMPILATION
/// Internal to the wrappers below (undefined after them): `return device_call`
/// in device code, `return host_expression` on the host.
#define MIXPREC_ROUNDED(device_call, host_expression) return device_call
#else
/// Internal to the wrappers below (undefined after them): `return device_call`
/// in device code, `return host_expression` on the host.
#define MIXPREC_ROUNDED(device_call, host_expression) return host_expression
#endif
MIXPREC_HOST_DEVICE inline float fma(float a, float b, float c) noexcept { MIXPREC_ROUNDED(__fmaf_rn(a, b, c), std::fma(a, b, c)); }
MIXPREC_HOST_DEVICE inline float mul_rn(float a, float b) noexcept { MIXPREC_ROUNDED(__fmul_rn(a, b), no_contraction(a * b)); }
MIXPREC_HOST_DEVICE inline float add_rn(float a, float b) noexcept { MIXPREC_ROUNDED(__fadd_rn(a, b), a + b); }
MIXPREC_HOST_DEVICE inline float div_rn(float a, float b) noexcept { MIXPREC_ROUNDED(__fdiv_rn(a, b), a / b); }
MIXPREC_HOST_DEVICE inline float sqrt_rn(float a) noexcept { MIXPREC_ROUNDED(__fsqrt_rn(a), std::sqrt(a)); }
MIXPREC_HOST_DEVICE inline double mul_rn(double a, double b) noexcept { MIXPREC_ROUNDED(__dmul_rn(a, b), no_contraction(a * b)); }
MIXPREC_HOST_DEVICE inline double sub_rn(double a, double b) noexcept { MIXPREC_ROUNDED(__dsub_rn(a, b), a - b); }
MIXPREC_HOST_DEVICE inline double div_rn(double a, double b) noexcept { MIXPREC_ROUNDED(__ddiv_rn(a, b), a / b); }
MIXPREC_HOST_DEVICE inline double sqrt_rn(double a) noexcept { MIXPREC_ROUNDED(__dsqrt_rn(a), std::sqrt(a)); }
#undef MIXPREC_ROUNDED

// The arithmetic of the rules, a template parameter chosen once per call.
// hardware_arithmetic is the wrappers above and the plain comparisons and
// conversions: what the device always takes, and the host where MXCSR is in
// its default state (the rules' default, so the device and that host loop
// compile as they did). exact_arithmetic is the same IEEE operations,
// rounded to nearest in integer code (core/exact_float.hpp), and bit tests
// for the comparisons: the host optimizer takes it where DAZ, FTZ or another
// rounding mode is set (mixprec::detail::default_float_environment() false),
// so that its update has the device's bits in every environment.
template <bool Exact>
struct arithmetic {
  MIXPREC_HOST_DEVICE static float fma(float a, float b, float c) noexcept {
    return Exact ? fma_nearest(a, b, c) : detail::fma(a, b, c);
  }
  MIXPREC_HOST_DEVICE static float mul(float a, float b) noexcept {
    return Exact ? multiply_nearest(a, b) : mul_rn(a, b);
  }
  MIXPREC_HOST_DEVICE static float add(float a, float b) noexcept { return Exact ? add_nearest(a, b) : add_rn(a, b); }
  MIXPREC_HOST_DEVICE static float div(float a, float b) noexcept {
    return Exact ? divide_nearest(a, b) : div_rn(a, b);
  }
  MIXPREC_HOST_DEVICE static float sqrt(float a) noexcept { return Exact ? sqrt_nearest(a) : sqrt_rn(a); }
  MIXPREC_HOST_DEVICE static double mul(double a, double b) noexcept {
    return Exact ? multiply_doubles_nearest(a, b) : mul_rn(a, b);
  }
  MIXPREC_HOST_DEVICE static double sub(double a, double b) noexcept {
    return Exact ? subtract_nearest(a, b) : sub_rn(a, b);
  }
  MIXPREC_HOST_DEVICE static double div(double a, double b) noexcept {
    return Exact ? divide_nearest(a, b) : div_rn(a, b);
  }
  MIXPREC_HOST_DEVICE static double sqrt(double a) noexcept { return Exact ? sqrt_nearest(a) : sqrt_rn(a); }
  MIXPREC_HOST_DEVICE static double to_double(float x) noexcept {
    return Exact ? widen_exactly(x) : static_cast<double>(x);
  }
  MIXPREC_HOST_DEVICE static float to_float(double x) noexcept {
    return Exact ? round_to_float(x) : static_cast<float>(x);
  }
  MIXPREC_HOST_DEVICE static bool is_zero(float x) noexcept { return Exact ? is_zero_exactly(x) : x == 0.0f; }
  MIXPREC_HOST_DEVICE static bool is_positive(float x) noexcept { return Exact ? is_positive_exactly(x) : x > 0.0f; }
  MIXPREC_HOST_DEVICE static bool is_greater(float x, float y) noexcept {
    return Exact ? is_greater_exactly(x, y) : x > y;
  }
};
using hardware_arithmetic = arithmetic<false>;
using exact_arithmetic = arithmetic<true>;

// base^exponent (exponent >= 0) by repeated squaring: the same sequence of
// correctly rounded products everywhere, and fewer roundings than a running
// product over the steps.
template <class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline double power(double base, std::int64_t exponent) noexcept {
  double result = 1.0;
  while (exponent > 0) {
    if (exponent & 1) result = Arithmetic::mul(result, base);
    base = Arithmetic::mul(base, base);
    exponent >>= 1;
  }
  return result;
}

// The gradient the rule sees: the stored (scaled, low-precision) gradient
// widened to float, unscaled, then multiplied by the clipping coefficient
// (1 when not clipping: an exact multiplication).
template <class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline float effective_gradient(float stored, float inverse_scale,
                                                    float clip_coefficient) noexcept {
  return Arithmetic::mul(Arithmetic::mul(stored, inverse_scale), clip_coefficient);
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6),
// clamped to 1. Given the squared norm (float) of the unscaled gradients.
// (The clamp compares as plain floats: under DAZ a subnormal coefficient
// reads as 0, which is below 1 as the coefficient is.)
template <class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline float clip_coefficient(float squared_norm, float max_norm) noexcept {
  using A = Arithmetic;
  if (!A::is_positive(max_norm)) return 1.0f;
  const float coefficient = A::div(max_norm, A::add(A::sqrt(squared_norm), 1e-6f));
  return coefficient < 1.0f ? coefficient : 1.0f;
}

}  // namespace detail

// ---- The rules ------------------------------------------------------------
// Each rule: `options` (the hyper-parameters of a parameter group),
// `state_count` FP32 state arrays at most per element (`states_used(options)`
// of them in use), `scalars` derived once per parameter and step from the
// group's options and the parameter's progress (its step = 1 for its first
// applied step; whether its state has started), `apply`, the element update,
// and `starts_state`, whether an applied step starts the parameter's state.
// The host optimizer and the device kernel call exactly these.

namespace detail {
/// lr·weight_decay, rounded once to float from the exact double product (a
/// float times a float is exact in double). Callers validated it <= FLT_MAX.
template <class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline float lr_times_weight_decay(float lr, float weight_decay) noexcept {
  using A = Arithmetic;
  return A::to_float(A::mul(A::to_double(lr), A::to_double(weight_decay)));
}
/// Rejects lr·weight_decay beyond float (the decay term of every step would overflow).
inline void validate_decay_product(float lr, float weight_decay, const char* who) {
  const double product = static_cast<double>(lr) * static_cast<double>(weight_decay);
  require(product <= static_cast<double>(std::numeric_limits<float>::max()), who, "lr · weight_decay = ", lr, " · ",
          weight_decay, " = ", product, " overflows float (max ", std::numeric_limits<float>::max(),
          "): no finite update exists; lower lr or weight_decay");
}
}  // namespace detail

/// SGD with momentum, dampening, Nesterov, coupled weight decay and maximize
/// (torch.optim.SGD). One state array: the momentum buffer.
struct sgd_rule {
  using options = sgd_options;  ///< the hyper-parameters of one parameter group
  static constexpr int state_count = 1;  ///< the momentum buffer (untouched without momentum)
  static constexpr const char* name = "mixprec::sgd";  ///< prefix of error messages; recorded in checkpoints

  /// What apply() needs, derived once per parameter and step.
  struct scalars {
    float lr, momentum, one_minus_dampening, weight_decay;
    bool nesterov, buffer_started, maximize;
    /// \var lr
    /// sgd_options::lr.
    /// \var momentum
    /// sgd_options::momentum (0: no momentum buffer is used).
    /// \var one_minus_dampening
    /// 1 - sgd_options::dampening, rounded once from double.
    /// \var weight_decay
    /// sgd_options::weight_decay (coupled L2: added to the gradient).
    /// \var nesterov
    /// sgd_options::nesterov.
    /// \var buffer_started
    /// The parameter's momentum buffer was started by an earlier step; when
    /// false, the first step that uses momentum copies the gradient into it.
    /// \var maximize
    /// sgd_options::maximize.
  };

  /// State arrays in use for a group with options `o` (always the buffer).
  static int states_used(const options&) noexcept { return 1; }
  /// Whether an applied step with `o` starts the parameter's momentum buffer
  /// (`Arithmetic`: detail::hardware_arithmetic or detail::exact_arithmetic, as for apply).
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static bool starts_state(const options& o) noexcept {
    return !Arithmetic::is_zero(o.momentum);
  }

  /// Derives the scalars of one parameter's step from its group's options `o`
  /// (validated). `step` is unused by SGD; `started`: the parameter's momentum buffer has
  /// been started by an earlier step (PyTorch's momentum_buffer is not None).
  /// `Arithmetic`: detail::hardware_arithmetic (the device; the host in the
  /// default floating-point environment) or detail::exact_arithmetic.
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static scalars prepare(const options& o, std::int64_t step, bool started) noexcept {
    using A = Arithmetic;
    (void)step;
    scalars s{};
    s.lr = o.lr;
    s.momentum = o.momentum;
    s.one_minus_dampening = A::to_float(A::sub(1.0, A::to_double(o.dampening)));
    s.weight_decay = o.weight_decay;
    s.nesterov = o.nesterov;
    s.buffer_started = started;
    s.maximize = o.maximize;
    return s;
  }

  /// PyTorch: g = -g if maximize; d = g + wd·w; buf = d the first time
  /// momentum is used for this parameter, else momentum·buf + (1 -
  /// dampening)·d; d = d + momentum·buf (Nesterov) or buf; w -= lr·d.
  /// \param w the FP32 (master) weight
  /// \param g its unscaled, clipped gradient
  /// \param state this element's momentum buffer (`state[0]`), read and
  ///        written only when momentum != 0
  /// \param s from prepare()
  /// \tparam Arithmetic detail::hardware_arithmetic or detail::exact_arithmetic, as for prepare
  /// \return the updated weight
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static float apply(float w, float g, float* state, const scalars& s) noexcept {
    using A = Arithmetic;
    if (s.maximize) g = -g;
    float d = A::is_zero(s.weight_decay) ? g : A::fma(s.weight_decay, w, g);
    if (!A::is_zero(s.momentum)) {
      const float buffer = s.buffer_started ? A::fma(s.momentum, state[0], A::mul(s.one_minus_dampening, d)) : d;
      state[0] = buffer;
      d = s.nesterov ? A::fma(s.momentum, buffer, d) : buffer;
    }
    return A::fma(-s.lr, d, w);
  }

  /// Calls visit(name, field) for every field of `o`, in the checkpoint's order.
  template <class Options, class Visitor>
  static void for_each_field(Options& o, Visitor&& visit) {
    visit("lr", o.lr);
    visit("momentum", o.momentum);
    visit("dampening", o.dampening);
    visit("nesterov", o.nesterov);
    visit("weight_decay", o.weight_decay);
    visit("maximize", o.maximize);
  }

  /// Checks every constraint listed on sgd_options.
  /// \throws mixprec::error naming the field, its value and the constraint
  /// (including nesterov without momentum > 0 and dampening = 0, and
  /// lr·weight_decay beyond FLT_MAX).
  static void validate(const options& o) {
    const char* who = "mixprec::sgd_options: ";
    require(std::isfinite(o.lr) && mixprec::detail::is_nonnegative_exactly(o.lr), who, "lr = ", o.lr,
            " must be finite and >= 0");
    require(mixprec::detail::is_nonnegative_exactly(o.momentum) && o.momentum < 1.0f, who, "momentum = ", o.momentum,
            " must lie in [0, 1)");
    require(mixprec::detail::is_nonnegative_exactly(o.dampening) && o.dampening <= 1.0f, who,
            "dampening = ", o.dampening, " must lie in [0, 1]");
    require(std::isfinite(o.weight_decay) && mixprec::detail::is_nonnegative_exactly(o.weight_decay), who,
            "weight_decay = ", o.weight_decay, " must be finite and >= 0");
    require(!o.nesterov ||
                (mixprec::detail::is_positive_exactly(o.momentum) && mixprec::detail::is_zero_exactly(o.dampening)),
            who, "nesterov needs momentum > 0 and ", "dampening = 0 (momentum = ", o.momentum,
            ", dampening = ", o.dampening, ")");
    detail::validate_decay_product(o.lr, o.weight_decay, who);
  }
};

/// AdamW with decoupled weight decay, bias correction, amsgrad and maximize
/// (torch.optim.AdamW). State arrays: m, v, and with amsgrad max(v).
struct adamw_rule {
  using options = adamw_options;  ///< the hyper-parameters of one parameter group
  static constexpr int state_count = 3;  ///< first moment, second moment, running max of the second (amsgrad)
  static constexpr const char* name = "mixprec::adamw";  ///< prefix of error messages; recorded in checkpoints

  /// What apply() needs, derived once per parameter and step.
  struct scalars {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    float step_size;              ///< lr / (1 - beta1^t)
    float bias_correction2_sqrt;  ///< sqrt(1 - beta2^t)
    float lr_weight_decay;        ///< lr·weight_decay
    bool amsgrad, maximize;
    /// \var beta1
    /// adamw_options::beta1.
    /// \var beta2
    /// adamw_options::beta2.
    /// \var one_minus_beta1
    /// 1 - beta1, rounded once from double.
    /// \var one_minus_beta2
    /// 1 - beta2, rounded once from double.
    /// \var eps
    /// adamw_options::eps.
    /// \var amsgrad
    /// adamw_options::amsgrad.
    /// \var maximize
    /// adamw_options::maximize.
  };

  /// State arrays in use for a group with options `o`: m and v, plus max(v) with amsgrad.
  static int states_used(const options& o) noexcept { return o.amsgrad ? 3 : 2; }
  /// AdamW's state needs no start flag (its step count decides); kept for the common interface.
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static bool starts_state(const options&) noexcept {
    return true;
  }

  /// Derives the scalars of one parameter's step from its group's options `o`
  /// (validated): the bias corrections in double, each rounded once to float.
  /// `step`: the parameter's own applied-step number (1 for its first), as
  /// PyTorch's per-parameter state['step']; `started` is unused.
  /// `Arithmetic`: detail::hardware_arithmetic (the device; the host in the
  /// default floating-point environment) or detail::exact_arithmetic.
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static scalars prepare(const options& o, std::int64_t step, bool started) noexcept {
    using A = Arithmetic;
    (void)started;
    const double beta1 = A::to_double(o.beta1), beta2 = A::to_double(o.beta2), lr = A::to_double(o.lr);
    scalars s{};
    s.beta1 = o.beta1;
    s.beta2 = o.beta2;
    s.one_minus_beta1 = A::to_float(A::sub(1.0, beta1));
    s.one_minus_beta2 = A::to_float(A::sub(1.0, beta2));
    s.eps = o.eps;
    s.step_size = A::to_float(A::div(lr, A::sub(1.0, detail::power<A>(beta1, step))));
    s.bias_correction2_sqrt = A::to_float(A::sqrt(A::sub(1.0, detail::power<A>(beta2, step))));
    s.lr_weight_decay = detail::lr_times_weight_decay<A>(o.lr, o.weight_decay);
    s.amsgrad = o.amsgrad;
    s.maximize = o.maximize;
    return s;
  }

  /// PyTorch AdamW: g = -g if maximize; w -= lr·wd·w; m = β1·m + (1-β1)·g;
  /// v = β2·v + (1-β2)·g²; with amsgrad v_max = max(v_max, v) replaces v below;
  /// w -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps).
  /// \param w the FP32 (master) weight
  /// \param g its unscaled, clipped gradient
  /// \param state this element's m (`state[0]`), v (`state[1]`) and, with
  ///        amsgrad, max(v) (`state[2]`, not touched otherwise); all read and written
  /// \param s from prepare()
  /// \tparam Arithmetic detail::hardware_arithmetic or detail::exact_arithmetic, as for prepare
  /// \return the updated weight
  template <class Arithmetic = detail::hardware_arithmetic>
  MIXPREC_HOST_DEVICE static float apply(float w, float g, float* state, const scalars& s) noexcept {
    using A = Arithmetic;
    if (s.maximize) g = -g;
    const float m = A::fma(s.beta1, state[0], A::mul(s.one_minus_beta1, g));
    const float v = A::fma(s.beta2, state[1], A::mul(A::mul(s.one_minus_beta2, g), g));
    state[0] = m;
    state[1] = v;
    float v_used = v;
    if (s.amsgrad) {
      v_used = A::is_greater(state[2], v) ? state[2] : v;  // torch.maximum (no NaN: v >= 0 from finite gradients)
      state[2] = v_used;
    }
    // The decay as one rounding of w - (lr·wd)·w (see the file comment).
    const float decayed = A::is_zero(s.lr_weight_decay) ? w : A::fma(-s.lr_weight_decay, w, w);
    const float denominator = A::add(A::div(A::sqrt(v_used), s.bias_correction2_sqrt), s.eps);
    return A::fma(-s.step_size, A::div(m, denominator), decayed);
  }

  /// Calls visit(name, field) for every field of `o`, in the checkpoint's order.
  template <class Options, class Visitor>
  static void for_each_field(Options& o, Visitor&& visit) {
    visit("lr", o.lr);
    visit("beta1", o.beta1);
    visit("beta2", o.beta2);
    visit("eps", o.eps);
    visit("weight_decay", o.weight_decay);
    visit("amsgrad", o.amsgrad);
    visit("maximize", o.maximize);
  }

  /// Checks every constraint listed on adamw_options.
  /// \throws mixprec::error naming the field, its value and the constraint;
  /// rejects eps = 0 and hyper-parameters whose derived scalars overflow float
  /// (lr / (1 - beta1) or lr·weight_decay beyond FLT_MAX).
  static void validate(const options& o) {
    const char* who = "mixprec::adamw_options: ";
    require(std::isfinite(o.lr) && mixprec::detail::is_nonnegative_exactly(o.lr), who, "lr = ", o.lr,
            " must be finite and >= 0");
    require(mixprec::detail::is_nonnegative_exactly(o.beta1) && o.beta1 < 1.0f, who, "beta1 = ", o.beta1,
            " must lie in [0, 1)");
    require(mixprec::detail::is_nonnegative_exactly(o.beta2) && o.beta2 < 1.0f, who, "beta2 = ", o.beta2,
            " must lie in [0, 1)");
    require(mixprec::detail::is_finite_positive(o.eps), who, "eps = ", o.eps,
            " must be finite and > 0 (with eps = 0 a zero gradient gives 0/0 = NaN weights)");
    require(std::isfinite(o.weight_decay) && mixprec::detail::is_nonnegative_exactly(o.weight_decay), who,
            "weight_decay = ", o.weight_decay, " must be finite and >= 0");
    // The largest step size is the first step's, lr / (1 - beta1).
    const double first_step_size = static_cast<double>(o.lr) / (1.0 - static_cast<double>(o.beta1));
    require(first_step_size <= static_cast<double>(std::numeric_limits<float>::max()), who,
            "lr / (1 - beta1) = ", o.lr, " / (1 - ", o.beta1, ") = ", first_step_size,
            " overflows float: the first step would be infinite; lower lr");
    detail::validate_decay_product(o.lr, o.weight_decay, who);
  }
};

namespace detail {

// ---- One element of a fused step, host and device ------------------------

// Master weight w (FP32) and its state updated from the stored gradient.
template <class Rule, class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline float update_element(float w, float stored_gradient, float inverse_scale,
                                                float clip_coefficient, float* state,
                                                const typename Rule::scalars& s) noexcept {
  return Rule::template apply<Arithmetic>(
      w, effective_gradient<Arithmetic>(stored_gradient, inverse_scale, clip_coefficient), state, s);
}

// The low-precision copy of an updated weight: convert<T>(w · scale) (scale 1
// when the copy is unscaled), rounded to nearest even or stochastically with
// the given random bits. Model is float (a plain FP32 copy) or a mixprec type.
// The product is rounded to nearest whatever the host's MXCSR (a subnormal w
// or product included) in the caller's Arithmetic: hardware_arithmetic where
// it found MXCSR in its default state (always so on the device), else
// exact_arithmetic's integer code.
template <class Model, class Arithmetic = hardware_arithmetic>
MIXPREC_HOST_DEVICE inline Model round_model_copy(float w, float scale, bool stochastic, std::uint32_t random_bits) {
  if constexpr (std::is_same<Model, float>::value) {
    (void)scale;
    (void)stochastic;
    (void)random_bits;
    return w;
  } else {
    const float x = Arithmetic::mul(w, scale);
    return stochastic ? convert_stochastic<Model>(x, random_bits) : convert<Model>(x, rounding::nearest_even);
  }
}

// Random bits for element `index` (counted over all parameters in order) of
// applied step `step`: a fresh, reproducible stream per step.
MIXPREC_HOST_DEVICE inline std::uint32_t step_random_bits(std::uint64_t seed, std::int64_t step,
                                                          std::uint64_t total_elements, std::uint64_t index) noexcept {
  return stochastic_rounding_bits(seed, static_cast<std::uint64_t>(step) * total_elements, index);
}

}  // namespace detail
}  // namespace mixprec
