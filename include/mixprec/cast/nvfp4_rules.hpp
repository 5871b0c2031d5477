// mixprec/cast/nvfp4_rules.hpp — the rules of NVFP4 block quantization,
// written once for the CPU reference (mixprec/reference/nvfp4_quantize.hpp)
// and for device cast kernels, so that both give the same bits.
//
// NVFP4 (NVIDIA, cuBLASLt CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3;
// TransformerEngine's NVFP4BlockScaling): E2M1 elements, 16 consecutive
// elements along the reduction dimension share one E4M3 block scale, and the
// tensor has one FP32 scale S ("S_enc" in TransformerEngine).
//
//  - Tensor scale (TransformerEngine, transformer_engine/common/cast/nvfp4/
//    core_nvfp4.cuh, compute_global_encode_scaling_factor_FP4):
//      S = 448 · 6 / amax(tensor), one float division (rounded to nearest);
//      FLT_MAX when that overflows (amax below 2688 / FLT_MAX);
//      1 when amax is 0 or +inf (2688 / inf = 0), as TE does, and 1 when amax
//      is NaN (TE's fminf would give FLT_MAX there; we give 1, so that a NaN
//      tensor keeps finite scales and its NaN blocks stay NaN, see below).
//    PyTorch's torchao (torchao/prototype/mx_formats/nvfp4_tensor.py,
//    per_tensor_amax_to_scale) keeps the decode side of the same rule,
//    amax / (448 · 6) = 1 / S.
//  - Block scale: d = E4M3(amax(block) · S / 6), rounded to nearest even with
//    saturation (satfinite: at most 448). Here the value amax · S / 6 is the
//    exact one: amax · S is exact in double (24 + 24 bits) and its quotient by
//    6 is rounded once; an E4M3 midpoint is a short dyadic rational, at a
//    relative distance of at least 2^−50 from any p / 6 that is not exactly
//    it, so that double quotient rounds to E4M3 as the exact value does.
//    TransformerEngine evaluates block_amax · (S_enc · (1/6)) in float first
//    (two float roundings), which can move a value lying within a few float
//    ulps of an E4M3 midpoint to the other side: then TE's code differs by
//    one. We keep the exact definition (mixprec rounds once).
//    A block with a NaN or an infinity gets d = NaN (0x7F): no finite scale
//    represents it (as MX's NaN scale, mixprec/cast/mx_rules.hpp; TE would
//    saturate an infinite block to 448 and lose the infinity silently).
//  - Element: q = E2M1(x · S / d) from the exact quotient (x · S exact in
//    double, one rounding of the division, again never across an E2M1 grid
//    point or midpoint), with the caller's rounding (nearest even by default,
//    stochastic with counter bits) and saturation: E2M1 clamps to ±6.
//    d = 0 (a block whose amax · S / 6 is below E4M3's smallest subnormal
//    half, 2^−10): every element is ±0 (x's sign), since every decode of
//    that block is 0 whatever the element (TE divides by 0, gets FLT_MAX as
//    the multiplier and stores ±6: same decoded values, other bytes).
//    d = NaN: the conversion of NaN, +6 (E2M1 has no NaN; the block decodes
//    to NaN through d).
//  - Decode: x ≈ q · d / S, evaluated as float(q · d / S): q · d exact, the
//    quotient rounded once to float (exact unless it leaves float's range).
//    This is what cuBLASLt computes for an NVFP4 GEMM with the per-tensor
//    scales passed as alpha = 1 / (S_a · S_b).
//
// The 16-point random Hadamard transform (TransformerEngine applies it to the
// column-wise operands of the wgrad GEMM: transformer_engine/pytorch/tensor/
// nvfp4_tensor.py, get_rht_matrix = diag(signs) · H16 / sqrt(16), applied as
// block (row vector) times that matrix): for 16 consecutive values x along the
// quantized dimension, signs s_i = ±1,
//     y_j = (1/4) Σ_i s_i · x_i · H_ij,    H_ij = (−1)^popcount(i & j)
// (Sylvester's H16, symmetric, H · H = 16 · I), and its inverse
//     x_i = s_i · (1/4) Σ_j H_ij · y_j,
// since (D H / 4)(D H / 4)ᵀ = I. Both evaluated in double by the fast
// Walsh–Hadamard butterfly (stages of span 1, 2, 4, 8; at each, v[i], v[i+h] ←
// v[i] + v[i+h], v[i] − v[i+h]), then scaled by 1/4 (exact) and rounded once to
// float; on the host every sum and that rounding are to nearest whatever its
// MXCSR (mixprec/core/exact_float.hpp). The double sums are exact whenever
// the 16 inputs span at most 2^25 in magnitude (24 + 4 + 25 <= 53 bits), so
// the result is then the exact transform rounded once; the round trip is
// exact when every intermediate is (integers below 2^18, for instance). A GEMM of two operands transformed
// with the same signs along K needs no inverse: Aᵀ(DH/4)(DH/4)ᵀB = AᵀB.
#pragma once

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/format.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"
#include "mixprec/types/operations.hpp"

