// mixprec/host/detail/packed_fp4.hpp — convert_n's packed FP4 path: two
// float4_e2m1 codes per byte.
//
// Element i of the n goes to byte i / 2, the low nibble for even i (CUDA's
// __nv_fp4x2_e2m1 and PyTorch's float4_e2m1fn_x2 order). An odd n leaves the
// last byte's high nibble 0 (+0). Encoding runs on the vector encoder where
// the mode has one (about 15x the scalar engine on random data here), the
// packing of nibbles is scalar; decoding is a look-up in the table of the 16
// codes.
#pragma once

#include <cstddef>

#include "mixprec/core/rounding.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/checks.hpp"
#include "mixprec/host/detail/dispatch.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

namespace mixprec {
namespace host {
namespace detail {

// The number of bytes n packed FP4 codes occupy, without overflow.
constexpr std::size_t packed_fp4_bytes(std::size_t n) noexcept { return n / 2 + n % 2; }

template <class CodeOf>
void pack_fp4(std::size_t n, float4_e2m1x2* dst, CodeOf&& code_of) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    dst[i / 2] = float4_e2m1x2(float4_e2m1::from_bits(code_of(i)), float4_e2m1::from_bits(code_of(i + 1)));
  if (n % 2 != 0) dst[n / 2] = float4_e2m1x2(float4_e2m1::from_bits(code_of(n - 1)), float4_e2m1::from_bits(0));
}


// Packs n FP4 codes: the elements are encoded a chunk at a time into
// float4_e2m1 bytes on `path` (the vector encoder for nearest_even and
// toward_zero), then two per byte.
inline void encode_packed_fp4(const float* src, std::size_t n, float4_e2m1x2* dst, rounding mode, saturation policy,
                              simd_path path) {
  require_arrays("mixprec::convert_n", src, array_bytes(n, sizeof(float)), dst, packed_fp4_bytes(n), n);
  require_rounding_and_saturation(mode, policy);
  constexpr std::size_t chunk = 512;  // even, so every chunk but the last packs whole pairs
  float4_e2m1 codes[chunk];
  for (std::size_t begin = 0; begin < n; begin += chunk) {
    const std::size_t count = n - begin < chunk ? n - begin : chunk;
    encode_on_path(src + begin, count, codes, mode, policy, path);
    pack_fp4(count, dst + begin / 2, [&codes](std::size_t i) { return codes[i].bits(); });
  }
}

}  // namespace detail
}  // namespace host
}  // namespace mixprec
