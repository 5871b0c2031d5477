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
/// alignment (up to 256 bytes) of every pointer the call passes — A, B, C, D,
/// and the scale, amax and bias pointers too: the heuristic sees those in the
/// descriptor and may pick a kernel that needs their alignment, so a plan made
/// with a 16-byte-aligned bias is never reused with a 2-byte-aligned one
/// (which could fault, a sticky error that ends the process). A call with a known key validates
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
/// exist and its kernel has run once: call run() or prepare() for that problem
/// and stream before cudaStreamBeginCapture. prepare() launches the plan once
/// into scratch outputs (so cuBLASLt's first launch of the kernel, and CUDA's
/// lazy loading of its module, happen outside the capture) and synchronises
/// the stream. During capture, a call that would have to create a plan or a
/// workspace throws instead of allocating.
///
/// Errors. A cuBLASLt status other than success throws cuda::cublas_error
/// (a mixprec::runtime_error) carrying the status: CUBLAS_STATUS_NOT_SUPPORTED
/// or CUBLAS_STATUS_INVALID_VALUE when this cuBLASLt or device does not offer
/// a combination (both are documented for unsupported attribute combinations).
///
/// Threads. An engine serialises its calls on a mutex, so it may be shared;
/// for concurrent host threads use one engine each (the default engine of
/// scaled_gemm() is per thread and device).
///
/// The pieces: the cuBLASLt side of a plan — its key, the RAII descriptors
/// and layouts, the pointer attributes, scratch memory — is in
/// mixprec/cuda/detail/cublaslt_plan.hpp; cuda::cublas_error in
/// mixprec/cuda/cublas_error.hpp. This header holds the engine (the plan
/// cache, workspaces, autotuning, graph rules) and scaled_gemm().
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
#include "mixprec/cuda/cublas_error.hpp"
#include "mixprec/cuda/detail/cublaslt_plan.hpp"
#include "mixprec/cuda/runtime.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/validate.hpp"

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
