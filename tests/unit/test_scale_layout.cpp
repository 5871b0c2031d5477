// mixprec::gemm::scale_layout — the one definition of where block and row
// scales live, checked against the layout written out by hand from cuBLASLt's
// conventions (see the header's comment for the sources).
#include <cstdint>
#include <set>

#include "mixprec/gemm/scale_layout.hpp"
#include "support/catch.hpp"

using mixprec::gemm::scale_layout;
using mixprec::gemm::scale_mode;

TEST_CASE("per-tensor: one scale for every element", "[gemm][scale_layout]") {
  const scale_layout layout{scale_mode::per_tensor, 300, 500};
  CHECK(layout.count() == 1);
  CHECK(layout.index(0, 0) == 0);
  CHECK(layout.index(299, 499) == 0);
}

TEST_CASE("row-wise: one scale per row, whatever the column", "[gemm][scale_layout]") {
  const scale_layout layout{scale_mode::row_wise, 17, 256};
  CHECK(layout.count() == 17);
  CHECK(layout.index(0, 255) == 0);
  CHECK(layout.index(16, 0) == 16);
}

TEST_CASE("1x128: K blocks outermost, rows contiguous, row count padded to 4", "[gemm][scale_layout]") {
  // 17 rows (padded to 20), K = 300 -> 3 K blocks.
  const scale_layout layout{scale_mode::block_1x128, 17, 300};
  CHECK(layout.stride() == 20);
  CHECK(layout.count() == 60);
  CHECK(layout.index(0, 0) == 0);
  CHECK(layout.index(1, 0) == 1);
  CHECK(layout.index(16, 127) == 16);
  CHECK(layout.index(0, 128) == 20);
  CHECK(layout.index(5, 299) == 45);
  // Rows % 4 == 0: the unpadded [M, ceil(K/128)] tensor with strides (1, M) that
  // PyTorch's _scaled_mm passes to cuBLASLt is the same layout.
  const scale_layout aligned{scale_mode::block_1x128, 64, 256};
  for (std::int64_t r = 0; r < 64; ++r)
    for (std::int64_t kb = 0; kb < 2; ++kb) CHECK(aligned.index(r, kb * 128 + 7) == r + kb * 64);
}

TEST_CASE("128x128: row blocks outermost, K blocks contiguous, padded to 4", "[gemm][scale_layout]") {
  // 300 rows -> 3 row blocks; K = 640 -> 5 K blocks, padded to 8.
  const scale_layout layout{scale_mode::block_128x128, 300, 640};
  CHECK(layout.stride() == 8);
  CHECK(layout.count() == 24);
  CHECK(layout.index(0, 0) == 0);
  CHECK(layout.index(127, 127) == 0);
  CHECK(layout.index(0, 128) == 1);
  CHECK(layout.index(128, 0) == 8);
  CHECK(layout.index(299, 639) == 2 * 8 + 4);
}

TEST_CASE("every index lies inside the allocation and every block has its own", "[gemm][scale_layout]") {
  for (scale_mode mode : {scale_mode::per_tensor, scale_mode::row_wise, scale_mode::block_1x128,
                          scale_mode::block_128x128}) {
    const scale_layout layout{mode, 130, 390};
    std::set<std::int64_t> used;
    for (std::int64_t r = 0; r < 130; ++r) {
      for (std::int64_t c = 0; c < 390; ++c) {
        const std::int64_t i = layout.index(r, c);
        REQUIRE(i >= 0);
        REQUIRE(i < layout.count());
        used.insert(i);
      }
    }
    const std::size_t blocks = mode == scale_mode::per_tensor     ? 1
                               : mode == scale_mode::row_wise     ? 130
                               : mode == scale_mode::block_1x128 ? 130 * 4
                                                                  : 2 * 4;
    CAPTURE(mode);
    CHECK(used.size() == blocks);
  }
}
