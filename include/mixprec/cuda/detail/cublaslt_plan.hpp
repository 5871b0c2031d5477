/// \file
/// mixprec/cuda/detail/cublaslt_plan.hpp — the cuBLASLt side of
/// mixprec/cuda/scaled_gemm.hpp's plans: the gemm enums in cuBLASLt's
/// terms, the plan key (shape, leading dimensions, types, scale modes,
/// epilogue and the alignment of every pointer: see scaled_gemm.hpp's
/// "Plans") and its hash, the RAII owners of descriptors and layouts, the
/// pointer attributes a call rewrites, device scratch memory. Kept apart
/// from the engine (plan cache, workspaces, autotuning), which uses these.
/// The one public name here is scaled_gemm_plan_info, what a plan holds,
/// reached through mixprec/cuda/scaled_gemm.hpp; the rest is internal
/// (namespace mixprec::cuda::gemm_detail). Host code only.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/cublas_error.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/problem.hpp"

#if !defined(CUBLAS_VERSION) || CUBLAS_VERSION < 120900
#error "mixprec/cuda/scaled_gemm.hpp needs cuBLASLt 12.9 or newer (outer-vector and block scale modes)"
#endif

namespace mixprec {
namespace cuda {

/// What a plan holds, for reports and tests.
struct scaled_gemm_plan_info {
  int candidates = 0;             ///< heuristic results returned
  int chosen = 0;                 ///< index of the algorithm in use among them (0: the heuristic's first pick)
  int candidates_timed = 0;       ///< autotune only: candidates that ran (the others failed or needed more workspace)
  bool heuristic_first_timed = false;  ///< autotune only: whether candidate 0 ran (heuristic_first_ms is its time)
  float heuristic_first_ms = 0;   ///< autotune only: median time of candidate 0 in milliseconds (0 when it did not run)
  float chosen_ms = 0;            ///< autotune only: median time of the chosen candidate in milliseconds
  std::size_t workspace_bytes = 0;  ///< bytes of workspace the chosen algorithm needs
};

namespace gemm_detail {

inline cudaDataType_t cuda_type(gemm::element_type type) {
  switch (type) {
    case gemm::element_type::float32: return CUDA_R_32F;
    case gemm::element_type::bfloat16: return CUDA_R_16BF;
    case gemm::element_type::float16: return CUDA_R_16F;
    case gemm::element_type::float8_e4m3: return CUDA_R_8F_E4M3;
    case gemm::element_type::float8_e5m2: return CUDA_R_8F_E5M2;
  }
  return CUDA_R_32F;
}

inline std::int32_t cublas_scale_mode(gemm::scale_mode mode) {
  switch (mode) {
    case gemm::scale_mode::per_tensor: return CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
    case gemm::scale_mode::row_wise: return CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    case gemm::scale_mode::block_1x128: return CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    case gemm::scale_mode::block_128x128: return CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  }
  return CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
}

inline cublasLtEpilogue_t cublas_epilogue(gemm::epilogue op) {
  switch (op) {
    case gemm::epilogue::none: return CUBLASLT_EPILOGUE_DEFAULT;
    case gemm::epilogue::bias: return CUBLASLT_EPILOGUE_BIAS;
    case gemm::epilogue::relu: return CUBLASLT_EPILOGUE_RELU;
    case gemm::epilogue::bias_relu: return CUBLASLT_EPILOGUE_RELU_BIAS;
    case gemm::epilogue::gelu: return CUBLASLT_EPILOGUE_GELU;
    case gemm::epilogue::bias_gelu: return CUBLASLT_EPILOGUE_GELU_BIAS;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// The largest power of two (<= 256) dividing the address; 256 for null.
inline std::uint32_t alignment_of(const void* pointer) {
  const auto address = reinterpret_cast<std::uintptr_t>(pointer);
  std::uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// Everything a plan depends on. Pointers enter only through their presence
// and alignment: of the operands, and of the pointer attributes (scales,
// amax, bias), which the heuristic also sees.
struct plan_key {
  std::int64_t m, n, k, lda, ldb, ldc, ldd;
  gemm::element_type a_type, b_type, c_type, d_type, bias_type;
  gemm::scale_mode a_scaling, b_scaling;
  gemm::epilogue epilogue_op;
  bool fast_accumulation, reads_c, has_a_scale, has_b_scale, has_amax;
  std::uint32_t align_a, align_b, align_c, align_d;
  std::uint32_t align_a_scale, align_b_scale, align_d_scale, align_amax, align_bias;

  static plan_key of(const gemm::problem& p) {
    const bool reads_c = p.beta != 0.0f;
    plan_key key{};
    key.m = p.m;
    key.n = p.n;
    key.k = p.k;
    key.lda = p.a.ld;
    key.ldb = p.b.ld;
    key.ldc = reads_c ? p.c.ld : p.d.ld;  // unread C: described like D
    key.ldd = p.d.ld;
    key.a_type = p.a.type;
    key.b_type = p.b.type;
    key.c_type = p.c.type;
    key.d_type = p.d.type;
    key.bias_type = gemm::has_bias(p.epilogue_op) ? p.bias.type : gemm::element_type::float32;
    key.a_scaling = p.a.scaling;
    key.b_scaling = p.b.scaling;
    key.epilogue_op = p.epilogue_op;
    key.fast_accumulation = p.fast_accumulation;
    key.reads_c = reads_c;
    key.has_a_scale = p.a.scale != nullptr;
    key.has_b_scale = p.b.scale != nullptr;
    key.has_amax = p.d.amax != nullptr;
    key.align_a = alignment_of(p.a.data);
    key.align_b = alignment_of(p.b.data);
    key.align_c = alignment_of(reads_c ? p.c.data : nullptr);
    key.align_d = alignment_of(p.d.data);
    key.align_a_scale = alignment_of(p.a.scale);
    key.align_b_scale = alignment_of(p.b.scale);
    key.align_d_scale = alignment_of(gemm::is_fp8(p.d.type) ? p.d.scale : nullptr);
    key.align_amax = alignment_of(p.d.amax);
    key.align_bias = alignment_of(gemm::has_bias(p.epilogue_op) ? p.bias.data : nullptr);
    return key;
  }
  bool operator==(const plan_key& o) const {
    return m == o.m && n == o.n && k == o.k && lda == o.lda && ldb == o.ldb && ldc == o.ldc && ldd == o.ldd &&
           a_type == o.a_type && b_type == o.b_type && c_type == o.c_type && d_type == o.d_type &&
           bias_type == o.bias_type && a_scaling == o.a_scaling && b_scaling == o.b_scaling &&
           epilogue_op == o.epilogue_op && fast_accumulation == o.fast_accumulation && reads_c == o.reads_c &&
           has_a_scale == o.has_a_scale && has_b_scale == o.has_b_scale && has_amax == o.has_amax &&
           align_a == o.align_a && align_b == o.align_b && align_c == o.align_c && align_d == o.align_d &&
           align_a_scale == o.align_a_scale && align_b_scale == o.align_b_scale &&
           align_d_scale == o.align_d_scale && align_amax == o.align_amax && align_bias == o.align_bias;
  }
};

struct plan_key_hash {
  std::size_t operator()(const plan_key& key) const noexcept {
    std::size_t h = 0;
    auto mix = [&h](std::uint64_t v) { h ^= std::hash<std::uint64_t>{}(v) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2); };
    for (std::int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc, key.ldd}) mix(static_cast<std::uint64_t>(v));
    mix(static_cast<std::uint64_t>(key.a_type) | static_cast<std::uint64_t>(key.b_type) << 8 |
        static_cast<std::uint64_t>(key.c_type) << 16 | static_cast<std::uint64_t>(key.d_type) << 24 |
        static_cast<std::uint64_t>(key.bias_type) << 32 | static_cast<std::uint64_t>(key.a_scaling) << 40 |
        static_cast<std::uint64_t>(key.b_scaling) << 48 | static_cast<std::uint64_t>(key.epilogue_op) << 56);
    mix(static_cast<std::uint64_t>(key.fast_accumulation) | static_cast<std::uint64_t>(key.reads_c) << 1 |
        static_cast<std::uint64_t>(key.has_a_scale) << 2 | static_cast<std::uint64_t>(key.has_b_scale) << 3 |
        static_cast<std::uint64_t>(key.has_amax) << 4);
    mix(static_cast<std::uint64_t>(key.align_a) | static_cast<std::uint64_t>(key.align_b) << 16 |
        static_cast<std::uint64_t>(key.align_c) << 32 | static_cast<std::uint64_t>(key.align_d) << 48);
    mix(static_cast<std::uint64_t>(key.align_a_scale) | static_cast<std::uint64_t>(key.align_b_scale) << 12 |
        static_cast<std::uint64_t>(key.align_d_scale) << 24 | static_cast<std::uint64_t>(key.align_amax) << 36 |
        static_cast<std::uint64_t>(key.align_bias) << 48);
    return h;
  }
};

// RAII owners of cuBLASLt objects.
struct desc_deleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const noexcept { cublasLtMatmulDescDestroy(d); }
};
struct layout_deleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const noexcept { cublasLtMatrixLayoutDestroy(l); }
};
struct preference_deleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const noexcept { cublasLtMatmulPreferenceDestroy(p); }
};
using matmul_desc = std::unique_ptr<cublasLtMatmulDescOpaque_t, desc_deleter>;
using matrix_layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, layout_deleter>;
using matmul_preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, preference_deleter>;

// A cuBLAS status other than success becomes a message saying what was asked.
inline void check_cublas(cublasStatus_t status, const char* call, const gemm::problem& p) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw cublas_error(status, mixprec::detail::make_message("mixprec::cuda::scaled_gemm: ", call, " returned ",
                                                             cublasLtGetStatusName(status), " (",
                                                             cublasLtGetStatusString(status), ") for ",
                                                             gemm::describe(p)));
  }
}

