// mixprec/cuda/scaled_gemm.hpp — the scaled GEMM of mixprec/gemm/problem.hpp
// on the GPU, through cuBLASLt (13.x; FP8 on Ada and Hopper).
//
//   mixprec::cuda::scaled_gemm_engine engine;          // this device; options below
//   engine.run(problem, stream);                        // device pointers in the problem
//   mixprec::cuda::scaled_gemm(problem, stream);        // the same with a per-thread default engine
//
// Host code only (cuda_runtime.h, cublasLt.h): compiles with nvcc and with
// g++/clang++; link CUDA::cudart and CUDA::cublasLt (the mixprec::cuda target).
//
// Row-major onto column-major. cuBLASLt is column-major; a row-major [R, C]
// matrix with leading dimension ld is the column-major [C, R] matrix with the
// same ld. So D[M,N] = A[M,K] · B[N,K]ᵀ (all row-major) is computed as the
// column-major product
//     Dᶜ[N,M] = op(Aᶜ) · Bᶜ,   Aᶜ := our B (K x N, ld = ldb, op = T),
//                              Bᶜ := our A (K x M, ld = lda, op = N),
//     cuBLAS (m, n, k) = (N, M, K),  Cᶜ, Dᶜ: N x M with ldc, ldd,
// which is cuBLASLt's "TN" FP8 layout. Scales swap with their operands (the
// A scale pointer of the descriptor carries our B's scales); per-row ("outer
// vector") scales of our B are cuBLAS's m-vector, those of our A its
// n-vector; the bias runs along cuBLAS's m = our N, one value per column of D.
// The 1x128 / 128x128 scale layouts of gemm/scale_layout.hpp are the ones
// cuBLASLt reads for these column-major operands. How the forward, dgrad and
// wgrad GEMMs of a linear layer map onto A[M,K] · B[N,K]ᵀ with the cast-
// transpose outputs is in gemm/problem.hpp.
//
// Plans. The descriptors (RAII), the layouts and the chosen algorithm are
// built once per key: shape, leading dimensions, types, scale modes,
// epilogue, fast accumulation, which optional pointers are present, and the
// alignment (up to 256 bytes) of every pointer the call passes — A, B, C, D,
// and the scale, amax and bias pointers too: the heuristic sees those in the
// descriptor and may pick a kernel that needs their alignment, so a plan made
// with a 16-byte-aligned bias is never reused with a 2-byte-aligned one
// (which could fault, a sticky error that ends the process). A call with a known key validates
// the problem (gemm::validate_for_cublaslt, a pure host check), updates the
// pointer attributes that changed, and calls cublasLtMatmul. With
// options.autotune, the first call of a key times the top heuristic
// candidates on the caller's stream (into scratch outputs, never the
// caller's D) and keeps the fastest.
//
// Workspace. Each stream gets its own workspace (32 MiB by default,
// cudaMalloc'd, so 256-byte aligned) on its first call; kernels on different
// streams never share one. release_stream() frees a stream's workspace
// (call it before destroying the stream if the engine lives on).
//
// CUDA graphs. A call is capturable once its plan and its stream's workspace
// exist and its kernel has run once: call run() or prepare() for that problem
// and stream before cudaStreamBeginCapture. prepare() launches the plan once
// into scratch outputs (so cuBLASLt's first launch of the kernel, and CUDA's
// lazy loading of its module, happen outside the capture) and synchronises
// the stream. During capture, a call that would have to create a plan or a
// workspace throws instead of allocating.
//
// Errors. A cuBLASLt status other than success throws cuda::cublas_error
// (a mixprec::runtime_error) carrying the status: CUBLAS_STATUS_NOT_SUPPORTED
// or CUBLAS_STATUS_INVALID_VALUE when this cuBLASLt or device does not offer
// a combination (both are documented for unsupported attribute combinations).
//
// Threads. An engine serialises its calls on a mutex, so it may be shared;
// for concurrent host threads use one engine each (the default engine of
// scaled_gemm() is per thread and device).
/// \file
/// mixprec/cuda/scaled_gemm.hpp — the scaled GEMM of mixprec/gemm/problem.hpp
/// on the GPU, through cuBLASLt (13.x; FP8 on Ada and Hopper).
///
/// ~~~~
///   mixprec::cuda::scaled_gemm_engine engine;          // this device; options below
///   engine.run(problem, stream);                        // device pointers in the problem
///   mixprec::cuda::scaled_gemm(problem, stream);        // the same with a per-thread default engine
/// ~~~~
///
/// Host code only (cuda_runtime.h, cublasLt.h): compiles with nvcc and with
/// g++/clang++; link CUDA::cudart and CUDA::cublasLt (the mixprec::cuda target).
///
/// Row-major onto column-major. cuBLASLt is column-major; a row-major [R, C]
/// matrix with leading dimension ld is the column-major [C, R] matrix with the
/// same ld. So D[M,N] = A[M,K] · B[N,K]ᵀ (all row-major) is computed as the
/// column-major product
///
/// ~~~~
///     Dᶜ[N,M] = op(Aᶜ) · Bᶜ,   Aᶜ := our B (K x N, ld = ldb, op = T),
///                              Bᶜ := our A (K x M, ld = lda, op = N),
///     cuBLAS (m, n, k) = (N, M, K),  Cᶜ, Dᶜ: N x M with ldc, ldd,
/// ~~~~
///
/// which is cuBLASLt's "TN" FP8 layout. Scales swap with their operands (the
/// A scale pointer of the descriptor carries our B's scales); per-row ("outer
/// vector") scales of our B are cuBLAS's m-vector, those of our A its
/// n-vector; the bias runs along cuBLAS's m = our N, one value per column of D.
/// The 1x128 / 128x128 scale layouts of gemm/scale_layout.hpp are the ones
/// cuBLASLt reads for these column-major operands. How the forward, dgrad and
/// wgrad GEMMs of a linear layer map onto A[M,K] · B[N,K]ᵀ with the cast-
/// transpose outputs is in gemm/problem.hpp.
///
/// Plans. The descriptors (RAII), the layouts and the chosen algorithm are
/// built once per key: shape, leading dimensions, types, scale modes,
/// epilogue, fast accumulation, which optional pointers are present, and the
/// pointers' alignment (up to 256 bytes). A call with a known key validates
/// the problem (gemm::validate_for_cublaslt, a pure host check), updates the
/// pointer attributes that changed, and calls cublasLtMatmul. With
/// options.autotune, the first call of a key times the top heuristic
/// candidates on the caller's stream (into scratch outputs, never the
/// caller's D) and keeps the fastest.
///
/// Workspace. Each stream gets its own workspace (32 MiB by default,
/// cudaMalloc'd, so 256-byte aligned) on its first call; kernels on different
/// streams never share one. release_stream() frees a stream's workspace
/// (call it before destroying the stream if the engine lives on).
///
/// CUDA graphs. A call is capturable once its plan and its stream's workspace
/// exist: call run() or prepare() for that problem and stream before
/// cudaStreamBeginCapture. During capture, a call that would have to create
/// either throws instead of allocating.
///
/// Threads. An engine serialises its calls on a mutex, so it may be shared;
/// for concurrent host threads use one engine each (the default engine of
/// scaled_gemm() is per thread and device).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/validate.hpp"

