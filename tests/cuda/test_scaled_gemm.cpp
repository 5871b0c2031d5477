// The cuBLASLt scaled GEMM (mixprec/cuda/scaled_gemm.hpp) against the CPU
// reference with FP64 accumulation (mixprec/reference/scaled_gemm.hpp,
// itself checked against a naive float64 GEMM in tests/unit): every type
// combination, scale mode pair and epilogue, odd shapes, leading dimensions,
// C, two streams, graph capture and replay, the plan cache and autotuning.
//
// Error bounds, per element (S = Σ_k |alpha sA sB A B| + |beta C| + |bias|,
// the sum the rounding errors scale with; the GPU's summation order and its
// tensor cores' internal precision are unknown):
//   FP32 accumulation (fast_accumulation off):  |D - D64| <= 2^-12 · S
//   fast accumulation:                          |D - D64| <= 2^-8 · S
//   GELU epilogues add 2^-10 · S (cuBLASLt's tanh may be approximate)
// plus the output's rounding: half an ulp of |D64| (BF16 2^-8, FP16 2^-11,
// FP32 2^-24 relative) — for an FP8 D, one FP8 step at |D64 · sD| (the
// result must be one of the two FP8 neighbours, given accumulation-order
// differences). A wrong scale layout shows as errors of whole percent.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "mixprec/cuda/scaled_gemm.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "support/catch.hpp"
#include "support/gemm_matrix.hpp"

using namespace mixprec;
using gemm::element_type;
using gemm::epilogue;
using gemm::scale_mode;
using mixprec_test::device_buffer;
using mixprec_test::gemm_matrix;

namespace {

// The spacing of FP8 values at magnitude |x| (subnormal spacing below the normal range).
double fp8_step(element_type type, double x) {
  const int mantissa = type == element_type::float8_e4m3 ? 3 : 2;
  const int min_exponent = type == element_type::float8_e4m3 ? -6 : -14;
  const int exponent = x == 0 ? min_exponent : std::max(min_exponent, static_cast<int>(std::floor(std::log2(std::fabs(x)))));
  return std::ldexp(1.0, exponent - mantissa);
}

// One GEMM with host copies (for the reference) and device copies (for cuBLASLt).
struct gpu_case {
  gemm::problem host;    // host pointers
  gemm::problem device;  // the same problem with device pointers
  gemm_matrix a, b, c, d;
  std::vector<float> a_scales, b_scales;
  gemm_matrix bias;
  float d_scale = 0.5f, d_amax = 0.0f;
  device_buffer da, db, dc, dd, dsa, dsb, dsd, damax, dbias;

  gpu_case(std::int64_t m, std::int64_t n, std::int64_t k, element_type at, element_type bt, element_type dt,
           scale_mode sa, scale_mode sb, std::uint32_t seed, std::int64_t pad = 0)
      : host(gemm::make_problem(m, n, k, at, bt, dt)), a(at, m, k, k + pad), b(bt, n, k, k + 2 * pad),
        c(gemm::default_c_type(dt), m, n, n + pad), d(dt, m, n, n + pad), bias(host.bias.type, 1, n) {
    std::mt19937 rng(seed);
    a.fill_random(rng);
    b.fill_random(rng);
    c.fill_random(rng);
    bias.fill_random(rng);
    host.a.ld = a.ld;
    host.b.ld = b.ld;
    host.c.ld = c.ld;
    host.d.ld = d.ld;
    host.a.scaling = sa;
    host.b.scaling = sb;
    if (gemm::is_fp8(at)) {
      a_scales = mixprec_test::random_scales(rng, gemm::scale_layout_of_a(host).count());
      b_scales = mixprec_test::random_scales(rng, gemm::scale_layout_of_b(host).count());
    }
  }

  void set_epilogue(epilogue op) { host.epilogue_op = op; }
  void set_beta(float beta) { host.beta = beta; }

