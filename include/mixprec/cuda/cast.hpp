// mixprec/cuda/cast.hpp — fused FP8 cast kernels (nvcc only).
//
//   quantize(x, n, scale, out, amax)                 q = convert<T>(x · scale), amax raised to max|x|, one pass
//   quantize(x, rows, cols, scale, out, outᵀ, amax)  the same, plus the transposed copy (cast-transpose)
//   quantize_blockwise(x, rows, cols, mode, ...)     per-row / 1x128 / 128x128 (or whole-tensor) scales
//                                                    computed from each block's own amax, same pass
//   dequantize(q, n, scale_inv, out)                 y = convert<T>(float(q) · scale_inv)
//   dequantize_blockwise(q, rows, cols, mode, ...)
//   amax(x, n, amax)
//
// The semantics are those of the CPU reference (mixprec/reference/quantize.hpp)
// bit for bit: both take their element rules from mixprec/cast/rules.hpp, and
// the conversion is the engine's (mixprec::convert). The one fast path of our
// own is cvt.rn.satfinite.{e4m3,e5m2}x2.f32, two FP8 values per instruction,
// taken only for rounding::nearest_even with saturation::finite — exactly the
// case in which that instruction computes the engine's bits (NaN -> 0x7F,
// ±inf and overflow -> ±max, ties to even, signed zeros kept; checked on all
// inputs by tests/cuda/test_cast_kernels.cpp).
//
// Every launcher is stream-ordered: no host synchronisation, no allocation,
// so calls can be captured in a CUDA graph. A scale pointer is read on the
// device (it may be written by a previous kernel, e.g. the scaling recipe's
// update); null means 1.
//
// amax slots are RAISED, never zeroed: a launcher that takes an amax pointer
// makes *amax = max(*amax, max |x|) with one atomicMax on the float bits per
// block (magnitudes are non-negative, so their bit patterns order like the
// values, and NaN orders above +inf, as in the reference). This is
// TransformerEngine's rule: several casts that record into one slot within a
// step (a tensor cast in pieces, or twice) leave the largest magnitude of all
// of them, and whoever consumes the slot resets it — device_delayed_scaling::
// update() records and zeroes every slot (mixprec/cuda/fp8_scaling.hpp).
// Precondition: the slot holds a non-negative float or NaN (0 to start; a
// negative value's bit pattern orders above every magnitude). The one
// exception is quantize_blockwise with per_tensor (current scaling): there
// *amax is the input of the launch's own second pass, the scale, so it is set
// to this tensor's max |x| (zeroed, then raised).
//
// Any length and alignment: 16-element vectors (16-byte loads and stores)
// wherever input and output are both 16-byte aligned, scalar head and tail
// elsewhere, scalar everything when no common alignment exists. Element index i
// (for stochastic rounding) is always the row-major index in x.
/// \file
/// mixprec/cuda/cast.hpp — fused FP8 cast kernels (nvcc only).
///
/// ~~~~
///   quantize(x, n, scale, out, amax)                 q = convert<T>(x · scale), amax = max|x|, one pass
///   quantize(x, rows, cols, scale, out, outᵀ, amax)  the same, plus the transposed copy (cast-transpose)
///   quantize_blockwise(x, rows, cols, mode, ...)     per-row / 1x128 / 128x128 (or whole-tensor) scales
///                                                    computed from each block's own amax, same pass
///   dequantize(q, n, scale_inv, out)                 y = convert<T>(float(q) · scale_inv)
///   dequantize_blockwise(q, rows, cols, mode, ...)
///   amax(x, n, amax)
/// ~~~~
///
/// The semantics are those of the CPU reference (mixprec/reference/quantize.hpp)
/// bit for bit: both take their element rules from mixprec/cast/rules.hpp, and
/// the conversion is the engine's (mixprec::convert). The one fast path of our
/// own is cvt.rn.satfinite.{e4m3,e5m2}x2.f32, two FP8 values per instruction,
/// taken only for rounding::nearest_even with saturation::finite — exactly the
/// case in which that instruction computes the engine's bits (NaN -> 0x7F,
/// ±inf and overflow -> ±max, ties to even, signed zeros kept; checked on all
/// inputs by tests/cuda/test_cast_kernels.cpp).
///
/// Every launcher is stream-ordered: no host synchronisation, no allocation,
/// so calls can be captured in a CUDA graph. A scale pointer is read on the
/// device (it may be written by a previous kernel, e.g. the scaling recipe's
/// update); null means 1. amax pointers are overwritten with the result (a
/// cudaMemsetAsync to 0, then one atomicMax on the float bits per block —
/// magnitudes are non-negative, so their bit patterns order like the values
/// and NaN orders above +inf, as in the reference).
///
/// Any length and alignment: 16-element vectors (16-byte loads and stores)
/// wherever input and output are both 16-byte aligned, scalar head and tail
/// elsewhere, scalar everything when no common alignment exists. Element index i
/// (for stochastic rounding) is always the row-major index in x.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace cast_detail {

