// GPU benchmarks of the scaled GEMM (mixprec/cuda/scaled_gemm.hpp), timed
// with CUDA events (Google Benchmark's manual time) and reported in TFLOP/s
// (2 M N K per call).
//
//   fp8_*            E4M3 x E4M3 with per-tensor, row-wise or 1x128 x 128x128
//                    block scales; BF16 or E4M3 output; fast accumulation
//                    off or on; autotuned or the heuristic's first pick
//   bf16             BF16 x BF16 -> BF16 through the same engine: plain
//                    cuBLASLt, the baseline FP8 is measured against
//   host_overhead    host time per call with a warm plan: engine.run() against
//                    a bare cublasLtMatmul with the same prebuilt descriptors
//                    and algorithm (both only enqueue; the GPU work is the
//                    same), on a small problem
//
// Shapes (issue 3): 8192^3, 4096^3, 16384x8192x1024, 4096x14336x4096,
// 64x2112x7168, and M = 16, 64, 128 with N = K = 8192.
// bench/torch_scaled_mm_baseline.py measures torch._scaled_mm on the same
// shapes; record both, from one session, in bench/RESULTS.md.
#include <benchmark/benchmark.h>
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_timing.hpp"
#include "mixprec/cuda/scaled_gemm.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace {

using mixprec::cuda::check;
using mixprec_bench::have_device;
using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

struct device_array {
  void* data = nullptr;
  explicit device_array(std::size_t bytes) { check(cudaMalloc(&data, bytes), "cudaMalloc"); }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  ~device_array() { cudaFree(data); }
};

// Fills bytes of device memory with normally distributed values of `type`
// (a 4 MiB host pattern of valid values, repeated).
void fill_random(void* device, std::size_t bytes, element_type type) {
  static std::vector<unsigned char> patterns[5];
  std::vector<unsigned char>& pattern = patterns[static_cast<int>(type)];
  if (pattern.empty()) {
    pattern.resize(std::size_t{4} << 20);
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::size_t size = mixprec::gemm::size_of(type);
    for (std::size_t i = 0; i < pattern.size() / size; ++i) {
      const float x = normal(rng);
      unsigned char* at = pattern.data() + i * size;
      switch (type) {
        case element_type::float32: std::memcpy(at, &x, 4); break;
        case element_type::bfloat16: { auto v = mixprec::bfloat16(x); std::memcpy(at, &v, 2); break; }
        case element_type::float16: { auto v = mixprec::float16(x); std::memcpy(at, &v, 2); break; }
        case element_type::float8_e4m3: { auto v = mixprec::float8_e4m3(x); std::memcpy(at, &v, 1); break; }
        case element_type::float8_e5m2: { auto v = mixprec::float8_e5m2(x); std::memcpy(at, &v, 1); break; }
      }
    }
  }
  for (std::size_t offset = 0; offset < bytes; offset += pattern.size()) {
    const std::size_t chunk = std::min(pattern.size(), bytes - offset);
    check(cudaMemcpy(static_cast<char*>(device) + offset, pattern.data(), chunk, cudaMemcpyHostToDevice), "fill");
  }
}

struct gemm_variant {
  element_type operands = element_type::float8_e4m3;
  element_type output = element_type::bfloat16;
  scale_mode a_scaling = scale_mode::per_tensor, b_scaling = scale_mode::per_tensor;
  bool fast_accumulation = false;
  bool autotune = false;
};

// Device buffers and the problem for one shape and variant.
struct gemm_setup {
  mixprec::gemm::problem p;
  device_array a, b, d, a_scales, b_scales, d_scale, amax;

