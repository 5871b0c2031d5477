/// \file
/// mixprec/cuda/detail/cast_block_scale_kernels.hpp — the current-scaling
/// kernels of mixprec/cuda/cast.hpp's quantize_blockwise, whose scales come
/// from each block's own amax in the same pass: row-wise, 1x128 (with and
/// without the transposed operand) and 128x128, and dequantize_blockwise's
/// kernel. quantize_blockwise (cast.hpp) chooses and launches them.
/// Internal (namespace mixprec::cuda::cast_detail): include mixprec/cuda/cast.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/cuda/detail/cast_device.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace cast_detail {

struct block_outputs {
  float* scale_inv;
  std::int64_t scale_stride;  // gemm::scale_layout::stride() of the block modes
  float* scale_inv_transposed;
  std::int64_t scale_stride_transposed;
};

// Row-wise: one block per row. The first sweep finds the row's amax, the
// second (from cache) quantises it.
template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_row_wise_kernel(const Source* x, matrix_plan plan, Target* out, block_outputs scales, float* amax,
                             quantize_options o) {
  constexpr int N = 4;
  std::uint32_t tensor_largest = 0;
  for (std::int64_t r = blockIdx.x; r < plan.rows; r += gridDim.x) {
    const Source* row = x + r * plan.cols;
    std::uint32_t largest = 0;
    for (std::int64_t c = static_cast<std::int64_t>(threadIdx.x) * N; c < plan.cols; c += block_threads * N) {
      const int count = clamp_count(plan.cols - c, N);
      float value[N];
      load_values(row + c, plan.vector_in && count == N, count, value);
      largest = max(largest, largest_magnitude(value));
    }
    largest = block_max(largest);
    tensor_largest = max(tensor_largest, largest);
    const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
    if (threadIdx.x == 0) scales.scale_inv[r] = cast::reciprocal(scale);
    for (std::int64_t c = static_cast<std::int64_t>(threadIdx.x) * N; c < plan.cols; c += block_threads * N) {
      const int count = clamp_count(plan.cols - c, N);
      float value[N];
      load_values(row + c, plan.vector_in && count == N, count, value);
#pragma unroll
      for (int i = 0; i < N; ++i) value[i] *= scale;
      Target q[N];
      encode_values<Target, NearestFinite>(value, o, static_cast<std::uint64_t>(r * plan.cols + c), q);
      store_values(out + r * plan.cols + c, plan.vector_out && count == N, count, q);
    }
  }
  if (amax != nullptr && threadIdx.x == 0 && tensor_largest != 0)
    atomicMax(reinterpret_cast<unsigned int*>(amax), tensor_largest);
}

// 1x128: one warp per 128-element block of a row, 4 elements per lane; the
// block's amax is a warp reduction, so everything stays in registers.
template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_1x128_kernel(const Source* x, matrix_plan plan, Target* out, block_outputs scales, float* amax,
                          quantize_options o) {
  constexpr int N = 4;
  const std::int64_t blocks_per_row = (plan.cols + gemm::scale_block_size - 1) / gemm::scale_block_size;
  const std::int64_t blocks = plan.rows * blocks_per_row;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (block_threads / 32);
  const unsigned lane = threadIdx.x % 32;
  std::uint32_t tensor_largest = 0;
  for (std::int64_t b = static_cast<std::int64_t>(blockIdx.x) * (block_threads / 32) + threadIdx.x / 32; b < blocks;
       b += warps) {
    const std::int64_t r = b / blocks_per_row, k_block = b % blocks_per_row;
    const std::int64_t c = k_block * gemm::scale_block_size + lane * N;
    const int count = clamp_count(plan.cols - c, N);
    const std::int64_t first = r * plan.cols + c;
    float value[N];
    load_values(x + first, plan.vector_in && count == N, count, value);
    const std::uint32_t largest = warp_max(largest_magnitude(value));
    tensor_largest = max(tensor_largest, largest);
    const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
    if (lane == 0) scales.scale_inv[k_block * scales.scale_stride + r] = cast::reciprocal(scale);
#pragma unroll
    for (int i = 0; i < N; ++i) value[i] *= scale;
    Target q[N];
    encode_values<Target, NearestFinite>(value, o, static_cast<std::uint64_t>(first), q);
    if (count > 0) store_values(out + first, plan.vector_out && count == N, count, q);
  }
  publish_amax(amax, tensor_largest);
}

