/// \file
/// How FP8 per-tensor scales evolve: delayed and current scaling recipes
/// (TransformerEngine's DelayedScaling and Float8CurrentScaling).
///
/// An FP8 tensor is stored as q = convert<T>(x · scale) and read back as
/// q · scale_inv. A good scale maps the tensor's largest magnitude (amax) near
/// max(T), so the values use FP8's few binades well.
///
///   - delayed_scaling<T> (TransformerEngine's DelayedScaling recipe): the scale
///     for this step comes from the amaxes recorded in earlier steps, so the
///     cast needs no extra pass over the tensor. record(amax) appends the newest
///     amax to a window of history_len; update() computes
///         scale = (max(T) · 2^-margin) / amax,
///     where amax is the window's maximum (amax_algo::max) or its newest entry
///     (amax_algo::most_recent). An amax of 0 or a non-finite amax keeps the
///     previous scale; an infinite result (amax tiny) becomes FLT_MAX and a
///     result below FLT_MIN (amax huge) becomes FLT_MIN, so scale_inv = 1/scale
///     is always finite and dequantising never gives inf · 0 = NaN;
///     power_of_two rounds the scale down to a power of two, so rescaling is
///     exact. As in TE, the window maximum skips NaN entries (fmaxf) while an
///     inf entry makes it inf, which keeps the scale until the inf leaves the
///     window.
///   - current_scaling<T>: the scale from this step's amax alone (one more pass
///     over the tensor, but no lag). An amax of 0 or a non-finite amax gives
///     scale 1, as TE's Float8CurrentScaling does: an all-zero tensor needs no
///     scaling, and a tensor holding inf/NaN cannot be scaled into range (its
///     cast shows the inf/NaN, and the loss scaler's found_inf skips the step).
///   - Margins are format-aware: max(T) · 2^-margin must stay at or above T's
///     smallest normal, or every value would quantise to (almost) nothing. So
///     margin <= max_margin<T>() = log2(max(T) / min_normal(T)) rounded down:
///     14 for E4M3, 29 for E5M2 and FP16 (detail::fp8_traits<T>::max_margin).
///   - history_len is at most max_history_len (2^20 amaxes, 4 MiB per tensor):
///     a larger one is a corrupt option or checkpoint, rejected before any
///     allocation.
///   - The hybrid convention (TE's Format.HYBRID) is the default: E4M3 (more
///     precision) for forward tensors — activations and weights — and E5M2
///     (more range) for gradients. fp8_linear_scaling<Convention> holds the three
///     scales of one linear layer.
///
/// \code
///   mixprec::delayed_scaling<mixprec::float8_e4m3> weight_scaling;   // history 1024, max, margin 0
///   weight_scaling.record(amax_of_weights);   // from the cast of this step
///   weight_scaling.update();                  // scale for the next step
///   float s = weight_scaling.scale(), s_inv = weight_scaling.scale_inv();
/// \endcode
///
/// The per-tensor arithmetic (detail::fp8_scale_from_amax and the window
/// reduction) is host/device code; mixprec/cuda/fp8_scaling.hpp updates many
/// tensors' histories and scales in one kernel with the same functions.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/types.hpp"

