// mixprec/training/update_rules.hpp — the per-element optimizer math, written
// once for the host loop and the device kernel.
//
// Bit-identical results on host and device need every operation rounded the
// same way on both. Each operation here is one IEEE 754 correctly rounded
// operation, spelled through detail:: wrappers: on the device the _rn
// intrinsics, which nvcc never contracts into an FMA; on the host the plain
// operators and std::fma. Where a multiply-add is wanted it is an explicit
// fma on both sides. Hyper-parameter scalars are derived in double with the
// same wrappers (double operations are correctly rounded on both sides too).
//
// Host compilers may contract a product into a later addition when the
// target has FMA (g++'s default -ffp-contract=fast with -mfma/-march=native,
// clang++ with -ffp-contract=fast). The rules never feed a plain product into
// a plain addition (products go into fma operands or are final), and on such
// targets the host mul_rn also ends in an empty asm barrier, so no
// contraction can change a result: g++ and clang++ at -O2 and at
// -O3 -march=haswell/-march=native produce the same bits.
//
// The rules follow PyTorch's torch.optim.SGD and torch.optim.AdamW (the
// foreach/fused forms): coupled L2 weight decay for SGD, decoupled weight
// decay for AdamW applied before the moment update, bias-corrected moments.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"

namespace mixprec {

// torch.optim.SGD's hyper-parameters and defaults (lr has no default there).
struct sgd_options {
  float lr = 0.01f;
  float momentum = 0.0f;      // in [0, 1)
  float dampening = 0.0f;     // in [0, 1]
  bool nesterov = false;      // needs momentum > 0 and dampening = 0
  float weight_decay = 0.0f;  // L2 penalty added to the gradient, >= 0
};

// torch.optim.AdamW's hyper-parameters and defaults.
struct adamw_options {
  float lr = 1e-3f;
  float beta1 = 0.9f;          // in [0, 1)
  float beta2 = 0.999f;        // in [0, 1)
  float eps = 1e-8f;           // >= 0, added to sqrt(v̂)
  float weight_decay = 1e-2f;  // decoupled: w *= 1 - lr·weight_decay, >= 0
};

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
#define MIXPREC_ROUNDED(device_call, host_expression) return device_call
#else
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

// base^exponent (exponent >= 0) by repeated squaring: the same sequence of
// correctly rounded products everywhere, and fewer roundings than a running
// product over the steps.
MIXPREC_HOST_DEVICE inline double power(double base, std::int64_t exponent) noexcept {
  double result = 1.0;
  while (exponent > 0) {
    if (exponent & 1) result = mul_rn(result, base);
    base = mul_rn(base, base);
    exponent >>= 1;
  }
  return result;
}

// The gradient the rule sees: the stored (scaled, low-precision) gradient
// widened to float, unscaled, then multiplied by the clipping coefficient
// (1 when not clipping: an exact multiplication).
MIXPREC_HOST_DEVICE inline float effective_gradient(float stored, float inverse_scale, float clip_coefficient) noexcept {
  return mul_rn(mul_rn(stored, inverse_scale), clip_coefficient);
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6),
// clamped to 1. Given the squared norm (float) of the unscaled gradients.
MIXPREC_HOST_DEVICE inline float clip_coefficient(float squared_norm, float max_norm) noexcept {
  if (!(max_norm > 0.0f)) return 1.0f;
  const float coefficient = div_rn(max_norm, add_rn(sqrt_rn(squared_norm), 1e-6f));
  return coefficient < 1.0f ? coefficient : 1.0f;
}

}  // namespace detail

// ---- The rules ------------------------------------------------------------
// Each rule: `options` (the hyper-parameters of a parameter group),
// `state_count` FP32 state values per element, `scalars` derived once per
// group and step (step = 1 for the first applied step), and `apply`, the
// element update. The host optimizer and the device kernel call exactly these.

struct sgd_rule {
  using options = sgd_options;
  static constexpr int state_count = 1;  // the momentum buffer (unused without momentum)
  static constexpr const char* name = "mixprec::sgd";

  struct scalars {
    float lr, momentum, one_minus_dampening, weight_decay;
    bool nesterov, first_step;
  };

  MIXPREC_HOST_DEVICE static scalars prepare(const options& o, std::int64_t step) noexcept {
    scalars s{};
    s.lr = o.lr;
    s.momentum = o.momentum;
    s.one_minus_dampening = static_cast<float>(detail::sub_rn(1.0, static_cast<double>(o.dampening)));
    s.weight_decay = o.weight_decay;
    s.nesterov = o.nesterov;
    s.first_step = step == 1;
    return s;
  }

  // PyTorch: d = g + wd·w; buf = d on the first step, else momentum·buf +
  // (1 - dampening)·d; d = d + momentum·buf (Nesterov) or buf; w -= lr·d.
  MIXPREC_HOST_DEVICE static float apply(float w, float g, float* state, const scalars& s) noexcept {
    float d = s.weight_decay != 0.0f ? detail::fma(s.weight_decay, w, g) : g;
    if (s.momentum != 0.0f) {
      const float buffer = s.first_step ? d : detail::fma(s.momentum, state[0], detail::mul_rn(s.one_minus_dampening, d));
      state[0] = buffer;
      d = s.nesterov ? detail::fma(s.momentum, buffer, d) : buffer;
    }
    return detail::fma(-s.lr, d, w);
  }