constexpr int block_threads = 256;
constexpr int vector_elements = 16;  // one 16-byte FP8 vector per thread and step

// ---- Device helpers -----------------------------------------------------

// How many of n elements exist when `available` remain in the row (0 .. n).
__device__ inline int clamp_count(std::int64_t available, int n) {
  return available <= 0 ? 0 : (available < n ? static_cast<int>(available) : n);
}

__device__ inline std::uint32_t warp_max(std::uint32_t value) { return __reduce_max_sync(0xFFFFFFFFu, value); }

// The maximum over the block, returned to every thread. Every thread of the
// block must call it (it synchronises); blockDim.x is a multiple of 32.
__device__ inline std::uint32_t block_max(std::uint32_t value) {
  __shared__ std::uint32_t warp_maxima[32];
  value = warp_max(value);
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // a previous call may still be reading warp_maxima
  if (lane == 0) warp_maxima[warp] = value;
  __syncthreads();
  const unsigned warps = (blockDim.x + 31) / 32;
  return warp_max(lane < warps ? warp_maxima[lane] : 0u);
}

// Raises *amax to the block's largest magnitude (the slot rule above).
__device__ inline void publish_amax(float* amax, std::uint32_t largest) {
  if (amax == nullptr) return;  // uniform over the grid
  largest = block_max(largest);
  if (threadIdx.x == 0 && largest != 0) atomicMax(reinterpret_cast<unsigned int*>(amax), largest);
}

// The cast-transpose kernels' shared-memory tiles of codes, [rows][Cols]
// with no padding, hold each row's 16-element groups in an order permuted by
// the row's 16-row band: column c of row r lives at
//     swizzled_column<Cols>(r, c) = ((c / 16) ^ ((r / 16) % (Cols / 16))) · 16 + c % 16.
// Why: a thread writes 16 consecutive codes of one row (one 16-byte store for
// FP8), and for the transposed copy reads one column down 16 consecutive
// rows, while the threads of a warp read rows 16 apart. 16 rows are a
// multiple of 128 bytes (32 banks of 4 bytes) with any 16-byte-multiple
// pitch, so without the permutation those reads meet in one bank: 8-way
// conflicts in the 128x128 tiles, 4-way in the 64x64 ones (a padded pitch of
// 144 / 80 bytes did not help; the byte-wise writes had 4-way conflicts as
// well). With it, the rows a warp reads fall in distinct 16-byte groups, hence
// distinct banks, and a row's 16-byte stores still cover every bank once. It
// is a permutation within each row, so the codes read back are the codes
// written: the outputs are unchanged bit for bit.
template <int Cols>
__host__ __device__ constexpr int swizzled_column(int row, int column) {
  constexpr int groups = Cols / 16;
  static_assert(Cols % 16 == 0 && (groups & (groups - 1)) == 0, "tile rows are a power-of-two number of 16-element groups");
  return ((column / 16) ^ ((row / 16) & (groups - 1))) * 16 + column % 16;
}

// The layout's two claims, checked when this header compiles: within each
// row the map is a permutation of the columns (nothing is lost or doubled),
// and the rows a warp reads together — one per band, 16 apart — hold any one
// column in distinct 16-element groups. (Distinct groups are distinct banks:
// a 128-byte FP8 row spans the 32 banks once, and in 64-byte rows the rows
// 16 apart share their parity, hence their half of the banks.)
template <int Cols>
constexpr bool swizzle_keeps_codes_and_spreads_bands() {
  constexpr int groups = Cols / 16, rows = 128;
  for (int row = 0; row < rows; ++row) {
    bool seen[Cols] = {};
    for (int column = 0; column < Cols; ++column) {
      const int stored = swizzled_column<Cols>(row, column);
      if (stored < 0 || stored >= Cols || seen[stored]) return false;
      seen[stored] = true;
    }
  }
  for (int offset = 0; offset < 16; ++offset) {
    for (int column = 0; column < Cols; ++column) {
      bool used[groups] = {};
      for (int band = 0; band < groups; ++band) {
        const int group = swizzled_column<Cols>(band * 16 + offset, column) / 16;
        if (used[group]) return false;
        used[group] = true;
      }
    }
  }
  return true;
}
static_assert(swizzle_keeps_codes_and_spreads_bands<64>() && swizzle_keeps_codes_and_spreads_bands<128>(),
              "swizzled_column must permute each row and spread the bands a warp reads over distinct groups");