namespace mixprec {

/// Which amax of the history window delayed_scaling uses (TE's amax_compute_algo).
enum class amax_algo {
  max,          ///< the largest amax in the history window
  most_recent,  ///< the newest amax only
};

/// The longest amax history a recipe accepts (2^20 entries, 4 MiB per tensor).
constexpr std::size_t max_history_len = std::size_t{1} << 20;

/// The configuration of a delayed_scaling recipe (TE's DelayedScaling
/// arguments amax_history_len, amax_compute_algo, margin).
struct delayed_scaling_options {
  std::size_t history_len = 1024;  ///< amaxes kept, in [1, max_history_len]
  amax_algo algo = amax_algo::max; ///< which amax of the window sets the scale
  int margin = 0;                  ///< in [0, max_margin of the format]: the scale maps amax to max(T) · 2^-margin
  bool power_of_two = false;       ///< round the scale down to a power of two
};

/// The configuration of current scaling (current_scaling, current_scale()).
struct current_scaling_options {
  int margin = 0;             ///< in [0, max_margin of the format] (14 for E4M3, 29 for E5M2)
  bool power_of_two = false;  ///< round the scale down to a power of two
};

/// A checkpoint of one delayed_scaling recipe (delayed_scaling<T>::state).
struct delayed_scaling_state {
  delayed_scaling_options options;  ///< the recipe's options
  std::vector<float> history;  ///< the window, oldest first (at most history_len entries)
  float scale = 1.0f;          ///< the current scale, in [FLT_MIN, FLT_MAX]
  float scale_inv = 1.0f;      ///< 1 / scale
  float amax = 0.0f;  ///< the amax the last update() used
};

namespace detail {

// The largest power of two <= x, for finite x > 0 (subnormals included).
MIXPREC_HOST_DEVICE inline float floor_power_of_two(float x) noexcept {
  std::uint32_t bits = mixprec::detail::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7F800000u) != 0) {
    bits &= 0xFF800000u;  // keep sign and exponent (TE's force_pow_2_scales)
  } else {
    std::uint32_t top = 0x00400000u;  // subnormal: keep only the highest set bit
    while (top != 0 && (bits & top) == 0) top >>= 1;
    bits = (bits & 0x80000000u) | top;
  }
  return mixprec::detail::bit_cast<float>(bits);
}

/// TE's delayed-scaling rule (recipe/delayed_scaling.cu): the scale for
/// `amax` (>= 0) given scaled_max = max(T) · 2^-margin; `previous` is kept
/// when amax is 0 or not finite. The result lies in [FLT_MIN, FLT_MAX] (TE
/// clamps only above; below FLT_MIN, 1/scale can overflow to inf).
//
// The tests read bits, not float compares (which DAZ would answer for a
// subnormal amax as for 0), and the quotient is IEEE division rounded to
// nearest on the host whatever its MXCSR (core/exact_float.hpp) and on the
// device even under -prec-div=false.
MIXPREC_HOST_DEVICE inline float fp8_scale_from_amax(float amax, float scaled_max, float previous,
                                                     bool power_of_two) noexcept {
  float scale = previous;
  if (mixprec::detail::is_finite_positive(amax)) {  // not 0, -x, inf or NaN
    scale = mixprec::detail::divide_nearest(scaled_max, amax);
    const std::uint32_t scale_bits = mixprec::detail::bit_cast<std::uint32_t>(scale);  // positive
    if (scale_bits > 0x7F7FFFFFu) scale = FLT_MAX;
    if (scale_bits < 0x00800000u) scale = FLT_MIN;  // a power of two: power_of_two keeps it
    if (power_of_two) scale = floor_power_of_two(scale);
  }
  return scale;
}

// Window reduction, as TE's: fmaxf from 0, so NaN entries are skipped. On the
// host, fmax's comparison reads the bits of the (non-negative) entries: under
// DAZ a float compare would take a subnormal amax for 0.
MIXPREC_HOST_DEVICE inline float amax_max(float a, float b) noexcept {
#if MIXPREC_DEVICE_COMPILATION
  return fmaxf(a, b);
#else
  const std::uint32_t a_bits = mixprec::detail::magnitude_bits(a);
  const std::uint32_t b_bits = mixprec::detail::magnitude_bits(b);
  if (a_bits > 0x7F800000u || b_bits > 0x7F800000u) return std::fmax(a, b);  // NaN: the other one
  return a_bits >= b_bits ? a : b;
#endif
}

template <class T>
struct fp8_traits {
  static_assert(is_basic_float<T>::value, "FP8 scaling recipes take a mixprec value type (float8_e4m3, float8_e5m2, ...)");
  static float max_value() noexcept { return static_cast<float>(std::numeric_limits<T>::max()); }
  /// The largest margin that keeps max(T) · 2^-margin >= T's smallest normal:
  /// floor(log2(max(T) / min_normal(T))), 14 for E4M3, 29 for E5M2.
  static int max_margin() noexcept {
    return std::ilogb(max_value()) - std::ilogb(static_cast<float>(std::numeric_limits<T>::min()));
  }
  // max(T) · 2^-margin, exact.
  static float scaled_max(int margin) noexcept { return std::ldexp(max_value(), -margin); }
};

