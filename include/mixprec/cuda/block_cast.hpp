// mixprec/cuda/block_cast.hpp — block-scaled cast kernels (nvcc only): MX
// (OCP Microscaling: MXFP8, MXFP6, MXFP4) and NVFP4, which run on Hopper.
//
//   quantize_mx(x, rows, cols, out, scales, out_t, scales_t, amax, mx_options, stream)
//       E4M3 / E5M2 / E2M3 / E3M2 / E2M1 elements, one E8M0 scale per 32
//   quantize_nvfp4(x, rows, cols, out, scales, out_t, scales_t, amax, tensor_scale, nvfp4_options, stream)
//       E2M1 elements, one E4M3 scale per 16 (or per 16x16 tile), one FP32 tensor scale
//
// One pass over x gives, as asked: the row-wise elements and scales (blocks
// along the rows of x), the column-wise ones (out_t = xᵀ quantized, blocks
// down the columns of x, quantized from x itself, never from the row-wise
// copy), amax, and the scales in the layout the options name — compact, or
// cuBLASLt's 128x4 tiles (mixprec/gemm/block_scale_layout.hpp), whose padding
// is written as 0x00. E2M1 elements are stored one per byte (float4_e2m1, as
// the reference) or packed two per byte (float4_e2m1x2, what cuBLASLt's FP4
// operands take).
//
// The bits are those of the CPU reference (mixprec/reference/mx_quantize.hpp,
// mixprec/reference/nvfp4_quantize.hpp) called once per orientation: the
// kernels take the scale and element rules from the same constexpr functions
// (cast::mx_scale, cast::mx_encode in mixprec/cast/mx_rules.hpp;
// cast::nvfp4_tensor_scale, nvfp4_block_scale, nvfp4_encode in
// mixprec/cast/nvfp4_rules.hpp), and every element is encoded by the engine.
// Block amaxes are maxima of magnitude bit patterns (mixprec/cast/rules.hpp),
// so a block holding a NaN gets the NaN amax the reference gives it.
// Stochastic rounding uses the bits of element (r, c)'s row-major index
// r · cols + c in both orientations, so the result does not depend on the
// launch shape.
//
// How the work is split: a thread block takes a 64x64 tile of x at a time
// into shared memory (as floats, one padded row of 65 so that reading a
// column is free of bank conflicts), then each group of `block` lanes (32 for
// MX, 16 for NVFP4) quantizes one block (NVFP4 with the random Hadamard
// transform: transforms it first, the reference's function on the block's 16
// values gathered by shuffles): a shuffle reduction gives its amax,
// one lane stores its scale, every lane its element. The row-wise blocks read
// the tile along its rows, the column-wise ones down its columns; the same
// code does both (orientation is a run-time stride, so each kernel holds one
// copy of the engine's encoder: ptxas time stays small).
//
// amax: quantize_mx RAISES *amax to max |x| (the slot rule of
// mixprec/cuda/cast.hpp); quantize_nvfp4 SETS it (the tensor scale is
// computed from it in a first pass, as per_tensor current scaling does).
// Launchers are stream-ordered (no synchronisation, no allocation) and check
// every argument on the host before anything is launched.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/cast/nvfp4_rules.hpp"
#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/cuda/cast.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace block_cast_detail {

// The side of the square tile of x a thread block holds in shared memory.
constexpr int tile_side = 64;
// Row pitch of the shared tile in floats: one more than the side, so that the
// 32 lanes reading one column hit 32 distinct banks.
constexpr int tile_pitch = tile_side + 1;
static_assert(cast_detail::block_threads == 256, "the 16x16 amax pass maps 256 threads onto 64 rows x 4 blocks");

// The outputs of one orientation: elements [lines, length] (Storage: one
// element per byte, or float4_e2m1x2 pairs: [lines, length / 2]) and their
// scales in `layout` (blocks_per_line = ceil(length / block) scales per line).
template <class Storage, class Scale>
struct orientation_outputs {
  Storage* elements = nullptr;
  Scale* scales = nullptr;
  std::size_t blocks_per_line = 0;
};

// The element type stored one per byte in Storage (float4_e2m1 for the
// packed pair float4_e2m1x2), and whether Storage packs two.
template <class Storage>
struct stored_element {
  using type = Storage;
  static constexpr bool packed = false;
};
template <>
struct stored_element<float4_e2m1x2> {
  using type = float4_e2m1;
  static constexpr bool packed = true;
};

