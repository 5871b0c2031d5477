// mixprec/reference/scaled_gemm.hpp — the CPU reference of the scaled GEMM.
//
//   mixprec::reference::scaled_gemm(problem)   host pointers in a gemm::problem
//
// Computes exactly what the problem describes (mixprec/gemm/problem.hpp), for
// every mode the GPU path offers and more (any scale-mode pair, any shape, any
// C and bias type):
//  - operands are decoded exactly (FP8, BF16, FP16 or FP32), products are
//    formed exactly where the format allows it (FP8 x FP8 and FP16 x FP16 fit
//    a float's significand; BF16 x BF16 too, barring products beyond float's
//    exponent range; FP32 x FP32 is rounded), and summed over k in ascending
//    order into an FP32 accumulator — or, with accumulation::float64, a
//    double one with exact products;
//  - per-tensor and row-wise scales multiply the finished sum:
//      D[i,j] = (alpha · sA[i] · sB[j]) · Σ_k A[i,k] B[j,k];
//    block scales (1x128, 128x128) multiply each 128-long K block's partial
//    sum, as the block-scaled kernels do:
//      D[i,j] = alpha · Σ_kb (sA[i,kb] · sB[j,kb]) · Σ_{k in kb} A[i,k] B[j,k];
//  - then beta · C, the bias, ReLU or GELU (the tanh form), amax of D for an
//    FP8 output, and the conversion of D (· sD for FP8) by the engine: nearest
//    even, FP8 saturating to ±max, BF16/FP16 overflowing to inf.
// The result depends neither on the blocking below nor on the machine: every
// D[i,j] is the same sequence of float operations.
//
// Speed: B is decoded once and packed in panels of 16 columns; A is decoded
// four rows at a time; each 4 x 16 tile of sums stays in registers for the
// whole K loop (AVX2 where the CPU has it, chosen at run time, else portable
// C++), which changes the speed, never the bits (see sum_tile_portable).
/// \file
/// mixprec/reference/scaled_gemm.hpp — the CPU reference of the scaled GEMM.
///
/// ~~~~
///   mixprec::reference::scaled_gemm(problem)   host pointers in a gemm::problem
/// ~~~~
///
/// Computes exactly what the problem describes (mixprec/gemm/problem.hpp), for
/// every mode the GPU path offers and more (any scale-mode pair, any shape, any
/// C and bias type):
///  - operands are decoded exactly (FP8, BF16, FP16 or FP32), products are
///    formed exactly where the format allows it (FP8 x FP8 and FP16 x FP16 fit
///    a float's significand; BF16 x BF16 too, barring products beyond float's
///    exponent range; FP32 x FP32 is rounded), and summed over k in ascending
///    order into an FP32 accumulator — or, with accumulation::float64, a
///    double one with exact products;
///  - per-tensor and row-wise scales multiply the finished sum:
///
///          D[i,j] = (alpha · sA[i] · sB[j]) · Σ_k A[i,k] B[j,k];
///
///    block scales (1x128, 128x128) multiply each 128-long K block's partial
///    sum, as the block-scaled kernels do:
///
///          D[i,j] = alpha · Σ_kb (sA[i,kb] · sB[j,kb]) · Σ_{k in kb} A[i,k] B[j,k];
///
///  - then beta · C, the bias, ReLU or GELU (the tanh form), amax of D for an
///    FP8 output, and the conversion of D (· sD for FP8) by the engine: nearest
///    even, FP8 saturating to ±max, BF16/FP16 overflowing to inf.
///
/// The result depends neither on the blocking below nor on the machine: every
/// D[i,j] is the same sequence of float operations. Those follow the host's
/// floating-point environment (MXCSR's DAZ and FTZ, fesetround) as any float
/// code; what is not float arithmetic does not: with float64 accumulation the
/// scales, alpha, beta, C and the bias are widened exactly and D is rounded
/// to float to nearest, so DAZ and FTZ change no bit there.
///
/// Speed: A is decoded a few rows at a time and B once, transposed to [K, N],
/// so the inner loop is an axpy over contiguous floats that compilers
/// vectorise; a 512 x 512 x 512 FP8 GEMM takes about 0.1 s on one core.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "mixprec/core/config.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/gemm/validate.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/types.hpp"


