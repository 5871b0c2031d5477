// mixprec/reference/nvfp4_quantize.hpp — the CPU reference of NVFP4 block
// quantization: E2M1 elements, one E4M3 scale per 16 consecutive elements
// (or per 16x16 tile), one FP32 tensor scale.
//
//   S = quantize_nvfp4(x, rows, cols, out, block_scales, options)          row-wise blocks
//   S = quantize_nvfp4(..., mx_orientation::columnwise)                    xᵀ quantized
//   dequantize_nvfp4(q, block_scales, S, lines, length, out, options)      x ≈ q · d / S
//
// The scale and element rules (and the random Hadamard transform) are those of
// mixprec/cast/nvfp4_rules.hpp. Both orientations are quantized from the
// high-precision data, as TransformerEngine does.
//
// Options (TransformerEngine's NVFP4BlockScaling recipe uses 16x16 blocks for
// weights, 1x16 for activations and gradients, stochastic rounding for
// gradients and the RHT on the column-wise wgrad operands):
//  - two_dimensional_blocks: one scale per 16x16 tile of x (amax over the
//    tile), written once per row of the tile, so that the scale array keeps the
//    per-row shape [lines, ceil(length / 16)] a GEMM reads (cuBLASLt has only
//    1D block scales). The tile is the same set of elements in both
//    orientations, so the columnwise output is exactly the transpose of the
//    rowwise one.
//  - random_hadamard: each 16-element block along the quantized dimension is
//    transformed first (cast::random_hadamard_transform), and S, the block
//    scales and the elements are those of the transformed values (TE's
//    "post-RHT amax"); dequantize_nvfp4 then applies the inverse.
//  - scale_layout: compact [lines, ceil(length / 16)] or cuBLASLt's 128x4
//    tiles (mixprec/gemm/block_scale_layout.hpp), padding written as 0x00.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "mixprec/cast/nvfp4_rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

