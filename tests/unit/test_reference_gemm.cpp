// mixprec::reference::scaled_gemm against a naive float64 GEMM written here:
// every D[i,j] is computed from the decoded operands with double products and
// sums, and the reference must lie within the error bound of FP32 summation
// plus the output rounding (with FP64 accumulation: the output rounding alone).
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/gemm_matrix.hpp"

using namespace mixprec;
using gemm::element_type;
using gemm::epilogue;
using gemm::scale_mode;
using mixprec_test::random_scales;
using matrix = mixprec_test::gemm_matrix;

namespace {

double gelu(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// The naive float64 GEMM: D_exact[i,j] before the output conversion, and the
// sum of |terms| that bounds the FP32 summation error.
struct naive_result {
  std::vector<double> value, magnitude;
};

naive_result naive_gemm(const gemm::problem& p, const matrix& a, const matrix& b, const matrix* c,
                        const std::vector<double>& bias) {
  const gemm::scale_layout la = gemm::scale_layout_of_a(p), lb = gemm::scale_layout_of_b(p);
  auto sa = [&](std::int64_t i, std::int64_t k) { return p.a.scale ? double(p.a.scale[la.index(i, k)]) : 1.0; };
  auto sb = [&](std::int64_t j, std::int64_t k) { return p.b.scale ? double(p.b.scale[lb.index(j, k)]) : 1.0; };
  naive_result out;
  out.value.resize(static_cast<std::size_t>(p.m * p.n));
  out.magnitude.resize(out.value.size());
  for (std::int64_t i = 0; i < p.m; ++i) {
    for (std::int64_t j = 0; j < p.n; ++j) {
      double sum = 0, magnitude = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const double term = static_cast<double>(p.alpha) * sa(i, k) * sb(j, k) * a.get(i, k) * b.get(j, k);
        sum += term;
        magnitude += std::fabs(term);
      }
      if (p.beta != 0) {
        sum += static_cast<double>(p.beta) * c->get(i, j);
        magnitude += std::fabs(static_cast<double>(p.beta) * c->get(i, j));
      }
      if (!bias.empty()) {
        sum += bias[static_cast<std::size_t>(j)];
        magnitude += std::fabs(bias[static_cast<std::size_t>(j)]);
      }
      switch (p.epilogue_op) {
        case epilogue::relu:
        case epilogue::bias_relu: sum = sum > 0 ? sum : 0; break;
        case epilogue::gelu:
        case epilogue::bias_gelu: sum = gelu(sum); break;
        default: break;
      }
      out.value[static_cast<std::size_t>(i * p.n + j)] = sum;
      out.magnitude[static_cast<std::size_t>(i * p.n + j)] = magnitude;
    }
  }
  return out;
}

// A complete test problem: operands, scales, optional C and bias, output.
struct gemm_case {
  gemm::problem p;
  matrix a, b, d;
  matrix c;
  std::vector<float> a_scales, b_scales;
  std::vector<unsigned char> bias_bytes;
  std::vector<double> bias_values;
  float d_scale = 1.0f, d_amax = -1.0f;

  gemm_case(std::int64_t m, std::int64_t n, std::int64_t k, element_type at, element_type bt, element_type dt,
            scale_mode sa, scale_mode sb, std::uint32_t seed, std::int64_t pad = 0)
      : p(gemm::make_problem(m, n, k, at, bt, dt)), a(at, m, k, k + pad), b(bt, n, k, k + pad),
        d(dt, m, n, n + pad), c(gemm::default_c_type(dt), m, n, n + pad) {
    std::mt19937 rng(seed);
    a.fill_random(rng);
    b.fill_random(rng);
    p.a.data = a.data();
    p.a.ld = a.ld;
    p.b.data = b.data();
    p.b.ld = b.ld;
    p.d.data = d.data();
    p.d.ld = d.ld;
    p.a.scaling = sa;
    p.b.scaling = sb;
    if (gemm::is_fp8(at)) {
      a_scales = random_scales(rng, gemm::scale_layout_of_a(p).count());
      b_scales = random_scales(rng, gemm::scale_layout_of_b(p).count());
      p.a.scale = a_scales.data();
      p.b.scale = b_scales.data();
    }
    if (gemm::is_fp8(dt)) {
      d_scale = 0.75f;
      p.d.scale = &d_scale;
      p.d.amax = &d_amax;
    }
  }