namespace mixprec {
namespace reference {

/// The accumulator of the reference GEMM.
/// The accumulator of reference::scaled_gemm.
enum class accumulation {
  float32,  ///< what the GPU's tensor cores do (up to the order of summation)
  float64,  ///< exact products, double sums: the ground truth for error bounds
};

/// Options of reference::scaled_gemm.
struct gemm_options {
  accumulation accumulate = accumulation::float32;  ///< FP32 (the GPU's) or FP64 accumulation.
};

/// Whether `a` is one of accumulation's enumerators.
constexpr bool is_valid(accumulation a) noexcept {
  return a == accumulation::float32 || a == accumulation::float64;
}

namespace detail {

template <class T>
const std::array<float, 256>& fp8_decode_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> values{};
    for (unsigned code = 0; code < 256; ++code)
      values[code] = static_cast<float>(T::from_bits(static_cast<std::uint8_t>(code)));
    return values;
  }();
  return table;
}

// Decodes count elements of `type` at data[first ...] to float, exactly.
inline void decode(const void* data, gemm::element_type type, std::int64_t first, std::int64_t count, float* out) {
  using gemm::element_type;
  switch (type) {
    case element_type::float32:
      std::memcpy(out, static_cast<const float*>(data) + first, static_cast<std::size_t>(count) * sizeof(float));
      return;
    case element_type::bfloat16: {
      const bfloat16* in = static_cast<const bfloat16*>(data) + first;
      for (std::int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]);
      return;
    }
    case element_type::float16: {
      const float16* in = static_cast<const float16*>(data) + first;
      for (std::int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]);
      return;
    }
    case element_type::float8_e4m3:
    case element_type::float8_e5m2: {
      const auto& table = type == element_type::float8_e4m3 ? fp8_decode_table<float8_e4m3>()
                                                            : fp8_decode_table<float8_e5m2>();
      const std::uint8_t* in = static_cast<const std::uint8_t*>(data) + first;
      for (std::int64_t i = 0; i < count; ++i) out[i] = table[in[i]];
      return;
    }
  }
}

// x as an Acc, exactly: a float subnormal (a scale, alpha, beta, a value of
// C or the bias) widened to double whatever the host's DAZ says.
template <class Acc>
Acc widen_exactly(float x) noexcept {
  if constexpr (std::is_same<Acc, double>::value) {
    return mixprec::detail::widen_exactly(x);
  } else {
    return x;
  }
}

// x as a float, rounded to nearest (subnormal results kept): the hardware
// conversion where MXCSR is in its default state, else integer code.
inline float to_float(float x, bool) noexcept { return x; }
inline float to_float(double x, bool default_environment) noexcept {
  return default_environment ? static_cast<float>(x) : mixprec::detail::round_to_float(x);
}

// Stores count values to data[first ...] as `type`: nearest even, FP8
// saturating, BF16/FP16 overflowing to inf (each type's default rule). A
// double is rounded once.
template <class Value>
void encode(const Value* values, std::int64_t count, gemm::element_type type, void* data, std::int64_t first,
            bool default_environment) {
  using gemm::element_type;
  auto store = [&](auto* out) {
    using T = std::remove_pointer_t<decltype(out)>;
    for (std::int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_same<T, float>::value) {
        out[i] = to_float(values[i], default_environment);
      } else {
        out[i] = convert<T>(values[i]);
      }
    }
  };
  switch (type) {
    case element_type::float32: store(static_cast<float*>(data) + first); return;
    case element_type::bfloat16: store(static_cast<bfloat16*>(data) + first); return;
    case element_type::float16: store(static_cast<float16*>(data) + first); return;
    case element_type::float8_e4m3: store(static_cast<float8_e4m3*>(data) + first); return;
    case element_type::float8_e5m2: store(static_cast<float8_e5m2*>(data) + first); return;
  }
}