  static void validate(const options& o) {
    const char* who = "mixprec::sgd_options: ";
    require(std::isfinite(o.lr) && o.lr >= 0.0f, who, "lr = ", o.lr, " must be finite and >= 0");
    require(o.momentum >= 0.0f && o.momentum < 1.0f, who, "momentum = ", o.momentum, " must lie in [0, 1)");
    require(o.dampening >= 0.0f && o.dampening <= 1.0f, who, "dampening = ", o.dampening, " must lie in [0, 1]");
    require(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f, who, "weight_decay = ", o.weight_decay,
            " must be finite and >= 0");
    require(!o.nesterov || (o.momentum > 0.0f && o.dampening == 0.0f), who, "nesterov needs momentum > 0 and ",
            "dampening = 0 (momentum = ", o.momentum, ", dampening = ", o.dampening, ")");
  }
};

struct adamw_rule {
  using options = adamw_options;
  static constexpr int state_count = 2;  // first and second moments
  static constexpr const char* name = "mixprec::adamw";

  struct scalars {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    float step_size;              // lr / (1 - beta1^t)
    float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
    float decay;                  // 1 - lr·weight_decay
  };

  MIXPREC_HOST_DEVICE static scalars prepare(const options& o, std::int64_t step) noexcept {
    using detail::div_rn;
    using detail::mul_rn;
    using detail::sqrt_rn;
    using detail::sub_rn;
    const double beta1 = o.beta1, beta2 = o.beta2, lr = o.lr;
    scalars s{};
    s.beta1 = o.beta1;
    s.beta2 = o.beta2;
    s.one_minus_beta1 = static_cast<float>(sub_rn(1.0, beta1));
    s.one_minus_beta2 = static_cast<float>(sub_rn(1.0, beta2));
    s.eps = o.eps;
    s.step_size = static_cast<float>(div_rn(lr, sub_rn(1.0, detail::power(beta1, step))));
    s.bias_correction2_sqrt = static_cast<float>(sqrt_rn(sub_rn(1.0, detail::power(beta2, step))));
    s.decay = static_cast<float>(sub_rn(1.0, mul_rn(lr, static_cast<double>(o.weight_decay))));
    return s;
  }

  // PyTorch AdamW: w *= 1 - lr·wd; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
  // w -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps).
  MIXPREC_HOST_DEVICE static float apply(float w, float g, float* state, const scalars& s) noexcept {
    using detail::fma;
    using detail::mul_rn;
    const float m = fma(s.beta1, state[0], mul_rn(s.one_minus_beta1, g));
    const float v = fma(s.beta2, state[1], mul_rn(mul_rn(s.one_minus_beta2, g), g));
    state[0] = m;
    state[1] = v;
    const float denominator = detail::add_rn(detail::div_rn(detail::sqrt_rn(v), s.bias_correction2_sqrt), s.eps);
    return fma(-s.step_size, detail::div_rn(m, denominator), mul_rn(w, s.decay));
  }

  static void validate(const options& o) {
    const char* who = "mixprec::adamw_options: ";
    require(std::isfinite(o.lr) && o.lr >= 0.0f, who, "lr = ", o.lr, " must be finite and >= 0");
    require(o.beta1 >= 0.0f && o.beta1 < 1.0f, who, "beta1 = ", o.beta1, " must lie in [0, 1)");
    require(o.beta2 >= 0.0f && o.beta2 < 1.0f, who, "beta2 = ", o.beta2, " must lie in [0, 1)");
    require(std::isfinite(o.eps) && o.eps >= 0.0f, who, "eps = ", o.eps, " must be finite and >= 0");
    require(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f, who, "weight_decay = ", o.weight_decay,
            " must be finite and >= 0");
  }
};

namespace detail {

// ---- One element of a fused step, host and device ------------------------

// Master weight w (FP32) and its state updated from the stored gradient.
template <class Rule>
MIXPREC_HOST_DEVICE inline float update_element(float w, float stored_gradient, float inverse_scale,
                                                float clip_coefficient, float* state,
                                                const typename Rule::scalars& s) noexcept {
  return Rule::apply(w, effective_gradient(stored_gradient, inverse_scale, clip_coefficient), state, s);
}

// The low-precision copy of an updated weight: convert<T>(w · scale) (scale 1
// when the copy is unscaled), rounded to nearest even or stochastically with
// the given random bits. Model is float (a plain FP32 copy) or a mixprec type.
template <class Model>
MIXPREC_HOST_DEVICE inline Model round_model_copy(float w, float scale, bool stochastic, std::uint32_t random_bits) {
  if constexpr (std::is_same<Model, float>::value) {
    (void)scale;
    (void)stochastic;
    (void)random_bits;
    return w;
  } else {
    const float x = mul_rn(w, scale);
    return stochastic ? convert_stochastic<Model>(x, random_bits) : convert<Model>(x, rounding::nearest_even);
  }
}

// amax as an order-independent integer maximum over |w|'s bits: NaN > inf >
// every finite magnitude, so host loops and device atomicMax agree exactly.
MIXPREC_HOST_DEVICE inline std::uint32_t magnitude_bits(float w) noexcept {
  return mixprec::detail::bit_cast<std::uint32_t>(w) & 0x7FFFFFFFu;
}

// Random bits for element `index` (counted over all parameters in order) of
// applied step `step`: a fresh, reproducible stream per step.
MIXPREC_HOST_DEVICE inline std::uint32_t step_random_bits(std::uint64_t seed, std::int64_t step,
                                                          std::uint64_t total_elements, std::uint64_t index) noexcept {
  return stochastic_rounding_bits(seed, static_cast<std::uint64_t>(step) * total_elements, index);
}

}  // namespace detail
}  // namespace mixprec
