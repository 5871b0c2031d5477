// mixprec/cast/mx_rules.hpp — the element and scale rules of OCP Microscaling
// (MX) block quantization, written once for the CPU reference
// (mixprec/reference/mx_quantize.hpp) and for device cast kernels, so that
// both give the same bits.
//
// OCP Microscaling Formats (MX) v1.0 §5: k = 32 consecutive elements along the
// reduction dimension share one E8M0 scale X; element i stores P_i with
// V_i ≈ X · P_i. Element formats: E4M3, E5M2 (MXFP8), E2M3, E3M2 (MXFP6),
// E2M1 (MXFP4).
//
// The scale (amax = the block's largest magnitude, NaN if it holds a NaN):
//  - mx_scale_rule::floor (OCP MX v1.0 §6.3): X = 2^(floor(log2 amax) − emax),
//    emax the exponent of the element format's largest normal (E4M3 8, E5M2 15,
//    E2M3 2, E3M2 4, E2M1 2). amax / X lies in [2^emax, 2^(emax+1)), which can
//    exceed max (E4M3: up to 511 > 448): those elements are clamped to ±max.
//  - mx_scale_rule::rceil (NVIDIA's: cuBLAS block-scaled GEMM inputs as
//    TransformerEngine produces them, the rounding of
//    cvt.rp.satfinite.ue8m0x2.f32): X = 2^ceil(log2(amax / max)), the smallest
//    power of two with amax / X <= max, so no element clamps. Here amax / max
//    is the exact quotient (computed in double, which decides the ceiling
//    exactly: the quotient is a power of two exactly when amax = max · 2^k).
//  - The exponent is clamped to E8M0's range [−127, 127] (only the bottom can
//    be reached, for amax below 2^(emax − 127); such blocks get X = 2^−127
//    and their elements underflow as the element rounding says).
//  - amax = 0 (an all-zero block): X = 2^−127 (0x00, E8M0 has no zero), every
//    element ±0.
//  - amax NaN or ±inf: X = NaN (0xFF): no finite scale represents the block,
//    and OCP MX §6.3 makes every value of a NaN-scaled block NaN; each element
//    is the conversion of NaN (E4M3/E5M2: the canonical NaN; FP6/FP4, which
//    have no NaN: +max).
//
// The elements: P_i = Element(V_i / X), rounded once from the exact quotient
// (V_i / X is exact in double: X is a power of two and double's range holds
// it) with the caller's rounding (nearest even by default, stochastic with the
// counter-based bits of the element's row-major source index), always with
// saturation::finite (the clamping of §6.3).
#pragma once

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/operations.hpp"

namespace mixprec {

/// How an MX block's shared E8M0 scale X follows from the block's largest
/// magnitude amax (see mixprec/cast/mx_rules.hpp for the special blocks).
enum class mx_scale_rule {
  /// OCP MX v1.0 §6.3: X = 2^(floor(log2 amax) − emax of the element format);
  /// elements beyond ±max are clamped.
  floor,
  /// NVIDIA's (cuBLAS, TransformerEngine, cvt.rp.satfinite.ue8m0x2.f32):
  /// X = 2^ceil(log2(amax / max of the element format)); nothing clamps.
  rceil,
};

/// Whether `rule` is one of mx_scale_rule's enumerators (a value cast from an
/// integer is not, and is rejected).
MIXPREC_HOST_DEVICE constexpr bool is_valid(mx_scale_rule rule) noexcept {
  return rule == mx_scale_rule::floor || rule == mx_scale_rule::rceil;
}

/// The MX block: 32 consecutive elements along the reduction dimension share
/// one scale (OCP MX v1.0 §5, k = 32).
constexpr std::size_t mx_block_size = 32;

/// Whether T is an OCP MX element type: float8_e4m3, float8_e5m2,
/// float6_e2m3, float6_e3m2 or float4_e2m1.
template <class T>
struct is_mx_element
    : std::integral_constant<bool, std::is_same<T, float8_e4m3>::value || std::is_same<T, float8_e5m2>::value ||
                                       std::is_same<T, float6_e2m3>::value || std::is_same<T, float6_e3m2>::value ||
                                       std::is_same<T, float4_e2m1>::value> {};

namespace cast {

/// The shared scale of an MX block of Element values whose largest magnitude
/// is `amax` (a magnitude: >= 0, +inf or NaN), by `rule`: see the file
/// comment for the rules and the special blocks (0 gives 2^−127, NaN and inf
/// give NaN). Exact: no rounding error enters the exponent.
template <class Element>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float8_e8m0 mx_scale(float amax, mx_scale_rule rule) noexcept {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  using format = typename Element::format;
  if (!(amax <= FLT_MAX)) return float8_e8m0::from_bits(0xFF);  // NaN or +inf: no finite scale
  if (rule == mx_scale_rule::floor) {
    // 2^floor(log2 amax) is E8M0's toward-zero rounding of amax (2^−127 for
    // amax <= 2^−127, zero included); dividing by 2^emax lowers the code by
    // emax, clamped at the bottom of E8M0's range.
    const int power = engine::encode<formats::e8m0>(amax, rounding::toward_zero, saturation::finite);
    const int code = power - format::max_exponent;
    return float8_e8m0::from_bits(static_cast<std::uint8_t>(code > 0 ? code : 0));
  }
  // The smallest power of two >= amax / max: E8M0's upward rounding of the
  // exact quotient (finite: amax / max < 2^127 for every element format).
  const double max_element = static_cast<double>(static_cast<float>(std::numeric_limits<Element>::max()));
  return float8_e8m0::from_bits(
      engine::encode<formats::e8m0>(static_cast<double>(amax) / max_element, rounding::upward, saturation::finite));
}

/// The element of value x in a block with shared scale `scale`:
/// Element(x / scale), rounded once with `mode` (rounding::stochastic uses
/// `random_bits`), clamped to ±max (saturation::finite). A NaN scale gives the
/// element's conversion of NaN.
template <class Element>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS Element mx_encode(float x, float8_e8m0 scale, rounding mode,
                                                             std::uint32_t random_bits) noexcept {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  using format = typename Element::format;
  double value = 0;
  if (isnan(scale)) {
    value = static_cast<double>(static_cast<float>(scale));  // NaN
  } else {
    // 1 / X = 2^(127 − (code − 127)) is the E8M0 code 254 − code, exactly a
    // float (2^−127 is a float subnormal); the product is exact in double.
    const float inverse = static_cast<float>(float8_e8m0::from_bits(static_cast<std::uint8_t>(254 - scale.bits())));
    value = static_cast<double>(x) * static_cast<double>(inverse);
  }
  return Element::from_bits(engine::encode<format>(value, mode, saturation::finite, random_bits));
}

/// The value of element q in a block with shared scale `scale`: q · X rounded
/// once to float (exact unless it leaves float's range); NaN for a NaN scale.
template <class Element>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float mx_decode(Element q, float8_e8m0 scale) noexcept {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  return static_cast<float>(static_cast<double>(static_cast<float>(q)) * static_cast<double>(static_cast<float>(scale)));
}

}  // namespace cast
}  // namespace mixprec
