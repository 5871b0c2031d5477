// The CPU reference GEMM (mixprec::reference::scaled_gemm): time per call and
// GFLOP/s for square FP8 problems, per-tensor and 1x128 block scales, FP32 and
// FP64 accumulation. Goal (issue 3): 512^3 well under a second on the 2-core
// CI machine.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/types.hpp"

namespace {

void reference_gemm(benchmark::State& state, mixprec::gemm::scale_mode mode, mixprec::reference::accumulation accumulate) {
  using namespace mixprec;
  const std::int64_t n = state.range(0);
  std::vector<float8_e4m3> a(static_cast<std::size_t>(n * n)), b(a.size());
  std::vector<bfloat16> d(a.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& x : a) x = float8_e4m3(normal(rng));
  for (auto& x : b) x = float8_e4m3(normal(rng));
  gemm::problem p = gemm::make_problem(n, n, n, gemm::element_type::float8_e4m3, gemm::element_type::float8_e4m3,
                                       gemm::element_type::bfloat16);
  std::vector<float> scales(static_cast<std::size_t>(gemm::scale_layout{mode, n, n}.count()), 0.5f);
  p.a.data = a.data();
  p.b.data = b.data();
  p.d.data = d.data();
  p.a.scaling = p.b.scaling = mode;
  p.a.scale = p.b.scale = scales.data();
  for (auto _ : state) {
    reference::scaled_gemm(p, {accumulate});
    benchmark::DoNotOptimize(d.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(n * n * n), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

using mixprec::gemm::scale_mode;
using mixprec::reference::accumulation;
BENCHMARK_CAPTURE(reference_gemm, fp8_per_tensor_fp32, scale_mode::per_tensor, accumulation::float32)
    ->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(reference_gemm, fp8_block_1x128_fp32, scale_mode::block_1x128, accumulation::float32)
    ->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(reference_gemm, fp8_per_tensor_fp64, scale_mode::per_tensor, accumulation::float64)
    ->Arg(512)->Unit(benchmark::kMillisecond);

}  // namespace
