// mixprec/cuda/block_scaled_gemm.hpp — the block-scaled (MX, NVFP4) GEMM of
// mixprec/gemm/block_scaled.hpp on the GPU, through cuBLASLt (12.8 or newer,
// Blackwell: compute capability 10.x or 12.x).
//
//   mixprec::cuda::block_scaled_gemm(problem, handle, workspace, workspace_bytes, stream);
//
// Device pointers in the problem. On any other device (Hopper included) the
// call throws mixprec::error from gemm::validate_for_cublaslt before any
// cuBLASLt call, saying that these GEMMs need Blackwell.
//
// The cuBLASLt attributes, as for the FP8 GEMM (mixprec/cuda/scaled_gemm.hpp,
// whose row-major-onto-column-major mapping this follows: D[M,N] = A[M,K] ·
// B[N,K]ᵀ is cuBLAS's Dᶜ[N,M] = op(Aᶜ) · Bᶜ with Aᶜ := our B, op = T, Bᶜ :=
// our A, "TN"): CUBLAS_COMPUTE_32F with CUDA_R_32F alpha/beta;
// CUBLASLT_MATMUL_DESC_{A,B}_SCALE_MODE = CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0
// (MX) or ..._VEC16_UE4M3 (NVFP4), from cublasLt.h's cublasLtMatmulMatrixScale_t;
// CUBLASLT_MATMUL_DESC_{A,B}_SCALE_POINTER = our B's and our A's block scales
// (swapped with their operands), in the 128x4 tiled layout
// (mixprec/gemm/block_scale_layout.hpp); element types CUDA_R_8F_E4M3,
// CUDA_R_8F_E5M2 or CUDA_R_4F_E2M1 (packed); beta = 0, C described as D.
// NVFP4's tensor scales travel in alpha (gemm::nvfp4_alpha).
//
// This path compiles here (nvcc, sm_90a) but has not run: no Blackwell GPU has
// been available. The plan cache, autotuning and graph capture of
// scaled_gemm_engine are not offered for it yet: each call builds its
// descriptors and asks the heuristic once.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/cuda/scaled_gemm.hpp"
#include "mixprec/gemm/block_scaled.hpp"

namespace mixprec {
namespace cuda {
namespace gemm_detail {

inline cudaDataType_t cuda_type(gemm::block_element type) {
  switch (type) {
    case gemm::block_element::float8_e4m3: return CUDA_R_8F_E4M3;
    case gemm::block_element::float8_e5m2: return CUDA_R_8F_E5M2;
    case gemm::block_element::float6_e2m3: return CUDA_R_6F_E2M3;
    case gemm::block_element::float6_e3m2: return CUDA_R_6F_E3M2;
    case gemm::block_element::float4_e2m1: return CUDA_R_4F_E2M1;
  }
  return CUDA_R_8F_E4M3;
}

inline void check_block_scaled(cublasStatus_t status, const char* call, const gemm::block_scaled_problem& p) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw cublas_error(status, mixprec::detail::make_message("mixprec::cuda::block_scaled_gemm: ", call, " returned ",
                                                             cublasLtGetStatusName(status), " (",
                                                             cublasLtGetStatusString(status), ") for ",
                                                             gemm::describe(p)));
}

// What the current device and this cuBLASLt offer, for validate_for_cublaslt.
inline gemm::device_capabilities current_device_capabilities() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  gemm::device_capabilities capabilities;
  check(cudaDeviceGetAttribute(&capabilities.compute_capability_major, cudaDevAttrComputeCapabilityMajor, device),
        "cudaDeviceGetAttribute (compute capability major)");
  check(cudaDeviceGetAttribute(&capabilities.compute_capability_minor, cudaDevAttrComputeCapabilityMinor, device),
        "cudaDeviceGetAttribute (compute capability minor)");
  capabilities.cublaslt_version = cublasLtGetVersion();
  return capabilities;
}

}  // namespace gemm_detail

