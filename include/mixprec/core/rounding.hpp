// mixprec/core/rounding.hpp — the rounding and saturation vocabulary.
#pragma once

#include "mixprec/core/config.hpp"

namespace mixprec {

/// How an exact value between two neighbours of the target grid is resolved.
enum class rounding {
  nearest_even,  ///< IEEE 754 roundTiesToEven
  toward_zero,   ///< IEEE 754 roundTowardZero: never rounds past ±max for finite input
  stochastic,    ///< away from zero with probability equal to the discarded fraction
  upward,        ///< IEEE 754 roundTowardPositive
  downward,      ///< IEEE 754 roundTowardNegative
};

/// What a value beyond the format's largest finite magnitude becomes.
enum class saturation {
  finite,  ///< overflow and ±inf give ±max (CUDA's __NV_SATFINITE, PTX .satfinite)
  none,    ///< IEEE 754: overflow gives ±inf, or NaN in formats without infinity
};

/// Whether `mode` is one of rounding's enumerators. A value cast from an
/// integer (rounding(42)) is not, and every entry point that takes a rounding
/// rejects it rather than let the engine treat it as some other mode.
MIXPREC_HOST_DEVICE constexpr bool is_valid(rounding mode) noexcept {
  switch (mode) {
    case rounding::nearest_even:
    case rounding::toward_zero:
    case rounding::stochastic:
    case rounding::upward:
    case rounding::downward: return true;
  }
  return false;
}

/// Whether `policy` is one of saturation's enumerators (see is_valid(rounding)).
MIXPREC_HOST_DEVICE constexpr bool is_valid(saturation policy) noexcept {
  return policy == saturation::finite || policy == saturation::none;
}

}  // namespace mixprec
