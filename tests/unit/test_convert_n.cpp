// Bulk conversion (issue 2 §4, §6, §8): convert_n and convert_n_stochastic
// give, element for element, the bits of the scalar conversions —
// mixprec::convert<T>, static_cast<float> and convert_stochastic, which are
// the engine — on every SIMD path this machine has, each path forced in turn.
//
// The exhaustive sweeps over every float input (every format with a vector
// encoder, nearest_even and toward_zero, both saturations, every SIMD path)
// are in test_conversion_exhaustive.cpp: there convert_n is held to the
// independent reference in the same pass as the scalar conversion, so the
// expected codes are computed once (here they cost a second scalar pass).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mixprec/core/random.hpp"
#include "mixprec/host/convert_n.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#if MIXPREC_CATCH2_VERSION == 3
#include <catch2/catch_template_test_macros.hpp>
#endif

#if MIXPREC_HOST_SIMD && defined(__SSE__)
#define MIXPREC_TEST_MXCSR 1
#include <immintrin.h>
#else
#define MIXPREC_TEST_MXCSR 0
#endif

namespace {

using mixprec::rounding;
using mixprec::saturation;
using mixprec::host::simd_path;

float float_from_bits(std::uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

std::uint32_t bits_of(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

const char* name_of(rounding mode) {
  switch (mode) {
    case rounding::nearest_even: return "nearest_even";
    case rounding::toward_zero: return "toward_zero";
    case rounding::stochastic: return "stochastic";
    case rounding::upward: return "upward";
    case rounding::downward: return "downward";
  }
  return "?";
}

const char* name_of(saturation policy) { return policy == saturation::finite ? "finite" : "none"; }

// The SIMD paths of this machine (the portable path is the engine itself).
std::vector<simd_path> simd_paths() {
  std::vector<simd_path> paths = mixprec::host::available_simd_paths();
  paths.erase(std::remove(paths.begin(), paths.end(), simd_path::portable), paths.end());
  return paths;
}

// ---- Everything below runs on every type ----------------------------------
//
// The harness is plain code over codes (std::uint32_t), compiled once; only
// the conversions under test and the scalar conversions they are held to are
// templates, one small [[gnu::noinline]] function per type, reached through
// the table conversions_of<T>(). (Written as templates per type, the
// harness with the kernels inlined into each copy took most of this file's
// compile time.)

#define MIXPREC_ALL_TYPES \
  mixprec::float8_e4m3, mixprec::float8_e5m2, mixprec::float16, mixprec::bfloat16, mixprec::float8_e4m3fnuz, \
      mixprec::float8_e5m2fnuz

template <class T>
std::vector<std::uint32_t> bits_of(const std::vector<T>& values) {
  std::vector<std::uint32_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) bits[i] = values[i].bits();
  return bits;
}

// T's codes, as T.
template <class T>
std::vector<T> values_of(const std::vector<std::uint32_t>& codes) {
  std::vector<T> values(codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i)
    values[i] = T::from_bits(static_cast<typename T::storage_type>(codes[i]));
  return values;
}

// The bulk conversions under test (convert_n, convert_n_stochastic) and the
// scalar ones (convert<T>, T(x), static_cast<float>, convert_stochastic), for T.
template <class T>
[[gnu::noinline]] std::vector<std::uint32_t> bulk_encode(const std::vector<float>& in, rounding mode, saturation policy,
                                                         simd_path path) {
  std::vector<T> out(in.size());
  mixprec::convert_n(in.data(), in.size(), out.data(), mode, policy, path);
  return bits_of(out);
}
template <class T>
[[gnu::noinline]] std::vector<std::uint32_t> bulk_encode_defaults(const std::vector<float>& in) {
  std::vector<T> out(in.size());
  mixprec::convert_n(in.data(), in.size(), out.data());
  return bits_of(out);
}
template <class T>
[[gnu::noinline]] std::vector<std::uint32_t> bulk_encode_stochastic(const float* in, std::size_t n, std::uint64_t seed,
                                                                    std::uint64_t offset, saturation policy) {
  std::vector<T> out(n);
  mixprec::convert_n_stochastic(in, n, out.data(), seed, offset, policy);
  return bits_of(out);
}
// Decodes codes with convert_n on path (best path: null) into floats' bits.
template <class T>
[[gnu::noinline]] std::vector<std::uint32_t> bulk_decode(const std::vector<std::uint32_t>& codes,
                                                         const simd_path* path) {
  const std::vector<T> values = values_of<T>(codes);
  std::vector<float> out(codes.size());
  if (path == nullptr)
    mixprec::convert_n(values.data(), values.size(), out.data());
  else
    mixprec::convert_n(values.data(), values.size(), out.data(), *path);
  std::vector<std::uint32_t> bits(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) bits[i] = bits_of(out[i]);
  return bits;
}
// convert_n of src[0, n) (nearest_even, T's default saturation, on path)
// into a buffer of buffer_size codes of T that start as guard_code, at
// dst_at; then convert_n of those n codes, in place in that buffer, on path
// into back (n floats). Returns the buffer's codes.
template <class T>
[[gnu::noinline]] std::vector<std::uint32_t> bulk_round_trip_in_buffer(const float* src, std::size_t n,
                                                                       std::size_t buffer_size, std::size_t dst_at,
                                                                       std::uint32_t guard_code, float* back,
                                                                       simd_path path) {
  std::vector<T> dst_buffer(buffer_size, T::from_bits(static_cast<typename T::storage_type>(guard_code)));
  T* dst = dst_buffer.data() + dst_at;
  mixprec::convert_n(src, n, dst, rounding::nearest_even, T::default_saturation, path);
  mixprec::convert_n(static_cast<const T*>(dst), n, back, path);
  return bits_of(dst_buffer);
}
template <class T>
[[gnu::noinline]] std::uint32_t scalar_encode(float x, rounding mode, saturation policy) {
  return mixprec::convert<T>(x, mode, policy).bits();
}
template <class T>
[[gnu::noinline]] std::uint32_t scalar_encode_defaults(float x) {
  return mixprec::convert<T>(x).bits();
}
template <class T>
[[gnu::noinline]] std::uint32_t scalar_construct(float x) {
  return T(x).bits();
}
template <class T>
[[gnu::noinline]] std::uint32_t scalar_encode_stochastic(float x, std::uint32_t random_bits, saturation policy) {
  return mixprec::convert_stochastic<T>(x, random_bits, policy).bits();
}
template <class T>
[[gnu::noinline]] std::uint32_t scalar_decode(std::uint32_t code) {
  return bits_of(static_cast<float>(T::from_bits(static_cast<typename T::storage_type>(code))));
}

// T's format and its conversions.
struct conversions {
  int total_bits, mantissa_bits;
  std::size_t storage_bytes;
  saturation default_saturation;
  std::vector<std::uint32_t> (*bulk_encode)(const std::vector<float>&, rounding, saturation, simd_path);
  std::vector<std::uint32_t> (*bulk_encode_defaults)(const std::vector<float>&);
  std::vector<std::uint32_t> (*bulk_encode_stochastic)(const float*, std::size_t, std::uint64_t, std::uint64_t,
                                                       saturation);
  std::vector<std::uint32_t> (*bulk_decode)(const std::vector<std::uint32_t>&, const simd_path*);
  std::vector<std::uint32_t> (*bulk_round_trip_in_buffer)(const float*, std::size_t, std::size_t, std::size_t,
                                                          std::uint32_t, float*, simd_path);
  std::uint32_t (*scalar_encode)(float, rounding, saturation);
  std::uint32_t (*scalar_encode_defaults)(float);
  std::uint32_t (*scalar_construct)(float);
  std::uint32_t (*scalar_encode_stochastic)(float, std::uint32_t, saturation);
  std::uint32_t (*scalar_decode)(std::uint32_t);
};
template <class T>
conversions conversions_of() {
  return {T::format::total_bits,
          T::format::mantissa_bits,
          sizeof(typename T::storage_type),
          T::default_saturation,
          &bulk_encode<T>,
          &bulk_encode_defaults<T>,
          &bulk_encode_stochastic<T>,
          &bulk_decode<T>,
          &bulk_round_trip_in_buffer<T>,
          &scalar_encode<T>,
          &scalar_encode_defaults<T>,
          &scalar_construct<T>,
          &scalar_encode_stochastic<T>,
          &scalar_decode<T>};
}

// Every code of the format, 0 to 2^total_bits - 1.
std::vector<std::uint32_t> every_code(const conversions& t) {
  std::vector<std::uint32_t> codes(std::size_t{1} << t.total_bits);
  for (std::size_t c = 0; c < codes.size(); ++c) codes[c] = static_cast<std::uint32_t>(c);
  return codes;
}

// The scalar conversions of many values: convert<T>(in[i], mode, policy) and static_cast<float>(code).
std::vector<std::uint32_t> scalar_encode_all(const conversions& t, const std::vector<float>& in, rounding mode,
                                             saturation policy) {
  std::vector<std::uint32_t> codes(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) codes[i] = t.scalar_encode(in[i], mode, policy);
  return codes;
}
std::vector<std::uint32_t> scalar_decode_all(const conversions& t, const std::vector<std::uint32_t>& codes) {
  std::vector<std::uint32_t> bits(codes.size());
  for (std::size_t c = 0; c < codes.size(); ++c) bits[c] = t.scalar_decode(codes[c]);
  return bits;
}

// A sample of awkward floats: signed zeros, infinities, NaNs with payloads,
// float subnormals, each format's boundaries (smallest subnormal and half of
// it, min normal, max, the midpoint beyond max) and their neighbours, plus a
// spread of random patterns.
std::vector<float> awkward_floats(const conversions& t) {
  std::vector<std::uint32_t> bits = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
                                     0x7F800001u, 0xFFFFFFFFu, 0x7FFFFFFFu, 0x00000001u, 0x807FFFFFu, 0x00800000u,
                                     0x7F7FFFFFu, 0x3F800000u, 0xBF800000u};
  // Codes of T (every one for 8-bit formats), decoded, with the floats
  // around them and around the midpoints to their normal neighbours.
  const std::uint32_t half_ulp = 1u << (22 - t.mantissa_bits);
  for (std::uint32_t code = 0; code < (1u << t.total_bits); code += t.total_bits <= 8 ? 1 : 61) {
    const std::uint32_t value = t.scalar_decode(code);
    for (std::uint32_t delta : {0u, 1u, 2u, half_ulp - 1, half_ulp, half_ulp + 1, 2 * half_ulp - 1})
      for (std::uint32_t v : {value + delta, value - delta}) bits.push_back(v);
  }
  for (std::uint64_t i = 0; i < 20000; ++i) bits.push_back(mixprec::stochastic_rounding_bits(12345, 0, i));
  std::vector<float> floats(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) floats[i] = float_from_bits(bits[i]);
  return floats;
}

void check_decode_every_code(const conversions& t) {
  const std::vector<std::uint32_t> codes = every_code(t);
  const std::vector<std::uint32_t> scalar = scalar_decode_all(t, codes);
  for (simd_path path : mixprec::host::available_simd_paths()) {
    CAPTURE(mixprec::host::to_string(path));
    const std::vector<std::uint32_t> out = t.bulk_decode(codes, &path);
    std::size_t mismatches = 0;
    for (std::size_t c = 0; c < codes.size(); ++c)
      if (out[c] != scalar[c]) {
        if (++mismatches <= 4)
          FAIL_CHECK("code 0x" << std::hex << c << ": bulk 0x" << out[c] << ", scalar 0x" << scalar[c]);
      }
    CHECK(mismatches == 0);
  }
}

void check_encode_every_mode(const conversions& t) {
  const std::vector<float> in = awkward_floats(t);
  for (rounding mode : {rounding::nearest_even, rounding::toward_zero, rounding::upward, rounding::downward})
    for (saturation policy : {saturation::finite, saturation::none}) {
      const std::vector<std::uint32_t> scalar = scalar_encode_all(t, in, mode, policy);
      for (simd_path path : mixprec::host::available_simd_paths()) {
        CAPTURE(name_of(mode), name_of(policy), mixprec::host::to_string(path));
        const std::vector<std::uint32_t> out = t.bulk_encode(in, mode, policy, path);
        std::size_t mismatches = 0;
        for (std::size_t i = 0; i < in.size(); ++i)
          if (out[i] != scalar[i] && ++mismatches <= 4)
            FAIL_CHECK("input 0x" << std::hex << bits_of(in[i]) << ": bulk 0x" << out[i] << ", scalar 0x" << scalar[i]);
        CHECK(mismatches == 0);
      }
    }
}

void check_defaults(const conversions& t) {
  const std::vector<float> in = awkward_floats(t);
  const std::vector<std::uint32_t> out = t.bulk_encode_defaults(in);
  for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == t.scalar_construct(in[i]));
  const std::vector<std::uint32_t> back = t.bulk_decode(out, nullptr);
  for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(back[i] == t.scalar_decode(out[i]));
}

