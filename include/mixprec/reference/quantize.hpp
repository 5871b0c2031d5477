/// \file
/// mixprec/reference/quantize.hpp — the CPU reference of the cast kernels.
///
/// Host, header-only, and exactly the semantics of mixprec/cuda/cast.hpp: the
/// GPU tests compare the kernels with these functions bit for bit.
///
/// ~~~~
///   amax(x)                      max |x|
///   quantize(x, scale)           q = convert<T>(x · scale), returns amax(x);
///                                optionally also qᵀ (the cast-transpose copy)
///   quantize_blockwise(x, mode)  per row / 1x128 / 128x128 block (or the whole
///                                tensor): scale = max(T) / amax of the block
///                                (current scaling), q = convert<T>(x · scale),
///                                scale_inv = 1 / scale stored in the layout of
///                                mixprec/gemm/scale_layout.hpp
///   dequantize(q, scale_inv)     y = convert<T>(float(q) · scale_inv)
/// ~~~~
///
/// The element rules (rounding of x · scale, stochastic bits, amax of bit
/// patterns, block scales) are those of mixprec/cast/rules.hpp, which the
/// kernels share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
/// The CPU reference of everything the GPU does: quantize / dequantize / amax
/// (reference/quantize.hpp) and the scaled GEMM (reference/scaled_gemm.hpp), on host pointers.
namespace reference {

// The options are mixprec::quantize_options (mixprec/cast/rules.hpp).
// Every function below also throws mixprec::error, before writing anything,
// when an array it reads or writes reaches beyond the address space or
// overlaps another of its arrays (an output over an input, or two outputs).
using mixprec::quantize_options;

namespace detail {

// The arrays a reference quantizer reads and writes (null ones are absent)
// must each end inside the address space and must not overlap: an output
// over an input (or over another output) would change the result silently,
// and a count whose bytes wrap would read and write out of bounds. `who`
// ends in ": " already (the MX and NVFP4 callers' prefixes do not).
template <std::size_t N>
void require_apart(const char* who, const cast::detail::array_extent (&arrays)[N]) {
  cast::detail::require_disjoint_arrays(who, arrays, N, "");
}

// The extent of n elements of T at `data`.
template <class T>
cast::detail::array_extent extent_of(const char* name, const T* data, std::size_t n) {
  return {name, data, cast::detail::array_bytes(n, sizeof(T))};
}

}  // namespace detail

/// max |x[i]| over n values (0 for n == 0); NaN if any x is NaN.
/// @throws mixprec::error when x is null and n > 0 or x's n elements reach
///         beyond the address space.
/// max |x[i]| over n values (0 for n == 0); NaN if any x is NaN.
///
/// Source is float or a mixprec value type (bfloat16, float16, FP8).
template <class Source>
float amax(const Source* x, std::size_t n) {
  cast::require_array(x, n, "mixprec::reference::amax: ", "x");
  detail::require_apart("mixprec::reference::amax: ", {detail::extent_of("x", x, n)});
  std::uint32_t largest = 0;
  for (std::size_t i = 0; i < n; ++i) largest = std::max(largest, cast::magnitude_bits(cast::to_float(x[i])));
  return cast::from_magnitude_bits(largest);
}

/// out[i] = convert<Target>(x[i] · scale) for i < n; returns amax(x).
/// `scale` is the quantisation factor: finite and positive.
/// @throws mixprec::error, before writing anything, for a null x or out with
///         n > 0, a NaN, infinite, zero or negative scale, and options whose
///         mode or policy is no enumerator.
///
/// `scale` is the quantisation factor (the GEMM's dequantisation factor is 1 / scale);
/// rounding and saturation come from `o`, element i's stochastic index is i.
/// Target is a mixprec value type; Source is float or one.
template <class Target, class Source>
float quantize(const Source* x, std::size_t n, float scale, Target* out, const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  const char* who = "mixprec::reference::quantize: ";
  cast::require_valid(o, who);
  cast::require_array(x, n, who, "x");
  cast::require_array(out, n, who, "out");
  detail::require_apart(who, {detail::extent_of("x", x, n), detail::extent_of("out", out, n)});
  gemm::require_usable_scale(scale, who, "scale", 0);
  std::uint32_t largest = 0;
  const bool default_environment = mixprec::detail::default_float_environment();
  for (std::size_t i = 0; i < n; ++i) {
    const float value = cast::to_float(x[i]);
    largest = std::max(largest, cast::magnitude_bits(value));
    out[i] = cast::encode<Target>(mixprec::detail::multiply_nearest(value, scale, default_environment), o, i);
  }
  return cast::from_magnitude_bits(largest);
}

/// The cast-transpose form: x is [rows, cols] row-major; out (if not null)
/// receives q [rows, cols], out_transposed (if not null) qᵀ [cols, rows].
/// Returns amax(x).
/// @throws mixprec::error, before writing anything, for negative rows or
///         cols or a product that overflows, a null x with elements, a NaN,
///         infinite, zero or negative scale, and options whose mode or policy
///         is no enumerator.
///
/// Element (r, c) is convert<Target>(x · scale) with stochastic index r · cols + c.
/// \throws mixprec::error when rows or cols is negative.
template <class Target, class Source>
float quantize(const Source* x, std::int64_t rows, std::int64_t cols, float scale, Target* out,
               cast::non_deduced_t<Target>* out_transposed, const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  const char* who = "mixprec::reference::quantize (cast-transpose): ";
  cast::require_valid(o, who);
  const std::size_t n = cast::element_count(rows, cols, who);
  cast::require_array(x, n, who, "x");
  detail::require_apart(who, {detail::extent_of("x", x, n), detail::extent_of("out", out, n),
                              detail::extent_of("out_transposed", out_transposed, n)});
  gemm::require_usable_scale(scale, who, "scale", 0);
  std::uint32_t largest = 0;
  const bool default_environment = mixprec::detail::default_float_environment();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      const float value = cast::to_float(x[i]);
      largest = std::max(largest, cast::magnitude_bits(value));
      const Target q = cast::encode<Target>(mixprec::detail::multiply_nearest(value, scale, default_environment), o,
                                            static_cast<std::uint64_t>(i));
      if (out != nullptr) out[i] = q;
      if (out_transposed != nullptr) out_transposed[c * rows + r] = q;
    }
  }
  return cast::from_magnitude_bits(largest);
}