// Loads / stores N elements (4, 8 or a multiple of 16 bytes) at a pointer
// aligned to min(N · sizeof(T), 16) bytes, with the widest accesses that allows.
template <class T, int N>
__device__ inline void load_vector(const T* pointer, T (&values)[N]) {
  constexpr int bytes = N * static_cast<int>(sizeof(T));
  if constexpr (bytes % 16 == 0) {
    uint4 raw[bytes / 16];
#pragma unroll
    for (int w = 0; w < bytes / 16; ++w) raw[w] = reinterpret_cast<const uint4*>(pointer)[w];
    std::memcpy(values, raw, bytes);
  } else if constexpr (bytes == 8) {
    const uint2 raw = *reinterpret_cast<const uint2*>(pointer);
    std::memcpy(values, &raw, bytes);
  } else {
    static_assert(bytes == 4, "vector accesses are 4, 8 or a multiple of 16 bytes");
    const unsigned raw = *reinterpret_cast<const unsigned*>(pointer);
    std::memcpy(values, &raw, bytes);
  }
}
template <class T, int N>
__device__ inline void store_vector(T* pointer, const T (&values)[N]) {
  constexpr int bytes = N * static_cast<int>(sizeof(T));
  if constexpr (bytes % 16 == 0) {
    uint4 raw[bytes / 16];
    std::memcpy(raw, values, bytes);
#pragma unroll
    for (int w = 0; w < bytes / 16; ++w) reinterpret_cast<uint4*>(pointer)[w] = raw[w];
  } else if constexpr (bytes == 8) {
    uint2 raw;
    std::memcpy(&raw, values, bytes);
    *reinterpret_cast<uint2*>(pointer) = raw;
  } else {
    static_assert(bytes == 4, "vector accesses are 4, 8 or a multiple of 16 bytes");
    unsigned raw;
    std::memcpy(&raw, values, bytes);
    *reinterpret_cast<unsigned*>(pointer) = raw;
  }
}

// Writes 16 codes to columns [column, column + 16) of a tile row (column a
// multiple of 16): one 16-byte store per 16 bytes, at the row's swizzled group.
template <int Cols, class Storage, class Target>
__device__ inline void store_tile_group(Storage (&row)[Cols], int row_index, int column, const Target (&q)[16]) {
  Storage codes[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) codes[i] = q[i].bits();
  store_vector(&row[swizzled_column<Cols>(row_index, column)], codes);
}
// Reads column `column` of tile rows [band_row, band_row + 16) (band_row a
// multiple of 16: the 16 rows of one band share the permutation, so the
// address is computed once).
template <int Rows, int Cols, class Storage, class Target>
__device__ inline void load_tile_column(const Storage (&tile)[Rows][Cols], int band_row, int column, Target (&q)[16]) {
  const int stored = swizzled_column<Cols>(band_row, column);
#pragma unroll
  for (int i = 0; i < 16; ++i) q[i] = Target::from_bits(tile[band_row + i][stored]);
}

// Quantises N scaled values (value[i] = x · scale of element first + i).
// NearestFinite: the options are nearest_even + saturation::finite, for which
// the paired cvt instructions give the engine's bits.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
constexpr bool has_paired_fp8_conversion = true;
#else
constexpr bool has_paired_fp8_conversion = false;
#endif

template <class Target, bool NearestFinite, int N>
__device__ inline void encode_values(const float (&value)[N], const quantize_options& o, std::uint64_t first,
                                     Target (&q)[N]) {
  constexpr bool paired = has_paired_fp8_conversion && NearestFinite && N % 2 == 0 &&
                          (std::is_same<Target, float8_e4m3>::value || std::is_same<Target, float8_e5m2>::value);
  if constexpr (paired) {
#pragma unroll
    for (int i = 0; i < N; i += 2) {
      unsigned short pair;
      // The first source operand fills the upper byte: value[i] lands in the low byte.
      if constexpr (std::is_same<Target, float8_e4m3>::value) {
        asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(value[i + 1]), "f"(value[i]));
      } else {
        asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(value[i + 1]), "f"(value[i]));
      }
      q[i] = Target::from_bits(static_cast<std::uint8_t>(pair & 0xFFu));
      q[i + 1] = Target::from_bits(static_cast<std::uint8_t>(pair >> 8));
    }
  } else {
    // The engine's general path is long integer code: one copy, not N.
#pragma unroll 1
    for (int i = 0; i < N; ++i) q[i] = cast::encode<Target>(value[i], o, first + static_cast<std::uint64_t>(i));
  }
}