template <class Acc>
Acc gelu(Acc x) {
  // cuBLASLt's GELU: the tanh approximation.
  const Acc sqrt_2_over_pi = static_cast<Acc>(0.7978845608028654);
  const Acc cubic = static_cast<Acc>(0.044715);
  return static_cast<Acc>(0.5) * x * (static_cast<Acc>(1) + std::tanh(sqrt_2_over_pi * (x + cubic * x * x * x)));
}

template <class Acc>
Acc apply_activation(gemm::epilogue op, Acc x) {
  switch (op) {
    case gemm::epilogue::relu:
    case gemm::epilogue::bias_relu: return x > Acc(0) ? x : Acc(0);  // NaN gives 0, as fmaxf(x, 0) does
    case gemm::epilogue::gelu:
    case gemm::epilogue::bias_gelu: return gelu(x);
    default: return x;
  }
}

// ---- The hot loop -----------------------------------------------------------
// A tile of tile_rows rows of D by panel_width columns is summed in
// registers: B is packed in panels of panel_width columns, [K][panel_width]
// each, so one K step reads panel_width contiguous floats and every row of
// the tile reuses them. Every sum is the same sequence of float operations
// as a plain loop, sum = sum + a · b from 0 in ascending k, with the product
// rounded before the addition: the kernels below differ only in how many
// sums advance at once, never in the operations of one sum, so they give the
// same bits. (That needs the multiplication and addition to stay separate:
// the AVX2 kernel is compiled without FMA, and the library is built without
// -march flags that would let the compiler contract them elsewhere.)
constexpr std::int64_t tile_rows = 4;
constexpr std::int64_t panel_width = 16;

template <class Acc>
using tile_sums = Acc[tile_rows][panel_width];

// sums[r][j] = Σ_{kk < depth} a[r · a_stride + kk] · panel[kk · panel_width + j],
// the definition; the portable fallback for compilers without vector types.
template <class Acc>
inline void sum_tile_loop(const float* a, std::int64_t a_stride, const float* panel, std::int64_t depth,
                          tile_sums<Acc>& sums) {
  tile_sums<Acc> local = {};  // no argument can alias it, so it may stay in registers
  for (std::int64_t kk = 0; kk < depth; ++kk) {
    const float* b = panel + kk * panel_width;
    for (std::int64_t r = 0; r < tile_rows; ++r) {
      const Acc factor = static_cast<Acc>(a[r * a_stride + kk]);
      for (std::int64_t j = 0; j < panel_width; ++j) local[r][j] += factor * static_cast<Acc>(b[j]);
    }
  }
  std::memcpy(sums, local, sizeof(local));
}

// GCC and clang have vector types; nvcc's front end (which also parses this
// host code in .cu files) takes the loop.
/// \cond INTERNAL
#if defined(__GNUC__) && !defined(__CUDACC__)
#define MIXPREC_REFERENCE_VECTOR_TYPES 1
#else
#define MIXPREC_REFERENCE_VECTOR_TYPES 0
#endif
/// \endcond

#if MIXPREC_REFERENCE_VECTOR_TYPES
// The same sums with GCC/clang vector types of `Bytes` bytes (16: SSE or
// NEON registers in a plain build; 32: AVX registers in sum_tile_avx2), 8
// vectors of accumulators at a time. Lane j of every operation is exactly
// the loop's operation on column j.
template <class Acc, int Bytes>
struct tile_vector {
  static constexpr std::int64_t lanes = Bytes / static_cast<std::int64_t>(sizeof(Acc));
  typedef Acc type __attribute__((vector_size(Bytes)));
  typedef float floats __attribute__((vector_size(lanes * sizeof(float))));
};

