// The microscaling formats (issue 13 §1): float4_e2m1, float6_e2m3,
// float6_e3m2 and float8_e8m0. The exhaustive sweeps
// (test_conversion_exhaustive.cpp) hold every float to CUDA and the
// independent reference; this file states the rule table of the README on
// its key inputs, with the expected codes written out from OCP MX v1.0 and
// CUDA 12.8's documented behaviour, and tests the packed FP4 storage.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mixprec/core/random.hpp"
#include "mixprec/host/convert_n.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/unwritten.hpp"
#include "support/exhaustive.hpp"
#include "support/reference_formats.hpp"

namespace {

using mixprec::rounding;
using mixprec::saturation;

constexpr rounding every_mode[] = {rounding::nearest_even, rounding::toward_zero, rounding::upward,
                                   rounding::downward};
constexpr saturation every_policy[] = {saturation::finite, saturation::none};

const float infinity = std::numeric_limits<float>::infinity();
const float not_a_number = std::numeric_limits<float>::quiet_NaN();

template <class T>
unsigned code(float x, rounding r, saturation s) {
  return mixprec::convert<T>(x, r, s).bits();
}
template <class T>
unsigned code(double x, rounding r, saturation s) {
  return mixprec::convert<T>(x, r, s).bits();
}

}  // namespace

TEST_CASE("FP4 and FP6 have no infinity or NaN: overflow and infinity saturate and NaN gives +max, in every mode and policy",
          "[microscaling][format]") {
  for (const rounding r : every_mode) {
    for (const saturation s : every_policy) {
      INFO(static_cast<int>(r) << " " << static_cast<int>(s));
      CHECK(code<mixprec::float4_e2m1>(not_a_number, r, s) == 0x07);
      CHECK(code<mixprec::float4_e2m1>(-not_a_number, r, s) == 0x07);  // the sign of a NaN is not kept
      CHECK(code<mixprec::float4_e2m1>(infinity, r, s) == 0x07);
      CHECK(code<mixprec::float4_e2m1>(-infinity, r, s) == 0x0F);
      CHECK(code<mixprec::float4_e2m1>(1e30f, r, s) == 0x07);
      CHECK(code<mixprec::float4_e2m1>(-7.5, r, s) == 0x0F);
      CHECK(code<mixprec::float6_e2m3>(not_a_number, r, s) == 0x1F);
      CHECK(code<mixprec::float6_e2m3>(-infinity, r, s) == 0x3F);
      CHECK(code<mixprec::float6_e2m3>(8.0f, r, s) == 0x1F);
      CHECK(code<mixprec::float6_e3m2>(not_a_number, r, s) == 0x1F);
      CHECK(code<mixprec::float6_e3m2>(infinity, r, s) == 0x1F);
      CHECK(code<mixprec::float6_e3m2>(-1e300, r, s) == 0x3F);
      // Zeros keep their sign (FP4 and FP6 have -0).
      CHECK(code<mixprec::float4_e2m1>(0.0f, r, s) == 0x00);
      CHECK(code<mixprec::float4_e2m1>(-0.0f, r, s) == 0x08);
      CHECK(code<mixprec::float6_e3m2>(-0.0, r, s) == 0x20);
    }
  }
  // The subnormals: FP4's only subnormal is 0.5; E2M3 steps by 0.125 below 1;
  // E3M2 by 0.0625 below 0.25.
  CHECK(code<mixprec::float4_e2m1>(0.5f, rounding::nearest_even, saturation::finite) == 0x01);
  CHECK(code<mixprec::float4_e2m1>(0.75f, rounding::nearest_even, saturation::finite) == 0x02);  // tie: even 1.0
  CHECK(code<mixprec::float4_e2m1>(0.25f, rounding::nearest_even, saturation::finite) == 0x00);  // tie: even 0
  CHECK(code<mixprec::float4_e2m1>(0.25f, rounding::upward, saturation::finite) == 0x01);
  CHECK(code<mixprec::float4_e2m1>(-0.25f, rounding::downward, saturation::finite) == 0x09);
  CHECK(code<mixprec::float4_e2m1>(5.0f, rounding::nearest_even, saturation::finite) == 0x06);  // tie 4 / 6: even 4
  CHECK(code<mixprec::float4_e2m1>(5.0f, rounding::upward, saturation::none) == 0x07);
  CHECK(code<mixprec::float6_e2m3>(0.0625f, rounding::nearest_even, saturation::finite) == 0x00);  // tie with 0
  CHECK(code<mixprec::float6_e2m3>(0.0625f, rounding::upward, saturation::finite) == 0x01);
  CHECK(code<mixprec::float6_e2m3>(7.25f, rounding::nearest_even, saturation::none) == 0x1E);  // tie 7 / 7.5: even 7
  CHECK(code<mixprec::float6_e3m2>(0.03125f, rounding::nearest_even, saturation::finite) == 0x00);
  CHECK(code<mixprec::float6_e3m2>(0.09375f, rounding::nearest_even, saturation::finite) == 0x02);  // tie: even 0.125
  CHECK(code<mixprec::float6_e3m2>(26.0f, rounding::nearest_even, saturation::none) == 0x1E);  // tie 24 / 28: even 24
  // The value types default to nearest even (saturating, as every FP4/FP6 conversion does).
  CHECK(mixprec::float4_e2m1(100.0f).bits() == 0x07);
  CHECK(mixprec::float4_e2m1(not_a_number).bits() == 0x07);
}

