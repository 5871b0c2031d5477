// mixprec::reference quantize / dequantize / amax: the cast kernels' host
// counterpart, checked against values worked out by hand from the formats'
// definitions (E4M3: bias 7, 3 mantissa bits, max 448, NaN 0x7F), not against
// the engine.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/unwritten.hpp"

using namespace mixprec;
using gemm::scale_mode;

namespace {

const float inf = std::numeric_limits<float>::infinity();
const float quiet_nan = std::numeric_limits<float>::quiet_NaN();

template <class T>
std::vector<std::uint8_t> codes(const std::vector<T>& values) {
  std::vector<std::uint8_t> out;
  for (T v : values) out.push_back(v.bits());
  return out;
}

}  // namespace

TEST_CASE("quantize: hand-worked E4M3 codes, saturation and specials", "[reference][quantize]") {
  // 1 = 1.0·2^0 -> 0.0111.000; -2.5 = -1.25·2^1 -> 1.1000.010; 448 is max 0.1111.110;
  // 500 and inf saturate to ±max; 1e-3 / 2^-9 = 0.512 rounds to the smallest
  // subnormal; signed zeros stay; NaN gives the canonical 0x7F.
  const std::vector<float> x = {1.0f, -2.5f, 448.0f, 500.0f, 1e-3f, 0.0f, -0.0f, quiet_nan, inf, -inf};
  std::vector<float8_e4m3> q(x.size());
  const float amax = reference::quantize(x.data(), x.size(), 1.0f, q.data());
  CHECK(codes(q) == std::vector<std::uint8_t>{0x38, 0xC2, 0x7E, 0x7E, 0x01, 0x00, 0x80, 0x7F, 0x7E, 0xFE});
  CHECK(std::isnan(amax));
}

TEST_CASE("quantize: x · scale is rounded to nearest even", "[reference][quantize]") {
  // 100 · 2 = 200 = 1.5625 · 2^7 lies halfway between 192 (1.100) and 208
  // (1.101): the even mantissa wins -> 0.1110.100 = 0x74.
  const float x = 100.0f;
  float8_e4m3 q;
  CHECK(reference::quantize(&x, 1, 2.0f, &q) == 100.0f);
  CHECK(q.bits() == 0x74);
  // 13 · 16 = 208 is exact: 0x75.
  const float y = 13.0f;
  reference::quantize(&y, 1, 16.0f, &q);
  CHECK(q.bits() == 0x75);
}

TEST_CASE("quantize: other rounding and saturation rules are passed through", "[reference][quantize]") {
  const float x[] = {200.0f, 500.0f};
  float8_e4m3 q[2];
  reference::quantize_options o;
  o.mode = rounding::toward_zero;
  reference::quantize(x, 2, 1.0f, q, o);
  CHECK(q[0].bits() == 0x74);  // 200 truncates to 192
  CHECK(q[1].bits() == 0x7E);  // a finite value never rounds past max toward zero
  o.mode = rounding::nearest_even;
  o.policy = saturation::none;
  reference::quantize(x, 2, 1.0f, q, o);
  CHECK(q[1].bits() == 0x7F);  // E4M3 has no inf: overflow is NaN
}

TEST_CASE("quantize: E5M2 targets and BF16 / FP16 sources", "[reference][quantize]") {
  // 3 = 1.5 · 2^1 -> E5M2 0.10000.10 = 0x42; 57344 is E5M2's max 0x7B, inf stays
  // saturated to max under saturation::finite.
  const std::vector<bfloat16> x = {bfloat16(3.0f), bfloat16(-57344.0f), bfloat16(1e30f)};
  std::vector<float8_e5m2> q(x.size());
  CHECK(reference::quantize(x.data(), x.size(), 1.0f, q.data()) == static_cast<float>(bfloat16(1e30f)));
  CHECK(codes(q) == std::vector<std::uint8_t>{0x42, 0xFB, 0x7B});
  const std::vector<float16> h = {float16(0.5f), float16(-0.25f)};
  std::vector<float8_e4m3> p(h.size());
  CHECK(reference::quantize(h.data(), h.size(), 1.0f, p.data()) == 0.5f);
  CHECK(codes(p) == std::vector<std::uint8_t>{0x30, 0xA8});
}