#if !defined(CUBLAS_VERSION) || CUBLAS_VERSION < 120900
#error "mixprec/cuda/scaled_gemm.hpp needs cuBLASLt 12.9 or newer (outer-vector and block scale modes)"
#endif

namespace mixprec {
namespace cuda {

/// Options of a scaled_gemm_engine, fixed at its construction.
struct scaled_gemm_options {
  /// Bytes of cuBLASLt workspace per stream (a multiple of 256; default 32 MiB), cudaMalloc'd
  /// on the stream's first call; algorithms needing more are not used.
  std::size_t workspace_bytes = std::size_t{32} << 20;  // per stream
  /// Time the top heuristic candidates once per plan, on the first call of its key (this
  /// synchronises with the stream), and keep the fastest; if none runs, that call
  /// throws mixprec::error.
  bool autotune = false;
  int autotune_candidates = 8;  ///< how many heuristic results to time (the heuristic returns up to this many); >= 1
  int autotune_repetitions = 5; ///< timed runs per candidate (after one warm-up); the median counts; >= 1
};

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

/// A cuBLASLt call that returned a status other than CUBLAS_STATUS_SUCCESS.
/// what() names the call, the status and the problem; status() is the status
/// itself, so callers can tell "not offered here" (CUBLAS_STATUS_NOT_SUPPORTED,
/// or CUBLAS_STATUS_INVALID_VALUE, which cuBLASLt also returns for attribute
/// combinations it does not support) from other failures.
class cublas_error : public mixprec::runtime_error {
 public:
  /// `message` becomes what(); `status` is kept for status().
  cublas_error(cublasStatus_t status, const std::string& message) : mixprec::runtime_error(message), status_(status) {}
  /// The cuBLASLt status that was returned.
  cublasStatus_t status() const noexcept { return status_; }

