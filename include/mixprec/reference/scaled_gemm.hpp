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
/// D[i,j] is the same sequence of float operations.
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
#include <type_traits>
#include <vector>

#include "mixprec/core/config.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/gemm/validate.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace reference {

/// The accumulator of reference::scaled_gemm.
enum class accumulation {
  float32,  ///< what the GPU's tensor cores do (up to the order of summation)
  float64,  ///< exact products, double sums: the ground truth for error bounds
};

/// Options of reference::scaled_gemm.
struct gemm_options {
  accumulation accumulate = accumulation::float32;  ///< FP32 (the GPU's) or FP64 accumulation.
};

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

// Stores count values to data[first ...] as `type`: nearest even, FP8
// saturating, BF16/FP16 overflowing to inf (each type's default rule). A
// double is rounded once.
template <class Value>
void encode(const Value* values, std::int64_t count, gemm::element_type type, void* data, std::int64_t first) {
  using gemm::element_type;
  auto store = [&](auto* out) {
    using T = std::remove_pointer_t<decltype(out)>;
    for (std::int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_same<T, float>::value) {
        out[i] = static_cast<float>(values[i]);
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

// acc[j] += a · b[j] for j < count: the one hot loop.
template <class Acc>
inline void multiply_add(Acc* acc, Acc a, const float* b, std::int64_t count) {
  for (std::int64_t j = 0; j < count; ++j) acc[j] += a * static_cast<Acc>(b[j]);
}

template <class Acc>
void scaled_gemm(const gemm::problem& p) {
  using gemm::scale_block_size;
  const std::int64_t m = p.m, n = p.n, k = p.k;

  // B once, transposed to [K, N]: row k holds B[0..N-1, k].
  std::vector<float> b_transposed(static_cast<std::size_t>(k * n));
  {
    std::vector<float> row(static_cast<std::size_t>(k));
    for (std::int64_t j = 0; j < n; ++j) {
      decode(p.b.data, p.b.type, j * p.b.ld, k, row.data());
      for (std::int64_t kk = 0; kk < k; ++kk) b_transposed[static_cast<std::size_t>(kk * n + j)] = row[kk];
    }
  }
  std::vector<Acc> bias(static_cast<std::size_t>(gemm::has_bias(p.epilogue_op) ? n : 0));
  if (!bias.empty()) {
    std::vector<float> values(static_cast<std::size_t>(n));
    decode(p.bias.data, p.bias.type, 0, n, values.data());
    std::copy(values.begin(), values.end(), bias.begin());
  }

  const gemm::scale_layout a_layout = gemm::scale_layout_of_a(p), b_layout = gemm::scale_layout_of_b(p);
  auto a_scale = [&](std::int64_t i, std::int64_t kk) -> Acc {
    return p.a.scale == nullptr ? Acc(1) : static_cast<Acc>(p.a.scale[a_layout.index(i, kk)]);
  };
  auto b_scale = [&](std::int64_t j, std::int64_t kk) -> Acc {
    return p.b.scale == nullptr ? Acc(1) : static_cast<Acc>(p.b.scale[b_layout.index(j, kk)]);
  };
  const bool blocked = gemm::is_block(p.a.scaling) || gemm::is_block(p.b.scaling);
  const std::int64_t k_block = blocked ? scale_block_size : k;
  const bool fp8_output = gemm::is_fp8(p.d.type);
  const Acc d_scale = fp8_output ? static_cast<Acc>(*p.d.scale) : Acc(1);
  const Acc alpha = static_cast<Acc>(p.alpha), beta = static_cast<Acc>(p.beta);

  // Tiles: a few rows of A share each row of Bᵀ; columns in tiles that keep
  // the accumulators in cache.
  constexpr std::int64_t row_tile = 4;
  const std::int64_t col_tile = std::min<std::int64_t>(n, 512);
  std::vector<float> a_rows(static_cast<std::size_t>(row_tile * k));
  std::vector<Acc> sums(static_cast<std::size_t>(row_tile * col_tile));
  std::vector<Acc> partial(static_cast<std::size_t>(blocked ? row_tile * col_tile : 0));
  std::vector<Acc> out_row(static_cast<std::size_t>(col_tile));
  std::vector<float> c_row(static_cast<std::size_t>(col_tile));
  std::uint32_t largest = 0;  // amax of D, compared as magnitude bits (NaN wins)

  for (std::int64_t i0 = 0; i0 < m; i0 += row_tile) {
    const std::int64_t rows = std::min(row_tile, m - i0);
    for (std::int64_t r = 0; r < rows; ++r) decode(p.a.data, p.a.type, (i0 + r) * p.a.ld, k, &a_rows[r * k]);
    for (std::int64_t j0 = 0; j0 < n; j0 += col_tile) {
      const std::int64_t cols = std::min(col_tile, n - j0);
      std::fill(sums.begin(), sums.end(), Acc(0));
      for (std::int64_t k0 = 0; k0 < k; k0 += k_block) {
        const std::int64_t k1 = std::min(k, k0 + k_block);
        Acc* target = blocked ? partial.data() : sums.data();
        if (blocked) std::fill(partial.begin(), partial.end(), Acc(0));
        for (std::int64_t kk = k0; kk < k1; ++kk) {
          const float* b_row = &b_transposed[static_cast<std::size_t>(kk * n + j0)];
          for (std::int64_t r = 0; r < rows; ++r)
            multiply_add(target + r * cols, static_cast<Acc>(a_rows[r * k + kk]), b_row, cols);
        }
        if (blocked) {
          for (std::int64_t r = 0; r < rows; ++r) {
            const Acc sa = a_scale(i0 + r, k0);
            for (std::int64_t j = 0; j < cols; ++j) sums[r * cols + j] += (sa * b_scale(j0 + j, k0)) * partial[r * cols + j];
          }
        }
      }
      // Epilogue, one row of the tile at a time.
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t i = i0 + r;
        if (p.beta != 0.0f) decode(p.c.data, p.c.type, i * p.c.ld + j0, cols, c_row.data());
        const Acc row_factor = blocked ? alpha : alpha * a_scale(i, 0);
        for (std::int64_t j = 0; j < cols; ++j) {
          const Acc factor = blocked ? row_factor : row_factor * b_scale(j0 + j, 0);
          Acc value = factor * sums[r * cols + j];
          if (p.beta != 0.0f) value += beta * static_cast<Acc>(c_row[j]);
          if (!bias.empty()) value += bias[j0 + j];
          value = apply_activation(p.epilogue_op, value);
          if (fp8_output) {
            const std::uint32_t bits = mixprec::detail::bit_cast<std::uint32_t>(static_cast<float>(value)) & 0x7FFFFFFFu;
            largest = std::max(largest, bits);
            value *= d_scale;
          }
          out_row[j] = value;
        }
        encode(out_row.data(), cols, p.d.type, p.d.data, i * p.d.ld + j0);
      }
    }
  }
  if (fp8_output && p.d.amax != nullptr) *p.d.amax = mixprec::detail::bit_cast<float>(largest);
}

}  // namespace detail

/// D = epilogue(alpha · (sA ⊙ A)(sB ⊙ B)ᵀ + beta · C + bias), converted to
/// D's type (· sD and amax for an FP8 D), with host pointers. Checks
/// gemm::validate(p) first; shapes and types cuBLASLt would refuse are fine.
///
/// Every pointer in `p` (data, scales, amax) is a host pointer. p.fast_accumulation is ignored.
/// \throws mixprec::error when gemm::validate(p) rejects the problem.
inline void scaled_gemm(const gemm::problem& p, const gemm_options& options = {}) {
  gemm::validate(p);
  if (options.accumulate == accumulation::float64) {
    detail::scaled_gemm<double>(p);
  } else {
    detail::scaled_gemm<float>(p);
  }
}

}  // namespace reference
}  // namespace mixprec
