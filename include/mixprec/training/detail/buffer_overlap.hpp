/// \file
/// mixprec/training/detail/buffer_overlap.hpp — byte ranges of registered
/// buffers and the overlap check with its error message, shared by the host
/// optimizer (mixprec/training/optimizer.hpp) and the device optimizer
/// (mixprec/cuda/optimizer.hpp): a step must never write a buffer another
/// parameter reads or writes, so both reject overlaps before changing
/// anything. Internal (namespace mixprec::detail).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "mixprec/core/error.hpp"

namespace mixprec {
namespace detail {

/// A buffer's bytes [first, last) as integers (comparing unrelated pointers
/// with < is unspecified; their integer values are not).
struct byte_span {
  std::uintptr_t first = 0, last = 0;
  const char* what = "";
  std::size_t parameter = 0;
};
/// The bytes of `elements` values of `element_bytes` each at `data`; throws
/// when the extent overflows the address space.
inline byte_span span_of(const void* data, std::size_t elements, std::size_t element_bytes, const char* what,
                         std::size_t parameter, const char* who) {
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(data);
  require(element_bytes == 0 || elements <= (std::numeric_limits<std::uintptr_t>::max() - first) / element_bytes, who,
          what, " of parameter ", parameter, ": ", elements, " elements of ", element_bytes,
          " bytes at ", data, " run past the end of the address space");
  return byte_span{first, first + elements * element_bytes, what, parameter};
}
inline bool overlaps(const byte_span& a, const byte_span& b) noexcept {
  return a.first < b.last && b.first < a.last;
}
/// Throws naming both buffers when `a` and `b` share a byte.
inline void require_disjoint(const byte_span& a, const byte_span& b, const char* who) {
  require(!overlaps(a, b), who, "the ", a.what, " of parameter ", a.parameter, " overlaps the ", b.what,
          " of parameter ", b.parameter, ": a step would overwrite one with the other; give each its own buffer");
}
}  // namespace detail

}  // namespace mixprec
