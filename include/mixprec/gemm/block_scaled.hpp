// mixprec/gemm/block_scaled.hpp — the description and the rules of one
// block-scaled (microscaling) GEMM: MX (CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0,
// elements E4M3, E5M2, E2M3, E3M2, E2M1) and NVFP4
// (CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3, E2M1 elements):
//
//   D[i, j] = alpha · Σ_k (q_a[i, k] · X_a[i, k / block]) · (q_b[j, k] · X_b[j, k / block])
//
// A [M, K] and B [N, K], both K-contiguous ("TN", as gemm::problem), D [M, N].
// X is the block's decoded scale: 2^e for MX's E8M0, the E4M3 value d for
// NVFP4. NVFP4's per-tensor scales S_a, S_b are not part of the sum: the caller
// folds them into alpha = alpha_0 / (S_a · S_b) (nvfp4_alpha), which is how a
// cuBLASLt NVFP4 GEMM receives them (TransformerEngine passes the product of
// the tensor decode scales as alpha).
//
// A separate description from gemm::problem (whose element types and scale
// modes are FP8's): this one names the block element types, the scale type
// and layout, and FP4 packing, none of which an FP8 operand has.
//
// Rules:
//   validate(p)                       what the problem must satisfy to mean
//                                     anything; the CPU reference
//                                     (mixprec/reference/block_scaled_gemm.hpp)
//                                     checks it.
//   validate_for_cublaslt(p, device)  plus what cuBLASLt needs. Sources:
//     [cublasLt.h] /usr/local/cuda/include/cublasLt.h, cublasLtMatmulMatrixScale_t
//       (VEC16_UE4M3: one CUDA_R_8F_UE4M3 per 16 elements of the innermost
//       dimension; VEC32_UE8M0: CUDA_R_8F_UE8M0 per 32), and library_types.h
//       (CUDA_R_4F_E2M1 is packed FP4; CUDA_R_6F_E2M3/E3M2 exist as types).
//     [cuBLAS scaling] cuBLAS docs, "Narrow Precision Data Types Usage":
//       block-scaled modes on compute capability 10.x and 12.x (Blackwell),
//       not on 9.x (the "Scaling Mode Support Overview" table, also cited in
//       mixprec/gemm/validate.hpp); scales in the "1D Block Scaling Factors
//       Layout" (mixprec/gemm/block_scale_layout.hpp).
//     [cuBLAS matmul] cuBLAS docs, cublasLtMatmul(): the narrow-precision
//       kernels need the "TN" layout and 16-byte aligned data and leading
//       dimensions (the FP8 rule of mixprec/gemm/validate.hpp, applied here
//       to the packed bytes).
//   mixprec's own conservative rules, not quoted from the docs: K a multiple
//   of the block (the tiled scale matrix describes whole blocks; a partial
//   last block is padded by the caller), and no FP6 operands (no FP6 storage
//   layout is documented for cuBLASLt; see the README's microscaling notes).
//   Nothing here is confirmed on a GPU (none has been available);
//   cuBLASLt's own status remains the last word.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>

#include "mixprec/core/engine.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/gemm/validate.hpp"

