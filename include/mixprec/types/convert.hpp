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

// The caller errors convert and convert_stochastic reject: rounding::stochastic
// without random bits (it would silently truncate) and enum values that are no
// enumerator (rounding(42) would behave as toward_zero, saturation(7) as
// finite). On the host they throw mixprec::error; in a constant expression
// the throw makes the call fail to compile; on the device, where nothing can
// be thrown, they trap (the kernel aborts; CUDA reports a launch failure): a
// defined failure instead of a plausible wrong result. mixprec's own device
// launchers check their options on the host first, so only a caller's own
// kernel can reach the trap.
enum class conversion_fault { stochastic_without_bits, invalid_rounding, invalid_saturation };

MIXPREC_HOST_DEVICE inline void reject_conversion(conversion_fault fault, int value) {
#if MIXPREC_DEVICE_COMPILATION
  (void)fault;
  (void)value;
  __trap();
#else
  switch (fault) {
    case conversion_fault::stochastic_without_bits:
      throw error(
          "mixprec::convert: rounding::stochastic needs random bits; call convert_stochastic<T>(x, random_bits) "
          "instead");
    case conversion_fault::invalid_rounding:
      throw error(make_message("mixprec::convert: rounding value ", value,
                               " is not a mixprec::rounding enumerator; pass rounding::nearest_even, toward_zero, "
                               "upward or downward (or call convert_stochastic)"));
    case conversion_fault::invalid_saturation: break;
  }
  throw error(make_message("mixprec::convert: saturation value ", value,
                           " is not a mixprec::saturation enumerator; pass saturation::finite or saturation::none"));
#endif
}

// The rounding of convert, which has no random bits to give stochastic.
MIXPREC_HOST_DEVICE constexpr void check_rounding_without_bits(rounding mode) {
  if (mode == rounding::stochastic) reject_conversion(conversion_fault::stochastic_without_bits, 0);
  if (!is_valid(mode)) reject_conversion(conversion_fault::invalid_rounding, static_cast<int>(mode));
}

MIXPREC_HOST_DEVICE constexpr void check_saturation(saturation policy) {
  if (!is_valid(policy)) reject_conversion(conversion_fault::invalid_saturation, static_cast<int>(policy));
}

}  // namespace detail

/// Rounds x to T stochastically: away from zero with probability equal to the
/// discarded fraction, decided by `random_bits` (a uniform 32-bit word; the
/// same bits give the same result on the host and the device). A double is
/// rounded once.
/// @throws mixprec::error when `policy` is no saturation enumerator (a trap
///         on the device; a compile error in a constant expression).
/// Rounds x (float, double or a mixprec type) to T stochastically: away from
/// zero exactly when the 32 discarded fraction bits plus `random_bits` carry
/// past 2^32, i.e. with probability equal to the discarded fraction. Take the
/// bits from stochastic_rounding_bits(seed, offset, index) so results do not
/// depend on thread layout. Overflow follows `policy` as in convert.
template <class T, class Source>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::enable_if_t<is_basic_float<T>::value, T> convert_stochastic(
    Source x, std::uint32_t random_bits, saturation policy = T::default_saturation) {
  static_assert(std::is_same<Source, float>::value || std::is_same<Source, double>::value || is_basic_float<Source>::value,
                "convert_stochastic takes float, double or a mixprec type");
  detail::check_saturation(policy);
  if constexpr (is_basic_float<Source>::value) {
    // Every mixprec value is exactly a float, so this rounds once.
    return T::from_bits(engine::encode<typename T::format>(static_cast<float>(x), rounding::stochastic, policy,
                                                           random_bits));
  } else {
    return T::from_bits(engine::encode<typename T::format>(x, rounding::stochastic, policy, random_bits));
  }
}

/// Rounds x to T with `mode` and `policy`. A double is rounded once (never
/// through float). The default saturation is T's: finite for the 8-bit
/// formats, none otherwise.
/// @throws mixprec::error for rounding::stochastic (it needs the random bits
///         that convert_stochastic takes) and for a `mode` or `policy` that is
///         no enumerator (rounding(42)). In a constant expression these fail
///         to compile; on the device they trap (see
///         detail::reject_conversion_arguments).
template <class T, class Source>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS std::enable_if_t<is_basic_float<T>::value, T> convert(
    Source x, rounding mode = rounding::nearest_even, saturation policy = T::default_saturation) {
  static_assert(std::is_same<Source, float>::value || std::is_same<Source, double>::value || is_basic_float<Source>::value,
                "convert takes float, double or a mixprec type");
  detail::check_rounding_without_bits(mode);
  detail::check_saturation(policy);
  if constexpr (is_basic_float<Source>::value) {
    return T::from_bits(engine::encode<typename T::format>(static_cast<float>(x), mode, policy));
  } else {
    return T::from_bits(engine::encode<typename T::format>(x, mode, policy));
  }
}

}  // namespace mixprec