TEST_CASE("amax: magnitudes compared as bits, NaN beats inf", "[reference][quantize]") {
  const std::vector<float> finite = {-3.0f, 2.0f, -0.0f};
  CHECK(reference::amax(finite.data(), finite.size()) == 3.0f);
  const std::vector<float> infinite = {1.0f, -inf};
  CHECK(reference::amax(infinite.data(), infinite.size()) == inf);
  const std::vector<float> with_nan = {inf, -quiet_nan, 1.0f};
  CHECK(std::isnan(reference::amax(with_nan.data(), with_nan.size())));
  CHECK(reference::amax(finite.data(), 0) == 0.0f);
}

TEST_CASE("cast-transpose writes the same codes transposed", "[reference][quantize]") {
  const std::int64_t rows = 3, cols = 5;
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i) - 2.0f;
  std::vector<float8_e4m3> q(x.size()), qt(x.size()), plain(x.size());
  const float amax = reference::quantize(x.data(), rows, cols, 3.0f, q.data(), qt.data());
  CHECK(amax == reference::amax(x.data(), x.size()));
  reference::quantize(x.data(), x.size(), 3.0f, plain.data());
  CHECK(codes(q) == codes(plain));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) CHECK(qt[static_cast<std::size_t>(c * rows + r)].bits() == q[static_cast<std::size_t>(r * cols + c)].bits());
  // Only the transposed copy.
  std::vector<float8_e4m3> only(x.size());
  reference::quantize(x.data(), rows, cols, 3.0f, static_cast<float8_e4m3*>(nullptr), only.data());
  CHECK(codes(only) == codes(qt));
}

TEST_CASE("stochastic rounding: reproducible, a neighbour, keyed by (seed, offset + index)",
          "[reference][quantize]") {
  std::vector<float> x(1000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + 0.001f * static_cast<float>(i);
  reference::quantize_options o;
  o.mode = rounding::stochastic;
  o.seed = 42;
  std::vector<float8_e4m3> first(x.size()), second(x.size()), shifted(x.size() - 1);
  reference::quantize(x.data(), x.size(), 1.0f, first.data(), o);
  reference::quantize(x.data(), x.size(), 1.0f, second.data(), o);
  CHECK(codes(first) == codes(second));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float down = static_cast<float>(convert<float8_e4m3>(x[i], rounding::toward_zero));
    const float value = static_cast<float>(first[i]);
    CHECK((value == down || value == static_cast<float>(convert<float8_e4m3>(x[i], rounding::upward))));
  }
  // The tail quantized on its own, with offset 1, gets the same random words.
  o.offset = 1;
  reference::quantize(x.data() + 1, x.size() - 1, 1.0f, shifted.data(), o);
  const std::vector<std::uint8_t> all = codes(first);
  CHECK(codes(shifted) == std::vector<std::uint8_t>(all.begin() + 1, all.end()));
  // ... and the mean is unbiased: 1.0 + u with u uniform in the E4M3 gap [1, 1.125).
  std::vector<float> same(20000, 1.05f);
  std::vector<float8_e4m3> q(same.size());
  o.offset = 0;
  reference::quantize(same.data(), same.size(), 1.0f, q.data(), o);
  double mean = 0;
  for (float8_e4m3 v : q) mean += static_cast<double>(static_cast<float>(v));
  mean /= static_cast<double>(q.size());
  // Standard deviation of one draw <= 0.0625; of the mean <= 0.0625 / sqrt(20000) = 4.4e-4.
  CHECK(std::fabs(mean - 1.05) < 5 * 4.4e-4);
}