TEST_CASE("E8M0 encodes |x|; zero and everything below 2^-127 give 2^-127; infinity and overflow follow the policy",
          "[microscaling][format]") {
  using mixprec::float8_e8m0;
  for (const rounding r : every_mode) {
    for (const saturation s : every_policy) {
      INFO(static_cast<int>(r) << " " << static_cast<int>(s));
      // No zero: 0x00 (2^-127) for ±0, float subnormals below 2^-127 and tiny doubles.
      CHECK(code<float8_e8m0>(0.0f, r, s) == 0x00);
      CHECK(code<float8_e8m0>(-0.0f, r, s) == 0x00);
      CHECK(code<float8_e8m0>(0x1p-149f, r, s) == 0x00);
      CHECK(code<float8_e8m0>(-0x1p-130f, r, s) == 0x00);
      CHECK(code<float8_e8m0>(1e-300, r, s) == 0x00);
      CHECK(code<float8_e8m0>(0x1p-127f, r, s) == 0x00);  // exactly 2^-127, a float subnormal
      // The sign is dropped before rounding: -x gives what |x| gives.
      CHECK(code<float8_e8m0>(-3.0f, r, s) == code<float8_e8m0>(3.0f, r, s));
      CHECK(code<float8_e8m0>(-0x1.2p100, r, s) == code<float8_e8m0>(0x1.2p100, r, s));
      // Powers of two are exact.
      CHECK(code<float8_e8m0>(1.0f, r, s) == 0x7F);
      CHECK(code<float8_e8m0>(-0x1p127f, r, s) == 0xFE);
      // NaN is NaN (0xFF) in every mode and policy.
      CHECK(code<float8_e8m0>(not_a_number, r, s) == 0xFF);
      CHECK(code<float8_e8m0>(-not_a_number, r, s) == 0xFF);
      // ±infinity: max (2^127) under finite, NaN under none (no infinity), in every mode.
      CHECK(code<float8_e8m0>(infinity, r, s) == (s == saturation::finite ? 0xFEu : 0xFFu));
      CHECK(code<float8_e8m0>(-infinity, r, s) == (s == saturation::finite ? 0xFEu : 0xFFu));
    }
  }
  // Between 2^e and 2^(e+1): toward_zero and downward give 2^e, upward 2^(e+1)
  // (cudaRoundZero / cudaRoundPosInf); nearest_even compares with the
  // midpoint 1.5 * 2^e and sends the tie to the even code.
  CHECK(code<float8_e8m0>(3.5f, rounding::toward_zero, saturation::finite) == 0x80);
  CHECK(code<float8_e8m0>(-3.5f, rounding::downward, saturation::finite) == 0x80);
  CHECK(code<float8_e8m0>(2.01f, rounding::upward, saturation::finite) == 0x81);
  CHECK(code<float8_e8m0>(1.4f, rounding::nearest_even, saturation::finite) == 0x7F);
  CHECK(code<float8_e8m0>(1.6f, rounding::nearest_even, saturation::finite) == 0x80);
  CHECK(code<float8_e8m0>(1.5f, rounding::nearest_even, saturation::finite) == 0x80);  // tie 0x7F / 0x80: even
  CHECK(code<float8_e8m0>(3.0f, rounding::nearest_even, saturation::finite) == 0x80);  // tie 0x80 / 0x81: even
  CHECK(code<float8_e8m0>(6.0f, rounding::nearest_even, saturation::finite) == 0x82);  // tie 0x81 / 0x82: even
  CHECK(code<float8_e8m0>(0x1.8p-127f, rounding::nearest_even, saturation::finite) == 0x00);  // tie 0x00 / 0x01
  CHECK(code<float8_e8m0>(0x1.8p-126f, rounding::nearest_even, saturation::finite) == 0x02);  // tie 0x01 / 0x02
  // Overflow exists only above 2^127: rounding up (or to nearest past
  // 1.5 * 2^127) gives NaN under none, 2^127 under finite; toward zero never overflows.
  CHECK(code<float8_e8m0>(0x1.000002p127f, rounding::upward, saturation::none) == 0xFF);
  CHECK(code<float8_e8m0>(0x1.000002p127f, rounding::upward, saturation::finite) == 0xFE);
  CHECK(code<float8_e8m0>(-0x1.000002p127f, rounding::upward, saturation::none) == 0xFF);  // |x| rounded up
  CHECK(code<float8_e8m0>(0x1.fffffep127f, rounding::toward_zero, saturation::none) == 0xFE);
  CHECK(code<float8_e8m0>(0x1.fffffep127f, rounding::downward, saturation::none) == 0xFE);
  CHECK(code<float8_e8m0>(0x1.8p127f, rounding::nearest_even, saturation::none) == 0xFE);  // tie: even 0xFE
  CHECK(code<float8_e8m0>(0x1.800002p127f, rounding::nearest_even, saturation::none) == 0xFF);
  CHECK(code<float8_e8m0>(1e300, rounding::nearest_even, saturation::finite) == 0xFE);
  CHECK(code<float8_e8m0>(1e300, rounding::toward_zero, saturation::none) == 0xFE);
  // The value type rounds to nearest and saturates (convert's defaults).
  CHECK(float8_e8m0(1000.0f).bits() == 0x89);  // 1024
  CHECK(float8_e8m0(0.0f).bits() == 0x00);
  CHECK(float8_e8m0(-1).bits() == 0x7F);       // integers too: |-1| = 1
  CHECK(float8_e8m0(1e30).bits() == 0xE3);     // 2^100 = 1.27e30 is nearer than 2^99
}