 private:
  cublasStatus_t status_;
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

/// The scaled GEMM of gemm::problem on one device, through cuBLASLt, with a plan
/// cache keyed by shape/types/scale modes/epilogue/alignment and one workspace per
/// stream (see this file's description for plans, workspaces, graphs and threads).
///
/// Non-copyable; calls are serialised on a mutex. Every pointer in a problem is a
/// device pointer; calls are stream-ordered (no host sync, except autotuning).
class scaled_gemm_engine {
 public:
  using options = scaled_gemm_options;  ///< The engine's options type.

  /// Binds to the current device: queries its compute capability and the
  /// cuBLASLt version, and creates the cuBLASLt handle.
  /// \throws mixprec::error when o.workspace_bytes is not a multiple of 256 or an
  ///         autotune count is < 1; mixprec::runtime_error when a CUDA or cuBLASLt call fails.
  explicit scaled_gemm_engine(const options& o = {}) : options_(o), device_(current_device()) {
    require(o.workspace_bytes % 256 == 0, "mixprec::cuda::scaled_gemm_engine: workspace_bytes = ", o.workspace_bytes,
            " must be a multiple of 256");
    require(o.autotune_candidates >= 1 && o.autotune_repetitions >= 1,
            "mixprec::cuda::scaled_gemm_engine: autotune_candidates and autotune_repetitions must be >= 1");
    check(cudaDeviceGetAttribute(&capabilities_.compute_capability_major, cudaDevAttrComputeCapabilityMajor, device_),
          "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&capabilities_.compute_capability_minor, cudaDevAttrComputeCapabilityMinor, device_),
          "cudaDeviceGetAttribute");
    capabilities_.cublaslt_version = cublasLtGetVersion();
    cublasLtHandle_t handle = nullptr;
    const cublasStatus_t status = cublasLtCreate(&handle);
    if (status != CUBLAS_STATUS_SUCCESS) {
      throw mixprec::runtime_error(mixprec::detail::make_message("mixprec::cuda::scaled_gemm_engine: cublasLtCreate "
                                                                 "returned ",
                                                                 cublasLtGetStatusName(status)));
    }
    handle_ = handle;
  }
  scaled_gemm_engine(const scaled_gemm_engine&) = delete;
  scaled_gemm_engine& operator=(const scaled_gemm_engine&) = delete;
  ~scaled_gemm_engine() {
    plans_.clear();
    workspaces_.clear();
    if (handle_ != nullptr) cublasLtDestroy(handle_);
  }

  /// D = epilogue(alpha (sA A)(sB B)ᵀ + beta C + bias) on `stream`, device
  /// pointers in p. Throws mixprec::error when p breaks a rule of
  /// gemm::validate_for_cublaslt (before any cuBLASLt call), and
  /// mixprec::runtime_error when CUDA or cuBLASLt fails.
  ///
  /// Builds the plan and the stream's workspace on first use.
  /// \throws mixprec::error also when another device is current than the engine's, or
  ///         when the stream is being captured and the plan or workspace does not exist yet.
  void run(const gemm::problem& p, cudaStream_t stream = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    gemm_detail::plan& pl = plan_for(p, stream);
    void* workspace = workspace_for(stream, p);
    launch(pl, p, p.d.data, p.d.amax, workspace, stream);
    if (!pl.launched && !gemm_detail::is_capturing(stream)) pl.launched = true;
  }

