// mixprec/core/random.hpp — counter-based random bits for stochastic rounding.
//
// Stochastic rounding must give the same bits on the host and on the device,
// for any thread layout: the random word for element `index` of a call is a
// pure function of (seed, offset + index), never of a sequential generator's
// state. The mixer is SplitMix64's finaliser (Steele, Lea, Flood 2014), whose
// output passes BigCrush for consecutive counters; its top 32 bits are used.
#pragma once

#include <cstdint>

#include "mixprec/core/config.hpp"

namespace mixprec {

/// 32 random bits for element `index` of a stream identified by `seed`;
/// `offset` advances the stream between calls (e.g. by the element count of
/// the previous call, or by a step number times the tensor size).
MIXPREC_HOST_DEVICE constexpr std::uint32_t stochastic_rounding_bits(std::uint64_t seed, std::uint64_t offset,
                                                                     std::uint64_t index) noexcept {
  std::uint64_t z = seed + (offset + index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<std::uint32_t>(z >> 32);
}

}  // namespace mixprec