namespace mixprec {

/// The NVFP4 block: 16 consecutive elements along the reduction dimension
/// share one E4M3 scale (cuBLASLt CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3).
constexpr std::size_t nvfp4_block_size = 16;

/// 448 · 6: E4M3's max times E2M1's max, the numerator of the NVFP4 tensor
/// scale S = 2688 / amax (TransformerEngine's fp8_max · fp4_max).
constexpr float nvfp4_tensor_scale_numerator = 448.0f * 6.0f;

/// The points of the random Hadamard transform: 16 (TransformerEngine's
/// hadamard_dimension for NVFP4).
constexpr std::size_t hadamard_size = 16;

/// TransformerEngine's fixed sign vector for the wgrad RHT,
/// get_wgrad_sign_vector() = [1, 1, 1, −1, 1, −1, −1, −1, −1, −1, −1, 1, −1, 1,
/// −1, −1], as a mask (bit i set: s_i = −1; TE's get_sign_from_vector).
constexpr std::uint16_t transformer_engine_hadamard_signs = 0xD7E8;

/// How quantize_nvfp4 (reference::quantize_nvfp4, host::quantize_nvfp4) rounds elements and shapes its blocks and scales.
struct nvfp4_options {
  /// The element rounding: any mixprec::rounding (nearest_even by default;
  /// stochastic for gradients); elements always saturate to ±6.
  rounding mode = rounding::nearest_even;
  /// Stochastic rounding only: element (r, c) of x rounds with
  /// stochastic_rounding_bits(seed, offset, r · cols + c), in both orientations.
  std::uint64_t seed = 0;
  /// See seed.
  std::uint64_t offset = 0;
  /// One scale per 16x16 tile instead of per 16 elements of a line (weights
  /// in TE's recipe); the scale is stored once per row of its tile.
  bool two_dimensional_blocks = false;
  /// Apply the 16-point random Hadamard transform along the quantized
  /// dimension before quantizing (the wgrad operands in TE's recipe). Needs a
  /// quantized dimension that is a multiple of 16; not with
  /// two_dimensional_blocks.
  bool random_hadamard = false;
  /// The transform's signs (bit i set: s_i = −1); TransformerEngine's fixed
  /// vector by default, cast::random_hadamard_signs(seed) for others.
  std::uint16_t hadamard_signs = transformer_engine_hadamard_signs;
  /// Where the block scales go: compact row-major, or cuBLASLt's tiles.
  gemm::block_scale_layout scale_layout = gemm::block_scale_layout::compact;
};

namespace cast {
namespace detail {

// The option checks quantize_nvfp4 and dequantize_nvfp4 share (the
// reference's, the host's and the device kernels'); returns the number
// of scale entries the block-scale array must hold.
inline std::size_t nvfp4_validate(const nvfp4_options& o, std::int64_t lines, std::int64_t length, const char* who) {
  require(is_valid(o.mode), who, ": nvfp4_options::mode = ", static_cast<int>(o.mode),
          " is not a mixprec::rounding enumerator; pass nearest_even, toward_zero, stochastic, upward or downward");
  require(!(o.random_hadamard && o.two_dimensional_blocks), who,
          ": random_hadamard and two_dimensional_blocks are both set; the transform runs along one dimension and "
          "would break the 16x16 tiles' symmetry (TransformerEngine applies it only to 1x16 column-wise operands): "
          "choose one");
  require(!o.random_hadamard || length % static_cast<std::int64_t>(hadamard_size) == 0, who,
          ": random_hadamard needs the quantized dimension to be a multiple of 16, but it is ", length,
          "; pad it with zeros to a multiple of 16 or quantize without the transform");
  const std::size_t blocks = (static_cast<std::size_t>(length) + nvfp4_block_size - 1) / nvfp4_block_size;
  return gemm::block_scale_count(o.scale_layout, static_cast<std::size_t>(lines), blocks, who);
}

// Every check of quantize_nvfp4 and quantize_nvfp4_packed (the reference's
// and the host's: one list, so both reject the same calls with the same
// messages), before anything is written; returns the shape. Storage is
// float4_e2m1 (one element per byte) or float4_e2m1x2 (two per byte, element
// 2t of a line in byte t's low nibble: the quantized dimension must be even
// so that each line starts on a byte, and out spans elements / 2 bytes).
template <class Source, class Storage>
block_quantize_shape check_nvfp4_quantize(const Source* x, std::int64_t rows, std::int64_t cols, const Storage* out,
                                          const float8_e4m3* block_scales, const nvfp4_options& o,
                                          mx_orientation orientation, const char* who) {
  constexpr bool packed = std::is_same<Storage, float4_e2m1x2>::value;
  static_assert(packed || std::is_same<Storage, float4_e2m1>::value, "NVFP4 elements are float4_e2m1 or float4_e2m1x2");
  block_quantize_shape shape;
  shape.elements = mx_element_count(rows, cols, who);
  if constexpr (packed) {
    const std::int64_t packed_length = orientation == mx_orientation::columnwise ? rows : cols;
    require(packed_length % 2 == 0, who, ": the quantized dimension is ", packed_length,
            ", odd, but packed lines hold two elements per byte; pad it to an even length or use quantize_nvfp4");
    require(shape.elements == 0 || out != nullptr, who, ": out is null but rows * cols = ", shape.elements);
  }
  require_orientation(orientation, who);
  shape.rowwise = orientation == mx_orientation::rowwise;
  shape.lines = shape.rowwise ? rows : cols;
  shape.length = shape.rowwise ? cols : rows;
  shape.blocks = blocks_per_line(shape.length, nvfp4_block_size);
  shape.scale_count = nvfp4_validate(o, shape.lines, shape.length, who);
  require(shape.elements == 0 || (x != nullptr && out != nullptr && block_scales != nullptr), who, ": ",
          x == nullptr     ? "x"
          : out == nullptr ? "out"
                           : "block_scales",
          " is null but rows * cols = ", shape.elements,
          "; pass arrays for every element and scale (null is accepted only without elements)");
  if (shape.elements != 0) {
    const array_extent arrays[] = {{"x", x, array_bytes(shape.elements, sizeof(Source))},
                                   {"out", out, packed ? shape.elements / 2 : shape.elements},
                                   {"block_scales", block_scales, array_bytes(shape.scale_count, sizeof(float8_e4m3))}};
    require_disjoint_arrays(who, arrays, 3);
  }
  return shape;
}

}  // namespace detail

/// The NVFP4 tensor scale S (dimensionless, a float multiplier) for a tensor
/// whose largest magnitude is `amax` (>= 0, +inf or NaN): 2688 / amax rounded
/// to nearest, FLT_MAX if that overflows, 1 for amax 0, +inf or NaN (see
/// mixprec/cast/nvfp4_rules.hpp).
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float nvfp4_tensor_scale(float amax) noexcept {
  // Bits, not float compares (DAZ would take a subnormal amax for 0).
  const std::uint32_t bits = mixprec::detail::bit_cast<std::uint32_t>(amax);
  if (bits == 0 || bits >= 0x7F800000u) return 1.0f;  // 0, NaN or +inf (or no magnitude)
  const float scale = mixprec::detail::divide_nearest(nvfp4_tensor_scale_numerator, amax);
  return scale <= FLT_MAX ? scale : FLT_MAX;  // TE: fminf(scale, FLT_MAX)
}

/// The E4M3 scale of an NVFP4 block whose largest magnitude is `block_amax`
/// (>= 0, +inf or NaN) in a tensor of scale `tensor_scale` (a finite
/// positive float, as nvfp4_tensor_scale gives): E4M3(block_amax ·
/// tensor_scale / 6) rounded once from the exact value, nearest even,
/// saturated at 448; NaN (0x7F) for an infinite or NaN block.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float8_e4m3 nvfp4_block_scale(float block_amax,
                                                                         float tensor_scale) noexcept {
  if (!(block_amax <= FLT_MAX)) return float8_e4m3::from_bits(0x7F);  // NaN or +inf: no finite scale
  const double value = mixprec::detail::widen_exactly(block_amax) * mixprec::detail::widen_exactly(tensor_scale) / 6.0;
  return float8_e4m3::from_bits(engine::encode<formats::e4m3>(value, rounding::nearest_even, saturation::finite));
}

/// The E2M1 element of value x in an NVFP4 block of scale `block_scale` in a
/// tensor of scale `tensor_scale`: E2M1(x · tensor_scale / block_scale)
/// rounded once with `mode` (rounding::stochastic uses `random_bits`),
/// clamped to ±6; ±0 for a zero block scale, +6 (E2M1's conversion of NaN)
/// for a NaN one. Precondition: tensor_scale finite and positive.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float4_e2m1 nvfp4_encode(float x, float8_e4m3 block_scale,
                                                                    float tensor_scale, rounding mode,
                                                                    std::uint32_t random_bits) noexcept {
  const float d = static_cast<float>(block_scale);
  double value = 0;
  if (isnan(block_scale)) {
    value = static_cast<double>(d);  // NaN
  } else if (d == 0.0f) {
    value = static_cast<double>(x) * 0.0;  // ±0: the block decodes to 0 whatever its elements
  } else {
    // x widened exactly whatever DAZ says; S and d are normal floats.
    value = mixprec::detail::widen_exactly(x) * static_cast<double>(tensor_scale) / static_cast<double>(d);
  }
  return float4_e2m1::from_bits(engine::encode<formats::e2m1>(value, mode, saturation::finite, random_bits));
}

