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
  /// OCP Microscaling Formats (MX) v1.0 §5.3.3 FP6 (E2M3, E3M2) and FP4
  /// (E2M1): no infinity and no NaN; every code is a number, so a conversion
  /// saturates in every mode and a NaN input becomes +max (as CUDA's
  /// __nv_cvt_float_to_fp4 / __nv_cvt_float_to_fp6 do).
  finite,
  /// OCP MX v1.0 §5.4.1 E8M0, the shared block scale: no sign bit, no
  /// mantissa, no zero, no subnormals and no infinity; code c is 2^(c - bias)
  /// except the all-ones code, the only NaN. A conversion encodes |x| (as
  /// CUDA's __nv_cvt_float_to_e8m0 does), and everything below the smallest
  /// value, zero included, becomes the smallest value (there is nothing
  /// closer to give).
  unsigned_power_of_two,
};

/// The description of one binary floating-point format: ExponentBits exponent
/// bits, MantissaBits stored mantissa bits, exponent bias Bias, and how the
/// special values are encoded. Everything the engine needs is derived here as
/// a trait (has_sign, has_zero, has_subnormals, has_nan, has_infinity, the
/// largest finite code, the code a NaN input becomes, ...), so the engine
/// handles every format with the same code.
/// Compile-time description of a binary floating-point format: sign bit,
/// `ExponentBits` exponent bits with bias `Bias`, `MantissaBits` stored mantissa
/// bits (hidden bit not counted) and the special-value encoding `Specials`.
///
/// Every member is a constant derived from these four parameters. Codes and masks
/// are given as `std::uint64_t` bit patterns in the low `total_bits` bits.
/// The predefined formats are in mixprec::formats.
template <int ExponentBits, int MantissaBits, int Bias, special_encoding Specials>
struct binary_format {
  static_assert(ExponentBits >= 2, "formats need >= 2 exponent bits");
  /// The engine's grid below the smallest normal is the subnormal spacing; a
  /// format without subnormals has no grid there only when it has no mantissa
  /// bits (its spacing 2^min_exponent leaves just the smallest value).
  static_assert(Specials == special_encoding::unsigned_power_of_two ? MantissaBits == 0 : MantissaBits >= 1,
                "E8M0-like formats (unsigned_power_of_two) have no mantissa bits; all others need >= 1");

  /// Exponent field width in bits.
  static constexpr int exponent_bits = ExponentBits;
  /// Stored mantissa (fraction) bits, the hidden bit not counted.
  static constexpr int mantissa_bits = MantissaBits;
  /// Exponent bias: a normal code with exponent field f is 2^(f - bias) * 1.mantissa.
  static constexpr int bias = Bias;
  /// How the special values are encoded.
  static constexpr special_encoding specials = Specials;

  /// Whether the format has a sign bit (every format but E8M0).
  static constexpr bool has_sign = Specials != special_encoding::unsigned_power_of_two;
  /// Whether the lowest exponent field holds zero and the subnormals (IEEE
  /// style); false for E8M0, whose lowest field is an ordinary binade.
  static constexpr bool has_subnormals = Specials != special_encoding::unsigned_power_of_two;
  /// Whether zero is a value of the format.
  static constexpr bool has_zero = has_subnormals;
  /// Whether the format has an infinity.
  static constexpr bool has_infinity = Specials == special_encoding::ieee;
  /// Whether the format has a NaN.
  static constexpr bool has_nan = Specials != special_encoding::finite;
  /// Whether -0 is a code of its own (not in fnuz, not in unsigned formats).
  static constexpr bool has_negative_zero =
      has_sign && has_zero && Specials != special_encoding::finite_nan_negative_zero;

  /// Bits per code: the sign bit (if any), the exponent and the mantissa.
  static constexpr int total_bits = (has_sign ? 1 : 0) + ExponentBits + MantissaBits;
  static_assert(total_bits <= 64, "formats wider than 64 bits are not supported");

  /// The unsigned integer type one code is stored in (codes narrower than it
  /// occupy its low bits; the others are zero).
  using storage_type = std::conditional_t<
      total_bits <= 8, std::uint8_t,
      std::conditional_t<total_bits <= 16, std::uint16_t,
                         std::conditional_t<total_bits <= 32, std::uint32_t, std::uint64_t>>>;

  /// The sign bit of a code; 0 in a format without sign.
  static constexpr std::uint64_t sign_mask = has_sign ? std::uint64_t{1} << (total_bits - 1) : 0;
  /// The exponent and mantissa bits of a code.
  static constexpr std::uint64_t magnitude_mask = (std::uint64_t{1} << (ExponentBits + MantissaBits)) - 1;
  /// Every bit a code may have set.
  static constexpr std::uint64_t code_mask = sign_mask | magnitude_mask;
  /// The mantissa bits of a code.
  static constexpr std::uint64_t mantissa_mask = (std::uint64_t{1} << MantissaBits) - 1;
  /// The all-ones exponent field.
  static constexpr std::uint64_t exponent_field_max = (std::uint64_t{1} << ExponentBits) - 1;