// Reads up to N elements of row-contiguous data starting at `pointer`: all N
// with one vector access when `vector` (aligned and complete), else the first
// `count` one by one; missing elements read as 0.
template <int N, class Source>
__device__ inline void load_values(const Source* pointer, bool vector, int count, float (&value)[N]) {
  if (vector) {
    Source raw[N];
    load_vector(pointer, raw);
#pragma unroll
    for (int i = 0; i < N; ++i) value[i] = cast::to_float(raw[i]);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) value[i] = i < count ? cast::to_float(pointer[i]) : 0.0f;
  }
}
template <int N, class Target>
__device__ inline void store_values(Target* pointer, bool vector, int count, const Target (&q)[N]) {
  if (vector) {
    store_vector(pointer, q);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i)
      if (i < count) pointer[i] = q[i];
  }
}

template <int N>
__device__ inline std::uint32_t largest_magnitude(const float (&value)[N]) {
  std::uint32_t largest = 0;
#pragma unroll
  for (int i = 0; i < N; ++i) largest = max(largest, cast::magnitude_bits(value[i]));
  return largest;
}

// ---- 1-D elementwise kernels --------------------------------------------

// Elements [0, head) and [head + 16·vectors, n) are scalar, the rest comes
// in 16-element vectors (see plan_vectors).
struct span_plan {
  std::size_t n, head, vectors;
  __host__ __device__ std::size_t tail_start() const { return head + vectors * vector_elements; }
  __host__ __device__ std::size_t scalar_count() const { return head + (n - tail_start()); }
  __host__ __device__ std::size_t scalar_index(std::size_t s) const { return s < head ? s : tail_start() + (s - head); }
};

// The first index at which `in` and `out` (if given) are both 16-byte aligned.
inline span_plan plan_vectors(const void* in, std::size_t in_size, const void* out, std::size_t out_size,
                              std::size_t n) {
  const auto in_address = reinterpret_cast<std::uintptr_t>(in), out_address = reinterpret_cast<std::uintptr_t>(out);
  for (std::size_t head = 0; head < vector_elements && head <= n; ++head) {
    if ((in_address + head * in_size) % 16 == 0 && (out == nullptr || (out_address + head * out_size) % 16 == 0))
      return {n, head, (n - head) / vector_elements};
  }
  return {n, n, 0};
}

// Blocks for a grid-stride loop over work_items (one per thread): enough to
// cover them, at most 8 resident blocks per multiprocessor.
inline unsigned grid_capped(std::int64_t work_blocks, int blocks_per_multiprocessor) {
  return static_cast<unsigned>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(work_blocks, multiprocessor_count() * blocks_per_multiprocessor)));
}
inline unsigned grid_for(std::size_t work_items) {
  return grid_capped(static_cast<std::int64_t>((work_items + block_threads - 1) / block_threads), 8);
}

// Where a quantize kernel's scale comes from: a device float (null: 1), or —
// current scaling of the whole tensor — the amax a previous kernel wrote, in
// which case the kernel also stores 1 / scale.
struct scale_source {
  const float* scale = nullptr;
  const float* amax = nullptr;  // set: scale = cast::block_scale<Target>(*amax, power_of_two)
  float* scale_inv = nullptr;   // with amax: receives 1 / scale
  float* scale_inv_transposed = nullptr;
};

template <class Target>
__device__ inline float resolve_scale(const scale_source& s, const quantize_options& o) {
  if (s.amax == nullptr) return s.scale != nullptr ? *s.scale : 1.0f;
  const float scale = cast::block_scale<Target>(*s.amax, o.power_of_two_scales);
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    if (s.scale_inv != nullptr) *s.scale_inv = cast::reciprocal(scale);
    if (s.scale_inv_transposed != nullptr) *s.scale_inv_transposed = cast::reciprocal(scale);
  }
  return scale;
}

template <class Target, class Source, bool NearestFinite>
__global__ void __launch_bounds__(block_threads)
    quantize_kernel(const Source* x, span_plan plan, scale_source source, Target* out, float* amax,
                    quantize_options o) {
  const float scale = resolve_scale<Target>(source, o);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::uint32_t largest = 0;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    const std::size_t first = plan.head + v * vector_elements;
    float value[vector_elements];
    load_values(x + first, true, vector_elements, value);
    largest = max(largest, largest_magnitude(value));
#pragma unroll
    for (int i = 0; i < vector_elements; ++i) value[i] *= scale;
    Target q[vector_elements];
    encode_values<Target, NearestFinite>(value, o, first, q);
    store_vector(out + first, q);
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride) {
    const std::size_t i = plan.scalar_index(s);
    const float value = cast::to_float(x[i]);
    largest = max(largest, cast::magnitude_bits(value));
    out[i] = cast::encode<Target>(value * scale, o, i);
  }
  publish_amax(amax, largest);
}