template <int Bytes, class Acc>
__attribute__((always_inline)) inline void sum_tile_vectors(const float* a, std::int64_t a_stride,
                                                            const float* panel, std::int64_t depth,
                                                            tile_sums<Acc>& sums) {
  using V = typename tile_vector<Acc, Bytes>::type;
  using F = typename tile_vector<Acc, Bytes>::floats;
  constexpr std::int64_t lanes = tile_vector<Acc, Bytes>::lanes;
  // 8 vectors of sums at a time (the whole tile for float in AVX registers).
  constexpr std::size_t vectors = 8 / tile_rows;
  constexpr std::int64_t slice = static_cast<std::int64_t>(vectors) * lanes;
  for (std::int64_t first = 0; first < panel_width; first += slice) {
    V sum[tile_rows][vectors] = {};
    for (std::int64_t kk = 0; kk < depth; ++kk) {
      V b[vectors];
      for (std::size_t v = 0; v < vectors; ++v) {
        F narrow;
        std::memcpy(&narrow, panel + kk * panel_width + first + static_cast<std::int64_t>(v) * lanes, sizeof(narrow));
        b[v] = __builtin_convertvector(narrow, V);  // float -> Acc, exact
      }
      for (std::int64_t r = 0; r < tile_rows; ++r) {
        const Acc factor = static_cast<Acc>(a[r * a_stride + kk]);
        for (std::size_t v = 0; v < vectors; ++v) sum[r][v] += factor * b[v];
      }
    }
    for (std::int64_t r = 0; r < tile_rows; ++r)
      std::memcpy(&sums[r][first], sum[r], sizeof(sum[r]));
  }
}
#endif

#if MIXPREC_HOST_SIMD
// The vector kernel with AVX registers. target("avx2") does not enable FMA,
// so each lane stays a multiplication and an addition.
template <class Acc>
__attribute__((target("avx2"))) void sum_tile_avx2(const float* a, std::int64_t a_stride, const float* panel,
                                                   std::int64_t depth, tile_sums<Acc>& sums) {
  sum_tile_vectors<32>(a, a_stride, panel, depth, sums);
}
#endif

template <class Acc>
inline void sum_tile(bool use_avx2, const float* a, std::int64_t a_stride, const float* panel, std::int64_t depth,
                     tile_sums<Acc>& sums) {
#if MIXPREC_HOST_SIMD
  if (use_avx2) return sum_tile_avx2(a, a_stride, panel, depth, sums);
#endif
  (void)use_avx2;
#if MIXPREC_REFERENCE_VECTOR_TYPES
  sum_tile_vectors<16>(a, a_stride, panel, depth, sums);
#else
  sum_tile_loop(a, a_stride, panel, depth, sums);
#endif
}

// Index arithmetic below is on int64 extents that validate() has bounded;
// this turns them into vector positions.
inline std::size_t at(std::int64_t index) noexcept { return static_cast<std::size_t>(index); }

constexpr const char* gemm_prefix = "mixprec::reference::scaled_gemm: ";

// A zero-filled workspace of `count` values. The reference keeps B decoded in
// host memory; a problem too large for that is the caller's to split, and is
// reported as such rather than as a wrapped size or a std::bad_alloc.
// `who` starts the message; Problem is gemm::problem or
// gemm::block_scaled_problem (anything gemm::describe names).
template <class Value, class Problem>
std::vector<Value> workspace(std::int64_t count, const char* what, const Problem& p, const char* who = gemm_prefix) {
  const std::int64_t bytes = gemm::checked_multiply(count, static_cast<std::int64_t>(sizeof(Value)));
  require(bytes >= 0 && static_cast<std::uint64_t>(bytes) <= static_cast<std::uint64_t>(PTRDIFF_MAX), who, what, " of ",
          gemm::describe(p), " needs more bytes than the address space holds; split the problem");
  try {
    return std::vector<Value>(at(count));
  } catch (const std::bad_alloc&) {
    throw error(mixprec::detail::make_message(who, what, " of ", gemm::describe(p), " needs ", bytes,
                                              " bytes of host memory, which could not be allocated; split the "
                                              "problem"));
  }
}

