/// \file
/// mixprec/gemm/scale_layout.hpp — where each scale of an FP8 operand lives.
///
/// The one definition the CPU reference, the cast kernels (which write scales)
/// and the cuBLASLt GEMM (which reads them) share. A wrong layout does not
/// fail: it multiplies blocks by their neighbours' scales and gives
/// plausible-looking errors of a few percent, so nothing else may spell it out.
///
/// An operand X is [rows, cols] row-major with cols = K contiguous (A: rows = M,
/// B: rows = N). For element (r, c) its scale is scales[index(r, c)]:
///
/// ~~~~
///   per_tensor     1 float                         index = 0
///   row_wise       rows floats                     index = r
///   block_1x128    ceil(cols/128) x rows4 floats   index = (c / 128) · rows4 + r
///                  (rows4 = rows rounded up to a multiple of 4)
///   block_128x128  ceil(rows/128) x cols4 floats   index = (r / 128) · cols4 + c / 128
///                  (cols4 = ceil(cols/128) rounded up to a multiple of 4)
/// ~~~~
///
/// That is: 1x128 scales are stored K-block-major, the rows of one K block
/// contiguous (the "M-major" / "outer-dimension-contiguous" order); 128x128
/// scales are stored row-block-major, the K blocks of one row block contiguous.
/// Entries in the padding are never read.
///
/// Where this comes from (looked up for cuBLASLt 13.1, CUDA 13; the headers name
/// the modes but not the layouts; the docs give them):
///  - /usr/local/cuda/include/cublasLt.h, cublasLtMatmulMatrixScale_t:
///    OUTER_VEC_32F "vectors ... M and N elements respectively"; VEC128_32F "a
///    dedicated CUDA_R_32F scaling factor for each 128-element block in the
///    innermost dimension"; BLK128x128_32F one per 128x128 block.
///  - NVIDIA/CUDALibrarySamples cuBLASLt/Common/helpers.h, getScaleTensorSize:
///    VEC128_32F holds ceil(inner/128) · outer floats, BLK128x128_32F
///    roundup(ceil(inner/128), 4) · ceil(outer/128): the inner (K) block count
///    of a 2-D scale tensor is padded to 4 (16 bytes).
///  - PyTorch aten/src/ATen/native/cuda/ScaledBlas.cpp (_scaled_mm's block
///    paths, which hand these tensors to cuBLASLt unchanged): 1x128 scales of
///    A[M,K] have shape [M, ceil(K/128)] with strides (1, M), i.e. index
///    kb · M + r; 128x128 scales of B have shape [roundup(ceil(K/128),4),
///    ceil(N/128)] with strides (1, roundup(ceil(K/128),4)), i.e. index
///    nb · cols4 + kb.
///  - TransformerEngine Float8BlockQuantizer.get_scale_shape ("GEMM_READY"
///    format for cuBLASLt): 1x128 scales (ceil(K/128), roundup(M,4)) and
///    128x128 scales (ceil(M/128), roundup(ceil(K/128),4)), both row-major.
///  - cuBLAS docs (13.x), "128-element 1D and 128x128 2D Block Scaling For FP8
///    Data Types", "Scaling factors layouts": VEC128_32F scales are M-major for
///    A ([M, L], L = ceil(K/128)) and N-major for B; BLK128x128_32F scales are
///    K-major with a column stride that is a multiple of 4 ([L4, ceil(rows/128)],
///    L4 = L rounded up to 4); both start 16-byte aligned; and M and N must be
///    multiples of 4.
/// All five agree; the one difference is whether 1x128's row stride is padded
/// to a multiple of 4 (TransformerEngine) or not (PyTorch). No source says so
/// outright, but the cuBLAS docs settle it for cuBLASLt: with block scales M
/// and N must be multiples of 4 (validate_for_cublaslt enforces it), and then
/// the padded and unpadded layouts are the same. So the padding matters only
/// to the CPU reference and the cast kernels, which take any row count; we pad,
/// as NVIDIA's own library does, which keeps every K block 16-byte aligned.
/// (One third-party binding found in the same search claims the opposite order
/// for VEC128_32F, the K blocks of a row contiguous; the cuBLAS docs, PyTorch
/// and TransformerEngine disagree with it. A later PyTorch ScaledBlas.cpp
/// checks 128x128 scales with an unpadded K-block stride, ceil(K/128); that
/// differs from the docs' multiple of 4 only when ceil(K/128) % 4 != 0.)
/// Until a GPU run confirms it, this layout is the best-sourced reading, not a
/// measured fact: tests/cuda/test_scaled_gemm.cpp checks it against cuBLASLt
/// with a different random scale per block (rows = 1 and 17 with row-wise
/// scales; block scales refuse them).
#pragma once

