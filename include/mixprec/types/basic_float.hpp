/// \file
/// mixprec/types/basic_float.hpp — one value type for every format.
///
/// basic_float<Format> is a trivially copyable wrapper of the storage bits:
/// sizeof equals the storage, so arrays move to and from device memory as they
/// are. Every conversion goes through the engine (mixprec/core/engine.hpp).
#pragma once

#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/rounding.hpp"

namespace mixprec {

/// Interoperation with other libraries' types of the same format (CUDA's
/// __half, __nv_fp8_e4m3, ...) is declared by specialising this trait with
/// \code
///   using value_type = /* the mixprec type */;
///   static storage_type to_bits(const Foreign&);  static Foreign from_bits(storage_type);
/// \endcode
/// mixprec/types/cuda_interop.hpp does so for CUDA's types. The primary template
/// is declared only.
template <class Foreign>
struct foreign_float_traits;

namespace detail {
template <class Foreign, class Value, class = void>
struct is_foreign_of : std::false_type {};
template <class Foreign, class Value>
struct is_foreign_of<Foreign, Value, std::enable_if_t<std::is_same<typename foreign_float_traits<Foreign>::value_type, Value>::value>>
    : std::true_type {};
}  // namespace detail

/// A floating-point value of format `Format` (a binary_format), stored as its bits.
///
/// Trivially copyable and standard layout, `sizeof` equal to `Format::storage_type`.
/// Conversions round through the engine; arithmetic and comparisons are in
/// types/operations.hpp, convert() with explicit rounding in types/convert.hpp.
template <class Format>
class basic_float {
 public:
  using format = Format;  ///< The binary_format this type stores.
  using storage_type = typename Format::storage_type;  ///< Unsigned integer holding the bits.

  /// The 8-bit formats saturate by default, as CUDA's __nv_fp8_* constructors
  /// and Hopper's cvt.satfinite do; wider formats overflow to infinity, as
  /// IEEE 754 and __float2half_rn do. (FP6 and FP4 saturate under either
  /// policy: they have neither infinity nor NaN.)
  static constexpr saturation default_saturation = Format::total_bits <= 8 ? saturation::finite : saturation::none;

  /// Trivial: uninitialised like float; value-initialisation gives +0.
  basic_float() = default;

  /// Round to nearest even with the default saturation (== `convert<basic_float>(x)`).
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS explicit basic_float(float x) noexcept
      : bits_(engine::encode<Format>(x, rounding::nearest_even, default_saturation)) {}
  /// A double is rounded once, never through float (nearest even, default saturation).
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS explicit basic_float(double x) noexcept
      : bits_(engine::encode<Format>(x, rounding::nearest_even, default_saturation)) {}
  /// Integers are rounded exactly once, whatever their width (nearest even, default saturation).
  template <class Integer, std::enable_if_t<std::is_integral<Integer>::value, int> = 0>
  MIXPREC_HOST_DEVICE constexpr explicit basic_float(Integer value) noexcept
      : bits_(engine::round_value<Format>(is_negative(value), magnitude_of(value), 0, rounding::nearest_even,
                                          default_saturation)) {}

  /// A value of another library's type of the same format converts losslessly
  /// (a bit copy; enabled where foreign_float_traits<Foreign> names this type).
  template <class Foreign, std::enable_if_t<detail::is_foreign_of<Foreign, basic_float>::value, int> = 0>
  MIXPREC_HOST_DEVICE basic_float(const Foreign& value) noexcept  // NOLINT(google-explicit-constructor)
      : bits_(foreign_float_traits<Foreign>::to_bits(value)) {}
  /// Implicit, lossless conversion to another library's type of the same format (a bit copy).
  template <class Foreign, std::enable_if_t<detail::is_foreign_of<Foreign, basic_float>::value, int> = 0>
  MIXPREC_HOST_DEVICE operator Foreign() const noexcept {  // NOLINT(google-explicit-constructor)
    return foreign_float_traits<Foreign>::from_bits(bits_);
  }

  /// The value whose code is `bits`. Bits above Format::total_bits (a 4- or
  /// 6-bit code in its byte) are cleared, so every value holds a valid code.
  /// The value whose encoding is `bits` (any code, NaN included; no rounding).
  MIXPREC_HOST_DEVICE static constexpr basic_float from_bits(storage_type bits) noexcept {
    basic_float value{};
    value.bits_ = static_cast<storage_type>(bits & Format::code_mask);
    return value;
  }
  /// The encoding of this value.
  MIXPREC_HOST_DEVICE constexpr storage_type bits() const noexcept { return bits_; }