// The MX rules for one launch (mixprec/cast/mx_rules.hpp).
template <class Element>
struct mx_policy {
  using element = Element;
  using scale = float8_e8m0;
  static constexpr int block = static_cast<int>(mx_block_size);
  mx_scale_rule rule;
  rounding mode;
  __device__ void begin() {}
  __device__ bool two_dimensional() const { return false; }
  __device__ scale block_scale(float amax) const { return cast::mx_scale<Element>(amax, rule); }
  __device__ element encode(float x, scale s, std::uint32_t random_bits) const {
    return cast::mx_encode<Element>(x, s, mode, random_bits);
  }
};

// The NVFP4 rules for one launch (mixprec/cast/nvfp4_rules.hpp); the tensor
// scale is computed on the device from the amax of the first pass.
struct nvfp4_policy {
  using element = float4_e2m1;
  using scale = float8_e4m3;
  static constexpr int block = static_cast<int>(nvfp4_block_size);
  const float* amax;           // the tensor's amax (first pass); null in the first pass itself
  float* tensor_scale_output;  // may be null
  rounding mode;
  bool tiles_16x16;
  float tensor_scale;  // set by begin()
  __device__ void begin() {
    if (amax == nullptr) return;  // the transform's amax pass: no scale yet, none needed
    tensor_scale = cast::nvfp4_tensor_scale(*amax);
    if (tensor_scale_output != nullptr && blockIdx.x == 0 && threadIdx.x == 0) *tensor_scale_output = tensor_scale;
  }
  __device__ bool two_dimensional() const { return tiles_16x16; }
  __device__ scale block_scale(float amax_of_block) const {
    return cast::nvfp4_block_scale(amax_of_block, tensor_scale);
  }
  __device__ element encode(float x, scale s, std::uint32_t random_bits) const {
    return cast::nvfp4_encode(x, s, tensor_scale, mode, random_bits);
  }
};

// What every launch of block_quantize_kernel shares.
struct launch_shape {
  std::int64_t rows, cols;
  gemm::block_scale_layout layout;
  bool stochastic;
  std::uint64_t seed, offset;
  // NVFP4 only: transform each 16-block first (cast::random_hadamard_transform
  // with these signs).
  bool hadamard = false;
  std::uint16_t hadamard_signs = 0;
  // The random Hadamard transform's first pass: compute the blocks' values,
  // raise amax to their largest magnitude, write nothing else.
  bool amax_only = false;
};

// The maximum of `value` over the `Group` lanes of its aligned group (Group a
// power of two <= 32); every lane of the warp must call it.
template <int Group>
__device__ inline std::uint32_t group_max(std::uint32_t value) {
#pragma unroll
  for (int span = Group / 2; span > 0; span /= 2) {
    const std::uint32_t other = __shfl_xor_sync(0xFFFFFFFFu, value, span);
    value = other > value ? other : value;
  }
  return value;
}

// The forward 16-point random Hadamard transform of the values held by the
// 16 lanes of an aligned group (lane i of the group holds x_i; it gets y_i):
// each lane gathers the group's 16 values and runs the reference's own
// cast::random_hadamard_transform on them (one definition of the transform;
// 16x the arithmetic of a shuffle butterfly, small beside the encodes), then
// keeps its own output. Every lane of the warp must call it.
__device__ inline float hadamard_16(float x, int i, std::uint16_t signs) {
  float block[hadamard_size];
#pragma unroll
  for (int k = 0; k < static_cast<int>(hadamard_size); ++k)
    block[k] = __shfl_sync(0xFFFFFFFFu, x, k, static_cast<int>(hadamard_size));
  cast::random_hadamard_transform(block, block, signs, false);
  float mine = 0;
#pragma unroll
  for (int k = 0; k < static_cast<int>(hadamard_size); ++k) mine = k == i ? block[k] : mine;  // no local memory
  return mine;
}