template <class Source>
__global__ void __launch_bounds__(block_threads) amax_kernel(const Source* x, span_plan plan, float* amax) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::uint32_t largest = 0;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    float value[vector_elements];
    load_values(x + plan.head + v * vector_elements, true, vector_elements, value);
    largest = max(largest, largest_magnitude(value));
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride)
    largest = max(largest, cast::magnitude_bits(cast::to_float(x[plan.scalar_index(s)])));
  publish_amax(amax, largest);
}

template <class Target, class Source>
__global__ void __launch_bounds__(block_threads)
    dequantize_kernel(const Source* q, span_plan plan, const float* scale_inv_pointer, Target* out) {
  const float scale_inv = scale_inv_pointer != nullptr ? *scale_inv_pointer : 1.0f;
  auto decode = [scale_inv](float value) -> Target {
    if constexpr (std::is_same<Target, float>::value) {
      return value * scale_inv;
    } else {
      return convert<Target>(value * scale_inv);
    }
  };
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (std::size_t v = thread; v < plan.vectors; v += stride) {
    const std::size_t first = plan.head + v * vector_elements;
    float value[vector_elements];
    load_values(q + first, true, vector_elements, value);
    Target y[vector_elements];
#pragma unroll
    for (int i = 0; i < vector_elements; ++i) y[i] = decode(value[i]);
    store_vector(out + first, y);
  }
  for (std::size_t s = thread; s < plan.scalar_count(); s += stride) {
    const std::size_t i = plan.scalar_index(s);
    out[i] = decode(cast::to_float(q[i]));
  }
}

// ---- Cast-transpose: 64 x 64 tiles --------------------------------------
//
// Thread t of 256 reads 16 consecutive elements of one row (row t / 4,
// columns 16 · (t % 4) ...), writes them to `out`, and parks the codes in
// shared memory; after a barrier it writes 16 consecutive elements of one
// row of outᵀ (column t / 4 of the tile, rows 16 · (t % 4) ...). Both global
// accesses are 16-byte vectors when the rows allow it.

constexpr int transpose_tile = 64;

struct matrix_plan {
  std::int64_t rows, cols;
  bool vector_in, vector_out, vector_out_transposed;
};

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

// ---- Scales from the data: row-wise, 1x128, 128x128 ---------------------

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

// ---- Host side ----------------------------------------------------------

inline bool aligned(const void* pointer, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(pointer) % bytes == 0;
}

// Whether rows of `cols` elements starting at `data` allow the n-element
// vector accesses of load_vector / store_vector at every multiple of n: those
// need n · sizeof(T) bytes of alignment, at most 16.
template <class T>
bool rows_allow_vectors(const T* data, std::int64_t cols, int n) {
  const std::size_t bytes = std::min<std::size_t>(static_cast<std::size_t>(n) * sizeof(T), 16);
  return data != nullptr && aligned(data, bytes) && (static_cast<std::size_t>(cols) * sizeof(T)) % bytes == 0;
}

// Calls launch(std::true_type{}) when the options allow the paired cvt fast
// path (nearest_even + saturation::finite), launch(std::false_type{}) else:
// the kernels take it as their NearestFinite template argument.
template <class Launch>
void with_fast_path(const quantize_options& o, Launch launch) {
  if (o.mode == rounding::nearest_even && o.policy == saturation::finite) {
    launch(std::true_type{});
  } else {
    launch(std::false_type{});
  }
}

inline void zero_amax(float* amax, cudaStream_t stream) {
  if (amax != nullptr) check(cudaMemsetAsync(amax, 0, sizeof(float), stream), "cudaMemsetAsync(amax)");
}

inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

template <class Target, class Source>
void static_checks() {
  static_assert(is_basic_float<Target>::value, "quantize targets are mixprec value types (float8_e4m3, ...)");
  static_assert(std::is_same<Source, float>::value || is_basic_float<Source>::value,
                "sources are float or mixprec value types (bfloat16, float16)");
}