  // Uploads the operands and fills both problems' pointers.
  void upload() {
    da = device_buffer(a.bytes);
    db = device_buffer(b.bytes);
    dc = device_buffer(c.bytes);
    dd = device_buffer(d.bytes);
    dbias = device_buffer(bias.bytes);
    host.a.data = a.data();
    host.b.data = b.data();
    host.d.data = d.data();
    host.c.data = host.beta != 0 ? c.data() : nullptr;
    host.bias.data = gemm::has_bias(host.epilogue_op) ? bias.data() : nullptr;
    device = host;
    device.a.data = da.get();
    device.b.data = db.get();
    device.d.data = dd.get();
    device.c.data = host.beta != 0 ? dc.get() : nullptr;
    device.bias.data = gemm::has_bias(host.epilogue_op) ? dbias.get() : nullptr;
    if (!a_scales.empty()) {
      dsa = device_buffer(a_scales);
      dsb = device_buffer(b_scales);
      host.a.scale = a_scales.data();
      host.b.scale = b_scales.data();
      device.a.scale = dsa.at<float>();
      device.b.scale = dsb.at<float>();
    }
    if (gemm::is_fp8(host.d.type)) {
      dsd = device_buffer(std::vector<float>{d_scale});
      damax = device_buffer(sizeof(float));
      host.d.scale = &d_scale;
      host.d.amax = &d_amax;
      device.d.scale = dsd.at<float>();
      device.d.amax = damax.at<float>();
    }
  }

  // Σ|terms| per element: what the summation error scales with.
  std::vector<double> magnitudes() const {
    const gemm::scale_layout la = gemm::scale_layout_of_a(host), lb = gemm::scale_layout_of_b(host);
    const std::int64_t m = host.m, n = host.n, k = host.k;
    // |alpha sA A| and |sB B| decoded once, then a plain triple loop.
    std::vector<double> scaled_a(static_cast<std::size_t>(m * k)), scaled_b(static_cast<std::size_t>(n * k));
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t kk = 0; kk < k; ++kk)
        scaled_a[static_cast<std::size_t>(i * k + kk)] =
            std::fabs(static_cast<double>(host.alpha) * static_cast<double>(a.get(i, kk)) *
                      (a_scales.empty() ? 1.0 : static_cast<double>(a_scales[static_cast<std::size_t>(la.index(i, kk))])));
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t kk = 0; kk < k; ++kk)
        scaled_b[static_cast<std::size_t>(j * k + kk)] =
            std::fabs(static_cast<double>(b.get(j, kk)) * (b_scales.empty() ? 1.0 : static_cast<double>(b_scales[static_cast<std::size_t>(lb.index(j, kk))])));
    std::vector<double> out(static_cast<std::size_t>(m * n));
    for (std::int64_t i = 0; i < m; ++i) {
      const double* row_a = &scaled_a[static_cast<std::size_t>(i * k)];
      for (std::int64_t j = 0; j < n; ++j) {
        const double* row_b = &scaled_b[static_cast<std::size_t>(j * k)];
        double sum = 0;
        for (std::int64_t kk = 0; kk < k; ++kk) sum += row_a[kk] * row_b[kk];
        if (host.beta != 0) sum += std::fabs(static_cast<double>(host.beta) * static_cast<double>(c.get(i, j)));
        if (gemm::has_bias(host.epilogue_op)) sum += std::fabs(bias.get(0, j));
        out[static_cast<std::size_t>(i * n + j)] = sum;
      }
    }
    return out;
  }

  // Runs cuBLASLt and the reference; checks every element and amax. Returns
  // the largest error relative to S (for the fast-accumulation report).
  double run_and_check(cuda::scaled_gemm_engine& engine, cudaStream_t stream = nullptr) {
    engine.run(device, stream);
    cuda::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    return check_result();
  }

  double check_result() {
    const std::vector<unsigned char> gpu = dd.download<unsigned char>(d.bytes.size());
    // The reference in FP64, into an FP32 copy of D (the value before output rounding).
    gemm::problem exact = host;
    gemm_matrix exact_d(element_type::float32, host.m, host.n);
    exact.d.type = element_type::float32;
    exact.d.data = exact_d.data();
    exact.d.ld = host.n;
    exact.d.scale = nullptr;
    exact.d.amax = nullptr;
    if (exact.beta != 0 && exact.c.data == host.d.data) {
      exact.c.data = c.data();  // in-place: the reference reads the original C
    }
    reference::scaled_gemm(exact, {reference::accumulation::float64});
    gemm_matrix result = d;
    result.bytes = gpu;
    const std::vector<double> magnitude = magnitudes();
    // GELU adds the error of cuBLASLt's tanh (possibly a hardware approximation).
    const bool gelu = host.epilogue_op == epilogue::gelu || host.epilogue_op == epilogue::bias_gelu;
    const double accumulation =
        (host.fast_accumulation ? std::ldexp(1.0, -8) : std::ldexp(1.0, -12)) + (gelu ? std::ldexp(1.0, -10) : 0.0);
    double worst = 0, largest = 0;
    for (std::int64_t i = 0; i < host.m; ++i) {
      for (std::int64_t j = 0; j < host.n; ++j) {
        const double value = exact_d.get(i, j), s = magnitude[static_cast<std::size_t>(i * host.n + j)];
        largest = std::max(largest, std::fabs(value));
        const double actual = result.get(i, j);
        double bound = accumulation * s;
        double expected = value;
        if (gemm::is_fp8(host.d.type)) {
          expected *= static_cast<double>(d_scale);
          bound = bound * static_cast<double>(d_scale) + fp8_step(host.d.type, expected);
          const double max = host.d.type == element_type::float8_e4m3 ? 448.0 : 57344.0;
          expected = std::max(-max, std::min(max, expected));  // saturation
        } else {
          bound += mixprec_test::output_half_ulp(host.d.type) * std::fabs(expected) + 1e-30;
        }
        CAPTURE(i, j, expected, actual, bound, s);
        REQUIRE(std::fabs(actual - expected) <= bound);
        if (s > 0) worst = std::max(worst, std::fabs(actual - (gemm::is_fp8(host.d.type) ? expected : value)) / s);
      }
    }
    if (gemm::is_fp8(host.d.type)) {
      const float amax = damax.download<float>(1)[0];
      CAPTURE(amax, largest);
      CHECK(std::fabs(static_cast<double>(amax) - largest) <= 0.01 * largest);
    }
    return worst;
  }
};

