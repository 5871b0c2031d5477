/// \file
/// mixprec/gemm/problem.hpp — the description of one scaled GEMM call.
///
/// ~~~~
///   D = epilogue(alpha · (sA ⊙ A) · (sB ⊙ B)ᵀ + beta · C + bias)
///   FP8 D:  amax_D = max |D| (before sD), D_fp8 = convert(D · sD)
/// ~~~~
///
/// Host-only and free of CUDA: the same description drives the CPU reference
/// (mixprec/reference/scaled_gemm.hpp, host pointers) and the cuBLASLt path
/// (mixprec/cuda/scaled_gemm.hpp, device pointers), and its rules
/// (mixprec/gemm/validate.hpp) are testable without a GPU.
///
/// Layout. Every matrix is row-major with a leading dimension in elements:
///   A[M, K] (row i at a.data + i·a.ld), B[N, K], C[M, N], D[M, N].
/// A and B are both K-contiguous: this is the linear-layer shape Y = X · Wᵀ
/// and the only operand layout Hopper's FP8 tensor cores accept ("TN").
///
/// The three GEMMs of a linear layer Y[M,N] = X[M,K] · W[N,K]ᵀ map onto it as
/// follows; "ᵀ" operands are the transposed copies that the cast kernels write in
/// the same pass as the plain ones (cast-transpose, mixprec/cuda/cast.hpp):
///
/// ~~~~
///   forward  Y [M,N]  = X  · Wᵀ   A = X   [M,K]  B = W   [N,K]  (m,n,k) = (M,N,K)
///   dgrad    dX[M,K]  = dY · W    A = dY  [M,N]  B = Wᵀ  [K,N]  (m,n,k) = (M,K,N)
///   wgrad    dW[N,K]  = dYᵀ · X   A = dYᵀ [N,M]  B = Xᵀ  [K,M]  (m,n,k) = (N,K,M)
/// ~~~~
/// With the usual FP8 recipe X and W are E4M3 and dY is E5M2, so every GEMM is
/// E4M3 x E4M3 or E5M2 x E4M3, both of which cuBLASLt offers.
///
/// Scales are dequantisation factors (what TransformerEngine calls scale_inv):
/// the value of an FP8 element q is q · s. Their memory layout for each mode is
/// defined once, in mixprec/gemm/scale_layout.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {
/// The scaled-GEMM description (problem), its scale layouts and its validation
/// rules: host-only, free of CUDA.
namespace gemm {

/// Element types of GEMM operands and outputs: mixprec::scalar_type under the
/// GEMM's name, so a GEMM's output type is an optimizer's gradient type.
using element_type = scalar_type;
/// The element_type of the C++ type T (scalar_type_of under the GEMM's name).
template <class T>
using element_type_of = scalar_type_of<T>;
using mixprec::is_fp8;
using mixprec::size_of;
using mixprec::to_string;

/// How the scales of an FP8 operand are arranged (memory layouts in
/// scale_layout.hpp). The cuBLASLt mode each one becomes is named alongside.
enum class scale_mode : std::uint8_t {
  per_tensor,     ///< one float                                   CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F
  row_wise,       ///< one float per row: M for A, N for B        CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F
  block_1x128,    ///< one float per 128 consecutive K elements  CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F
  block_128x128,  ///< one float per 128x128 tile                 CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F
};

/// The enumerator's name ("per_tensor", ...).

constexpr const char* to_string(scale_mode mode) noexcept {
  switch (mode) {
    case scale_mode::per_tensor: return "per_tensor";
    case scale_mode::row_wise: return "row_wise";
    case scale_mode::block_1x128: return "block_1x128";
    case scale_mode::block_128x128: return "block_128x128";
  }
  return "unknown scale mode";
}

/// Writes to_string(mode).
inline std::ostream& operator<<(std::ostream& out, scale_mode mode) { return out << to_string(mode); }

/// Whether `mode` is one of scale_mode's enumerators (scale_mode(9) is not;
/// validate() and the quantize functions reject it).
constexpr bool is_valid(scale_mode mode) noexcept {
  switch (mode) {
    case scale_mode::per_tensor:
    case scale_mode::row_wise:
    case scale_mode::block_1x128:
    case scale_mode::block_128x128: return true;
  }
  return false;
}

/// True for block_1x128 and block_128x128.
constexpr bool is_block(scale_mode mode) noexcept {
  return mode == scale_mode::block_1x128 || mode == scale_mode::block_128x128;
}

/// What is applied to alpha·AB + beta·C before the output conversion. The bias
/// is a vector of N values added to every row of D. GELU is the tanh
/// approximation cuBLASLt implements:
///   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
enum class epilogue : std::uint8_t {
  none,       ///< No epilogue.
  bias,       ///< + bias.
  relu,       ///< ReLU, max(x, 0).
  bias_relu,  ///< + bias, then ReLU.
  gelu,       ///< GELU (tanh form).
  bias_gelu   ///< + bias, then GELU.
};

/// True for the epilogues that add a bias (bias, bias_relu, bias_gelu).
constexpr bool has_bias(epilogue op) noexcept {
  return op == epilogue::bias || op == epilogue::bias_relu || op == epilogue::bias_gelu;
}

/// Whether `op` is one of epilogue's enumerators.
constexpr bool is_valid(epilogue op) noexcept {
  switch (op) {
    case epilogue::none:
    case epilogue::bias:
    case epilogue::relu:
    case epilogue::bias_relu:
    case epilogue::gelu:
    case epilogue::bias_gelu: return true;
  }
  return false;
}

/// Whether `type` is one of scalar_type's enumerators (those have a size;
/// element_type(9) has none). (Not an is_valid overload: element_type is
/// mixprec::scalar_type, whose own header may define one.)
constexpr bool is_valid_element_type(element_type type) noexcept { return size_of(type) != 0; }

/// The enumerator's name ("none", "bias_relu", ...).
constexpr const char* to_string(epilogue op) noexcept {
  switch (op) {
    case epilogue::none: return "none";
    case epilogue::bias: return "bias";
    case epilogue::relu: return "relu";
    case epilogue::bias_relu: return "bias_relu";
    case epilogue::gelu: return "gelu";
    case epilogue::bias_gelu: return "bias_gelu";
  }
  return "unknown epilogue";
}

/// Writes to_string(op).
inline std::ostream& operator<<(std::ostream& out, epilogue op) { return out << to_string(op); }

/// A or B: an [rows, K] row-major matrix (rows = M for A, N for B).
/// Pointers are host pointers for the CPU reference, device pointers for the cuBLASLt path.
struct input_operand {
  element_type type = element_type::float8_e4m3;  ///< Element type of the matrix.
  const void* data = nullptr;  ///< First element (row 0, column 0); required.
  std::int64_t ld = 0;  ///< Elements (not bytes) from one row to the next, >= K.
  scale_mode scaling = scale_mode::per_tensor;  ///< Arrangement of `scale`.
  /// Dequantisation factors in scaling's layout (gemm::scale_layout, scale_layout::count()
  /// floats): element q stands for q · s. With per_tensor, null means 1; the other modes require it.
  const float* scale = nullptr;
};

/// C: the [M, N] addend, read when beta != 0.
struct addend_operand {
  element_type type = element_type::bfloat16;  ///< Element type of C (see default_c_type).
  const void* data = nullptr;  ///< First element; required when beta != 0, else ignored.
  std::int64_t ld = 0;  ///< Elements from one row to the next, >= N (checked when beta != 0).
};

/// D: the [M, N] output.
struct output_operand {
  element_type type = element_type::bfloat16;  ///< Element type of D; FP8 types need `scale`.
  void* data = nullptr;  ///< First element; required. May equal C's only for a non-FP8 D (in place, same ld and type).
  std::int64_t ld = 0;  ///< Elements from one row to the next, >= N.
  /// FP8 D only: the quantisation factor sD (D_fp8 = convert(D · sD)); required for an
  /// FP8 D (point at 1.0f for none), must be null otherwise.
  const float* scale = nullptr;
  /// FP8 D only, optional: where max |D| (before sD, one float) is written; must be null
  /// for a non-FP8 D.
  float* amax = nullptr;
};

/// The bias of the bias epilogues: N values.
struct bias_vector {
  element_type type = element_type::bfloat16;  ///< Element type (see default_bias_type).
  const void* data = nullptr;  ///< N values; required with a bias epilogue, must be null otherwise.
};

/// One scaled GEMM: D = epilogue(alpha · (sA ⊙ A)(sB ⊙ B)ᵀ + beta · C + bias) with
/// A[M,K], B[N,K], C and D [M,N], all row-major (see this file's description).
///
/// Fill it field by field or start from make_problem(); gemm::validate() states what
/// must hold, gemm::validate_for_cublaslt() what the GPU path needs on top.
struct problem {
  /// M: rows of A, C and D; > 0.
  std::int64_t m = 0, n = 0, k = 0;
  /// \var n
  /// N: rows of B, columns of C and D; > 0.
  /// \var k
  /// K: the reduction length, columns of A and B; > 0.

