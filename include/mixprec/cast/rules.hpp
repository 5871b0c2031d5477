/// \file
/// mixprec/cast/rules.hpp — the element rules of quantization, written once
/// for the CPU reference (mixprec/reference/quantize.hpp) and the cast kernels
/// (mixprec/cuda/cast.hpp), so that both give the same bits.
///
///  - x · scale is one float multiplication (rounded to nearest even; on the
///    host whatever its MXCSR, mixprec/core/exact_float.hpp), then one
///    conversion by the engine with the options' rounding and saturation (FP8
///    default: nearest even, saturation::finite, as cuBLASLt and
///    TransformerEngine cast). BF16/FP16 inputs are widened to float exactly.
///  - Stochastic rounding takes the random word of element i (its row-major
///    index in the source) from stochastic_rounding_bits(seed, offset, i): the
///    result does not depend on how the work is split between threads.
///  - amax compares magnitudes as bit patterns: +inf beats every finite value
///    and a NaN (of either sign) beats +inf, so a tensor holding NaN has a NaN
///    amax — the scaling recipes (mixprec/scaling/fp8_scaling.hpp) then keep
///    their previous scale, and the NaN is not hidden. The maximum of bit
///    patterns does not depend on the order of reduction (on the GPU it is an
///    atomicMax on the bits).
///  - Block scales follow current scaling (detail::fp8_scale_from_amax, shared
///    with the recipes): scale = max(T) / amax, FLT_MAX if that overflows, 1 for
///    an all-zero or non-finite block, optionally rounded down to a power of two;
///    the stored dequantisation factor is 1 / scale, correctly rounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/convert.hpp"
#include "mixprec/types/operations.hpp"

namespace mixprec {

/// How the quantize functions (mixprec/reference/quantize.hpp,
/// mixprec/cuda/cast.hpp) round and saturate; checked by
/// cast::require_valid before any element is written.
/// How the quantize functions (reference/quantize.hpp, cuda/cast.hpp) round and
/// saturate each scaled element. The defaults are FP8's: nearest even, saturating to ±max.
struct quantize_options {
  rounding mode = rounding::nearest_even;  ///< any mixprec::rounding
  saturation policy = saturation::finite;  ///< FP8's default; BF16/FP16 targets usually want none
  /// Stochastic rounding only: element i rounds with stochastic_rounding_bits(seed, offset, i).
  std::uint64_t seed = 0;
  /// Stochastic rounding only: advances the random stream between calls (e.g. by the
  /// element count of the previous call); see stochastic_rounding_bits.
  std::uint64_t offset = 0;
  /// Scales computed from the data (quantize_blockwise) only: round each
  /// block's scale down to a power of two, so that scale_inv is exact too.
  bool power_of_two_scales = false;
};

/// The element rules shared by the CPU reference and the cast kernels
/// (see cast/rules.hpp); building blocks, not an entry point.
namespace cast {

/// Checks what every quantize function needs of its options, on the host and
/// before anything is written: `mode` and `policy` are enumerators (a value
/// such as rounding(42) would otherwise be treated as another mode). `who`
/// starts the message ("mixprec::reference::quantize: ").
/// @throws mixprec::error naming the field and the value.
/// Checks an array argument: null is accepted only with n == 0 (as
/// convert_n does). `name` names the argument in the message.
/// @throws mixprec::error when pointer is null and n > 0.
inline void require_array(const void* pointer, std::size_t n, const char* who, const char* name) {
  require(n == 0 || pointer != nullptr, who, name, " is null but n = ", n,
          "; pass an array of n elements (null is accepted only with n = 0)");
}

/// rows · cols, the elements of a [rows, cols] tensor, computed without
/// overflow.
/// @throws mixprec::error when rows or cols is negative or the product
///         exceeds INT64_MAX.
inline std::size_t element_count(std::int64_t rows, std::int64_t cols, const char* who) {
  require(rows >= 0 && cols >= 0, who, "rows = ", rows, " and cols = ", cols, " must not be negative");
  require(cols == 0 || rows <= INT64_MAX / cols, who, "rows = ", rows, " times cols = ", cols,
          " overflows a 64-bit element count");
  return static_cast<std::size_t>(rows * cols);
}

/// Checks that `o.mode` and `o.policy` are enumerators of rounding and
/// saturation. \throws mixprec::error naming `who` and the value otherwise.
inline void require_valid(const quantize_options& o, const char* who) {
  require(is_valid(o.mode), who, "quantize_options::mode = ", static_cast<int>(o.mode),
          " is not a mixprec::rounding enumerator; pass nearest_even, toward_zero, stochastic, upward or downward");
  require(is_valid(o.policy), who, "quantize_options::policy = ", static_cast<int>(o.policy),
          " is not a mixprec::saturation enumerator; pass saturation::finite or saturation::none");
}

/// Elements are float or mixprec value types; this widens them exactly.
template <class T>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float to_float(T x) noexcept {
  if constexpr (std::is_same<T, float>::value) {
    return x;
  } else {
    static_assert(is_basic_float<T>::value, "elements are float or a mixprec value type");
    return static_cast<float>(x);
  }
}

/// Optional outputs of the quantize functions take their type from the main
/// output, so that a plain nullptr can be passed for them.
template <class T>
struct non_deduced {
  using type = T;  ///< T itself, in a non-deduced context.
};
/// `non_deduced<T>::type`: T, in a context that template argument deduction skips.
template <class T>
using non_deduced_t = typename non_deduced<T>::type;

/// |x| as the bit pattern amax compares.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::uint32_t magnitude_bits(float x) noexcept {
  return mixprec::detail::magnitude_bits(x);
}
/// The float whose bit pattern is `bits` (the inverse of magnitude_bits for a non-negative x).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float from_magnitude_bits(std::uint32_t bits) noexcept {
  return mixprec::detail::bit_cast<float>(bits);
}

/// The quantised value of element `index`, whose scaled value (x · scale) is
/// `value`.
///
/// Rounds with `o.mode` and `o.policy`; under rounding::stochastic the random word is
/// stochastic_rounding_bits(o.seed, o.offset, index).
template <class Target>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS Target encode(float value, const quantize_options& o, std::uint64_t index) {
  if (o.mode == rounding::stochastic)
    return convert_stochastic<Target>(value, stochastic_rounding_bits(o.seed, o.offset, index), o.policy);
  return convert<Target>(value, o.mode, o.policy);
}

/// The scale current scaling gives a block whose largest magnitude is amax.
///
/// A quantisation factor: max(Target) / amax, FLT_MAX if that overflows, 1 when amax
/// is 0, inf or NaN; rounded down to a power of two when `power_of_two` is set.
template <class Target>
MIXPREC_HOST_DEVICE inline float block_scale(float amax, bool power_of_two) noexcept {
  return mixprec::detail::fp8_scale_from_amax(amax, static_cast<float>(std::numeric_limits<Target>::max()), 1.0f,
                                              power_of_two);
}

/// 1 / scale, correctly rounded on the host and on the device alike (device
/// code may be compiled with -prec-div=false; the host's MXCSR may flush or
/// round otherwise): mixprec/core/exact_float.hpp's reciprocal_nearest, the
/// one reciprocal of every scale in the library.
MIXPREC_HOST_DEVICE inline float reciprocal(float scale) noexcept {
  return mixprec::detail::reciprocal_nearest(scale);
}

}  // namespace cast
}  // namespace mixprec