// Quantizes the blocks of one orientation of the tile whose corner is
// (row0, col0) of x. A line is a row of the tile (rowwise) or a column
// (columnwise). Every thread of the block calls it (shuffles need full warps).
// Returns the largest magnitude (as bits) of the values this thread's blocks
// quantized (after the transform, if any).
template <class Policy, class Storage>
__device__ std::uint32_t quantize_tile_blocks(const float (&tile)[tile_side][tile_pitch],
                                              const std::uint32_t (&amax_16x16)[tile_side / 16][tile_side / 16],
                                              const Policy& policy, const launch_shape& shape, bool rowwise,
                                              std::int64_t row0, std::int64_t col0,
                                              const orientation_outputs<Storage, typename Policy::scale>& out) {
  constexpr int block = Policy::block;
  constexpr int groups_per_warp = 32 / block;
  constexpr int blocks_per_tile_line = tile_side / block;
  constexpr int groups_per_tile = tile_side * blocks_per_tile_line;
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int warps = static_cast<int>(blockDim.x / 32);
  // y = x (rowwise) or xᵀ (columnwise): line_count lines of `length` elements.
  const std::int64_t line_count = rowwise ? shape.rows : shape.cols;
  const std::int64_t length = rowwise ? shape.cols : shape.rows;
  const std::int64_t line0 = rowwise ? row0 : col0, position0 = rowwise ? col0 : row0;
  std::uint32_t largest = 0;
  // Same trip count in every lane of a warp: groups_per_tile is a multiple of
  // the groups of all warps (64 · 64 / 32 = 128 warp steps).
  for (int group = warp * groups_per_warp + lane / block; group < groups_per_tile; group += warps * groups_per_warp) {
    const int line_in_tile = group / blocks_per_tile_line;
    const int block_in_tile = group % blocks_per_tile_line;
    const int position_in_tile = block_in_tile * block + lane % block;
    float value = rowwise ? tile[line_in_tile][position_in_tile] : tile[position_in_tile][line_in_tile];
    if constexpr (block == 16) {
      if (shape.hadamard) value = hadamard_16(value, lane % 16, shape.hadamard_signs);
    }
    std::uint32_t amax_bits = group_max<block>(cast::magnitude_bits(value));
    if (policy.two_dimensional()) {
      // The 16x16 tile of x holding this block (the same in both orientations).
      const int tile_row = (rowwise ? line_in_tile : position_in_tile) / 16;
      const int tile_col = (rowwise ? position_in_tile : line_in_tile) / 16;
      amax_bits = amax_16x16[tile_row][tile_col];
    }
    const std::int64_t line = line0 + line_in_tile, position = position0 + position_in_tile;
    const bool element_exists = line < line_count && position < length;
    if (shape.amax_only) {  // uniform over the grid: no shuffle follows in this mode
      if (element_exists) {
        const std::uint32_t magnitude = cast::magnitude_bits(value);
        largest = magnitude > largest ? magnitude : largest;
      }
      continue;
    }
    const typename Policy::scale scale = policy.block_scale(cast::from_magnitude_bits(amax_bits));
    const std::int64_t first_position = position0 + block_in_tile * block;
    if (line < line_count && lane % block == 0 && first_position < length)
      out.scales[gemm::block_scale_offset(shape.layout, static_cast<std::size_t>(line),
                                          static_cast<std::size_t>(first_position / block), out.blocks_per_line)] =
          scale;
    // Row-major index in x of element (line, position) of y. Lanes without
    // an element encode their 0 too, so that the pair shuffle below has
    // every lane.
    const std::int64_t source_index = rowwise ? line * shape.cols + position : position * shape.cols + line;
    const std::uint32_t random_bits =
        shape.stochastic
            ? stochastic_rounding_bits(shape.seed, shape.offset, static_cast<std::uint64_t>(source_index))
            : 0u;
    const typename Policy::element q = policy.encode(value, scale, random_bits);
    if constexpr (stored_element<Storage>::packed) {
      // Element 2t of a line in the low nibble of byte t (the pair type's
      // rule); length is even, so pairs never straddle lines or the edge.
      const unsigned odd = __shfl_xor_sync(0xFFFFFFFFu, static_cast<unsigned>(q.bits()), 1);
      if (element_exists && position % 2 == 0)
        out.elements[(line * length + position) / 2] =
            Storage(q, float4_e2m1::from_bits(static_cast<std::uint8_t>(odd)));
    } else {
      if (element_exists) out.elements[line * length + position] = q;
    }
  }
  return largest;
}