TEST_CASE("block scales: max(T) / amax per block, stored as scale_inv", "[reference][quantize]") {
  // One row, 256 columns: two 1x128 blocks with amax 2 and 0 (all zero).
  std::vector<float> x(256, 0.0f);
  x[0] = 2.0f;
  x[1] = -1.0f;
  const gemm::scale_layout layout{scale_mode::block_1x128, 1, 256};
  std::vector<float> scale_inv(static_cast<std::size_t>(layout.count()), -1.0f);
  std::vector<float8_e4m3> q(x.size());
  CHECK(reference::quantize_blockwise(x.data(), 1, 256, scale_mode::block_1x128, q.data(), scale_inv.data()) ==
        2.0f);
  CHECK(scale_inv[static_cast<std::size_t>(layout.index(0, 0))] == 1.0f / 224.0f);  // 448 / 2
  CHECK(scale_inv[static_cast<std::size_t>(layout.index(0, 128))] == 1.0f);         // all zero: scale 1
  CHECK(q[0].bits() == 0x7E);   // 2 · 224 = 448
  CHECK(q[1].bits() == 0xF6);   // -224 = -1.75 · 2^7 -> 1.1110.110
  // Padding (rows 1..3 of each K block) is left alone.
  CHECK(scale_inv[1] == -1.0f);

  SECTION("power-of-two scales: 224 rounds down to 128, scale_inv exact") {
    reference::quantize_options o;
    o.power_of_two_scales = true;
    reference::quantize_blockwise(x.data(), 1, 256, scale_mode::block_1x128, q.data(), scale_inv.data(), nullptr,
                                  nullptr, o);
    CHECK(scale_inv[0] == 1.0f / 128.0f);
    CHECK(q[0].bits() == 0x78);  // 2 · 128 = 256 = 1.0 · 2^8 -> 0.1111.000
  }
}

TEST_CASE("block scales: an infinite block keeps scale 1", "[reference][quantize]") {
  std::vector<float> x = {1.0f, inf, 3.0f, 4.0f};
  std::vector<float> scale_inv(2);
  std::vector<float8_e4m3> q(4);
  CHECK(reference::quantize_blockwise(x.data(), 2, 2, scale_mode::row_wise, q.data(), scale_inv.data()) == inf);
  CHECK(scale_inv[0] == 1.0f);           // row 0 holds inf
  CHECK(scale_inv[1] == 4.0f / 448.0f);  // rounded 1 / (448 / 4)
  CHECK(q[1].bits() == 0x7E);            // inf saturates
  CHECK(q[3].bits() == 0x7E);            // 4 · 112 = 448
}

TEST_CASE("block scales land where gemm::scale_layout says", "[reference][quantize]") {
  // Every element of block b (in layout order) holds b + 1, so each block's
  // amax — and hence its scale — is unique.
  for (scale_mode mode : {scale_mode::per_tensor, scale_mode::row_wise, scale_mode::block_1x128,
                          scale_mode::block_128x128}) {
    CAPTURE(mode);
    const std::int64_t rows = 130, cols = 300;
    const gemm::scale_layout layout{mode, rows, cols};
    std::vector<float> x(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c)
        x[static_cast<std::size_t>(r * cols + c)] = static_cast<float>(layout.index(r, c) + 1);
    std::vector<float> scale_inv(static_cast<std::size_t>(layout.count()), 0.0f);
    std::vector<float8_e4m3> q(x.size());
    reference::quantize_blockwise(x.data(), rows, cols, mode, q.data(), scale_inv.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t i = layout.index(r, c);
        REQUIRE(scale_inv[static_cast<std::size_t>(i)] == 1.0f / (448.0f / static_cast<float>(i + 1)));
        REQUIRE(q[static_cast<std::size_t>(r * cols + c)].bits() == 0x7E);  // every element is its block's amax
      }
    }
  }
}

TEST_CASE("128x128 cast-transpose: same codes, scales in the transpose's layout", "[reference][quantize]") {
  const std::int64_t rows = 200, cols = 136;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = normal(rng);
  const gemm::scale_layout layout{scale_mode::block_128x128, rows, cols}, transposed{scale_mode::block_128x128, cols,
                                                                                     rows};
  std::vector<float> s(static_cast<std::size_t>(layout.count())), st(static_cast<std::size_t>(transposed.count()));
  std::vector<float8_e4m3> q(x.size()), qt(x.size());
  reference::quantize_blockwise(x.data(), rows, cols, scale_mode::block_128x128, q.data(), s.data(), qt.data(),
                                st.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      REQUIRE(qt[static_cast<std::size_t>(c * rows + r)].bits() == q[static_cast<std::size_t>(r * cols + c)].bits());
      REQUIRE(st[static_cast<std::size_t>(transposed.index(c, r))] == s[static_cast<std::size_t>(layout.index(r, c))]);
    }
  }
}

