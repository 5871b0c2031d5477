// The host results do not depend on the caller's floating-point environment.
//
// Frameworks run with MXCSR's DAZ (denormals are zero) and FTZ (flush to
// zero) set — whatever is linked with -ffast-math (crtfastmath.o sets them at
// start-up), torch.set_flush_denormal(True), oneDNN — and sometimes with
// another rounding mode (fesetround). The GPU never sees the host's MXCSR, and
// mixprec promises the same bits on both, so every function below must give,
// byte for byte, what it gives in the default environment (where the other
// tests hold it to independent references): a differential test, run again
// under DAZ|FTZ, under each directed rounding mode, and under both at once.
//
// The inputs are built at run time (vectors), so that no compiler folds the
// computation under test at compile time, in the default environment. Where
// the library takes plain float arithmetic in the default environment and
// integer code in any other (the Hadamard transform), this holds the two to
// each other.
//
// For compile time, the harness is plain code over byte vectors and the list
// of environments; each library function under test is instantiated once, in
// a small function template reached through a table of function pointers per
// type (format_under_test and the like), not in harness templates and generic
// lambdas per format, mode and environment.
#include <cfenv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mixprec/host/block_quantize.hpp"
#include "mixprec/host/convert_n.hpp"
#include "mixprec/reference/block_scaled_gemm.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/scaling/block_recipes.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/independent_reference.hpp"
#include "support/test_random.hpp"
#if MIXPREC_CATCH2_VERSION == 3
#include <catch2/catch_template_test_macros.hpp>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE__)
#define MIXPREC_TEST_HAS_MXCSR 1
#include <xmmintrin.h>
#else
#define MIXPREC_TEST_HAS_MXCSR 0
#endif

namespace {

using mixprec::rounding;
using mixprec::saturation;
using mixprec::host::simd_path;
using bytes = std::vector<unsigned char>;

// ---- The environments -------------------------------------------------------

constexpr unsigned int daz_ftz = 0x8040;  // MXCSR bit 6 (DAZ) and bit 15 (FTZ)

struct environment {
  const char* name;
  unsigned int mxcsr_bits;  // or-ed into MXCSR
  int rounding_mode;        // for fesetround
};

std::vector<environment> environments() {
  std::vector<environment> list = {
      {"FE_UPWARD", 0, FE_UPWARD}, {"FE_DOWNWARD", 0, FE_DOWNWARD}, {"FE_TOWARDZERO", 0, FE_TOWARDZERO}};
#if MIXPREC_TEST_HAS_MXCSR
  list.insert(list.begin(), {"DAZ|FTZ", daz_ftz, FE_TONEAREST});
  list.push_back({"DAZ|FTZ with FE_UPWARD", daz_ftz, FE_UPWARD});
#endif
  return list;
}

// The environments with DAZ and FTZ that round to nearest (none without MXCSR).
std::vector<environment> daz_ftz_to_nearest() {
  std::vector<environment> list;
  for (const environment& e : environments())
    if (e.mxcsr_bits != 0 && e.rounding_mode == FE_TONEAREST) list.push_back(e);
  return list;
}

// Sets an environment and restores the caller's (rounding mode, MXCSR, flags)
// on destruction, also when a check throws.
class environment_scope {
 public:
  explicit environment_scope(const environment& e) {
    std::fegetenv(&saved_);
    std::fesetround(e.rounding_mode);
#if MIXPREC_TEST_HAS_MXCSR
    _mm_setcsr(_mm_getcsr() | e.mxcsr_bits);
#endif
  }
  ~environment_scope() { std::fesetenv(&saved_); }
  environment_scope(const environment_scope&) = delete;
  environment_scope& operator=(const environment_scope&) = delete;

 private:
  std::fenv_t saved_;
};

// Appends `size` bytes.
void append_bytes(bytes& out, const void* values, std::size_t size) {
  const std::size_t at = out.size();
  out.resize(at + size);
  if (size != 0) std::memcpy(out.data() + at, values, size);
}
template <class T>
void append(bytes& out, const std::vector<T>& values) {
  append_bytes(out, values.data(), values.size() * sizeof(T));
}
template <class T>
void append_value(bytes& out, const T& value) {
  append_bytes(out, &value, sizeof value);
}

// x in C's %a notation.
std::string hex(float x) {
  char text[32];
  std::snprintf(text, sizeof text, "%a", static_cast<double>(x));
  return text;
}

std::string hex_around(const bytes& b, std::size_t at) {
  std::string text;
  const std::size_t begin = at - at % 4;
  for (std::size_t i = begin; i < begin + 4 && i < b.size(); ++i) {
    char digits[4];
    std::snprintf(digits, sizeof digits, "%02X", b[i]);
    text += digits;
  }
  return text;
}

// Runs compute() in the default environment, then in every other one (or
// those given), and checks that each run gives the same bytes. `compute` must
// be a pure function of inputs it captures.
void check_independent_of_environment(const std::string& what, const std::function<bytes()>& compute,
                                      const std::vector<environment>& others = environments()) {
  const bytes expected = compute();
  for (const environment& e : others) {
    bytes actual;
    {
      const environment_scope scope(e);
      actual = compute();
    }
    std::size_t first = 0;
    while (first < expected.size() && first < actual.size() && expected[first] == actual[first]) ++first;
    const bool same = expected.size() == actual.size() && first == expected.size();
    INFO(what << " under " << e.name << ": first difference at byte " << first << " of " << expected.size()
              << ": default gives 0x" << hex_around(expected, first) << ", " << e.name << " gives 0x"
              << hex_around(actual, first) << " (4-byte word at byte " << first - first % 4 << ")");
    CHECK(same);
  }
}

// A format's codes as bytes, and back: the harness holds codes as bytes, and
// only the out-of-line function templates below see their types.
template <class T>
bytes bytes_of(const std::vector<T>& values) {
  bytes b;
  append(b, values);
  return b;
}
template <class T>
std::vector<T> values_of(const bytes& codes) {
  std::vector<T> values(codes.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), codes.data(), values.size() * sizeof(T));
  return values;
}

// ---- Inputs -------------------------------------------------------------------

using ::reference::float_bits;
using ::reference::float_from_bits;

// Float subnormals at a stride and their boundaries, signed zeros,
// infinities and NaNs, random patterns (every binade) and random normals of
// moderate size.
std::vector<float> common_floats() {
  std::vector<std::uint32_t> bits = {0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x807FFFFFu,
                                     0x00800000u, 0x80800000u, 0x00800001u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F800000u,
                                     0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FA00001u, 0xFFFFFFFFu,
                                     0x3F800000u, 0xBF800000u, 0x00400000u, 0x00000002u, 0x00000003u};
  for (std::uint32_t b = 1; b < 0x00800000u; b += 4099) {
    bits.push_back(b);
    bits.push_back(b | 0x80000000u);
  }
  mixprec_test::lcg random(17);
  for (int i = 0; i < 1500; ++i) {
    random.uniform();
    bits.push_back(static_cast<std::uint32_t>(random.state >> 32));
  }
  std::vector<float> values;
  for (std::uint32_t b : bits) values.push_back(float_from_bits(b));
  for (float x : mixprec_test::random_vector(500, 29, 4.0f)) values.push_back(x);
  return values;
}

// Each of T's codes (a sample of the 16-bit formats') decoded, the midpoints
// to the next code and the floats next to them, and the overflow threshold
// (max plus half its spacing) with its neighbours: where every rounding mode
// decides.
template <class T>
std::vector<float> format_floats() {
  using F = typename T::format;
  std::vector<float> values = common_floats();
  const std::uint32_t last = static_cast<std::uint32_t>(F::max_finite_magnitude);
  const auto value_of = [](std::uint32_t code) {
    return static_cast<double>(static_cast<float>(T::from_bits(static_cast<typename T::storage_type>(code))));
  };
  const auto around = [&](double x) {
    for (double sign : {1.0, -1.0}) {
      const std::uint32_t b = float_bits(static_cast<float>(sign * x));
      for (std::uint32_t v : {b - 1, b, b + 1}) values.push_back(float_from_bits(v));
    }
  };
  for (std::uint32_t code = 0; code < last; ++code) {
    const bool sampled = F::total_bits <= 8 || code < (4u << F::mantissa_bits) || code + 64 > last || code % 61 == 0;
    if (!sampled) continue;
    around(value_of(code));
    around((value_of(code) + value_of(code + 1)) / 2);  // exact: one bit more than T
  }
  const double max = value_of(last);
  around(max);
  around(max + (max - value_of(last - 1)) / 2);
  around(2 * max);
  return values;
}