  // Makes later calls of p on `stream` capturable in a CUDA graph: builds the
  // plan (autotuning it if enabled) and the stream's workspace, and — unless
  // the plan has run before — launches it once into scratch outputs (reading
  // p's A, B, C, scales and bias, writing neither D nor amax), so that the
  // kernel's first launch and its module's lazy loading happen here, not
  // inside the capture. Synchronises `stream`; not capturable itself.
  /// Builds the plan of p (autotuning it if enabled, which runs it) and the
  /// stream's workspace, so that later calls can be captured in a graph.
  /// \throws mixprec::error and mixprec::runtime_error as run() does.
  void prepare(const gemm::problem& p, cudaStream_t stream = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    require(!gemm_detail::is_capturing(stream), "mixprec::cuda::scaled_gemm_engine::prepare: the stream is being "
            "captured; call prepare() before cudaStreamBeginCapture");
    gemm_detail::plan& pl = plan_for(p, stream);
    void* workspace = workspace_for(stream, p);
    if (pl.launched) return;
    const gemm_detail::scratch_outputs scratch(p);
    launch(pl, p, scratch.d.get(), scratch.amax_pointer(), workspace, stream);
    restore_amax_pointer(pl, p);
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (scaled_gemm_engine::prepare)");
    pl.launched = true;
  }

  /// Frees the workspace of a stream (synchronising with it first).
  ///
  /// Does nothing for a stream without a workspace. The next call on it allocates a new one.
  /// \throws mixprec::runtime_error when the synchronisation fails.
  void release_stream(cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = workspaces_.find(stream);
    if (found == workspaces_.end()) return;
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (release_stream)");
    workspaces_.erase(found);
  }

  /// The plan p uses (built if needed), for reports: candidates, the chosen
  /// one and, with autotune, their times.
  /// \throws mixprec::error and mixprec::runtime_error as run() does.
  scaled_gemm_plan_info plan_info(const gemm::problem& p, cudaStream_t stream = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    return plan_for(p, stream).info;
  }

  /// Number of plans in the cache.
  std::size_t plan_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.size();
  }
  /// The device's compute capability and the cuBLASLt version, as validate_for_cublaslt sees them.
  const gemm::device_capabilities& capabilities() const noexcept { return capabilities_; }
  /// Ordinal of the device the engine is bound to.
  int device() const noexcept { return device_; }
  /// The options the engine was built with.
  const options& get_options() const noexcept { return options_; }

 private:
  gemm_detail::plan& plan_for(const gemm::problem& p, cudaStream_t stream) {
    gemm::validate_for_cublaslt(p, capabilities_);
    const int current = current_device();
    require(current == device_, "mixprec::cuda::scaled_gemm_engine: built for device ", device_,
            " but called while device ", current, " is current; use one engine per device");
    const gemm_detail::plan_key key = gemm_detail::plan_key::of(p);
    auto found = plans_.find(key);
    if (found != plans_.end()) return *found->second;
    if (gemm_detail::is_capturing(stream)) {
      throw mixprec::error(mixprec::detail::make_message(
          "mixprec::cuda::scaled_gemm: no plan yet for ", gemm::describe(p),
          " and the stream is being captured; call run() or prepare() with this problem before capturing"));
    }
    auto built = build_plan(p, stream);
    gemm_detail::plan& result = *built;
    plans_.emplace(key, std::move(built));
    return result;
  }

  void* workspace_for(cudaStream_t stream, const gemm::problem& p) {
    auto found = workspaces_.find(stream);
    if (found != workspaces_.end()) return found->second.get();
    if (gemm_detail::is_capturing(stream)) {
      throw mixprec::error(mixprec::detail::make_message(
          "mixprec::cuda::scaled_gemm: stream ", static_cast<void*>(stream), " has no workspace yet and is being "
          "captured; call run() or prepare() (", gemm::describe(p), ") on it before capturing"));
    }
    return workspaces_.emplace(stream, gemm_detail::allocate(options_.workspace_bytes)).first->second.get();
  }