void check_odd_lengths_and_alignments(const conversions& t) {
  const std::vector<float> sample = awkward_floats(t);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 100; ++n) lengths.push_back(n);
  for (std::size_t n : {std::size_t{127}, std::size_t{128}, std::size_t{129}, std::size_t{255}, std::size_t{1000}, std::size_t{4097}}) lengths.push_back(n);
  constexpr std::size_t guard = 64;
  const std::uint32_t guard_code = t.storage_bytes == 1 ? 0x5Au : 0x5A5Au;  // 0x5A5A as the storage type
  const std::uint32_t guard_float = 0x12345678u;
  for (simd_path path : mixprec::host::available_simd_paths()) {
    CAPTURE(mixprec::host::to_string(path));
    for (std::size_t n : lengths) {
      CAPTURE(n);
      // Offsets in elements cover every alignment modulo 64 bytes: 1..63
      // bytes for 8-bit codes, even byte offsets for 16-bit codes, multiples
      // of 4 for floats.
      const std::size_t src_offset = n % 16;
      const std::size_t dst_offset = (n * 7) % (64 / t.storage_bytes);
      std::vector<float> in(n);
      for (std::size_t i = 0; i < n; ++i) in[i] = sample[(i * 31 + n) % sample.size()];
      std::vector<float> src_storage(src_offset + n);
      std::copy(in.begin(), in.end(), src_storage.begin() + static_cast<std::ptrdiff_t>(src_offset));
      const float* src = src_storage.data() + src_offset;

      // There and back, from the unaligned codes into an unaligned float array.
      std::vector<float> back_buffer(guard + src_offset + n + guard, float_from_bits(guard_float));
      float* back = back_buffer.data() + guard + src_offset;
      const std::vector<std::uint32_t> dst_buffer = t.bulk_round_trip_in_buffer(
          src, n, guard + dst_offset + n + guard, guard + dst_offset, guard_code, back, path);
      for (std::size_t i = 0; i < dst_buffer.size(); ++i) {
        const bool inside = i >= guard + dst_offset && i < guard + dst_offset + n;
        const std::uint32_t expected = inside ? t.scalar_encode_defaults(in[i - guard - dst_offset]) : guard_code;
        if (dst_buffer[i] != expected) FAIL("encode: element " << i << " of the buffer is wrong");
      }
      for (std::size_t i = 0; i < back_buffer.size(); ++i) {
        const bool inside = i >= guard + src_offset && i < guard + src_offset + n;
        const std::uint32_t expected =
            inside ? t.scalar_decode(dst_buffer[guard + dst_offset + i - guard - src_offset]) : guard_float;
        if (bits_of(back_buffer[i]) != expected) FAIL("decode: element " << i << " of the buffer is wrong");
      }
    }
  }
}