// Doubles: the floats, the doubles just beside them (which no float holds),
// double subnormals and values beyond float's range.
std::vector<double> doubles_from(const std::vector<float>& floats) {
  std::vector<double> values;
  for (float x : floats) {
    const double d = static_cast<double>(x);
    values.push_back(d);
    values.push_back(d * (1.0 + 0x1p-40));
    values.push_back(d * (1.0 - 0x1p-40));
  }
  for (double d : {0x1p-1074, -0x1p-1074, 0x1.8p-1060, 0x1p-1022, 0x1p-200, 0x1.0000000001p-149, 0x1.fffffffp-150,
                   1e300, -1e300, 0x1p-127 * 1.5, 0x1p-130 + 0x1p-180})
    values.push_back(d);
  return values;
}

const rounding all_modes[] = {rounding::nearest_even, rounding::toward_zero, rounding::upward, rounding::downward,
                              rounding::stochastic};
const rounding deterministic_modes[] = {rounding::nearest_even, rounding::toward_zero, rounding::upward,
                                        rounding::downward};
const saturation both_policies[] = {saturation::finite, saturation::none};

std::uint32_t random_word(std::size_t i) {
  // Fixed words, the extremes among them (the library's generator is not the test's input).
  const std::uint32_t fixed[] = {0u, 0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu};
  return i % 8 < 4 ? fixed[i % 4] : static_cast<std::uint32_t>((i * 0x9E3779B97F4A7C15ull) >> 32);
}

// ---- One format's conversions, out of line ---------------------------------------

// What the conversion checks need of a format T — its inputs, its codes and
// the library's conversions — as plain functions, each instantiated once
// (format_of<T>).
struct format_under_test {
  std::vector<float> (*inputs)();                                                          // format_floats<T>
  bytes (*every_code)();                                                                   // each code, in order
  bytes (*convert_floats)(const std::vector<float>& x, rounding mode, saturation policy);  // convert<T> of each
  bytes (*convert_doubles)(const std::vector<double>& x, rounding mode, saturation policy);
  bytes (*decode)(const bytes& codes);  // static_cast<float> of each, then static_cast<double>
  bytes (*convert_n)(const std::vector<float>& x, rounding mode, saturation policy, simd_path path);
  bytes (*convert_n_back)(const bytes& codes, simd_path path);
  bytes (*convert_n_stochastic)(const std::vector<float>& x, saturation policy);
};

// convert<T>(x), or convert_stochastic<T> with the fixed random word of `index`.
template <class T, class Source>
[[gnu::noinline]] T convert_one(Source x, rounding mode, saturation policy, std::size_t index) {
  return mode == rounding::stochastic ? mixprec::convert_stochastic<T>(x, random_word(index), policy)
                                      : mixprec::convert<T>(x, mode, policy);
}
template <class T, class Source>
bytes convert_each(const std::vector<Source>& x, rounding mode, saturation policy) {
  std::vector<T> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = convert_one<T>(x[i], mode, policy, i);
  return bytes_of(out);
}
template <class T>
bytes every_code_of() {
  std::vector<T> codes(std::size_t{1} << T::format::total_bits);
  for (std::size_t c = 0; c < codes.size(); ++c) codes[c] = T::from_bits(static_cast<typename T::storage_type>(c));
  return bytes_of(codes);
}
template <class T>
bytes decode_each(const bytes& code_bytes) {
  const std::vector<T> codes = values_of<T>(code_bytes);
  std::vector<float> as_float(codes.size());
  std::vector<double> as_double(codes.size());
  for (std::size_t c = 0; c < codes.size(); ++c) {
    as_float[c] = static_cast<float>(codes[c]);
    as_double[c] = static_cast<double>(codes[c]);
  }
  bytes b;
  append(b, as_float);
  append(b, as_double);
  return b;
}
template <class T>
bytes convert_n_of(const std::vector<float>& x, rounding mode, saturation policy, simd_path path) {
  std::vector<T> out(x.size());
  mixprec::convert_n(x.data(), x.size(), out.data(), mode, policy, path);
  return bytes_of(out);
}
template <class T>
bytes convert_n_back_of(const bytes& code_bytes, simd_path path) {
  const std::vector<T> codes = values_of<T>(code_bytes);
  std::vector<float> out(codes.size());
  mixprec::convert_n(codes.data(), codes.size(), out.data(), path);
  return bytes_of(out);
}
template <class T>
bytes convert_n_stochastic_of(const std::vector<float>& x, saturation policy) {
  std::vector<T> out(x.size());
  mixprec::convert_n_stochastic(x.data(), x.size(), out.data(), 1234, 5, policy);
  return bytes_of(out);
}

template <class T>
format_under_test format_of() {
  return {&format_floats<T>, &every_code_of<T>, &convert_each<T, float>, &convert_each<T, double>,
          &decode_each<T>,   &convert_n_of<T>,  &convert_n_back_of<T>,   &convert_n_stochastic_of<T>};
}

#define MIXPREC_FP_ENV_ALL_TYPES                                                                             \
  mixprec::float16, mixprec::bfloat16, mixprec::float8_e4m3, mixprec::float8_e5m2, mixprec::float8_e4m3fnuz, \
      mixprec::float8_e5m2fnuz, mixprec::float6_e2m3, mixprec::float6_e3m2, mixprec::float4_e2m1, mixprec::float8_e8m0

// ---- Scalar conversions ---------------------------------------------------------

void check_scalar_conversions(const format_under_test& format) {
  const std::vector<float> floats = format.inputs();
  const std::vector<double> doubles = doubles_from(floats);
  for (rounding mode : all_modes)
    for (saturation policy : both_policies) {
      const std::string what = "convert mode " + std::to_string(static_cast<int>(mode)) + " policy " +
                               std::to_string(static_cast<int>(policy));
      check_independent_of_environment(what + " from float",
                                       [&] { return format.convert_floats(floats, mode, policy); });
      check_independent_of_environment(what + " from double",
                                       [&] { return format.convert_doubles(doubles, mode, policy); });
    }
}

TEMPLATE_TEST_CASE("fp environment: scalar convert<T> from float and double, every mode and saturation",
                   "[fp_environment]", MIXPREC_FP_ENV_ALL_TYPES) {
  check_scalar_conversions(format_of<TestType>());
}

TEMPLATE_TEST_CASE("fp environment: static_cast<float> and <double> of every code", "[fp_environment]",
                   MIXPREC_FP_ENV_ALL_TYPES) {
  const format_under_test format = format_of<TestType>();
  const bytes codes = format.every_code();
  check_independent_of_environment("decode", [&] { return format.decode(codes); });
}

// ---- Bulk conversions -------------------------------------------------------------

std::vector<simd_path> every_path_reporting_skips() {
  for (simd_path path : {simd_path::avx2, simd_path::avx512})
    if (!mixprec::host::is_supported(path))
      WARN("simd_path::" << mixprec::host::to_string(path) << " is not supported here: not tested");
  return mixprec::host::available_simd_paths();
}