  void add_c(float beta, std::uint32_t seed) {
    std::mt19937 rng(seed);
    c.fill_random(rng);
    p.beta = beta;
    p.c.data = c.data();
    p.c.ld = c.ld;
  }
  void add_bias(epilogue op, std::uint32_t seed) {
    p.epilogue_op = op;
    if (!gemm::has_bias(op)) return;
    std::mt19937 rng(seed);
    matrix values(p.bias.type, 1, p.n);
    values.fill_random(rng);
    bias_bytes = values.bytes;
    for (std::int64_t j = 0; j < p.n; ++j) bias_values.push_back(values.get(0, j));
    p.bias.data = bias_bytes.data();
  }

  // Runs the reference and checks every element against the naive GEMM:
  // |D - exact| <= K-term FP32 summation bound + output rounding.
  void check(reference::accumulation accumulate = reference::accumulation::float32) {
    reference::scaled_gemm(p, {accumulate});
    const naive_result exact = naive_gemm(p, a, b, p.beta != 0 ? &c : nullptr, bias_values);
    const double unit = accumulate == reference::accumulation::float64 ? std::ldexp(1.0, -50) : std::ldexp(1.0, -24);
    // Summation (K + 3 roundings for the scale, C and bias steps), the
    // epilogue's float evaluation, and the output conversion.
    const double terms = static_cast<double>(p.k + 8);
    double largest = 0;
    for (std::int64_t i = 0; i < p.m; ++i) {
      for (std::int64_t j = 0; j < p.n; ++j) {
        const std::size_t e = static_cast<std::size_t>(i * p.n + j);
        double expected = exact.value[e];
        largest = std::max(largest, std::fabs(expected));
        double bound = terms * unit * exact.magnitude[e] * 2.0 + unit * 8 * std::fabs(expected);
        if (gemm::is_fp8(p.d.type)) {
          expected *= static_cast<double>(d_scale);
          bound *= static_cast<double>(d_scale);
        }
        bound += mixprec_test::output_half_ulp(p.d.type) * std::fabs(expected) + 1e-30;
        // Below the output's normal range its absolute spacing takes over.
        if (p.d.type == element_type::float8_e4m3) bound += std::ldexp(1.0, -10);
        if (p.d.type == element_type::float8_e5m2) bound += std::ldexp(1.0, -17);
        if (p.d.type == element_type::float16) bound += std::ldexp(1.0, -25);
        const double actual = d.get(i, j);
        CAPTURE(i, j, expected, actual, bound);
        REQUIRE(std::fabs(actual - expected) <= bound);
      }
    }
    if (gemm::is_fp8(p.d.type)) CHECK(std::fabs(static_cast<double>(d_amax) - largest) <= 1e-4 * largest + 1e-30);
  }
};

}  // namespace

TEST_CASE("small integers multiply and add exactly", "[reference][gemm]") {
  // A = [[1, 2], [3, 4]] and B = [[5, 6], [7, 8]] in E4M3: D = A Bᵀ exactly.
  gemm_case g(2, 2, 2, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
              scale_mode::per_tensor, scale_mode::per_tensor, 1);
  g.p.a.scale = g.p.b.scale = nullptr;
  const double a[2][2] = {{1, 2}, {3, 4}}, b[2][2] = {{5, 6}, {7, 8}};
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 2; ++k) {
      g.a.set(i, k, a[i][k]);
      g.b.set(i, k, b[i][k]);
    }
  reference::scaled_gemm(g.p);
  CHECK(g.d.get(0, 0) == 17.0);
  CHECK(g.d.get(0, 1) == 23.0);
  CHECK(g.d.get(1, 0) == 39.0);
  CHECK(g.d.get(1, 1) == 53.0);
}

TEST_CASE("per-tensor scales and alpha multiply the sum", "[reference][gemm]") {
  gemm_case g(1, 1, 16, element_type::float8_e4m3, element_type::float8_e5m2, element_type::float32,
              scale_mode::per_tensor, scale_mode::per_tensor, 2);
  for (int k = 0; k < 16; ++k) {
    g.a.set(0, k, 1.0);
    g.b.set(0, k, 2.0);
  }
  g.a_scales[0] = 0.5f;
  g.b_scales[0] = 4.0f;
  g.p.alpha = 3.0f;
  reference::scaled_gemm(g.p);
  CHECK(g.d.get(0, 0) == 3.0 * 0.5 * 4.0 * 32.0);
}