/// Rejects a margin outside [0, max_margin<T>()]: beyond it the amax maps
/// below T's smallest normal and the quantised tensor is (almost) all zeros.
template <class T>
void validate_margin(int margin, const char* who) {
  const int largest = fp8_traits<T>::max_margin();
  require(margin >= 0 && margin <= largest, who, "margin = ", margin, " must lie in [0, ", largest, "] for ",
          "this format (max(T) · 2^-margin = ", fp8_traits<T>::max_value(), " · 2^-margin must stay >= its smallest normal, ",
          static_cast<float>(std::numeric_limits<T>::min()), ", or every value quantises to 0)");
}

/// The format-independent part of a margin check (the typed recipes also call validate_margin<T>).
inline void validate_margin_sign(int margin, const char* who) {
  require(margin >= 0, who, "margin = ", margin, " must be >= 0");
}

}  // namespace detail

/// Rejects options no recipe can honour: history_len outside
/// [1, max_history_len], an unknown algo, a negative margin. The typed
/// recipes also reject a margin beyond their format's max_margin.
/// \throws mixprec::error naming the field and the value.
inline void validate(const delayed_scaling_options& o) {
  const char* who = "mixprec::delayed_scaling::options: ";
  require(o.history_len >= 1 && o.history_len <= max_history_len, who, "history_len = ", o.history_len,
          " must lie in [1, ", max_history_len, "] (a longer window is a corrupt option or checkpoint)");
  require(o.algo == amax_algo::max || o.algo == amax_algo::most_recent, who, "algo = ", static_cast<int>(o.algo),
          " is not an amax_algo (max or most_recent)");
  detail::validate_margin_sign(o.margin, who);
}

/// Rejects a negative margin (the typed recipes also check the format's max_margin).
/// \throws mixprec::error naming the margin.
inline void validate(const current_scaling_options& o) {
  detail::validate_margin_sign(o.margin, "mixprec::current_scaling::options: ");
}

/// Delayed scaling of one tensor stored in format T (TE's DelayedScaling):
/// the scale for this step comes from the amaxes recorded in earlier steps.
/// Starts with scale 1 and an empty window. Host only; for many tensors on
/// the device see mixprec::cuda::device_delayed_scaling.
template <class T>
class delayed_scaling {
 public:
  using value_type = T;                     ///< the FP8 (or other mixprec) format the tensor is stored in
  using options = delayed_scaling_options;  ///< the configuration

  /// History 1024, amax_algo::max, margin 0, no power-of-two rounding.
  delayed_scaling() : delayed_scaling(options{}) {}
  /// A recipe with options `o`; allocates the history window.
  /// \throws mixprec::error when `o` is invalid (validate(const delayed_scaling_options&)) or
  /// o.margin exceeds T's max_margin.
  explicit delayed_scaling(const options& o) : options_(o) {
    validate(o);
    detail::validate_margin<T>(o.margin, "mixprec::delayed_scaling::options: ");
    history_.assign(o.history_len, 0.0f);
  }

  /// Appends this step's amax (the largest |x| of the tensor, >= 0; inf and
  /// NaN are accepted and handled by update()). The oldest entry leaves the
  /// window once history_len are held. Does not change the scale.
  /// \throws mixprec::error when amax is negative.
  void record(float amax) {
    require(!mixprec::detail::is_negative_exactly(amax), "mixprec::delayed_scaling::record: amax = ", amax,
            " is negative; pass the largest magnitude |x| of the tensor");
    history_[next_] = amax;
    next_ = next_ + 1 == history_.size() ? 0 : next_ + 1;
    if (recorded_ < history_.size()) ++recorded_;
  }

  /// Computes, stores and returns the new scale from the window:
  /// (max(T) · 2^-margin) / amax, clamped to [FLT_MIN, FLT_MAX]; the previous
  /// scale is kept when the window's amax is 0 (nothing recorded) or not finite.
  float update() noexcept {
    amax_ = window_amax();
    scale_ = detail::fp8_scale_from_amax(amax_, detail::fp8_traits<T>::scaled_max(options_.margin), scale_,
                                         options_.power_of_two);
    scale_inv_ = mixprec::detail::reciprocal_nearest(scale_);
    return scale_;
  }

