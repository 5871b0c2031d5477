// The GPU converts exactly like the host: every one of the 2^32 float inputs,
// for every format, rounding mode (nearest_even, toward_zero) and saturation,
// and every code decoded, bit for bit against the host engine. Device code may
// use hardware conversion instructions; this test is what licenses them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "cuda/device_conversion.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"

namespace {

using mixprec_test::format_id;
using mixprec_test::name_of;
using mixprec_test::with_type;

// Compares device codes of one chunk with the host engine, on every host core.
// `host_code(x_bits)` gives the host's code. Returns the mismatch count and
// prints the first few.
template <class Code, class HostCode>
std::uint64_t count_mismatches(const std::vector<Code>& device_codes, std::uint32_t first, HostCode host_code) {
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::uint64_t> mismatches(workers, 0);
  std::vector<std::thread> threads;
  const std::size_t count = device_codes.size();
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      const std::size_t begin = count * w / workers, end = count * (w + 1) / workers;
      for (std::size_t i = begin; i < end; ++i) {
        const std::uint32_t x_bits = first + static_cast<std::uint32_t>(i);
        const Code expected = host_code(x_bits);
        if (device_codes[i] != expected && mismatches[w]++ < 3)
          std::printf("  x = 0x%08X: device 0x%X, host 0x%X\n", x_bits, static_cast<unsigned>(device_codes[i]),
                      static_cast<unsigned>(expected));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::uint64_t total = 0;
  for (auto m : mismatches) total += m;
  return total;
}

constexpr std::uint64_t chunk = std::uint64_t{1} << 28;

}  // namespace

TEST_CASE("device encode equals the host engine on all 2^32 floats", "[cuda][conversion][exhaustive]") {
  const mixprec::rounding modes[] = {mixprec::rounding::nearest_even, mixprec::rounding::toward_zero};
  const mixprec::saturation policies[] = {mixprec::saturation::finite, mixprec::saturation::none};
  for (format_id format : mixprec_test::all_formats) {
    with_type(format, [&](auto type_tag) {
      using T = decltype(type_tag);
      using code = typename T::storage_type;
      for (auto mode : modes) {
        for (auto policy : policies) {
          std::uint64_t mismatches = 0;
          std::vector<code> device_codes(chunk);
          for (std::uint64_t first = 0; first < (std::uint64_t{1} << 32); first += chunk) {
            mixprec_test::encode_range_on_device(format, mode, policy, static_cast<std::uint32_t>(first),
                                                 static_cast<std::uint32_t>(chunk), device_codes.data());
            mismatches += count_mismatches(device_codes, static_cast<std::uint32_t>(first), [&](std::uint32_t x) {
              return mixprec::convert<T>(mixprec::detail::bit_cast<float>(x), mode, policy).bits();
            });
          }
          std::printf("%s rounding=%d saturation=%d: %llu mismatches over 2^32 inputs\n", name_of(format),
                      static_cast<int>(mode), static_cast<int>(policy), static_cast<unsigned long long>(mismatches));
          CHECK(mismatches == 0);
        }
      }
    });
  }
}

TEST_CASE("device stochastic rounding equals the host for the same random bits", "[cuda][conversion]") {
  const std::uint64_t seed = 0x5EEDu;
  for (format_id format : mixprec_test::all_formats) {
    with_type(format, [&](auto type_tag) {
      using T = decltype(type_tag);
      using code = typename T::storage_type;
      std::uint64_t mismatches = 0;
      std::vector<code> device_codes(chunk);
      // Two chunks: the positive finite floats around 1 and the negative ones near the top of the range.
      for (std::uint32_t first : {0x3F000000u, 0xC0000000u}) {
        mixprec_test::encode_stochastic_range_on_device(format, mixprec::saturation::none, seed, first,
                                                        static_cast<std::uint32_t>(chunk), device_codes.data());
        mismatches += count_mismatches(device_codes, first, [&](std::uint32_t x) {
          return mixprec::convert_stochastic<T>(mixprec::detail::bit_cast<float>(x),
                                                mixprec::stochastic_rounding_bits(seed, 0, x), mixprec::saturation::none)
              .bits();
        });
      }
      INFO(name_of(format));
      CHECK(mismatches == 0);
    });
  }
}

TEST_CASE("device decode equals the host for every code", "[cuda][conversion]") {
  for (format_id format : mixprec_test::all_formats) {
    with_type(format, [&](auto type_tag) {
      using T = decltype(type_tag);
      const std::uint32_t count = 1u << (8 * sizeof(T));
      std::vector<std::uint32_t> device_bits(count);
      mixprec_test::decode_all_codes_on_device(format, device_bits.data());
      std::uint64_t mismatches = 0;
      for (std::uint32_t c = 0; c < count; ++c) {
        const float host = static_cast<float>(T::from_bits(static_cast<typename T::storage_type>(c)));
        mismatches += device_bits[c] != mixprec::detail::bit_cast<std::uint32_t>(host);
      }
      INFO(name_of(format));
      CHECK(mismatches == 0);
    });
  }
}
