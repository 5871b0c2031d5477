// Host block quantization benchmarks (issue 13 §4): MXFP8 (E4M3 elements, one
// E8M0 scale per 32, NVIDIA's rceil rule) and NVFP4 (E2M1 elements one per
// byte, one E4M3 scale per 16, an FP32 tensor scale) of a float [rows, cols]
// tensor, row-wise, compact scales, nearest even, by
//   - the fast host path (host::quantize_mx, host::quantize_nvfp4;
//     mixprec/host/block_quantize.hpp) on each SIMD path this CPU has
//     (label: the path), row-wise and column-wise (xᵀ quantized);
//   - the CPU reference (reference::quantize_mx, quantize_nvfp4), the exact
//     oracle the fast path is tested against (same bytes);
// NVFP4 packed two per byte (float4_e2m1x2, cuBLASLt's CUDA_R_4F_E2M1
// storage), row-wise: host::quantize_nvfp4_packed on each path against
// reference::quantize_nvfp4_packed and against what a user would otherwise
// write, host::quantize_nvfp4 into a full-size float4_e2m1 tensor and then a
// loop packing its codes (float4_e2m1x2(q[2t], q[2t + 1])).
// beside, in the same run:
//   - memcpy moving the same bytes (half of them read, half written);
//   - the same quantization written element by element with CUDA's host
//     functions, what a user would otherwise write: __nv_cvt_float_to_e8m0
//     (rounding up) of amax / 448 and __nv_cvt_float_to_fp8 (E4M3,
//     satfinite) of x · 2^−e for MXFP8; __nv_cvt_float_to_fp8 of
//     amax · S / 6 and __nv_cvt_float_to_fp4 (E2M1, nearest) of x · S / d for
//     NVFP4. (It rounds amax / 448 and x · S / d in float first; mixprec
//     rounds the exact values once.)
// Every benchmark reports bytes/s of the bytes it reads and writes (source,
// elements, scales; NVFP4 reads the source twice: amax, then the cast).
// Inputs: N(0, 1) values times 2^e, e drawn per 32-element block from
// [−20, 20], so that block scales vary; `columnwise_of_transposed`
// quantizes that tensor transposed column-wise, so that its blocks are the
// row-wise ones (the two orientations then do the same arithmetic); the
// `_bfloat16` ones quantize the same values rounded to bfloat16.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "mixprec/host/block_quantize.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"

#if __has_include(<cuda_fp8.h>)
#define MIXPREC_BENCH_CUDA 1
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp8.h>
#else
#define MIXPREC_BENCH_CUDA 0
#endif

namespace {

// The tensor side: 256 (256 KiB of floats, in cache) or 2048 (16 MiB, memory).
std::int64_t side(const benchmark::State& state) { return state.range(0); }

const std::vector<float>& block_varied_floats(std::int64_t n) {
  static std::vector<float> values;
  if (values.size() != static_cast<std::size_t>(n)) {
    values.resize(static_cast<std::size_t>(n));
    std::mt19937 generator(2026);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> exponent(-20, 20);
    int e = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i % 32 == 0) e = exponent(generator);
      values[i] = std::ldexp(normal(generator), e);
    }
  }
  return values;
}

// block_varied_floats(side²) transposed: quantized column-wise, its blocks
// are those that row-wise quantization of block_varied_floats sees (one
// binade each), so the two orientations do the same arithmetic and differ
// only in the memory layout. (Column-wise on block_varied_floats itself,
// each block mixes 32 rows' binades: most of its elements fall on the
// element format's subnormal grid, whose vectors take the encoder's full
// rounding, vector_engine.hpp.)
const std::vector<float>& block_varied_floats_transposed(std::int64_t side_length) {
  static std::vector<float> values;
  const auto n = static_cast<std::size_t>(side_length);
  if (values.size() != n * n) {
    const std::vector<float>& x = block_varied_floats(side_length * side_length);
    values.resize(n * n);
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t c = 0; c < n; ++c) values[c * n + r] = x[r * n + c];
  }
  return values;
}

// Which input a host benchmark quantizes.
enum class input { block_varied, block_varied_transposed };
const std::vector<float>& input_of(input which, std::int64_t side_length) {
  return which == input::block_varied ? block_varied_floats(side_length * side_length)
                                      : block_varied_floats_transposed(side_length);
}