void check_stochastic(const conversions& t) {
  const std::vector<float> in = awkward_floats(t);
  const std::uint64_t seed = 0x5EED, offset = 1000;
  for (saturation policy : {saturation::finite, saturation::none}) {
    CAPTURE(name_of(policy));
    const std::vector<std::uint32_t> out = t.bulk_encode_stochastic(in.data(), in.size(), seed, offset, policy);
    for (std::size_t i = 0; i < in.size(); ++i)
      REQUIRE(out[i] == t.scalar_encode_stochastic(in[i], mixprec::stochastic_rounding_bits(seed, offset, i), policy));
    // Two calls that advance the offset give the bits of one call.
    const std::size_t first = in.size() / 3;
    std::vector<std::uint32_t> halves = t.bulk_encode_stochastic(in.data(), first, seed, offset, policy);
    const std::vector<std::uint32_t> rest =
        t.bulk_encode_stochastic(in.data() + first, in.size() - first, seed, offset + first, policy);
    halves.insert(halves.end(), rest.begin(), rest.end());
    CHECK(halves == out);
  }
}

TEMPLATE_TEST_CASE("convert_n T -> float: every code on every path equals static_cast<float>", "[convert_n]",
                   MIXPREC_ALL_TYPES) {
  check_decode_every_code(conversions_of<TestType>());
}