void append_bytes(bytes& out, const bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

// Packed FP4: floats to two codes a byte and back, in each deterministic mode.
bytes convert_n_packed_fp4(const std::vector<float>& floats, simd_path path) {
  bytes b;
  for (rounding mode : deterministic_modes) {
    std::vector<mixprec::float4_e2m1x2> packed((floats.size() + 1) / 2);
    mixprec::convert_n(floats.data(), floats.size(), packed.data(), mode, saturation::finite, path);
    std::vector<float> back(floats.size());
    mixprec::convert_n(packed.data(), floats.size(), back.data());
    append(b, packed);
    append(b, back);
  }
  return b;
}

void check_bulk_conversions(const format_under_test& format, bool packed_fp4) {
  const std::vector<float> floats = format.inputs();
  const bytes codes = format.every_code();
  for (simd_path path : every_path_reporting_skips()) {
    const std::string where = std::string("convert_n on ") + mixprec::host::to_string(path);
    check_independent_of_environment(where + ", float -> T", [&] {
      bytes b;
      for (rounding mode : deterministic_modes)
        for (saturation policy : both_policies) append_bytes(b, format.convert_n(floats, mode, policy, path));
      return b;
    });
    check_independent_of_environment(where + ", T -> float", [&] { return format.convert_n_back(codes, path); });
  }
  check_independent_of_environment("convert_n_stochastic", [&] {
    bytes b;
    for (saturation policy : both_policies) append_bytes(b, format.convert_n_stochastic(floats, policy));
    return b;
  });
  if (packed_fp4)
    for (simd_path path : mixprec::host::available_simd_paths())
      check_independent_of_environment(std::string("packed FP4 convert_n on ") + mixprec::host::to_string(path),
                                       [&] { return convert_n_packed_fp4(floats, path); });
}

TEMPLATE_TEST_CASE("fp environment: convert_n on every SIMD path, both directions", "[fp_environment]",
                   MIXPREC_FP_ENV_ALL_TYPES) {
  check_bulk_conversions(format_of<TestType>(), std::is_same<TestType, mixprec::float4_e2m1>::value);
}

// ---- Block quantization -----------------------------------------------------------

constexpr std::int64_t block_rows = 48, block_cols = 80;  // MX: partial blocks both ways

// A [48, 80] tensor whose 16-element row blocks cycle through: all float
// subnormals, subnormals with one tiny normal, one subnormal among zeros,
// signed zeros, normals just above FLT_MIN, the subnormal/normal boundary
// values; `with_large` makes every 7th block ordinary values (so the
// tensor's amax is normal while many blocks' amax is subnormal), and
// `with_specials` puts an inf and a NaN into two blocks.
std::vector<float> tiny_tensor(bool with_large, bool with_specials) {
  mixprec_test::lcg random(with_large ? 101 : 103);
  const auto random_bits = [&](std::uint32_t below) {
    random.uniform();
    return static_cast<std::uint32_t>(random.state >> 33) % below;
  };
  std::vector<float> x(static_cast<std::size_t>(block_rows * block_cols));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t kind = (i / 16 + i / static_cast<std::size_t>(block_cols)) % 7;
    const std::uint32_t sign = random_bits(2) << 31;
    std::uint32_t bits = 0;
    switch (kind) {
      case 0:
        bits = 1 + random_bits(0x7FFFFF);
        break;
      case 1:
        bits = i % 16 == 5 ? 0x00800000u + random_bits(0x800000) : 1 + random_bits(0x7FFFFF);
        break;
      case 2:
        bits = i % 16 == 9 ? 1 + random_bits(0x7FFFFF) : 0;
        break;
      case 3:
        bits = 0;
        break;
      case 4:  // with_large: one ordinary value among them (a Hadamard block whose sums round)
        bits = with_large && i % 16 == 3 ? float_bits(3.0f + static_cast<float>(random_bits(1000)) / 9.0f)
                                         : 0x00800000u + random_bits(0x04000000);
        break;
      case 5: {
        const std::uint32_t boundary[] = {0x00000001u, 0x007FFFFFu, 0x00800000u, 0x00400000u};
        bits = boundary[i % 4];
        break;
      }
      default:
        bits = with_large ? float_bits(1.0f + static_cast<float>(random_bits(1000)) / 7.0f) : 1 + random_bits(0x7FFFFF);
        break;
    }
    x[i] = float_from_bits(bits | sign);
  }
  if (with_specials) {
    x[100] = float_from_bits(0x7F800000u);
    x[1000] = float_from_bits(0x7FC00001u);
  }
  return x;
}

