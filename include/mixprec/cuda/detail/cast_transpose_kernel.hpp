/// \file
/// mixprec/cuda/detail/cast_transpose_kernel.hpp — the per-tensor-scale
/// cast-transpose kernel of mixprec/cuda/cast.hpp: 64 x 64 tiles, the codes
/// parked in a swizzled shared-memory tile (cast_device.hpp) between the
/// row-major and the transposed store. Its launcher is in cast_launch.hpp.
/// Internal (namespace mixprec::cuda::cast_detail): include mixprec/cuda/cast.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "mixprec/cast/rules.hpp"
#include "mixprec/cuda/detail/cast_device.hpp"

namespace mixprec {
namespace cuda {
namespace cast_detail {

//
// Thread t of 256 reads 16 consecutive elements of one row (row t / 4,
// columns 16 · (t % 4) ...), writes them to `out`, and parks the codes in
// shared memory; after a barrier it writes 16 consecutive elements of one
// row of outᵀ (column t / 4 of the tile, rows 16 · (t % 4) ...). Both global
// accesses are 16-byte vectors when the rows allow it.

constexpr int transpose_tile = 64;

template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_transpose_kernel(const Source* x, matrix_plan plan, scale_source source, Target* out,
                              Target* out_transposed, float* amax, quantize_options o) {
  using storage = typename Target::storage_type;
  __shared__ alignas(16) storage tile[transpose_tile][transpose_tile];  // swizzled_column layout
  const float scale = resolve_scale<Target>(source, o);
  const std::int64_t tiles_across = (plan.cols + transpose_tile - 1) / transpose_tile;
  const std::int64_t tiles = tiles_across * ((plan.rows + transpose_tile - 1) / transpose_tile);
  std::uint32_t largest = 0;
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::int64_t r0 = (t / tiles_across) * transpose_tile, c0 = (t % tiles_across) * transpose_tile;
    const int local_row = static_cast<int>(threadIdx.x) / 4, local_col = (static_cast<int>(threadIdx.x) % 4) * 16;
    const std::int64_t r = r0 + local_row, c = c0 + local_col;
    if (r < plan.rows && c < plan.cols) {
      const int count = clamp_count(plan.cols - c, 16);
      const std::int64_t first = r * plan.cols + c;
      float value[16];
      load_values(x + first, plan.vector_in && count == 16, count, value);
      largest = max(largest, largest_magnitude(value));
#pragma unroll
      for (int i = 0; i < 16; ++i) value[i] *= scale;
      Target q[16];
      encode_values<Target, NearestFinite>(value, o, static_cast<std::uint64_t>(first), q);
      if (out != nullptr) store_values(out + first, plan.vector_out && count == 16, count, q);
      store_tile_group(tile[local_row], local_row, local_col, q);
    }
    __syncthreads();
    if (out_transposed != nullptr) {
      const int tile_col = static_cast<int>(threadIdx.x) / 4, tile_row = (static_cast<int>(threadIdx.x) % 4) * 16;
      const std::int64_t column = c0 + tile_col, row = r0 + tile_row;
      if (column < plan.cols && row < plan.rows) {
        const int count = clamp_count(plan.rows - row, 16);
        Target q[16];
        load_tile_column(tile, tile_row, tile_col, q);
        store_values(out_transposed + column * plan.rows + row, plan.vector_out_transposed && count == 16, count, q);
      }
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
  publish_amax(amax, largest);
}

}  // namespace cast_detail
}  // namespace cuda
}  // namespace mixprec