// The launches shared by the per-tensor quantize functions and per-tensor
// current scaling (n > 0 / rows · cols > 0; amax already zeroed).
template <class Target, class Source>
void launch_quantize(const Source* x, std::size_t n, const scale_source& source, Target* out, float* amax,
                     const quantize_options& o, cudaStream_t stream) {
  const span_plan plan = plan_vectors(x, sizeof(Source), out, sizeof(Target), n);
  const unsigned grid = grid_for(std::max(plan.vectors, plan.scalar_count()));
  with_fast_path(o, [&](auto fast) {
    quantize_kernel<Target, Source, decltype(fast)::value><<<grid, block_threads, 0, stream>>>(x, plan, source, out,
                                                                                              amax, o);
  });
  check_launch("mixprec::cuda::quantize kernel launch");
}
template <class Target, class Source>
void launch_quantize_transpose(const Source* x, std::int64_t rows, std::int64_t cols, const scale_source& source,
                               Target* out, Target* out_transposed, float* amax, const quantize_options& o,
                               cudaStream_t stream) {
  const matrix_plan plan{rows, cols, rows_allow_vectors(x, cols, 16), rows_allow_vectors(out, cols, 16),
                         rows_allow_vectors(out_transposed, rows, 16)};
  const unsigned grid =
      grid_capped(gemm::ceil_div(rows, transpose_tile) * gemm::ceil_div(cols, transpose_tile), 8);
  with_fast_path(o, [&](auto fast) {
    quantize_transpose_kernel<Target, Source, decltype(fast)::value>
        <<<grid, block_threads, 0, stream>>>(x, plan, source, out, out_transposed, amax, o);
  });
  check_launch("mixprec::cuda::quantize (cast-transpose) kernel launch");
}
template <class Source>
void launch_amax(const Source* x, std::size_t n, float* amax, cudaStream_t stream) {
  const span_plan plan = plan_vectors(x, sizeof(Source), nullptr, 0, n);
  amax_kernel<Source><<<grid_for(std::max(plan.vectors, plan.scalar_count())), block_threads, 0, stream>>>(x, plan,
                                                                                                           amax);
  check_launch("mixprec::cuda::amax kernel launch");
}

}  // namespace cast_detail

// q[i] = convert<Target>(x[i] · *scale) for i < n, and *amax raised to max |x[i]|
// (amax may be null). scale null means 1.
/// q[i] = convert<Target>(x[i] · *scale) for i < n, and *amax = max |x[i]|
/// (amax may be null). scale null means 1.
///
/// Device pointers; `scale` is the quantisation factor (one device float, read on the
/// device). Rounding and saturation from `o`; bits equal reference::quantize. Stream-ordered.
/// \throws mixprec::error when n > 0 and x or out is null; mixprec::runtime_error when a
///         CUDA call or the launch fails.
template <class Target, class Source>
void quantize(const Source* x, std::size_t n, const float* scale, Target* out, float* amax,
              const quantize_options& o = {}, cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  static_checks<Target, Source>();
  cast::require_valid(o, "mixprec::cuda::quantize: ");
  require(n == 0 || (x != nullptr && out != nullptr), "mixprec::cuda::quantize: x and out must be device pointers; "
          "got x=", static_cast<const void*>(x), " out=", static_cast<const void*>(out), " for n=", n);
  if (n == 0) return;
  scale_source source;
  source.scale = scale;
  launch_quantize(x, n, source, out, amax, o, stream);
}

// Cast-transpose: x is [rows, cols] row-major; out (may be null) receives q
// [rows, cols], out_transposed (may be null) qᵀ [cols, rows], amax (may be
// null) raised to max |x|.
/// Cast-transpose: x is [rows, cols] row-major; out (may be null) receives q
/// [rows, cols], out_transposed (may be null) qᵀ [cols, rows], amax (may be
/// null) max |x|.
///
/// Device pointers; `scale` as in the 1-D quantize (null means 1). Stream-ordered.
/// \throws mixprec::error when rows or cols is negative or x is null for a non-empty
///         tensor; mixprec::runtime_error when a CUDA call or the launch fails.
template <class Target, class Source>
void quantize(const Source* x, std::int64_t rows, std::int64_t cols, const float* scale, Target* out,
              cast::non_deduced_t<Target>* out_transposed, float* amax, const quantize_options& o = {},
              cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  static_checks<Target, Source>();
  const char* who = "mixprec::cuda::quantize (cast-transpose): ";
  cast::require_valid(o, who);
  cast::element_count(rows, cols, who);  // rows and cols not negative, rows * cols without overflow
  require(rows * cols == 0 || x != nullptr, who, "x is null for a ", rows, " x ", cols, " tensor");
  if (rows * cols == 0) return;
  scale_source source;
  source.scale = scale;
  launch_quantize_transpose(x, rows, cols, source, out, out_transposed, amax, o, stream);
}

// *amax raised to max |x[i]| over i < n (amax must point to a device float
// holding 0, or an earlier value to keep if larger).
/// *amax = max |x[i]| over i < n.
///
/// 0 for n == 0; NaN if any x is NaN (as reference::amax). Device pointers, stream-ordered.
/// \throws mixprec::error when amax is null, or x is null with n > 0;
///         mixprec::runtime_error when a CUDA call or the launch fails.
template <class Source>
void amax(const Source* x, std::size_t n, float* amax, cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  require(amax != nullptr, "mixprec::cuda::amax: amax must point to a device float");
  require(n == 0 || x != nullptr, "mixprec::cuda::amax: x is null for n=", n);
  if (n == 0) return;
  launch_amax(x, n, amax, stream);
}