  gemm_setup(std::int64_t m, std::int64_t n, std::int64_t k, const gemm_variant& v)
      : p(mixprec::gemm::make_problem(m, n, k, v.operands, v.operands, v.output)),
        a(static_cast<std::size_t>(m * k) * mixprec::gemm::size_of(v.operands)),
        b(static_cast<std::size_t>(n * k) * mixprec::gemm::size_of(v.operands)),
        d(static_cast<std::size_t>(m * n) * mixprec::gemm::size_of(v.output)),
        a_scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{v.a_scaling, m, k}.count()) * 4),
        b_scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{v.b_scaling, n, k}.count()) * 4),
        d_scale(4), amax(4) {
    fill_random(a.data, static_cast<std::size_t>(m * k) * mixprec::gemm::size_of(v.operands), v.operands);
    fill_random(b.data, static_cast<std::size_t>(n * k) * mixprec::gemm::size_of(v.operands), v.operands);
    p.a.data = a.data;
    p.b.data = b.data;
    p.d.data = d.data;
    p.fast_accumulation = v.fast_accumulation;
    if (mixprec::gemm::is_fp8(v.operands)) {
      p.a.scaling = v.a_scaling;
      p.b.scaling = v.b_scaling;
      const std::vector<float> ones_a(static_cast<std::size_t>(mixprec::gemm::scale_layout{v.a_scaling, m, k}.count()), 1.0f),
          ones_b(static_cast<std::size_t>(mixprec::gemm::scale_layout{v.b_scaling, n, k}.count()), 1.0f);
      check(cudaMemcpy(a_scales.data, ones_a.data(), ones_a.size() * 4, cudaMemcpyHostToDevice), "scales");
      check(cudaMemcpy(b_scales.data, ones_b.data(), ones_b.size() * 4, cudaMemcpyHostToDevice), "scales");
      p.a.scale = static_cast<const float*>(a_scales.data);
      p.b.scale = static_cast<const float*>(b_scales.data);
    }
    if (mixprec::gemm::is_fp8(v.output)) {
      const float one = 1.0f;
      check(cudaMemcpy(d_scale.data, &one, 4, cudaMemcpyHostToDevice), "d scale");
      p.d.scale = static_cast<const float*>(d_scale.data);
      p.d.amax = static_cast<float*>(amax.data);
    }
  }
};

mixprec::cuda::scaled_gemm_engine& engine_for(bool autotune) {
  static mixprec::cuda::scaled_gemm_engine plain;
  static mixprec::cuda::scaled_gemm_engine tuned([] {
    mixprec::cuda::scaled_gemm_options o;
    o.autotune = true;
    return o;
  }());
  return autotune ? tuned : plain;
}

void gemm_throughput(benchmark::State& state, gemm_variant v) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
    gemm_setup setup(m, n, k, v);
    mixprec::cuda::scaled_gemm_engine& engine = engine_for(v.autotune);
    engine.run(setup.p);  // the plan (and autotuning) outside the timing
    const int calls = m * n * k >= (std::int64_t{1} << 36) ? 5 : 20;
    mixprec_bench::time_with_events(state, calls, [&] { engine.run(setup.p); });
    state.counters["TFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m) * static_cast<double>(n) *
                                                       static_cast<double>(k) / 1e12,
                                                   benchmark::Counter::kIsIterationInvariantRate);
    const mixprec::cuda::scaled_gemm_plan_info info = engine.plan_info(setup.p);
    state.counters["algo"] = info.chosen;
    state.counters["candidates"] = info.candidates;
  });
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({8192, 8192, 8192})
      ->Args({4096, 4096, 4096})
      ->Args({16384, 8192, 1024})
      ->Args({4096, 14336, 4096})
      ->Args({64, 2112, 7168})
      ->Args({16, 8192, 8192})
      ->Args({64, 8192, 8192})
      ->Args({128, 8192, 8192})
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

gemm_variant fp8(element_type output, scale_mode sa, scale_mode sb, bool fast, bool autotune) {
  gemm_variant v;
  v.output = output;
  v.a_scaling = sa;
  v.b_scaling = sb;
  v.fast_accumulation = fast;
  v.autotune = autotune;
  return v;
}
gemm_variant bf16() {
  gemm_variant v;
  v.operands = element_type::bfloat16;
  v.output = element_type::bfloat16;
  return v;
}

constexpr auto bf16_out = element_type::bfloat16;
constexpr auto e4m3_out = element_type::float8_e4m3;
constexpr auto tensor = scale_mode::per_tensor;
constexpr auto row = scale_mode::row_wise;
constexpr auto b1x128 = scale_mode::block_1x128;
constexpr auto b128 = scale_mode::block_128x128;

