// examples/fashion_mnist/backend.hpp — GEMM operands and GEMM calls of the
// demo, over mixprec's CPU reference.
//
// Casts go through mixprec::reference::quantize / quantize_blockwise (the
// host counterparts of the cast kernels: x · scale rounded once by the
// engine, amax in the same pass, optional cast-transpose), GEMMs through
// mixprec::reference::scaled_gemm (operands decoded exactly, exact products,
// FP32 accumulation, scales as dequantisation factors). This file only
// dispatches on the recipe's element types and owns the buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/types.hpp"
#include "recipes.hpp"

namespace fashion_mnist {

using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

// One GEMM input: [rows, cols] row-major, cols = K contiguous, in its format,
// with dequantisation factors (scale_inv) in `mode`'s layout. The data lives
// in `storage`, or elsewhere (an optimizer's model copy) when `data` says so.
struct gemm_operand {
  element_type type = element_type::float32;
  std::int64_t rows = 0, cols = 0;
  std::vector<unsigned char> storage;
  const void* data = nullptr;
  scale_mode mode = scale_mode::per_tensor;
  std::vector<float> scale_inv = {1.0f};

  // Storage for a [rows, cols] operand of `t`; data points at it.
  void* allocate(element_type t, std::int64_t r, std::int64_t c) {
    type = t;
    rows = r;
    cols = c;
    storage.resize(static_cast<std::size_t>(r * c) * mixprec::gemm::size_of(t));
    data = storage.data();
    return storage.data();
  }
  // An operand whose elements live elsewhere (and outlive it).
  void refer_to(const void* elements, element_type t, std::int64_t r, std::int64_t c, float dequantisation) {
    type = t;
    rows = r;
    cols = c;
    data = elements;
    mode = scale_mode::per_tensor;
    scale_inv.assign(1, dequantisation);
  }
};

// q = convert(x · scale) (and, if `transposed` is not null, qᵀ in the same
// pass); the dequantisation factor is 1 / scale. FP32 is a copy. Returns amax(x).
inline float cast_per_tensor(const float* x, std::int64_t rows, std::int64_t cols, element_type type, float scale,
                             gemm_operand* out, gemm_operand* transposed) {
  return with_type(type, [&](auto zero) -> float {
    using T = decltype(zero);
    T* q = nullptr;
    T* qt = nullptr;
    if (out != nullptr) {
      q = static_cast<T*>(out->allocate(type, rows, cols));
      out->mode = scale_mode::per_tensor;
      out->scale_inv.assign(1, 1.0f / scale);
    }
    if (transposed != nullptr) {
      qt = static_cast<T*>(transposed->allocate(type, cols, rows));
      transposed->mode = scale_mode::per_tensor;
      transposed->scale_inv.assign(1, 1.0f / scale);
    }
    if constexpr (std::is_same<T, float>::value) {
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) {
          if (q != nullptr) q[r * cols + c] = x[r * cols + c];
          if (qt != nullptr) qt[c * rows + r] = x[r * cols + c];
        }
      return mixprec::reference::amax(x, static_cast<std::size_t>(rows * cols));
    } else {
      return mixprec::reference::quantize<T>(x, rows, cols, scale, q, qt, cast_options(type));
    }
  });
}

// Scales from each block's own amax (1x128 or 128x128 blocks, current
// scaling); `transposed` (128x128 only) receives qᵀ with its scales.
inline void cast_blockwise(const float* x, std::int64_t rows, std::int64_t cols, element_type type, scale_mode mode,
                           gemm_operand& out, gemm_operand* transposed = nullptr) {
  with_type(type, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same<T, float>::value) {
      T* q = static_cast<T*>(out.allocate(type, rows, cols));
      out.mode = mode;
      out.scale_inv.assign(static_cast<std::size_t>(mixprec::gemm::scale_layout{mode, rows, cols}.count()), 1.0f);
      T* qt = nullptr;
      float* scale_inv_t = nullptr;
      if (transposed != nullptr) {
        qt = static_cast<T*>(transposed->allocate(type, cols, rows));
        transposed->mode = mode;
        transposed->scale_inv.assign(
            static_cast<std::size_t>(mixprec::gemm::scale_layout{mode, cols, rows}.count()), 1.0f);
        scale_inv_t = transposed->scale_inv.data();
      }
      mixprec::reference::quantize_blockwise<T>(x, rows, cols, mode, q, out.scale_inv.data(), qt, scale_inv_t,
                                                cast_options(type));
    }
  });
}

// The transposed copy of a per-tensor operand: the same values and scale
// (what the cast-transpose output would hold).
inline void transpose_operand(const gemm_operand& in, gemm_operand& out) {
  const std::size_t size = mixprec::gemm::size_of(in.type);
  auto* target = static_cast<unsigned char*>(out.allocate(in.type, in.cols, in.rows));
  out.mode = in.mode;
  out.scale_inv = in.scale_inv;
  const auto* source = static_cast<const unsigned char*>(in.data);
  for (std::int64_t r = 0; r < in.rows; ++r)
    for (std::int64_t c = 0; c < in.cols; ++c)
      std::memcpy(target + static_cast<std::size_t>(c * in.rows + r) * size,
                  source + static_cast<std::size_t>(r * in.cols + c) * size, size);
}

// D[M, N] = (sA ⊙ A) · (sB ⊙ B)ᵀ with A = a [M, K] and B = b [N, K], FP32
// accumulation, D converted to d_type (BF16/FP16: nearest even, overflow to inf).
inline void gemm_nt(const gemm_operand& a, const gemm_operand& b, element_type d_type, void* d) {
  mixprec::require(a.cols == b.cols, "fashion_mnist::gemm_nt: A is [", a.rows, ", ", a.cols, "] but B is [", b.rows,
                   ", ", b.cols, "]; both must be K-contiguous with the same K");
  mixprec::gemm::problem p = mixprec::gemm::make_problem(a.rows, b.rows, a.cols, a.type, b.type, d_type);
  p.a.data = a.data;
  p.a.scaling = a.mode;
  p.a.scale = a.scale_inv.data();
  p.b.data = b.data;
  p.b.scaling = b.mode;
  p.b.scale = b.scale_inv.data();
  p.d.data = d;
  mixprec::reference::scaled_gemm(p);
}

}  // namespace fashion_mnist
