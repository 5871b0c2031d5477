// GPU benchmarks of the cast kernels (mixprec/cuda/cast.hpp), timed with CUDA
// events (Google Benchmark's manual time) and reported as GB/s of bytes read
// plus written, beside a device-to-device copy (the bandwidth ceiling: the
// goal is >= 90 % of it) on the same byte counts.
//
//   copy                  cudaMemcpyAsync, 2^26 / 2^28 floats (read + written)
//   quantize_{f32,bf16}   x -> E4M3 with a device scale, amax in the same pass
//   quantize_stochastic   the same with stochastic rounding (the engine's path)
//   cast_transpose        x -> E4M3 and its transpose (square, rows = 2^13 / 2^14)
//   blockwise_{1x128,128x128,row}, blockwise_1x128_transpose
//                         BF16 -> E4M3 with scales from each block's amax
//   dequantize            E4M3 -> BF16
//   amax                  FP32 read only
// bench/torch_scaled_mm_baseline.py measures torch.compile's fused cast+amax
// on the same sizes.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cast_bench_support.cuh"
#include "gpu_timing.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/cuda/cast.hpp"
#include "mixprec/types.hpp"

namespace {

using mixprec::cuda::check;
using mixprec_bench::device_array;
using mixprec_bench::elements;
using mixprec_bench::have_device;
using mixprec_bench::time_bandwidth;
using mixprec::gemm::scale_mode;

void copy(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    device_array<float> in(n, true), out(n);
    time_bandwidth(state, 2.0 * static_cast<double>(n) * 4, [&] {
      check(cudaMemcpyAsync(out.data, in.data, n * 4, cudaMemcpyDeviceToDevice), "copy");
    });
  });
}

template <class Source>
void quantize_to_e4m3(benchmark::State& state, bool stochastic) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    device_array<Source> x(n, true);
    device_array<mixprec::float8_e4m3> q(n);
    device_array<float> scale(1), amax(1);
    const float one = 1.0f;
    check(cudaMemcpy(scale.data, &one, 4, cudaMemcpyHostToDevice), "scale");
    mixprec::quantize_options o;
    if (stochastic) o.mode = mixprec::rounding::stochastic;
    time_bandwidth(state, static_cast<double>(n) * (sizeof(Source) + 1), [&] {
      mixprec::cuda::quantize(x.data, n, scale.data, q.data, amax.data, o);
    });
  });
}

void cast_transpose(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    const std::int64_t side = std::int64_t{1} << (state.range(0) / 2);
    device_array<float> x(n, true), scale(1), amax(1);
    device_array<mixprec::float8_e4m3> q(n), qt(n);
    const float one = 1.0f;
    check(cudaMemcpy(scale.data, &one, 4, cudaMemcpyHostToDevice), "scale");
    time_bandwidth(state, static_cast<double>(n) * (4 + 2), [&] {
      mixprec::cuda::quantize(x.data, side, side, scale.data, q.data, qt.data, amax.data);
    });
  });
}

void blockwise(benchmark::State& state, scale_mode mode) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    const std::int64_t cols = 8192, rows = static_cast<std::int64_t>(n) / cols;
    device_array<mixprec::bfloat16> x(n, true);
    device_array<mixprec::float8_e4m3> q(n);
    device_array<float> scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{mode, rows, cols}.count())), amax(1);
    time_bandwidth(state, static_cast<double>(n) * (2 + 1), [&] {
      mixprec::cuda::quantize_blockwise(x.data, rows, cols, mode, q.data, scales.data, nullptr, nullptr, amax.data);
    });
  });
}

// 1x128 with the transposed copy and its own 1x128 scales (the activation and
// output-gradient casts of a block-scaled training step): x read once, q and
// qᵀ written.
void blockwise_1x128_transpose(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    const std::int64_t cols = 8192, rows = static_cast<std::int64_t>(n) / cols;
    device_array<mixprec::bfloat16> x(n, true);
    device_array<mixprec::float8_e4m3> q(n), qt(n);
    device_array<float> scales(static_cast<std::size_t>(
        mixprec::gemm::scale_layout{scale_mode::block_1x128, rows, cols}.count())),
        scales_t(static_cast<std::size_t>(mixprec::gemm::scale_layout{scale_mode::block_1x128, cols, rows}.count())),
        amax(1);
    time_bandwidth(state, static_cast<double>(n) * (2 + 1 + 1), [&] {
      mixprec::cuda::quantize_blockwise(x.data, rows, cols, scale_mode::block_1x128, q.data, scales.data, qt.data,
                                        scales_t.data, amax.data);
    });
  });
}

void dequantize(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    device_array<mixprec::float8_e4m3> q(n, true);
    device_array<mixprec::bfloat16> y(n);
    device_array<float> scale(1);
    const float one = 1.0f;
    check(cudaMemcpy(scale.data, &one, 4, cudaMemcpyHostToDevice), "scale");
    time_bandwidth(state, static_cast<double>(n) * (1 + 2),
                     [&] { mixprec::cuda::dequantize(q.data, n, scale.data, y.data); });
  });
}

void amax_only(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    device_array<float> x(n, true), amax(1);
    time_bandwidth(state, static_cast<double>(n) * 4, [&] { mixprec::cuda::amax(x.data, n, amax.data); });
  });
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(26)->Arg(28)->UseManualTime()->Unit(benchmark::kMicrosecond); }

BENCHMARK(copy)->Apply(sizes);
void quantize_f32(benchmark::State& state, bool stochastic) { quantize_to_e4m3<float>(state, stochastic); }
void quantize_bf16(benchmark::State& state, bool stochastic) { quantize_to_e4m3<mixprec::bfloat16>(state, stochastic); }

BENCHMARK_CAPTURE(quantize_f32, e4m3, false)->Apply(sizes);
BENCHMARK_CAPTURE(quantize_bf16, e4m3, false)->Apply(sizes);
BENCHMARK_CAPTURE(quantize_f32, e4m3_stochastic, true)->Apply(sizes);
BENCHMARK(cast_transpose)->Apply(sizes);
BENCHMARK_CAPTURE(blockwise, row_bf16_e4m3, scale_mode::row_wise)->Apply(sizes);
BENCHMARK_CAPTURE(blockwise, 1x128_bf16_e4m3, scale_mode::block_1x128)->Apply(sizes);
BENCHMARK_CAPTURE(blockwise, 128x128_bf16_e4m3, scale_mode::block_128x128)->Apply(sizes);
BENCHMARK(blockwise_1x128_transpose)->Apply(sizes);
BENCHMARK(dequantize)->Apply(sizes);
BENCHMARK(amax_only)->Apply(sizes);

}  // namespace