// Scales computed from the data (current scaling), one per block of `mode`,
// exactly as reference::quantize_blockwise: x [rows, cols] row-major, q to
// out [rows, cols], 1 / scale of each block to scale_inv in the layout
// gemm::scale_layout{mode, rows, cols}. With per_tensor, block_1x128 or
// block_128x128, out_transposed / scale_inv_transposed (may be null) receive
// qᵀ and its scales in the transposed operand's layout, as
// reference::quantize_blockwise defines them (1x128 blocks of the transpose
// run down 128 rows of x and have scales of their own). amax receives max |x|
// (set with per_tensor, raised with the block modes);
// per_tensor needs it (the scale is computed from it in a first pass), the
// block modes take null or a slot to raise.
/// Scales computed from the data (current scaling), one per block of `mode`,
/// exactly as reference::quantize_blockwise: x [rows, cols] row-major, q to
/// out [rows, cols], 1 / scale of each block to scale_inv in the layout
/// gemm::scale_layout{mode, rows, cols}. With per_tensor, block_1x128 or
/// block_128x128, out_transposed / scale_inv_transposed (may be null) receive
/// qᵀ and its scales in the transposed operand's layout, as
/// reference::quantize_blockwise defines them (1x128 blocks of the transpose
/// run down 128 rows of x and have scales of their own). amax receives max |x|;
/// per_tensor needs it (the scale is computed from it in a first pass), the
/// block modes take null.
///
/// Device pointers; scale_inv holds dequantisation factors (what gemm::input_operand::scale
/// takes). Stream-ordered.
/// \throws mixprec::error when rows or cols is negative; for a non-empty tensor when x, out
///         or scale_inv is null; when a transposed output is asked for with row_wise scales;
///         when per_tensor has no amax. mixprec::runtime_error when a CUDA call or launch fails.
template <class Target, class Source>
void quantize_blockwise(const Source* x, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode, Target* out,
                        float* scale_inv, cast::non_deduced_t<Target>* out_transposed,
                        float* scale_inv_transposed, float* amax, const quantize_options& o = {},
                        cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  using gemm::scale_mode;
  static_checks<Target, Source>();
  const char* who = "mixprec::cuda::quantize_blockwise: ";
  // The mode is an enumerator and both layouts' counts fit; the options too.
  gemm::checked_scale_layout(mode, rows, cols, who);
  gemm::checked_scale_layout(mode, cols, rows, who);
  cast::require_valid(o, who);
  cast::element_count(rows, cols, who);
  const std::int64_t n = rows * cols;
  require(n == 0 || (x != nullptr && out != nullptr), who, "x and out must be device pointers");
  require(n == 0 || scale_inv != nullptr, who, "scale_inv is null: pass ",
          gemm::scale_layout{mode, rows, cols}.count(), " device floats");
  const bool transposes = out_transposed != nullptr || scale_inv_transposed != nullptr;
  require(!transposes || mode != scale_mode::row_wise, who,
          "a transposed output with row_wise scales would need one scale per column of x; quantize the "
          "transpose on its own (per_tensor, block_1x128 and block_128x128 offer a transposed output)");
  require(mode != scale_mode::per_tensor || amax != nullptr, who,
          "per_tensor current scaling needs amax (a device float): the scale is computed from it");
  // per_tensor: *amax is this tensor's max |x|, the scale's input (see the top of the file).
  if (mode == scale_mode::per_tensor) zero_amax(amax, stream);
  if (n == 0) return;
  const block_outputs scales{scale_inv, gemm::scale_layout{mode, rows, cols}.stride(), scale_inv_transposed,
                             gemm::scale_layout{mode, cols, rows}.stride()};
  // The tile kernels (128x128, and 1x128 with the transpose): one thread
  // block per 128x128 tile, 16-element vectors where the rows allow them.
  const matrix_plan tile_plan{rows, cols, rows_allow_vectors(x, cols, 16), rows_allow_vectors(out, cols, 16),
                              rows_allow_vectors(out_transposed, rows, 16)};
  const unsigned tile_grid = grid_capped(gemm::ceil_div(rows, 128) * gemm::ceil_div(cols, 128), 4);
  switch (mode) {
    case scale_mode::per_tensor: {
      // Pass 1: amax. Pass 2: the cast with scale = block_scale(amax), which also stores 1 / scale.
      launch_amax(x, static_cast<std::size_t>(n), amax, stream);
      scale_source source;
      source.amax = amax;
      source.scale_inv = scale_inv;
      source.scale_inv_transposed = scale_inv_transposed;
      if (out_transposed == nullptr) {
        launch_quantize(x, static_cast<std::size_t>(n), source, out, nullptr, o, stream);
      } else {
        launch_quantize_transpose(x, rows, cols, source, out, out_transposed, nullptr, o, stream);
      }
      return;
    }
    case scale_mode::row_wise: {
      const matrix_plan plan{rows, cols, rows_allow_vectors(x, cols, 4), rows_allow_vectors(out, cols, 4), false};
      with_fast_path(o, [&](auto fast) {
        quantize_row_wise_kernel<Target, Source, decltype(fast)::value>
            <<<grid_capped(rows, 8), block_threads, 0, stream>>>(x, plan, out, scales, amax, o);
      });
      break;
    }
    case scale_mode::block_1x128: {
      if (transposes) {
        with_fast_path(o, [&](auto fast) {
          quantize_1x128_transpose_kernel<Target, Source, decltype(fast)::value>
              <<<tile_grid, block_threads, 0, stream>>>(x, tile_plan, out, out_transposed, scales, amax, o);
        });
        break;
      }
      const matrix_plan plan{rows, cols, rows_allow_vectors(x, cols, 4), rows_allow_vectors(out, cols, 4), false};
      const std::int64_t blocks = rows * gemm::ceil_div(cols, gemm::scale_block_size);
      with_fast_path(o, [&](auto fast) {
        quantize_1x128_kernel<Target, Source, decltype(fast)::value>
            <<<grid_capped(gemm::ceil_div(blocks, block_threads / 32), 8), block_threads, 0, stream>>>(
                x, plan, out, scales, amax, o);
      });
      break;
    }
    case scale_mode::block_128x128: {
      with_fast_path(o, [&](auto fast) {
        quantize_128x128_kernel<Target, Source, decltype(fast)::value>
            <<<tile_grid, block_threads, 0, stream>>>(x, tile_plan, out, out_transposed, scales, amax, o);
      });
      break;
    }
  }
  check_launch("mixprec::cuda::quantize_blockwise kernel launch");
}