  /// A[M, K] and its scales.
  input_operand a, b;
  /// \var b
  /// B[N, K] and its scales (the product uses Bᵀ).
  addend_operand c;  ///< C[M, N], read when beta != 0.
  output_operand d;  ///< D[M, N], the output.
  bias_vector bias;  ///< N values added to every row of D by the bias epilogues.
  epilogue epilogue_op = epilogue::none;  ///< What is applied before the output conversion.
  /// Factor of the scaled product.
  float alpha = 1.0f, beta = 0.0f;
  /// \var beta
  /// Factor of C; 0 means C is not read.

  /// cuBLASLt's FP8 fast accumulation: the tensor cores' partial sums are not
  /// promoted to full FP32 every few K steps. Faster, less accurate (the error
  /// grows with K); the CPU reference ignores it. Default off.
  bool fast_accumulation = false;
};

/// Whether `p` reads C: its beta is nonzero. The bits decide, not a float
/// compare: under the host's DAZ a subnormal beta compares equal to 0, and C
/// would go unread (and unchecked) where the default environment reads it.
inline bool reads_c(const problem& p) noexcept { return !mixprec::detail::is_zero_exactly(p.beta); }

/// The C and bias types cuBLASLt pairs with an output type (cuBLAS docs,
/// cublasLtMatmul, "FP8 data types" table): C has D's type, except that an FP8
/// D takes a BF16 C; the bias has C's type, except that an FP32 D with FP8
/// operands takes a BF16 bias.
constexpr element_type default_c_type(element_type d_type) noexcept {
  return is_fp8(d_type) ? element_type::bfloat16 : d_type;
}
/// The bias type cuBLASLt pairs with A's and D's types (see default_c_type).
constexpr element_type default_bias_type(element_type a_type, element_type d_type) noexcept {
  return is_fp8(a_type) && d_type == element_type::float32 ? element_type::bfloat16 : default_c_type(d_type);
}

/// A dense problem of the given shape and types: leading dimensions equal to
/// the row lengths, per-tensor scales, C and bias types as cuBLASLt pairs them.
/// Pointers, scales and the epilogue are the caller's to set.
inline problem make_problem(std::int64_t m, std::int64_t n, std::int64_t k, element_type a_type,
                            element_type b_type, element_type d_type) {
  problem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a.type = a_type;
  p.a.ld = k;
  p.b.type = b_type;
  p.b.ld = k;
  p.c.type = default_c_type(d_type);
  p.c.ld = n;
  p.d.type = d_type;
  p.d.ld = n;
  p.bias.type = default_bias_type(a_type, d_type);
  return p;
}

/// "M=64 N=2112 K=7168 A=float8_e4m3/per_tensor B=... D=bfloat16 epilogue=none":
/// what was asked, for error messages.
inline std::string describe(const problem& p) {
  const mixprec::detail::default_environment_while_formatting environment;  // alpha, beta as they are
  std::ostringstream out;
  out << "M=" << p.m << " N=" << p.n << " K=" << p.k << " A=" << p.a.type << '/' << p.a.scaling << " (lda=" << p.a.ld
      << ") B=" << p.b.type << '/' << p.b.scaling << " (ldb=" << p.b.ld << ") D=" << p.d.type << " (ldd=" << p.d.ld
      << ')';
  if (reads_c(p)) out << " C=" << p.c.type << " (ldc=" << p.c.ld << ", beta=" << p.beta << ')';
  out << " epilogue=" << p.epilogue_op;
  if (has_bias(p.epilogue_op)) out << " bias=" << p.bias.type;
  if (p.fast_accumulation) out << " fast_accumulation";
  return out.str();
}

}  // namespace gemm
}  // namespace mixprec
