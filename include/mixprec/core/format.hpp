/// \file
/// mixprec/core/format.hpp — descriptions of binary floating-point formats.
///
/// A format is a handful of numbers (exponent bits, mantissa bits, bias) and
/// one choice of how the special values are encoded. Everything else — the
/// largest finite code, the canonical NaN, whether -0 exists — is derived here,
/// so the conversion engine and the value types never special-case a format by
/// name. Adding a format is one alias at the bottom of this file.
#pragma once

#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"

namespace mixprec {

/// How a format spends its top exponent codes (and, for fnuz, the -0 code).
enum class special_encoding {
  /// IEEE 754: the all-ones exponent holds ±inf (mantissa 0) and NaN (otherwise).
  ieee,
  /// OCP OFP8 E4M3 ("E4M3FN"): no infinity; the all-ones exponent is an ordinary
  /// binade except S.1111.111, which is the only NaN (one per sign).
  finite_nan_all_ones,
  /// AMD "fnuz" (finite, NaN, unsigned zero): no infinity, no -0; the code
  /// 1.000...0 (the would-be -0) is the single NaN; every exponent is a binade.
  finite_nan_negative_zero,
};

/// Compile-time description of a binary floating-point format: sign bit,
/// `ExponentBits` exponent bits with bias `Bias`, `MantissaBits` stored mantissa
/// bits (hidden bit not counted) and the special-value encoding `Specials`.
///
/// Every member is a constant derived from these four parameters. Codes and masks
/// are given as `std::uint64_t` bit patterns in the low `total_bits` bits.
/// The predefined formats are in mixprec::formats.
template <int ExponentBits, int MantissaBits, int Bias, special_encoding Specials>
struct binary_format {
  static_assert(ExponentBits >= 2 && MantissaBits >= 1, "formats need >= 2 exponent and >= 1 mantissa bits");
  static_assert(1 + ExponentBits + MantissaBits <= 64, "formats wider than 64 bits are not supported");

  static constexpr int exponent_bits = ExponentBits;  ///< Width of the exponent field.
  static constexpr int mantissa_bits = MantissaBits;  ///< Stored mantissa bits (the hidden bit not counted).
  static constexpr int bias = Bias;                   ///< Exponent bias: value exponent = biased exponent - bias.
  static constexpr special_encoding specials = Specials;  ///< How inf, NaN and -0 are encoded.
  static constexpr int total_bits = 1 + ExponentBits + MantissaBits;  ///< Sign + exponent + mantissa bits.

  /// Smallest unsigned integer type that holds a code: `std::uint8_t`, `std::uint16_t`,
  /// `std::uint32_t` or `std::uint64_t`.
  using storage_type = std::conditional_t<
      total_bits <= 8, std::uint8_t,
      std::conditional_t<total_bits <= 16, std::uint16_t,
                         std::conditional_t<total_bits <= 32, std::uint32_t, std::uint64_t>>>;

  /// True when the format encodes ±infinity (only special_encoding::ieee does).
  static constexpr bool has_infinity = Specials == special_encoding::ieee;
  /// False for the fnuz formats, whose -0 code is the NaN.
  static constexpr bool has_negative_zero = Specials != special_encoding::finite_nan_negative_zero;

  static constexpr std::uint64_t sign_mask = std::uint64_t{1} << (total_bits - 1);  ///< The sign bit.
  static constexpr std::uint64_t magnitude_mask = sign_mask - 1;  ///< Every bit but the sign bit.
  static constexpr std::uint64_t mantissa_mask = (std::uint64_t{1} << MantissaBits) - 1;  ///< The mantissa field.
  /// The all-ones exponent field value, `2^exponent_bits - 1` (unshifted).
  static constexpr std::uint64_t exponent_field_max = (std::uint64_t{1} << ExponentBits) - 1;

  /// Largest biased exponent that holds finite numbers.
  static constexpr int max_biased_exponent =
      static_cast<int>(Specials == special_encoding::ieee ? exponent_field_max - 1 : exponent_field_max);
  /// Unbiased exponent of the smallest normal binade, `1 - bias`.
  static constexpr int min_exponent = 1 - Bias;
  /// Unbiased exponent of the largest finite binade.
  static constexpr int max_exponent = max_biased_exponent - Bias;

  /// Magnitude code of the largest finite value: all-ones mantissa, except
  /// E4M3FN, whose all-ones code is NaN.
  static constexpr std::uint64_t max_finite_magnitude =
      Specials == special_encoding::finite_nan_all_ones
          ? ((static_cast<std::uint64_t>(max_biased_exponent) << MantissaBits) | mantissa_mask) - 1
          : ((static_cast<std::uint64_t>(max_biased_exponent) << MantissaBits) | mantissa_mask);
  /// Magnitude code of infinity (all-ones exponent, zero mantissa); meaningful
  /// only where has_infinity is true.
  static constexpr std::uint64_t infinity_magnitude = exponent_field_max << MantissaBits;  // ieee only

  /// The NaN every narrowing conversion produces: positive, all mantissa bits
  /// set (what CUDA's conversions and Hopper's cvt instructions produce); fnuz
  /// has exactly one NaN.
  static constexpr std::uint64_t canonical_nan =
      Specials == special_encoding::finite_nan_negative_zero ? sign_mask
                                                             : (exponent_field_max << MantissaBits) | mantissa_mask;

  /// True when `code` (a bit pattern in the low `total_bits` bits) encodes a NaN, of either sign.
  MIXPREC_HOST_DEVICE static constexpr bool is_nan_code(std::uint64_t code) noexcept {
    const std::uint64_t magnitude = code & magnitude_mask;
    switch (Specials) {
      case special_encoding::ieee: return magnitude > infinity_magnitude;
      case special_encoding::finite_nan_all_ones: return magnitude == ((exponent_field_max << MantissaBits) | mantissa_mask);
      case special_encoding::finite_nan_negative_zero: return code == sign_mask;
    }
    return false;
  }
  /// True when `code` encodes +inf or -inf; always false where the format has no infinity.
  MIXPREC_HOST_DEVICE static constexpr bool is_infinity_code(std::uint64_t code) noexcept {
    return Specials == special_encoding::ieee && (code & magnitude_mask) == infinity_magnitude;
  }
};

/// The formats mixprec knows: binary_format descriptions, one alias each.
namespace formats {
using binary64 = binary_format<11, 52, 1023, special_encoding::ieee>;  ///< IEEE 754 double.
using binary32 = binary_format<8, 23, 127, special_encoding::ieee>;    ///< IEEE 754 single (float).
using binary16 = binary_format<5, 10, 15, special_encoding::ieee>;     ///< IEEE 754 half (FP16), max 65504.
using bfloat16 = binary_format<8, 7, 127, special_encoding::ieee>;     ///< bfloat16: float's exponent range, 8-bit significand.
using e4m3 = binary_format<4, 3, 7, special_encoding::finite_nan_all_ones>;  ///< OCP E4M3 (E4M3FN), max 448
using e5m2 = binary_format<5, 2, 15, special_encoding::ieee>;                ///< OCP E5M2, max 57344
using e4m3fnuz = binary_format<4, 3, 8, special_encoding::finite_nan_negative_zero>;  ///< AMD MI300, max 240
using e5m2fnuz = binary_format<5, 2, 16, special_encoding::finite_nan_negative_zero>;  ///< AMD MI300, max 57344
}  // namespace formats

}  // namespace mixprec