TEST_CASE("stochastic rounding of the microscaling formats: the neighbours, the 2^32 boundary, saturation",
          "[microscaling][stochastic]") {
  // E8M0: 3 = 2 + 0.5 * (4 - 2): away (4) exactly when random >= 2^31. Sign dropped first.
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(3.0f, 0x7FFFFFFFu).bits() == 0x80);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(3.0f, 0x80000000u).bits() == 0x81);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(-3.0f, 0x80000000u).bits() == 0x81);
  // 2.5 = 2 + 0.25 * 2: away when random >= 3 * 2^30.
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(2.5, 0xBFFFFFFFu).bits() == 0x80);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(2.5, 0xC0000000u).bits() == 0x81);
  // Below 2^-127 there is one neighbour.
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(0.0f, 0xFFFFFFFFu).bits() == 0x00);
  // Above 2^127: away from it overflows (NaN under none, max under finite).
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(0x1.8p127f, 0xFFFFFFFFu, saturation::none).bits() == 0xFF);
  CHECK(mixprec::convert_stochastic<mixprec::float8_e8m0>(0x1.8p127f, 0xFFFFFFFFu, saturation::finite).bits() == 0xFE);
  // FP4: 5 = 4 + 0.5 * 2; 6.5 lies beyond max and saturates whichever way it goes.
  CHECK(mixprec::convert_stochastic<mixprec::float4_e2m1>(5.0f, 0x7FFFFFFFu).bits() == 0x06);
  CHECK(mixprec::convert_stochastic<mixprec::float4_e2m1>(-5.0f, 0x80000000u).bits() == 0x0F);
  CHECK(mixprec::convert_stochastic<mixprec::float4_e2m1>(6.5f, 0xFFFFFFFFu, saturation::none).bits() == 0x07);
  CHECK(mixprec::convert_stochastic<mixprec::float6_e3m2>(not_a_number, 0x12345678u, saturation::none).bits() == 0x1F);
}