struct block_sources {
  std::vector<float> tiny = tiny_tensor(false, false);
  std::vector<float> mixed = tiny_tensor(true, false);
  std::vector<float> special = tiny_tensor(true, true);
  std::vector<mixprec::bfloat16> tiny_bf16 = [this] {
    std::vector<mixprec::bfloat16> v(tiny.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = mixprec::bfloat16::from_bits(static_cast<std::uint16_t>(float_bits(tiny[i]) >> 16));
    return v;
  }();
};

// One of the sources above: float or bfloat16 elements.
struct source_tensor {
  const char* name;
  const float* floats;                 // or null
  const mixprec::bfloat16* bfloat16s;  // where floats is null
};

std::vector<source_tensor> sources_of(const block_sources& s) {
  return {{"tiny floats", s.tiny.data(), nullptr},
          {"mixed floats", s.mixed.data(), nullptr},
          {"floats with inf and NaN", s.special.data(), nullptr},
          {"tiny bfloat16", nullptr, s.tiny_bf16.data()}};
}

// Checks quantize_all(host, path) for the reference (host false, portable
// path) and for the host kernels on every SIMD path of this CPU.
void check_reference_and_host(const std::string& function, const source_tensor& x,
                              const std::function<bytes(bool host, simd_path path)>& quantize_all) {
  check_independent_of_environment("reference::" + function + " of " + x.name,
                                   [&] { return quantize_all(false, simd_path::portable); });
  for (simd_path path : mixprec::host::available_simd_paths())
    check_independent_of_environment("host::" + function + " of " + x.name + " on " + mixprec::host::to_string(path),
                                     [&] { return quantize_all(true, path); });
}

// MX: one element type's quantization (reference or host) and dequantization.
struct mx_element_under_test {
  bytes (*quantize)(const source_tensor& x, bool host, simd_path path, const mixprec::mx_options& o,
                    mixprec::mx_orientation orientation, std::vector<mixprec::float8_e8m0>& scales);
  std::vector<float> (*dequantize)(const bytes& q, const std::vector<mixprec::float8_e8m0>& scales, std::int64_t lines,
                                   std::int64_t length);
};

template <class Element, class Source>
[[gnu::noinline]] void quantize_mx_of(const Source* x, bool host, simd_path path, const mixprec::mx_options& o,
                                      mixprec::mx_orientation orientation, Element* out, mixprec::float8_e8m0* scales) {
  if (host)
    mixprec::host::quantize_mx(x, block_rows, block_cols, out, scales, o, orientation, path);
  else
    mixprec::reference::quantize_mx(x, block_rows, block_cols, out, scales, o, orientation);
}
template <class Element>
bytes quantize_mx_source(const source_tensor& x, bool host, simd_path path, const mixprec::mx_options& o,
                         mixprec::mx_orientation orientation, std::vector<mixprec::float8_e8m0>& scales) {
  std::vector<Element> out(static_cast<std::size_t>(block_rows * block_cols));
  if (x.floats != nullptr)
    quantize_mx_of(x.floats, host, path, o, orientation, out.data(), scales.data());
  else
    quantize_mx_of(x.bfloat16s, host, path, o, orientation, out.data(), scales.data());
  return bytes_of(out);
}
template <class Element>
std::vector<float> dequantize_mx_of(const bytes& q, const std::vector<mixprec::float8_e8m0>& scales, std::int64_t lines,
                                    std::int64_t length) {
  const std::vector<Element> codes = values_of<Element>(q);
  std::vector<float> back(codes.size());
  mixprec::reference::dequantize_mx(codes.data(), scales.data(), lines, length, back.data());
  return back;
}
template <class Element>
mx_element_under_test mx_element_of() {
  return {&quantize_mx_source<Element>, &dequantize_mx_of<Element>};
}

void check_mx(const mx_element_under_test& element, const block_sources& s) {
  const mixprec::mx_orientation orientations[] = {mixprec::mx_orientation::rowwise,
                                                  mixprec::mx_orientation::columnwise};
  // Enough scales for either orientation, compact or tiled.
  const std::size_t scale_capacity = 256 * 8;
  for (const source_tensor& x : sources_of(s))
    check_reference_and_host("quantize_mx", x, [&](bool host, simd_path path) {
      bytes b;
      for (mixprec::mx_scale_rule rule : {mixprec::mx_scale_rule::floor, mixprec::mx_scale_rule::rceil})
        for (rounding mode : all_modes)
          for (mixprec::mx_orientation orientation : orientations) {
            mixprec::mx_options o;
            o.rule = rule;
            o.mode = mode;
            o.seed = 77;
            std::vector<mixprec::float8_e8m0> scales(scale_capacity);
            const bytes out = element.quantize(x, host, path, o, orientation, scales);
            append_bytes(b, out);
            append(b, scales);
            if (!host && mode == rounding::nearest_even) {
              const bool rowwise = orientation == mixprec::mx_orientation::rowwise;
              append(b, element.dequantize(out, scales, rowwise ? block_rows : block_cols,
                                           rowwise ? block_cols : block_rows));
            }
          }
      return b;
    });
}

TEST_CASE("fp environment: reference and host quantize_mx, blocks whose amax is subnormal", "[fp_environment]") {
  (void)every_path_reporting_skips();
  const block_sources sources;
  check_mx(mx_element_of<mixprec::float8_e4m3>(), sources);
  check_mx(mx_element_of<mixprec::float8_e5m2>(), sources);
  check_mx(mx_element_of<mixprec::float6_e2m3>(), sources);
  check_mx(mx_element_of<mixprec::float6_e3m2>(), sources);
  check_mx(mx_element_of<mixprec::float4_e2m1>(), sources);
}

std::vector<mixprec::nvfp4_options> nvfp4_variants() {
  std::vector<mixprec::nvfp4_options> variants;
  for (rounding mode : all_modes) {
    mixprec::nvfp4_options o;
    o.mode = mode;
    o.seed = 91;
    variants.push_back(o);
  }
  mixprec::nvfp4_options two_dimensional;
  two_dimensional.two_dimensional_blocks = true;
  variants.push_back(two_dimensional);
  mixprec::nvfp4_options hadamard;
  hadamard.random_hadamard = true;
  variants.push_back(hadamard);
  hadamard.mode = rounding::stochastic;
  variants.push_back(hadamard);
  mixprec::nvfp4_options tiled;
  tiled.scale_layout = mixprec::gemm::block_scale_layout::cublaslt_tiled;
  variants.push_back(tiled);
  return variants;
}

// NVFP4: the reference's or the host's quantization of one source, unpacked
// then packed, with its tensor scales.
struct nvfp4_quantized {
  std::vector<mixprec::float4_e2m1> out;
  std::vector<mixprec::float8_e4m3> scales;
  float tensor_scale = 0;
  std::vector<mixprec::float4_e2m1x2> packed;
  std::vector<mixprec::float8_e4m3> packed_scales;
  float packed_tensor_scale = 0;
};

template <class Source>
[[gnu::noinline]] void quantize_nvfp4_of(const Source* x, bool host, simd_path path, const mixprec::nvfp4_options& o,
                                         mixprec::mx_orientation orientation, nvfp4_quantized& q) {
  if (host) {
    q.tensor_scale =
        mixprec::host::quantize_nvfp4(x, block_rows, block_cols, q.out.data(), q.scales.data(), o, orientation, path);
    q.packed_tensor_scale = mixprec::host::quantize_nvfp4_packed(x, block_rows, block_cols, q.packed.data(),
                                                                 q.packed_scales.data(), o, orientation, path);
  } else {
    q.tensor_scale =
        mixprec::reference::quantize_nvfp4(x, block_rows, block_cols, q.out.data(), q.scales.data(), o, orientation);
    q.packed_tensor_scale = mixprec::reference::quantize_nvfp4_packed(x, block_rows, block_cols, q.packed.data(),
                                                                      q.packed_scales.data(), o, orientation);
  }
}

// The quantization of `x` with options `o`, both outputs sized for the tensor.
nvfp4_quantized quantize_nvfp4_source(const source_tensor& x, bool host, simd_path path,
                                      const mixprec::nvfp4_options& o, mixprec::mx_orientation orientation) {
  const std::size_t n = static_cast<std::size_t>(block_rows * block_cols);
  const std::size_t scale_capacity = 256 * 8;
  nvfp4_quantized q;
  q.out.resize(n);
  q.scales.resize(scale_capacity);
  q.packed.resize(n / 2);
  q.packed_scales.resize(scale_capacity);
  if (x.floats != nullptr)
    quantize_nvfp4_of(x.floats, host, path, o, orientation, q);
  else
    quantize_nvfp4_of(x.bfloat16s, host, path, o, orientation, q);
  return q;
}

void append_nvfp4(bytes& b, const nvfp4_quantized& q) {
  append(b, q.out);
  append(b, q.scales);
  append_value(b, q.tensor_scale);
  append(b, q.packed);
  append(b, q.packed_scales);
  append_value(b, q.packed_tensor_scale);
}

bytes quantize_nvfp4_all(const source_tensor& x, bool host, simd_path path) {
  bytes b;
  for (const mixprec::nvfp4_options& o : nvfp4_variants())
    for (mixprec::mx_orientation orientation :
         {mixprec::mx_orientation::rowwise, mixprec::mx_orientation::columnwise}) {
      const nvfp4_quantized q = quantize_nvfp4_source(x, host, path, o, orientation);
      append_nvfp4(b, q);
      if (!host && o.mode == rounding::nearest_even) {
        const bool rowwise = orientation == mixprec::mx_orientation::rowwise;
        std::vector<float> back(q.out.size());
        mixprec::reference::dequantize_nvfp4(q.out.data(), q.scales.data(), q.tensor_scale,
                                             rowwise ? block_rows : block_cols, rowwise ? block_cols : block_rows,
                                             back.data(), o);
        append(b, back);
      }
    }
  return b;
}

TEST_CASE("fp environment: reference and host quantize_nvfp4, tensors and blocks whose amax is subnormal",
          "[fp_environment]") {
  // Tensors whose amax is subnormal (tensor scale FLT_MAX) are the case DAZ
  // used to break on the host: its kernels widened float lanes to double with
  // the hardware conversion, which DAZ flushes (now widen_lanes_exactly).
  const block_sources s;
  for (const source_tensor& x : sources_of(s))
    check_reference_and_host("quantize_nvfp4", x,
                             [&](bool host, simd_path path) { return quantize_nvfp4_all(x, host, path); });
}

// reference::quantize and the rest for one target type, out of line.
struct quantize_target_under_test {
  // quantize(x, n, scale, out, o), then the [rows, cols] one with its
  // transpose: each result, out, and transposed; `codes` gets the last out.
  bytes (*quantize)(const std::vector<float>& x, float scale, const mixprec::quantize_options& o, bytes& codes);
  // dequantize to float with scale_inv, then to bfloat16 with 0.7.
  bytes (*dequantize)(const bytes& codes, float scale_inv);
  // quantize_blockwise's result, out, out_transposed, scale_inv and
  // scale_inv_transposed (both transposes only where `transposes`), then
  // dequantize_blockwise's floats.
  bytes (*quantize_blockwise)(const std::vector<float>& x, mixprec::gemm::scale_mode mode, bool transposes,
                              const mixprec::quantize_options& o);
};

template <class Target>
bytes quantize_of(const std::vector<float>& x, float scale, const mixprec::quantize_options& o, bytes& codes) {
  const std::size_t n = x.size();
  std::vector<Target> out(n), transposed(n);
  bytes b;
  append_value(b, mixprec::reference::quantize(x.data(), n, scale, out.data(), o));
  append(b, out);
  append_value(b,
               mixprec::reference::quantize(x.data(), block_rows, block_cols, scale, out.data(), transposed.data(), o));
  append(b, out);
  append(b, transposed);
  codes = bytes_of(out);
  return b;
}
template <class Target>
bytes dequantize_of(const bytes& code_bytes, float scale_inv) {
  const std::vector<Target> codes = values_of<Target>(code_bytes);
  const std::size_t n = codes.size();
  std::vector<float> back(n);
  mixprec::reference::dequantize(codes.data(), n, scale_inv, back.data());
  std::vector<mixprec::bfloat16> back16(n);
  mixprec::reference::dequantize(codes.data(), n, 0.7f, back16.data());
  bytes b;
  append(b, back);
  append(b, back16);
  return b;
}
template <class Target>
bytes quantize_blockwise_of(const std::vector<float>& x, mixprec::gemm::scale_mode mode, bool transposes,
                            const mixprec::quantize_options& o) {
  const std::size_t n = x.size();
  std::vector<Target> out(n), out_transposed(n);
  std::vector<float> scale_inv(256, -1.0f), scale_inv_transposed(256, -1.0f);
  bytes b;
  append_value(b, mixprec::reference::quantize_blockwise(x.data(), block_rows, block_cols, mode, out.data(),
                                                         scale_inv.data(), transposes ? out_transposed.data() : nullptr,
                                                         transposes ? scale_inv_transposed.data() : nullptr, o));
  append(b, out);
  append(b, out_transposed);
  append(b, scale_inv);
  append(b, scale_inv_transposed);
  std::vector<float> back(n);
  mixprec::reference::dequantize_blockwise(out.data(), block_rows, block_cols, mode, scale_inv.data(), back.data());
  append(b, back);
  return b;
}
template <class Target>
quantize_target_under_test quantize_target_of() {
  return {&quantize_of<Target>, &dequantize_of<Target>, &quantize_blockwise_of<Target>};
}

void check_reference_quantize(const quantize_target_under_test& target, const block_sources& s) {
  // Scales: exact products, inexact ones (the rounding mode decides them
  // unless the product is rounded to nearest whatever the mode), and ones
  // whose products are float subnormals (FTZ would flush them).
  const std::vector<float> scales = {1.0f, 0.3f, 0x1p-20f, 3.1e6f, 0x1.8p100f};
  std::vector<float> inverses;  // computed here, in the default environment
  for (float scale : scales) inverses.push_back(1.0f / scale);
  for (const std::vector<float>* x : {&s.tiny, &s.mixed, &s.special}) {
    check_independent_of_environment("reference::quantize and dequantize", [&] {
      bytes b;
      for (std::size_t k = 0; k < scales.size(); ++k)
        for (rounding mode : all_modes)
          for (saturation policy : both_policies) {
            mixprec::quantize_options o;
            o.mode = mode;
            o.policy = policy;
            o.seed = 5;
            bytes codes;
            append_bytes(b, target.quantize(*x, scales[k], o, codes));
            if (mode == rounding::nearest_even && policy == saturation::finite)
              append_bytes(b, target.dequantize(codes, inverses[k]));
          }
      return b;
    });
    check_independent_of_environment("reference::quantize_blockwise", [&] {
      bytes b;
      for (mixprec::gemm::scale_mode mode :
           {mixprec::gemm::scale_mode::per_tensor, mixprec::gemm::scale_mode::row_wise,
            mixprec::gemm::scale_mode::block_1x128, mixprec::gemm::scale_mode::block_128x128})
        for (bool power_of_two : {false, true})
          for (rounding element_mode : {rounding::nearest_even, rounding::stochastic}) {
            mixprec::quantize_options o;
            o.mode = element_mode;
            o.power_of_two_scales = power_of_two;
            append_bytes(b, target.quantize_blockwise(*x, mode, mode != mixprec::gemm::scale_mode::row_wise, o));
          }
      return b;
    });
  }
}

TEST_CASE("fp environment: reference::quantize, quantize_blockwise and dequantize on subnormal data",
          "[fp_environment]") {
  const block_sources sources;
  check_reference_quantize(quantize_target_of<mixprec::float8_e4m3>(), sources);
  check_reference_quantize(quantize_target_of<mixprec::float8_e5m2>(), sources);
  check_reference_quantize(quantize_target_of<mixprec::bfloat16>(), sources);
  check_reference_quantize(quantize_target_of<mixprec::float16>(), sources);
}

// ---- Scaling recipes --------------------------------------------------------------

TEST_CASE("fp environment: FP8 scaling recipes and the loss scaler, subnormal amaxes and inexact quotients",
          "[fp_environment]") {
  std::vector<float> amaxes = {0.0f, 0x1p-149f, 0x1.8p-140f, 0x1.fffffcp-127f, 0x1p-126f, 0.3f, 3.0f, 1e30f, 3e38f};
  for (float x : mixprec_test::random_vector(64, 7, 1000.0f)) amaxes.push_back(x < 0 ? -x : x);
  for (float x : tiny_tensor(false, false)) {
    if (amaxes.size() > 160) break;
    if (x > 0) amaxes.push_back(x);
  }
  check_independent_of_environment("current_scale and current_scaling", [&] {
    bytes b;
    for (bool power_of_two : {false, true})
      for (int margin : {0, 3}) {
        mixprec::current_scaling_options o;
        o.margin = margin;
        o.power_of_two = power_of_two;
        mixprec::current_scaling<mixprec::float8_e4m3> recipe(o);
        for (float amax : amaxes) {
          append_value(b, mixprec::current_scale<mixprec::float8_e5m2>(amax, o));
          append_value(b, recipe.update(amax));
          append_value(b, recipe.scale_inv());
        }
      }
    return b;
  });
  check_independent_of_environment("delayed_scaling", [&] {
    bytes b;
    for (mixprec::amax_algo algo : {mixprec::amax_algo::max, mixprec::amax_algo::most_recent})
      for (bool power_of_two : {false, true}) {
        mixprec::delayed_scaling_options o;
        o.history_len = 4;
        o.algo = algo;
        o.power_of_two = power_of_two;
        mixprec::delayed_scaling<mixprec::float8_e4m3> recipe(o);
        for (float amax : amaxes) {
          recipe.record(amax);
          append_value(b, recipe.update());
          append_value(b, recipe.scale_inv());
          append_value(b, recipe.amax());
        }
      }
    return b;
  });
  check_independent_of_environment("dynamic_loss_scaler", [&] {
    mixprec::dynamic_loss_scaler_options o;
    o.init_scale = 3.0f * 1024.0f;
    o.growth_factor = 3.0;
    o.backoff_factor = 0.3;
    o.growth_interval = 2;
    o.min_scale = 1e-3f;
    o.max_scale = 1e9f;
    mixprec::dynamic_loss_scaler scaler(o);
    bytes b;
    for (int step = 0; step < 60; ++step) {
      scaler.update(step % 5 == 0 || step % 7 == 0);
      append_value(b, scaler.scale());
      append_value(b, scaler.inverse_scale());
    }
    mixprec::static_loss_scaler fixed(3.0f);
    append_value(b, fixed.inverse_scale());
    return b;
  });
}

// ---- Block scaling recipes ----------------------------------------------------------

mx_element_under_test mx_element(mixprec::gemm::block_element element) {
  using mixprec::gemm::block_element;
  switch (element) {
    case block_element::float8_e4m3:
      return mx_element_of<mixprec::float8_e4m3>();
    case block_element::float8_e5m2:
      return mx_element_of<mixprec::float8_e5m2>();
    case block_element::float6_e2m3:
      return mx_element_of<mixprec::float6_e2m3>();
    case block_element::float6_e3m2:
      return mx_element_of<mixprec::float6_e3m2>();
    case block_element::float4_e2m1:
      break;
  }
  return mx_element_of<mixprec::float4_e2m1>();
}

TEST_CASE("fp environment: block scaling recipes, each operand quantized as its recipe says", "[fp_environment]") {
  const block_sources s;
  mixprec::mxfp8_recipe_options hybrid;
  hybrid.gradient_element = mixprec::gemm::block_element::float8_e5m2;
  hybrid.scale_rule = mixprec::mx_scale_rule::floor;
  mixprec::nvfp4_recipe_options one_dimensional;
  one_dimensional.two_dimensional_weights = false;
  const mixprec::block_scaling_recipe recipes[] = {
      mixprec::mxfp8_block_scaling(), mixprec::mxfp8_block_scaling(hybrid),
      mixprec::mxfp4_block_scaling(), mixprec::mxfp4_block_scaling(mixprec::mx_scale_rule::rceil),
      mixprec::nvfp4_block_scaling(), mixprec::nvfp4_block_scaling(one_dimensional)};
  for (const mixprec::block_scaling_recipe& recipe : recipes)
    for (const source_tensor& x : sources_of(s))
      check_independent_of_environment(std::string(recipe.name) + " recipe, its six operands of " + x.name, [&] {
        bytes b;
        for (std::size_t i = 0; i < mixprec::linear_operand_count; ++i) {
          const auto which = static_cast<mixprec::linear_operand>(i);
          const mixprec::block_operand_recipe& r = recipe.operand(which);
          if (r.quantizer == mixprec::block_quantizer::mx) {
            std::vector<mixprec::float8_e8m0> scales(256 * 8);
            append_bytes(
                b, mx_element(r.element).quantize(x, false, simd_path::portable, mixprec::mx_options_for(r, 11, i),
                                                  orientation_of(which), scales));
            append(b, scales);
          } else {
            append_nvfp4(b, quantize_nvfp4_source(x, false, simd_path::portable, mixprec::nvfp4_options_for(r, 11, i),
                                                  orientation_of(which)));
          }
        }
        return b;
      });
}

// ---- GEMM validation ---------------------------------------------------------------

// "accepted", or the message of the mixprec::error `call` threw.
std::string verdict(const std::function<void()>& call) {
  try {
    call();
    return "accepted";
  } catch (const mixprec::error& e) {
    return e.what();
  }
}

void append_text(bytes& b, const std::string& text) { append_bytes(b, text.data(), text.size()); }

// The messages print the values they reject: the same text in every
// environment (core/error.hpp writes them in the default one: under DAZ the
// stream's float -> double widening read a subnormal as 0, "1.4013e-45"
// became "0", and the digits were rounded in the caller's mode).
TEST_CASE("fp environment: error messages name the rejected values as they are", "[fp_environment]") {
  const float values[] = {0x1p-149f, -0x1.8p-140f, 0.1f, 1.0f / 3.0f, -0x1.fffffep127f};
  const double doubles[] = {0x1p-1074, -0x1.8p-1030, 0.1, 1.0 / 3.0, 0x1.fffffffffffffp1023};
  check_independent_of_environment("make_message and gemm::describe", [&] {
    bytes out;
    for (std::size_t i = 0; i < std::size(values); ++i) {
      const float value = values[i];
      append_text(out, mixprec::detail::make_message("value ", value, ", a double ", doubles[i]));
      mixprec::gemm::problem p = mixprec::gemm::make_problem(4, 4, 32, mixprec::gemm::element_type::float8_e4m3,
                                                             mixprec::gemm::element_type::float8_e4m3,
                                                             mixprec::gemm::element_type::float32);
      p.beta = value;
      append_text(out, mixprec::gemm::describe(p));
      mixprec::gemm::block_scaled_problem q;
      q.alpha = value;
      append_text(out, mixprec::gemm::describe(q));
      std::vector<float> x(4, 1.0f);
      std::vector<mixprec::float8_e4m3> codes(4);
      append_text(out, verdict([&] { mixprec::reference::quantize(x.data(), x.size(), -value, codes.data()); }));
    }
    return out;
  });
  // The default environment's text, which the environments are held to.
  CHECK(mixprec::detail::make_message(0x1p-149f) == "1.4013e-45");
}

// The option checks compare their values with 0 by the bits
// (core/exact_float.hpp): under DAZ `lr >= 0` accepted a negative subnormal
// lr, `eps > 0` rejected a positive subnormal eps, and 1/min_scale of a
// subnormal min_scale overflowed, where the default environment decides the
// other way. The verdicts and their messages are compared.
TEST_CASE("fp environment: optimizer, gradient-check and loss-scaler options with subnormal values",
          "[fp_environment]") {
  const float subnormals[] = {0x1p-149f, -0x1p-149f, 0x1.4p-128f, -0x1.8p-140f, 0.0f, -0.0f, 0.5f};
  check_independent_of_environment("option checks", [&] {
    bytes out;
    for (const float value : subnormals) {
      mixprec::sgd_options sgd;
      sgd.lr = value;
      append_text(out, verdict([&] { mixprec::sgd_rule::validate(sgd); }));
      sgd.lr = 0.1f;
      sgd.momentum = value;
      sgd.nesterov = true;  // needs momentum > 0 and dampening == 0
      append_text(out, verdict([&] { mixprec::sgd_rule::validate(sgd); }));
      sgd.momentum = 0.9f;
      sgd.dampening = value;
      append_text(out, verdict([&] { mixprec::sgd_rule::validate(sgd); }));
      sgd.nesterov = false;
      sgd.dampening = 0.0f;
      sgd.weight_decay = value;
      append_text(out, verdict([&] { mixprec::sgd_rule::validate(sgd); }));
      mixprec::adamw_options adamw;
      adamw.eps = value;
      adamw.beta1 = value;
      append_text(out, verdict([&] { mixprec::adamw_rule::validate(adamw); }));
      mixprec::optimizer_options common;
      common.max_grad_norm = value;
      append_text(out, verdict([&] { mixprec::validate(common); }));
      mixprec::dynamic_loss_scaler_options scaler;
      scaler.min_scale = value;
      append_text(out, verdict([&] { mixprec::validate(scaler); }));
      append_text(out, verdict([&] { mixprec::static_loss_scaler scaled(value); }));
      append_text(out, verdict([&] { mixprec::check_gradients({}, value); }));
    }
    for (const double value : {0x1p-1074, -0x1p-1074, 0x1.8p-1030, 0.0, 0.5}) {  // the double option
      mixprec::dynamic_loss_scaler_options scaler;
      scaler.backoff_factor = value;
      append_text(out, verdict([&] { mixprec::validate(scaler); }));
    }
    // 1/scale is finite for the subnormal 2^-128 + 2^-149 and overflows for 2^-128.
    for (const float value : {0x1.000008p-128f, 0x1p-128f})
      append_text(out, verdict([&] { mixprec::static_loss_scaler scaled(value); }));
    return out;
  });
  CHECK(verdict([] { mixprec::static_loss_scaler scaled(0x1.000008p-128f); }) == "accepted");
  CHECK(verdict([] { mixprec::static_loss_scaler scaled(0x1p-128f); }) != "accepted");
  CHECK(verdict([] {
          mixprec::adamw_options o;
          o.eps = 0x1p-149f;
          mixprec::adamw_rule::validate(o);
        }) == "accepted");
}

TEST_CASE("fp environment: gemm::validate and the scale checks, subnormal beta, alpha and scales", "[fp_environment]") {
  using mixprec::gemm::element_type;
  std::vector<mixprec::float8_e4m3> a(4 * 32), b_values(4 * 32);
  std::vector<float> d(16);
  const std::vector<mixprec::float4_e2m1> nvfp4_codes(16, mixprec::float4_e2m1(1.5f));
  const std::vector<mixprec::float8_e4m3> nvfp4_scales(1, mixprec::float8_e4m3(2.0f));
  const float subnormals[] = {0x1p-149f, -0x1p-149f, 0x1.8p-140f, 0x1.fffffcp-127f, 0.0f, -0.0f, 1.0f};
  check_independent_of_environment("validate and require_usable_scale", [&] {
    bytes out;
    for (float value : subnormals) {
      mixprec::gemm::problem p = mixprec::gemm::make_problem(4, 4, 32, element_type::float8_e4m3,
                                                             element_type::float8_e4m3, element_type::float32);
      p.a.data = a.data();
      p.b.data = b_values.data();
      p.d.data = d.data();
      p.c.type = element_type::float32;
      p.beta = value;  // C is null: only a beta of exactly 0 may leave it out
      append_text(out, verdict([&] { mixprec::gemm::validate(p); }));
      p.beta = 0.0f;
      p.alpha = value;
      append_text(out, verdict([&] { mixprec::gemm::validate(p); }));
      const mixprec::gemm::scale_layout layout{mixprec::gemm::scale_mode::row_wise, 4, 32};
      const std::vector<float> scales = {1.0f, value, 2.0f, 3.0f};
      append_text(out, verdict(
                           [&] { mixprec::gemm::require_usable_scales(scales.data(), layout, "who: ", "scale"); }));
      mixprec::gemm::block_scaled_problem q;
      q.m = q.n = 4;
      q.k = 32;
      q.a.data = a.data();
      q.a.ld = 32;
      q.b.data = b_values.data();
      q.b.ld = 32;
      q.a.scales = q.b.scales = a.data();
      q.d.type = element_type::float32;
      q.d.data = d.data();
      q.d.ld = 4;
      q.alpha = value;
      append_text(out, verdict([&] { mixprec::gemm::validate(q); }));
      append_text(out, verdict([&] { append_value(out, mixprec::gemm::nvfp4_alpha(value, 0x1p-100f)); }));
      append_text(out, verdict([&] { append_value(out, mixprec::gemm::nvfp4_alpha(3.0f, value, 0.3f)); }));
      std::vector<float> decoded(16);
      append_text(out, verdict([&] {
                    mixprec::reference::dequantize_nvfp4(nvfp4_codes.data(), nvfp4_scales.data(), value, 1, 16,
                                                         decoded.data());
                  }));
    }
    return out;
  });
}

// ---- GEMM references ---------------------------------------------------------------

// A, B and the rest of a scaled GEMM, [m, k] · [n, k]ᵀ: FP8 codes from the
// tensors above (subnormal FP8 values and all) and scales that are float
// subnormals, normal, or make the products subnormal.
struct scaled_gemm_case {
  std::int64_t m = 24, n = 20, k = 272;  // three K blocks of 128, the last one partial
  std::vector<mixprec::float8_e4m3> a, b;
  std::vector<mixprec::bfloat16> c, bias;
};

bytes run_scaled_gemm(const scaled_gemm_case& g, mixprec::gemm::scale_mode a_mode, mixprec::gemm::scale_mode b_mode,
                      mixprec::gemm::element_type d_type, mixprec::gemm::epilogue op, float beta, float scale_value,
                      mixprec::reference::accumulation accumulate) {
  using mixprec::gemm::element_type;
  mixprec::gemm::problem p =
      mixprec::gemm::make_problem(g.m, g.n, g.k, element_type::float8_e4m3, element_type::float8_e4m3, d_type);
  p.a.data = g.a.data();
  p.b.data = g.b.data();
  p.a.scaling = a_mode;
  p.b.scaling = b_mode;
  std::vector<float> a_scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{a_mode, g.m, g.k}.count()));
  std::vector<float> b_scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{b_mode, g.n, g.k}.count()));
  for (std::size_t i = 0; i < a_scales.size(); ++i)
    a_scales[i] = i % 3 == 0 ? scale_value : 0.75f + 0.125f * static_cast<float>(i % 5);
  for (std::size_t i = 0; i < b_scales.size(); ++i) b_scales[i] = i % 2 == 0 ? 0x1.3p-3f : scale_value;
  p.a.scale = a_scales.data();
  p.b.scale = b_scales.data();
  p.alpha = 0.3f;
  p.beta = beta;
  p.c.type = element_type::bfloat16;
  p.c.data = g.c.data();
  p.bias.type = element_type::bfloat16;
  p.epilogue_op = op;
  if (mixprec::gemm::has_bias(op)) p.bias.data = g.bias.data();
  const float d_scale = 3.0f;
  float amax = -1.0f;
  if (mixprec::gemm::is_fp8(d_type)) {
    p.d.scale = &d_scale;
    p.d.amax = &amax;
  }
  std::vector<float> d(static_cast<std::size_t>(g.m * g.n), -7.0f);  // room for any D type
  p.d.data = d.data();
  mixprec::reference::gemm_options o;
  o.accumulate = accumulate;
  bytes b;
  append_text(b, verdict([&] { mixprec::reference::scaled_gemm(p, o); }));
  append(b, d);
  append_value(b, amax);
  return b;
}