// Runs and checks g, an exploratory combination. cuBLASLt may refuse one
// it does not offer on this device with CUBLAS_STATUS_NOT_SUPPORTED (no
// algorithm) or CUBLAS_STATUS_INVALID_VALUE (its documented answer for
// unsupported attribute combinations, e.g. an epilogue or beta != 0 with
// outer-vector or block scales): that is printed — which status, for which
// case — and returns false, so one run maps out what the library offers.
// What it does run must match the reference; every other failure (another
// status, a CUDA error, a wrong result) fails the test.
bool run_unless_unsupported(gpu_case& g, cuda::scaled_gemm_engine& engine) {
  try {
    g.run_and_check(engine);
    std::printf("cuBLASLt offers:          %s\n", gemm::describe(g.device).c_str());
    return true;
  } catch (const cuda::cublas_error& e) {
    if (e.status() != CUBLAS_STATUS_NOT_SUPPORTED && e.status() != CUBLAS_STATUS_INVALID_VALUE) throw;
    std::printf("cuBLASLt does not offer: %s -> %s\n", gemm::describe(g.device).c_str(),
                cublasLtGetStatusName(e.status()));
    return false;
  }
}

cuda::scaled_gemm_engine& shared_engine() {
  static cuda::scaled_gemm_engine instance;
  return instance;
}

struct type_triple {
  element_type a, b, d;
};

}  // namespace