TEST_CASE("1x128 cast-transpose: the transpose's blocks run down 128 rows of x, with scales of their own",
          "[reference][quantize]") {
  // x [rows, cols]; its transpose [cols, rows] has 1x128 blocks of 128
  // consecutive rows of one column of x. Every element of transposed block b
  // (in that layout's order) holds ±(b + 1): each block's amax, and so its
  // scale, is unique, and every element is its block's amax.
  const std::int64_t rows = 300, cols = 20;
  const gemm::scale_layout transposed{scale_mode::block_1x128, cols, rows};
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      x[static_cast<std::size_t>(r * cols + c)] =
          static_cast<float>(transposed.index(c, r) + 1) * ((r + c) % 2 == 0 ? 1.0f : -1.0f);
  const gemm::scale_layout layout{scale_mode::block_1x128, rows, cols};
  std::vector<float> s(static_cast<std::size_t>(layout.count())), st(static_cast<std::size_t>(transposed.count()));
  std::vector<float8_e4m3> q(x.size()), qt(x.size());
  reference::quantize_blockwise(x.data(), rows, cols, scale_mode::block_1x128, q.data(), s.data(), qt.data(),
                                st.data());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t b = transposed.index(c, r);
      REQUIRE(st[static_cast<std::size_t>(b)] == 1.0f / (448.0f / static_cast<float>(b + 1)));
      REQUIRE(qt[static_cast<std::size_t>(c * rows + r)].bits() == ((r + c) % 2 == 0 ? 0x7E : 0xFE));
    }
  }
  // The plain output is unchanged by asking for the transpose: the same as
  // without it.
  std::vector<float> s_alone(s.size());
  std::vector<float8_e4m3> q_alone(x.size());
  reference::quantize_blockwise(x.data(), rows, cols, scale_mode::block_1x128, q_alone.data(), s_alone.data());
  CHECK(s == s_alone);
  CHECK(codes(q) == codes(q_alone));
}

TEST_CASE("1x128 cast-transpose equals quantising the transposed tensor", "[reference][quantize]") {
  const std::int64_t rows = 257, cols = 130;
  std::mt19937 rng(11);
  std::lognormal_distribution<float> spread(0.0f, 4.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols)), xt(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const float v = spread(rng) * (rng() % 2 == 0 ? 1.0f : -1.0f);
      x[static_cast<std::size_t>(r * cols + c)] = v;
      xt[static_cast<std::size_t>(c * rows + r)] = v;
    }
  }
  const gemm::scale_layout transposed{scale_mode::block_1x128, cols, rows};
  std::vector<float> st(static_cast<std::size_t>(transposed.count()), 0.0f), expected_st = st;
  std::vector<float8_e4m3> qt(x.size()), expected_qt(x.size());
  reference::quantize_blockwise(x.data(), rows, cols, scale_mode::block_1x128, static_cast<float8_e4m3*>(nullptr),
                                std::vector<float>(static_cast<std::size_t>(gemm::scale_layout{
                                                       scale_mode::block_1x128, rows, cols}.count()))
                                    .data(),
                                qt.data(), st.data());
  reference::quantize_blockwise(xt.data(), cols, rows, scale_mode::block_1x128, expected_qt.data(),
                                expected_st.data());
  CHECK(st == expected_st);
  CHECK(codes(qt) == codes(expected_qt));
}

TEST_CASE("a row-wise cast-transpose is refused: its scales would be per column", "[reference][quantize]") {
  std::vector<float> x(8, 1.0f), s(2);
  std::vector<float8_e4m3> q(8), qt(8);
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), 2, 4, scale_mode::row_wise, q.data(), s.data(),
                                                      qt.data()),
                        "row_wise scales would need one scale per column");
}

