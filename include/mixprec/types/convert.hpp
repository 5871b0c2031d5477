// mixprec/types/convert.hpp — the public conversion functions.
//
//   convert<T>(x, rounding, saturation)        float, double or another mixprec type -> T
//   convert_stochastic<T>(x, random_bits, sat) stochastic rounding with caller-supplied bits
#pragma once

#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/types/basic_float.hpp"

#if !MIXPREC_DEVICE_COMPILATION
#include "mixprec/core/error.hpp"
#endif

namespace mixprec {
namespace detail {

/// rounding::stochastic without random bits would silently truncate; it is a
/// caller error, reported where it can be.
MIXPREC_HOST_DEVICE inline void reject_stochastic_without_bits() {
#if MIXPREC_DEVICE_COMPILATION
  __trap();
#else
  throw error(
      "mixprec::convert: rounding::stochastic needs random bits; call convert_stochastic<T>(x, random_bits) "
      "instead");
#endif
}

}  // namespace detail

/// Rounds x (float, double or a mixprec type) to T stochastically: away from
/// zero exactly when the 32 discarded fraction bits plus `random_bits` carry
/// past 2^32, i.e. with probability equal to the discarded fraction. Take the
/// bits from stochastic_rounding_bits(seed, offset, index) so results do not
/// depend on thread layout. Overflow follows `policy` as in convert.
template <class T, class Source>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::enable_if_t<is_basic_float<T>::value, T> convert_stochastic(
    Source x, std::uint32_t random_bits, saturation policy = T::default_saturation) noexcept {
  static_assert(std::is_same<Source, float>::value || std::is_same<Source, double>::value || is_basic_float<Source>::value,
                "convert_stochastic takes float, double or a mixprec type");
  if constexpr (is_basic_float<Source>::value) {
    // Every mixprec value is exactly a float, so this rounds once.
    return T::from_bits(engine::encode<typename T::format>(static_cast<float>(x), rounding::stochastic, policy,
                                                           random_bits));
  } else {
    return T::from_bits(engine::encode<typename T::format>(x, rounding::stochastic, policy, random_bits));
  }
}

/// Rounds x to T. A double is rounded once (never through float). The
/// default saturation is T's: finite for the 8-bit formats, none otherwise.
/// rounding::stochastic is rejected (mixprec::error on the host, a trap on
/// the device): it needs the random bits that convert_stochastic takes.
template <class T, class Source>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::enable_if_t<is_basic_float<T>::value, T> convert(
    Source x, rounding mode = rounding::nearest_even, saturation policy = T::default_saturation) {
  static_assert(std::is_same<Source, float>::value || std::is_same<Source, double>::value || is_basic_float<Source>::value,
                "convert takes float, double or a mixprec type");
  if (mode == rounding::stochastic) detail::reject_stochastic_without_bits();
  if constexpr (is_basic_float<Source>::value) {
    return T::from_bits(engine::encode<typename T::format>(static_cast<float>(x), mode, policy));
  } else {
    return T::from_bits(engine::encode<typename T::format>(x, mode, policy));
  }
}

}  // namespace mixprec
