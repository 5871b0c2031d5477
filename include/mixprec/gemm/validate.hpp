/// \file
/// mixprec/gemm/validate.hpp — the rules a scaled GEMM call must satisfy.
///
/// Two pure functions of their arguments, so every rule is tested without a
/// GPU (tests/unit/test_gemm_validation.cpp):
///
/// ~~~~
///   validate(p)                       what the problem must satisfy to mean
///                                     anything; the CPU reference checks it.
///   validate_for_cublaslt(p, device)  validate(p) plus what cuBLASLt's FP8
///                                     kernels need (types, alignment, scale
///                                     mode pairs, compute capability, library
///                                     version); the GPU path checks it before
///                                     any cuBLASLt call.
/// ~~~~
///
/// Each failure throws mixprec::error naming the constraint, the values seen
/// and what to do.
///
/// Where the cuBLASLt rules come from (looked up for cuBLASLt 13.x; no GPU run
/// has confirmed them yet). Short names used in the comments below:
///  [cuBLAS matmul]   cuBLAS docs, section "cublasLtMatmul()": the FP8 type
///                    table (A, B, C, D and bias types) and its footnote on FP8
///                    outputs; the requirements list for tensor- or
///                    block-scaled FP8 kernels (16-byte alignment, "TN").
///  [cuBLAS scaling]  cuBLAS docs, section "Narrow Precision Data Types Usage":
///                    the "Scaling Mode Support Overview" table (compute
///                    capability per mode), "Outer Vector Scaling for FP8 Data
///                    Types" and "128-element 1D and 128x128 2D Block Scaling
///                    For FP8 Data Types" with its "Scaling factors layouts".
///  [cuBLASLt.h]      /usr/local/cuda/include/cublasLt.h comments on
///                    cublasLtMatmulMatrixScale_t and the *_SCALE_POINTER,
///                    AMAX_D_POINTER and BIAS_DATA_TYPE attributes.
/// Corroborating users and maintainers are cited rule by rule. cuBLASLt's own
/// status is still turned into a message by mixprec/cuda/scaled_gemm.hpp for
/// anything these rules miss.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "mixprec/core/error.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"