  /// The current scale: quantise as convert<T>(x · scale()).
  float scale() const noexcept { return scale_; }
  /// 1 / scale(): dequantise as q · scale_inv() (the GEMM's scale input).
  float scale_inv() const noexcept { return scale_inv_; }
  /// The amax the last update() used (0 before any).
  float amax() const noexcept { return amax_; }
  /// The window, oldest first (at most history_len entries).
  std::vector<float> history() const {
    std::vector<float> window;
    window.reserve(recorded_);
    const std::size_t start = (next_ + history_.size() - recorded_) % history_.size();
    for (std::size_t i = 0; i < recorded_; ++i) window.push_back(history_[(start + i) % history_.size()]);
    return window;
  }
  /// The options in force (those loaded with the last load()).
  const options& get_options() const noexcept { return options_; }

  /// Checkpointing: the complete state, options included.
  using state = delayed_scaling_state;
  /// The complete state: options, window, scale, scale_inv and amax.
  state save() const {
    state s;
    s.options = options_;
    s.history = history();
    s.scale = scale_;
    s.scale_inv = scale_inv_;
    s.amax = amax_;
    return s;
  }
  /// Restores a checkpoint from save(), options included.
  /// \throws mixprec::error, changing nothing, when the
  /// state could not come from a recipe of this format: invalid options
  /// (including the format's margin bound), more entries than history_len, a
  /// negative entry, a scale outside [FLT_MIN, FLT_MAX] (update() never
  /// leaves it), scale_inv != 1/scale, a negative amax, or a non-finite amax
  /// while no history entry is non-finite (update() reports inf or NaN only
  /// from such an entry).
  void load(const state& s) {
    validate(s.options);
    const char* who = "mixprec::delayed_scaling::load: ";
    detail::validate_margin<T>(s.options.margin, who);
    require(s.history.size() <= s.options.history_len, who, "the history holds ", s.history.size(),
            " entries, more than history_len = ", s.options.history_len);
    bool non_finite_entry = false;
    for (std::size_t i = 0; i < s.history.size(); ++i) {
      require(!mixprec::detail::is_negative_exactly(s.history[i]), who, "history entry ", i, " = ", s.history[i],
              " is negative");
      non_finite_entry |= !std::isfinite(s.history[i]);
    }
    require(s.scale >= FLT_MIN && s.scale <= FLT_MAX, who, "scale = ", s.scale, " must lie in [FLT_MIN, FLT_MAX] = [",
            FLT_MIN, ", ", FLT_MAX, "] (so that 1/scale is finite)");
    // With power_of_two every update gives a power of two (the first scale, 1, is one).
    require(!s.options.power_of_two || (mixprec::detail::bit_cast<std::uint32_t>(s.scale) & 0x007FFFFFu) == 0, who,
            "scale = ", s.scale, " is not a power of two, but power_of_two is set: no update produces it");
    const float inverse = mixprec::detail::reciprocal_nearest(s.scale);
    require(mixprec::detail::bit_cast<std::uint32_t>(s.scale_inv) == mixprec::detail::bit_cast<std::uint32_t>(inverse),
            who, "scale_inv = ", s.scale_inv, " is not 1 / scale = ", inverse);
    require(!mixprec::detail::is_negative_exactly(s.amax), who, "amax = ", s.amax,
            " is negative; an amax is a magnitude");
    require(std::isfinite(s.amax) || non_finite_entry, who, "amax = ", s.amax,
            " is not finite, but no history entry is: update() reports a non-finite amax only from such an entry");
    delayed_scaling restored(s.options);
    for (float amax : s.history) restored.record(amax);
    restored.scale_ = s.scale;
    restored.scale_inv_ = s.scale_inv;
    restored.amax_ = s.amax;
    *this = std::move(restored);
  }

 private:
  float window_amax() const noexcept {
    if (recorded_ == 0) return 0.0f;
    if (options_.algo == amax_algo::most_recent) return history_[(next_ + history_.size() - 1) % history_.size()];
    float amax = 0.0f;
    for (std::size_t i = 0; i < recorded_; ++i) amax = detail::amax_max(amax, history_[i]);
    return amax;
  }