#include <cmath>
#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/gemm/problem.hpp"

namespace mixprec {
namespace gemm {

/// ceil(a / b) for a >= 0 and b > 0, without forming a + b - 1 (which could
/// overflow).
MIXPREC_HOST_DEVICE constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept {
  return a / b + (a % b != 0 ? 1 : 0);
}
/// a rounded up to a multiple of `multiple` (a >= 0, multiple > 0); the caller
/// keeps the result below INT64_MAX (checked_round_up tells).
MIXPREC_HOST_DEVICE constexpr std::int64_t round_up(std::int64_t a, std::int64_t multiple) noexcept {
  return ceil_div(a, multiple) * multiple;
}

/// Overflow-safe size arithmetic on non-negative counts: the exact result, or
/// -1 when an operand is negative (an earlier overflow) or the result exceeds
/// INT64_MAX. Chains propagate the -1.
constexpr std::int64_t checked_multiply(std::int64_t a, std::int64_t b) noexcept {
  if (a < 0 || b < 0) return -1;
  return b != 0 && a > INT64_MAX / b ? -1 : a * b;
}
/// a + b, or -1 when an operand is negative or the sum exceeds INT64_MAX.
constexpr std::int64_t checked_add(std::int64_t a, std::int64_t b) noexcept {
  if (a < 0 || b < 0) return -1;
  return a > INT64_MAX - b ? -1 : a + b;
}
/// a rounded up to a multiple of `multiple` (> 0), or -1 on overflow or a
/// negative a.
constexpr std::int64_t checked_round_up(std::int64_t a, std::int64_t multiple) noexcept {
  return a < 0 ? -1 : checked_multiply(ceil_div(a, multiple), multiple);
}

/// Elements per block side of the block modes (1x128 and 128x128). (The
/// functions here are host/device: the cast kernels and the reference share them.)
constexpr std::int64_t scale_block_size = 128;

/// The scale layout of one [rows, cols] operand in one scale_mode (table in this
/// file's description): how many floats to allocate and which one governs an element.
struct scale_layout {
  scale_mode mode = scale_mode::per_tensor;  ///< The operand's scale mode.
  std::int64_t rows = 0;  ///< Rows of the operand (M for A, N for B).
  std::int64_t cols = 0;  ///< Columns of the operand (K).

  /// Distance between consecutive K blocks (block_1x128) or row blocks
  /// (block_128x128), in floats; 0 for per_tensor and row_wise.
  MIXPREC_HOST_DEVICE constexpr std::int64_t stride() const noexcept {
    switch (mode) {
      case scale_mode::block_1x128: return round_up(rows, 4);
      case scale_mode::block_128x128: return round_up(ceil_div(cols, scale_block_size), 4);
      default: return 0;
    }
  }

  /// Floats to allocate, or -1 when that exceeds INT64_MAX (or rows or cols
  /// is negative, or mode is no enumerator): what validation checks before
  /// count() is used.
  constexpr std::int64_t checked_count() const noexcept {
    if (rows < 0 || cols < 0) return -1;
    switch (mode) {
      case scale_mode::per_tensor: return 1;
      case scale_mode::row_wise: return rows;
      case scale_mode::block_1x128:
        return checked_multiply(ceil_div(cols, scale_block_size), checked_round_up(rows, 4));
      case scale_mode::block_128x128:
        return checked_multiply(ceil_div(rows, scale_block_size),
                                checked_round_up(ceil_div(cols, scale_block_size), 4));
    }
    return -1;
  }

  // Floats to allocate (checked_count() when that may overflow).
  /// Floats to allocate (padding included).
  MIXPREC_HOST_DEVICE constexpr std::int64_t count() const noexcept {
    switch (mode) {
      case scale_mode::per_tensor: return 1;
      case scale_mode::row_wise: return rows;
      case scale_mode::block_1x128: return ceil_div(cols, scale_block_size) * stride();
      case scale_mode::block_128x128: return ceil_div(rows, scale_block_size) * stride();
    }
    return 0;
  }