/// out[i] = convert<Target>(float(q[i]) · *scale_inv), Target float, bfloat16 or
/// float16 (nearest even, overflow to inf). scale_inv null means 1.
///
/// Device pointers (scale_inv: one device float); stream-ordered.
/// \throws mixprec::error when n > 0 and q or out is null; mixprec::runtime_error when the launch fails.
template <class Target, class Source>
void dequantize(const Source* q, std::size_t n, const float* scale_inv, Target* out, cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  static_assert(is_basic_float<Source>::value, "dequantize reads mixprec value types (float8_e4m3, ...)");
  require(n == 0 || (q != nullptr && out != nullptr), "mixprec::cuda::dequantize: q and out must be device pointers");
  if (n == 0) return;
  const span_plan plan = plan_vectors(q, sizeof(Source), out, sizeof(Target), n);
  dequantize_kernel<Target, Source><<<grid_for(std::max(plan.vectors, plan.scalar_count())), block_threads, 0,
                                      stream>>>(q, plan, scale_inv, out);
  check_launch("mixprec::cuda::dequantize kernel launch");
}

/// Dequantisation with block scales: q [rows, cols], scale_inv in
/// gemm::scale_layout{mode, rows, cols}.
///
/// out is [rows, cols]; bits equal reference::dequantize_blockwise. Device pointers, stream-ordered.
/// \throws mixprec::error when rows or cols is negative, or for a non-empty tensor when q,
///         scale_inv or out is null; mixprec::runtime_error when the launch fails.
template <class Target, class Source>
void dequantize_blockwise(const Source* q, std::int64_t rows, std::int64_t cols, gemm::scale_mode mode,
                          const float* scale_inv, Target* out, cudaStream_t stream = nullptr) {
  using namespace cast_detail;
  gemm::checked_scale_layout(mode, rows, cols, "mixprec::cuda::dequantize_blockwise: ");
  cast::element_count(rows, cols, "mixprec::cuda::dequantize_blockwise: ");
  if (rows * cols == 0) return;
  require(q != nullptr && out != nullptr && scale_inv != nullptr,
          "mixprec::cuda::dequantize_blockwise: q, scale_inv and out must be device pointers");
  dequantize_blockwise_kernel<Target, Source><<<grid_for(static_cast<std::size_t>(rows * cols)), block_threads, 0,
                                                stream>>>(q, gemm::scale_layout{mode, rows, cols}, scale_inv, out);
  check_launch("mixprec::cuda::dequantize_blockwise kernel launch");
}

}  // namespace cuda
}  // namespace mixprec