// Both orientations of every 64x64 tile of x (grid-stride over tiles), and
// *amax raised to max |x| when amax is not null (with shape.amax_only: to the
// largest magnitude of the transformed values, and nothing else written).
template <class Policy, class Source, class Storage>
__global__ void __launch_bounds__(cast_detail::block_threads)
    block_quantize_kernel(const Source* x, launch_shape shape, Policy policy,
                          orientation_outputs<Storage, typename Policy::scale> rowwise,
                          orientation_outputs<Storage, typename Policy::scale> columnwise, float* amax) {
  __shared__ float tile[tile_side][tile_pitch];
  __shared__ std::uint32_t amax_16x16[tile_side / 16][tile_side / 16];
  policy.begin();
  std::uint32_t largest = 0, largest_transformed = 0;
  const std::int64_t tile_cols = (shape.cols + tile_side - 1) / tile_side;
  const std::int64_t tiles = (shape.rows + tile_side - 1) / tile_side * tile_cols;
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const std::int64_t row0 = t / tile_cols * tile_side, col0 = t % tile_cols * tile_side;
    __syncthreads();  // the previous tile is no longer read
    if (threadIdx.x < 16) amax_16x16[threadIdx.x / 4][threadIdx.x % 4] = 0;
    for (int i = static_cast<int>(threadIdx.x); i < tile_side * tile_side; i += static_cast<int>(blockDim.x)) {
      const int r = i / tile_side, c = i % tile_side;
      float value = 0;  // outside x: zeros, which change no amax
      if (row0 + r < shape.rows && col0 + c < shape.cols) {
        value = cast::to_float(x[(row0 + r) * shape.cols + col0 + c]);
        const std::uint32_t magnitude = cast::magnitude_bits(value);
        largest = magnitude > largest ? magnitude : largest;
      }
      tile[r][c] = value;
    }
    __syncthreads();
    if (policy.two_dimensional()) {
      // Thread t takes 16 elements of tile row t / 4, block t % 4; lanes 4
      // apart share the block, 8 rows per warp; two warps meet per 16x16 tile.
      const int r = static_cast<int>(threadIdx.x) / 4, b = static_cast<int>(threadIdx.x) % 4;
      std::uint32_t m = 0;
#pragma unroll
      for (int k = 0; k < 16; ++k) {
        const std::uint32_t magnitude = cast::magnitude_bits(tile[r][b * 16 + k]);
        m = magnitude > m ? magnitude : m;
      }
#pragma unroll
      for (int span = 4; span < 32; span *= 2) {
        const std::uint32_t other = __shfl_xor_sync(0xFFFFFFFFu, m, span);
        m = other > m ? other : m;
      }
      if (threadIdx.x % 32 < 4) atomicMax(&amax_16x16[r / 16][b], m);
      __syncthreads();
    }
#pragma unroll 1
    for (int orientation = 0; orientation < 2; ++orientation) {
      const bool is_rowwise = orientation == 0;
      const orientation_outputs<Storage, typename Policy::scale> out = is_rowwise ? rowwise : columnwise;
      if (out.elements == nullptr) continue;  // uniform over the grid
      const std::uint32_t m = quantize_tile_blocks(tile, amax_16x16, policy, shape, is_rowwise, row0, col0, out);
      largest_transformed = m > largest_transformed ? m : largest_transformed;
    }
  }
  cast_detail::publish_amax(amax, shape.amax_only ? largest_transformed : largest);
}

template <class Source>
void static_source_check() {
  static_assert(std::is_same<Source, float>::value || is_basic_float<Source>::value,
                "sources are float or mixprec value types (bfloat16, float16)");
}

// Checks one orientation's pair of outputs: both or neither; returns the
// scale entries the scale array holds (0 without the pair).
template <class Element, class Scale>
std::size_t checked_scale_count(const Element* elements, const Scale* scales, const char* elements_name,
                                const char* scales_name, std::int64_t lines, std::int64_t length, std::size_t block,
                                gemm::block_scale_layout layout, const char* who) {
  require((elements == nullptr) == (scales == nullptr), who, ": ", elements_name, " = ",
          static_cast<const void*>(elements), " and ", scales_name, " = ", static_cast<const void*>(scales),
          "; pass both (the elements need their scales) or neither (that orientation is then skipped)");
  const std::size_t blocks = (static_cast<std::size_t>(length) + block - 1) / block;
  const std::size_t count = gemm::block_scale_count(layout, static_cast<std::size_t>(lines), blocks, who);
  return elements == nullptr ? 0 : count;
}