/// The value of NVFP4 element q: float(q · block_scale / tensor_scale), q ·
/// block_scale exact, the quotient rounded once (exact unless it leaves
/// float's range); NaN for a NaN block scale. Precondition: tensor_scale
/// finite and positive.
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS float nvfp4_decode(float4_e2m1 q, float8_e4m3 block_scale,
                                                              float tensor_scale) noexcept {
  return mixprec::detail::round_to_float(static_cast<double>(q) * static_cast<double>(block_scale) /
                                         mixprec::detail::widen_exactly(tensor_scale));
}

/// A sign mask for the random Hadamard transform drawn from `seed` with
/// mixprec's counter-based generator: bit i (s_i = −1 when set) is the top
/// bit of stochastic_rounding_bits(seed, 0, i). Fixed for a seed, so both
/// operands of a GEMM can use the same signs.
MIXPREC_HOST_DEVICE constexpr std::uint16_t random_hadamard_signs(std::uint64_t seed) noexcept {
  std::uint16_t mask = 0;
  for (std::uint64_t i = 0; i < hadamard_size; ++i)
    mask = static_cast<std::uint16_t>(mask | ((stochastic_rounding_bits(seed, 0, i) >> 31) << i));
  return mask;
}

namespace detail {

// The quiet NaN the GPU's float arithmetic returns for every NaN result.
constexpr std::uint32_t canonical_float_nan_bits = 0x7FFFFFFFu;

// The transform with the given steps: widen (float to double), add (double
// sum) and narrow (double to float).
template <class Widen, class Add, class Narrow>
MIXPREC_HOST_DEVICE inline void hadamard_transform_with(const float* in, float* out, std::uint16_t signs, bool inverse,
                                                        Widen widen, Add add, Narrow narrow) noexcept {
  double v[hadamard_size] = {};
  for (std::size_t i = 0; i < hadamard_size; ++i) {
    const double x = widen(in[i]);
    v[i] = (!inverse && ((signs >> i) & 1u) != 0) ? -x : x;
  }
  for (std::size_t span = 1; span < hadamard_size; span *= 2)
    for (std::size_t start = 0; start < hadamard_size; start += 2 * span)
      for (std::size_t i = start; i < start + span; ++i) {
        const double a = v[i], b = v[i + span];
        v[i] = add(a, b);
        v[i + span] = add(a, -b);
      }
  for (std::size_t i = 0; i < hadamard_size; ++i) {
    const double y = v[i] * 0.25;  // 1 / sqrt(16), exact
    // A NaN output is the canonical NaN, as the GPU's arithmetic gives: which
    // NaN a sum of two NaNs returns depends on the order the compiler put
    // the operands in (x86 returns the first), and negation flips its sign.
    const bool nan = (mixprec::detail::bit_cast<std::uint64_t>(y) & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull;
    out[i] = nan ? mixprec::detail::bit_cast<float>(canonical_float_nan_bits)
                 : narrow((inverse && ((signs >> i) & 1u) != 0) ? -y : y);
  }
}

}  // namespace detail

/// The 16-point random Hadamard transform of in[0..16) into out[0..16)
/// (forward: y_j = (1/4) Σ_i s_i x_i H_ij; inverse: x_i = s_i (1/4) Σ_j H_ij
/// y_j), with s_i = −1 where bit i of `signs` is set; evaluated in double by
/// the butterfly and rounded once to float (see
/// mixprec/cast/nvfp4_rules.hpp). in and out may be the same array.
/// Non-finite inputs propagate (inf − inf gives NaN) as in any matrix product;
/// every NaN output is the canonical NaN 0x7FFFFFFF, on the host and on the
/// device alike.
MIXPREC_HOST_DEVICE inline void random_hadamard_transform(const float* in, float* out, std::uint16_t signs,
                                                          bool inverse) noexcept {
  // In the default floating-point environment (always on the device) the
  // hardware's double arithmetic is the definition; under another host MXCSR
  // the same steps are taken to nearest in integer code
  // (mixprec/core/exact_float.hpp).
  if (mixprec::detail::default_float_environment())
    detail::hadamard_transform_with(
        in, out, signs, inverse, [](float x) { return static_cast<double>(x); },
        [](double a, double b) { return a + b; }, [](double y) { return static_cast<float>(y); });
  else
    detail::hadamard_transform_with(
        in, out, signs, inverse, [](float x) { return mixprec::detail::widen_exactly(x); },
        [](double a, double b) { return mixprec::detail::add_nearest(a, b); },
        [](double y) { return mixprec::detail::round_to_float(y); });
}

}  // namespace cast
}  // namespace mixprec