  options options_;
  std::vector<float> history_;  // ring buffer; slot next_ is overwritten next
  std::size_t next_ = 0;
  std::size_t recorded_ = 0;
  float scale_ = 1.0f;
  float scale_inv_ = 1.0f;
  float amax_ = 0.0f;
};

/// The scale of `amax` under current scaling (see the file comment):
/// (max(T) · 2^-margin) / amax clamped to [FLT_MIN, FLT_MAX]; 1 for an amax of
/// 0 or a non-finite amax.
/// \throws mixprec::error when `o` is invalid or o.margin exceeds T's max_margin.
template <class T>
float current_scale(float amax, const current_scaling_options& o = {}) {
  validate(o);
  detail::validate_margin<T>(o.margin, "mixprec::current_scaling::options: ");
  return detail::fp8_scale_from_amax(amax, detail::fp8_traits<T>::scaled_max(o.margin), 1.0f, o.power_of_two);
}

/// Current scaling of one tensor stored in format T (TE's
/// Float8CurrentScaling): the scale from each step's own amax. Starts with
/// scale 1. Host only.
template <class T>
class current_scaling {
 public:
  using value_type = T;                     ///< the format the tensor is stored in
  using options = current_scaling_options;  ///< the configuration

  /// Margin 0, no power-of-two rounding.
  current_scaling() : current_scaling(options{}) {}
  /// A recipe with options `o`.
  /// \throws mixprec::error when `o` is invalid or o.margin exceeds T's max_margin.
  explicit current_scaling(const options& o) : options_(o) {
    validate(o);
    detail::validate_margin<T>(o.margin, "mixprec::current_scaling::options: ");
  }

  /// The scale from this step's amax alone (current_scale<T>()); stored and returned.
  /// \throws mixprec::error when amax is negative.
  float update(float amax) {
    require(!mixprec::detail::is_negative_exactly(amax), "mixprec::current_scaling::update: amax = ", amax,
            " is negative; pass the largest magnitude |x| of the tensor");
    scale_ = current_scale<T>(amax, options_);
    scale_inv_ = mixprec::detail::reciprocal_nearest(scale_);
    return scale_;
  }
  /// The scale from the last update() (1 before any).
  float scale() const noexcept { return scale_; }
  /// 1 / scale().
  float scale_inv() const noexcept { return scale_inv_; }
  /// The options given at construction.
  const options& get_options() const noexcept { return options_; }

 private:
  options options_;
  float scale_ = 1.0f;
  float scale_inv_ = 1.0f;
};

/// Which FP8 format each kind of tensor uses (TE's recipe.Format).
template <class Forward, class Gradient>
struct fp8_convention {
  using forward_type = Forward;    ///< activations and weights
  using gradient_type = Gradient;  ///< gradients flowing backwards
};
/// The default: E4M3's precision forward, E5M2's range for gradients (TE's HYBRID).
using hybrid_fp8 = fp8_convention<float8_e4m3, float8_e5m2>;
/// E4M3 everywhere (TE's Format.E4M3).
using e4m3_fp8 = fp8_convention<float8_e4m3, float8_e4m3>;

/// The three scales of one linear layer Y = X · Wᵀ under a convention and a
/// scaling recipe (delayed_scaling by default, current_scaling also fits):
/// input X and weight W in the forward format, the output gradient dY in the
/// gradient format.
template <class Convention = hybrid_fp8, template <class> class Scaling = delayed_scaling>
struct fp8_linear_scaling {
  using convention = Convention;                               ///< the formats used
  using forward_type = typename Convention::forward_type;      ///< format of X and W
  using gradient_type = typename Convention::gradient_type;    ///< format of dY

  fp8_linear_scaling() = default;
  /// All three recipes with the same options `o`.
  /// \throws mixprec::error when `o` is invalid for either format (e.g. a
  /// margin beyond E4M3's 14).
  explicit fp8_linear_scaling(const typename Scaling<forward_type>::options& o)
      : input(o), weight(o), grad_output(typename Scaling<gradient_type>::options(o)) {}

  Scaling<forward_type> input;         ///< the scale of the input X
  Scaling<forward_type> weight;        ///< the scale of the weight W
  Scaling<gradient_type> grad_output;  ///< the scale of the output gradient dY
};

}  // namespace mixprec
