// tests/support/gemm_matrix.hpp — a host matrix of any gemm::element_type for
// the GEMM tests (CPU reference and GPU): bytes with a leading dimension,
// element access through double, random filling, random positive scales.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/types.hpp"

namespace mixprec_test {

struct gemm_matrix {
  mixprec::gemm::element_type type;
  std::int64_t rows, cols, ld;
  std::vector<unsigned char> bytes;  // rows x ld elements; padding bytes are 0xEE

  gemm_matrix(mixprec::gemm::element_type t, std::int64_t r, std::int64_t c, std::int64_t leading = 0)
      : type(t), rows(r), cols(c), ld(leading ? leading : c),
        bytes(static_cast<std::size_t>(r * (leading ? leading : c)) * mixprec::gemm::size_of(t), 0xEE) {}

  // Stores value rounded to the element type (nearest even, each type's saturation rule).
  void set(std::int64_t r, std::int64_t c, double value) {
    using mixprec::convert;
    using mixprec::gemm::element_type;
    const std::size_t i = static_cast<std::size_t>(r * ld + c);
    switch (type) {
      case element_type::float32: reinterpret_cast<float*>(bytes.data())[i] = static_cast<float>(value); break;
      case element_type::bfloat16:
        reinterpret_cast<mixprec::bfloat16*>(bytes.data())[i] = convert<mixprec::bfloat16>(value);
        break;
      case element_type::float16:
        reinterpret_cast<mixprec::float16*>(bytes.data())[i] = convert<mixprec::float16>(value);
        break;
      case element_type::float8_e4m3:
        reinterpret_cast<mixprec::float8_e4m3*>(bytes.data())[i] = convert<mixprec::float8_e4m3>(value);
        break;
      case element_type::float8_e5m2:
        reinterpret_cast<mixprec::float8_e5m2*>(bytes.data())[i] = convert<mixprec::float8_e5m2>(value);
        break;
    }
  }
  double get(std::int64_t r, std::int64_t c) const {
    using mixprec::gemm::element_type;
    const std::size_t i = static_cast<std::size_t>(r * ld + c);
    switch (type) {
      case element_type::float32: return static_cast<double>(reinterpret_cast<const float*>(bytes.data())[i]);
      case element_type::bfloat16: return static_cast<double>(reinterpret_cast<const mixprec::bfloat16*>(bytes.data())[i]);
      case element_type::float16: return static_cast<double>(reinterpret_cast<const mixprec::float16*>(bytes.data())[i]);
      case element_type::float8_e4m3:
        return static_cast<double>(reinterpret_cast<const mixprec::float8_e4m3*>(bytes.data())[i]);
      case element_type::float8_e5m2:
        return static_cast<double>(reinterpret_cast<const mixprec::float8_e5m2*>(bytes.data())[i]);
    }
    return 0;
  }
  void fill_random(std::mt19937& rng, double spread = 1.0) {
    std::normal_distribution<double> normal(0.0, spread);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) set(r, c, normal(rng));
  }
  void* data() { return bytes.data(); }
  const void* data() const { return bytes.data(); }
};

// Half an ulp of an output type relative to the value: the largest relative
// error of its rounding in the normal range.
inline double output_half_ulp(mixprec::gemm::element_type type) {
  using mixprec::gemm::element_type;
  switch (type) {
    case element_type::float32: return 0x1p-24;
    case element_type::bfloat16: return 0x1p-8;
    case element_type::float16: return 0x1p-11;
    case element_type::float8_e4m3: return 0x1p-4;
    case element_type::float8_e5m2: return 0x1p-3;
  }
  return 0;
}

// count scales drawn uniformly from [0.25, 4).
inline std::vector<float> random_scales(std::mt19937& rng, std::int64_t count) {
  std::uniform_real_distribution<float> uniform(0.25f, 4.0f);
  std::vector<float> scales(static_cast<std::size_t>(count));
  for (float& s : scales) s = uniform(rng);
  return scales;
}

}  // namespace mixprec_test