TEMPLATE_TEST_CASE("convert_n float -> T: every mode and saturation on every path equals convert<T>", "[convert_n]",
                   MIXPREC_ALL_TYPES) {
  check_encode_every_mode(conversions_of<TestType>());
}

TEMPLATE_TEST_CASE("convert_n defaults to nearest_even and T's default saturation on the best path", "[convert_n]",
                   MIXPREC_ALL_TYPES) {
  check_defaults(conversions_of<TestType>());
}

// Every length from 0 to 100 (and a few long ones), every alignment a valid
// pointer can have within 64 bytes, and guard elements around the
// destination: tails are right, and nothing outside [dst, dst + n) is written.
TEMPLATE_TEST_CASE("convert_n: odd lengths and unaligned arrays convert right and write nothing outside", "[convert_n]",
                   MIXPREC_ALL_TYPES) {
  check_odd_lengths_and_alignments(conversions_of<TestType>());
}

TEST_CASE("convert_n: n == 0 accepts null pointers on every overload", "[convert_n]") {
  const float* no_floats = nullptr;
  mixprec::float8_e4m3* no_codes = nullptr;
  CHECK_NOTHROW(mixprec::convert_n(no_floats, 0, no_codes));
  CHECK_NOTHROW(mixprec::convert_n(no_floats, 0, no_codes, rounding::toward_zero, saturation::none));
  CHECK_NOTHROW(mixprec::convert_n(static_cast<const mixprec::float8_e4m3*>(no_codes), 0, static_cast<float*>(nullptr)));
  CHECK_NOTHROW(mixprec::convert_n_stochastic(no_floats, 0, no_codes, 1, 2));
  for (simd_path path : mixprec::host::available_simd_paths()) {
    CHECK_NOTHROW(mixprec::convert_n(no_floats, 0, no_codes, rounding::nearest_even, saturation::finite, path));
    CHECK_NOTHROW(mixprec::convert_n(static_cast<const mixprec::float8_e4m3*>(no_codes), 0, static_cast<float*>(nullptr),
                                     path));
  }
}

