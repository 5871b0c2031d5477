// cuBLASLt's 1D block-scale layout (VEC32_UE8M0, VEC16_UE4M3):
// mixprec/gemm/block_scale_layout.hpp against indices worked by hand from the
// cuBLAS documentation's formula and against PyTorch's `to_blocked`, written
// out here as the tensor operations it performs (pad, view(n_row_blocks, 128,
// n_col_blocks, 4), permute(0, 2, 1, 3), reshape(-1, 4, 32, 4),
// transpose(1, 2), flatten), which shares no code with the library; then the
// MX quantizer's tiled option and round trips for ragged shapes.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/unwritten.hpp"

namespace {

using mixprec::gemm::block_scale_layout;
using mixprec::gemm::cublaslt_tiled_scale_offset;

// PyTorch's to_blocked as explicit index arithmetic: returns, for each entry
// (row, column) of the padded [R, C] matrix, its position in the flattened
// output. Step by step: view (rb, r, cb, c) -> permute to (rb, cb, r, c) ->
// reshape the 128 rows as (i, j) with r = 32 i + j, giving (tile, i, j, c) ->
// transpose to (tile, j, i, c) -> flatten.
std::vector<std::size_t> to_blocked_positions(std::size_t rows, std::size_t columns) {
  const std::size_t row_blocks = (rows + 127) / 128, column_blocks = (columns + 3) / 4;
  const std::size_t padded_columns = column_blocks * 4;
  std::vector<std::size_t> position(row_blocks * 128 * padded_columns);
  std::size_t flat = 0;
  for (std::size_t rb = 0; rb < row_blocks; ++rb)
    for (std::size_t cb = 0; cb < column_blocks; ++cb)
      for (std::size_t j = 0; j < 32; ++j)  // after transpose(1, 2): j before i
        for (std::size_t i = 0; i < 4; ++i)
          for (std::size_t c = 0; c < 4; ++c) {
            const std::size_t row = rb * 128 + i * 32 + j, column = cb * 4 + c;
            position[row * padded_columns + column] = flat++;
          }
  return position;
}

}  // namespace

TEST_CASE("cuBLASLt tiled scale offsets: hand-worked from the documented formula", "[gemm][scale_layout]") {
  // Within the first tile: (r % 32) * 16 + (r / 32) * 4 + c.
  CHECK(cublaslt_tiled_scale_offset(0, 0, 4) == 0);
  CHECK(cublaslt_tiled_scale_offset(0, 1, 4) == 1);
  CHECK(cublaslt_tiled_scale_offset(1, 0, 4) == 16);
  CHECK(cublaslt_tiled_scale_offset(32, 0, 4) == 4);
  CHECK(cublaslt_tiled_scale_offset(33, 2, 4) == 16 + 4 + 2);
  CHECK(cublaslt_tiled_scale_offset(96, 3, 4) == 12 + 3);
  CHECK(cublaslt_tiled_scale_offset(127, 3, 4) == 31 * 16 + 3 * 4 + 3);  // 511: the tile's last byte
  // Tiles are row-major over (row / 128, column / 4), 512 bytes each.
  CHECK(cublaslt_tiled_scale_offset(128, 0, 4) == 512);
  CHECK(cublaslt_tiled_scale_offset(0, 4, 5) == 512);  // 5 columns pad to 8: two tiles per row of tiles
  CHECK(cublaslt_tiled_scale_offset(128, 0, 5) == 1024);
  CHECK(cublaslt_tiled_scale_offset(130, 5, 5) == 3 * 512 + 2 * 16 + 0 * 4 + 1);  // 1569
  CHECK(cublaslt_tiled_scale_offset(200, 9, 12) == (1 * 3 + 2) * 512 + (72 % 32) * 16 + (72 / 32) * 4 + 1);
  // Padded sizes and counts.
  CHECK(mixprec::gemm::cublaslt_padded_scale_rows(1) == 128);
  CHECK(mixprec::gemm::cublaslt_padded_scale_rows(128) == 128);
  CHECK(mixprec::gemm::cublaslt_padded_scale_rows(129) == 256);
  CHECK(mixprec::gemm::cublaslt_padded_scale_columns(5) == 8);
  CHECK(mixprec::gemm::block_scale_count(block_scale_layout::cublaslt_tiled, 129, 5, "t") == 256 * 8);
  CHECK(mixprec::gemm::block_scale_count(block_scale_layout::compact, 129, 5, "t") == 129 * 5);
  CHECK(mixprec::gemm::block_scale_count(block_scale_layout::cublaslt_tiled, 0, 5, "t") == 0);
  static_assert(cublaslt_tiled_scale_offset(33, 2, 4) == 22, "constexpr");
  static_assert(mixprec::gemm::block_scale_offset(block_scale_layout::compact, 3, 2, 5) == 17, "constexpr");
}

