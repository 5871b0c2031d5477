// mixprec/reference/quantize.hpp — the CPU reference of the cast kernels.
//
// Host, header-only, and exactly the semantics of mixprec/cuda/cast.hpp: the
// GPU tests compare the kernels with these functions bit for bit.
//
//   amax(x)                      max |x|
//   quantize(x, scale)           q = convert<T>(x · scale), returns amax(x);
//                                optionally also qᵀ (the cast-transpose copy)
//   quantize_blockwise(x, mode)  per row / 1x128 / 128x128 block (or the whole
//                                tensor): scale = max(T) / amax of the block
//                                (current scaling), q = convert<T>(x · scale),
//                                scale_inv = 1 / scale stored in the layout of
//                                mixprec/gemm/scale_layout.hpp
//   dequantize(q, scale_inv)     y = convert<T>(float(q) · scale_inv)
//
// The element rules (rounding of x · scale, stochastic bits, amax of bit
// patterns, block scales) are those of mixprec/cast/rules.hpp, which the
// kernels share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace reference {

// The options are mixprec::quantize_options (mixprec/cast/rules.hpp).
using mixprec::quantize_options;

// max |x[i]| over n values (0 for n == 0); NaN if any x is NaN.
template <class Source>
float amax(const Source* x, std::size_t n) {
  std::uint32_t largest = 0;
  for (std::size_t i = 0; i < n; ++i) largest = std::max(largest, cast::magnitude_bits(cast::to_float(x[i])));
  return cast::from_magnitude_bits(largest);
}

// out[i] = convert<Target>(x[i] · scale) for i < n; returns amax(x).
template <class Target, class Source>
float quantize(const Source* x, std::size_t n, float scale, Target* out, const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  std::uint32_t largest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float value = cast::to_float(x[i]);
    largest = std::max(largest, cast::magnitude_bits(value));
    out[i] = cast::encode<Target>(value * scale, o, i);
  }
  return cast::from_magnitude_bits(largest);
}

// The cast-transpose form: x is [rows, cols] row-major; out (if not null)
// receives q [rows, cols], out_transposed (if not null) qᵀ [cols, rows].
// Returns amax(x).
template <class Target, class Source>
float quantize(const Source* x, std::int64_t rows, std::int64_t cols, float scale, Target* out,
               cast::non_deduced_t<Target>* out_transposed, const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  require(rows >= 0 && cols >= 0, "mixprec::reference::quantize: rows = ", rows, " and cols = ", cols,
          " must not be negative");
  std::uint32_t largest = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      const float value = cast::to_float(x[i]);
      largest = std::max(largest, cast::magnitude_bits(value));
      const Target q = cast::encode<Target>(value * scale, o, static_cast<std::uint64_t>(i));
      if (out != nullptr) out[i] = q;
      if (out_transposed != nullptr) out_transposed[c * rows + r] = q;
    }
  }
  return cast::from_magnitude_bits(largest);
}

// Scales computed from the data, one per block of `mode` (per_tensor: the
// whole tensor is one block). x is [rows, cols] row-major; q goes to out
// [rows, cols], 1 / scale of each block to scale_inv in the layout
// gemm::scale_layout{mode, rows, cols} (padding entries are left as they are).
// With block_128x128 or per_tensor, out_transposed may receive qᵀ [cols, rows]
// and scale_inv_transposed the scales in the layout of the transposed operand,
// gemm::scale_layout{mode, cols, rows}: square blocks keep their scale under
// transposition. (Row-wise and 1x128 blocks of the transpose run along the
// other dimension; quantize the transpose on its own for those.)
// Returns amax(x).
template <class Target, class Source>
float quantize_blockwise(const Source* x, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode, Target* out,
                         float* scale_inv, cast::non_deduced_t<Target>* out_transposed = nullptr,
                         float* scale_inv_transposed = nullptr,
                         const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  using gemm::scale_block_size;
  using gemm::scale_mode;
  const char* who = "mixprec::reference::quantize_blockwise: ";
  require(rows >= 0 && cols >= 0, who, "rows = ", rows, " and cols = ", cols, " must not be negative");
  require(scale_inv != nullptr, who, "scale_inv is null: pass ", gemm::scale_layout{mode, rows, cols}.count(),
          " floats");
  const bool transposes = out_transposed != nullptr || scale_inv_transposed != nullptr;
  require(!transposes || mode == scale_mode::block_128x128 || mode == scale_mode::per_tensor, who,
          "a transposed output with ", mode, " scales would need scales along the other dimension; quantize the "
          "transpose separately (only per_tensor and block_128x128 scales carry over to the transpose)");

  // Block extents: rows per block x columns per block.
  const std::int64_t block_rows = mode == scale_mode::block_128x128 ? scale_block_size
                                  : mode == scale_mode::per_tensor  ? std::max<std::int64_t>(rows, 1)
                                                                    : 1;
  const std::int64_t block_cols = mode == scale_mode::row_wise || mode == scale_mode::per_tensor
                                      ? std::max<std::int64_t>(cols, 1)
                                      : scale_block_size;
  const gemm::scale_layout layout{mode, rows, cols};
  const gemm::scale_layout transposed_layout{mode, cols, rows};

  std::uint32_t tensor_largest = 0;
  for (std::int64_t r0 = 0; r0 < rows; r0 += block_rows) {
    const std::int64_t r1 = std::min(rows, r0 + block_rows);
    for (std::int64_t c0 = 0; c0 < cols; c0 += block_cols) {
      const std::int64_t c1 = std::min(cols, c0 + block_cols);
      std::uint32_t largest = 0;
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t c = c0; c < c1; ++c)
          largest = std::max(largest, cast::magnitude_bits(cast::to_float(x[r * cols + c])));
      tensor_largest = std::max(tensor_largest, largest);

      const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
      const float inverse = cast::reciprocal(scale);
      scale_inv[layout.index(r0, c0)] = inverse;
      if (scale_inv_transposed != nullptr) scale_inv_transposed[transposed_layout.index(c0, r0)] = inverse;
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) {
          const std::int64_t i = r * cols + c;
          const Target q = cast::encode<Target>(cast::to_float(x[i]) * scale, o, static_cast<std::uint64_t>(i));
          if (out != nullptr) out[i] = q;
          if (out_transposed != nullptr) out_transposed[c * rows + r] = q;
        }
      }
    }
  }
  return cast::from_magnitude_bits(tensor_largest);
}

// out[i] = convert<Target>(float(q[i]) · scale_inv), Target float (no
// conversion), bfloat16 or float16 (nearest even, overflow to inf).
template <class Target, class Source>
void dequantize(const Source* q, std::size_t n, float scale_inv, Target* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const float value = cast::to_float(q[i]) * scale_inv;
    if constexpr (std::is_same<Target, float>::value) {
      out[i] = value;
    } else {
      out[i] = convert<Target>(value);
    }
  }
}

// Dequantisation with the scales of quantize_blockwise: q is [rows, cols]
// row-major, scale_inv in gemm::scale_layout{mode, rows, cols}.
template <class Target, class Source>
void dequantize_blockwise(const Source* q, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode,
                          const float* scale_inv, Target* out) {
  const gemm::scale_layout layout{mode, rows, cols};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      dequantize(q + i, 1, scale_inv[layout.index(r, c)], out + i);
    }
  }
}

}  // namespace reference
}  // namespace mixprec
