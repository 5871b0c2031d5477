// GPU benchmarks of the block-scaled cast kernels (mixprec/cuda/block_cast.hpp),
// timed with CUDA events and reported as GB/s of bytes read plus written
// (source, elements, scales), each beside a device-to-device copy moving the
// same number of bytes (copy_same_bytes/<case>: half of them read, half
// written), the bandwidth ceiling. BF16 sources [2^k / 8192, 8192].
//
//   mx_e4m3_rowwise        MXFP8 E4M3, row-wise only, compact scales (floor rule)
//   mx_e4m3_both_tiled     row-wise and column-wise in one pass, cuBLASLt's tiled scales
//   mx_e4m3_both_stochastic   the same with stochastic rounding
//   mx_e2m1_both_tiled     MXFP4 packed two per byte (float4_e2m1x2), both orientations
//   nvfp4_rowwise          NVFP4 1x16 packed, row-wise only (amax pass + cast pass)
//   nvfp4_both_tiled       NVFP4 1x16 packed, both orientations, tiled scales
//   nvfp4_both_16x16       NVFP4 16x16 blocks (weights) packed, both orientations
//   nvfp4_column_hadamard  NVFP4 1x16 packed, column-wise with the random Hadamard
//                          transform (the wgrad operand; its amax pass transforms too)
// Written, not yet run on a GPU.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cast_bench_support.cuh"
#include "gpu_timing.hpp"
#include "mixprec/cuda/block_cast.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/types.hpp"

namespace {

using mixprec::cuda::check;
using mixprec::gemm::block_scale_layout;
using mixprec_bench::device_array;
using mixprec_bench::elements;
using mixprec_bench::have_device;
using mixprec_bench::time_bandwidth;

constexpr std::int64_t cols = 8192;

// What one benchmark case quantizes.
struct block_case {
  bool nvfp4;              // else MX
  bool e2m1;               // MX only: E2M1 elements packed in pairs, else E4M3 (NVFP4: always packed E2M1)
  bool both_orientations;  // else one: row-wise, or column-wise with the transform
  block_scale_layout layout;
  bool stochastic;
  bool tiles_16x16;  // NVFP4 only
  bool hadamard;     // NVFP4 only: column-wise only, with the random Hadamard transform
};

std::size_t scale_entries(block_scale_layout layout, std::int64_t lines, std::int64_t length, std::size_t block) {
  return mixprec::gemm::block_scale_count(layout, static_cast<std::size_t>(lines),
                                          (static_cast<std::size_t>(length) + block - 1) / block, "bench");
}

// Bytes one call reads and writes: the BF16 source, the elements of each
// orientation written (one byte each, half a byte packed), and the scales.
double bytes_moved(const block_case& c, std::int64_t rows) {
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  const std::size_t block = c.nvfp4 ? mixprec::nvfp4_block_size : mixprec::mx_block_size;
  const std::size_t element_bytes = c.nvfp4 || c.e2m1 ? n / 2 : n;
  std::size_t bytes = n * 2 + element_bytes;
  bytes += c.hadamard ? scale_entries(c.layout, cols, rows, block) : scale_entries(c.layout, rows, cols, block);
  if (c.both_orientations) bytes += element_bytes + scale_entries(c.layout, cols, rows, block);
  if (c.nvfp4) bytes += n * 2;  // the amax pass reads the source once more
  return static_cast<double>(bytes);
}

void block_quantize(benchmark::State& state, block_case c) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t n = elements(state);
    const std::int64_t rows = static_cast<std::int64_t>(n) / cols;
    const std::size_t block = c.nvfp4 ? mixprec::nvfp4_block_size : mixprec::mx_block_size;
    device_array<mixprec::bfloat16> x(n, true);
    device_array<unsigned char> q(n), qt(n), scales(scale_entries(c.layout, rows, cols, block)),
        scales_t(scale_entries(c.layout, cols, rows, block));
    device_array<float> amax(1), tensor_scale(1);
    check(cudaMemset(amax.data, 0, sizeof(float)), "amax");
    // Row-wise unless hadamard (column-wise only); both when asked.
    unsigned char* out = c.hadamard ? nullptr : q.data;
    unsigned char* out_scales = c.hadamard ? nullptr : scales.data;
    unsigned char* out_t = c.both_orientations || c.hadamard ? qt.data : nullptr;
    unsigned char* out_scales_t = c.both_orientations || c.hadamard ? scales_t.data : nullptr;
    const mixprec::rounding mode = c.stochastic ? mixprec::rounding::stochastic : mixprec::rounding::nearest_even;
    if (c.nvfp4) {
      mixprec::nvfp4_options o;
      o.mode = mode;
      o.scale_layout = c.layout;
      o.two_dimensional_blocks = c.tiles_16x16;
      o.random_hadamard = c.hadamard;
      using mixprec::float4_e2m1x2;
      using mixprec::float8_e4m3;
      time_bandwidth(state, bytes_moved(c, rows), [&] {
        mixprec::cuda::quantize_nvfp4(x.data, rows, cols, reinterpret_cast<float4_e2m1x2*>(out),
                                      reinterpret_cast<float8_e4m3*>(out_scales),
                                      reinterpret_cast<float4_e2m1x2*>(out_t),
                                      reinterpret_cast<float8_e4m3*>(out_scales_t), amax.data, tensor_scale.data, o);
      });
    } else {
      mixprec::mx_options o;
      o.mode = mode;
      o.scale_layout = c.layout;
      using mixprec::float8_e8m0;
      const auto run = [&](auto element_tag) {
        using E = decltype(element_tag);
        time_bandwidth(state, bytes_moved(c, rows), [&] {
          mixprec::cuda::quantize_mx(x.data, rows, cols, reinterpret_cast<E*>(out),
                                     reinterpret_cast<float8_e8m0*>(out_scales), reinterpret_cast<E*>(out_t),
                                     reinterpret_cast<float8_e8m0*>(out_scales_t), amax.data, o);
        });
      };
      if (c.e2m1) {
        run(mixprec::float4_e2m1x2{});
      } else {
        run(mixprec::float8_e4m3{});
      }
    }
  });
}

