// mixprec/types/cuda_interop.hpp: mixprec's types and CUDA's (__half,
// __nv_bfloat16, __nv_fp8_e4m3, __nv_fp8_e5m2, __nv_fp8_e8m0, __nv_fp6_e2m3,
// __nv_fp6_e3m2, __nv_fp4_e2m1, __nv_fp4x2_e2m1) convert both ways by copying
// the bits, every code kept (NaN payloads included), and CUDA's own decoding
// agrees with mixprec's value. Host build: CUDA's headers compile with
// g++/clang++, no nvcc or GPU needed.
#include "support/catch.hpp"

#if MIXPREC_HAVE_CUDA_HOST_HEADERS

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "mixprec/types.hpp"
#include "mixprec/types/cuda_interop.hpp"

namespace {

std::uint32_t raw_bits(__half h) { return static_cast<__half_raw>(h).x; }
std::uint32_t raw_bits(__nv_bfloat16 h) { return static_cast<__nv_bfloat16_raw>(h).x; }
std::uint32_t raw_bits(__nv_fp8_e4m3 h) { return h.__x; }
std::uint32_t raw_bits(__nv_fp8_e5m2 h) { return h.__x; }
std::uint32_t raw_bits(__nv_fp8_e8m0 h) { return h.__x; }
std::uint32_t raw_bits(__nv_fp6_e2m3 h) { return h.__x; }
std::uint32_t raw_bits(__nv_fp6_e3m2 h) { return h.__x; }
std::uint32_t raw_bits(__nv_fp4_e2m1 h) { return h.__x; }

float cuda_value(__half h) { return __half2float(h); }
float cuda_value(__nv_bfloat16 h) { return __bfloat162float(h); }
float cuda_value(__nv_fp8_e4m3 h) { return static_cast<float>(h); }
float cuda_value(__nv_fp8_e5m2 h) { return static_cast<float>(h); }
float cuda_value(__nv_fp8_e8m0 h) { return static_cast<float>(h); }
float cuda_value(__nv_fp6_e2m3 h) { return static_cast<float>(h); }
float cuda_value(__nv_fp6_e3m2 h) { return static_cast<float>(h); }
float cuda_value(__nv_fp4_e2m1 h) { return static_cast<float>(h); }

// Every code: mixprec -> CUDA -> mixprec keeps the bits; CUDA decodes the
// same value (NaN: both NaN).
template <class T, class Cuda>
void check_every_code() {
  std::uint64_t wrong_bits = 0, wrong_values = 0;
  std::string first;
  const std::uint32_t codes = std::uint32_t{1} << T::format::total_bits;
  for (std::uint32_t code = 0; code < codes; ++code) {
    const T x = T::from_bits(static_cast<typename T::storage_type>(code));
    const Cuda converted = x;        // implicit, mixprec -> CUDA
    const T back = converted;        // implicit, CUDA -> mixprec
    const Cuda direct(x);            // direct-initialisation is not ambiguous
    const Cuda cast = static_cast<Cuda>(x);
    if (raw_bits(converted) != code || back.bits() != code || raw_bits(direct) != code || raw_bits(cast) != code) {
      if (wrong_bits++ < 4) first += " bits of code " + std::to_string(code) + ";";
    }
    const float mine = static_cast<float>(x), theirs = cuda_value(converted);
    const bool same_value = std::isnan(mine) ? std::isnan(theirs) : std::memcmp(&mine, &theirs, sizeof mine) == 0;
    if (!same_value && wrong_values++ < 4) first += " value of code " + std::to_string(code) + ";";
  }
  INFO(first);
  CHECK(wrong_bits == 0);
  CHECK(wrong_values == 0);
}

// A function taking CUDA's type accepts mixprec's, and the other way round.
std::uint32_t takes_half(__half h) { return raw_bits(h); }
std::uint32_t takes_float16(mixprec::float16 x) { return x.bits(); }
std::uint32_t takes_fp8(__nv_fp8_e4m3 h) { return raw_bits(h); }

}  // namespace

