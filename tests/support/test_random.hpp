// tests/support/test_random.hpp — a small deterministic generator for test
// inputs (weights, gradients). Deliberately not the library's
// stochastic_rounding_bits: test data must not come from the code under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mixprec_test {

struct lcg {
  std::uint64_t state;
  explicit lcg(std::uint64_t seed) : state(seed * 2862933555777941757ull + 3037000493ull) {}
  // Uniform in [-1, 1).
  float uniform() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<double>(state >> 40) / static_cast<double>(1ull << 23) - 1.0);
  }
};

// n values uniform in [-magnitude, magnitude).
inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float magnitude = 1.0f) {
  lcg g(seed);
  std::vector<float> v(n);
  for (float& x : v) x = magnitude * g.uniform();
  return v;
}

}  // namespace mixprec_test