namespace detail {

// Quantises y = x (or y = xᵀ when `transposed`), x being [rows, cols]
// row-major, in the blocks `mode` lays over y: each block's scale comes from
// its own amax. Element (r, c) of x is y's (r, c) or (c, r) and keeps its
// stochastic-rounding index r · cols + c either way. Writes y's codes to out
// and 1 / scale of each block to scale_inv in y's layout (either may be
// null); returns the largest magnitude bits seen.
template <class Target, class Source>
std::uint32_t quantize_blocks(const Source* x, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode,
                              bool transposed, Target* out, float* scale_inv, const quantize_options& o) {
  using gemm::scale_block_size;
  using gemm::scale_mode;
  const std::int64_t y_rows = transposed ? cols : rows, y_cols = transposed ? rows : cols;
  // Block extents over y: rows per block x columns per block.
  const std::int64_t block_rows = mode == scale_mode::block_128x128 ? scale_block_size
                                  : mode == scale_mode::per_tensor  ? std::max<std::int64_t>(y_rows, 1)
                                                                    : 1;
  const std::int64_t block_cols = mode == scale_mode::row_wise || mode == scale_mode::per_tensor
                                      ? std::max<std::int64_t>(y_cols, 1)
                                      : scale_block_size;
  const gemm::scale_layout layout{mode, y_rows, y_cols};
  auto source_index = [&](std::int64_t y_row, std::int64_t y_col) {
    return transposed ? y_col * cols + y_row : y_row * cols + y_col;
  };

  std::uint32_t tensor_largest = 0;
  const bool default_environment = mixprec::detail::default_float_environment();
  for (std::int64_t r0 = 0; r0 < y_rows; r0 += block_rows) {
    const std::int64_t r1 = std::min(y_rows, r0 + block_rows);
    for (std::int64_t c0 = 0; c0 < y_cols; c0 += block_cols) {
      const std::int64_t c1 = std::min(y_cols, c0 + block_cols);
      std::uint32_t largest = 0;
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t c = c0; c < c1; ++c)
          largest = std::max(largest, cast::magnitude_bits(cast::to_float(x[source_index(r, c)])));
      tensor_largest = std::max(tensor_largest, largest);

      const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
      if (scale_inv != nullptr) scale_inv[layout.index(r0, c0)] = cast::reciprocal(scale);
      if (out == nullptr) continue;
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) {
          const std::int64_t i = source_index(r, c);
          const float scaled = mixprec::detail::multiply_nearest(cast::to_float(x[i]), scale, default_environment);
          out[r * y_cols + c] = cast::encode<Target>(scaled, o, static_cast<std::uint64_t>(i));
        }
      }
    }
  }
  return tensor_largest;
}

}  // namespace detail