BENCHMARK_CAPTURE(gemm_throughput, bf16, bf16())->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_tensor_bf16out, fp8(bf16_out, tensor, tensor, false, false))->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_tensor_bf16out_fastaccum, fp8(bf16_out, tensor, tensor, true, false))
    ->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_tensor_bf16out_autotune, fp8(bf16_out, tensor, tensor, false, true))
    ->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_tensor_bf16out_fastaccum_autotune, fp8(bf16_out, tensor, tensor, true, true))
    ->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_tensor_e4m3out, fp8(e4m3_out, tensor, tensor, false, false))->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_rowwise_bf16out, fp8(bf16_out, row, row, false, false))->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_rowwise_bf16out_fastaccum, fp8(bf16_out, row, row, true, false))
    ->Apply(shapes);
BENCHMARK_CAPTURE(gemm_throughput, fp8_block_1x128_128x128_bf16out, fp8(bf16_out, b1x128, b128, false, false))
    ->Apply(shapes);

// ---- Host time per call with a warm plan ---------------------------------

// A bare cuBLASLt call with descriptors built once: the floor the engine's
// per-call work (validation, plan lookup, pointer updates) adds to.
struct bare_cublaslt {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  device_array workspace{std::size_t{32} << 20};

  explicit bare_cublaslt(const mixprec::gemm::problem& p) {
    auto ok = [](cublasStatus_t s) {
      if (s != CUBLAS_STATUS_SUCCESS) throw mixprec::runtime_error(cublasLtGetStatusName(s));
    };
    ok(cublasLtCreate(&handle));
    ok(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
    ok(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
    ok(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof(n)));
    ok(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p.b.scale, sizeof(void*)));
    ok(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &p.a.scale, sizeof(void*)));
    ok(cublasLtMatrixLayoutCreate(&a, CUDA_R_8F_E4M3, static_cast<std::uint64_t>(p.k), static_cast<std::uint64_t>(p.n), p.b.ld));
    ok(cublasLtMatrixLayoutCreate(&b, CUDA_R_8F_E4M3, static_cast<std::uint64_t>(p.k), static_cast<std::uint64_t>(p.m), p.a.ld));
    ok(cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, static_cast<std::uint64_t>(p.n), static_cast<std::uint64_t>(p.m), p.d.ld));
    ok(cublasLtMatrixLayoutCreate(&d, CUDA_R_16BF, static_cast<std::uint64_t>(p.n), static_cast<std::uint64_t>(p.m), p.d.ld));
    cublasLtMatmulPreference_t preference = nullptr;
    ok(cublasLtMatmulPreferenceCreate(&preference));
    const std::uint64_t bytes = std::uint64_t{32} << 20;
    ok(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes, sizeof(bytes)));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    ok(cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, d, preference, 1, &result, &returned));
    cublasLtMatmulPreferenceDestroy(preference);
    if (returned == 0) throw mixprec::runtime_error("no algorithm");
    algo = result.algo;
  }
  ~bare_cublaslt() {
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatrixLayoutDestroy(d);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(handle);
  }
  void run(const mixprec::gemm::problem& p) {
    cublasLtMatmul(handle, desc, &p.alpha, p.b.data, a, p.a.data, b, &p.beta, p.d.data, c, p.d.data, d, &algo,
                   workspace.data, std::size_t{32} << 20, nullptr);
  }
};

// Host seconds per enqueued call (the GPU work is a 64 x 256 x 256 GEMM,
// short enough that the queue never fills within a batch of 64 calls).
template <class Call>
void host_time(benchmark::State& state, Call call) {
  constexpr int batch = 64;
  call();
  check(cudaDeviceSynchronize(), "warm-up");
  for (auto _ : state) {
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i) call();
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - begin).count() / batch);
    state.PauseTiming();
    check(cudaDeviceSynchronize(), "drain");
    state.ResumeTiming();
  }
}

void host_overhead_engine(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    gemm_setup setup(64, 256, 256, gemm_variant{});
    host_time(state, [&] { engine_for(false).run(setup.p); });
  });
}
void host_overhead_bare_cublaslt(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    gemm_setup setup(64, 256, 256, gemm_variant{});
    bare_cublaslt bare(setup.p);
    host_time(state, [&] { bare.run(setup.p); });
  });
}
BENCHMARK(host_overhead_engine)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(host_overhead_bare_cublaslt)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
