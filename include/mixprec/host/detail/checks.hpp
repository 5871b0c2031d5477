// mixprec/host/detail/checks.hpp — the argument checks every bulk-conversion
// entry point shares (array sizes and overlap, rounding and saturation values),
// all done before anything is written.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mixprec/core/error.hpp"
#include "mixprec/core/rounding.hpp"

namespace mixprec {
namespace host {
namespace detail {

// The bytes of n elements of `size` bytes, or SIZE_MAX when n · size does
// not fit: require_arrays then rejects it (no array ends at SIZE_MAX), so a
// wrapped product cannot pass the overlap check.
constexpr std::size_t array_bytes(std::size_t n, std::size_t size) noexcept {
  return size != 0 && n > SIZE_MAX / size ? SIZE_MAX : n * size;
}

// src_bytes and dst_bytes come from array_bytes (or an exact count such as
// packed_fp4_bytes): each array must end inside the address space, and the
// two must not overlap.
inline void require_arrays(const char* caller, const void* src, std::size_t src_bytes, const void* dst,
                           std::size_t dst_bytes, std::size_t n) {
  if (n == 0) return;
  require(src != nullptr && dst != nullptr, caller, ": ", src == nullptr ? "src" : "dst", " is null but n = ", n,
          "; pass arrays of n elements (null is accepted only with n = 0)");
  const auto src_begin = reinterpret_cast<std::uintptr_t>(src);
  const auto dst_begin = reinterpret_cast<std::uintptr_t>(dst);
  const std::uintptr_t last_address = UINTPTR_MAX;
  // Pointer differences within one array must be representable.
  const auto largest_object = static_cast<std::size_t>(PTRDIFF_MAX);
  require(src_bytes <= largest_object && dst_bytes <= largest_object && src_bytes <= last_address - src_begin &&
              dst_bytes <= last_address - dst_begin,
          caller, ": n = ", n, " elements reach beyond the address space (src: ", src_bytes, " bytes from ", src,
          ", dst: ", dst_bytes, " bytes from ", dst, "; ", SIZE_MAX,
          " means n times the element size overflows); n must be the number of elements in the arrays");
  require(src_begin + src_bytes <= dst_begin || dst_begin + dst_bytes <= src_begin, caller, ": src [", src, ", +",
          src_bytes, " bytes) and dst [", dst, ", +", dst_bytes,
          " bytes) overlap; convert into a separate buffer (elements differ in size, so not even exact aliasing "
          "works)");
}

inline void require_saturation(const char* caller, saturation policy) {
  require(is_valid(policy), caller, ": saturation value ", static_cast<int>(policy),
          " is not a mixprec::saturation enumerator; pass saturation::finite or saturation::none");
}

inline void reject_stochastic(rounding mode) {
  require(mode != rounding::stochastic,
          "mixprec::convert_n: rounding::stochastic needs random bits; call mixprec::convert_n_stochastic(src, n, "
          "dst, seed, offset) instead");
}

// The rounding of convert_n (not stochastic: it has no random bits) and its
// saturation must be enumerators.
inline void require_rounding_and_saturation(rounding mode, saturation policy) {
  reject_stochastic(mode);
  require(is_valid(mode), "mixprec::convert_n: rounding value ", static_cast<int>(mode),
          " is not a mixprec::rounding enumerator; pass rounding::nearest_even, toward_zero, upward or downward");
  require_saturation("mixprec::convert_n", policy);
}

}  // namespace detail
}  // namespace host
}  // namespace mixprec