TEST_CASE("FP8 operands against float64: every scale-mode pair", "[reference][gemm]") {
  const scale_mode modes[] = {scale_mode::per_tensor, scale_mode::row_wise, scale_mode::block_1x128,
                              scale_mode::block_128x128};
  for (scale_mode sa : modes) {
    for (scale_mode sb : modes) {
      CAPTURE(sa, sb);
      // K = 300: three K blocks, the last one partial; M and N cross a 128 boundary.
      gemm_case g(130, 20, 300, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32, sa, sb,
                  11);
      g.check();
    }
  }
}

TEST_CASE("block scales multiply each K block's partial sum", "[reference][gemm]") {
  // Ones everywhere, K = 256: two K blocks; A's 1x128 scales 1 and 2, B's 128x128
  // scales 3 and 5: D = 128 · 1 · 3 + 128 · 2 · 5.
  gemm_case g(1, 16, 256, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
              scale_mode::block_1x128, scale_mode::block_128x128, 3);
  for (int k = 0; k < 256; ++k) {
    g.a.set(0, k, 1.0);
    for (int j = 0; j < 16; ++j) g.b.set(j, k, 1.0);
  }
  const gemm::scale_layout la = gemm::scale_layout_of_a(g.p), lb = gemm::scale_layout_of_b(g.p);
  g.a_scales[static_cast<std::size_t>(la.index(0, 0))] = 1.0f;
  g.a_scales[static_cast<std::size_t>(la.index(0, 128))] = 2.0f;
  g.b_scales[static_cast<std::size_t>(lb.index(0, 0))] = 3.0f;
  g.b_scales[static_cast<std::size_t>(lb.index(0, 128))] = 5.0f;
  reference::scaled_gemm(g.p);
  for (int j = 0; j < 16; ++j) CHECK(g.d.get(0, j) == 128.0 * 3 + 128.0 * 2 * 5);
}

TEST_CASE("every output type and the E5M2 x E4M3 pair", "[reference][gemm]") {
  for (element_type d : {element_type::float32, element_type::bfloat16, element_type::float16,
                         element_type::float8_e4m3, element_type::float8_e5m2}) {
    CAPTURE(d);
    gemm_case g(33, 48, 64, element_type::float8_e5m2, element_type::float8_e4m3, d, scale_mode::row_wise,
                scale_mode::row_wise, 5);
    g.check();
  }
}

TEST_CASE("FP8 output: amax of D before sD, conversion with sD, saturation", "[reference][gemm]") {
  gemm_case g(4, 16, 32, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
              scale_mode::per_tensor, scale_mode::per_tensor, 6);
  g.p.a.scale = g.p.b.scale = nullptr;
  for (int k = 0; k < 32; ++k) {
    for (int i = 0; i < 4; ++i) g.a.set(i, k, i == 3 ? 32.0 : 1.0);  // row 3: D = 32 · 32 · 1 = 1024
    for (int j = 0; j < 16; ++j) g.b.set(j, k, 1.0);
  }
  g.d_scale = 0.25f;
  reference::scaled_gemm(g.p);
  CHECK(g.d_amax == 1024.0f);                // before sD
  CHECK(g.d.get(0, 0) == 32.0 * 0.25);       // 32 · sD
  CHECK(g.d.get(3, 0) == 256.0);             // 1024 · 0.25
  g.d_scale = 1.0f;
  reference::scaled_gemm(g.p);
  CHECK(g.d.get(3, 5) == 448.0);             // 1024 saturates to E4M3's max
}

TEST_CASE("a NaN in the product makes amax NaN", "[reference][gemm]") {
  gemm_case g(2, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
              scale_mode::per_tensor, scale_mode::per_tensor, 7);
  reinterpret_cast<std::uint8_t*>(g.a.data())[3] = 0x7F;  // E4M3 NaN
  reference::scaled_gemm(g.p);
  CHECK(std::isnan(g.d_amax));
}

TEST_CASE("beta · C, in place and from a separate BF16 C", "[reference][gemm]") {
  SECTION("FP8 D with a BF16 C") {
    gemm_case g(17, 32, 48, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
                scale_mode::per_tensor, scale_mode::per_tensor, 8);
    g.add_c(0.5f, 9);
    g.check();
  }
  SECTION("FP32 D accumulated in place") {
    gemm_case g(17, 32, 48, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
                scale_mode::per_tensor, scale_mode::per_tensor, 10);
    std::mt19937 rng(12);
    g.d.fill_random(rng);
    matrix before = g.d;
    g.p.beta = 2.0f;
    g.p.c.data = g.p.d.data;
    g.p.c.ld = g.p.d.ld;
    g.p.c.type = element_type::float32;
    reference::scaled_gemm(g.p);
    // Compare against the same GEMM with the saved D as a separate C.
    matrix out = g.d;
    g.d = before;
    g.c = before;
    g.p.d.data = g.d.data();
    g.p.c.data = g.c.data();
    reference::scaled_gemm(g.p);
    CHECK(out.bytes == g.d.bytes);
  }
}

