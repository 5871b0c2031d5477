// examples/fashion_mnist/backend.cpp — backend.hpp's casts and GEMM over
// mixprec's CPU reference and host quantizers (what each does: backend.hpp).
#include "backend.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "mixprec/core/error.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/host/block_quantize.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/types.hpp"
#include "recipes.hpp"

namespace fashion_mnist {
// This file's helpers have internal linkage: backend.hpp's functions are its
// only interface.
namespace {

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

}  // namespace


float cast_per_tensor(const float* x, std::int64_t rows, std::int64_t cols, element_type type, float scale,
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

void cast_blockwise(const float* x, std::int64_t rows, std::int64_t cols, element_type type, scale_mode mode,
                    gemm_operand& out, gemm_operand* transposed) {
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

void cast_block_scaled(const float* x, std::int64_t rows, std::int64_t cols,
                       const mixprec::block_scaling_recipe& recipe, mixprec::linear_operand role,
                       std::uint64_t seed, std::uint64_t offset, gemm_operand& out,
                       block_cast_report* report) {
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
      *report = report_block_cast(
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
      *report = report_block_cast(
          x, cols, rowwise, q.data(), lines, length, [&](std::int64_t line, std::int64_t p, double v) {
            return v / static_cast<double>(static_cast<float>(
                           scales[static_cast<std::size_t>(line) * blocks +
                                  static_cast<std::size_t>(p) / mixprec::mx_block_size]));
          });
  });
}

void transpose_operand(const gemm_operand& in, gemm_operand& out) {
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

void gemm_nt(const gemm_operand& a, const gemm_operand& b, element_type d_type, void* d) {
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