template <class Acc>
void scaled_gemm(const gemm::problem& p) {
  using gemm::scale_block_size;
  const std::int64_t m = p.m, n = p.n, k = p.k;
  const std::int64_t panels = gemm::ceil_div(n, panel_width);

  // Every workspace first, so that nothing is written before they exist.
  // B packed in panels: panel q holds columns [q · panel_width, +panel_width)
  // of Bᵀ, [K][panel_width], zero beyond N (those sums are never stored).
  std::vector<float> b_panels =
      workspace<float>(gemm::checked_multiply(gemm::checked_multiply(panels, panel_width), k), "B decoded", p);
  std::vector<float> b_row = workspace<float>(k, "a decoded row of B", p);
  std::vector<float> a_rows = workspace<float>(gemm::checked_multiply(tile_rows, k), "rows of A decoded", p);
  std::vector<Acc> row_sums = workspace<Acc>(gemm::checked_multiply(tile_rows, n), "a tile of D", p);
  std::vector<Acc> out_row = workspace<Acc>(n, "a row of D", p);
  std::vector<float> c_row = workspace<float>(gemm::reads_c(p) ? n : 0, "a row of C decoded", p);
  std::vector<float> bias_values = workspace<float>(gemm::has_bias(p.epilogue_op) ? n : 0, "the bias", p);

  for (std::int64_t j = 0; j < n; ++j) {
    decode(p.b.data, p.b.type, j * p.b.ld, k, b_row.data());
    float* column = &b_panels[at((j / panel_width) * panel_width * k + j % panel_width)];
    for (std::int64_t kk = 0; kk < k; ++kk) column[kk * panel_width] = b_row[at(kk)];
  }
  if (!bias_values.empty()) decode(p.bias.data, p.bias.type, 0, n, bias_values.data());

  const gemm::scale_layout a_layout = gemm::scale_layout_of_a(p), b_layout = gemm::scale_layout_of_b(p);
  auto a_scale = [&](std::int64_t i, std::int64_t kk) -> Acc {
    return p.a.scale == nullptr ? Acc(1) : widen_exactly<Acc>(p.a.scale[a_layout.index(i, kk)]);
  };
  auto b_scale = [&](std::int64_t j, std::int64_t kk) -> Acc {
    return p.b.scale == nullptr ? Acc(1) : widen_exactly<Acc>(p.b.scale[b_layout.index(j, kk)]);
  };
  const bool blocked = gemm::is_block(p.a.scaling) || gemm::is_block(p.b.scaling);
  const std::int64_t k_block = blocked ? scale_block_size : k;
  const bool fp8_output = gemm::is_fp8(p.d.type);
  const Acc d_scale = fp8_output ? widen_exactly<Acc>(*p.d.scale) : Acc(1);
  const Acc alpha = widen_exactly<Acc>(p.alpha), beta = widen_exactly<Acc>(p.beta);
  // Where MXCSR is not in its default state, the conversions of double
  // results to float round in integer code (the FP32 sums and products still
  // follow the environment, as any float code).
  const bool default_environment = mixprec::detail::default_float_environment();
  const bool use_avx2 = host::is_supported(host::simd_path::avx2);
  std::uint32_t largest = 0;  // amax of D, compared as magnitude bits (NaN wins)

  for (std::int64_t i0 = 0; i0 < m; i0 += tile_rows) {
    const std::int64_t rows = std::min(tile_rows, m - i0);
    // Rows beyond M are zeros: their sums are computed and dropped.
    std::fill(a_rows.begin(), a_rows.end(), 0.0f);
    for (std::int64_t r = 0; r < rows; ++r) decode(p.a.data, p.a.type, (i0 + r) * p.a.ld, k, &a_rows[at(r * k)]);

    for (std::int64_t q = 0; q < panels; ++q) {
      const std::int64_t j0 = q * panel_width, cols = std::min(panel_width, n - j0);
      const float* panel = &b_panels[at(q * panel_width * k)];
      tile_sums<Acc> sums, partial;
      if (!blocked) {
        sum_tile(use_avx2, a_rows.data(), k, panel, k, sums);
      } else {
        // Each 128-long K block's partial sum times its scales, added in
        // ascending block order.
        for (auto& row : sums)
          for (Acc& sum : row) sum = Acc(0);
        for (std::int64_t k0 = 0; k0 < k; k0 += k_block) {
          const std::int64_t depth = std::min(k_block, k - k0);
          sum_tile(use_avx2, a_rows.data() + k0, k, panel + k0 * panel_width, depth, partial);
          for (std::int64_t r = 0; r < rows; ++r) {
            const Acc sa = a_scale(i0 + r, k0);
            for (std::int64_t j = 0; j < cols; ++j) sums[r][j] += (sa * b_scale(j0 + j, k0)) * partial[r][j];
          }
        }
      }
      for (std::int64_t r = 0; r < rows; ++r)
        std::copy(sums[r], sums[r] + cols, &row_sums[at(r * n + j0)]);
    }

    // Epilogue, one row at a time.
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t i = i0 + r;
      if (!c_row.empty()) decode(p.c.data, p.c.type, i * p.c.ld, n, c_row.data());
      const Acc row_factor = blocked ? alpha : alpha * a_scale(i, 0);
      for (std::int64_t j = 0; j < n; ++j) {
        const Acc factor = blocked ? row_factor : row_factor * b_scale(j, 0);
        Acc value = factor * row_sums[at(r * n + j)];
        if (!c_row.empty()) value += beta * widen_exactly<Acc>(c_row[at(j)]);
        if (!bias_values.empty()) value += widen_exactly<Acc>(bias_values[at(j)]);
        value = apply_activation(p.epilogue_op, value);
        if (fp8_output) {
          const std::uint32_t bits = mixprec::detail::magnitude_bits(to_float(value, default_environment));
          largest = std::max(largest, bits);
          value *= d_scale;
        }
        out_row[at(j)] = value;
      }
      encode(out_row.data(), n, p.d.type, p.d.data, i * p.d.ld, default_environment);
    }
  }
  if (fp8_output && p.d.amax != nullptr) *p.d.amax = mixprec::detail::bit_cast<float>(largest);
}

}  // namespace detail

