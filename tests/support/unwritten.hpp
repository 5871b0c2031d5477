// tests/support/unwritten.hpp — "a rejected call changes no byte".
//
// A rejection test fills every output with a marker code, makes the bad call,
// and then checks that every element still holds the marker.
#pragma once

#include <cstdint>

namespace mixprec_test {

// True when every element of `values` (mixprec value types) has bit pattern `code`.
template <class Values>
bool every_code_is(const Values& values, std::uint32_t code) {
  for (const auto& value : values)
    if (value.bits() != code) return false;
  return true;
}

}  // namespace mixprec_test