// The input as Source elements (float itself; bfloat16: each value rounded
// once, a copy kept per input).
template <class Source>
const std::vector<Source>& input_as(input which, std::int64_t side_length) {
  if constexpr (std::is_same<Source, float>::value) {
    return input_of(which, side_length);
  } else {
    static std::vector<Source> values[2];
    std::vector<Source>& copy = values[static_cast<int>(which)];
    const std::vector<float>& x = input_of(which, side_length);
    if (copy.size() != x.size()) {
      copy.clear();
      for (const float v : x) copy.push_back(Source(v));
    }
    return copy;
  }
}

// Bytes a row-wise quantization of n floats reads and writes: the source
// (`source_reads` times), `element_bytes` per element (1, or 1/2 packed),
// one byte per scale.
double quantize_bytes(std::int64_t n, std::size_t block, int source_reads, double element_bytes = 1) {
  const double elements = static_cast<double>(n);
  return elements * 4 * source_reads + elements * element_bytes + std::ceil(elements / static_cast<double>(block));
}

void report(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_per_iteration) * state.iterations());
}

void memcpy_same_bytes(benchmark::State& state, std::size_t block, int source_reads) {
  const std::int64_t n = side(state) * side(state);
  const double bytes = quantize_bytes(n, block, source_reads);
  const std::size_t half = static_cast<std::size_t>(bytes / 2);
  std::vector<unsigned char> in(half, 1), out(half);
  for (auto _ : state) {
    std::memcpy(out.data(), in.data(), half);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report(state, static_cast<double>(2 * half));
}

void mxfp8_reference(benchmark::State& state, mixprec::mx_orientation orientation) {
  const std::int64_t rows = side(state), cols = side(state);
  const std::vector<float>& x = block_varied_floats(rows * cols);
  std::vector<mixprec::float8_e4m3> q(x.size());
  std::vector<mixprec::float8_e8m0> scales(x.size() / 32);
  mixprec::mx_options o;
  o.rule = mixprec::mx_scale_rule::rceil;
  for (auto _ : state) {
    mixprec::reference::quantize_mx(x.data(), rows, cols, q.data(), scales.data(), o, orientation);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(rows * cols, 32, 1));
}

void nvfp4_reference(benchmark::State& state, mixprec::mx_orientation orientation) {
  const std::int64_t rows = side(state), cols = side(state);
  const std::vector<float>& x = block_varied_floats(rows * cols);
  std::vector<mixprec::float4_e2m1> q(x.size());
  std::vector<mixprec::float8_e4m3> scales(x.size() / 16);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        mixprec::reference::quantize_nvfp4(x.data(), rows, cols, q.data(), scales.data(), {}, orientation));
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(rows * cols, 16, 2));
}

// The fast host path on `path` (state.range(1): a host::simd_path), row-wise
// or column-wise, of `which` input as Source elements (bytes counted as for
// floats).
template <class Source>
void mxfp8_host_of(benchmark::State& state, mixprec::mx_orientation orientation, input which) {
  const std::int64_t rows = side(state), cols = side(state);
  const auto path = static_cast<mixprec::host::simd_path>(state.range(1));
  const std::vector<Source>& x = input_as<Source>(which, rows);
  std::vector<mixprec::float8_e4m3> q(x.size());
  std::vector<mixprec::float8_e8m0> scales(x.size() / 32);
  mixprec::mx_options o;
  o.rule = mixprec::mx_scale_rule::rceil;
  state.SetLabel(mixprec::host::to_string(path));
  for (auto _ : state) {
    mixprec::host::quantize_mx(x.data(), rows, cols, q.data(), scales.data(), o, orientation, path);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(rows * cols, 32, 1));
}

template <class Source>
void nvfp4_host_of(benchmark::State& state, mixprec::mx_orientation orientation, input which) {
  const std::int64_t rows = side(state), cols = side(state);
  const auto path = static_cast<mixprec::host::simd_path>(state.range(1));
  const std::vector<Source>& x = input_as<Source>(which, rows);
  std::vector<mixprec::float4_e2m1> q(x.size());
  std::vector<mixprec::float8_e4m3> scales(x.size() / 16);
  state.SetLabel(mixprec::host::to_string(path));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        mixprec::host::quantize_nvfp4(x.data(), rows, cols, q.data(), scales.data(), {}, orientation, path));
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(rows * cols, 16, 2));
}