template <class T>
void set_attribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value,
                   const gemm::problem& p) {
  check_cublas(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)),
               "cublasLtMatmulDescSetAttribute", p);
}

// One plan: the descriptors, the chosen algorithm, and the pointer attributes
// last written to the descriptor (a call rewrites only those that changed).
struct plan {
  matmul_desc desc;
  matrix_layout a_layout, b_layout, c_layout, d_layout;  // cuBLAS's A (our B), B (our A), C, D
  cublasLtMatmulAlgo_t algo{};
  scaled_gemm_plan_info info;
  const void* pointers[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};  // A scale, B scale, D scale, amax, bias
  bool launched = false;  // the kernel has run once (outside any capture): run(), prepare() or autotuning
};

// The attributes whose values are pointers, in plan::pointers order.
constexpr cublasLtMatmulDescAttributes_t pointer_attributes[5] = {
    CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER,
    CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, CUBLASLT_MATMUL_DESC_BIAS_POINTER};

// The pointers of a call in plan::pointers order, in cuBLAS's naming (its A
// is our B).
inline void call_pointers(const gemm::problem& p, const void* (&out)[5]) {
  out[0] = p.b.scale;
  out[1] = p.a.scale;
  out[2] = gemm::is_fp8(p.d.type) ? p.d.scale : nullptr;
  out[3] = p.d.amax;
  out[4] = gemm::has_bias(p.epilogue_op) ? p.bias.data : nullptr;
}