TEST_CASE("dequantize: decoded value times scale_inv, rounded once", "[reference][quantize]") {
  const std::vector<float8_e4m3> q = {float8_e4m3::from_bits(0x38), float8_e4m3::from_bits(0xC2),
                                      float8_e4m3::from_bits(0x7F)};
  std::vector<float> out(q.size());
  reference::dequantize(q.data(), q.size(), 0.5f, out.data());
  CHECK(out[0] == 0.5f);
  CHECK(out[1] == -1.25f);
  CHECK(std::isnan(out[2]));
  // To BF16: 1 · (1 + 2^-10) rounds to nearest even, 1.0.
  std::vector<bfloat16> b(1);
  reference::dequantize(q.data(), 1, 1.0f + 0x1p-10f, b.data());
  CHECK(b[0].bits() == 0x3F80);
}

TEST_CASE("quantize_blockwise then dequantize_blockwise: within half an E4M3 step", "[reference][quantize]") {
  const std::int64_t rows = 64, cols = 384;
  std::mt19937 rng(4);
  std::lognormal_distribution<float> magnitude(0.0f, 2.0f);
  std::vector<float> x(static_cast<std::size_t>(rows * cols));
  for (float& v : x) v = (rng() & 1 ? 1.0f : -1.0f) * magnitude(rng);
  for (scale_mode mode : {scale_mode::row_wise, scale_mode::block_1x128, scale_mode::block_128x128}) {
    CAPTURE(mode);
    const gemm::scale_layout layout{mode, rows, cols};
    std::vector<float> s(static_cast<std::size_t>(layout.count()));
    std::vector<float8_e4m3> q(x.size());
    std::vector<float> back(x.size());
    reference::quantize_blockwise(x.data(), rows, cols, mode, q.data(), s.data());
    reference::dequantize_blockwise(q.data(), rows, cols, mode, s.data(), back.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
      // Relative 2^-4 in E4M3's normal range; below it (2^-6 · scale_inv) an absolute 2^-10 · scale_inv.
      const float step = s[static_cast<std::size_t>(layout.index(static_cast<std::int64_t>(i) / cols,
                                                                 static_cast<std::int64_t>(i) % cols))];
      REQUIRE(std::fabs(back[i] - x[i]) <= 0x1p-4f * std::fabs(x[i]) * 1.001f + 0x1p-10f * step);
    }
  }
}

// ---- Issue 12: pointers, scales, sizes and enum values are checked --------
// Every refused call must leave its outputs as they were: each case below
// starts from outputs filled with a marker and checks it afterwards.

namespace {

const std::uint8_t marker = 0x5A;

bool all_marked(const std::vector<float8_e4m3>& q) { return mixprec_test::every_code_is(q, marker); }

}  // namespace

TEST_CASE("quantize, amax and dequantize refuse null arrays with n > 0", "[reference][quantize]") {
  // Before: each of these dereferenced null.
  std::vector<float> x(8, 1.0f), y(8, 7.0f);
  std::vector<float8_e4m3> q(8, float8_e4m3::from_bits(marker));
  const float* no_x = nullptr;
  float8_e4m3* no_q = nullptr;
  MIXPREC_REQUIRE_ERROR(reference::amax(no_x, 8), "x is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::quantize(no_x, 8, 1.0f, q.data()), "x is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 8, 1.0f, no_q), "out is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::quantize(no_x, 2, 4, 1.0f, q.data(), nullptr), "x is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(no_x, 2, 4, scale_mode::row_wise, q.data(), y.data()),
                        "x is null but n = 8");
  const float8_e4m3* no_codes = nullptr;
  MIXPREC_REQUIRE_ERROR(reference::dequantize(no_codes, 8, 1.0f, y.data()), "q is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::dequantize(q.data(), 8, 1.0f, static_cast<float*>(nullptr)),
                        "out is null but n = 8");
  MIXPREC_REQUIRE_ERROR(reference::dequantize_blockwise(q.data(), 2, 4, scale_mode::row_wise,
                                                        static_cast<const float*>(nullptr), y.data()),
                        "scale_inv is null: pass the 2 row_wise scales");
  CHECK(all_marked(q));
  CHECK(y == std::vector<float>(8, 7.0f));
  // n == 0 accepts null, as convert_n does.
  CHECK(reference::amax(no_x, 0) == 0.0f);
  CHECK_NOTHROW(reference::quantize(no_x, 0, 1.0f, no_q));
  CHECK_NOTHROW(reference::dequantize(no_codes, 0, 1.0f, static_cast<float*>(nullptr)));
}