// The element type of a host benchmark's source.
enum class source { float32, bfloat16 };
void mxfp8_host(benchmark::State& state, mixprec::mx_orientation orientation, input which, source type) {
  type == source::float32 ? mxfp8_host_of<float>(state, orientation, which)
                          : mxfp8_host_of<mixprec::bfloat16>(state, orientation, which);
}
void nvfp4_host(benchmark::State& state, mixprec::mx_orientation orientation, input which, source type) {
  type == source::float32 ? nvfp4_host_of<float>(state, orientation, which)
                          : nvfp4_host_of<mixprec::bfloat16>(state, orientation, which);
}

// How nvfp4_packed produces the packed tensor.
enum class packed_by { host, reference, host_then_packing_loop };

// NVFP4 packed two per byte, row-wise; the host forms on the path
// state.range(1). Bytes: those of the packed result (the loop's extra
// full-size tensor is its cost, not counted as work).
void nvfp4_packed(benchmark::State& state, packed_by how) {
  const std::int64_t rows = side(state), cols = side(state);
  const std::vector<float>& x = block_varied_floats(rows * cols);
  std::vector<mixprec::float4_e2m1x2> packed(x.size() / 2);
  std::vector<mixprec::float4_e2m1> q(how == packed_by::host_then_packing_loop ? x.size() : 0);
  std::vector<mixprec::float8_e4m3> scales(x.size() / 16);
  const auto path = how == packed_by::reference ? mixprec::host::simd_path::portable
                                                : static_cast<mixprec::host::simd_path>(state.range(1));
  if (how != packed_by::reference) state.SetLabel(mixprec::host::to_string(path));
  const mixprec::mx_orientation rowwise = mixprec::mx_orientation::rowwise;
  for (auto _ : state) {
    float tensor_scale = 0;
    if (how == packed_by::host) {
      tensor_scale =
          mixprec::host::quantize_nvfp4_packed(x.data(), rows, cols, packed.data(), scales.data(), {}, rowwise, path);
    } else if (how == packed_by::reference) {
      tensor_scale = mixprec::reference::quantize_nvfp4_packed(x.data(), rows, cols, packed.data(), scales.data());
    } else {
      tensor_scale = mixprec::host::quantize_nvfp4(x.data(), rows, cols, q.data(), scales.data(), {}, rowwise, path);
      for (std::size_t t = 0; t < packed.size(); ++t) packed[t] = mixprec::float4_e2m1x2(q[2 * t], q[2 * t + 1]);
    }
    benchmark::DoNotOptimize(tensor_scale);
    benchmark::DoNotOptimize(packed.data());
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(rows * cols, 16, 2, 0.5));
}

#if MIXPREC_BENCH_CUDA
// MXFP8 (rceil) with CUDA's host conversions, one element at a time.
void mxfp8_cuda_loop(benchmark::State& state) {
  const std::int64_t n = side(state) * side(state);
  const std::vector<float>& x = block_varied_floats(n);
  std::vector<__nv_fp8_storage_t> q(x.size());
  std::vector<__nv_fp8_storage_t> scales(x.size() / 32);
  for (auto _ : state) {
    for (std::size_t b = 0; b < scales.size(); ++b) {
      float amax = 0;
      for (std::size_t i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[b * 32 + i]));
      const __nv_fp8_storage_t code = __nv_cvt_float_to_e8m0(amax / 448.0f, __NV_SATFINITE, cudaRoundPosInf);
      scales[b] = code;
      const float inverse = std::ldexp(1.0f, 127 - static_cast<int>(code));
      for (std::size_t i = 0; i < 32; ++i)
        q[b * 32 + i] = __nv_cvt_float_to_fp8(x[b * 32 + i] * inverse, __NV_SATFINITE, __NV_E4M3);
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::DoNotOptimize(scales.data());
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(n, 32, 1));
}

