// mixprec/types/float4_e2m1x2.hpp — two FP4 (E2M1) values packed in one byte.
//
// float4_e2m1 is one value per byte (like ml_dtypes' float4_e2m1fn), which is
// what arithmetic and indexing want; tensors store two per byte. The packed
// layout is the one CUDA (__nv_fp4x2_e2m1, whose __nv_cvt_float2_to_fp4x2
// puts .x in bits 0-3 and .y in bits 4-7) and PyTorch (float4_e2m1fn_x2)
// use: element 0 in the low nibble, element 1 in the high one. Bulk
// conversion to and from this storage is in mixprec/host/convert_n.hpp.
//
// FP6 has no packed type: CUDA stores FP6 one value per byte (its
// __nv_fp6x2_storage_t is 16 bits, __nv_fp6x4_storage_t 32, and
// cvt.rn.satfinite.e2m3x2.f32 writes one value per byte), and cuBLASLt's
// headers define no FP6 layout, so there is no 4-values-in-3-bytes packing
// to match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mixprec/core/config.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec {

/// Two float4_e2m1 values in one byte: element 0 in bits 0-3, element 1 in
/// bits 4-7 (CUDA's __nv_fp4x2_e2m1 and PyTorch's float4_e2m1fn_x2 layout).
/// Trivially copyable, sizeof 1, so arrays move to and from device memory as
/// they are.
class float4_e2m1x2 {
 public:
  /// The type of each of the two elements.
  using element_type = float4_e2m1;
  /// The byte holding both codes.
  using storage_type = std::uint8_t;

  /// Trivial: uninitialised like float; value-initialisation gives (+0, +0).
  float4_e2m1x2() = default;

  /// Packs `element0` (low nibble) and `element1` (high nibble).
  MIXPREC_HOST_DEVICE constexpr float4_e2m1x2(float4_e2m1 element0, float4_e2m1 element1) noexcept
      : bits_(static_cast<storage_type>(element0.bits() | (element1.bits() << 4))) {}

  /// A value of another library's packed FP4 pair type (CUDA's
  /// __nv_fp4x2_e2m1, see mixprec/types/cuda_interop.hpp) converts as a bit copy.
  template <class Foreign, std::enable_if_t<detail::is_foreign_of<Foreign, float4_e2m1x2>::value, int> = 0>
  MIXPREC_HOST_DEVICE float4_e2m1x2(const Foreign& value) noexcept  // NOLINT(google-explicit-constructor)
      : bits_(foreign_float_traits<Foreign>::to_bits(value)) {}
  /// The same byte as the other library's packed pair type.
  template <class Foreign, std::enable_if_t<detail::is_foreign_of<Foreign, float4_e2m1x2>::value, int> = 0>
  MIXPREC_HOST_DEVICE operator Foreign() const noexcept {  // NOLINT(google-explicit-constructor)
    return foreign_float_traits<Foreign>::from_bits(bits_);
  }

  /// The pair whose byte is `bits` (every byte is a valid pair).
  MIXPREC_HOST_DEVICE static constexpr float4_e2m1x2 from_bits(storage_type bits) noexcept {
    float4_e2m1x2 pair{};
    pair.bits_ = bits;
    return pair;
  }
  /// The packed byte.
  MIXPREC_HOST_DEVICE constexpr storage_type bits() const noexcept { return bits_; }

  /// Element 0, the low nibble.
  MIXPREC_HOST_DEVICE constexpr float4_e2m1 element0() const noexcept {
    return float4_e2m1::from_bits(static_cast<storage_type>(bits_ & 0x0Fu));
  }
  /// Element 1, the high nibble.
  MIXPREC_HOST_DEVICE constexpr float4_e2m1 element1() const noexcept {
    return float4_e2m1::from_bits(static_cast<storage_type>(bits_ >> 4));
  }

 private:
  storage_type bits_;
};

static_assert(sizeof(float4_e2m1x2) == 1 && std::is_trivially_copyable<float4_e2m1x2>::value,
              "float4_e2m1x2 is one byte of storage");

}  // namespace mixprec