/// Runs the block-scaled GEMM `p` (device pointers; see
/// mixprec/gemm/block_scaled.hpp) on `stream` with cuBLASLt handle `handle`
/// and `workspace_bytes` of device memory at `workspace` (may be 0 / null).
/// Asynchronous like cublasLtMatmul: D is ready when the stream is.
/// @throws mixprec::error from gemm::validate_for_cublaslt(p, this device)
///         before any cuBLASLt call (on Hopper: that these GEMMs need
///         Blackwell, sm_100 or later); cuda::cublas_error when cuBLASLt
///         returns another status or offers no algorithm
///         (CUBLAS_STATUS_NOT_SUPPORTED); mixprec::runtime_error from the
///         CUDA runtime queries.
inline void block_scaled_gemm(const gemm::block_scaled_problem& p, cublasLtHandle_t handle, void* workspace,
                              std::size_t workspace_bytes, cudaStream_t stream) {
  using namespace gemm_detail;
  gemm::validate_for_cublaslt(p, current_device_capabilities());
  require(handle != nullptr, "mixprec::cuda::block_scaled_gemm: handle is null; pass a cublasLtCreate handle");
  require(workspace_bytes == 0 || workspace != nullptr, "mixprec::cuda::block_scaled_gemm: workspace is null but ",
          "workspace_bytes = ", workspace_bytes);

  cublasLtMatmulDesc_t raw_desc = nullptr;
  check_block_scaled(cublasLtMatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate",
                     p);
  const matmul_desc desc(raw_desc);
  const auto set = [&](cublasLtMatmulDescAttributes_t attribute, const void* value, std::size_t size) {
    check_block_scaled(cublasLtMatmulDescSetAttribute(desc.get(), attribute, value, size),
                       "cublasLtMatmulDescSetAttribute", p);
  };
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  set(CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose));
  set(CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof(no_transpose));
  const std::int32_t mode = p.scaling == gemm::block_scaling::mx_vec32_ue8m0 ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0
                                                                             : CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3;
  set(CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof(mode));
  set(CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof(mode));
  const void* const a_scales = p.b.scales;  // cuBLAS's A is our B
  const void* const b_scales = p.a.scales;
  set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scales, sizeof(a_scales));
  set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scales, sizeof(b_scales));

  const auto layout = [&](cudaDataType_t type, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    cublasLtMatrixLayout_t raw = nullptr;
    check_block_scaled(cublasLtMatrixLayoutCreate(&raw, type, static_cast<std::uint64_t>(rows),
                                                  static_cast<std::uint64_t>(cols), ld),
                       "cublasLtMatrixLayoutCreate", p);
    return matrix_layout(raw);
  };
  // Column-major views: our B is K x N (ld = ldb), our A is K x M, D is N x M.
  const matrix_layout a_layout = layout(cuda_type(p.b.type), p.k, p.n, p.b.ld);
  const matrix_layout b_layout = layout(cuda_type(p.a.type), p.k, p.m, p.a.ld);
  const matrix_layout d_layout = layout(gemm_detail::cuda_type(p.d.type), p.n, p.m, p.d.ld);

  cublasLtMatmulPreference_t raw_preference = nullptr;
  check_block_scaled(cublasLtMatmulPreferenceCreate(&raw_preference), "cublasLtMatmulPreferenceCreate", p);
  const matmul_preference preference(raw_preference);
  const std::uint64_t workspace_limit = workspace_bytes;
  check_block_scaled(cublasLtMatmulPreferenceSetAttribute(preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                          &workspace_limit, sizeof(workspace_limit)),
                     "cublasLtMatmulPreferenceSetAttribute", p);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  check_block_scaled(cublasLtMatmulAlgoGetHeuristic(handle, desc.get(), a_layout.get(), b_layout.get(), d_layout.get(),
                                                    d_layout.get(), preference.get(), 1, &result, &found),
                     "cublasLtMatmulAlgoGetHeuristic", p);
  if (found == 0)
    check_block_scaled(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm)", p);
  const float beta = 0.0f;
  check_block_scaled(cublasLtMatmul(handle, desc.get(), &p.alpha, p.b.data, a_layout.get(), p.a.data, b_layout.get(),
                                    &beta, p.d.data, d_layout.get(), p.d.data, d_layout.get(), &result.algo, workspace,
                                    workspace_bytes, stream),
                     "cublasLtMatmul", p);
}

}  // namespace cuda
}  // namespace mixprec