TEST_CASE("CUDA interop: every code converts both ways as a bit copy and decodes to the same value", "[cuda][interop]") {
  check_every_code<mixprec::float16, __half>();
  check_every_code<mixprec::bfloat16, __nv_bfloat16>();
  check_every_code<mixprec::float8_e4m3, __nv_fp8_e4m3>();
  check_every_code<mixprec::float8_e5m2, __nv_fp8_e5m2>();
  check_every_code<mixprec::float8_e8m0, __nv_fp8_e8m0>();
  check_every_code<mixprec::float6_e2m3, __nv_fp6_e2m3>();
  check_every_code<mixprec::float6_e3m2, __nv_fp6_e3m2>();
  check_every_code<mixprec::float4_e2m1, __nv_fp4_e2m1>();
}

TEST_CASE("CUDA interop: float4_e2m1x2 and __nv_fp4x2_e2m1 share every byte and the nibble order", "[cuda][interop]") {
  STATIC_REQUIRE(std::is_convertible<mixprec::float4_e2m1x2, __nv_fp4x2_e2m1>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp4x2_e2m1, mixprec::float4_e2m1x2>::value);
  STATIC_REQUIRE(sizeof(mixprec::float4_e2m1x2) == sizeof(__nv_fp4x2_e2m1));
  int wrong = 0;
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    const auto pair = mixprec::float4_e2m1x2::from_bits(static_cast<std::uint8_t>(byte));
    const __nv_fp4x2_e2m1 cuda = pair;
    const mixprec::float4_e2m1x2 back = cuda;
    wrong += cuda.__x != byte || back.bits() != byte;
    // CUDA's own unpacking (float2: .x is element 0) agrees with element0/element1.
    const float2 unpacked = static_cast<float2>(cuda);
    wrong += unpacked.x != static_cast<float>(pair.element0()) || unpacked.y != static_cast<float>(pair.element1());
  }
  CHECK(wrong == 0);
  // CUDA's packing of (x, y) = (1, -6): 1 (0x2) in the low nibble, -6 (0xF) in the high one.
  float2 values;
  values.x = 1.0f;
  values.y = -6.0f;
  const __nv_fp4x2_e2m1 packed(values);
  const mixprec::float4_e2m1x2 pair = packed;
  CHECK(pair.bits() == 0xF2);
  CHECK(pair.element0().bits() == 0x2);
  CHECK(pair.element1().bits() == 0xF);
  CHECK(mixprec::float4_e2m1x2(mixprec::float4_e2m1(1.0f), mixprec::float4_e2m1(-6.0f)).bits() == 0xF2);
}

TEST_CASE("CUDA interop: implicit conversions exist exactly between types of the same format", "[cuda][interop]") {
  STATIC_REQUIRE(std::is_convertible<mixprec::float16, __half>::value);
  STATIC_REQUIRE(std::is_convertible<__half, mixprec::float16>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::bfloat16, __nv_bfloat16>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_bfloat16, mixprec::bfloat16>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::float8_e4m3, __nv_fp8_e4m3>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp8_e4m3, mixprec::float8_e4m3>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::float8_e5m2, __nv_fp8_e5m2>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp8_e5m2, mixprec::float8_e5m2>::value);
  // Different formats: no silent implicit conversion.
  STATIC_REQUIRE_FALSE(std::is_convertible<__half, mixprec::bfloat16>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<__nv_bfloat16, mixprec::float16>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<__nv_fp8_e4m3, mixprec::float8_e5m2>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<mixprec::float8_e4m3, __nv_fp8_e5m2>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<mixprec::float8_e4m3fnuz, __nv_fp8_e4m3>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::float8_e8m0, __nv_fp8_e8m0>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp8_e8m0, mixprec::float8_e8m0>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::float6_e2m3, __nv_fp6_e2m3>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp6_e3m2, mixprec::float6_e3m2>::value);
  STATIC_REQUIRE(std::is_convertible<mixprec::float4_e2m1, __nv_fp4_e2m1>::value);
  STATIC_REQUIRE(std::is_convertible<__nv_fp4_e2m1, mixprec::float4_e2m1>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<__nv_fp6_e2m3, mixprec::float6_e3m2>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<__nv_fp8_e8m0, mixprec::float8_e4m3>::value);
  STATIC_REQUIRE_FALSE(std::is_convertible<mixprec::float4_e2m1, __nv_fp8_e4m3>::value);
  STATIC_REQUIRE(sizeof(mixprec::float16) == sizeof(__half));
  STATIC_REQUIRE(sizeof(mixprec::bfloat16) == sizeof(__nv_bfloat16));
  STATIC_REQUIRE(sizeof(mixprec::float8_e4m3) == sizeof(__nv_fp8_e4m3));
  STATIC_REQUIRE(sizeof(mixprec::float8_e5m2) == sizeof(__nv_fp8_e5m2));

  // Assignment to existing CUDA values (__half also assigns from __half_raw,
  // which is why the raw structs are not made interoperable).
  __half h = __float2half_rn(0.0f);
  h = mixprec::float16(2.0f);
  CHECK(raw_bits(h) == 0x4000);
  __nv_bfloat16 b = __float2bfloat16_rn(0.0f);
  b = mixprec::bfloat16(2.0f);
  CHECK(raw_bits(b) == 0x4000);
  mixprec::float8_e4m3 e = mixprec::float8_e4m3(0.0f);
  e = __nv_fp8_e4m3(2.0f);
  CHECK(e.bits() == 0x40);

  CHECK(takes_half(mixprec::float16(1.5f)) == 0x3E00);
  CHECK(takes_float16(__float2half_rn(1.5f)) == 0x3E00);
  CHECK(takes_fp8(mixprec::float8_e4m3(448.0f)) == 0x7E);
  // NaN payloads and signs survive, unlike a conversion through float.
  const __half payload = mixprec::float16::from_bits(0xFC01);
  CHECK(raw_bits(payload) == 0xFC01);
  const mixprec::float8_e4m3 negative_nan = __nv_fp8_e4m3(mixprec::float8_e4m3::from_bits(0xFF));
  CHECK(negative_nan.bits() == 0xFF);
}