TEST_CASE("epilogues: bias, ReLU, GELU and their combinations", "[reference][gemm]") {
  for (epilogue op : {epilogue::none, epilogue::bias, epilogue::relu, epilogue::bias_relu, epilogue::gelu,
                      epilogue::bias_gelu}) {
    CAPTURE(op);
    gemm_case g(20, 16, 64, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                scale_mode::per_tensor, scale_mode::per_tensor, 13);
    g.add_bias(op, 14);
    g.check();
  }
  // A float32 D with FP8 operands takes a BF16 bias, an FP8 D its C type's.
  gemm_case g(20, 16, 64, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
              scale_mode::per_tensor, scale_mode::per_tensor, 15);
  g.add_bias(epilogue::bias_gelu, 16);
  g.check();
}

TEST_CASE("leading dimensions longer than the rows", "[reference][gemm]") {
  gemm_case g(9, 16, 40, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
              scale_mode::block_1x128, scale_mode::block_1x128, 17, /*pad=*/24);
  g.add_c(1.0f, 18);
  g.check();
  // The padding between rows of D is not touched.
  for (std::int64_t i = 0; i < 9; ++i)
    for (std::int64_t j = 16; j < g.d.ld; ++j)
      CHECK(g.d.bytes[static_cast<std::size_t>(i * g.d.ld + j) * 2] == 0xEE);
}

TEST_CASE("odd shapes the GPU refuses: M = 1, N = 10, K = 20", "[reference][gemm]") {
  gemm_case g(1, 10, 20, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
              scale_mode::row_wise, scale_mode::row_wise, 19);
  g.check();
}

TEST_CASE("BF16, FP16 and FP32 operands accumulate in FP32 too", "[reference][gemm]") {
  for (element_type t : {element_type::bfloat16, element_type::float16, element_type::float32}) {
    CAPTURE(t);
    gemm_case g(24, 40, 200, t, t, element_type::float32, scale_mode::per_tensor, scale_mode::per_tensor, 20);
    g.check();
    gemm_case h(24, 40, 200, t, t, t, scale_mode::per_tensor, scale_mode::per_tensor, 21);
    h.add_bias(epilogue::bias_relu, 22);
    h.check();
  }
}

TEST_CASE("FP64 accumulation is exact up to the output rounding", "[reference][gemm]") {
  gemm_case g(16, 16, 1024, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
              scale_mode::block_1x128, scale_mode::block_128x128, 23);
  g.check(reference::accumulation::float64);
}

TEST_CASE("FP32 accumulation rounds like a sequential float sum", "[reference][gemm]") {
  // 1 + 2^-24 + 2^-24 + ... : summed in order in FP32 every small term is lost.
  gemm_case g(1, 16, 64, element_type::float32, element_type::float32, element_type::float32,
              scale_mode::per_tensor, scale_mode::per_tensor, 24);
  for (int k = 0; k < 64; ++k) {
    g.a.set(0, k, k == 0 ? 1.0 : std::ldexp(1.0, -24));
    for (int j = 0; j < 16; ++j) g.b.set(j, k, 1.0);
  }
  reference::scaled_gemm(g.p);
  CHECK(g.d.get(0, 0) == 1.0);
  reference::scaled_gemm(g.p, {reference::accumulation::float64});
  CHECK(g.d.get(0, 0) == static_cast<double>(static_cast<float>(1.0 + 63 * std::ldexp(1.0, -24))));
}

TEST_CASE("the reference checks the problem first", "[reference][gemm]") {
  gemm_case g(2, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
              scale_mode::per_tensor, scale_mode::per_tensor, 25);
  g.p.d.scale = nullptr;
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "d.scale is null");
}

// ---- Issue 12: what the reference refuses, before writing a byte ----------