TEST_CASE("convert_n rejects null arrays with n > 0 and stochastic rounding and overlap and unsupported paths",
          "[convert_n]") {
  float floats[8] = {};
  mixprec::float16 codes[8] = {};
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(static_cast<const float*>(nullptr), 8, codes), "src is null but n = 8");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 8, static_cast<mixprec::float16*>(nullptr)), "dst is null but n = 8");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(static_cast<const mixprec::float16*>(nullptr), 8, floats),
                        "src is null but n = 8");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n_stochastic(floats, 8, static_cast<mixprec::float16*>(nullptr), 1, 0),
                        "dst is null but n = 8");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 8, codes, rounding::stochastic), "convert_n_stochastic");

  // The same buffer seen as floats and as codes: both directions overlap.
  alignas(4) unsigned char buffer[64] = {};
  auto* as_floats = reinterpret_cast<float*>(buffer);
  auto* as_codes = reinterpret_cast<mixprec::float8_e4m3*>(buffer + 12);
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(as_floats, 8, as_codes), "overlap");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(static_cast<const mixprec::float8_e4m3*>(as_codes), 8, as_floats), "overlap");
  // Adjacent arrays do not overlap.
  CHECK_NOTHROW(mixprec::convert_n(as_floats, 3, as_codes));

  // A path this build or CPU cannot run.
  for (simd_path path : {simd_path::avx2, simd_path::avx512, static_cast<simd_path>(99)}) {
    if (mixprec::host::is_supported(path)) continue;
    CAPTURE(mixprec::host::to_string(path));
    MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 8, codes, rounding::nearest_even, saturation::none, path),
                          "is not supported by this CPU");
    MIXPREC_REQUIRE_ERROR(mixprec::convert_n(static_cast<const mixprec::float16*>(codes), 8, floats, path),
                          "is not supported by this CPU");
  }
  // A value that is no enumerator is named by its number, not only as "unknown".
  MIXPREC_REQUIRE_ERROR(
      mixprec::convert_n(floats, 8, codes, rounding::nearest_even, saturation::none, static_cast<simd_path>(99)),
      "simd_path::unknown (99) is not supported");
}

