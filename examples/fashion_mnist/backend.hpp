// examples/fashion_mnist/backend.hpp — GEMM operands and GEMM calls of the
// demo, over mixprec's CPU reference (defined in backend.cpp: the library's
// quantizers and reference GEMM are instantiated there, in a file of their
// own, so that the demo's files compile in parallel).
//
// Casts go through mixprec::reference::quantize / quantize_blockwise (the
// host counterparts of the cast kernels: x · scale rounded once by the
// engine, amax in the same pass, optional cast-transpose), GEMMs through
// mixprec::reference::scaled_gemm (operands decoded exactly, exact products,
// FP32 accumulation, scales as dequantisation factors). This file only
// dispatches on the recipe's element types and owns the buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/scaling/block_recipes.hpp"
#include "numerics.hpp"

namespace fashion_mnist {

using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

// One GEMM input: [rows, cols] row-major, cols = K contiguous, in its format,
// with dequantisation factors (scale_inv) in `mode`'s layout. The data lives
// in `storage`, or elsewhere (an optimizer's model copy) when `data` says so.
struct gemm_operand {
  element_type type = element_type::float32;
  std::int64_t rows = 0, cols = 0;
  std::vector<unsigned char> storage;
  const void* data = nullptr;
  scale_mode mode = scale_mode::per_tensor;
  std::vector<float> scale_inv = {1.0f};

  // Storage for a [rows, cols] operand of `t`; data points at it.
  void* allocate(element_type t, std::int64_t r, std::int64_t c) {
    type = t;
    rows = r;
    cols = c;
    storage.resize(static_cast<std::size_t>(r * c) * mixprec::gemm::size_of(t));
    data = storage.data();
    return storage.data();
  }
  // An operand whose elements live elsewhere (and outlive it).
  void refer_to(const void* elements, element_type t, std::int64_t r, std::int64_t c, float dequantisation) {
    type = t;
    rows = r;
    cols = c;
    data = elements;
    mode = scale_mode::per_tensor;
    scale_inv.assign(1, dequantisation);
  }
};

// q = convert(x · scale) (and, if `transposed` is not null, qᵀ in the same
// pass); the dequantisation factor is 1 / scale. FP32 is a copy. Returns amax(x).
float cast_per_tensor(const float* x, std::int64_t rows, std::int64_t cols, element_type type, float scale,
                      gemm_operand* out, gemm_operand* transposed);

// Scales from each block's own amax (1x128 or 128x128 blocks, current
// scaling); `transposed` (128x128 only) receives qᵀ with its scales.
void cast_blockwise(const float* x, std::int64_t rows, std::int64_t cols, element_type type, scale_mode mode,
                    gemm_operand& out, gemm_operand* transposed = nullptr);

// What a block cast did to a tensor, for the numerics report.
struct block_cast_report {
  cast_census census;         // in the operand's own element format, at its block scales
  std::vector<float> scaled;  // x divided by each element's decode factor, in x's order (0 where x is 0)
};

// Quantizes x [rows, cols] as operand `role` of `recipe` (MX or NVFP4 with
// the operand's element type, block shape, scale rule and rounding, in the
// operand's orientation, always from x itself: the column-wise copies the
// wgrad GEMM reads are quantized from the high-precision data, never from a
// quantized copy) and stores it dequantized, [lines, length] K-contiguous, as
// an FP32 operand, so that gemm_nt runs it through the CPU reference GEMM:
//  - MX: out = q · X (cast::mx_decode), exact: E8M0 scales are powers of two;
//  - NVFP4: out = q · d (E2M1 times the E4M3 block scale: at most 6
//    significant bits, exact in float) with the per-tensor factor 1 / S as
//    the operand's scale_inv, which scaled_gemm applies to the finished sum,
//    as cuBLASLt applies alpha = 1 / (S_a · S_b) (the two factors are
//    multiplied in float: within two roundings of that alpha). With the
//    random Hadamard transform the values stay in the transformed domain:
//    both wgrad operands are transformed along K with the same signs, so
//    their product needs no inverse ((DH/4)(DH/4)ᵀ = I, nvfp4_rules.hpp).
// This emulation of the block-scaled GEMM is exact: every product of two
// dequantized values (at most 8 + 8 significant bits for MX, 6 + 6 for
// NVFP4, far inside float's exponent range for this model's tensors) is a
// float, and it is the product the block-scaled GEMM forms from the
// elements and their block scales; the FP32 sums over K then follow
// reference::block_scaled_gemm's definition (K order, FP32 accumulator).
// `seed` and `offset` feed stochastic rounding. When `report` is not null
// (operands without the transform only) it receives what the cast did to x.
void cast_block_scaled(const float* x, std::int64_t rows, std::int64_t cols,
                       const mixprec::block_scaling_recipe& recipe, mixprec::linear_operand role,
                       std::uint64_t seed, std::uint64_t offset, gemm_operand& out,
                       block_cast_report* report = nullptr);

// The transposed copy of a per-tensor operand: the same values and scale
// (what the cast-transpose output would hold).
void transpose_operand(const gemm_operand& in, gemm_operand& out);

// D[M, N] = (sA ⊙ A) · (sB ⊙ B)ᵀ with A = a [M, K] and B = b [N, K], FP32
// accumulation, D converted to d_type (BF16/FP16: nearest even, overflow to inf).
void gemm_nt(const gemm_operand& a, const gemm_operand& b, element_type d_type, void* d);

}  // namespace fashion_mnist