namespace {

// D's bytes before a call that must be refused, to check it wrote nothing.
struct untouched_output {
  const gemm_case& g;
  std::vector<unsigned char> before;
  float amax_before;
  explicit untouched_output(const gemm_case& c) : g(c), before(c.d.bytes), amax_before(c.d_amax) {}
  bool holds() const { return g.d.bytes == before && std::memcmp(&g.d_amax, &amax_before, sizeof(float)) == 0; }
};

bool same_bits_or_both_nan(double x, double y) {
  return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("the reference refuses invalid types and options and writes nothing", "[reference][gemm]") {
  // Before: an invalid A type gave D = 0, an invalid D type wrote nothing and
  // returned normally, accumulation(7) ran as float32.
  gemm_case g(4, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
              scale_mode::per_tensor, scale_mode::per_tensor, 31);
  const untouched_output d(g);
  g.p.a.type = static_cast<element_type>(9);
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "a.type = 9");
  g.p.a.type = element_type::float8_e4m3;
  g.p.d.type = static_cast<element_type>(9);
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "d.type = 9");
  g.p.d.type = element_type::float8_e4m3;
  reference::gemm_options bad_options;
  bad_options.accumulate = static_cast<reference::accumulation>(7);
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p, bad_options), "gemm_options::accumulate = 7");
  CHECK(d.holds());
}

TEST_CASE("the reference refuses D aliasing A", "[reference][gemm]") {
  // The case: FP32, M=16, N=32, K=16, d.data = a.data.
  gemm_case g(16, 32, 16, element_type::float32, element_type::float32, element_type::float32,
              scale_mode::per_tensor, scale_mode::per_tensor, 32);
  const std::vector<unsigned char> a_before = g.a.bytes;
  g.p.d.data = g.a.data();
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "overlaps A");
  CHECK(g.a.bytes == a_before);
}

TEST_CASE("the reference refuses NaN, infinite, zero and negative scales and non-finite alpha and beta",
          "[reference][gemm]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {nan, inf, -inf, 0.0f, -0.0f, -1.0f}) {
    CAPTURE(bad);
    gemm_case g(4, 16, 256, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
                scale_mode::per_tensor, scale_mode::per_tensor, 33);
    const untouched_output d(g);
    const float a_scale = g.a_scales[0];
    g.a_scales[0] = bad;
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "a.scale[0] = ");
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "scales must be finite and positive");
    g.a_scales[0] = a_scale;
    g.b_scales[0] = bad;
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "b.scale[0] = ");
    g.b_scales[0] = 1.0f;
    g.d_scale = bad;
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "d.scale[0] = ");
    CHECK(d.holds());

    // A block scale the GEMM reads: 1x128 blocks of A, entry (row 3, K block 1).
    gemm_case blocks(4, 16, 256, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                     scale_mode::block_1x128, scale_mode::block_128x128, 34);
    const untouched_output block_d(blocks);
    const std::int64_t read = gemm::scale_layout_of_a(blocks.p).index(3, 128);
    blocks.a_scales[static_cast<std::size_t>(read)] = bad;
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(blocks.p), "a.scale[" + std::to_string(read) + "] = ");
    CHECK(block_d.holds());
  }
  // Padding entries of a block layout are never read, so anything goes there:
  // 128x128 scales of B with ceil(256/128) = 2 K blocks per row block, padded to 4.
  gemm_case padded(4, 16, 256, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                   scale_mode::block_1x128, scale_mode::block_128x128, 35);
  padded.b_scales[2] = padded.b_scales[3] = nan;
  CHECK_NOTHROW(reference::scaled_gemm(padded.p));

  for (float bad : {nan, inf}) {
    gemm_case g(4, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                scale_mode::per_tensor, scale_mode::per_tensor, 36);
    const untouched_output d(g);
    g.p.alpha = bad;
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "must be finite");
    g.p.alpha = 1.0f;
    g.add_c(bad, 37);
    MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(g.p), "must be finite");
    CHECK(d.holds());
  }
}