/// D = epilogue(alpha · (sA ⊙ A)(sB ⊙ B)ᵀ + beta · C + bias), converted to
/// D's type (· sD and amax for an FP8 D), with host pointers. Shapes and
/// types cuBLASLt would refuse are fine.
/// @throws mixprec::error, before writing any byte of D or amax, when
///         options.accumulate is no enumerator, when p breaks a rule of
///         gemm::validate(p), when a scale the GEMM reads (A's, B's, sD) is
///         NaN, infinite, zero or negative, or when the problem's workspace
///         (B decoded to N·K accumulator-sized values, among others) does not
///         fit in host memory.
/// D's type (· sD and amax for an FP8 D), with host pointers. Checks
/// gemm::validate(p) first; shapes and types cuBLASLt would refuse are fine.
///
/// Every pointer in `p` (data, scales, amax) is a host pointer. p.fast_accumulation is ignored.
/// \throws mixprec::error when gemm::validate(p) rejects the problem.
inline void scaled_gemm(const gemm::problem& p, const gemm_options& options = {}) {
  require(is_valid(options.accumulate), detail::gemm_prefix, "gemm_options::accumulate = ",
          static_cast<int>(options.accumulate), " is not an accumulation enumerator (float32, float64)");
  gemm::validate(p);
  // (A per_tensor operand without a scale has scale 1; validate() requires
  // the scales of the other modes.)
  const char* who = detail::gemm_prefix;
  if (p.a.scale != nullptr) gemm::require_usable_scales(p.a.scale, gemm::scale_layout_of_a(p), who, "a.scale");
  if (p.b.scale != nullptr) gemm::require_usable_scales(p.b.scale, gemm::scale_layout_of_b(p), who, "b.scale");
  if (gemm::is_fp8(p.d.type)) gemm::require_usable_scale(*p.d.scale, who, "d.scale", 0);
  if (options.accumulate == accumulation::float64) {
    detail::scaled_gemm<double>(p);
  } else {
    detail::scaled_gemm<float>(p);
  }
}

}  // namespace reference
}  // namespace mixprec
