// mixprec/reference/mx_quantize.hpp — the CPU reference of OCP Microscaling
// (MX) block quantization: MXFP8 (E4M3, E5M2), MXFP6 (E2M3, E3M2), MXFP4
// (E2M1), with one E8M0 scale per 32 consecutive elements.
//
//   quantize_mx(x, rows, cols, out, scales, options)           row-wise blocks
//   quantize_mx(..., mx_orientation::columnwise)               blocks down the columns: xᵀ quantized
//   dequantize_mx(q, scales, rows, cols, out)                  y = q · X
//
// The scale rule (OCP's floor or NVIDIA's rceil), the element rounding and the
// special blocks are those of mixprec/cast/mx_rules.hpp. Both orientations are
// quantized from the high-precision data (as TransformerEngine does: the
// column-wise copy of a quantized tensor quantized again would round twice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/operations.hpp"

namespace mixprec {

namespace reference {
namespace detail {

// The checks live with the rules (cast/mx_rules.hpp), shared with
// host::quantize_mx; the names stay here for their other callers.
using cast::detail::mx_element_count;

inline std::size_t mx_blocks_per_line(std::int64_t length) { return cast::detail::blocks_per_line(length, mx_block_size); }

template <class Source>
float mx_source_value(Source x) {
  if constexpr (std::is_same<Source, float>::value) {
    return x;
  } else {
    static_assert(is_basic_float<Source>::value, "MX sources are float or a mixprec value type");
    return static_cast<float>(x);  // exact
  }
}

}  // namespace detail

/// Quantizes x ([rows, cols], row-major; float or a mixprec type) to MX
/// elements of type Element (float8_e4m3, float8_e5m2, float6_e2m3,
/// float6_e3m2, float4_e2m1, one per byte) with one float8_e8m0 scale per
/// block of 32 (mx_block_size) consecutive elements along `orientation`
/// (rowwise: out [rows, cols], scales [rows, ceil(cols / 32)]; columnwise:
/// out [cols, rows] = xᵀ quantized, scales [cols, ceil(rows / 32)]); a line
/// whose length is no multiple of 32 ends in a partial block. Scales and
/// elements follow mixprec/cast/mx_rules.hpp; the scales are stored in
/// o.scale_layout (gemm::block_scale_count entries: the compact count, or
/// the lines padded to 128 times the blocks padded to 4 for cuBLASLt's tiles).
/// @throws mixprec::error, before writing anything, for negative rows or cols
///         or a product that overflows, a null x, out or scales with
///         elements, options whose rule, mode or layout is no enumerator, and
///         x, out and scales that overlap or reach beyond the address space
///         (the checks are cast::detail::check_mx_quantize, shared with
///         host::quantize_mx).
template <class Element, class Source>
void quantize_mx(const Source* x, std::int64_t rows, std::int64_t cols, Element* out, float8_e8m0* scales,
                 const mx_options& o = {}, mx_orientation orientation = mx_orientation::rowwise) {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  const cast::detail::block_quantize_shape shape = cast::detail::check_mx_quantize(
      x, rows, cols, out, scales, o, orientation, "mixprec::reference::quantize_mx");
  if (shape.elements == 0) return;
  for (std::size_t i = 0; i < shape.scale_count; ++i) scales[i] = float8_e8m0::from_bits(0);  // tile padding
  const auto source_index = [&](std::int64_t line, std::int64_t position) {
    return static_cast<std::size_t>(shape.rowwise ? line * cols + position : position * cols + line);
  };
  for (std::int64_t line = 0; line < shape.lines; ++line) {
    for (std::size_t block = 0; block < shape.blocks; ++block) {
      const std::int64_t begin = static_cast<std::int64_t>(block * mx_block_size);
      const std::int64_t end = begin + static_cast<std::int64_t>(mx_block_size) < shape.length
                                   ? begin + static_cast<std::int64_t>(mx_block_size)
                                   : shape.length;
      // amax as a magnitude; a NaN anywhere makes it NaN (and the scale NaN).
      // The largest magnitude of finite values is the largest of their
      // magnitude bits (read as bits: DAZ would compare subnormals as 0).
      std::uint32_t amax_bits = 0;
      for (std::int64_t p = begin; p < end; ++p) {
        const std::uint32_t magnitude =
            mixprec::detail::magnitude_bits(detail::mx_source_value(x[source_index(line, p)]));
        amax_bits = magnitude > amax_bits ? magnitude : amax_bits;
      }
      const float amax = amax_bits > 0x7F800000u ? std::numeric_limits<float>::quiet_NaN()
                                                 : mixprec::detail::bit_cast<float>(amax_bits);
      const float8_e8m0 scale = cast::mx_scale<Element>(amax, o.rule);
      scales[gemm::block_scale_offset(o.scale_layout, static_cast<std::size_t>(line), block, shape.blocks)] = scale;
      for (std::int64_t p = begin; p < end; ++p) {
        const std::size_t index = source_index(line, p);
        const std::uint32_t random_bits =
            o.mode == rounding::stochastic ? stochastic_rounding_bits(o.seed, o.offset, index) : 0u;
        out[static_cast<std::size_t>(line * shape.length + p)] =
            cast::mx_encode<Element>(detail::mx_source_value(x[index]), scale, o.mode, random_bits);
      }
    }
  }
}

/// The values of MX data: out[l · length + p] = q[l · length + p] · X of its
/// block (cast::mx_decode), q and out [lines, length] row-major with
/// ceil(length / 32) scales per line in `scale_layout` (the layout
/// quantize_mx writes: lines = rows, length = cols rowwise; lines = cols,
/// length = rows columnwise).
/// @throws mixprec::error, before writing anything, for negative sizes or a
///         product that overflows, a null q, scales or out with elements, a
///         layout that is no enumerator, and q, scales and out that overlap or
///         reach beyond the address space.
template <class Element>
void dequantize_mx(const Element* q, const float8_e8m0* scales, std::int64_t lines, std::int64_t length, float* out,
                   gemm::block_scale_layout scale_layout = gemm::block_scale_layout::compact) {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  constexpr const char* who = "mixprec::reference::dequantize_mx";
  const std::size_t n = detail::mx_element_count(lines, length, who);
  require(n == 0 || (q != nullptr && scales != nullptr && out != nullptr), who, ": ",
          q == nullptr ? "q" : scales == nullptr ? "scales" : "out", " is null but lines * length = ", n,
          "; pass arrays for every element and scale (null is accepted only without elements)");
  const std::size_t blocks = detail::mx_blocks_per_line(length);
  const std::size_t scale_count = gemm::block_scale_count(scale_layout, static_cast<std::size_t>(lines), blocks, who);
  if (n != 0) {
    const cast::detail::array_extent arrays[] = {{"q", q, cast::detail::array_bytes(n, sizeof(Element))},
                                                 {"scales", scales, scale_count},
                                                 {"out", out, cast::detail::array_bytes(n, sizeof(float))}};
    cast::detail::require_disjoint_arrays(who, arrays, 3);
  }
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t p = 0; p < length; ++p) {
      const std::size_t index = static_cast<std::size_t>(line * length + p);
      const std::size_t scale = gemm::block_scale_offset(scale_layout, static_cast<std::size_t>(line),
                                                         static_cast<std::size_t>(p) / mx_block_size, blocks);
      out[index] = cast::mx_decode(q[index], scales[scale]);
    }
}

}  // namespace reference
}  // namespace mixprec