  /// Exact: every value of every mixprec format is a float. NaN keeps its sign
  /// and payload and is made quiet (IEEE 754 §6.2.3); fnuz's NaN gives +NaN.
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS explicit operator float() const noexcept {
    return mixprec::detail::bit_cast<float>(engine::decode_to_binary32<Format>(bits_));
  }
  /// Exact, through the float conversion (whose subnormals, e.g. bfloat16's,
  /// widen by moving fields: the host's DAZ cannot flush them).
  MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS explicit operator double() const noexcept {
    return mixprec::detail::widen_exactly(static_cast<float>(*this));
  }

  /// Flips the sign bit; in the fnuz formats 0 and NaN are their own negation.
  MIXPREC_HOST_DEVICE constexpr basic_float operator-() const noexcept {
    static_assert(Format::has_sign, "an unsigned format (float8_e8m0) has no negation");
    // fnuz has no -0 and one NaN (the would-be -0): both are their own negation.
    if (!Format::has_negative_zero && (bits_ & Format::magnitude_mask) == 0) return *this;
    return from_bits(static_cast<storage_type>(bits_ ^ Format::sign_mask));
  }
  /// The value itself, bits unchanged.
  MIXPREC_HOST_DEVICE constexpr basic_float operator+() const noexcept { return *this; }

 private:
  template <class Integer>
  MIXPREC_HOST_DEVICE static constexpr bool is_negative(Integer value) noexcept {
    if constexpr (std::is_signed<Integer>::value) return value < 0;
    (void)value;
    return false;
  }
  template <class Integer>
  MIXPREC_HOST_DEVICE static constexpr std::uint64_t magnitude_of(Integer value) noexcept {
    // Two's complement negation in unsigned arithmetic: exact for the minimum too.
    return is_negative(value) ? std::uint64_t{0} - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  }

  storage_type bits_;
};

using float16 = basic_float<formats::binary16>;  ///< IEEE 754 binary16 (CUDA __half); overflows to ±inf by default.
using bfloat16 = basic_float<formats::bfloat16>;  ///< bfloat16 (CUDA __nv_bfloat16): float's exponent, 7 mantissa bits; overflows to ±inf by default.
using float8_e4m3 = basic_float<formats::e4m3>;  ///< OCP FP8 E4M3 (E4M3FN, CUDA __nv_fp8_e4m3): max 448, no inf, NaN 0x7F/0xFF; saturates by default.
using float8_e5m2 = basic_float<formats::e5m2>;  ///< OCP FP8 E5M2 (CUDA __nv_fp8_e5m2): max 57344, IEEE inf and NaN; saturates by default.
using float8_e4m3fnuz = basic_float<formats::e4m3fnuz>;  ///< AMD's E4M3 FNUZ: bias 8, max 240, no −0, NaN 0x80 only; saturates by default.
using float8_e5m2fnuz = basic_float<formats::e5m2fnuz>;  ///< AMD's E5M2 FNUZ: bias 16, max 57344, no inf, no −0, NaN 0x80 only; saturates by default.
/// OCP MX FP4 E2M1 (ml_dtypes float4_e2m1fn, CUDA __nv_fp4_e2m1), one value
/// per byte in the low 4 bits: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}; no inf or NaN,
/// so every conversion saturates and NaN becomes +6.
using float4_e2m1 = basic_float<formats::e2m1>;
/// OCP MX FP6 E2M3 (ml_dtypes float6_e2m3fn, CUDA __nv_fp6_e2m3), one value
/// per byte in the low 6 bits: max 7.5, steps of 0.125; no inf or NaN.
using float6_e2m3 = basic_float<formats::e2m3>;
/// OCP MX FP6 E3M2 (ml_dtypes float6_e3m2fn, CUDA __nv_fp6_e3m2), one value
/// per byte in the low 6 bits: max 28, smallest 0.0625; no inf or NaN.
using float6_e3m2 = basic_float<formats::e3m2>;
/// OCP MX E8M0 scale (ml_dtypes float8_e8m0fnu, CUDA __nv_fp8_e8m0): the
/// powers of two 2^-127 (0x00) ... 2^127 (0xFE) and NaN (0xFF); no sign, no
/// zero, no infinity. Conversions encode |x|; zero and everything below
/// 2^-127 give 2^-127 (so arithmetic results, rounded back, are magnitudes;
/// unary minus does not compile). Note: the constructor rounds to nearest (ties to the
/// even exponent), while CUDA's __nv_fp8_e8m0(float) rounds up
/// (cudaRoundPosInf); use convert<float8_e8m0>(x, rounding::upward) for that.
using float8_e8m0 = basic_float<formats::e8m0>;

/// True (`value`) when T is a specialisation of basic_float.
template <class T>
struct is_basic_float : std::false_type {};
template <class Format>
struct is_basic_float<basic_float<Format>> : std::true_type {};

}  // namespace mixprec
