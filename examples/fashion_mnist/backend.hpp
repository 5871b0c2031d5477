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
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/host/block_quantize.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/scaling/block_recipes.hpp"
#include "mixprec/types.hpp"
#include "numerics.hpp"
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

// Calls f(T{}) with the C++ type of an MX element (float8_e4m3, ...,
// float4_e2m1).
template <class F>
decltype(auto) with_block_element(mixprec::gemm::block_element element, F&& f) {
  using mixprec::gemm::block_element;
  switch (element) {
    case block_element::float8_e4m3: return f(mixprec::float8_e4m3{});
    case block_element::float8_e5m2: return f(mixprec::float8_e5m2{});
    case block_element::float6_e2m3: return f(mixprec::float6_e2m3{});
    case block_element::float6_e3m2: return f(mixprec::float6_e3m2{});
    case block_element::float4_e2m1: break;
  }
  return f(mixprec::float4_e2m1{});
}

// What a block cast did to a tensor, for the numerics report.
struct block_cast_report {
  cast_census census;         // in the operand's own element format, at its block scales
  std::vector<float> scaled;  // x divided by each element's decode factor, in x's order (0 where x is 0)
};

namespace detail {

// What the quantization of x did to each non-zero element (numerics.hpp's
// cast_census): flushed to ±0, left a non-zero subnormal element, or
// saturated: x divided by its block's decode factor (`scaled`, exact in
// double) lay beyond max plus half the spacing below max (E4M3 464, E5M2
// 61440, E2M1 7), where nearest-even rounding in a format with more exponent
// range would give a larger value: the clamp to ±max decided it, as the
// census of the per-tensor formats counts values beyond their overflow
// threshold. (NVFP4 block maxima land in [5.65, 6.4]: rounded, not clamped.)
// q is the quantized operand [lines, length]; element (line, p) came from x at
// (line, p) row-wise or (p, line) column-wise.
template <class Element, class Scaled>
block_cast_report report_block_cast(const float* x, std::int64_t cols, bool rowwise, const Element* q,
                                    std::int64_t lines, std::int64_t length, Scaled scaled) {
  const Element max = std::numeric_limits<Element>::max();
  const double below_max = static_cast<double>(static_cast<float>(Element::from_bits(
      static_cast<typename Element::storage_type>(max.bits() - 1))));  // the next value down (same sign)
  const double largest = static_cast<double>(static_cast<float>(max));
  const double clamp_threshold = largest + (largest - below_max) / 2;
  const float smallest_normal = static_cast<float>(std::numeric_limits<Element>::min());
  block_cast_report result;
  result.scaled.assign(static_cast<std::size_t>(lines * length), 0.0f);
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t p = 0; p < length; ++p) {
      const std::int64_t source_index = rowwise ? line * cols + p : p * cols + line;
      const float source = x[source_index];
      if (source == 0.0f) continue;
      cast_census& c = result.census;
      ++c.nonzero;
      const float element = std::fabs(static_cast<float>(q[line * length + p]));
      const double value = scaled(line, p, static_cast<double>(source));
      result.scaled[static_cast<std::size_t>(source_index)] = static_cast<float>(value);
      const double magnitude = std::fabs(value);
      if (!(magnitude <= clamp_threshold)) ++c.saturated;  // NaN counts as saturated, as census() does
      else if (element == 0.0f) ++c.flushed;
      else if (element < smallest_normal) ++c.subnormal;
    }
  return result;
}

}  // namespace detail

