/// \file
/// mixprec/cuda/detail/cast_launch.hpp — the host side of mixprec/cuda/cast.hpp
/// below its public launchers: how a span splits into vectors (plan_vectors),
/// grid sizes, the alignment checks that allow vector accesses, the choice of
/// the paired-cvt fast path, and the launches that the per-tensor quantize
/// functions, current scaling and mixprec/cuda/block_cast.hpp share.
/// Internal (namespace mixprec::cuda::cast_detail): include mixprec/cuda/cast.hpp.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/cuda/detail/cast_device.hpp"
#include "mixprec/cuda/detail/cast_elementwise_kernels.hpp"
#include "mixprec/cuda/detail/cast_transpose_kernel.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {
namespace cast_detail {

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
}  // namespace cuda
}  // namespace mixprec