TEST_CASE("every type combination cuBLASLt offers, per-tensor scales", "[cuda][gemm]") {
  const type_triple triples[] = {
      {element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16},
      {element_type::float8_e4m3, element_type::float8_e4m3, element_type::float16},
      {element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32},
      {element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3},
      {element_type::float8_e5m2, element_type::float8_e4m3, element_type::bfloat16},
      {element_type::float8_e5m2, element_type::float8_e4m3, element_type::float8_e5m2},
      {element_type::float8_e5m2, element_type::float8_e4m3, element_type::float8_e4m3},
      {element_type::float8_e4m3, element_type::float8_e5m2, element_type::bfloat16},
      {element_type::bfloat16, element_type::bfloat16, element_type::bfloat16},
      {element_type::bfloat16, element_type::bfloat16, element_type::float32},
      {element_type::float16, element_type::float16, element_type::float16},
      {element_type::float32, element_type::float32, element_type::float32},
  };
  for (const type_triple& t : triples) {
    CAPTURE(t.a, t.b, t.d);
    gpu_case g(96, 64, 256, t.a, t.b, t.d, scale_mode::per_tensor, scale_mode::per_tensor, 1);
    g.upload();
    g.run_and_check(shared_engine());
  }
}

TEST_CASE("scale modes: row-wise and the three block pairs, layouts as gemm::scale_layout", "[cuda][gemm]") {
  struct pair {
    scale_mode a, b;
  };
  const pair pairs[] = {{scale_mode::per_tensor, scale_mode::per_tensor},
                        {scale_mode::row_wise, scale_mode::row_wise},
                        {scale_mode::block_1x128, scale_mode::block_1x128},
                        {scale_mode::block_1x128, scale_mode::block_128x128},
                        {scale_mode::block_128x128, scale_mode::block_1x128}};
  struct shape {
    std::int64_t m, n, k;
  };
  // M = 1, 16, 17 and 300 cross the 128 blocks; K = 384 has three K blocks.
  // Block scales need M a multiple of 4 (cuBLAS docs, gemm/validate.hpp), so
  // M = 1 and 17 run with per-tensor and row-wise scales and must be refused
  // up front with block scales. The last shape with a BF16 output is required
  // for every pair; the others may meet cuBLASLt's limits (reported, see
  // run_unless_unsupported).
  const shape shapes[] = {{1, 16, 128}, {16, 16, 16}, {17, 32, 384}, {300, 272, 384}, {256, 512, 1024}};
  for (const pair& sp : pairs) {
    for (const shape& sh : shapes) {
      for (element_type d : {element_type::bfloat16, element_type::float32}) {
        CAPTURE(sp.a, sp.b, sh.m, sh.n, sh.k, d);
        gpu_case g(sh.m, sh.n, sh.k, element_type::float8_e4m3, element_type::float8_e4m3, d, sp.a, sp.b, 2);
        g.upload();
        if ((gemm::is_block(sp.a) || gemm::is_block(sp.b)) && sh.m % 4 != 0) {
          MIXPREC_REQUIRE_ERROR(shared_engine().run(g.device), "must be a multiple of 4 with block scales");
          continue;
        }
        const bool required = sh.m == 256 && d == element_type::bfloat16;
        if (required) {
          g.run_and_check(shared_engine());
        } else {
          run_unless_unsupported(g, shared_engine());
        }
      }
    }
  }
}

TEST_CASE("epilogues with BF16, FP8 and FP32 outputs", "[cuda][gemm]") {
  // Required with a BF16 output; with the others, what cuBLASLt refuses is reported.
  for (epilogue op : {epilogue::none, epilogue::bias, epilogue::relu, epilogue::bias_relu, epilogue::gelu,
                      epilogue::bias_gelu}) {
    for (element_type d : {element_type::bfloat16, element_type::float8_e4m3, element_type::float32}) {
      CAPTURE(op, d);
      gpu_case g(64, 128, 256, element_type::float8_e4m3, element_type::float8_e4m3, d, scale_mode::per_tensor,
                 scale_mode::per_tensor, 3);
      g.set_epilogue(op);
      g.upload();
      if (d == element_type::bfloat16) {
        g.run_and_check(shared_engine());
      } else {
        run_unless_unsupported(g, shared_engine());
      }
    }
  }
}