TEST_CASE("cuBLASLt tiled scale offsets equal PyTorch's to_blocked for ragged shapes", "[gemm][scale_layout]") {
  const std::size_t shapes[][2] = {{1, 1}, {127, 3}, {128, 4}, {129, 5}, {300, 9}, {256, 8}, {5, 33}};
  for (const auto& shape : shapes) {
    const std::size_t rows = shape[0], columns = shape[1];
    const std::vector<std::size_t> expected = to_blocked_positions(rows, columns);
    const std::size_t padded_columns = mixprec::gemm::cublaslt_padded_scale_columns(columns);
    const std::size_t padded_rows = mixprec::gemm::cublaslt_padded_scale_rows(rows);
    REQUIRE(expected.size() == padded_rows * padded_columns);
    REQUIRE(mixprec::gemm::block_scale_count(block_scale_layout::cublaslt_tiled, rows, columns, "t") ==
            expected.size());
    int wrong = 0;
    std::vector<int> hits(expected.size(), 0);
    for (std::size_t r = 0; r < padded_rows; ++r)
      for (std::size_t c = 0; c < padded_columns; ++c) {
        const std::size_t offset = cublaslt_tiled_scale_offset(r, c, columns);
        wrong += offset != expected[r * padded_columns + c];
        if (offset < hits.size()) ++hits[offset];
      }
    INFO(rows << " x " << columns);
    CHECK(wrong == 0);
    int not_once = 0;
    for (const int h : hits) not_once += h != 1;
    CHECK(not_once == 0);  // a bijection onto the padded array
  }
}

TEST_CASE("to_cublaslt_tiled / from_cublaslt_tiled round-trip ragged scale matrices; padding is zero",
          "[gemm][scale_layout]") {
  std::mt19937 generator(3);
  const std::size_t shapes[][2] = {{1, 1}, {3, 7}, {129, 5}, {260, 2}};
  for (const auto& shape : shapes) {
    const std::size_t rows = shape[0], columns = shape[1];
    std::vector<mixprec::float8_e8m0> compact(rows * columns), back(rows * columns);
    for (auto& s : compact) s = mixprec::float8_e8m0::from_bits(static_cast<std::uint8_t>(1 + generator() % 254));
    const std::size_t count = mixprec::gemm::block_scale_count(block_scale_layout::cublaslt_tiled, rows, columns, "t");
    std::vector<mixprec::float8_e8m0> tiled(count, mixprec::float8_e8m0::from_bits(0xAB));
    mixprec::gemm::to_cublaslt_tiled(compact.data(), rows, columns, tiled.data());
    mixprec::gemm::from_cublaslt_tiled(tiled.data(), rows, columns, back.data());
    int differs = 0, nonzero = 0;
    for (std::size_t i = 0; i < compact.size(); ++i) differs += compact[i].bits() != back[i].bits();
    for (const auto& s : tiled) nonzero += s.bits() != 0;
    CHECK(differs == 0);
    CHECK(nonzero == static_cast<int>(rows * columns));  // every real scale is non-zero, every padding entry zero
  }
}