/// Scales computed from the data, one per block of `mode` (per_tensor: the
/// whole tensor is one block). x is [rows, cols] row-major; q goes to out
// [rows, cols], 1 / scale of each block to scale_inv in the layout
// gemm::scale_layout{mode, rows, cols} (padding entries are left as they are).
//
// The transposed operand (the wgrad GEMM's, mixprec/gemm/problem.hpp): with
// per_tensor, block_1x128 or block_128x128, out_transposed may receive qᵀ
// [cols, rows] and scale_inv_transposed its scales in the layout
// gemm::scale_layout{mode, cols, rows} — exactly what quantising xᵀ with the
// same mode gives (the stochastic-rounding index of an element stays its
// index in x). For per_tensor and 128x128 blocks that is q transposed with the
// same scales; 1x128 blocks of xᵀ run down 128 rows of x, so they get scales
// of their own (TransformerEngine's and DeepSeek-V3's column-wise 1x128
// scaling). Row-wise scales of xᵀ would be per column of x: not offered.
/// Returns amax(x).
/// @throws mixprec::error, before writing anything, for a mode that is no
///         scale_mode enumerator, negative rows or cols or sizes that
///         overflow, a null x with elements, a null scale_inv, a transposed
///         output with row_wise scales, and options whose mode or policy is no
///         enumerator.
/// [rows, cols], 1 / scale of each block to scale_inv in the layout
/// gemm::scale_layout{mode, rows, cols} (padding entries are left as they are).
///
/// The transposed operand (the wgrad GEMM's, mixprec/gemm/problem.hpp): with
/// per_tensor, block_1x128 or block_128x128, out_transposed may receive qᵀ
/// [cols, rows] and scale_inv_transposed its scales in the layout
/// gemm::scale_layout{mode, cols, rows} — exactly what quantising xᵀ with the
/// same mode gives (the stochastic-rounding index of an element stays its
/// index in x). For per_tensor and 128x128 blocks that is q transposed with the
/// same scales; 1x128 blocks of xᵀ run down 128 rows of x, so they get scales
/// of their own (TransformerEngine's and DeepSeek-V3's column-wise 1x128
/// scaling). Row-wise scales of xᵀ would be per column of x: not offered.
/// Returns amax(x).
///
/// Each block's scale is cast::block_scale (current scaling); `out` may be null (scales
/// only), as may either transposed output.
/// \throws mixprec::error when rows or cols is negative, scale_inv is null, or a
///         transposed output is asked for with row_wise scales.
template <class Target, class Source>
float quantize_blockwise(const Source* x, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode, Target* out,
                         float* scale_inv, cast::non_deduced_t<Target>* out_transposed = nullptr,
                         float* scale_inv_transposed = nullptr,
                         const quantize_options& o = {}) {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  const char* who = "mixprec::reference::quantize_blockwise: ";
  const gemm::scale_layout layout = gemm::checked_scale_layout(mode, rows, cols, who);
  gemm::checked_scale_layout(mode, cols, rows, who);  // the transposed output's
  cast::require_valid(o, who);
  const std::size_t n = cast::element_count(rows, cols, who);
  cast::require_array(x, n, who, "x");
  require(scale_inv != nullptr || n == 0, who, "scale_inv is null: pass ", layout.count(), " floats");
  const auto scale_count = static_cast<std::size_t>(layout.count());
  detail::require_apart(
      who,
      {detail::extent_of("x", x, n), detail::extent_of("out", out, n),
       detail::extent_of("scale_inv", scale_inv, scale_count), detail::extent_of("out_transposed", out_transposed, n),
       detail::extent_of("scale_inv_transposed", scale_inv_transposed,
                         static_cast<std::size_t>(gemm::scale_layout{mode, cols, rows}.count()))});
  const bool transposes = out_transposed != nullptr || scale_inv_transposed != nullptr;
  require(!transposes || mode != gemm::scale_mode::row_wise, who,
          "a transposed output with row_wise scales would need one scale per column of x; quantize the "
          "transpose on its own (per_tensor, block_1x128 and block_128x128 offer a transposed output)");
  const std::uint32_t largest = detail::quantize_blocks(x, rows, cols, mode, false, out, scale_inv, o);
  if (transposes) detail::quantize_blocks(x, rows, cols, mode, true, out_transposed, scale_inv_transposed, o);
  return cast::from_magnitude_bits(largest);
}