TEST_CASE("float4_e2m1x2 packs element 0 in the low nibble and element 1 in the high one", "[microscaling][packed]") {
  STATIC_REQUIRE(sizeof(mixprec::float4_e2m1x2) == 1);
  STATIC_REQUIRE(std::is_trivially_copyable<mixprec::float4_e2m1x2>::value);
  constexpr mixprec::float4_e2m1x2 pair(mixprec::float4_e2m1::from_bits(0x3), mixprec::float4_e2m1::from_bits(0xC));
  STATIC_REQUIRE(pair.bits() == 0xC3);
  STATIC_REQUIRE(pair.element0().bits() == 0x3);
  STATIC_REQUIRE(pair.element1().bits() == 0xC);
  int wrong = 0;
  for (unsigned byte = 0; byte < 256; ++byte) {
    const auto p = mixprec::float4_e2m1x2::from_bits(static_cast<std::uint8_t>(byte));
    wrong += p.element0().bits() != (byte & 0xFu) || p.element1().bits() != (byte >> 4);
    wrong += mixprec::float4_e2m1x2(p.element0(), p.element1()).bits() != byte;
  }
  CHECK(wrong == 0);
  CHECK(mixprec::float4_e2m1x2{}.bits() == 0);
}

TEST_CASE("convert_n to and from packed FP4 gives the scalar conversion of every element, in order",
          "[microscaling][packed][convert_n]") {
  std::vector<float> src;
  for (int i = -80; i <= 80; ++i) src.push_back(static_cast<float>(i) * 0.125f);
  src.insert(src.end(), {infinity, -infinity, not_a_number, 1e30f, -0.0f, 0x1p-140f});
  // Longer than one internal chunk (512), with an odd tail.
  for (int i = 0; i < 1500; ++i) src.push_back(std::ldexp(static_cast<float>(i % 29) - 14.0f, i % 9 - 5));
  for (const std::size_t n : {src.size(), src.size() - 1, std::size_t{513}, std::size_t{1}, std::size_t{0}}) {
    for (const rounding r : every_mode) {
      for (const mixprec::host::simd_path path : mixprec::host::available_simd_paths()) {
      std::vector<mixprec::float4_e2m1x2> packed((n + 1) / 2 + 1, mixprec::float4_e2m1x2::from_bits(0xAB));
      mixprec::convert_n(src.data(), n, packed.data(), r, saturation::none, path);
      int wrong = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const auto element = i % 2 == 0 ? packed[i / 2].element0() : packed[i / 2].element1();
        wrong += element.bits() != mixprec::convert<mixprec::float4_e2m1>(src[i], r, saturation::none).bits();
      }
      if (n % 2 != 0) wrong += packed[n / 2].element1().bits() != 0;  // the odd tail's high nibble is +0
      wrong += packed[(n + 1) / 2].bits() != 0xAB;                    // nothing written past the end
      std::vector<float> back(n + 1, -1.0f);
      mixprec::convert_n(packed.data(), n, back.data());
      for (std::size_t i = 0; i < n; ++i)
        wrong += back[i] != static_cast<float>(mixprec::convert<mixprec::float4_e2m1>(src[i], r, saturation::none));
      wrong += back[n] != -1.0f;
      INFO("n = " << n << ", mode " << static_cast<int>(r) << ", path " << mixprec::host::to_string(path));
      CHECK(wrong == 0);
      }
    }
    // Stochastic: element i uses stochastic_rounding_bits(seed, offset, i).
    std::vector<mixprec::float4_e2m1x2> packed((n + 1) / 2);
    mixprec::convert_n_stochastic(src.data(), n, packed.data(), 7u, 100u);
    int wrong = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto element = i % 2 == 0 ? packed[i / 2].element0() : packed[i / 2].element1();
      wrong += element.bits() !=
               mixprec::convert_stochastic<mixprec::float4_e2m1>(src[i], mixprec::stochastic_rounding_bits(7u, 100u, i))
                   .bits();
    }
    CHECK(wrong == 0);
  }
}