// Packed pairs need an even quantized dimension in each orientation asked.
template <class Storage>
void require_pairs(const Storage* out, const Storage* out_t, std::int64_t rows, std::int64_t cols, const char* who) {
  if (!stored_element<Storage>::packed) return;
  require(out == nullptr || cols % 2 == 0, who, ": packed FP4 pairs (float4_e2m1x2) row-wise need an even cols, ",
          "but cols = ", cols, "; pad x to an even number of columns or write one element per byte (float4_e2m1)");
  require(out_t == nullptr || rows % 2 == 0, who, ": packed FP4 pairs (float4_e2m1x2) column-wise need an even ",
          "rows, but rows = ", rows, "; pad x to an even number of rows or write one element per byte (float4_e2m1)");
}

// The second half of both launchers: zeroes the tiled layouts' padding, then
// runs the tile kernel (n > 0, every argument checked). With
// shape.amax_only it only raises amax (the outputs name the orientation).
template <class Policy, class Source, class Storage>
void launch_block_quantize(const Source* x, const launch_shape& shape, const Policy& policy, Storage* out,
                           typename Policy::scale* scales, std::size_t scale_count, Storage* out_t,
                           typename Policy::scale* scales_t, std::size_t scale_count_t, float* amax,
                           cudaStream_t stream, const char* who) {
  using blocks_t = orientation_outputs<Storage, typename Policy::scale>;
  const std::size_t block = static_cast<std::size_t>(Policy::block);
  const blocks_t rowwise{out, scales, (static_cast<std::size_t>(shape.cols) + block - 1) / block};
  const blocks_t columnwise{out_t, scales_t, (static_cast<std::size_t>(shape.rows) + block - 1) / block};
  if (shape.layout == gemm::block_scale_layout::cublaslt_tiled && !shape.amax_only) {
    // Tile padding carries no block: 0x00, as the reference writes it.
    if (scales != nullptr) check(cudaMemsetAsync(scales, 0, scale_count, stream), who);
    if (scales_t != nullptr) check(cudaMemsetAsync(scales_t, 0, scale_count_t, stream), who);
  }
  const std::int64_t tiles = (shape.rows + tile_side - 1) / tile_side * ((shape.cols + tile_side - 1) / tile_side);
  block_quantize_kernel<Policy, Source, Storage><<<cast_detail::grid_capped(tiles, 8), cast_detail::block_threads, 0, stream>>>(
      x, shape, policy, rowwise, columnwise, amax);
  cast_detail::check_launch(who);
}

}  // namespace block_cast_detail