// A device copy moving the bytes block_quantize(c) moves: bytes / 2 read and
// bytes / 2 written.
void copy_same_bytes(benchmark::State& state, block_case c) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::int64_t rows = static_cast<std::int64_t>(elements(state)) / cols;
    const double bytes = bytes_moved(c, rows);
    const std::size_t half = static_cast<std::size_t>(bytes / 2);
    device_array<unsigned char> in(half), out(half);
    check(cudaMemset(in.data, 1, half), "fill");
    time_bandwidth(state, static_cast<double>(2 * half), [&] {
      check(cudaMemcpyAsync(out.data, in.data, half, cudaMemcpyDeviceToDevice), "copy");
    });
  });
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(26)->Arg(28)->UseManualTime()->Unit(benchmark::kMicrosecond); }

constexpr auto tiled = block_scale_layout::cublaslt_tiled;
constexpr block_case mx_e4m3_rowwise{false, false, false, block_scale_layout::compact, false, false, false};
constexpr block_case mx_e4m3_both_tiled{false, false, true, tiled, false, false, false};
constexpr block_case mx_e4m3_both_stochastic{false, false, true, tiled, true, false, false};
constexpr block_case mx_e2m1_both_tiled{false, true, true, tiled, false, false, false};
constexpr block_case nvfp4_rowwise{true, false, false, block_scale_layout::compact, false, false, false};
constexpr block_case nvfp4_both_tiled{true, false, true, tiled, false, false, false};
constexpr block_case nvfp4_both_16x16{true, false, true, tiled, false, true, false};
constexpr block_case nvfp4_column_hadamard{true, false, false, tiled, true, false, true};

BENCHMARK_CAPTURE(block_quantize, mx_e4m3_rowwise, mx_e4m3_rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(copy_same_bytes, mx_e4m3_rowwise, mx_e4m3_rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, mx_e4m3_both_tiled, mx_e4m3_both_tiled)->Apply(sizes);
BENCHMARK_CAPTURE(copy_same_bytes, mx_e4m3_both_tiled, mx_e4m3_both_tiled)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, mx_e4m3_both_stochastic, mx_e4m3_both_stochastic)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, mx_e2m1_both_tiled, mx_e2m1_both_tiled)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, nvfp4_rowwise, nvfp4_rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(copy_same_bytes, nvfp4_rowwise, nvfp4_rowwise)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, nvfp4_both_tiled, nvfp4_both_tiled)->Apply(sizes);
BENCHMARK_CAPTURE(copy_same_bytes, nvfp4_both_tiled, nvfp4_both_tiled)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, nvfp4_both_16x16, nvfp4_both_16x16)->Apply(sizes);
BENCHMARK_CAPTURE(block_quantize, nvfp4_column_hadamard, nvfp4_column_hadamard)->Apply(sizes);

}  // namespace