  std::unique_ptr<gemm_detail::plan> build_plan(const gemm::problem& p, cudaStream_t stream) {
    using namespace gemm_detail;
    auto pl = std::make_unique<plan>();
    cublasLtMatmulDesc_t desc = nullptr;
    check_cublas(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate", p);
    pl->desc.reset(desc);
    const cublasOperation_t transpose = CUBLAS_OP_T, plain = CUBLAS_OP_N;
    set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, transpose, p);
    set_attribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, plain, p);
    const bool fp8 = gemm::is_fp8(p.a.type);
    if (fp8) {
      set_attribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, cublas_scale_mode(p.b.scaling), p);
      set_attribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, cublas_scale_mode(p.a.scaling), p);
      const std::int8_t fast = p.fast_accumulation ? 1 : 0;
      set_attribute(desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, fast, p);
    }
    set_attribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, cublas_epilogue(p.epilogue_op), p);
    if (gemm::has_bias(p.epilogue_op)) {
      const std::int32_t bias_type = cuda_type(p.bias.type);
      set_attribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type, p);
    }
    update_pointers(*pl, p);  // the heuristic looks at pointer presence (and the bias pointer's alignment)

    const plan_key key = plan_key::of(p);
    pl->a_layout = make_layout(p.b.type, p.k, p.n, p.b.ld, p);
    pl->b_layout = make_layout(p.a.type, p.k, p.m, p.a.ld, p);
    pl->c_layout = make_layout(p.c.type, p.n, p.m, key.ldc, p);
    pl->d_layout = make_layout(p.d.type, p.n, p.m, p.d.ld, p);

    cublasLtMatmulPreference_t raw_preference = nullptr;
    check_cublas(cublasLtMatmulPreferenceCreate(&raw_preference), "cublasLtMatmulPreferenceCreate", p);
    const matmul_preference preference(raw_preference);
    auto set_preference = [&](cublasLtMatmulPreferenceAttributes_t attribute, const auto& value) {
      check_cublas(cublasLtMatmulPreferenceSetAttribute(raw_preference, attribute, &value, sizeof(value)),
                   "cublasLtMatmulPreferenceSetAttribute", p);
    };
    const std::uint64_t workspace_bytes = options_.workspace_bytes;
    set_preference(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes);
    set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b);  // cuBLAS's A is our B
    set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a);
    set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.reads_c ? key.align_c : key.align_d);
    set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d);

    const int wanted = options_.autotune ? options_.autotune_candidates : 1;
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<std::size_t>(wanted));
    int returned = 0;
    check_cublas(cublasLtMatmulAlgoGetHeuristic(handle_, desc, pl->a_layout.get(), pl->b_layout.get(),
                                                pl->c_layout.get(), pl->d_layout.get(), raw_preference, wanted,
                                                results.data(), &returned),
                 "cublasLtMatmulAlgoGetHeuristic", p);
    if (returned == 0) check_cublas(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm)", p);
    results.resize(static_cast<std::size_t>(returned));
    pl->info.candidates = returned;
    pl->algo = results[0].algo;
    pl->info.workspace_bytes = results[0].workspaceSize;
    if (options_.autotune && returned > 1) autotune(*pl, p, results, stream);
    return pl;
  }

  void launch(gemm_detail::plan& pl, const gemm::problem& p, void* d, float* amax, void* workspace,
              cudaStream_t stream) {
    using namespace gemm_detail;
    update_pointers(pl, p);
    if (amax != p.d.amax) {  // autotuning into a scratch amax
      set_attribute(pl.desc.get(), CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, amax, p);
      pl.pointers[3] = amax;
    }
    const bool reads_c = p.beta != 0.0f;
    // An unread C: cuBLASLt takes D's pointer for a non-FP8 output, null for an FP8 one.
    const void* c = reads_c ? p.c.data : (gemm::is_fp8(p.d.type) ? nullptr : d);
    check_cublas(cublasLtMatmul(handle_, pl.desc.get(), &p.alpha, p.b.data, pl.a_layout.get(), p.a.data,
                                pl.b_layout.get(), &p.beta, c, pl.c_layout.get(), d, pl.d_layout.get(), &pl.algo,
                                workspace, options_.workspace_bytes, stream),
                 "cublasLtMatmul", p);
  }

  // Times each heuristic candidate (one warm-up, then autotune_repetitions
  // runs, median) into scratch D and amax buffers, and keeps the fastest.
  void autotune(gemm_detail::plan& pl, const gemm::problem& p,
                const std::vector<cublasLtMatmulHeuristicResult_t>& results, cudaStream_t stream) {
    using namespace gemm_detail;
    const scratch_outputs scratch(p);
    void* workspace = workspace_for(stream, p);
    cudaEvent_t start = nullptr, stop = nullptr;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    const std::unique_ptr<CUevent_st, decltype(&cudaEventDestroy)> start_owner(start, cudaEventDestroy),
        stop_owner(stop, cudaEventDestroy);
    float* amax = scratch.amax_pointer();
    float best = -1;
    for (std::size_t candidate = 0; candidate < results.size(); ++candidate) {
      if (results[candidate].workspaceSize > options_.workspace_bytes) continue;
      pl.algo = results[candidate].algo;
      std::vector<float> times;
      bool failed = false;
      for (int run = 0; run <= options_.autotune_repetitions && !failed; ++run) {
        check(cudaEventRecord(start, stream), "cudaEventRecord");
        try {
          launch(pl, p, scratch.d.get(), amax, workspace, stream);
        } catch (const mixprec::runtime_error&) {
          failed = true;  // a candidate that cannot run this problem is skipped
          break;
        }
        check(cudaEventRecord(stop, stream), "cudaEventRecord");
        check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        if (run > 0) times.push_back(ms);
      }
      if (failed || times.empty()) continue;
      std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
      const float median = times[times.size() / 2];
      ++pl.info.candidates_timed;
      if (candidate == 0) {
        pl.info.heuristic_first_ms = median;
        pl.info.heuristic_first_timed = true;
      }
      if (best < 0 || median < best) {
        best = median;
        pl.info.chosen = static_cast<int>(candidate);
      }
    }
    require(best >= 0, "mixprec::cuda::scaled_gemm: autotuning found no candidate that runs ", gemm::describe(p));
    pl.info.chosen_ms = best;
    pl.algo = results[static_cast<std::size_t>(pl.info.chosen)].algo;
    pl.info.workspace_bytes = results[static_cast<std::size_t>(pl.info.chosen)].workspaceSize;
    restore_amax_pointer(pl, p);
    pl.launched = true;  // the chosen candidate ran
  }

  // After runs into a scratch amax: the descriptor points at the caller's again.
  static void restore_amax_pointer(gemm_detail::plan& pl, const gemm::problem& p) {
    gemm_detail::set_attribute(pl.desc.get(), CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, p.d.amax, p);
    pl.pointers[3] = p.d.amax;
  }

  options options_;
  int device_;
  gemm::device_capabilities capabilities_;
  cublasLtHandle_t handle_ = nullptr;
  mutable std::mutex mutex_;
  std::unordered_map<gemm_detail::plan_key, std::unique_ptr<gemm_detail::plan>, gemm_detail::plan_key_hash> plans_;
  std::map<cudaStream_t, gemm_detail::device_memory> workspaces_;
};

/// The calling thread's engine for the current device (default options),
/// created on first use.
/// \throws mixprec::runtime_error when creating the engine fails.
inline scaled_gemm_engine& default_scaled_gemm_engine() {
  thread_local std::map<int, std::unique_ptr<scaled_gemm_engine>> engines;
  std::unique_ptr<scaled_gemm_engine>& engine = engines[current_device()];
  if (!engine) engine = std::make_unique<scaled_gemm_engine>();
  return *engine;
}

/// D = epilogue(alpha (sA A)(sB B)ᵀ + beta C + bias) with device pointers, on
/// the calling thread's default engine. The GPU counterpart of
/// mixprec::reference::scaled_gemm.
/// \throws mixprec::error and mixprec::runtime_error as scaled_gemm_engine::run() does.
inline void scaled_gemm(const gemm::problem& p, cudaStream_t stream = nullptr) {
  default_scaled_gemm_engine().run(p, stream);
}

}  // namespace cuda
}  // namespace mixprec