TEST_CASE("quantize and dequantize refuse NaN, infinite, zero and negative scales", "[reference][quantize]") {
  // Before: NaN gave an all-NaN output, 0 all zeros, inf ±448, -1 flipped signs.
  std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f}, y(4, 7.0f), s(2);
  std::vector<float8_e4m3> q(4, float8_e4m3::from_bits(marker));
  for (float bad : {quiet_nan, inf, -inf, 0.0f, -0.0f, -1.0f}) {
    CAPTURE(bad);
    MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 4, bad, q.data()), "scales must be finite and positive");
    MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 2, 2, bad, q.data(), nullptr), "scale[0] = ");
    MIXPREC_REQUIRE_ERROR(reference::dequantize(q.data(), 4, bad, y.data()), "scale_inv[0] = ");
    // One of the two row-wise scales.
    s = {1.0f, bad};
    MIXPREC_REQUIRE_ERROR(reference::dequantize_blockwise(q.data(), 2, 2, scale_mode::row_wise, s.data(), y.data()),
                          "scale_inv[1] = ");
  }
  CHECK(all_marked(q));
  CHECK(y == std::vector<float>(4, 7.0f));
}

TEST_CASE("invalid rounding, saturation and scale-mode values are refused", "[reference][quantize]") {
  // Before: rounding(42) behaved as truncation; scale mode 9 wrote every
  // block's scale into s[0].
  std::vector<float> x(256, 1.5f), s(8, 7.0f), y(256, 7.0f);
  std::vector<float8_e4m3> q(256, float8_e4m3::from_bits(marker));
  quantize_options bad_mode;
  bad_mode.mode = static_cast<rounding>(42);
  quantize_options bad_policy;
  bad_policy.policy = static_cast<saturation>(7);
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 256, 1.0f, q.data(), bad_mode), "quantize_options::mode = 42");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 256, 1.0f, q.data(), bad_policy),
                        "quantize_options::policy = 7");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 2, 128, 1.0f, q.data(), nullptr, bad_mode),
                        "quantize_options::mode = 42");
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), 2, 128, scale_mode::row_wise, q.data(), s.data(),
                                                      nullptr, nullptr, bad_policy),
                        "quantize_options::policy = 7");
  const auto mode9 = static_cast<scale_mode>(9);
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), 2, 128, mode9, q.data(), s.data()),
                        "scale mode 9 is not a gemm::scale_mode enumerator");
  MIXPREC_REQUIRE_ERROR(reference::dequantize_blockwise(q.data(), 2, 128, mode9, s.data(), y.data()),
                        "scale mode 9");
  CHECK(all_marked(q));
  CHECK(s == std::vector<float>(8, 7.0f));
  CHECK(y == std::vector<float>(256, 7.0f));
}

TEST_CASE("tensor sizes are checked without overflow", "[reference][quantize]") {
  std::vector<float> x(4, 1.0f), s(4);
  std::vector<float8_e4m3> q(4, float8_e4m3::from_bits(marker));
  // (Read through volatiles: constant sizes this large over 4-element
  // buffers are, to the optimiser, undefined behaviour to warn about.)
  volatile std::int64_t opaque_big = std::int64_t{1} << 32, opaque_max = INT64_MAX;
  const std::int64_t big = opaque_big, largest = opaque_max;
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), big, big, 1.0f, q.data(), nullptr),
                        "overflows a 64-bit element count");
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), big, big, scale_mode::row_wise, q.data(), s.data()),
                        "overflows a 64-bit element count");
  MIXPREC_REQUIRE_ERROR(reference::dequantize_blockwise(q.data(), big, big, scale_mode::row_wise, s.data(), x.data()),
                        "overflows a 64-bit element count");
  // The 128x128 scale count of a huge single-column tensor would overflow.
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), largest, 1, scale_mode::block_1x128, q.data(),
                                                      s.data()),
                        "would need more than INT64_MAX floats");
  CHECK(all_marked(q));
}