TEST_CASE("CUDA interop: CUDA's conversions and mixprec's agree where both round to nearest with saturation",
          "[cuda][interop]") {
  // __nv_fp8_e4m3(float) saturates like mixprec's default; spot checks (the
  // exhaustive test compares every float).
  for (const float x : {0.0f, -0.0f, 1.0f, 464.0f, 464.5f, -1e9f, 0x1p-10f, 3.1f}) {
    INFO(x);
    CHECK(mixprec::float8_e4m3(__nv_fp8_e4m3(x)).bits() == mixprec::float8_e4m3(x).bits());
    CHECK(mixprec::float8_e5m2(__nv_fp8_e5m2(x)).bits() == mixprec::float8_e5m2(x).bits());
    CHECK(mixprec::float16(__float2half_rn(x)).bits() == mixprec::float16(x).bits());
    CHECK(mixprec::bfloat16(__float2bfloat16_rn(x)).bits() == mixprec::bfloat16(x).bits());
    // CUDA's FP4/FP6 constructors round to nearest even and saturate, as mixprec's do.
    CHECK(mixprec::float4_e2m1(__nv_fp4_e2m1(x)).bits() == mixprec::float4_e2m1(x).bits());
    CHECK(mixprec::float6_e2m3(__nv_fp6_e2m3(x)).bits() == mixprec::float6_e2m3(x).bits());
    CHECK(mixprec::float6_e3m2(__nv_fp6_e3m2(x)).bits() == mixprec::float6_e3m2(x).bits());
    // CUDA's E8M0 constructor rounds |x| up with saturation (mixprec's rounds
    // to nearest): it equals convert with rounding::upward.
    CHECK(mixprec::float8_e8m0(__nv_fp8_e8m0(x)).bits() ==
          mixprec::convert<mixprec::float8_e8m0>(x, mixprec::rounding::upward).bits());
  }
  CHECK(mixprec::float8_e8m0(3.0f).bits() == 0x80);                 // nearest, tie to the even code: 2
  CHECK(mixprec::float8_e8m0(__nv_fp8_e8m0(3.0f)).bits() == 0x81);  // CUDA rounds up: 4
}

#else

TEST_CASE("CUDA interop: skipped, CUDA's headers were not found", "[cuda][interop]") {
  WARN("MIXPREC_HAVE_CUDA_HOST_HEADERS is not set: mixprec/types/cuda_interop.hpp is not tested");
}

#endif
