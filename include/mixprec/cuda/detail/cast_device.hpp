/// \file
/// mixprec/cuda/detail/cast_device.hpp — the device helpers every cast kernel
/// of mixprec/cuda/cast.hpp (and mixprec/cuda/block_cast.hpp) is built from:
/// block size and vector width, warp/block maxima and the amax slot rule,
/// 4/8/16-byte vector loads and stores, the swizzled shared-memory tile layout
/// of the cast-transpose kernels, the element encoder (the engine, or the
/// paired cvt.rn.satfinite fast path), and the two structures more than one
/// kernel family takes: where a per-tensor scale comes from (scale_source) and
/// a row-major matrix's plan (matrix_plan). Kept apart from the kernels so
/// that each kernel family's header reads as its algorithm only.
/// Internal (namespace mixprec::cuda::cast_detail): include mixprec/cuda/cast.hpp.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/cuda/detail/block_reduce.hpp"
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

using reduce_detail::block_max;  // the maximum to every thread (cuda/detail/block_reduce.hpp)
using reduce_detail::warp_max;

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

// ---- What several kernel families take ----------------------------------

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

// A row-major [rows, cols] matrix and whether its rows allow vector accesses
// (rows_allow_vectors in cast_launch.hpp) for x, out and out_transposed.
struct matrix_plan {
  std::int64_t rows, cols;
  bool vector_in, vector_out, vector_out_transposed;
};

}  // namespace cast_detail
}  // namespace cuda
}  // namespace mixprec