TEST_CASE("a problem too large for host memory is refused with a message, not std::bad_alloc", "[reference][gemm]") {
  // N = K = 2^24: every extent fits in the address space, but decoding B
  // needs 2^48 floats. Before: std::bad_alloc. Nothing is read or written:
  // the workspace is allocated before the first operand is decoded.
  // AddressSanitizer's operator new aborts the process on an impossible size
  // instead of throwing std::bad_alloc (allocation-size-too-big), so this
  // case runs only without it; the Release run of the suite covers it.
#if defined(__SANITIZE_ADDRESS__)
  constexpr bool under_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  constexpr bool under_address_sanitizer = true;
#else
  constexpr bool under_address_sanitizer = false;
#endif
#else
  constexpr bool under_address_sanitizer = false;
#endif
  if (under_address_sanitizer) {
    WARN("skipped under AddressSanitizer: its allocator aborts instead of throwing std::bad_alloc");
    return;
  }
  const std::int64_t big = std::int64_t{1} << 24;
  gemm::problem p = gemm::make_problem(1, big, big, element_type::float8_e4m3, element_type::float8_e4m3,
                                       element_type::bfloat16);
  // Addresses far apart, never dereferenced (B alone spans 2^48 bytes).
  p.a.data = reinterpret_cast<const void*>(std::uintptr_t{1} << 44);
  p.b.data = reinterpret_cast<const void*>(std::uintptr_t{1} << 45);
  p.d.data = reinterpret_cast<void*>(std::uintptr_t{1} << 50);
  MIXPREC_REQUIRE_ERROR(reference::scaled_gemm(p), "split the problem");
}

TEST_CASE("D is the documented float sequence bit for bit, whatever the tiling", "[reference][gemm]") {
  // A plain loop written from the header's definition: Σ_k a·b in ascending
  // k from 0 in float (per K block times sA·sB for block scales), times
  // alpha·sA·sB for the others, + beta·C, converted by the engine. Shapes
  // cover partial row tiles (M % 4), partial column panels (N % 16) and a
  // partial K block (K % 128).
  struct shape {
    std::int64_t m, n, k;
    scale_mode sa, sb;
    element_type d;
  };
  const shape shapes[] = {
      {7, 37, 300, scale_mode::per_tensor, scale_mode::per_tensor, element_type::float32},
      {5, 21, 200, scale_mode::row_wise, scale_mode::row_wise, element_type::bfloat16},
      {9, 16, 260, scale_mode::block_1x128, scale_mode::block_128x128, element_type::float32},
      {3, 50, 129, scale_mode::block_128x128, scale_mode::block_1x128, element_type::float16},
      {6, 33, 64, scale_mode::per_tensor, scale_mode::per_tensor, element_type::float8_e4m3},
  };
  std::uint32_t seed = 40;
  for (const shape& s : shapes) {
    CAPTURE(s.m, s.n, s.k, s.sa, s.sb, s.d);
    gemm_case g(s.m, s.n, s.k, element_type::float8_e4m3, element_type::float8_e4m3, s.d, s.sa, s.sb, seed++);
    if (!gemm::is_fp8(s.d)) g.add_c(0.5f, seed++);
    g.p.alpha = 1.5f;
    reference::scaled_gemm(g.p);
    const gemm::scale_layout la = gemm::scale_layout_of_a(g.p), lb = gemm::scale_layout_of_b(g.p);
    const bool blocked = gemm::is_block(s.sa) || gemm::is_block(s.sb);
    const std::int64_t block = blocked ? 128 : s.k;
    for (std::int64_t i = 0; i < s.m; ++i) {
      for (std::int64_t j = 0; j < s.n; ++j) {
        float total = 0.0f;
        for (std::int64_t k0 = 0; k0 < s.k; k0 += block) {
          float partial = 0.0f;
          for (std::int64_t k = k0; k < std::min(s.k, k0 + block); ++k)
            partial += static_cast<float>(g.a.get(i, k)) * static_cast<float>(g.b.get(j, k));
          if (blocked) {
            total += (g.p.a.scale[la.index(i, k0)] * g.p.b.scale[lb.index(j, k0)]) * partial;
          } else {
            total = partial;
          }
        }
        float value = blocked ? g.p.alpha * total
                              : (g.p.alpha * g.p.a.scale[la.index(i, 0)] * g.p.b.scale[lb.index(j, 0)]) * total;
        if (g.p.beta != 0.0f) value += g.p.beta * static_cast<float>(g.c.get(i, j));
        double expected = 0;
        switch (s.d) {
          case element_type::float32: expected = static_cast<double>(value); break;
          case element_type::bfloat16: expected = static_cast<double>(convert<bfloat16>(value)); break;
          case element_type::float16: expected = static_cast<double>(convert<float16>(value)); break;
          default: expected = static_cast<double>(convert<float8_e4m3>(value * g.d_scale)); break;
        }
        CAPTURE(i, j);
        REQUIRE(same_bits_or_both_nan(g.d.get(i, j), expected));
      }
    }
  }
}