TEST_CASE("fp environment: reference::scaled_gemm, FP8 with per-tensor, row-wise and block scales",
          "[fp_environment]") {
  using mixprec::gemm::element_type;
  using mixprec::gemm::scale_mode;
  const block_sources s;
  scaled_gemm_case g;
  const auto codes = [](const std::vector<float>& x, std::size_t count, float factor) {
    std::vector<mixprec::float8_e4m3> q(count);
    for (std::size_t i = 0; i < count; ++i)
      q[i] = mixprec::convert<mixprec::float8_e4m3>(x[i % x.size()] * factor + (i % 11 == 0 ? 0x1p-8f : 0.0f));
    return q;
  };
  g.a = codes(s.mixed, static_cast<std::size_t>(g.m * g.k), 1.0f);
  g.b = codes(s.mixed, static_cast<std::size_t>(g.n * g.k) + 7, 0.01f);
  g.b.erase(g.b.begin(), g.b.begin() + 7);
  for (std::int64_t i = 0; i < g.m * g.n; ++i)
    g.c.push_back(mixprec::bfloat16::from_bits(
        static_cast<std::uint16_t>(float_bits(s.tiny[static_cast<std::size_t>(i)]) >> 16)));
  for (std::int64_t j = 0; j < g.n; ++j) g.bias.push_back(mixprec::bfloat16(0.25f * static_cast<float>(j % 7) - 0.5f));
  const scale_mode modes[] = {scale_mode::per_tensor, scale_mode::row_wise, scale_mode::block_1x128,
                              scale_mode::block_128x128};
  // The FP32 sums and products follow the environment, as any float code
  // (README); with float64 accumulation the products and sums are exact or
  // normal doubles, so DAZ and FTZ (rounding to nearest) change no bit of the
  // scales' and C's decoding and D's conversion: that is what this holds.
  // FP32 accumulation only with normal scales and sums.
  struct gemm_variant {
    mixprec::reference::accumulation accumulate;
    float scale_value;
  };
  const gemm_variant variants[] = {{mixprec::reference::accumulation::float64, 1.0f},
                                   {mixprec::reference::accumulation::float64, 0x1.8p-140f},
                                   {mixprec::reference::accumulation::float64, 0x1p-126f},
                                   {mixprec::reference::accumulation::float64, 0x1p-70f},
                                   {mixprec::reference::accumulation::float32, 1.0f}};
  for (const gemm_variant& v : variants) {
    const mixprec::reference::accumulation accumulate = v.accumulate;
    const float scale_value = v.scale_value;
    check_independent_of_environment(
        std::string("reference::scaled_gemm, accumulation ") + std::to_string(static_cast<int>(accumulate)) +
            ", scales " + hex(scale_value),
        [&] {
          bytes b;
          for (scale_mode a_mode : modes)
            for (scale_mode b_mode : modes)
              append_bytes(b, run_scaled_gemm(g, a_mode, b_mode, element_type::bfloat16, mixprec::gemm::epilogue::none,
                                              0.0f, scale_value, accumulate));
          for (element_type d_type : {element_type::float32, element_type::float8_e4m3})
            for (mixprec::gemm::epilogue op :
                 {mixprec::gemm::epilogue::none, mixprec::gemm::epilogue::bias_relu, mixprec::gemm::epilogue::gelu})
              for (float beta : {0.0f, 0.7f, 0x1p-140f})
                append_bytes(b, run_scaled_gemm(g, scale_mode::row_wise, scale_mode::per_tensor, d_type, op, beta,
                                                scale_value, accumulate));
          return b;
        },
        daz_ftz_to_nearest());
  }
}

