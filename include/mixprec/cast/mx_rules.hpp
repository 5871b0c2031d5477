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
#include "mixprec/core/error.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
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

/// How quantize_mx (reference::quantize_mx, host::quantize_mx) chooses scales
/// and rounds elements.
struct mx_options {
  /// The scale rule: OCP's floor (default, the spec's) or NVIDIA's rceil.
  mx_scale_rule rule = mx_scale_rule::floor;
  /// The element rounding: any mixprec::rounding; elements always saturate
  /// (OCP MX §6.3 clamps them to ±max).
  rounding mode = rounding::nearest_even;
  /// Stochastic rounding only: element (r, c) of x rounds with
  /// stochastic_rounding_bits(seed, offset, r · cols + c), in both orientations.
  std::uint64_t seed = 0;
  /// See seed.
  std::uint64_t offset = 0;
  /// Where the scales go: compact row-major [lines, ceil(length / 32)], or
  /// cuBLASLt's 128x4 tiles for CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0
  /// (mixprec/gemm/block_scale_layout.hpp; padding written as 0x00).
  gemm::block_scale_layout scale_layout = gemm::block_scale_layout::compact;
};

/// Which way the blocks of a block quantization (MX: 32 elements, NVFP4: 16)
/// run.
enum class mx_orientation {
  /// Blocks of consecutive elements of a row of x: out is [rows, cols],
  /// scales [rows, ceil(cols / block)] (the A operand [M, K] of a GEMM, K = cols).
  rowwise,
  /// Blocks of consecutive elements of a column of x: out is xᵀ quantized,
  /// [cols, rows], scales [cols, ceil(rows / block)] (the copy whose blocks run
  /// along the other dimension, quantized from x itself).
  columnwise,
};

