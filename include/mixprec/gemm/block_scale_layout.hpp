// mixprec/gemm/block_scale_layout.hpp — where the block scales of an MX
// (CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0) or NVFP4
// (CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3) operand lie in memory.
//
// A block-scaled operand of `rows` rows (M for A, N for B: the non-reduction
// dimension) has `scale_columns` = ceil(K / block) scales per row. Two layouts:
//
//  - compact: row-major [rows, scale_columns], what the quantizers write by
//    default and what is easy to read.
//  - cublaslt_tiled: cuBLAS documentation, "1D Block Scaling Factors Layout"
//    (cuBLASLt section on block-scaled GEMM, docs.nvidia.com/cuda/cublas): the
//    scale matrix is padded to a multiple of 128 rows and of 4 scale columns
//    and cut into 128x4 tiles of 512 bytes each, the tiles row-major (tile
//    (row / 128, column / 4) is number (row / 128) · ceil(scale_columns / 4) +
//    column / 4). Inside a tile the 128 rows are interleaved in four groups of
//    32: entry (r, c) of a tile (r < 128, c < 4) is at
//        (r % 32) · 16 + (r / 32) · 4 + c,
//    so each 16-byte line holds rows r, r + 32, r + 64, r + 96 of one set of
//    four scale columns. The same formula is PyTorch's `to_blocked`
//    (torch/testing/_internal/common_quantized.py: view(n_row_blocks, 128,
//    n_col_blocks, 4), permute, reshape(-1, 4, 32, 4), transpose(1, 2)) and
//    nvmath-python's `get_block_scale_offset`; MXFP8 and NVFP4 differ only in
//    the block size along K (32 and 16), not in this layout.
//    Padding entries carry no block: the quantizers write them as 0x00.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mixprec/core/config.hpp"
#include "mixprec/core/error.hpp"