// A block-scaled GEMM of two quantized tensors: A from `a` [48, 80], B from
// `b` (its 48 rows), each quantized row-wise, D [48, 48] of each type.
bytes run_block_scaled_gemm(mixprec::gemm::block_scaling scaling, mixprec::gemm::block_element element, const bytes& a,
                            const bytes& a_scales, const bytes& b, const bytes& b_scales, bool packed, float alpha) {
  using mixprec::gemm::element_type;
  bytes out;
  for (element_type d_type : {element_type::float32, element_type::bfloat16, element_type::float16}) {
    mixprec::gemm::block_scaled_problem p;
    p.m = p.n = block_rows;
    p.k = block_cols;
    p.scaling = scaling;
    for (mixprec::gemm::block_scaled_operand* x : {&p.a, &p.b}) {
      x->type = element;
      x->ld = block_cols;
      x->packed = packed;
    }
    p.a.data = a.data();
    p.a.scales = a_scales.data();
    p.b.data = b.data();
    p.b.scales = b_scales.data();
    std::vector<float> d(static_cast<std::size_t>(p.m * p.n), -7.0f);
    p.d.type = d_type;
    p.d.data = d.data();
    p.d.ld = p.n;
    p.alpha = alpha;
    append_text(out, verdict([&] { mixprec::reference::block_scaled_gemm(p); }));
    append(out, d);
  }
  return out;
}