TEST_CASE("convert_n to packed FP4 rejects bad arguments before writing a byte", "[microscaling][packed][convert_n]") {
  std::vector<float> src(9, 1.0f);
  std::vector<mixprec::float4_e2m1x2> dst(5, mixprec::float4_e2m1x2::from_bits(0x5A));
  const auto untouched = [&dst] { return mixprec_test::every_code_is(dst, 0x5A); };
  CHECK_THROWS_AS(mixprec::convert_n(src.data(), 9, static_cast<mixprec::float4_e2m1x2*>(nullptr)), mixprec::error);
  CHECK_THROWS_AS(mixprec::convert_n(static_cast<const float*>(nullptr), 9, dst.data()), mixprec::error);
  CHECK_THROWS_AS(mixprec::convert_n(src.data(), 9, dst.data(), rounding::stochastic), mixprec::error);
  CHECK_THROWS_AS(mixprec::convert_n(src.data(), 9, dst.data(), static_cast<rounding>(42)), mixprec::error);
  CHECK_THROWS_AS(mixprec::convert_n(src.data(), 9, dst.data(), rounding::nearest_even, static_cast<saturation>(7)),
                  mixprec::error);
  CHECK(untouched());
  // Overlap: packed bytes inside the float array, and a float array that
  // starts in the last packed byte.
  std::vector<float> buffer(16, 2.0f);
  auto* inside = reinterpret_cast<mixprec::float4_e2m1x2*>(buffer.data() + 4);
  CHECK_THROWS_AS(mixprec::convert_n(buffer.data(), 8, inside), mixprec::error);
  CHECK(buffer[4] == 2.0f);
  alignas(float) unsigned char bytes[64] = {};
  auto* packed = reinterpret_cast<mixprec::float4_e2m1x2*>(bytes);
  auto* floats = reinterpret_cast<float*>(bytes + 4);  // 9 codes need 5 bytes: byte 4 is shared
  CHECK_THROWS_AS(mixprec::convert_n(packed, 9, floats), mixprec::error);
  CHECK_NOTHROW(mixprec::convert_n(packed, 8, floats));  // 8 codes need 4 bytes: adjacent, no overlap
  // n = 0 accepts null pointers.
  CHECK_NOTHROW(mixprec::convert_n(static_cast<const float*>(nullptr), 0, static_cast<mixprec::float4_e2m1x2*>(nullptr)));
  try {
    mixprec::convert_n(src.data(), 9, dst.data(), rounding::stochastic);
  } catch (const mixprec::error& e) {
    CHECK(std::string(e.what()).find("convert_n_stochastic") != std::string::npos);
  }
}

TEST_CASE("convert_n of the unpacked microscaling types equals the scalar conversion on every path",
          "[microscaling][convert_n]") {
  std::vector<float> src;
  for (int i = 0; i < 4000; ++i) src.push_back(std::ldexp(static_cast<float>(i % 97) - 48.0f, i % 40 - 20));
  src.insert(src.end(), {infinity, -infinity, not_a_number, 0.0f, -0.0f});
  reference::for_each_microscaling_format([&](auto tag) {
    using T = decltype(tag);
    int wrong = 0;
    for (const mixprec::host::simd_path path : mixprec::host::available_simd_paths()) {
      for (const rounding r : every_mode) {
        for (const saturation s : every_policy) {
          std::vector<T> dst(src.size());
          mixprec::convert_n(src.data(), src.size(), dst.data(), r, s, path);
          for (std::size_t i = 0; i < src.size(); ++i) wrong += dst[i].bits() != mixprec::convert<T>(src[i], r, s).bits();
        }
      }
      std::vector<T> codes(std::size_t{1} << T::format::total_bits);
      for (std::size_t c = 0; c < codes.size(); ++c) codes[c] = T::from_bits(static_cast<typename T::storage_type>(c));
      std::vector<float> decoded(codes.size());
      mixprec::convert_n(codes.data(), codes.size(), decoded.data(), path);
      for (std::size_t c = 0; c < codes.size(); ++c) {
        const float expected = static_cast<float>(codes[c]);
        wrong += std::memcmp(&expected, &decoded[c], sizeof expected) != 0;
      }
    }
    INFO(reference::spec_of<T>().name);
    CHECK(wrong == 0);
  });
}

// convert_n's vector encoder for FP6/FP4 (nearest_even and toward_zero) is
// held to the independent reference on every float input, on every SIMD path
// and under both saturations, by the exhaustive sweeps in
// test_conversion_exhaustive.cpp, in the same pass as the scalar conversion.