TEST_CASE("epilogues with row-wise and block scales", "[cuda][gemm]") {
  // The cuBLAS docs restrict the outputs of these modes (BF16, FP16, FP32;
  // gemm/validate.hpp refuses FP8) but say nothing of epilogues or C, so
  // validation lets them through. Whether cuBLASLt runs them is reported here,
  // and what it runs must match the reference.
  struct pair {
    scale_mode a, b;
  };
  for (const pair& sp : {pair{scale_mode::row_wise, scale_mode::row_wise},
                         pair{scale_mode::block_1x128, scale_mode::block_128x128}}) {
    for (epilogue op : {epilogue::bias, epilogue::relu, epilogue::bias_relu, epilogue::gelu, epilogue::bias_gelu}) {
      for (element_type d : {element_type::bfloat16, element_type::float32}) {
        CAPTURE(sp.a, sp.b, op, d);
        gpu_case g(64, 128, 256, element_type::float8_e4m3, element_type::float8_e4m3, d, sp.a, sp.b, 15);
        g.set_epilogue(op);
        g.set_beta(0.5f);
        g.upload();
        run_unless_unsupported(g, shared_engine());
      }
    }
  }
}

TEST_CASE("leading dimensions, C, in place, odd M", "[cuda][gemm]") {
  SECTION("padded rows everywhere") {
    gpu_case g(17, 48, 64, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
               scale_mode::row_wise, scale_mode::row_wise, 4, /*pad=*/32);
    g.upload();
    g.run_and_check(shared_engine());
  }
  SECTION("FP8 D with a BF16 C") {
    gpu_case g(33, 64, 128, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
               scale_mode::per_tensor, scale_mode::per_tensor, 5);
    g.set_beta(0.5f);
    g.upload();
    g.run_and_check(shared_engine());
  }
  SECTION("FP32 D accumulated in place") {
    gpu_case g(33, 64, 128, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
               scale_mode::per_tensor, scale_mode::per_tensor, 6);
    g.set_beta(1.0f);
    g.d = g.c;  // D starts as C
    g.upload();
    g.device.c.data = g.device.d.data;
    g.device.c.ld = g.device.d.ld;
    g.host.c.data = g.c.data();  // the reference reads the original
    g.run_and_check(shared_engine());
  }
  SECTION("M = 1, 16, 17 with N = K = 16") {
    for (std::int64_t m : {1, 16, 17}) {
      CAPTURE(m);
      gpu_case g(m, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                 scale_mode::per_tensor, scale_mode::per_tensor, 7);
      g.upload();
      g.run_and_check(shared_engine());
    }
  }
}

TEST_CASE("fast accumulation: within its bound; the error it adds, by K", "[cuda][gemm]") {
  for (std::int64_t k : {256, 1024, 4096, 16384}) {
    double errors[2] = {0, 0};
    for (bool fast : {false, true}) {
      gpu_case g(64, 64, k, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
                 scale_mode::per_tensor, scale_mode::per_tensor, 8);
      g.host.fast_accumulation = fast;
      g.upload();
      errors[fast ? 1 : 0] = g.run_and_check(shared_engine());
    }
    // The numbers for the README / bench/RESULTS.md: max |D - D64| / Σ|terms|.
    std::printf("fast accumulation, K = %lld: max error / sum|terms| = %.3g off, %.3g on\n",
                static_cast<long long>(k), errors[0], errors[1]);
  }
}

TEST_CASE("two streams at once, each with its own workspace", "[cuda][gemm]") {
  cudaStream_t a = nullptr, b = nullptr;
  cuda::check(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda::check(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), "cudaStreamCreate");
  gpu_case first(512, 512, 1024, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
                 scale_mode::block_1x128, scale_mode::block_128x128, 9);
  gpu_case second(256, 1024, 512, element_type::float8_e5m2, element_type::float8_e4m3, element_type::bfloat16,
                  scale_mode::row_wise, scale_mode::row_wise, 10);
  first.upload();
  second.upload();
  shared_engine().run(first.device, a);
  shared_engine().run(second.device, b);
  cuda::check(cudaStreamSynchronize(a), "sync");
  cuda::check(cudaStreamSynchronize(b), "sync");
  first.check_result();
  second.check_result();
  shared_engine().release_stream(a);
  shared_engine().release_stream(b);
  cudaStreamDestroy(a);
  cudaStreamDestroy(b);
}