namespace detail {

/// out[i] = convert<Target>(float(q[i]) · scale_inv), Target float (no
/// conversion), bfloat16 or float16 (nearest even, overflow to inf).
template <class Target, class Source>
void dequantize_unchecked(const Source* q, std::size_t n, float scale_inv, Target* out) {
  const bool default_environment = mixprec::detail::default_float_environment();
  for (std::size_t i = 0; i < n; ++i) {
    const float value = mixprec::detail::multiply_nearest(cast::to_float(q[i]), scale_inv, default_environment);
    if constexpr (std::is_same<Target, float>::value) {
      out[i] = value;
    } else {
      out[i] = convert<Target>(value);
    }
  }
}

}  // namespace detail

/// out[i] = convert<Target>(float(q[i]) · scale_inv), Target float (no
/// conversion), bfloat16 or float16 (nearest even, overflow to inf).
/// @throws mixprec::error, before writing anything, for a null q or out with
///         n > 0 and a NaN, infinite, zero or negative scale_inv.
template <class Target, class Source>
void dequantize(const Source* q, std::size_t n, float scale_inv, Target* out) {
  const char* who = "mixprec::reference::dequantize: ";
  cast::require_array(q, n, who, "q");
  cast::require_array(out, n, who, "out");
  detail::require_apart(who, {detail::extent_of("q", q, n), detail::extent_of("out", out, n)});
  gemm::require_usable_scale(scale_inv, who, "scale_inv", 0);
  detail::dequantize_unchecked(q, n, scale_inv, out);
}

/// Dequantisation with the scales of quantize_blockwise: q is [rows, cols]
/// row-major, scale_inv in gemm::scale_layout{mode, rows, cols}.
/// @throws mixprec::error, before writing anything, for a mode that is no
///         scale_mode enumerator, negative rows or cols or sizes that
///         overflow, null arrays with elements, and a scale that is read and
///         is NaN, infinite, zero or negative.
/// Dequantisation with the scales of quantize_blockwise: q is [rows, cols]
/// row-major, scale_inv in gemm::scale_layout{mode, rows, cols}.
///
/// out is [rows, cols]; each element as dequantize() with its block's scale_inv.
template <class Target, class Source>
void dequantize_blockwise(const Source* q, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode,
                          const float* scale_inv, Target* out) {
  const char* who = "mixprec::reference::dequantize_blockwise: ";
  const gemm::scale_layout layout = gemm::checked_scale_layout(mode, rows, cols, who);
  const std::size_t n = cast::element_count(rows, cols, who);
  cast::require_array(q, n, who, "q");
  cast::require_array(out, n, who, "out");
  if (n == 0) return;
  require(scale_inv != nullptr, who, "scale_inv is null: pass the ", layout.count(), " ", mode,
          " scales of quantize_blockwise");
  detail::require_apart(who, {detail::extent_of("q", q, n),
                              detail::extent_of("scale_inv", scale_inv, static_cast<std::size_t>(layout.count())),
                              detail::extent_of("out", out, n)});
  gemm::require_usable_scales(scale_inv, layout, who, "scale_inv");
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t i = r * cols + c;
      detail::dequantize_unchecked(q + i, 1, scale_inv[layout.index(r, c)], out + i);
    }
  }
}

}  // namespace reference
}  // namespace mixprec
