// tests/support/exhaustive.hpp — the stride of the exhaustive sweeps.
//
// MIXPREC_EXHAUSTIVE_STRIDE=s (default 1) tests every s-th input of each
// 2^32 sweep: the sanitizer run uses a prime stride, which still reaches every
// code path of every format in a fraction of the time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace mixprec_test {

inline std::uint32_t exhaustive_stride() {
  static const std::uint32_t stride = [] {
    const char* text = std::getenv("MIXPREC_EXHAUSTIVE_STRIDE");
    unsigned long value = text ? std::strtoul(text, nullptr, 10) : 1ul;
    if (value < 1) value = 1;
    if (value > 0x10000000ul) value = 0x10000000ul;
    if (value != 1) std::printf("MIXPREC_EXHAUSTIVE_STRIDE=%lu: testing every %lu-th float input\n", value, value);
    return static_cast<std::uint32_t>(value);
  }();
  return stride;
}

}  // namespace mixprec_test