TEST_CASE("fp environment: reference::block_scaled_gemm, MX and NVFP4 of tensors with subnormal blocks",
          "[fp_environment]") {
  const block_sources s;
  const std::vector<source_tensor> sources = sources_of(s);
  const mixprec::mx_orientation rowwise = mixprec::mx_orientation::rowwise;
  using mixprec::gemm::block_element;
  for (block_element element : {block_element::float8_e4m3, block_element::float8_e5m2, block_element::float6_e2m3,
                                block_element::float4_e2m1}) {
    std::vector<bytes> codes, scales;
    for (const source_tensor& x : sources) {
      std::vector<mixprec::float8_e8m0> x_scales(256 * 8);
      mixprec::mx_options o;
      o.rule = mixprec::mx_scale_rule::rceil;
      codes.push_back(mx_element(element).quantize(x, false, simd_path::portable, o, rowwise, x_scales));
      scales.push_back(bytes_of(x_scales));
    }
    check_independent_of_environment(
        "reference::block_scaled_gemm, MX element " + std::to_string(static_cast<int>(element)), [&] {
          bytes b;
          for (std::size_t i = 0; i < codes.size(); ++i)
            for (std::size_t j = 0; j < codes.size(); ++j)
              append_bytes(b, run_block_scaled_gemm(mixprec::gemm::block_scaling::mx_vec32_ue8m0, element, codes[i],
                                                    scales[i], codes[j], scales[j], false, 0.3f));
          return b;
        });
  }
  std::vector<nvfp4_quantized> quantized;
  for (const source_tensor& x : sources)
    quantized.push_back(quantize_nvfp4_source(x, false, simd_path::portable, {}, rowwise));
  check_independent_of_environment("reference::block_scaled_gemm, NVFP4, packed and not", [&] {
    bytes b;
    for (const nvfp4_quantized& x : quantized)
      for (const nvfp4_quantized& y : quantized) {
        const float alpha = mixprec::gemm::nvfp4_alpha(x.tensor_scale, y.tensor_scale);
        append_value(b, alpha);
        append_bytes(b, run_block_scaled_gemm(mixprec::gemm::block_scaling::nvfp4_vec16_ue4m3,
                                              block_element::float4_e2m1, bytes_of(x.out), bytes_of(x.scales),
                                              bytes_of(y.out), bytes_of(y.scales), false, alpha));
        append_bytes(b, run_block_scaled_gemm(mixprec::gemm::block_scaling::nvfp4_vec16_ue4m3,
                                              block_element::float4_e2m1, bytes_of(x.packed), bytes_of(x.packed_scales),
                                              bytes_of(y.packed), bytes_of(y.packed_scales), true, alpha));
      }
    return b;
  });
}

// ---- Training -----------------------------------------------------------------------

TEST_CASE("fp environment: check_gradients, and the optimizers' model copies of unchanged masters",
          "[fp_environment]") {
  const block_sources s;
  std::vector<float> gradients = s.mixed;
  gradients[7] = 3e38f;  // times 2 overflows: inf to nearest, FLT_MAX toward zero
  std::vector<mixprec::bfloat16> bf16_gradients = s.tiny_bf16;
  check_independent_of_environment("check_gradients", [&] {
    bytes b;
    for (float inverse_scale : {1.0f, 2.0f, 0x1p-20f, 0.3f}) {
      const mixprec::gradient_check c = mixprec::check_gradients(
          {mixprec::const_tensor_view(s.tiny), mixprec::const_tensor_view(bf16_gradients)}, inverse_scale);
      append_value(b, c.found_inf);
      append_value(b, c.squared_norm);
      const mixprec::gradient_check with_huge =
          mixprec::check_gradients({mixprec::const_tensor_view(gradients)}, inverse_scale);
      append_value(b, with_huge.found_inf);
      append_value(b, with_huge.squared_norm);
    }
    return b;
  });
  // The copies: lr 0 leaves every master weight as it is in every
  // environment (fma(-0, d, w) = w), so the copies show the conversion
  // alone. Masters just around e4m3 midpoints over 3, copy scale 3: the
  // product's rounding decides the code, and the rounding mode would move it.
  std::vector<float> initial;
  for (std::uint32_t code = 1; code < 0x7E; ++code) {
    const double midpoint =
        (static_cast<double>(mixprec::float8_e4m3::from_bits(static_cast<std::uint8_t>(code))) +
         static_cast<double>(mixprec::float8_e4m3::from_bits(static_cast<std::uint8_t>(code + 1)))) /
        2;
    const std::uint32_t w = float_bits(static_cast<float>(midpoint / 3));
    for (std::uint32_t v = w - 2; v <= w + 2; ++v) {
      initial.push_back(float_from_bits(v));
      initial.push_back(float_from_bits(v | 0x80000000u));
    }
  }
  std::vector<float> gradient = mixprec_test::random_vector(initial.size(), 3, 0.1f);
  const auto run_optimizer = [&](auto optimizer, const auto& group) {
    bytes b;
    const std::size_t g = optimizer.add_group(group);
    std::vector<mixprec::bfloat16> copy16(initial.size());
    std::vector<mixprec::float8_e4m3> copy8(initial.size());
    const float copy_scale = 3.0f;
    float amax = 0.0f;
    optimizer.add_parameter(g, initial, mixprec::model_copy{copy16});
    optimizer.add_parameter(g, initial, mixprec::model_copy{copy8, &copy_scale, &amax});
    for (int step = 0; step < 2; ++step) {
      const mixprec::step_report r =
          optimizer.step({mixprec::const_tensor_view(gradient), mixprec::const_tensor_view(gradient)}, false);
      append_value(b, r.skipped);
      append(b, copy16);
      append(b, copy8);
      append_value(b, amax);
    }
    return b;
  };
  check_independent_of_environment("sgd_optimizer model copies (lr 0)", [&] {
    mixprec::sgd_options o;
    o.lr = 0.0f;
    o.momentum = 0.9f;
    return run_optimizer(mixprec::sgd_optimizer{}, o);
  });
  check_independent_of_environment("adamw_optimizer model copies (lr 0)", [&] {
    mixprec::adamw_options o;
    o.lr = 0.0f;
    o.weight_decay = 0.0f;
    return run_optimizer(mixprec::adamw_optimizer{}, o);
  });
}