// Writes a 128x128 tile of codes, held in shared memory in x's orientation (swizzled_column layout),
// to out_transposed (the tile kernels' thread layout: thread t writes 16
// consecutive elements of each of 4 rows of the transpose).
template <class Target, class Storage, int Width>
__device__ inline void store_transposed_tile(const Storage (&tile)[128][Width], std::int64_t r0, std::int64_t c0,
                                             const matrix_plan& plan, Target* out_transposed) {
  constexpr int groups = 4, N = 16;
  const int local_col = (static_cast<int>(threadIdx.x) % 8) * N, local_row = static_cast<int>(threadIdx.x) / 8;
#pragma unroll
  for (int g = 0; g < groups; ++g) {
    const int tile_col = local_row + 32 * g, tile_row = local_col;
    const std::int64_t column = c0 + tile_col, row = r0 + tile_row;
    if (column < plan.cols && row < plan.rows) {
      const int here = clamp_count(plan.rows - row, N);
      Target q[N];
      load_tile_column(tile, tile_row, tile_col, q);
      store_values(out_transposed + column * plan.rows + row, plan.vector_out_transposed && here == N, here, q);
    }
  }
}

// 128x128: one thread block per tile. Thread t covers columns 16 · (t % 8)
// ... + 15 of rows t / 8 + 32 j (j < 4): eight threads read one row's 128
// elements contiguously. The tile's 64 values per thread stay in registers
// between the amax reduction and the conversion; the codes go through shared
// memory for the transposed copy, whose tile shares the scale.
template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_128x128_kernel(const Source* x, matrix_plan plan, Target* out, Target* out_transposed,
                            block_outputs scales, float* amax, quantize_options o) {
  constexpr int tile_size = 128, groups = 4, N = 16;
  using storage = typename Target::storage_type;
  __shared__ alignas(16) storage tile[tile_size][tile_size];  // swizzled_column layout
  const std::int64_t tiles_across = (plan.cols + tile_size - 1) / tile_size;
  const std::int64_t tiles = tiles_across * ((plan.rows + tile_size - 1) / tile_size);
  const int local_col = (static_cast<int>(threadIdx.x) % 8) * N, local_row = static_cast<int>(threadIdx.x) / 8;
  std::uint32_t tensor_largest = 0;
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::int64_t row_block = t / tiles_across, col_block = t % tiles_across;
    const std::int64_t r0 = row_block * tile_size, c0 = col_block * tile_size;
    const std::int64_t c = c0 + local_col;
    const int count = clamp_count(plan.cols - c, N);
    float value[groups][N];
    std::uint32_t largest = 0;
#pragma unroll
    for (int g = 0; g < groups; ++g) {
      const std::int64_t r = r0 + local_row + 32 * g;
      const int here = r < plan.rows ? count : 0;
      load_values(x + r * plan.cols + c, plan.vector_in && here == N, here, value[g]);
      largest = max(largest, largest_magnitude(value[g]));
    }
    largest = block_max(largest);
    tensor_largest = max(tensor_largest, largest);
    const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
    if (threadIdx.x == 0) {
      scales.scale_inv[row_block * scales.scale_stride + col_block] = cast::reciprocal(scale);
      if (scales.scale_inv_transposed != nullptr)
        scales.scale_inv_transposed[col_block * scales.scale_stride_transposed + row_block] = cast::reciprocal(scale);
    }
#pragma unroll
    for (int g = 0; g < groups; ++g) {
      const int tile_row = local_row + 32 * g;
      const std::int64_t r = r0 + tile_row;
      const int here = r < plan.rows ? count : 0;
#pragma unroll
      for (int i = 0; i < N; ++i) value[g][i] *= scale;
      Target q[N];
      encode_values<Target, NearestFinite>(value[g], o, static_cast<std::uint64_t>(r * plan.cols + c), q);
      if (here > 0 && out != nullptr) store_values(out + r * plan.cols + c, plan.vector_out && here == N, here, q);
      store_tile_group(tile[tile_row], tile_row, local_col, q);
    }
    if (out_transposed != nullptr) {
      __syncthreads();
      store_transposed_tile(tile, r0, c0, plan, out_transposed);
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
  publish_amax(amax, tensor_largest);
}

// 1x128 with the transposed operand, in one pass over x: one thread block per
// 128x128 tile, threads laid out as in the 128x128 kernel. x's 1x128 blocks
// are the tile's rows (128 columns held by 8 consecutive lanes: three
// shuffles reduce them); xᵀ's 1x128 blocks are the tile's columns (128 rows:
// two shuffles within a warp, then shared memory across the 8 warps). Each
// value is encoded twice — with its row's scale for out, with its column's
// scale for out_transposed, which goes through the shared tile to be written
// row by row. Both use the element's index in x for stochastic rounding, as
// reference::quantize_blockwise does.
template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_1x128_transpose_kernel(const Source* x, matrix_plan plan, Target* out, Target* out_transposed,
                                    block_outputs scales, float* amax, quantize_options o) {
  constexpr int tile_size = 128, groups = 4, N = 16, warps = block_threads / 32;
  using storage = typename Target::storage_type;
  __shared__ alignas(16) storage tile[tile_size][tile_size];  // swizzled_column layout
  __shared__ std::uint32_t column_largest[warps][tile_size];
  __shared__ float column_scale[tile_size];
  const std::int64_t tiles_across = (plan.cols + tile_size - 1) / tile_size;
  const std::int64_t tiles = tiles_across * ((plan.rows + tile_size - 1) / tile_size);
  const int local_col = (static_cast<int>(threadIdx.x) % 8) * N, local_row = static_cast<int>(threadIdx.x) / 8;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  std::uint32_t tensor_largest = 0;
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::int64_t row_block = t / tiles_across, col_block = t % tiles_across;
    const std::int64_t r0 = row_block * tile_size, c0 = col_block * tile_size;
    const std::int64_t c = c0 + local_col;
    const int count = clamp_count(plan.cols - c, N);
    float value[groups][N];  // missing elements read as 0, which no maximum notices
    float row_scale[groups];
#pragma unroll
    for (int g = 0; g < groups; ++g) {
      const std::int64_t r = r0 + local_row + 32 * g;
      const int here = r < plan.rows ? count : 0;
      load_values(x + r * plan.cols + c, plan.vector_in && here == N, here, value[g]);
      std::uint32_t row_largest = largest_magnitude(value[g]);
#pragma unroll
      for (int offset = 1; offset < 8; offset *= 2)
        row_largest = max(row_largest, __shfl_xor_sync(0xFFFFFFFFu, row_largest, offset));
      tensor_largest = max(tensor_largest, row_largest);
      row_scale[g] = cast::block_scale<Target>(cast::from_magnitude_bits(row_largest), o.power_of_two_scales);
      if (threadIdx.x % 8 == 0 && r < plan.rows)
        scales.scale_inv[col_block * scales.scale_stride + r] = cast::reciprocal(row_scale[g]);
    }
    // Column maxima: over this thread's 4 rows, then the warp's 4 row
    // positions (lanes 8 and 16 apart), then the 8 warps.
#pragma unroll
    for (int i = 0; i < N; ++i) {
      std::uint32_t largest = 0;
#pragma unroll
      for (int g = 0; g < groups; ++g) largest = max(largest, cast::magnitude_bits(value[g][i]));
      largest = max(largest, __shfl_xor_sync(0xFFFFFFFFu, largest, 8));
      largest = max(largest, __shfl_xor_sync(0xFFFFFFFFu, largest, 16));
      if (lane < 8) column_largest[warp][local_col + i] = largest;
    }
    __syncthreads();
    if (threadIdx.x < tile_size) {
      std::uint32_t largest = 0;
#pragma unroll
      for (int w = 0; w < warps; ++w) largest = max(largest, column_largest[w][threadIdx.x]);
      const float scale = cast::block_scale<Target>(cast::from_magnitude_bits(largest), o.power_of_two_scales);
      column_scale[threadIdx.x] = scale;
      const std::int64_t column = c0 + static_cast<std::int64_t>(threadIdx.x);
      if (column < plan.cols && scales.scale_inv_transposed != nullptr)
        scales.scale_inv_transposed[row_block * scales.scale_stride_transposed + column] = cast::reciprocal(scale);
    }
    __syncthreads();
#pragma unroll
    for (int g = 0; g < groups; ++g) {
      const int tile_row = local_row + 32 * g;
      const std::int64_t r = r0 + tile_row;
      const int here = r < plan.rows ? count : 0;
      const std::uint64_t first = static_cast<std::uint64_t>(r * plan.cols + c);
      float scaled[N];
      Target q[N];
      if (out != nullptr) {
#pragma unroll
        for (int i = 0; i < N; ++i) scaled[i] = value[g][i] * row_scale[g];
        encode_values<Target, NearestFinite>(scaled, o, first, q);
        if (here > 0) store_values(out + r * plan.cols + c, plan.vector_out && here == N, here, q);
      }
#pragma unroll
      for (int i = 0; i < N; ++i) scaled[i] = value[g][i] * column_scale[local_col + i];
      encode_values<Target, NearestFinite>(scaled, o, first, q);
      store_tile_group(tile[tile_row], tile_row, local_col, q);
    }
    __syncthreads();
    if (out_transposed != nullptr) {
      store_transposed_tile(tile, r0, c0, plan, out_transposed);
    }
    __syncthreads();  // the tile and the column scales are refilled by the next iteration
  }
  publish_amax(amax, tensor_largest);
}

template <class Target, class Source>
__global__ void __launch_bounds__(block_threads)
    dequantize_blockwise_kernel(const Source* q, gemm::scale_layout layout, const float* scale_inv, Target* out) {
  const std::size_t n = static_cast<std::size_t>(layout.rows * layout.cols);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const std::int64_t r = static_cast<std::int64_t>(i) / layout.cols, c = static_cast<std::int64_t>(i) % layout.cols;
    const float value = cast::to_float(q[i]) * scale_inv[layout.index(r, c)];
    if constexpr (std::is_same<Target, float>::value) {
      out[i] = value;
    } else {
      out[i] = convert<Target>(value);
    }
  }
}

}  // namespace cast_detail
}  // namespace cuda
}  // namespace mixprec