TEST_CASE("arrays must lie inside the address space and must not overlap", "[reference][quantize]") {
  std::vector<float> x(64, 1.5f), f(64, 7.0f);
  std::vector<float8_e4m3> q(64, float8_e4m3::from_bits(marker)), qt(64, float8_e4m3::from_bits(marker));
  const auto untouched = [&] {
    return all_marked(q) && all_marked(qt) && std::all_of(f.begin(), f.end(), [](float v) { return v == 7.0f; }) &&
           std::all_of(x.begin(), x.end(), [](float v) { return v == 1.5f; });
  };
  // Counts whose bytes wrap or pass the end of the address space were read
  // and written out of bounds. (Read through volatiles, as above.)
  volatile std::size_t opaque_n = SIZE_MAX;
  volatile std::int64_t opaque_rows = INT64_MAX / 128;
  const std::size_t huge = opaque_n;
  const std::int64_t rows = opaque_rows;
  const char* beyond = "reaches beyond the address space";
  MIXPREC_REQUIRE_ERROR(reference::amax(x.data(), huge), "mixprec::reference::amax: x at ");
  MIXPREC_REQUIRE_ERROR(reference::amax(x.data(), huge), beyond);
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), huge, 1.0f, q.data()), "mixprec::reference::quantize: x at ");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), huge / 2, 1.0f, q.data()), beyond);
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), rows, std::int64_t{128}, 1.0f, q.data(), qt.data()), beyond);
  MIXPREC_REQUIRE_ERROR(reference::dequantize(q.data(), huge, 1.0f, f.data()), beyond);
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), rows, 128, scale_mode::block_1x128, q.data(), f.data()),
                        beyond);
  MIXPREC_REQUIRE_ERROR(
      reference::dequantize_blockwise(q.data(), rows, 128, scale_mode::per_tensor, f.data(), x.data()), beyond);
  CHECK(untouched());
  // Overlaps: an output over an input or over another output changed the
  // result silently (dequantize in place wrote floats over the codes it read).
  auto* x_as_codes = reinterpret_cast<float8_e4m3*>(x.data());
  MIXPREC_REQUIRE_ERROR(reference::dequantize(q.data(), 16, 1.0f, reinterpret_cast<float*>(q.data())),
                        "mixprec::reference::dequantize: q [");
  MIXPREC_REQUIRE_ERROR(reference::dequantize(q.data(), 16, 1.0f, reinterpret_cast<float*>(q.data())), "overlap");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), 16, 1.0f, x_as_codes + 8), "x [");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), std::int64_t{4}, std::int64_t{4}, 1.0f, q.data(), q.data() + 8),
                        "out [");
  MIXPREC_REQUIRE_ERROR(reference::quantize(x.data(), std::int64_t{4}, std::int64_t{4}, 1.0f, q.data(), q.data() + 8),
                        "and out_transposed [");
  MIXPREC_REQUIRE_ERROR(reference::quantize_blockwise(x.data(), 4, 16, scale_mode::row_wise, q.data(),
                                                      reinterpret_cast<float*>(q.data()) + 8),
                        "out [");
  MIXPREC_REQUIRE_ERROR(
      reference::quantize_blockwise(x.data(), 4, 16, scale_mode::per_tensor, q.data(), f.data(), qt.data(), f.data()),
      "scale_inv [");
  MIXPREC_REQUIRE_ERROR(reference::dequantize_blockwise(q.data(), 4, 16, scale_mode::per_tensor, f.data(), f.data()),
                        "overlap");
  CHECK(untouched());
  // Null stays accepted where there are no elements, scale_inv included.
  CHECK_NOTHROW(reference::quantize_blockwise(x.data(), 0, 16, scale_mode::row_wise, q.data(), nullptr));
  CHECK(untouched());
}