TEST_CASE("available_simd_paths lists portable first and the best path last", "[convert_n]") {
  const std::vector<simd_path> paths = mixprec::host::available_simd_paths();
  REQUIRE(!paths.empty());
  CHECK(paths.front() == simd_path::portable);
  CHECK(paths.back() == mixprec::host::best_simd_path());
  for (simd_path path : paths) CHECK(mixprec::host::is_supported(path));
  std::string names;
  for (simd_path path : paths) names += std::string(" ") + mixprec::host::to_string(path);
  WARN("SIMD paths on this machine:" << names);
}

TEMPLATE_TEST_CASE("convert_n_stochastic: element i is convert_stochastic with the bits stochastic_rounding_bits(seed offset i)",
                   "[convert_n]", MIXPREC_ALL_TYPES) {
  check_stochastic(conversions_of<TestType>());
}

#if MIXPREC_TEST_MXCSR
// The kernels use integer arithmetic on bit patterns (and, in decode, exact
// float operations on normal numbers): the caller's rounding mode, DAZ and FTZ
// change nothing, and no floating-point exception flag is raised.
class mxcsr_scope {
 public:
  explicit mxcsr_scope(unsigned int value) : saved_(_mm_getcsr()) { _mm_setcsr(value); }
  ~mxcsr_scope() { _mm_setcsr(saved_); }
  mxcsr_scope(const mxcsr_scope&) = delete;
  mxcsr_scope& operator=(const mxcsr_scope&) = delete;

 private:
  unsigned int saved_;
};

void check_mxcsr_changes_nothing(const conversions& t) {
  const std::vector<float> in = awkward_floats(t);
  const std::vector<std::uint32_t> all_codes = every_code(t);

  // Expected bits, under the default environment.
  std::vector<std::vector<std::uint32_t>> expected_encode;
  for (rounding mode : {rounding::nearest_even, rounding::toward_zero})
    for (saturation policy : {saturation::finite, saturation::none})
      expected_encode.push_back(scalar_encode_all(t, in, mode, policy));
  const std::vector<std::uint32_t> expected_decode = scalar_decode_all(t, all_codes);

  constexpr unsigned int daz = 0x0040, ftz = 0x8000, all_masked = 0x1F80, flags = 0x003F;
  for (unsigned int rounding_control : {0x0000u, 0x2000u, 0x4000u, 0x6000u})  // nearest, down, up, toward zero
    for (simd_path path : simd_paths()) {
      CAPTURE(rounding_control, mixprec::host::to_string(path));
      std::vector<std::vector<std::uint32_t>> encoded;
      std::vector<std::uint32_t> decoded_bits;
      unsigned int raised = 0;
      {
        const mxcsr_scope scope(all_masked | daz | ftz | rounding_control);
        for (rounding mode : {rounding::nearest_even, rounding::toward_zero})
          for (saturation policy : {saturation::finite, saturation::none})
            encoded.push_back(t.bulk_encode(in, mode, policy, path));
        decoded_bits = t.bulk_decode(all_codes, &path);
        raised = _mm_getcsr() & flags;
      }
      CHECK(encoded == expected_encode);
      CHECK(decoded_bits == expected_decode);
      CHECK(raised == 0);
    }
}