inline void update_pointers(plan& pl, const gemm::problem& p) {
  const void* wanted[5];
  call_pointers(p, wanted);
  for (int i = 0; i < 5; ++i) {
    if (wanted[i] != pl.pointers[i]) {
      set_attribute(pl.desc.get(), pointer_attributes[i], wanted[i], p);
      pl.pointers[i] = wanted[i];
    }
  }
}

inline matrix_layout make_layout(gemm::element_type type, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                 const gemm::problem& p) {
  cublasLtMatrixLayout_t layout = nullptr;
  check_cublas(cublasLtMatrixLayoutCreate(&layout, cuda_type(type), static_cast<std::uint64_t>(rows),
                                          static_cast<std::uint64_t>(cols), ld),
               "cublasLtMatrixLayoutCreate", p);
  return matrix_layout(layout);
}

struct device_memory_deleter {
  void operator()(void* pointer) const noexcept { cudaFree(pointer); }
};
using device_memory = std::unique_ptr<void, device_memory_deleter>;

inline device_memory allocate(std::size_t bytes) {
  void* pointer = nullptr;
  check(cudaMalloc(&pointer, bytes), "cudaMalloc (scaled_gemm workspace)");
  return device_memory(pointer);
}

// Outputs for runs whose results nobody reads (autotuning, prepare()'s
// warm-up): a D of p's extent and, when p has one, an amax.
struct scratch_outputs {
  device_memory d, amax;
  explicit scratch_outputs(const gemm::problem& p)
      : d(allocate(static_cast<std::size_t>((p.m - 1) * p.d.ld + p.n) * gemm::size_of(p.d.type))),
        amax(p.d.amax != nullptr ? allocate(sizeof(float)) : device_memory()) {}
  float* amax_pointer() const { return static_cast<float*>(amax.get()); }
};

inline bool is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

}  // namespace gemm_detail

}  // namespace cuda
}  // namespace mixprec