namespace mixprec {
namespace gemm {

/// What the GPU path runs on, passed in as values (mixprec::cuda queries them
/// with cudaGetDeviceProperties and cublasLtGetVersion).
struct device_capabilities {
  int compute_capability_major = 0;  ///< Major compute capability (9 for Hopper; Ada is 8.9).
  int compute_capability_minor = 0;  ///< The minor compute capability.
  /// cublasLtGetVersion(): major · 10000 + minor · 100 + patch (13.1.0 -> 130100).
  std::size_t cublaslt_version = 0;
};

/// The first cuBLASLt releases with each feature: FP8 matmul (11.11, CUDA 11.8),
/// and outer-vector and 1x128 / 128x128 block scale modes (12.9, CUDA 12.9).
constexpr std::size_t cublaslt_version_fp8 = 111100;
/// The first cuBLASLt release with row-wise and block scale modes (12.9); see cublaslt_version_fp8.
constexpr std::size_t cublaslt_version_vector_and_block_scales = 120900;

namespace detail {

constexpr const char* validation_prefix = "mixprec::gemm: ";

// Byte range [first, last) of an array.
struct byte_range {
  std::uintptr_t first, last;
};
inline bool overlap(byte_range x, byte_range y) { return x.first < y.last && y.first < x.last; }

// Whether `bytes` (-1: an overflowed count) from `data` end inside the
// address space.
inline bool fits_in_address_space(const void* data, std::int64_t bytes) {
  return bytes >= 0 && static_cast<std::uint64_t>(bytes) <= UINTPTR_MAX - reinterpret_cast<std::uintptr_t>(data);
}
inline byte_range range_of(const void* data, std::int64_t bytes) {
  const auto first = reinterpret_cast<std::uintptr_t>(data);
  return {first, first + static_cast<std::uintptr_t>(bytes)};
}

// The range of `bytes` bytes from `data`, after checking that it fits.
inline byte_range array_bytes(const char* name, const void* data, std::int64_t bytes) {
  require(fits_in_address_space(data, bytes), validation_prefix, name, " at ", data,
          " would reach beyond the address space (", bytes, " bytes; -1: the count overflows)");
  return range_of(data, bytes);
}

// The byte range of an [rows, cols] matrix with leading dimension ld (rows,
// cols >= 1, ld >= cols): (rows - 1) · ld + cols elements, computed without
// overflow. `shape` names the operands in the message ("M, K and lda").
inline byte_range matrix_bytes(const char* name, const char* shape, const void* data, std::int64_t rows,
                               std::int64_t cols, std::int64_t ld, element_type type) {
  const std::int64_t elements = checked_add(checked_multiply(rows - 1, ld), cols);
  const std::int64_t bytes = checked_multiply(elements, static_cast<std::int64_t>(size_of(type)));
  require(fits_in_address_space(data, bytes), validation_prefix, name, " (",
          rows, " x ", cols, " ", type, ", ld=", ld, ", at ", data,
          ") spans (rows - 1) * ld + cols elements, which overflows or reaches beyond the address space; check ",
          shape);
  return range_of(data, bytes);
}

// A compute capability is two non-negative numbers (compared as a pair,
// not as major · 10 + minor, which overflows int for hostile values).
inline void require_compute_capability(const device_capabilities& device) {
  require(device.compute_capability_major >= 0 && device.compute_capability_minor >= 0, validation_prefix,
          "compute capability ", device.compute_capability_major, ".", device.compute_capability_minor,
          " is not a device's: both numbers must be >= 0 (cudaDeviceGetAttribute's major and minor)");
}

inline bool aligned(const void* pointer, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(pointer) % bytes == 0;
}

// The floats an operand's scales occupy (1 for per_tensor), checked.
inline std::int64_t scale_count(const input_operand& x, const char* name, std::int64_t rows, std::int64_t k) {
  const std::int64_t count = scale_layout{x.scaling, rows, k}.checked_count();
  require(count >= 0, validation_prefix, "the ", x.scaling, " scales of ", name, " (", rows, " x ", k,
          ") would need more than INT64_MAX floats");
  return count;
}

inline void validate_scales(const input_operand& x, const char* name, std::int64_t rows, std::int64_t k) {
  const std::int64_t count = scale_count(x, name, rows, k);
  if (x.scaling == scale_mode::per_tensor) return;
  require(x.scale != nullptr, validation_prefix, name, " uses ", x.scaling, " scales but ", name,
          ".scale is null: pass ", count, " floats laid out as mixprec/gemm/scale_layout.hpp describes");
}

inline void require_element_type(element_type type, const char* field) {
  require(is_valid_element_type(type), validation_prefix, field, " = ", static_cast<int>(type),
          " is not a mixprec::scalar_type enumerator (float32, bfloat16, float16, float8_e4m3, float8_e5m2, ...)");
}
inline void require_scale_mode(scale_mode mode, const char* field) {
  require(is_valid(mode), validation_prefix, field, " = ", static_cast<int>(mode),
          " is not a gemm::scale_mode enumerator (per_tensor, row_wise, block_1x128, block_128x128)");
}

// The inputs D must not share a byte with: D is written while they are still
// being read (by the reference row by row; by cuBLASLt in any order), so any
// overlap gives wrong results. C has its own rule (exact in-place use).
inline void require_output_apart_from_inputs(const problem& p, byte_range a_bytes, byte_range b_bytes,
                                             byte_range d_bytes) {
  struct input_array {
    const char* name;
    const void* data;
    std::int64_t bytes;  // for the arrays other than A and B
  };
  const std::int64_t float_bytes = static_cast<std::int64_t>(sizeof(float));
  const input_array others[] = {
      {"a.scale", p.a.scale, checked_multiply(scale_count(p.a, "A", p.m, p.k), float_bytes)},
      {"b.scale", p.b.scale, checked_multiply(scale_count(p.b, "B", p.n, p.k), float_bytes)},
      {"bias", has_bias(p.epilogue_op) ? p.bias.data : nullptr,
       checked_multiply(p.n, static_cast<std::int64_t>(size_of(p.bias.type)))},
      {"d.scale", p.d.scale, float_bytes},
      {"d.amax", p.d.amax, float_bytes},
  };
  auto require_apart = [&](const char* name, const void* data, byte_range range) {
    require(!overlap(range, d_bytes), validation_prefix, "D [", p.d.data, ", +", d_bytes.last - d_bytes.first,
            " bytes) overlaps ", name, " [", data, ", +", range.last - range.first, " bytes): D is written while ",
            name, " is still read, so the result would be wrong; write D to a buffer of its own");
  };
  require_apart("A", p.a.data, a_bytes);
  require_apart("B", p.b.data, b_bytes);
  for (const input_array& input : others) {
    if (input.data != nullptr) require_apart(input.name, input.data, array_bytes(input.name, input.data, input.bytes));
  }
}

}  // namespace detail

/// The rules every implementation enforces: the problem must describe a
/// computation. In order: every enum field is an enumerator (element types of
/// all five operands, scale modes, epilogue); alpha and beta are finite;
/// shapes are positive and leading dimensions cover a row; A, B and D have
/// data; each matrix's extent ((rows - 1) · ld + cols elements) and each scale
/// array fits in the address space, computed without overflow; C and D do not
/// overlap (except exact in-place use) and D overlaps no other input (A, B,
/// their scales, the bias, d.scale, d.amax); vector and block modes have scale
/// pointers; the FP8 output has its scale, amax only an FP8 output; a bias
/// exactly with the bias epilogues. Pointers are never dereferenced (they may
/// be device pointers): scale values are checked by the CPU reference, which
/// reads them.
/// @throws mixprec::error naming the first broken rule and the values seen.
/// computation. Shapes, leading dimensions, required pointers, scale pointers
/// of the vector and block modes, the FP8 output's scale, amax only of an FP8
/// output, no overlap of C and D (except exact in-place use), bias iff a bias
/// epilogue.
///
/// Reads only pointer values, never the memory they point to.
/// \throws mixprec::error naming the first rule `p` breaks, the values seen and what to do.
inline void validate(const problem& p) {
  using detail::validation_prefix;
  detail::require_element_type(p.a.type, "a.type");
  detail::require_element_type(p.b.type, "b.type");
  detail::require_element_type(p.c.type, "c.type");
  detail::require_element_type(p.d.type, "d.type");
  detail::require_element_type(p.bias.type, "bias.type");
  detail::require_scale_mode(p.a.scaling, "a.scaling");
  detail::require_scale_mode(p.b.scaling, "b.scaling");
  require(is_valid(p.epilogue_op), validation_prefix, "epilogue_op = ", static_cast<int>(p.epilogue_op),
          " is not a gemm::epilogue enumerator (none, bias, relu, bias_relu, gelu, bias_gelu)");
  // A NaN or infinite factor makes every output NaN or infinite (inf · 0 is
  // NaN), which no caller wants from a GEMM.
  require(std::isfinite(p.alpha) && std::isfinite(p.beta), validation_prefix, "alpha = ", p.alpha,
          " and beta = ", p.beta, " must be finite");
  require(p.m > 0 && p.n > 0 && p.k > 0, validation_prefix, "M, N and K must be positive; got M=", p.m, " N=", p.n,
          " K=", p.k);
  require(p.a.ld >= p.k, validation_prefix, "lda=", p.a.ld, " is shorter than a row of A (K=", p.k,
          "); set a.ld to K for a dense A");
  require(p.b.ld >= p.k, validation_prefix, "ldb=", p.b.ld, " is shorter than a row of B (K=", p.k,
          "); set b.ld to K for a dense B");
  require(p.d.ld >= p.n, validation_prefix, "ldd=", p.d.ld, " is shorter than a row of D (N=", p.n,
          "); set d.ld to N for a dense D");
  require(p.a.data != nullptr && p.b.data != nullptr && p.d.data != nullptr, validation_prefix,
          "A, B and D need data pointers; got A=", p.a.data, " B=", p.b.data, " D=", p.d.data);
  const auto a_bytes = detail::matrix_bytes("A", "M, K and lda", p.a.data, p.m, p.k, p.a.ld, p.a.type);
  const auto b_bytes = detail::matrix_bytes("B", "N, K and ldb", p.b.data, p.n, p.k, p.b.ld, p.b.type);
  const auto d_bytes = detail::matrix_bytes("D", "M, N and ldd", p.d.data, p.m, p.n, p.d.ld, p.d.type);

  if (reads_c(p)) {
    require(p.c.data != nullptr, validation_prefix, "beta=", p.beta,
            " reads C, but c.data is null: pass C, or set beta to 0");
    require(p.c.ld >= p.n, validation_prefix, "ldc=", p.c.ld, " is shorter than a row of C (N=", p.n,
            "); set c.ld to N for a dense C");
    const auto c_bytes = detail::matrix_bytes("C", "M, N and ldc", p.c.data, p.m, p.n, p.c.ld, p.c.type);
    if (detail::overlap(c_bytes, d_bytes)) {
      require(!is_fp8(p.d.type), validation_prefix, "C (", p.c.type, ") overlaps the ", p.d.type,
              " output D: an FP8 D cannot be updated in place; write D to its own buffer and pass the previous "
              "result as a BF16/FP16 C");
      require(p.c.data == p.d.data && p.c.ld == p.d.ld && p.c.type == p.d.type, validation_prefix,
              "C and D overlap without being the same matrix (C=", p.c.data, " ldc=", p.c.ld, " ", p.c.type,
              ", D=", p.d.data, " ldd=", p.d.ld, " ", p.d.type,
              "); in-place accumulation needs C == D with equal ld and type");
    }
  }

  detail::validate_scales(p.a, "A", p.m, p.k);
  detail::validate_scales(p.b, "B", p.n, p.k);
  detail::require_output_apart_from_inputs(p, a_bytes, b_bytes, d_bytes);

  if (is_fp8(p.d.type)) {
    require(p.d.scale != nullptr, validation_prefix, "the output D is ", p.d.type,
            " but d.scale is null: an FP8 output needs its quantisation factor sD (D_fp8 = convert(D * sD)); "
            "pass a pointer to 1.0f for none");
  } else {
    require(p.d.scale == nullptr, validation_prefix, "d.scale is set but D is ", p.d.type,
            ": the output scale applies to FP8 outputs only; fold it into alpha");
    // cuBLASLt agrees: amax(D) with FP8 operands and a non-FP8 output is
    // unsupported (pytorch/pytorch PR #122821, relaying the cuBLAS team).
    require(p.d.amax == nullptr, validation_prefix, "d.amax is set but D is ", p.d.type,
            ": amax(D) is produced for FP8 outputs only (it feeds the next quantisation)");
  }

  if (has_bias(p.epilogue_op)) {
    require(p.bias.data != nullptr, validation_prefix, "epilogue ", p.epilogue_op,
            " adds a bias but bias.data is null: pass N=", p.n, " ", p.bias.type, " values");
  } else {
    require(p.bias.data == nullptr, validation_prefix, "bias.data is set but epilogue ", p.epilogue_op,
            " adds no bias: choose bias, bias_relu or bias_gelu, or pass no bias");
  }
}

/// validate(p) plus what cuBLASLt (13.x) needs on the given device: operand,
/// output, C and bias types; scale-mode pairs; K and N multiples of 16 for
/// FP8; alignment; compute capability and library version.
/// @throws mixprec::error naming the first broken rule, the values seen and
///         what to do.
/// validate(p) plus what cuBLASLt (13.x) needs on the given device.
///
/// On top of validate(): operand/C/D/bias type combinations cuBLASLt offers (no E5M2 x E5M2;
/// non-FP8 operands of equal type and without scales); scale-mode pairs cuBLASLt offers,
/// row-wise and block scales with a BF16/FP16/FP32 output, on Hopper, cuBLASLt >= 12.9;
/// block scales also 16-byte aligned, M a multiple of 4, no fast accumulation; K and N
/// multiples of 16 with FP8 operands; 16-byte aligned matrices and leading dimensions;
/// compute capability >= 8.9 and cuBLASLt >= 11.11 for FP8.
/// \throws mixprec::error naming the first rule broken, the values seen and what to do.
inline void validate_for_cublaslt(const problem& p, const device_capabilities& device) {
  using detail::validation_prefix;
  validate(p);

  const bool fp8_operands = is_fp8(p.a.type) || is_fp8(p.b.type);
  const bool c_is_read = reads_c(p);

  // ---- Operand and output types (cuBLAS docs, cublasLtMatmul type tables).
  if (fp8_operands) {
    require(is_fp8(p.a.type) && is_fp8(p.b.type), validation_prefix, "A is ", p.a.type, " and B is ", p.b.type,
            ": FP8 GEMMs need both operands in FP8; quantize the other one too");
    require(!(p.a.type == element_type::float8_e5m2 && p.b.type == element_type::float8_e5m2), validation_prefix,
            "A and B are both float8_e5m2: cuBLASLt has no E5M2 x E5M2 kernel; keep one operand (usually the "
            "weights or activations) in float8_e4m3");
    require(!(p.a.type == element_type::float8_e4m3 && p.b.type == element_type::float8_e4m3 &&
              p.d.type == element_type::float8_e5m2),
            validation_prefix,
            "E4M3 x E4M3 cannot produce a float8_e5m2 D in cuBLASLt; choose an E4M3, BF16, FP16 or FP32 output");
  } else {
    require(p.a.type == p.b.type, validation_prefix, "A is ", p.a.type, " and B is ", p.b.type,
            ": non-FP8 GEMMs need equal operand types");
    const bool output_ok = p.d.type == p.a.type || (p.d.type == element_type::float32 && p.a.type != element_type::float32);
    require(output_ok, validation_prefix, p.a.type, " operands cannot produce a ", p.d.type,
            " D; choose ", p.a.type, (p.a.type == element_type::float32 ? "" : " or float32"),
            " (FP8 outputs need FP8 operands)");
  }
  if (is_fp8(p.d.type)) {
    require(p.c.type == element_type::bfloat16 || p.c.type == element_type::float16, validation_prefix,
            "C is ", p.c.type, " but an FP8 D pairs with a bfloat16 or float16 C in cuBLASLt (even when beta is 0, "
            "the C type selects the kernel)");
  } else {
    require(p.c.type == p.d.type, validation_prefix, "C is ", p.c.type, " but D is ", p.d.type,
            ": cuBLASLt needs C of D's type for a non-FP8 output");
  }
  // The bias type: [cuBLAS matmul] FP8 table — BF16 for an FP32 D, C's type
  // (BF16 or FP16) for an FP8 D, D's type otherwise; [cuBLASLt.h]
  // BIAS_DATA_TYPE names the FP32 and FP8 outputs as the exceptions. PyTorch's
  // _scaled_mm refuses any bias with an FP32 output (pytorch/pytorch PR
  // #108097), but it describes C with the bias type, which for an FP32 D is
  // not a pair the table lists; with C of D's type, as here, the table allows
  // it, so it stays allowed.
  if (has_bias(p.epilogue_op)) {
    const element_type expected = fp8_operands && p.d.type == element_type::float32 ? element_type::bfloat16
                                  : is_fp8(p.d.type)                                 ? p.c.type
                                                                                     : p.d.type;
    require(p.bias.type == expected, validation_prefix, "the bias is ", p.bias.type, " but with ", p.a.type,
            " operands, a ", p.d.type, " D and a ", p.c.type, " C cuBLASLt takes a ", expected, " bias");
  }

  // ---- Scale modes. Operand scales exist for FP8 operands only ([cuBLAS
  // scaling], note under the overview table: a scale on a non-narrow matmul is
  // an error); the pairs are the ones [cuBLAS scaling] lists.
  if (!fp8_operands) {
    require(p.a.scaling == scale_mode::per_tensor && p.b.scaling == scale_mode::per_tensor &&
                p.a.scale == nullptr && p.b.scale == nullptr,
            validation_prefix, "A and B are ", p.a.type,
            ": cuBLASLt applies operand scales to FP8 operands only; fold the scales into alpha");
  } else {
    const scale_mode sa = p.a.scaling, sb = p.b.scaling;
    const bool both_per_tensor = sa == scale_mode::per_tensor && sb == scale_mode::per_tensor;
    const bool both_row_wise = sa == scale_mode::row_wise && sb == scale_mode::row_wise;
    const bool blocks = is_block(sa) && is_block(sb) &&
                        !(sa == scale_mode::block_128x128 && sb == scale_mode::block_128x128);
    require(both_per_tensor || both_row_wise || blocks, validation_prefix, "scale modes A=", sa, " B=", sb,
            " are not a pair cuBLASLt offers; use per_tensor x per_tensor, row_wise x row_wise, or block_1x128 "
            "x block_1x128 / block_1x128 x block_128x128 / block_128x128 x block_1x128");
    // PyTorch aten/src/ATen/cuda/CUDABlas.cpp (get_scale_mode) refuses fast
    // accumulation with both block modes.
    require(!(blocks && p.fast_accumulation), validation_prefix,
            "fast_accumulation is not available with block scales (A=", sa, " B=", sb,
            "): the block-scaled kernels promote every 128-element K block to FP32 by construction; turn it off");
    // [cuBLAS matmul] FP8 table footnote, and [cuBLAS scaling] for both modes:
    // with outer-vector or 128-block scales the only outputs are BF16, FP16 and
    // FP32, so there is no D scale and no amax(D) either (validate() already
    // ties both to an FP8 D). C (beta != 0) and the epilogues are not
    // restricted there, and stay allowed (unverified on a GPU: see
    // tests/cuda/test_scaled_gemm.cpp, "epilogues with row-wise and block
    // scales").
    require(both_per_tensor || !is_fp8(p.d.type), validation_prefix, "the output D is ", p.d.type,
            " but scale modes A=", sa, " B=", sb,
            " give bfloat16, float16 or float32 outputs only in cuBLASLt: choose one of those (and quantize "
            "the result afterwards), or use per_tensor scales for an FP8 output");
    // [cuBLAS scaling], "Scaling factors layouts": the scale tensors of both
    // block modes must start 16-byte aligned. Nothing is said for the
    // outer-vector mode, which keeps the float alignment checked below.
    const input_operand* const operands[] = {&p.a, &p.b};
    const char* const names[] = {"A", "B"};
    for (int i = 0; i < 2; ++i) {
      const input_operand& x = *operands[i];
      if (!is_block(x.scaling) || x.scale == nullptr) continue;
      require(detail::aligned(x.scale, 16), validation_prefix, names[i], ".scale=", static_cast<const void*>(x.scale),
              " is not 16-byte aligned, but cuBLASLt reads ", x.scaling,
              " scales from a 16-byte aligned start; allocate them on their own (cudaMalloc aligns to 256 "
              "bytes) or at an offset that is a multiple of 4 floats");
    }
  }

  // ---- Shapes and alignment: FP8 kernels read 16-byte rows (cuBLAS docs, "FP8
  // data types": matrix dimensions and pointers must support 16-byte alignment).
  if (fp8_operands) {
    require(p.k % 16 == 0, validation_prefix, "K=", p.k,
            " must be a multiple of 16 for FP8 operands; pad K with zeros (both operands) to ",
            checked_round_up(p.k, 16));
    require(p.n % 16 == 0, validation_prefix, "N=", p.n,
            " must be a multiple of 16 for FP8 operands; pad B and D with zero rows / columns to N=",
            checked_round_up(p.n, 16));
    // [cuBLAS scaling], "Scaling factors layouts" of the 1x128 / 128x128
    // modes: M and N must be multiples of 4 (N already is, above). vLLM pads M
    // to 4 before block-scaled torch._scaled_mm for this reason
    // (vllm-project/vllm PR #49932). The outer-vector mode states no such rule.
    if (is_block(p.a.scaling) || is_block(p.b.scaling)) {
      require(p.m % 4 == 0, validation_prefix, "M=", p.m, " must be a multiple of 4 with block scales (A=",
              p.a.scaling, " B=", p.b.scaling, "); pad A and D with zero rows to M=", checked_round_up(p.m, 4),
              ", or use row_wise or per_tensor scales");
    }
  }
  struct matrix_check {
    const char* name;
    const void* data;
    std::int64_t ld;
    element_type type;
  };
  const matrix_check matrices[] = {{"A", p.a.data, p.a.ld, p.a.type},
                                   {"B", p.b.data, p.b.ld, p.b.type},
                                   {"D", p.d.data, p.d.ld, p.d.type},
                                   {"C", c_is_read ? p.c.data : nullptr, p.c.ld, p.c.type}};
  for (const matrix_check& m : matrices) {
    if (m.data == nullptr) continue;
    require(detail::aligned(m.data, 16), validation_prefix, m.name, "=", m.data,
            " is not 16-byte aligned; cuBLASLt's tensor-core kernels need 16-byte aligned matrices");
    // (validate() has checked the types, so the size is not 0.) The message's
    // arguments are evaluated even when the check passes: they must be safe
    // to compute for every valid problem.
    const auto element_bytes = static_cast<std::int64_t>(size_of(m.type));
    const std::int64_t ld_bytes = checked_multiply(m.ld, element_bytes);
    require(ld_bytes >= 0, validation_prefix, "the leading dimension of ", m.name, " (", m.ld, " ", m.type,
            ") times the element size overflows a 64-bit byte count; cuBLASLt cannot address it");
    // (The advice to round up needs a multiple of 16 that fits in 64 bits.)
    require(checked_round_up(ld_bytes, 16) >= 0, validation_prefix, "the leading dimension of ", m.name, " (", m.ld,
            " ", m.type, " = ", ld_bytes,
            " bytes) must be a multiple of 16 bytes, and no such multiple this large fits a 64-bit byte count");
    require(ld_bytes % 16 == 0, validation_prefix, "the leading dimension of ", m.name, " (", m.ld, " ", m.type,
            " = ", ld_bytes, " bytes) must be a multiple of 16 bytes; round it up to ",
            checked_round_up(ld_bytes, 16) / element_bytes);
  }
  const float* const float_pointers[] = {p.a.scale, p.b.scale, p.d.scale, p.d.amax};
  for (const float* pointer : float_pointers) {
    require(pointer == nullptr || detail::aligned(pointer, alignof(float)), validation_prefix,
            "scale/amax pointer ", static_cast<const void*>(pointer), " is not aligned for float");
  }

  // ---- Hardware and library.
  detail::require_compute_capability(device);
  const bool ada_or_later = device.compute_capability_major > 8 ||
                            (device.compute_capability_major == 8 && device.compute_capability_minor >= 9);
  if (fp8_operands) {
    require(ada_or_later, validation_prefix,
            "FP8 GEMMs need compute capability 8.9 (Ada) or 9.0 (Hopper); this device is ",
            device.compute_capability_major, ".", device.compute_capability_minor, ": use BF16 operands on it");
    require(device.cublaslt_version >= cublaslt_version_fp8, validation_prefix, "cuBLASLt ",
            device.cublaslt_version, " predates FP8 matmul (needs ", cublaslt_version_fp8, ", CUDA 11.8)");
    const scale_mode modes[] = {p.a.scaling, p.b.scaling};
    for (scale_mode mode : modes) {
      if (mode == scale_mode::per_tensor) continue;
      require(device.cublaslt_version >= cublaslt_version_vector_and_block_scales, validation_prefix,
              "scale mode ", mode, " needs cuBLASLt ", cublaslt_version_vector_and_block_scales,
              " (CUDA 12.9) or newer; this runtime is ", device.cublaslt_version, ": use per_tensor scales");
      // [cuBLAS scaling] overview table: tensor-wide scales on 8.9 and newer,
      // outer-vector and both 128-block modes on 9.0 only (10.x and 12.x offer
      // 32-element UE8M0 blocks instead, which mixprec does not model). Also
      // NVIDIA/CUDALibrarySamples issue #270 (maintainer: these three modes
      // are SM90-only) and pytorch/pytorch PRs #160693 / #161236 (no row-wise
      // cuBLASLt scaling on sm_100, sm_110, sm_120).
      require(device.compute_capability_major == 9, validation_prefix, mode,
              " scales run on Hopper (compute capability 9.x) only in cuBLASLt; this device is ",
              device.compute_capability_major, ".", device.compute_capability_minor, ": use per_tensor scales");
    }
  }
}

}  // namespace gemm
}  // namespace mixprec