TEMPLATE_TEST_CASE("convert_n: MXCSR rounding and DAZ and FTZ change nothing and no exception flag is raised", "[convert_n]",
                   MIXPREC_ALL_TYPES) {
  check_mxcsr_changes_nothing(conversions_of<TestType>());
}
#endif

}  // namespace

// ---- Issue 12: a wrapped size and invalid enum values are refused ---------

TEST_CASE("convert_n: the overlap check cannot be defeated by n * sizeof wrapping", "[convert_n]") {
  // Before: n · sizeof(float) = 2^64 wrapped to 0 bytes, the arrays looked
  // disjoint, and the conversion ran off the end of the buffer.
  alignas(16) unsigned char buffer[64] = {};
  auto* as_floats = reinterpret_cast<float*>(buffer);
  auto* as_bf16 = reinterpret_cast<mixprec::bfloat16*>(buffer);
  // (Read through a volatile: a constant n this large over a 64-byte buffer
  // is, to the optimiser, undefined behaviour to warn about.)
  volatile std::size_t opaque = std::size_t{1} << 62;
  const std::size_t wraps = opaque;
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(as_floats, wraps, as_bf16), "beyond the address space");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(static_cast<const mixprec::bfloat16*>(as_bf16), wraps, as_floats),
                        "beyond the address space");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n_stochastic(as_floats, wraps, as_bf16, 1, 0), "beyond the address space");
  // Separate arrays with an impossible n: refused too, whatever the path.
  float floats[4] = {};
  mixprec::float8_e4m3 codes[4] = {};
  for (simd_path path : mixprec::host::available_simd_paths()) {
    CAPTURE(mixprec::host::to_string(path));
    MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, wraps * 2, codes, rounding::nearest_even, saturation::finite,
                                             path),
                          "n must be the number of elements in the arrays");
  }
  for (unsigned char byte : buffer) CHECK(byte == 0);
}

TEST_CASE("convert_n refuses rounding and saturation values that are no enumerator", "[convert_n]") {
  // Before: rounding(42) fell through to the engine, which truncated.
  const float floats[3] = {1.7f, -2.3f, 1e30f};
  mixprec::float8_e4m3 codes[3] = {mixprec::float8_e4m3::from_bits(0x11), mixprec::float8_e4m3::from_bits(0x11),
                                   mixprec::float8_e4m3::from_bits(0x11)};
  for (simd_path path : mixprec::host::available_simd_paths()) {
    CAPTURE(mixprec::host::to_string(path));
    MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 3, codes, static_cast<rounding>(42), saturation::finite, path),
                          "rounding value 42 is not a mixprec::rounding enumerator");
    MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 3, codes, rounding::nearest_even, static_cast<saturation>(7), path),
                          "saturation value 7 is not a mixprec::saturation enumerator");
  }
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n(floats, 3, codes, static_cast<rounding>(42)), "rounding value 42");
  MIXPREC_REQUIRE_ERROR(mixprec::convert_n_stochastic(floats, 3, codes, 1, 0, static_cast<saturation>(7)),
                        "saturation value 7");
  for (mixprec::float8_e4m3 code : codes) CHECK(code.bits() == 0x11);
}