namespace cast {
namespace detail {

// rows · cols without overflow; both non-negative.
inline std::size_t mx_element_count(std::int64_t rows, std::int64_t cols, const char* who) {
  require(rows >= 0 && cols >= 0, who, ": rows = ", rows, " and cols = ", cols, " must not be negative");
  require(cols == 0 || rows <= INT64_MAX / cols, who, ": rows = ", rows, " times cols = ", cols,
          " overflows a 64-bit element count");
  return static_cast<std::size_t>(rows * cols);
}

// Blocks per line of `length` elements: ceil(length / block); the last block
// of a line may be partial (its missing elements count as zeros, which do
// not change amax).
inline std::size_t blocks_per_line(std::int64_t length, std::size_t block) {
  return (static_cast<std::size_t>(length) + block - 1) / block;
}

// The shape of a block quantization of x [rows, cols]: the quantized tensor y
// is x (rowwise) or xᵀ (columnwise), and lines of y hold the blocks.
struct block_quantize_shape {
  std::size_t elements = 0;     // rows · cols
  bool rowwise = true;
  std::int64_t lines = 0;       // rows of y
  std::int64_t length = 0;      // elements per line of y
  std::size_t blocks = 0;       // blocks per line
  std::size_t scale_count = 0;  // entries of the scale array, in its layout
};

inline void require_orientation(mx_orientation orientation, const char* who) {
  require(orientation == mx_orientation::rowwise || orientation == mx_orientation::columnwise, who,
          ": orientation = ", static_cast<int>(orientation), " is not a mixprec::mx_orientation enumerator");
}

// One array a quantizer reads or writes: its name in messages, where it
// starts and how many bytes it spans (SIZE_MAX when the count overflowed).
struct array_extent {
  const char* name;
  const void* begin;
  std::size_t bytes;
};

// The bytes of n elements of `size` bytes, or SIZE_MAX when that overflows
// (no array spans SIZE_MAX bytes, so require_disjoint_arrays rejects it).
constexpr std::size_t array_bytes(std::size_t n, std::size_t size) noexcept {
  return size != 0 && n > SIZE_MAX / size ? SIZE_MAX : n * size;
}

// Each array must end inside the address space, and no two may overlap:
// the quantizers write out and the scales while reading x, so an overlap
// would change the result (or its own input) silently. A null array is an
// optional output not asked for (null required arrays are rejected before).
inline void require_disjoint_arrays(const char* who, const array_extent* arrays, std::size_t count,
                                    const char* separator = ": ") {
  for (std::size_t i = 0; i < count; ++i) {
    const auto begin = reinterpret_cast<std::uintptr_t>(arrays[i].begin);
    require(arrays[i].begin == nullptr || (arrays[i].bytes != SIZE_MAX && arrays[i].bytes <= UINTPTR_MAX - begin), who,
            separator, arrays[i].name, " at ", arrays[i].begin, " with ", arrays[i].bytes,
            " bytes reaches beyond the address space (", SIZE_MAX,
            ": the element count times the element size overflows); the sizes must describe the arrays passed");
  }
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = i + 1; j < count; ++j) {
      if (arrays[i].begin == nullptr || arrays[j].begin == nullptr) continue;
      const auto a = reinterpret_cast<std::uintptr_t>(arrays[i].begin), b = reinterpret_cast<std::uintptr_t>(arrays[j].begin);
      require(a + arrays[i].bytes <= b || b + arrays[j].bytes <= a, who, separator, arrays[i].name, " [",
              arrays[i].begin, ", +", arrays[i].bytes, " bytes) and ", arrays[j].name, " [", arrays[j].begin, ", +",
              arrays[j].bytes,
              " bytes) overlap; quantize into separate buffers (elements, scales and x each their own)");
    }
}

// Every check of quantize_mx (the reference's and the host's: one list, so
// both reject the same calls with the same messages), before anything is
// written; returns the shape.
template <class Source, class Element>
block_quantize_shape check_mx_quantize(const Source* x, std::int64_t rows, std::int64_t cols, const Element* out,
                                       const float8_e8m0* scales, const mx_options& o, mx_orientation orientation,
                                       const char* who) {
  block_quantize_shape shape;
  shape.elements = mx_element_count(rows, cols, who);
  require(shape.elements == 0 || (x != nullptr && out != nullptr && scales != nullptr), who, ": ",
          x == nullptr ? "x" : out == nullptr ? "out" : "scales", " is null but rows * cols = ", shape.elements,
          "; pass arrays for every element and scale (null is accepted only without elements)");
  require(is_valid(o.rule), who, ": mx_options::rule = ", static_cast<int>(o.rule),
          " is not a mixprec::mx_scale_rule enumerator; pass mx_scale_rule::floor or mx_scale_rule::rceil");
  require(is_valid(o.mode), who, ": mx_options::mode = ", static_cast<int>(o.mode),
          " is not a mixprec::rounding enumerator; pass nearest_even, toward_zero, stochastic, upward or downward");
  require_orientation(orientation, who);
  shape.rowwise = orientation == mx_orientation::rowwise;
  shape.lines = shape.rowwise ? rows : cols;
  shape.length = shape.rowwise ? cols : rows;
  shape.blocks = blocks_per_line(shape.length, mx_block_size);
  shape.scale_count = gemm::block_scale_count(o.scale_layout, static_cast<std::size_t>(shape.lines), shape.blocks, who);
  if (shape.elements != 0) {
    const array_extent arrays[] = {{"x", x, array_bytes(shape.elements, sizeof(Source))},
                                   {"out", out, array_bytes(shape.elements, sizeof(Element))},
                                   {"scales", scales, array_bytes(shape.scale_count, sizeof(float8_e8m0))}};
    require_disjoint_arrays(who, arrays, 3);
  }
  return shape;
}

}  // namespace detail

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
  return float8_e8m0::from_bits(engine::encode<formats::e8m0>(mixprec::detail::widen_exactly(amax) / max_element,
                                                              rounding::upward, saturation::finite));
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
    value = mixprec::detail::widen_exactly(x) * mixprec::detail::widen_exactly(inverse);
  }
  return Element::from_bits(engine::encode<format>(value, mode, saturation::finite, random_bits));
}

/// The value of element q in a block with shared scale `scale`: q · X rounded
/// once to float (exact unless it leaves float's range); NaN for a NaN scale.
template <class Element>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float mx_decode(Element q, float8_e8m0 scale) noexcept {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  return mixprec::detail::round_to_float(static_cast<double>(q) * static_cast<double>(scale));
}

}  // namespace cast
}  // namespace mixprec
