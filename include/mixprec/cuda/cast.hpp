/// \file
/// mixprec/cuda/cast.hpp — fused FP8 cast kernels (nvcc only).
///
/// ~~~~
///   quantize(x, n, scale, out, amax)                 q = convert<T>(x · scale), amax raised to max|x|, one pass
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
/// update); null means 1.
///
/// amax slots are RAISED, never zeroed: a launcher that takes an amax pointer
/// makes *amax = max(*amax, max |x|) with one atomicMax on the float bits per
/// block (magnitudes are non-negative, so their bit patterns order like the
/// values, and NaN orders above +inf, as in the reference). This is
/// TransformerEngine's rule: several casts that record into one slot within a
/// step (a tensor cast in pieces, or twice) leave the largest magnitude of all
/// of them, and whoever consumes the slot resets it — device_delayed_scaling::
/// update() records and zeroes every slot (mixprec/cuda/fp8_scaling.hpp).
/// Precondition: the slot holds a non-negative float or NaN (0 to start; a
/// negative value's bit pattern orders above every magnitude). The one
/// exception is quantize_blockwise with per_tensor (current scaling): there
/// *amax is the input of the launch's own second pass, the scale, so it is set
/// to this tensor's max |x| (zeroed, then raised).
///
/// Any length and alignment: 16-element vectors (16-byte loads and stores)
/// wherever input and output are both 16-byte aligned, scalar head and tail
/// elsewhere, scalar everything when no common alignment exists. Element index i
/// (for stochastic rounding) is always the row-major index in x.
///
/// The kernels and their helpers live in mixprec/cuda/detail/, one file per
/// concern: cast_device.hpp (device helpers, the swizzled tile layout, the
/// element encoder), cast_elementwise_kernels.hpp (1-D quantize, amax,
/// dequantize), cast_transpose_kernel.hpp (the 64x64 cast-transpose),
/// cast_block_scale_kernels.hpp (row-wise, 1x128 and 128x128 scales from the
/// data) and cast_launch.hpp (grids, alignment, the shared launches). This
/// header holds the public launchers, which validate everything before the
/// first launch.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/cuda/detail/cast_block_scale_kernels.hpp"
#include "mixprec/cuda/detail/cast_device.hpp"
#include "mixprec/cuda/detail/cast_launch.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace cuda {

/// q[i] = convert<Target>(x[i] · *scale) for i < n, and *amax raised to max |x[i]|
/// (amax may be null; the slot rule at the top of this file). scale null means 1.
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

/// Cast-transpose: x is [rows, cols] row-major; out (may be null) receives q
/// [rows, cols], out_transposed (may be null) qᵀ [cols, rows], amax (may be
/// null) raised to max |x|.
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

/// *amax raised to max |x[i]| over i < n (amax must point to a device float
/// holding 0, or an earlier value to keep if larger).
///
/// Leaves *amax unchanged for n == 0; NaN if any x is NaN (as reference::amax).
/// Device pointers, stream-ordered.
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

/// Scales computed from the data (current scaling), one per block of `mode`,
/// exactly as reference::quantize_blockwise: x [rows, cols] row-major, q to
/// out [rows, cols], 1 / scale of each block to scale_inv in the layout
/// gemm::scale_layout{mode, rows, cols}. With per_tensor, block_1x128 or
/// block_128x128, out_transposed / scale_inv_transposed (may be null) receive
/// qᵀ and its scales in the transposed operand's layout, as
/// reference::quantize_blockwise defines them (1x128 blocks of the transpose
/// run down 128 rows of x and have scales of their own). amax receives max |x|
/// (set with per_tensor, raised with the block modes); per_tensor needs it (the
/// scale is computed from it in a first pass), the block modes take null or a
/// slot to raise.
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