// Quantizes x [rows, cols] as operand `role` of `recipe` (MX or NVFP4 with
// the operand's element type, block shape, scale rule and rounding, in the
// operand's orientation, always from x itself: the column-wise copies the
// wgrad GEMM reads are quantized from the high-precision data, never from a
// quantized copy) and stores it dequantized, [lines, length] K-contiguous, as
// an FP32 operand, so that gemm_nt runs it through the CPU reference GEMM:
//  - MX: out = q · X (cast::mx_decode), exact: E8M0 scales are powers of two;
//  - NVFP4: out = q · d (E2M1 times the E4M3 block scale: at most 6
//    significant bits, exact in float) with the per-tensor factor 1 / S as
//    the operand's scale_inv, which scaled_gemm applies to the finished sum,
//    as cuBLASLt applies alpha = 1 / (S_a · S_b) (the two factors are
//    multiplied in float: within two roundings of that alpha). With the
//    random Hadamard transform the values stay in the transformed domain:
//    both wgrad operands are transformed along K with the same signs, so
//    their product needs no inverse ((DH/4)(DH/4)ᵀ = I, nvfp4_rules.hpp).
// This emulation of the block-scaled GEMM is exact: every product of two
// dequantized values (at most 8 + 8 significant bits for MX, 6 + 6 for
// NVFP4, far inside float's exponent range for this model's tensors) is a
// float, and it is the product the block-scaled GEMM forms from the
// elements and their block scales; the FP32 sums over K then follow
// reference::block_scaled_gemm's definition (K order, FP32 accumulator).
// `seed` and `offset` feed stochastic rounding. When `report` is not null
// (operands without the transform only) it receives what the cast did to x.
inline void cast_block_scaled(const float* x, std::int64_t rows, std::int64_t cols,
                              const mixprec::block_scaling_recipe& recipe, mixprec::linear_operand role,
                              std::uint64_t seed, std::uint64_t offset, gemm_operand& out,
                              block_cast_report* report = nullptr) {
  const mixprec::block_operand_recipe& r = recipe.operand(role);
  const mixprec::mx_orientation orientation = mixprec::orientation_of(role);
  const bool rowwise = orientation == mixprec::mx_orientation::rowwise;
  const std::int64_t lines = rowwise ? rows : cols, length = rowwise ? cols : rows;
  mixprec::require(report == nullptr || !r.random_hadamard,
                   "fashion_mnist::cast_block_scaled: a census of operand ", mixprec::to_string(role),
                   " would count transformed values; ask for it on operands without the random Hadamard transform");
  const std::size_t n = static_cast<std::size_t>(lines * length);
  if (r.quantizer == mixprec::block_quantizer::nvfp4) {
    const mixprec::nvfp4_options options = mixprec::nvfp4_options_for(r, seed, offset);
    const std::size_t blocks = (static_cast<std::size_t>(length) + mixprec::nvfp4_block_size - 1) /
                               mixprec::nvfp4_block_size;
    std::vector<mixprec::float4_e2m1> q(n);
    std::vector<mixprec::float8_e4m3> block_scales(static_cast<std::size_t>(lines) * blocks);
    const float tensor_scale =
        mixprec::host::quantize_nvfp4(x, rows, cols, q.data(), block_scales.data(), options, orientation);
    mixprec::nvfp4_options decode = options;
    decode.random_hadamard = false;  // stay in the transformed domain (see above)
    float* values = static_cast<float*>(out.allocate(element_type::float32, lines, length));
    mixprec::reference::dequantize_nvfp4(q.data(), block_scales.data(), 1.0f, lines, length, values, decode);
    out.mode = scale_mode::per_tensor;
    out.scale_inv.assign(1, 1.0f / tensor_scale);
    if (report != nullptr)
      *report = detail::report_block_cast(
          x, cols, rowwise, q.data(), lines, length, [&](std::int64_t line, std::int64_t p, double v) {
            const double d = static_cast<double>(
                static_cast<float>(block_scales[static_cast<std::size_t>(line) * blocks +
                                                static_cast<std::size_t>(p) / mixprec::nvfp4_block_size]));
            return d == 0.0 ? 0.0 : v * static_cast<double>(tensor_scale) / d;  // d = 0: every element is ±0
          });
    return;
  }
  with_block_element(r.element, [&](auto zero) {
    using T = decltype(zero);
    const std::size_t blocks = (static_cast<std::size_t>(length) + mixprec::mx_block_size - 1) /
                               mixprec::mx_block_size;
    std::vector<T> q(n);
    std::vector<mixprec::float8_e8m0> scales(static_cast<std::size_t>(lines) * blocks);
    mixprec::host::quantize_mx(x, rows, cols, q.data(), scales.data(), mixprec::mx_options_for(r, seed, offset),
                               orientation);
    float* values = static_cast<float*>(out.allocate(element_type::float32, lines, length));
    mixprec::reference::dequantize_mx(q.data(), scales.data(), lines, length, values);
    out.mode = scale_mode::per_tensor;
    out.scale_inv.assign(1, 1.0f);
    if (report != nullptr)
      *report = detail::report_block_cast(
          x, cols, rowwise, q.data(), lines, length, [&](std::int64_t line, std::int64_t p, double v) {
            return v / static_cast<double>(static_cast<float>(
                           scales[static_cast<std::size_t>(line) * blocks +
                                  static_cast<std::size_t>(p) / mixprec::mx_block_size]));
          });
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