/// MX block quantization of x ([rows, cols] row-major, device memory; float,
/// bfloat16 or float16) in one pass, bit for bit what
/// reference::quantize_mx(x, rows, cols, ..., o, orientation) gives for each
/// orientation asked for:
///  - out / scales (both or neither): the row-wise elements [rows, cols] (one
///    Element per byte; for Element = float4_e2m1x2, MXFP4 packed two per
///    byte, [rows, cols / 2], element 2t of a line in the low nibble of byte
///    t, the storage cuBLASLt's FP4 operands use) and ceil(cols / 32)
///    float8_e8m0 scales per row;
///  - out_t / scales_t (both or neither): xᵀ quantized from x, [cols, rows]
///    (packed: [cols, rows / 2]), with ceil(rows / 32) scales per column of x;
///  - amax (may be null): a device float RAISED to max |x| (NaN when x holds
///    one; the slot rule of mixprec/cuda/cast.hpp: start it at 0).
/// Scales are stored in o.scale_layout (compact, or cuBLASLt's VEC32_UE8M0
/// 128x4 tiles with 0x00 padding): each scale array holds
/// gemm::block_scale_count(o.scale_layout, lines, blocks) entries. Element is
/// float8_e4m3, float8_e5m2, float6_e2m3, float6_e3m2, float4_e2m1 or
/// float4_e2m1x2 (packed; needs an even quantized dimension); o.rule
/// picks OCP's floor or NVIDIA's rceil scales; o.mode any rounding
/// (stochastic with o.seed, o.offset). Stream-ordered; nothing written for
/// rows · cols = 0.
/// @throws mixprec::error, before anything is launched, for negative rows or
///         cols or sizes that overflow, a null x with elements, an element
///         array without its scale array (or the reverse), no output at all,
///         an odd quantized dimension with packed pairs, and an o.rule,
///         o.mode or o.scale_layout that is no enumerator;
///         mixprec::runtime_error when a launch fails.
template <class Element, class Source>
void quantize_mx(const Source* x, std::int64_t rows, std::int64_t cols, Element* out, float8_e8m0* scales,
                 cast::non_deduced_t<Element>* out_t, float8_e8m0* scales_t, float* amax, const mx_options& o = {},
                 cudaStream_t stream = nullptr) {
  using namespace block_cast_detail;
  using element = typename stored_element<Element>::type;
  static_assert(is_mx_element<element>::value,
                "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1 (or E2M1 pairs, float4_e2m1x2)");
  static_source_check<Source>();
  constexpr const char* who = "mixprec::cuda::quantize_mx";
  const std::size_t n = reference::detail::mx_element_count(rows, cols, who);
  require(is_valid(o.rule), who, ": mx_options::rule = ", static_cast<int>(o.rule),
          " is not a mixprec::mx_scale_rule enumerator; pass mx_scale_rule::floor or mx_scale_rule::rceil");
  require(is_valid(o.mode), who, ": mx_options::mode = ", static_cast<int>(o.mode),
          " is not a mixprec::rounding enumerator; pass nearest_even, toward_zero, stochastic, upward or downward");
  const std::size_t count = checked_scale_count(out, scales, "out", "scales", rows, cols, mx_block_size,
                                                o.scale_layout, who);
  const std::size_t count_t = checked_scale_count(out_t, scales_t, "out_t", "scales_t", cols, rows, mx_block_size,
                                                  o.scale_layout, who);
  require(out != nullptr || out_t != nullptr, who,
          ": out and out_t are both null; ask for the row-wise (out, scales) or the column-wise (out_t, scales_t) "
          "quantization, or both (mixprec::cuda::amax gives amax alone)");
  require_pairs(out, out_t, rows, cols, who);
  require(n == 0 || x != nullptr, who, ": x is null for a ", rows, " x ", cols, " tensor");
  if (n == 0) return;
  const launch_shape shape{rows, cols, o.scale_layout, o.mode == rounding::stochastic, o.seed, o.offset};
  const mx_policy<element> policy{o.rule, o.mode};
  launch_block_quantize(x, shape, policy, out, scales, count, out_t, scales_t, count_t, amax, stream,
                        "mixprec::cuda::quantize_mx kernel launch");
}