TEST_CASE("quantize_mx writes cuBLASLt's tiled scales on request; dequantize_mx reads them",
          "[gemm][scale_layout][mx]") {
  const std::int64_t rows = 130, cols = 100;  // 4 blocks per row (the last partial), rows pad to 256
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  std::mt19937 generator(4);
  std::uniform_real_distribution<float> range(-300.0f, 300.0f);
  for (float& v : x) v = range(generator);
  mixprec::mx_options compact, tiled;
  tiled.scale_layout = block_scale_layout::cublaslt_tiled;
  std::vector<mixprec::float8_e4m3> q1(x.size()), q2(x.size());
  std::vector<mixprec::float8_e8m0> s1(static_cast<std::size_t>(rows * 4)),
      s2(256 * 4, mixprec::float8_e8m0::from_bits(0x77)), back(s1.size());
  mixprec::reference::quantize_mx(x.data(), rows, cols, q1.data(), s1.data(), compact);
  mixprec::reference::quantize_mx(x.data(), rows, cols, q2.data(), s2.data(), tiled);
  mixprec::gemm::from_cublaslt_tiled(s2.data(), static_cast<std::size_t>(rows), 4, back.data());
  int differs = 0, stale = 0;
  for (std::size_t i = 0; i < s1.size(); ++i) differs += s1[i].bits() != back[i].bits();
  for (std::size_t i = 0; i < x.size(); ++i) differs += q1[i].bits() != q2[i].bits();
  for (const auto& s : s2) stale += s.bits() == 0x77;
  CHECK(differs == 0);
  CHECK(stale == 0);
  // Rows 130..255 are padding: (131, 0) lies in tile 2 at (131 % 32) * 16 = 48.
  CHECK(cublaslt_tiled_scale_offset(131, 0, 4) == 512 + 48);
  CHECK(s2[cublaslt_tiled_scale_offset(131, 0, 4)].bits() == 0);
  std::vector<float> y1(x.size()), y2(x.size());
  mixprec::reference::dequantize_mx(q1.data(), s1.data(), rows, cols, y1.data());
  mixprec::reference::dequantize_mx(q2.data(), s2.data(), rows, cols, y2.data(), tiled.scale_layout);
  CHECK(y1 == y2);
}

TEST_CASE("block-scale layout functions reject bad arguments", "[gemm][scale_layout]") {
  using mixprec::gemm::block_scale_count;
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  MIXPREC_REQUIRE_ERROR(block_scale_count(static_cast<block_scale_layout>(5), 1, 1, "who"), "block_scale_layout = 5");
  MIXPREC_REQUIRE_ERROR(block_scale_count(block_scale_layout::cublaslt_tiled, huge, 1, "who"), "overflow");
  MIXPREC_REQUIRE_ERROR(block_scale_count(block_scale_layout::cublaslt_tiled, 1, huge - 1, "who"), "overflow");
  MIXPREC_REQUIRE_ERROR(block_scale_count(block_scale_layout::compact, huge / 2, 3, "who"), "overflow");
  std::vector<mixprec::float8_e4m3> a(4), b(512, mixprec::float8_e4m3::from_bits(0x22));
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::to_cublaslt_tiled<mixprec::float8_e4m3>(nullptr, 1, 4, b.data()), "null");
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::from_cublaslt_tiled<mixprec::float8_e4m3>(b.data(), 1, 4, nullptr), "null");
  CHECK(b[0].bits() == 0x22);
  // quantize_mx with a bad layout writes nothing.
  std::vector<float> x(64, 1.0f);
  std::vector<mixprec::float8_e4m3> q(64, mixprec::float8_e4m3::from_bits(0x55));
  std::vector<mixprec::float8_e8m0> scales(2, mixprec::float8_e8m0::from_bits(0x33));
  mixprec::mx_options bad;
  bad.scale_layout = static_cast<block_scale_layout>(9);
  MIXPREC_REQUIRE_ERROR(mixprec::reference::quantize_mx(x.data(), 1, 64, q.data(), scales.data(), bad),
                        "block_scale_layout = 9");
  std::vector<float> y(64, 2.0f);
  MIXPREC_REQUIRE_ERROR(
      mixprec::reference::dequantize_mx(q.data(), scales.data(), 1, 64, y.data(), static_cast<block_scale_layout>(9)),
      "block_scale_layout = 9");
  CHECK(q[0].bits() == 0x55);
  CHECK(scales[0].bits() == 0x33);
  CHECK(y[0] == 2.0f);
}

TEST_CASE("to_cublaslt_tiled / from_cublaslt_tiled reject overlapping compact and tiled arrays",
          "[gemm][scale_layout]") {
  std::vector<mixprec::float8_e8m0> scales(1024, mixprec::float8_e8m0::from_bits(0x22));
  // In place the padding zeros (and moved entries) overwrote compact entries still to be read.
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::to_cublaslt_tiled(scales.data(), 2, 2, scales.data()),
                        "mixprec::gemm::to_cublaslt_tiled: compact [");
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::to_cublaslt_tiled(scales.data() + 500, 2, 2, scales.data()), "overlap");
  MIXPREC_REQUIRE_ERROR(mixprec::gemm::from_cublaslt_tiled(scales.data(), 2, 2, scales.data() + 4), "overlap");
  CHECK(mixprec_test::every_code_is(scales, 0x22));
  // Adjacent arrays are fine.
  CHECK_NOTHROW(mixprec::gemm::to_cublaslt_tiled(scales.data() + 512, 2, 2, scales.data()));
}