// NVFP4 with CUDA's host conversions, one element at a time.
void nvfp4_cuda_loop(benchmark::State& state) {
  const std::int64_t n = side(state) * side(state);
  const std::vector<float>& x = block_varied_floats(n);
  std::vector<__nv_fp4_storage_t> q(x.size());
  std::vector<__nv_fp8_storage_t> scales(x.size() / 16);
  for (auto _ : state) {
    float tensor_amax = 0;
    for (const float v : x) tensor_amax = std::fmax(tensor_amax, std::fabs(v));
    const float tensor_scale = tensor_amax > 0 ? 448.0f * 6.0f / tensor_amax : 1.0f;
    for (std::size_t b = 0; b < scales.size(); ++b) {
      float amax = 0;
      for (std::size_t i = 0; i < 16; ++i) amax = std::fmax(amax, std::fabs(x[b * 16 + i]));
      const __nv_fp8_storage_t d = __nv_cvt_float_to_fp8(amax * tensor_scale / 6.0f, __NV_SATFINITE, __NV_E4M3);
      scales[b] = d;
      const float d_value = __half2float(__half(__nv_cvt_fp8_to_halfraw(d, __NV_E4M3)));
      const float multiplier = d_value > 0 ? tensor_scale / d_value : 0.0f;
      for (std::size_t i = 0; i < 16; ++i)
        q[b * 16 + i] = __nv_cvt_float_to_fp4(x[b * 16 + i] * multiplier, __NV_E2M1, cudaRoundNearest);
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::DoNotOptimize(scales.data());
    benchmark::ClobberMemory();
  }
  report(state, quantize_bytes(n, 16, 2));
}
#endif

void sizes(benchmark::internal::Benchmark* b) { b->Arg(256)->Arg(2048)->Unit(benchmark::kMillisecond); }

// Each size on every SIMD path this CPU has (portable, avx2, avx512).
void sizes_and_paths(benchmark::internal::Benchmark* b) {
  for (const std::int64_t size : {256, 2048})
    for (const mixprec::host::simd_path path : mixprec::host::available_simd_paths())
      b->Args({size, static_cast<std::int64_t>(path)});
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK_CAPTURE(mxfp8_host, rowwise, mixprec::mx_orientation::rowwise, input::block_varied, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(mxfp8_host, columnwise, mixprec::mx_orientation::columnwise, input::block_varied, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(mxfp8_host, columnwise_of_transposed, mixprec::mx_orientation::columnwise,
                  input::block_varied_transposed, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(mxfp8_host, rowwise_bfloat16, mixprec::mx_orientation::rowwise, input::block_varied,
                  source::bfloat16)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(mxfp8_host, columnwise_of_transposed_bfloat16, mixprec::mx_orientation::columnwise,
                  input::block_varied_transposed, source::bfloat16)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(mxfp8_reference, rowwise, mixprec::mx_orientation::rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(mxfp8_reference, columnwise, mixprec::mx_orientation::columnwise)->Apply(sizes);
BENCHMARK_CAPTURE(memcpy_same_bytes, mxfp8, 32, 1)->Apply(sizes);
BENCHMARK_CAPTURE(nvfp4_host, rowwise, mixprec::mx_orientation::rowwise, input::block_varied, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_host, columnwise, mixprec::mx_orientation::columnwise, input::block_varied, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_host, columnwise_of_transposed, mixprec::mx_orientation::columnwise,
                  input::block_varied_transposed, source::float32)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_host, rowwise_bfloat16, mixprec::mx_orientation::rowwise, input::block_varied,
                  source::bfloat16)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_host, columnwise_of_transposed_bfloat16, mixprec::mx_orientation::columnwise,
                  input::block_varied_transposed, source::bfloat16)
    ->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_reference, rowwise, mixprec::mx_orientation::rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(nvfp4_reference, columnwise, mixprec::mx_orientation::columnwise)->Apply(sizes);
BENCHMARK_CAPTURE(memcpy_same_bytes, nvfp4, 16, 2)->Apply(sizes);
BENCHMARK_CAPTURE(nvfp4_packed, host, packed_by::host)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_packed, host_then_packing_loop, packed_by::host_then_packing_loop)->Apply(sizes_and_paths);
BENCHMARK_CAPTURE(nvfp4_packed, reference, packed_by::reference)->Apply(sizes);
#if MIXPREC_BENCH_CUDA
BENCHMARK(mxfp8_cuda_loop)->Apply(sizes);
BENCHMARK(nvfp4_cuda_loop)->Apply(sizes);
#endif

}  // namespace