TEST_CASE("graph capture and replay with new scales", "[cuda][gemm]") {
  cudaStream_t stream = nullptr;
  cuda::check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda::scaled_gemm_engine local;
  gpu_case g(128, 256, 512, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
             scale_mode::per_tensor, scale_mode::per_tensor, 11);
  g.upload();

  SECTION("a call without a plan is refused during capture") {
    cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
    MIXPREC_REQUIRE_ERROR(local.run(g.device, stream), "call run() or prepare()");
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream, &graph);
    if (graph != nullptr) cudaGraphDestroy(graph);
  }
  SECTION("prepared, captured, replayed") {
    local.prepare(g.device, stream);
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
    local.run(g.device, stream);
    cuda::check(cudaStreamEndCapture(stream, &graph), "end capture");
    cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    for (float sa : {1.0f, 0.25f}) {
      g.a_scales[0] = sa;  // the graph reads the scale from device memory at replay
      g.dsa.upload(g.a_scales.data(), sizeof(float));
      cuda::check(cudaGraphLaunch(exec, stream), "graph launch");
      cuda::check(cudaStreamSynchronize(stream), "sync");
      g.check_result();
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  local.release_stream(stream);
  cudaStreamDestroy(stream);
}

TEST_CASE("plans are cached per key and reused", "[cuda][gemm]") {
  cuda::scaled_gemm_engine local;
  gpu_case g(64, 64, 64, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
             scale_mode::per_tensor, scale_mode::per_tensor, 12);
  g.upload();
  local.run(g.device);
  CHECK(local.plan_count() == 1);
  local.run(g.device);
  CHECK(local.plan_count() == 1);  // same key
  gemm::problem shifted = g.device;
  shifted.d.data = static_cast<char*>(g.dd.get()) + 16;  // 16-byte instead of 256-byte alignment: a new key
  shifted.m = 32;
  local.run(shifted);
  CHECK(local.plan_count() == 2);
  cuda::check(cudaDeviceSynchronize(), "sync");
}

TEST_CASE("plans are keyed on the alignment of the bias and scale pointers too", "[cuda][gemm]") {
  // The heuristic sees the pointer attributes; a plan chosen with a 256-byte
  // aligned bias must not be reused with a 2-byte aligned one (a kernel that
  // assumes the alignment could fault). A new alignment is a new plan, which
  // runs correctly or is refused with a status.
  cuda::scaled_gemm_engine local;
  gpu_case g(64, 128, 256, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
             scale_mode::per_tensor, scale_mode::per_tensor, 16);
  g.set_epilogue(epilogue::bias);
  g.upload();
  g.run_and_check(local);
  CHECK(local.plan_count() == 1);
  g.run_and_check(local);
  CHECK(local.plan_count() == 1);
  std::size_t plans = 1;
  device_buffer shifted_bias(g.bias.bytes.size() + 16);
  shifted_bias.upload(g.bias.data(), g.bias.bytes.size(), 2);  // one BF16 element past 256-byte alignment
  g.device.bias.data = shifted_bias.at<char>(2);
  if (run_unless_unsupported(g, local)) CHECK(local.plan_count() == ++plans);
  device_buffer shifted_scale(16);
  shifted_scale.upload(g.a_scales.data(), sizeof(float), 4);  // a 4-byte aligned scale
  g.device.a.scale = shifted_scale.at<float>(4);
  if (run_unless_unsupported(g, local)) CHECK(local.plan_count() == ++plans);
  g.device.bias.data = g.dbias.get();  // back to the aligned pointers: a known key
  g.device.a.scale = g.dsa.at<float>();
  local.run(g.device);
  CHECK(local.plan_count() == plans);
  cuda::check(cudaDeviceSynchronize(), "sync");
}

TEST_CASE("prepare() runs the plan once, so the first launch can be captured; it writes no output", "[cuda][gemm]") {
  cudaStream_t stream = nullptr;
  cuda::check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda::scaled_gemm_engine local;
  gpu_case g(128, 256, 512, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3,
             scale_mode::per_tensor, scale_mode::per_tensor, 17);
  g.upload();
  g.dd.fill(0xAB);
  g.damax.fill(0x7F);
  local.prepare(g.device, stream);
  // The warm-up wrote scratch outputs: D and amax are as they were.
  const std::vector<unsigned char> d_after = g.dd.download<unsigned char>(g.d.bytes.size());
  CHECK(std::all_of(d_after.begin(), d_after.end(), [](unsigned char b) { return b == 0xAB; }));
  const std::vector<unsigned char> amax_after = g.damax.download<unsigned char>(4);
  CHECK(std::all_of(amax_after.begin(), amax_after.end(), [](unsigned char b) { return b == 0x7F; }));
  // The first call on the stream is the captured one.
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
  local.run(g.device, stream);
  cuda::check(cudaStreamEndCapture(stream, &graph), "end capture");
  cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cuda::check(cudaGraphLaunch(exec, stream), "graph launch");
  cuda::check(cudaStreamSynchronize(stream), "sync");
  g.check_result();
  CHECK(local.plan_count() == 1);
  // prepare() itself is refused during a capture (it synchronises the stream).
  auto prepare_while_capturing = [&] {
    cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
    struct end_capture {
      cudaStream_t captured;
      ~end_capture() {
        cudaGraph_t discarded = nullptr;
        cudaStreamEndCapture(captured, &discarded);
        if (discarded != nullptr) cudaGraphDestroy(discarded);
      }
    } ends{stream};
    local.prepare(g.device, stream);
  };
  MIXPREC_REQUIRE_ERROR(prepare_while_capturing(), "call prepare() before cudaStreamBeginCapture");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  local.release_stream(stream);
  cudaStreamDestroy(stream);
}

TEST_CASE("autotuning keeps the fastest candidate and the result", "[cuda][gemm]") {
  cuda::scaled_gemm_options o;
  o.autotune = true;
  cuda::scaled_gemm_engine tuned(o);
  gpu_case g(64, 2112, 7168, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
             scale_mode::per_tensor, scale_mode::per_tensor, 13);
  g.upload();
  const cuda::scaled_gemm_plan_info info = tuned.plan_info(g.device);
  CHECK(info.candidates >= 1);
  if (info.candidates > 1) {
    CHECK(info.candidates_timed >= 1);
    CHECK(info.chosen_ms > 0);
    // The chosen time is the minimum over the candidates that ran; candidate
    // 0 is among them only when it ran (a failed first candidate has no time).
    if (info.heuristic_first_timed) CHECK(info.chosen_ms <= info.heuristic_first_ms);
  }
  std::printf("autotune 64x2112x7168: %d candidates, %d timed, chose %d: %.4f ms (heuristic's first: %s %.4f ms)\n",
              info.candidates, info.candidates_timed, info.chosen, static_cast<double>(info.chosen_ms),
              info.heuristic_first_timed ? "ran," : "did not run,", static_cast<double>(info.heuristic_first_ms));
  g.run_and_check(tuned);
}

TEST_CASE("invalid problems are rejected before cuBLASLt", "[cuda][gemm]") {
  gpu_case g(16, 16, 48, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16,
             scale_mode::per_tensor, scale_mode::per_tensor, 14);
  g.upload();
  gemm::problem p = g.device;
  p.k = 40;
  MIXPREC_REQUIRE_ERROR(shared_engine().run(p), "K=40 must be a multiple of 16");
  p = g.device;
  p.a.type = p.b.type = element_type::float8_e5m2;
  MIXPREC_REQUIRE_ERROR(shared_engine().run(p), "float8_e5m2");
}