namespace mixprec {

namespace reference {
namespace detail {

// The checks live with the rules (cast/nvfp4_rules.hpp), shared with
// host::quantize_nvfp4; the name stays here for its other callers.
using cast::detail::nvfp4_validate;

}  // namespace detail

/// Quantizes x ([rows, cols], row-major; float or a mixprec value type) to
/// NVFP4: E2M1 elements (one per byte) in `out`, E4M3 block scales in
/// `block_scales`, and returns the FP32 tensor scale S (decode: x ≈ q · d /
/// S). rowwise: out [rows, cols] with blocks of 16 along each row;
/// columnwise: out [cols, rows] = xᵀ quantized, blocks of 16 down the
/// columns of x. block_scales holds ceil(length / 16) scales per line of out
/// (lines = rows, length = cols rowwise; lines = cols, length = rows
/// columnwise) in o.scale_layout (gemm::block_scale_count entries). A line
/// whose length is no multiple of 16 ends in a partial block. Rules:
/// mixprec/cast/nvfp4_rules.hpp.
/// @throws mixprec::error, before writing anything, for negative rows or
///         cols or sizes that overflow, a null x, out or block_scales with
///         elements, a mode, layout or orientation that is no enumerator, and
///         random_hadamard with two_dimensional_blocks or with a quantized
///         dimension that is no multiple of 16, and x, out and block_scales
///         that overlap or reach beyond the address space (the checks are
///         cast::detail::check_nvfp4_quantize, shared with
///         host::quantize_nvfp4).
template <class Source>
float quantize_nvfp4(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1* out, float8_e4m3* block_scales,
                     const nvfp4_options& o = {}, mx_orientation orientation = mx_orientation::rowwise) {
  const cast::detail::block_quantize_shape shape = cast::detail::check_nvfp4_quantize(
      x, rows, cols, out, block_scales, o, orientation, "mixprec::reference::quantize_nvfp4");
  if (shape.elements == 0) return 1.0f;  // an empty tensor: amax 0

  const auto source_index = [&](std::int64_t line, std::int64_t position) {
    return static_cast<std::size_t>(shape.rowwise ? line * cols + position : position * cols + line);
  };
  const auto index_in_y = [&](std::int64_t line, std::int64_t position) {
    return static_cast<std::size_t>(line * shape.length + position);
  };
  // y in line-major order, transformed block by block when asked.
  std::vector<float> y(shape.elements);
  for (std::int64_t line = 0; line < shape.lines; ++line)
    for (std::int64_t p = 0; p < shape.length; ++p)
      y[index_in_y(line, p)] = mixprec::reference::detail::mx_source_value(x[source_index(line, p)]);
  if (o.random_hadamard)
    for (std::size_t begin = 0; begin < shape.elements; begin += hadamard_size)
      cast::random_hadamard_transform(&y[begin], &y[begin], o.hadamard_signs, false);

  // amax as a magnitude; NaN as soon as one value is NaN. Compared as
  // magnitude bits (a NaN's exceed +inf's), which DAZ cannot flush.
  const auto magnitude_max = [](float amax, float v) {
    const std::uint32_t amax_bits = mixprec::detail::bit_cast<std::uint32_t>(amax);
    const std::uint32_t magnitude = mixprec::detail::magnitude_bits(v);
    if (amax_bits > 0x7F800000u || magnitude > 0x7F800000u) return std::numeric_limits<float>::quiet_NaN();
    return magnitude > amax_bits ? mixprec::detail::bit_cast<float>(magnitude) : amax;
  };
  float tensor_amax = 0;
  for (const float v : y) tensor_amax = magnitude_max(tensor_amax, v);
  const float tensor_scale = cast::nvfp4_tensor_scale(tensor_amax);

  const auto scale_offset = [&](std::int64_t line, std::size_t block) {
    return gemm::block_scale_offset(o.scale_layout, static_cast<std::size_t>(line), block, shape.blocks);
  };
  for (std::size_t i = 0; i < shape.scale_count; ++i) block_scales[i] = float8_e4m3::from_bits(0);  // tile padding
  const std::int64_t block_length = static_cast<std::int64_t>(nvfp4_block_size);
  // A block spans positions [begin, end) of lines [first_line, last_line):
  // one line, or 16 lines for a 16x16 tile.
  const std::int64_t lines_per_block = o.two_dimensional_blocks ? block_length : 1;
  for (std::int64_t first_line = 0; first_line < shape.lines; first_line += lines_per_block) {
    const std::int64_t last_line =
        first_line + lines_per_block < shape.lines ? first_line + lines_per_block : shape.lines;
    for (std::size_t block = 0; block < shape.blocks; ++block) {
      const std::int64_t begin = static_cast<std::int64_t>(block) * block_length;
      const std::int64_t end = begin + block_length < shape.length ? begin + block_length : shape.length;
      float block_amax = 0;
      for (std::int64_t line = first_line; line < last_line; ++line)
        for (std::int64_t p = begin; p < end; ++p) block_amax = magnitude_max(block_amax, y[index_in_y(line, p)]);
      const float8_e4m3 block_scale = cast::nvfp4_block_scale(block_amax, tensor_scale);
      for (std::int64_t line = first_line; line < last_line; ++line) {
        block_scales[scale_offset(line, block)] = block_scale;
        for (std::int64_t p = begin; p < end; ++p) {
          const std::uint32_t random_bits =
              o.mode == rounding::stochastic ? stochastic_rounding_bits(o.seed, o.offset, source_index(line, p)) : 0u;
          out[index_in_y(line, p)] =
              cast::nvfp4_encode(y[index_in_y(line, p)], block_scale, tensor_scale, o.mode, random_bits);
        }
      }
    }
  }
  return tensor_scale;
}

/// quantize_nvfp4, writing the elements packed two per byte (float4_e2m1x2:
/// element 2t of a line in the low nibble of byte t), the storage cuBLASLt's
/// CUDA_R_4F_E2M1 operands and PyTorch's float4_e2m1fn_x2 use: out holds
/// lines · length / 2 bytes, each line starting on a byte. Same elements,
/// scales and tensor scale as quantize_nvfp4.
/// @throws mixprec::error, before writing anything, for a quantized
///         dimension (cols rowwise, rows columnwise) that is odd, a null out
///         with elements, and every error of quantize_nvfp4 (out overlapping
///         x or block_scales included, out spanning lines · length / 2
///         bytes); the checks are cast::detail::check_nvfp4_quantize, shared
///         with host::quantize_nvfp4_packed.
template <class Source>
float quantize_nvfp4_packed(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1x2* out,
                            float8_e4m3* block_scales, const nvfp4_options& o = {},
                            mx_orientation orientation = mx_orientation::rowwise) {
  const std::size_t n = cast::detail::check_nvfp4_quantize(x, rows, cols, out, block_scales, o, orientation,
                                                           "mixprec::reference::quantize_nvfp4_packed")
                            .elements;
  std::vector<float4_e2m1> unpacked(n);
  const float tensor_scale = quantize_nvfp4(x, rows, cols, unpacked.data(), block_scales, o, orientation);
  for (std::size_t t = 0; t < n / 2; ++t) out[t] = float4_e2m1x2(unpacked[2 * t], unpacked[2 * t + 1]);
  return tensor_scale;
}

/// The values of NVFP4 data: out[l · length + p] = q · d / S
/// (cast::nvfp4_decode) for q and out [lines, length] row-major, d the block
/// scale of (l, p / 16) in o.scale_layout and S = tensor_scale; when
/// o.random_hadamard is set, each 16-block of a line is then transformed back
/// (the inverse with o.hadamard_signs), so out approximates the source rather
/// than its transform. The layout quantize_nvfp4 writes (lines = rows, length
/// = cols rowwise; lines = cols, length = rows columnwise).
/// @throws mixprec::error, before writing anything, for negative sizes or
///         sizes that overflow, a null q, block_scales or out with elements,
///         a tensor_scale that is not finite and positive, the option
///         errors of quantize_nvfp4, and q, block_scales and out that overlap
///         or reach beyond the address space.
inline void dequantize_nvfp4(const float4_e2m1* q, const float8_e4m3* block_scales, float tensor_scale,
                             std::int64_t lines, std::int64_t length, float* out, const nvfp4_options& o = {}) {
  constexpr const char* who = "mixprec::reference::dequantize_nvfp4";
  const std::size_t n = detail::mx_element_count(lines, length, who);
  const std::size_t scale_count = detail::nvfp4_validate(o, lines, length, who);
  require(n == 0 || (q != nullptr && block_scales != nullptr && out != nullptr), who, ": ",
          q == nullptr              ? "q"
          : block_scales == nullptr ? "block_scales"
                                    : "out",
          " is null but lines * length = ", n,
          "; pass arrays for every element and scale (null is accepted only without elements)");
  require(mixprec::detail::is_finite_positive(tensor_scale), who, ": tensor_scale = ", tensor_scale,
          " must be finite and positive (the S quantize_nvfp4 returned)");
  if (n != 0) {
    const cast::detail::array_extent arrays[] = {{"q", q, n},
                                                 {"block_scales", block_scales, scale_count},
                                                 {"out", out, cast::detail::array_bytes(n, sizeof(float))}};
    cast::detail::require_disjoint_arrays(who, arrays, 3);
  }
  const std::size_t blocks = (static_cast<std::size_t>(length) + nvfp4_block_size - 1) / nvfp4_block_size;
  for (std::int64_t line = 0; line < lines; ++line)
    for (std::int64_t p = 0; p < length; ++p) {
      const std::size_t index = static_cast<std::size_t>(line * length + p);
      const std::size_t block = static_cast<std::size_t>(p) / nvfp4_block_size;
      out[index] = cast::nvfp4_decode(
          q[index],
          block_scales[gemm::block_scale_offset(o.scale_layout, static_cast<std::size_t>(line), block, blocks)],
          tensor_scale);
    }
  if (o.random_hadamard)
    for (std::size_t begin = 0; begin < n; begin += hadamard_size)
      cast::random_hadamard_transform(&out[begin], &out[begin], o.hadamard_signs, true);
}

}  // namespace reference
}  // namespace mixprec