/// NVFP4 block quantization of x ([rows, cols] row-major, device memory;
/// float, bfloat16 or float16), bit for bit what
/// reference::quantize_nvfp4(x, rows, cols, ..., o, orientation) gives for
/// each orientation asked for:
///  - out / scales (both or neither): the row-wise E2M1 elements [rows, cols]
///    (Storage float4_e2m1: one per byte, as quantize_nvfp4; float4_e2m1x2:
///    two per byte, [rows, cols / 2], as reference::quantize_nvfp4_packed)
///    and ceil(cols / 16) float8_e4m3 block scales per row;
///  - out_t / scales_t (both or neither): xᵀ quantized from x, [cols, rows]
///    (packed: [cols, rows / 2]), ceil(rows / 16) scales per column of x;
///  - amax (required): a device float SET to max |x| (first pass; the tensor
///    scale is computed from it on the device) — with o.random_hadamard, to
///    the largest magnitude of the transformed values, as the reference's
///    tensor scale uses ("post-RHT amax");
///  - tensor_scale (may be null): a device float receiving the FP32 tensor
///    scale S = cast::nvfp4_tensor_scale(amax), the value the reference
///    returns (decode: x ≈ q · d / S), shared by both orientations.
/// o.two_dimensional_blocks gives one scale per 16x16 tile of x (stored once
/// per line of its tile, the same tiles in both orientations); o.mode any
/// rounding (stochastic with o.seed, o.offset); scales in o.scale_layout
/// (compact, or cuBLASLt's VEC16_UE4M3 tiles, 0x00 padding).
/// o.random_hadamard transforms each 16-block along the quantized dimension
/// first (cast::random_hadamard_transform with o.hadamard_signs, the same
/// function on the device): one orientation per call then, since
/// each has its own amax and tensor scale (TransformerEngine transforms only
/// the column-wise wgrad operand), and that dimension must be a multiple
/// of 16. Stream-ordered; nothing written for rows · cols = 0.
/// @throws mixprec::error, before anything is launched, for negative rows or
///         cols or sizes that overflow, a null x with elements, a null amax,
///         an element array without its scale array (or the reverse), no
///         output at all, an o.mode or o.scale_layout that is no enumerator,
///         an odd quantized dimension with packed pairs, and
///         o.random_hadamard with both orientations, with
///         two_dimensional_blocks or with a quantized dimension that is no
///         multiple of 16; mixprec::runtime_error when a launch fails.
template <class Source, class Storage>
void quantize_nvfp4(const Source* x, std::int64_t rows, std::int64_t cols, Storage* out, float8_e4m3* scales,
                    cast::non_deduced_t<Storage>* out_t, float8_e4m3* scales_t, float* amax, float* tensor_scale,
                    const nvfp4_options& o = {}, cudaStream_t stream = nullptr) {
  using namespace block_cast_detail;
  static_assert(std::is_same<typename stored_element<Storage>::type, float4_e2m1>::value,
                "NVFP4 elements are float4_e2m1 (one per byte) or float4_e2m1x2 (two per byte)");
  static_source_check<Source>();
  constexpr const char* who = "mixprec::cuda::quantize_nvfp4";
  const std::size_t n = reference::detail::mx_element_count(rows, cols, who);
  const bool rowwise_asked = out != nullptr || scales != nullptr;
  const bool columnwise_asked = out_t != nullptr || scales_t != nullptr;
  require(!(o.random_hadamard && rowwise_asked && columnwise_asked), who,
          ": random_hadamard with both orientations; the transform runs along the quantized dimension, so each "
          "orientation has its own amax and tensor scale: quantize them in two calls (TransformerEngine transforms "
          "only the column-wise operand)");
  // The reference's option checks (mode, transform with 16x16 blocks, the
  // transformed dimension a multiple of 16, layout) for each orientation asked.
  if (rowwise_asked || !columnwise_asked) (void)reference::detail::nvfp4_validate(o, rows, cols, who);
  if (columnwise_asked) (void)reference::detail::nvfp4_validate(o, cols, rows, who);
  const std::size_t count = checked_scale_count(out, scales, "out", "scales", rows, cols, nvfp4_block_size,
                                                o.scale_layout, who);
  const std::size_t count_t = checked_scale_count(out_t, scales_t, "out_t", "scales_t", cols, rows,
                                                  nvfp4_block_size, o.scale_layout, who);
  require(out != nullptr || out_t != nullptr, who,
          ": out and out_t are both null; ask for the row-wise (out, scales) or the column-wise (out_t, scales_t) "
          "quantization, or both");
  require_pairs(out, out_t, rows, cols, who);
  require(amax != nullptr, who,
          ": amax is null; pass a device float: it receives max |x|, from which the tensor scale is computed");
  require(n == 0 || x != nullptr, who, ": x is null for a ", rows, " x ", cols, " tensor");
  if (n == 0) return;
  constexpr const char* launch = "mixprec::cuda::quantize_nvfp4 kernel launch";
  launch_shape shape{rows, cols, o.scale_layout, o.mode == rounding::stochastic, o.seed, o.offset};
  shape.hadamard = o.random_hadamard;
  shape.hadamard_signs = o.hadamard_signs;
  // Pass 1: the tensor's amax (of the transformed values with the
  // transform). Pass 2: the blocks, S from that amax.
  cast_detail::zero_amax(amax, stream);
  if (o.random_hadamard) {
    launch_shape amax_pass = shape;
    amax_pass.amax_only = true;
    const nvfp4_policy no_tensor_scale{nullptr, nullptr, o.mode, false, 1.0f};
    launch_block_quantize(x, amax_pass, no_tensor_scale, out, scales, count, out_t, scales_t, count_t, amax, stream,
                          launch);
  } else {
    cast_detail::launch_amax(x, n, amax, stream);
  }
  const nvfp4_policy policy{amax, tensor_scale, o.mode, o.two_dimensional_blocks, 1.0f};
  launch_block_quantize(x, shape, policy, out, scales, count, out_t, scales_t, count_t, nullptr, stream, launch);
}

}  // namespace cuda
}  // namespace mixprec