// ---- The optimizers' updates ----------------------------------------------------------

// The tensors one optimizer run reads: weights and gradients where DAZ, FTZ
// and the rounding mode each change the update (subnormal weights, gradients
// and results; huge weights, and gradients whose square or product
// overflows; random normals, where every inexact rounding is moved by a
// directed mode). The gradients' squared norm stays finite, so that clipping
// steps are taken.
struct optimizer_inputs {
  std::vector<float> weights, gradients;
  std::vector<mixprec::bfloat16> bf16_gradients;
  optimizer_inputs() {
    const std::vector<float> random = mixprec_test::random_vector(96, 41, 2.0f);
    mixprec_test::lcg pattern(43);
    for (std::size_t i = 0; i < random.size(); ++i) {
      pattern.uniform();
      const auto word = static_cast<std::uint32_t>(pattern.state >> 32);
      const float subnormal = float_from_bits((word & 0x807FFFFFu) | 1u);
      switch (i % 6) {
        case 0:
          weights.push_back(subnormal);
          gradients.push_back(random[i]);
          break;
        case 1:
          weights.push_back(random[i]);
          gradients.push_back(subnormal);
          break;
        case 2:
          weights.push_back(subnormal);
          gradients.push_back(float_from_bits(float_bits(subnormal) ^ 0x80000000u));
          break;
        case 3:
          weights.push_back(random[i] * 1.6e38f);
          gradients.push_back(random[i] * 2e18f);
          break;
        case 4:
          weights.push_back(random[i] * 0x1p-120f);
          gradients.push_back(random[i] * 0x1p-100f);
          break;
        default:
          weights.push_back(random[i]);
          gradients.push_back(random[(i * 7) % random.size()]);
          break;
      }
    }
    for (float g : gradients)
      bf16_gradients.push_back(mixprec::bfloat16::from_bits(static_cast<std::uint16_t>(float_bits(g) >> 16)));
  }
};

// Four steps of an optimizer with one parameter of each kind (master only,
// master with a BF16 copy, master with a scaled E4M3 copy and amax, BF16-only
// weights; float and BF16 gradients): each step's report, then the whole
// saved state (masters, states, progress, copies' and BF16 weights' bytes)
// and the amax. The first step computes the norm (when clipping), the second
// is given a subnormal one, the third unscales by 1/8, the fourth takes a
// dynamic loss scaler's inverse scale and norm.
template <class Rule>
[[gnu::noinline]] bytes run_optimizer_steps(const optimizer_inputs& in, const typename Rule::options& group,
                                            const mixprec::optimizer_options& common) {
  mixprec::basic_optimizer<Rule> optimizer(common);
  const std::size_t g = optimizer.add_group(group);
  std::vector<mixprec::bfloat16> copy16(in.weights.size()), bf16_weights(in.weights.size());
  for (std::size_t i = 0; i < bf16_weights.size(); ++i)
    bf16_weights[i] = mixprec::bfloat16::from_bits(static_cast<std::uint16_t>(float_bits(in.weights[i]) >> 16));
  std::vector<mixprec::float8_e4m3> copy8(in.weights.size());
  const float copy_scale = 0x1p100f;  // subnormal and tiny masters land in E4M3's range
  float amax = 0.0f;
  optimizer.add_parameter(g, in.weights);
  optimizer.add_parameter(g, in.weights, mixprec::model_copy{copy16});
  optimizer.add_parameter(g, in.weights, mixprec::model_copy{copy8, &copy_scale, &amax});
  optimizer.add_bf16_parameter(g, bf16_weights);
  const std::vector<mixprec::const_tensor_view> gradients = {
      mixprec::const_tensor_view(in.gradients), mixprec::const_tensor_view(in.bf16_gradients),
      mixprec::const_tensor_view(in.gradients), mixprec::const_tensor_view(in.bf16_gradients)};
  bytes b;
  mixprec::dynamic_loss_scaler scaler;
  for (int step = 0; step < 4; ++step) {
    mixprec::step_inputs inputs;
    if (step == 1) inputs.squared_grad_norm = 0x1.8p-140f;  // a subnormal norm, given
    if (step == 2) inputs.inverse_scale = 0x1p-3f;
    const mixprec::step_report r = step < 3 ? optimizer.step(gradients, inputs) : optimizer.step(gradients, scaler);
    append_value(b, r.skipped);
    append_value(b, r.grad_norm);
    append_value(b, r.clip_coefficient);
  }
  append(b, optimizer.save_bytes());
  append_value(b, amax);
  return b;
}

TEST_CASE("fp environment: SGD and AdamW updates of subnormal and huge weights and gradients, with clipping",
          "[fp_environment]") {
  const optimizer_inputs in;
  const float subnormal = 0x1.2p-140f;
  mixprec::optimizer_options plain, clipped, clipped_to_subnormal, stochastic;
  clipped.max_grad_norm = 0.5f;
  clipped_to_subnormal.max_grad_norm = subnormal;
  stochastic.model_rounding = rounding::stochastic;
  stochastic.seed = 7;
  const mixprec::optimizer_options* commons[] = {&plain, &clipped, &clipped_to_subnormal, &stochastic};
  const char* common_names[] = {"no clipping", "clipping to 0.5", "clipping to a subnormal norm", "stochastic copies"};

  std::vector<std::pair<std::string, mixprec::sgd_options>> sgds;
  mixprec::sgd_options o;
  o.lr = 0.1f;
  sgds.push_back({"plain", o});
  o.momentum = 0.9f;
  o.dampening = 0.1f;
  o.weight_decay = 0.01f;
  sgds.push_back({"momentum, dampening, weight decay", o});
  o.dampening = 0.0f;
  o.nesterov = true;
  o.weight_decay = subnormal;
  sgds.push_back({"nesterov, subnormal weight decay", o});
  o = mixprec::sgd_options{};
  o.lr = 3.0f;
  o.momentum = subnormal;
  o.maximize = true;
  sgds.push_back({"subnormal momentum, maximize", o});
  o = mixprec::sgd_options{};
  o.lr = subnormal;
  o.momentum = 0.5f;
  sgds.push_back({"subnormal lr", o});

  std::vector<std::pair<std::string, mixprec::adamw_options>> adamws;
  mixprec::adamw_options a;
  adamws.push_back({"defaults", a});
  a.amsgrad = true;
  a.lr = 0.01f;
  a.beta2 = 0.99f;
  adamws.push_back({"amsgrad", a});
  a.eps = subnormal;
  a.weight_decay = subnormal;
  a.maximize = true;
  adamws.push_back({"amsgrad, subnormal eps and weight decay, maximize", a});
  a = mixprec::adamw_options{};
  a.lr = subnormal;
  a.beta1 = subnormal;
  a.beta2 = 0x1p-126f;
  adamws.push_back({"subnormal lr and beta1", a});

  for (std::size_t c = 0; c < std::size(commons); ++c) {
    const mixprec::optimizer_options& common = *commons[c];
    for (const auto& sgd : sgds)
      check_independent_of_environment("sgd_optimizer, " + sgd.first + ", " + common_names[c],
                                       [&] { return run_optimizer_steps<mixprec::sgd_rule>(in, sgd.second, common); });
    for (const auto& adamw : adamws)
      check_independent_of_environment("adamw_optimizer, " + adamw.first + ", " + common_names[c], [&] {
        return run_optimizer_steps<mixprec::adamw_rule>(in, adamw.second, common);
      });
  }
}

}  // namespace