namespace mixprec {
namespace gemm {

/// How a block-scaled operand's scales are stored (see
/// mixprec/gemm/block_scale_layout.hpp).
enum class block_scale_layout {
  /// Row-major [rows, scale_columns]: entry (row, column) at row · scale_columns + column.
  compact,
  /// cuBLASLt's 128x4 tiles with interleaved rows (the layout
  /// VEC32_UE8M0 and VEC16_UE4M3 scales must have); rows padded to 128,
  /// scale columns to 4.
  cublaslt_tiled,
};

/// Whether `layout` is one of block_scale_layout's enumerators.
MIXPREC_HOST_DEVICE constexpr bool is_valid(block_scale_layout layout) noexcept {
  return layout == block_scale_layout::compact || layout == block_scale_layout::cublaslt_tiled;
}

/// Rows per cuBLASLt scale tile (the operand rows one tile covers).
constexpr std::size_t cublaslt_scale_tile_rows = 128;
/// Scale columns per cuBLASLt scale tile (4 scales: 128 elements of K for
/// MX, 64 for NVFP4).
constexpr std::size_t cublaslt_scale_tile_columns = 4;

/// `rows` rounded up to a multiple of 128 (the rows cuBLASLt's tiled scale
/// matrix has). Precondition: no overflow (block_scale_count checks it).
MIXPREC_HOST_DEVICE constexpr std::size_t cublaslt_padded_scale_rows(std::size_t rows) noexcept {
  return (rows + cublaslt_scale_tile_rows - 1) / cublaslt_scale_tile_rows * cublaslt_scale_tile_rows;
}

/// `scale_columns` rounded up to a multiple of 4 (the scale columns
/// cuBLASLt's tiled scale matrix has). Precondition: no overflow.
MIXPREC_HOST_DEVICE constexpr std::size_t cublaslt_padded_scale_columns(std::size_t scale_columns) noexcept {
  return (scale_columns + cublaslt_scale_tile_columns - 1) / cublaslt_scale_tile_columns * cublaslt_scale_tile_columns;
}

/// The offset (in scale entries, i.e. bytes) of scale (row, scale_column) in
/// cuBLASLt's tiled layout of a scale matrix with `scale_columns` columns
/// (unpadded: the padding to 4 is applied here). The formula of the cuBLAS
/// documentation's "1D Block Scaling Factors Layout": tile
/// (row / 128) · ceil(scale_columns / 4) + scale_column / 4 of 512 entries,
/// within it (row % 32) · 16 + (row % 128 / 32) · 4 + scale_column % 4.
/// Preconditions: row and scale_column inside the (padded) matrix.
MIXPREC_HOST_DEVICE constexpr std::size_t cublaslt_tiled_scale_offset(std::size_t row, std::size_t scale_column,
                                                                      std::size_t scale_columns) noexcept {
  const std::size_t tiles_per_row_of_tiles = cublaslt_padded_scale_columns(scale_columns) / cublaslt_scale_tile_columns;
  const std::size_t tile =
      (row / cublaslt_scale_tile_rows) * tiles_per_row_of_tiles + scale_column / cublaslt_scale_tile_columns;
  const std::size_t r = row % cublaslt_scale_tile_rows;
  return tile * (cublaslt_scale_tile_rows * cublaslt_scale_tile_columns) + (r % 32) * 16 + (r / 32) * 4 +
         scale_column % cublaslt_scale_tile_columns;
}

/// The offset of scale (row, scale_column) in `layout` for a scale matrix of
/// `scale_columns` columns. Preconditions: as cublaslt_tiled_scale_offset; a
/// valid layout.
MIXPREC_HOST_DEVICE constexpr std::size_t block_scale_offset(block_scale_layout layout, std::size_t row,
                                                             std::size_t scale_column,
                                                             std::size_t scale_columns) noexcept {
  return layout == block_scale_layout::compact ? row * scale_columns + scale_column
                                               : cublaslt_tiled_scale_offset(row, scale_column, scale_columns);
}

/// The number of scale entries an array in `layout` must hold for `rows` rows
/// of `scale_columns` scales: rows · scale_columns (compact) or
/// padded_rows(128) · padded_columns(4) (cublaslt_tiled; 0 when either is 0).
/// @throws mixprec::error (naming `who`) for an invalid layout or a count
///         that overflows std::size_t.
inline std::size_t block_scale_count(block_scale_layout layout, std::size_t rows, std::size_t scale_columns,
                                     const char* who) {
  require(is_valid(layout), who, ": block_scale_layout = ", static_cast<int>(layout),
          " is not a mixprec::gemm::block_scale_layout enumerator; pass compact or cublaslt_tiled");
  if (rows == 0 || scale_columns == 0) return 0;
  constexpr std::size_t max = static_cast<std::size_t>(-1);
  std::size_t r = rows, c = scale_columns;
  if (layout == block_scale_layout::cublaslt_tiled) {
    require(rows <= max - (cublaslt_scale_tile_rows - 1) && scale_columns <= max - (cublaslt_scale_tile_columns - 1),
            who, ": ", rows, " rows of ", scale_columns, " scales overflow when padded to cuBLASLt's 128x4 tiles");
    r = cublaslt_padded_scale_rows(rows);
    c = cublaslt_padded_scale_columns(scale_columns);
  }
  require(r <= max / c, who, ": ", r, " rows times ", c, " scale columns overflow std::size_t");
  return r * c;
}

namespace detail {

// The compact and the tiled array of a layout conversion (count entries of
// `entry` bytes each; count <= SIZE_MAX / entry) must each end inside the
// address space and must not overlap: converting in place would read entries
// already overwritten.
inline void require_scale_arrays_apart(const void* compact, const void* tiled, std::size_t compact_count,
                                       std::size_t tiled_count, std::size_t entry, const char* who) {
  const auto c = reinterpret_cast<std::uintptr_t>(compact), t = reinterpret_cast<std::uintptr_t>(tiled);
  require(compact_count <= (UINTPTR_MAX - c) / entry && tiled_count <= (UINTPTR_MAX - t) / entry, who, ": ",
          compact_count, " compact entries at ", compact, " or ", tiled_count, " tiled entries at ", tiled,
          " reach beyond the address space");
  require(c + compact_count * entry <= t || t + tiled_count * entry <= c, who, ": compact [", compact, ", +",
          compact_count * entry, " bytes) and tiled [", tiled, ", +", tiled_count * entry,
          " bytes) overlap; convert into a separate array");
}

}  // namespace detail

/// Copies a compact [rows, scale_columns] scale matrix into cuBLASLt's tiled
/// layout: `tiled` must hold block_scale_count(cublaslt_tiled, rows,
/// scale_columns) entries; padding entries become Scale::from_bits(0).
/// Scale is a mixprec value type (float8_e8m0, float8_e4m3) or any type with
/// from_bits.
/// @throws mixprec::error, before writing, for a size that overflows, a
///         null array with entries, and arrays that overlap or reach beyond
///         the address space.
template <class Scale>
void to_cublaslt_tiled(const Scale* compact, std::size_t rows, std::size_t scale_columns, Scale* tiled) {
  constexpr const char* who = "mixprec::gemm::to_cublaslt_tiled";
  const std::size_t count = block_scale_count(block_scale_layout::cublaslt_tiled, rows, scale_columns, who);
  require(count == 0 || (compact != nullptr && tiled != nullptr), who, ": ", compact == nullptr ? "compact" : "tiled",
          " is null but the scale matrix has ", rows, " x ", scale_columns, " entries");
  if (count != 0) detail::require_scale_arrays_apart(compact, tiled, rows * scale_columns, count, sizeof(Scale), who);
  for (std::size_t i = 0; i < count; ++i) tiled[i] = Scale::from_bits(0);
  for (std::size_t row = 0; row < rows; ++row)
    for (std::size_t column = 0; column < scale_columns; ++column)
      tiled[cublaslt_tiled_scale_offset(row, column, scale_columns)] = compact[row * scale_columns + column];
}

/// The inverse of to_cublaslt_tiled: reads the [rows, scale_columns] scales
/// out of cuBLASLt's tiled layout into a compact row-major array (padding
/// ignored).
/// @throws mixprec::error, before writing, for a size that overflows, a
///         null array with entries, and arrays that overlap or reach beyond
///         the address space.
template <class Scale>
void from_cublaslt_tiled(const Scale* tiled, std::size_t rows, std::size_t scale_columns, Scale* compact) {
  constexpr const char* who = "mixprec::gemm::from_cublaslt_tiled";
  const std::size_t count = block_scale_count(block_scale_layout::cublaslt_tiled, rows, scale_columns, who);
  require(count == 0 || (compact != nullptr && tiled != nullptr), who, ": ", tiled == nullptr ? "tiled" : "compact",
          " is null but the scale matrix has ", rows, " x ", scale_columns, " entries");
  if (count != 0) detail::require_scale_arrays_apart(compact, tiled, rows * scale_columns, count, sizeof(Scale), who);
  for (std::size_t row = 0; row < rows; ++row)
    for (std::size_t column = 0; column < scale_columns; ++column)
      compact[row * scale_columns + column] = tiled[cublaslt_tiled_scale_offset(row, column, scale_columns)];
}

}  // namespace gemm
}  // namespace mixprec
