// mixprec/core/rounding.hpp — the rounding and saturation vocabulary.
#pragma once

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

}  // namespace mixprec