namespace mixprec {
namespace gemm {

/// The block-scaling family of a block-scaled GEMM, named after cuBLASLt's
/// scale mode.
enum class block_scaling : std::uint8_t {
  /// OCP MX: one E8M0 scale per 32 elements of K (CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0).
  mx_vec32_ue8m0,
  /// NVFP4: one E4M3 scale per 16 elements of K (CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3);
  /// the tensor scales go into alpha.
  nvfp4_vec16_ue4m3,
};

/// The element type of a block-scaled operand.
enum class block_element : std::uint8_t { float8_e4m3, float8_e5m2, float6_e2m3, float6_e3m2, float4_e2m1 };

/// The name of `scaling` ("mx_vec32_ue8m0", "nvfp4_vec16_ue4m3").
constexpr const char* to_string(block_scaling scaling) noexcept {
  switch (scaling) {
    case block_scaling::mx_vec32_ue8m0:
      return "mx_vec32_ue8m0";
    case block_scaling::nvfp4_vec16_ue4m3:
      return "nvfp4_vec16_ue4m3";
  }
  return "unknown block scaling";
}
/// The name of `type` ("float8_e4m3", ..., "float4_e2m1").
constexpr const char* to_string(block_element type) noexcept {
  switch (type) {
    case block_element::float8_e4m3:
      return "float8_e4m3";
    case block_element::float8_e5m2:
      return "float8_e5m2";
    case block_element::float6_e2m3:
      return "float6_e2m3";
    case block_element::float6_e3m2:
      return "float6_e3m2";
    case block_element::float4_e2m1:
      return "float4_e2m1";
  }
  return "unknown block element";
}
/// Streams to_string(scaling).
inline std::ostream& operator<<(std::ostream& out, block_scaling scaling) { return out << to_string(scaling); }
/// Streams to_string(type).
inline std::ostream& operator<<(std::ostream& out, block_element type) { return out << to_string(type); }

/// Whether `scaling` is one of block_scaling's enumerators.
constexpr bool is_valid(block_scaling scaling) noexcept {
  return scaling == block_scaling::mx_vec32_ue8m0 || scaling == block_scaling::nvfp4_vec16_ue4m3;
}
/// Whether `type` is one of block_element's enumerators.
constexpr bool is_valid(block_element type) noexcept { return static_cast<unsigned>(type) <= 4u; }

/// Elements per scale: 32 (MX) or 16 (NVFP4). Precondition: a valid scaling.
constexpr std::int64_t block_size_of(block_scaling scaling) noexcept {
  return scaling == block_scaling::mx_vec32_ue8m0 ? 32 : 16;
}

/// The first cuBLASLt release with block-scaled (VEC16/VEC32) matmul: 12.8
/// (CUDA 12.8, the first toolkit with sm_100).
constexpr std::size_t cublaslt_version_block_scaled = 120800;

/// A or B of a block-scaled GEMM: [rows, K] row-major (rows = M for A, N for B).
struct block_scaled_operand {
  /// The element type; NVFP4 operands are float4_e2m1.
  block_element type = block_element::float8_e4m3;
  /// The elements: one per byte (mixprec's value types), or for float4_e2m1
  /// with `packed` two per byte (float4_e2m1x2: element 2t in the low nibble
  /// of byte t, CUDA's __nv_fp4x2 / CUDA_R_4F_E2M1).
  const void* data = nullptr;
  /// Elements (not bytes) from one row to the next, >= K; even when packed.
  std::int64_t ld = 0;
  /// float4_e2m1 only: two elements per byte (cuBLASLt requires it).
  bool packed = false;
  /// The block scales: float8_e8m0 (MX) or float8_e4m3 (NVFP4), ceil(K /
  /// block) per row, in `scale_layout`.
  const void* scales = nullptr;
  /// How the scales are stored (cuBLASLt needs cublaslt_tiled).
  block_scale_layout scale_layout = block_scale_layout::compact;
};

/// One block-scaled GEMM: D = alpha · (X_a ⊙ A) · (X_b ⊙ B)ᵀ (see
/// mixprec/gemm/block_scaled.hpp). D is float32, bfloat16 or float16 (an
/// output_operand; its scale and amax fields must be null).
struct block_scaled_problem {
  std::int64_t m = 0;  ///< Rows of A and D.
  std::int64_t n = 0;  ///< Rows of B, columns of D.
  std::int64_t k = 0;  ///< The reduction length: columns of A and B.
  /// MX or NVFP4.
  block_scaling scaling = block_scaling::mx_vec32_ue8m0;
  block_scaled_operand a;  ///< A [m, k] with its block scales.
  block_scaled_operand b;  ///< B [n, k] with its block scales.
  /// The output.
  output_operand d;
  /// The multiplier of the sum (NVFP4: includes 1 / (S_a · S_b), see nvfp4_alpha).
  float alpha = 1.0f;
};

/// "M=128 N=256 K=64 nvfp4_vec16_ue4m3 A=float4_e2m1 (packed, lda=64, scales cublaslt_tiled) B=... D=float32
/// (ldd=256) alpha=1": what was asked, for error messages.
inline std::string describe(const block_scaled_problem& p) {
  const mixprec::detail::default_environment_while_formatting environment;  // alpha, beta as they are
  std::ostringstream out;
  const auto operand = [&out](const char* name, const block_scaled_operand& x) {
    out << ' ' << name << '=' << x.type << " (" << (x.packed ? "packed, " : "") << "ld=" << x.ld << ", scales "
        << (x.scale_layout == block_scale_layout::compact ? "compact" : "cublaslt_tiled") << ')';
  };
  out << "M=" << p.m << " N=" << p.n << " K=" << p.k << ' ' << p.scaling;
  operand("A", p.a);
  operand("B", p.b);
  out << " D=" << p.d.type << " (ldd=" << p.d.ld << ") alpha=" << p.alpha;
  return out.str();
}

namespace detail {

// float(a / (s_a · s_b)) in double as the default environment computes it —
// the product exact, the quotient rounded to the nearest double, then to the
// nearest float — whatever the host's MXCSR: the operands widened exactly,
// and where MXCSR is not in its default state the significands divided as
// integers (62 quotient bits and a sticky bit) and rounded by the engine.
// s_a and s_b are finite and positive.
inline float divide_by_product_nearest(float a, float s_a, float s_b) noexcept {
  using mixprec::detail::widen_exactly;
  const double numerator = widen_exactly(a), product = widen_exactly(s_a) * widen_exactly(s_b);  // exact, normal
  const std::uint64_t a_bits = mixprec::detail::bit_cast<std::uint64_t>(numerator);
  using binary64 = formats::binary64;
  if (mixprec::detail::default_float_environment() || (a_bits & binary64::magnitude_mask) == 0 ||
      (a_bits & binary64::infinity_magnitude) == binary64::infinity_magnitude)
    return mixprec::detail::round_to_float(numerator / product);  // exact for 0, inf and NaN in every mode
  const mixprec::detail::unpacked_double x = mixprec::detail::unpack_double(a_bits);
  const mixprec::detail::unpacked_double y =
      mixprec::detail::unpack_double(mixprec::detail::bit_cast<std::uint64_t>(product));
  __extension__ typedef unsigned __int128 wide;
  const wide dividend = static_cast<wide>(x.significand) << 62;                // both significands in [2^52, 2^53)
  const auto quotient = static_cast<std::uint64_t>(dividend / y.significand);  // in (2^61, 2^63)
  const bool inexact = dividend % y.significand != 0;
  const double rounded = mixprec::detail::bit_cast<double>(static_cast<std::uint64_t>(
      engine::round_value<formats::binary64>(x.negative, quotient | (inexact ? 1u : 0u), x.exponent - y.exponent - 62,
                                             rounding::nearest_even, saturation::none)));
  return mixprec::detail::round_to_float(rounded);
}

}  // namespace detail

/// alpha for an NVFP4 GEMM of operands with tensor scales s_a and s_b (the
/// S of quantize_nvfp4, values decode as q · d / S): float(alpha0 / (s_a ·
/// s_b)), the quotient in double (s_a · s_b is exact there) rounded to
/// float; the same bits whatever the host's floating-point environment.
/// @throws mixprec::error when s_a or s_b is not finite and positive, when
///         alpha0 is not finite, and when the quotient overflows float (a
///         GEMM with an infinite alpha gives no finite output).
inline float nvfp4_alpha(float s_a, float s_b, float alpha0 = 1.0f) {
  constexpr const char* who = "mixprec::gemm::nvfp4_alpha: ";
  require(mixprec::detail::is_finite_positive(s_a) && mixprec::detail::is_finite_positive(s_b), who, "s_a = ", s_a,
          " and s_b = ", s_b, " must be finite and positive (the tensor scales quantize_nvfp4 returned)");
  require(std::isfinite(alpha0), who, "alpha0 = ", alpha0, " must be finite");
  const float alpha = detail::divide_by_product_nearest(alpha0, s_a, s_b);
  require(std::isfinite(alpha), who, "alpha0 / (s_a * s_b) = ", alpha0, " / (", s_a, " * ", s_b,
          ") overflows float; lower alpha0");
  return alpha;
}

namespace detail {

// Bytes of an operand row of `elements` elements.
inline std::int64_t block_operand_bytes(const block_scaled_operand& x, std::int64_t elements) {
  return x.packed ? (elements + 1) / 2 : elements;
}

inline void validate_block_operand(const block_scaled_problem& p, const block_scaled_operand& x, const char* name,
                                   std::int64_t rows) {
  require(is_valid(x.type), validation_prefix, name, ".type = ", static_cast<int>(x.type),
          " is not a gemm::block_element enumerator (float8_e4m3, float8_e5m2, float6_e2m3, float6_e3m2, "
          "float4_e2m1)");
  require(is_valid(x.scale_layout), validation_prefix, name, ".scale_layout = ", static_cast<int>(x.scale_layout),
          " is not a gemm::block_scale_layout enumerator (compact, cublaslt_tiled)");
  if (p.scaling == block_scaling::nvfp4_vec16_ue4m3)
    require(x.type == block_element::float4_e2m1, validation_prefix, name, " is ", x.type, " but NVFP4 (", p.scaling,
            ") operands are float4_e2m1; quantize them with quantize_nvfp4");
  require(!x.packed || x.type == block_element::float4_e2m1, validation_prefix, name, ".packed is set for ", x.type,
          ": only float4_e2m1 packs two elements per byte");
  require(x.ld >= p.k, validation_prefix, name, ".ld = ", x.ld, " is less than K = ", p.k, ": rows of ", name,
          " hold K elements");
  require(!x.packed || x.ld % 2 == 0, validation_prefix, name, ".ld = ", x.ld, " is odd but ", name,
          " is packed two elements per byte: every row must start on a byte");
  require(x.data != nullptr, validation_prefix, name, ".data is null");
  require(x.scales != nullptr, validation_prefix, name, ".scales is null: pass ceil(K / ", block_size_of(p.scaling),
          ") scales per row laid out as ", name, ".scale_layout says");
  const std::int64_t bytes =
      checked_add(checked_multiply(rows - 1, block_operand_bytes(x, x.ld)), block_operand_bytes(x, p.k));
  require(bytes >= 0, validation_prefix, name, " (", rows, " x ", p.k, ", ld = ", x.ld,
          ") spans more than INT64_MAX bytes; check the sizes");
  (void)array_bytes(name, x.data, bytes);
  const std::int64_t blocks = ceil_div(p.k, block_size_of(p.scaling));
  (void)block_scale_count(x.scale_layout, static_cast<std::size_t>(rows), static_cast<std::size_t>(blocks),
                          "mixprec::gemm");
}

}  // namespace detail

/// Checks that `p` describes a computable block-scaled GEMM: m, n, k >= 1;
/// valid enumerators; NVFP4 operands of type float4_e2m1; packing only for
/// float4_e2m1, with even leading dimensions; ld >= k; non-null data and
/// scales; D float32, bfloat16 or float16 with ldd >= n, no scale or amax
/// pointer, not overlapping A or B; sizes that do not overflow; a finite
/// alpha.
/// @throws mixprec::error naming the broken rule and the values seen.
inline void validate(const block_scaled_problem& p) {
  using detail::validation_prefix;
  require(is_valid(p.scaling), validation_prefix, "scaling = ", static_cast<int>(p.scaling),
          " is not a gemm::block_scaling enumerator (mx_vec32_ue8m0, nvfp4_vec16_ue4m3)");
  require(p.m >= 1 && p.n >= 1 && p.k >= 1, validation_prefix, "M = ", p.m, ", N = ", p.n, " and K = ", p.k,
          " must all be at least 1");
  detail::validate_block_operand(p, p.a, "A", p.m);
  detail::validate_block_operand(p, p.b, "B", p.n);
  require(p.d.type == element_type::float32 || p.d.type == element_type::bfloat16 || p.d.type == element_type::float16,
          validation_prefix, "D is ", p.d.type, " (element_type ", static_cast<int>(p.d.type),
          ") but the block-scaled GEMM writes float32, bfloat16 or float16 (an FP8 D needs its own scale and amax, "
          "which this description does not carry)");
  require(p.d.scale == nullptr && p.d.amax == nullptr, validation_prefix, "d.scale and d.amax must be null for a ",
          p.d.type, " output");
  require(p.d.ld >= p.n, validation_prefix, "d.ld = ", p.d.ld, " is less than N = ", p.n);
  require(p.d.data != nullptr, validation_prefix, "d.data is null");
  require(std::isfinite(p.alpha), validation_prefix, "alpha = ", p.alpha, " must be finite");
  const detail::byte_range d_bytes = detail::matrix_bytes("D", "M, N and ldd", p.d.data, p.m, p.n, p.d.ld, p.d.type);
  const auto operand_range = [&](const block_scaled_operand& x, std::int64_t rows) {
    return detail::array_bytes("operand", x.data,
                               detail::block_operand_bytes(x, x.ld) * (rows - 1) + detail::block_operand_bytes(x, p.k));
  };
  require(!detail::overlap(d_bytes, operand_range(p.a, p.m)) && !detail::overlap(d_bytes, operand_range(p.b, p.n)),
          validation_prefix, "D overlaps A or B: D is written while they are read; use separate arrays");
  const std::size_t blocks = static_cast<std::size_t>(ceil_div(p.k, block_size_of(p.scaling)));
  const auto scale_range = [&](const block_scaled_operand& x, std::int64_t rows) {
    const std::size_t count =
        block_scale_count(x.scale_layout, static_cast<std::size_t>(rows), blocks, "mixprec::gemm");
    require(count <= static_cast<std::size_t>(INT64_MAX), validation_prefix, "the scales of a ", rows,
            "-row operand need more than INT64_MAX bytes");
    return detail::array_bytes("scales", x.scales, static_cast<std::int64_t>(count));
  };
  require(!detail::overlap(d_bytes, scale_range(p.a, p.m)) && !detail::overlap(d_bytes, scale_range(p.b, p.n)),
          validation_prefix, "D overlaps A's or B's scales: D is written while they are read; use separate arrays");
}

/// validate(p) plus what cuBLASLt's block-scaled kernels need (sources in
/// mixprec/gemm/block_scaled.hpp): Blackwell (compute capability 10.x or
/// 12.x; on Hopper, 9.x, the call fails saying so), cuBLASLt 12.8 or newer,
/// scales in the cublaslt_tiled layout, K a multiple of the block (32 or 16),
/// float4_e2m1 packed, no FP6 operands (cuBLASLt documents no FP6 storage
/// layout), 16-byte aligned data and row strides.
/// @throws mixprec::error naming the broken rule, the values seen and what to do.
inline void validate_for_cublaslt(const block_scaled_problem& p, const device_capabilities& device) {
  using detail::validation_prefix;
  validate(p);
  const std::int64_t block = block_size_of(p.scaling);
  require(device.compute_capability_major == 10 || device.compute_capability_major == 12, validation_prefix, p.scaling,
          " GEMMs run on Blackwell (compute capability 10.x or 12.x, sm_100 and later) only; this device "
          "is ",
          device.compute_capability_major, ".", device.compute_capability_minor,
          ": on Hopper use FP8 with per_tensor, row_wise or 1x128/128x128 block scales, or the CPU reference "
          "mixprec::reference::block_scaled_gemm");
  require(device.cublaslt_version >= cublaslt_version_block_scaled, validation_prefix, "cuBLASLt ",
          device.cublaslt_version, " predates block-scaled matmul (needs ", cublaslt_version_block_scaled,
          ", CUDA 12.8)");
  require(p.k % block == 0, validation_prefix, "K = ", p.k, " is not a multiple of ", block, " (", p.scaling,
          "): cuBLASLt scales whole blocks only; pad K with zeros to ", ceil_div(p.k, block) * block);
  const block_scaled_operand* operands[] = {&p.a, &p.b};
  const char* names[] = {"A", "B"};
  for (int i = 0; i < 2; ++i) {
    const block_scaled_operand& x = *operands[i];
    require(x.scale_layout == block_scale_layout::cublaslt_tiled, validation_prefix, names[i],
            "'s scales are compact, but cuBLASLt reads the 128x4 tiled layout; quantize with "
            "scale_layout = cublaslt_tiled or convert with gemm::to_cublaslt_tiled");
    require(x.type != block_element::float6_e2m3 && x.type != block_element::float6_e3m2, validation_prefix, names[i],
            " is ", x.type,
            ", but cuBLASLt documents no storage layout for FP6 operands; run MXFP6 on "
            "the CPU reference");
    require(x.type != block_element::float4_e2m1 || x.packed, validation_prefix, names[i],
            " is float4_e2m1 one element per byte, but cuBLASLt's CUDA_R_4F_E2M1 is packed two per byte; pack it "
            "(quantize_nvfp4_packed, or convert_n to float4_e2m1x2) and set packed");
    require(detail::aligned(x.data, 16) && detail::block_operand_bytes(x, x.ld) % 16 == 0, validation_prefix, names[i],
            " at ", x.data, " with ld = ", x.ld, " elements (", detail::block_operand_bytes(x, x.ld),
            " bytes) is not 16-byte aligned; cuBLASLt's narrow-precision "
            "kernels need 16-byte aligned data and row strides");
    require(detail::aligned(x.scales, 16), validation_prefix, names[i], ".scales at ", x.scales,
            " is not 16-byte aligned");
  }
  // checked: validate() bounds (M - 1) · ldd + N, which leaves ldd free when M = 1.
  const std::int64_t d_row_bytes = checked_multiply(p.d.ld, static_cast<std::int64_t>(size_of(p.d.type)));
  require(d_row_bytes >= 0, validation_prefix, "ldd = ", p.d.ld, " ", p.d.type,
          " elements overflow a 64-bit byte count; cuBLASLt cannot address such a row stride");
  require(detail::aligned(p.d.data, 16) && d_row_bytes % 16 == 0, validation_prefix, "D at ", p.d.data,
          " with ldd = ", p.d.ld,
          " is not 16-byte aligned (data and row "
          "stride)");
}

}  // namespace gemm
}  // namespace mixprec
