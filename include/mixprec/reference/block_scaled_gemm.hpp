// mixprec/reference/block_scaled_gemm.hpp — the CPU reference of the
// block-scaled (MX, NVFP4) GEMM described in mixprec/gemm/block_scaled.hpp,
// for every operand combination (A and B each E4M3, E5M2, E2M3, E3M2 or E2M1
// under MX; E2M1 under NVFP4), one element per byte or packed FP4.
//
// The definition, exactly:
//   a_ik = q_a[i, k] · X_a[i, k / block] and b_jk likewise, decoded exactly (in
//   double: the element has at most 4 significant bits, X is 2^e or an E4M3
//   value, so a_ik has at most 8 and needs no rounding, even beyond float's
//   range); p_k = a_ik · b_jk, exact in double;
//   FP32 accumulation in K order: acc_0 = +0, acc_{k+1} = fl32(acc_k + p_k)
//   (float(double(acc) + p_k) is that correctly rounded sum: p_k has at most
//   16 significant bits, so the double sum is exact or far from every float
//   midpoint); D[i, j] = convert(fl32(alpha · acc_K)) to D's type (nearest
//   even; an overflow gives ±inf, as IEEE and cuBLASLt's output conversion).
//   A NaN scale makes its block's products NaN, and D NaN.
// On the host these are the same bits whatever the floating-point environment
// (MXCSR's DAZ and FTZ, fesetround): the decode widens exactly, and where
// MXCSR is not in its default state the sums and alpha's product round to
// nearest in integer code (mixprec/core/exact_float.hpp).
// cuBLASLt's tensor cores may sum a block before accumulating it, in another
// order: agreement with the GPU is to within FP32 accumulation error, not
// bit for bit (tests/unit/test_block_scaled_gemm.cpp bounds it against
// float64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mixprec/core/exact_float.hpp"
#include "mixprec/gemm/block_scaled.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/types.hpp"

namespace mixprec {
namespace reference {
namespace detail {

constexpr const char* block_gemm_prefix = "mixprec::reference::block_scaled_gemm: ";

// Element t of row `row` of an operand, decoded exactly to float.
inline float block_element_value(const gemm::block_scaled_operand& x, std::int64_t row, std::int64_t t) {
  const auto* bytes = static_cast<const std::uint8_t*>(x.data);
  if (x.packed) {
    const std::uint8_t byte = bytes[static_cast<std::size_t>(row * (x.ld / 2) + t / 2)];
    const auto pair = float4_e2m1x2::from_bits(byte);
    return static_cast<float>(t % 2 == 0 ? pair.element0() : pair.element1());
  }
  const std::uint8_t code = bytes[static_cast<std::size_t>(row * x.ld + t)];
  switch (x.type) {
    case gemm::block_element::float8_e4m3:
      return static_cast<float>(float8_e4m3::from_bits(code));
    case gemm::block_element::float8_e5m2:
      return static_cast<float>(float8_e5m2::from_bits(code));
    case gemm::block_element::float6_e2m3:
      return static_cast<float>(float6_e2m3::from_bits(code));
    case gemm::block_element::float6_e3m2:
      return static_cast<float>(float6_e3m2::from_bits(code));
    case gemm::block_element::float4_e2m1:
      return static_cast<float>(float4_e2m1::from_bits(code));
  }
  return 0.0f;  // unreachable: validate() checked the type
}

// The decoded operand, [rows, k] row-major in double (exact).
inline std::vector<double> decode_block_operand(const gemm::block_scaled_problem& p,
                                                const gemm::block_scaled_operand& x, std::int64_t rows) {
  const std::int64_t block = gemm::block_size_of(p.scaling);
  const std::size_t blocks = static_cast<std::size_t>(gemm::ceil_div(p.k, block));
  const auto* scale_bytes = static_cast<const std::uint8_t*>(x.scales);
  // rows · K fits (validate() bounds the operand's bytes); its doubles may not.
  std::vector<double> values = workspace<double>(rows * p.k, "an operand decoded", p, block_gemm_prefix);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t t = 0; t < p.k; ++t) {
      const std::uint8_t code = scale_bytes[gemm::block_scale_offset(x.scale_layout, static_cast<std::size_t>(r),
                                                                     static_cast<std::size_t>(t / block), blocks)];
      const float scale = p.scaling == gemm::block_scaling::mx_vec32_ue8m0
                              ? static_cast<float>(float8_e8m0::from_bits(code))
                              : static_cast<float>(float8_e4m3::from_bits(code));
      // Widened exactly: E8M0's 2^-127 is a float subnormal, which the host's
      // DAZ would read as 0.
      values[static_cast<std::size_t>(r * p.k + t)] =
          mixprec::detail::widen_exactly(block_element_value(x, r, t)) * mixprec::detail::widen_exactly(scale);
    }
  return values;
}

}  // namespace detail

/// Computes the block-scaled GEMM `p` on the CPU by the definition in
/// mixprec/reference/block_scaled_gemm.hpp (exact decode and products, FP32
/// accumulation in K order, alpha in FP32, one rounding to D's type). All
/// pointers are host pointers.
/// @throws mixprec::error from gemm::validate(p) before anything is written,
///         and when A and B decoded (M·K and N·K doubles) do not fit in host
///         memory.
inline void block_scaled_gemm(const gemm::block_scaled_problem& p) {
  gemm::validate(p);
  const std::vector<double> a = detail::decode_block_operand(p, p.a, p.m);
  const std::vector<double> b = detail::decode_block_operand(p, p.b, p.n);
  // The hardware sums and product where MXCSR is in its default state
  // (checked once); else the same roundings to nearest in integer code, so
  // that DAZ, FTZ and fesetround change no bit (a subnormal sum included).
  const bool default_environment = mixprec::detail::default_float_environment();
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      float acc = 0.0f;
      for (std::int64_t t = 0; t < p.k; ++t) {
        const double product = a[static_cast<std::size_t>(i * p.k + t)] * b[static_cast<std::size_t>(j * p.k + t)];
        acc = default_environment ? static_cast<float>(static_cast<double>(acc) + product)
                                  : mixprec::detail::round_to_float(
                                        mixprec::detail::add_nearest(mixprec::detail::widen_exactly(acc), product));
      }
      const float value = mixprec::detail::multiply_nearest(p.alpha, acc, default_environment);
      const std::size_t index = static_cast<std::size_t>(i * p.d.ld + j);
      switch (p.d.type) {
        case gemm::element_type::float32:
          static_cast<float*>(p.d.data)[index] = value;
          break;
        case gemm::element_type::bfloat16:
          static_cast<bfloat16*>(p.d.data)[index] = bfloat16(value);
          break;
        case gemm::element_type::float16:
          static_cast<float16*>(p.d.data)[index] = float16(value);
          break;
        default:
          break;  // validate() admits only the three above
      }
    }
}

}  // namespace reference
}  // namespace mixprec