  /// Magnitude code of the largest finite value: all ones below IEEE's
  /// infinity binade; one below all ones where the all-ones code is the NaN
  /// (E4M3FN, E8M0); all ones where every code is finite (fnuz, FP6, FP4).
  static constexpr std::uint64_t max_finite_magnitude =
      Specials == special_encoding::ieee ? ((exponent_field_max - 1) << MantissaBits) | mantissa_mask
      : (Specials == special_encoding::finite_nan_all_ones || Specials == special_encoding::unsigned_power_of_two)
          ? ((exponent_field_max << MantissaBits) | mantissa_mask) - 1
          : (exponent_field_max << MantissaBits) | mantissa_mask;
  /// Largest biased exponent that holds finite numbers.
  static constexpr int max_biased_exponent = static_cast<int>(max_finite_magnitude >> MantissaBits);
  /// Unbiased exponent of the smallest normal binade (field 1 with
  /// subnormals, field 0 without).
  static constexpr int min_exponent = (has_subnormals ? 1 : 0) - Bias;
  /// Unbiased exponent of the largest finite binade.
  static constexpr int max_exponent = max_biased_exponent - Bias;
  /// Magnitude code of the smallest normal value.
  static constexpr std::uint64_t min_normal_magnitude = has_subnormals ? std::uint64_t{1} << MantissaBits : 0;
  /// Magnitude code of +infinity (meaningful where has_infinity).
  static constexpr std::uint64_t infinity_magnitude = exponent_field_max << MantissaBits;

  /// The NaN code (meaningful where has_nan): positive, all mantissa bits set
  /// (what CUDA's conversions and Hopper's cvt instructions produce); fnuz
  /// and E8M0 have exactly one NaN.
  static constexpr std::uint64_t canonical_nan =
      Specials == special_encoding::finite_nan_negative_zero ? sign_mask
                                                             : (exponent_field_max << MantissaBits) | mantissa_mask;
  /// The code a NaN input converts to: the canonical NaN, or +max in a format
  /// without NaN (as CUDA's __nv_cvt_float_to_fp4 / _fp6 give).
  static constexpr std::uint64_t nan_conversion_code = has_nan ? canonical_nan : max_finite_magnitude;

  /// Whether `code` is a NaN of this format.
  /// True when `code` (a bit pattern in the low `total_bits` bits) encodes a NaN, of either sign.
  MIXPREC_HOST_DEVICE static constexpr bool is_nan_code(std::uint64_t code) noexcept {
    const std::uint64_t magnitude = code & magnitude_mask;
    switch (Specials) {
      case special_encoding::ieee: return magnitude > infinity_magnitude;
      case special_encoding::finite_nan_all_ones:
      case special_encoding::unsigned_power_of_two:
        return magnitude == ((exponent_field_max << MantissaBits) | mantissa_mask);
      case special_encoding::finite_nan_negative_zero: return code == sign_mask;
      case special_encoding::finite: return false;
    }
    return false;
  }
  /// Whether `code` is ±infinity.
  /// True when `code` encodes +inf or -inf; always false where the format has no infinity.
  MIXPREC_HOST_DEVICE static constexpr bool is_infinity_code(std::uint64_t code) noexcept {
    return Specials == special_encoding::ieee && (code & magnitude_mask) == infinity_magnitude;
  }
  /// Whether `code` is ±0 (never in E8M0, which has no zero).
  MIXPREC_HOST_DEVICE static constexpr bool is_zero_code(std::uint64_t code) noexcept {
    return has_zero && (code & magnitude_mask) == 0 && !is_nan_code(code);
  }
};

/// The formats mixprec knows: binary_format descriptions, one alias each.
namespace formats {
using binary64 = binary_format<11, 52, 1023, special_encoding::ieee>;  ///< IEEE 754 binary64 (double), a conversion source
using binary32 = binary_format<8, 23, 127, special_encoding::ieee>;   ///< IEEE 754 binary32 (float), a conversion source
using binary16 = binary_format<5, 10, 15, special_encoding::ieee>;    ///< IEEE 754 binary16, max 65504
using bfloat16 = binary_format<8, 7, 127, special_encoding::ieee>;    ///< bfloat16: binary32's exponent, 7 mantissa bits
using e4m3 = binary_format<4, 3, 7, special_encoding::finite_nan_all_ones>;  ///< OCP E4M3 (E4M3FN), max 448
using e5m2 = binary_format<5, 2, 15, special_encoding::ieee>;                ///< OCP E5M2, max 57344
using e4m3fnuz = binary_format<4, 3, 8, special_encoding::finite_nan_negative_zero>;  ///< AMD MI300, max 240
using e5m2fnuz = binary_format<5, 2, 16, special_encoding::finite_nan_negative_zero>;  ///< AMD MI300, max 57344
/// OCP MX FP4 E2M1: max 6, min normal 1, smallest subnormal 0.5, no inf/NaN.
using e2m1 = binary_format<2, 1, 1, special_encoding::finite>;
/// OCP MX FP6 E2M3: max 7.5, min normal 1, smallest subnormal 0.125, no inf/NaN.
using e2m3 = binary_format<2, 3, 1, special_encoding::finite>;
/// OCP MX FP6 E3M2: max 28, min normal 0.25, smallest subnormal 0.0625, no inf/NaN.
using e3m2 = binary_format<3, 2, 3, special_encoding::finite>;
/// OCP MX E8M0 scale: 2^-127 (code 0x00) ... 2^127 (0xFE), 0xFF is NaN; unsigned, no zero.
using e8m0 = binary_format<8, 0, 127, special_encoding::unsigned_power_of_two>;
}  // namespace formats

}  // namespace mixprec