  /// Position (in floats) of the scale that governs element (row, col).
  MIXPREC_HOST_DEVICE constexpr std::int64_t index(std::int64_t row, std::int64_t col) const noexcept {
    switch (mode) {
      case scale_mode::per_tensor: return 0;
      case scale_mode::row_wise: return row;
      case scale_mode::block_1x128: return (col / scale_block_size) * stride() + row;
      case scale_mode::block_128x128: return (row / scale_block_size) * stride() + col / scale_block_size;
    }
    return 0;
  }
};

/// The layout of a [rows, cols] operand's scales, after checking what its
/// arithmetic needs: mode is an enumerator (scale_mode(9) would put every
/// block's scale at index 0), rows and cols are not negative, and count()
/// fits in 64 bits. `who` starts the message.
/// @throws mixprec::error naming the value that breaks a rule.
inline scale_layout checked_scale_layout(scale_mode mode, std::int64_t rows, std::int64_t cols, const char* who) {
  require(is_valid(mode), who, "scale mode ", static_cast<int>(mode),
          " is not a gemm::scale_mode enumerator (per_tensor, row_wise, block_1x128, block_128x128)");
  require(rows >= 0 && cols >= 0, who, "rows = ", rows, " and cols = ", cols, " must not be negative");
  const scale_layout layout{mode, rows, cols};
  require(layout.checked_count() >= 0, who, "the ", mode, " scales of a ", rows, " x ", cols,
          " tensor would need more than INT64_MAX floats");
  return layout;
}

/// Checks one scale (dequantisation factor scale_inv, or the quantisation
/// factor of an FP8 output) before use: a NaN, infinite, zero or negative
/// scale gives NaN, infinite, all-zero or sign-flipped results that no
/// scaling recipe produces, so it must be finite and positive. `who` starts
/// the message, `name`[index] names the scale.
/// @throws mixprec::error naming the scale and its value.
inline void require_usable_scale(float value, const char* who, const char* name, std::int64_t index) {
  // From the bits (core/exact_float.hpp): under the host's DAZ a float compare
  // reads a subnormal as 0 (1 / FLT_MAX, the reciprocal of a clamped scale, is one).
  require(mixprec::detail::is_finite_positive(value), who, name, "[", index, "] = ", value,
          ": scales must be finite and positive");
}

/// Checks every scale of `layout` that a computation reads (the padding of
/// the block layouts is neither read nor checked), as require_usable_scale.
/// scales points to layout.count() floats; layout.mode must be an enumerator
/// and the count must fit (validation checks both first).
/// @throws mixprec::error naming the first bad scale, its index and value.
inline void require_usable_scales(const float* scales, const scale_layout& layout, const char* who,
                                  const char* name) {
  const std::int64_t k_blocks = ceil_div(layout.cols, scale_block_size);
  switch (layout.mode) {
    case scale_mode::per_tensor: require_usable_scale(scales[0], who, name, 0); return;
    case scale_mode::row_wise:
      for (std::int64_t r = 0; r < layout.rows; ++r) require_usable_scale(scales[r], who, name, r);
      return;
    case scale_mode::block_1x128:
      for (std::int64_t kb = 0; kb < k_blocks; ++kb) {
        for (std::int64_t r = 0; r < layout.rows; ++r) {
          const std::int64_t i = layout.index(r, kb * scale_block_size);
          require_usable_scale(scales[i], who, name, i);
        }
      }
      return;
    case scale_mode::block_128x128:
      for (std::int64_t rb = 0; rb < ceil_div(layout.rows, scale_block_size); ++rb) {
        for (std::int64_t kb = 0; kb < k_blocks; ++kb) {
          const std::int64_t i = layout.index(rb * scale_block_size, kb * scale_block_size);
          require_usable_scale(scales[i], who, name, i);
        }
      }
      return;
  }
}

// The layouts of a problem's A and B scales.
/// The layout of a problem's A scales: {a.scaling, M, K}.
inline scale_layout scale_layout_of_a(const problem& p) noexcept { return {p.a.scaling, p.m, p.k}; }
/// The layout of a problem's B scales: {b.scaling, N, K}.
inline scale_layout scale_layout_of_b(const problem& p) noexcept { return {p.b.scaling, p.n, p.k}; }

}  // namespace gemm
}  // namespace mixprec
