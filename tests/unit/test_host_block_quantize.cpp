// Fast host block quantization (mixprec/host/block_quantize.hpp) against the
// CPU reference (mixprec/reference/mx_quantize.hpp, nvfp4_quantize.hpp, whose
// own tests hold it to exact arithmetic): host::quantize_mx and
// host::quantize_nvfp4 must write the reference's bytes — every element, every
// scale, the tile padding, the NVFP4 tensor scale — on every SIMD path this
// CPU has and on the portable one, for every element type, rounding mode,
// orientation, scale layout and option; and reject the reference's bad calls
// with the reference's message, writing nothing.
//
// Inputs: random blocks of many magnitudes (subnormal to near FLT_MAX);
// blocks built around each scale boundary (an element at max · 2^k and its
// neighbours ±1 ulp, for k over E8M0's range) whose other elements sit on
// every element grid point and midpoint ±1 ulp; NVFP4 blocks whose
// amax · S / 6 sits on every E4M3 midpoint ±1 ulp, with elements on E2M1's
// midpoints ±1 ulp of their quotient; NaN, ±inf, zero, subnormal, tiny and
// huge blocks; lines whose length is no multiple of 32 or 16.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "mixprec/host/block_quantize.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/unwritten.hpp"

namespace {

using mixprec::mx_orientation;
using mixprec::mx_scale_rule;
using mixprec::rounding;
using mixprec::gemm::block_scale_layout;
using mixprec::host::simd_path;

constexpr rounding every_mode[] = {rounding::nearest_even, rounding::toward_zero, rounding::upward, rounding::downward,
                                   rounding::stochastic};
constexpr mx_orientation both_orientations[] = {mx_orientation::rowwise, mx_orientation::columnwise};
constexpr block_scale_layout both_layouts[] = {block_scale_layout::compact, block_scale_layout::cublaslt_tiled};

float from_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::size_t lines_of(std::int64_t rows, std::int64_t cols, mx_orientation orientation) {
  return static_cast<std::size_t>(orientation == mx_orientation::rowwise ? rows : cols);
}
std::size_t length_of(std::int64_t rows, std::int64_t cols, mx_orientation orientation) {
  return static_cast<std::size_t>(orientation == mx_orientation::rowwise ? cols : rows);
}

// The harness below is plain code over codes (bytes), compiled once; only the
// calls under test are templates, one small function per element (or
// storage) and source type, reached through the tables of pointers
// mx_call and nvfp4_call. (As templates per type the harness, with the
// kernels inlined into each copy, took most of this file's compile time.)

// What a quantization wrote: element (or packed) codes, scale codes, and the
// NVFP4 tensor scale S.
struct quantized {
  std::vector<std::uint8_t> codes, scales;
  float tensor_scale = 0;
};

// The codes of values (all value types here are one byte: their code).
template <class T>
std::vector<std::uint8_t> codes_of(const std::vector<T>& values) {
  static_assert(sizeof(T) == 1 && std::is_trivially_copyable<T>::value, "one-byte codes");
  std::vector<std::uint8_t> codes(values.size());
  if (!values.empty()) std::memcpy(codes.data(), values.data(), values.size());
  return codes;
}

// reference::quantize_mx (path null) or host::quantize_mx on *path of x
// (Source) to Element, into outputs that start filled with a sentinel, so
// unwritten bytes show too.
template <class Element, class Source>
[[gnu::noinline]] quantized quantize_mx_as(const void* x, std::size_t count, std::int64_t rows, std::int64_t cols,
                                           const mixprec::mx_options& o, mx_orientation orientation,
                                           std::size_t scale_count, const simd_path* path) {
  std::vector<Element> out(count, Element::from_bits(0x5A));
  std::vector<mixprec::float8_e8m0> scales(scale_count, mixprec::float8_e8m0::from_bits(0x5A));
  const auto* source = static_cast<const Source*>(x);
  if (path == nullptr)
    mixprec::reference::quantize_mx(source, rows, cols, out.data(), scales.data(), o, orientation);
  else
    mixprec::host::quantize_mx(source, rows, cols, out.data(), scales.data(), o, orientation, *path);
  return {codes_of(out), codes_of(scales), 0.0f};
}

// A tensor x and quantize_mx_as for its source type and an element type.
struct mx_call {
  const void* x;
  std::size_t count;
  quantized (*quantize)(const void*, std::size_t, std::int64_t, std::int64_t, const mixprec::mx_options&,
                        mx_orientation, std::size_t, const simd_path*);
};
template <class Element, class Source>
mx_call mx_call_of(const std::vector<Source>& x) {
  return {x.data(), x.size(), &quantize_mx_as<Element, Source>};
}

// Each MX element type's mx_call for a float tensor.
std::vector<mx_call> every_mx_element(const std::vector<float>& x) {
  return {mx_call_of<mixprec::float8_e4m3>(x), mx_call_of<mixprec::float8_e5m2>(x), mx_call_of<mixprec::float6_e2m3>(x),
          mx_call_of<mixprec::float6_e3m2>(x), mx_call_of<mixprec::float4_e2m1>(x)};
}

// Where host and reference first differ, for the failure message.
std::string first_difference(const std::vector<std::uint8_t>& expected, const std::vector<std::uint8_t>& actual,
                             const char* what) {
  for (std::size_t i = 0; i < expected.size(); ++i)
    if (expected[i] != actual[i]) {
      std::string message(what);
      message += " ";
      message += std::to_string(i);
      message += ": reference ";
      message += std::to_string(expected[i]);
      message += ", host ";
      message += std::to_string(actual[i]);
      return message;
    }
  return "";
}

// host::quantize_mx on every path equals reference::quantize_mx, byte for
// byte.
void check_mx(const mx_call& call, std::int64_t rows, std::int64_t cols, const mixprec::mx_options& o,
              mx_orientation orientation) {
  const std::size_t lines = lines_of(rows, cols, orientation), length = length_of(rows, cols, orientation);
  const std::size_t scale_count =
      mixprec::gemm::block_scale_count(o.scale_layout, lines, (length + 31) / 32, "test");
  const quantized expected = call.quantize(call.x, call.count, rows, cols, o, orientation, scale_count, nullptr);
  for (const simd_path path : mixprec::host::available_simd_paths()) {
    const quantized actual = call.quantize(call.x, call.count, rows, cols, o, orientation, scale_count, &path);
    INFO("path " << mixprec::host::to_string(path) << ", rule " << static_cast<int>(o.rule) << ", mode "
                 << static_cast<int>(o.mode) << ", layout " << static_cast<int>(o.scale_layout) << ", orientation "
                 << static_cast<int>(orientation) << ", " << rows << " x " << cols);
    CHECK(first_difference(expected.scales, actual.scales, "scale") == "");
    CHECK(first_difference(expected.codes, actual.codes, "element") == "");
  }
}

// Every rule, mode, orientation and layout.
void check_mx_everywhere(const mx_call& call, std::int64_t rows, std::int64_t cols) {
  for (const mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil})
    for (const rounding mode : every_mode)
      for (const mx_orientation orientation : both_orientations)
        for (const block_scale_layout layout : both_layouts) {
          mixprec::mx_options o;
          o.rule = rule;
          o.mode = mode;
          o.scale_layout = layout;
          o.seed = 2026;
          o.offset = 11;
          check_mx(call, rows, cols, o, orientation);
        }
}

// reference (path null) or host (on *path) quantize_nvfp4 (Storage
// float4_e2m1: one element per byte) or quantize_nvfp4_packed
// (float4_e2m1x2: two per byte) of x (Source): every element or packed
// byte, scale byte and S, into outputs that start filled with a sentinel.
template <class Storage, class Source>
[[gnu::noinline]] quantized quantize_nvfp4_as(const void* x, std::size_t count, std::int64_t rows, std::int64_t cols,
                                              const mixprec::nvfp4_options& o, mx_orientation orientation,
                                              std::size_t scale_count, const simd_path* path) {
  constexpr bool packed = std::is_same<Storage, mixprec::float4_e2m1x2>::value;
  std::vector<Storage> out(packed ? count / 2 : count,
                           Storage::from_bits(packed ? std::uint8_t{0xA5} : std::uint8_t{0x5}));
  std::vector<mixprec::float8_e4m3> scales(scale_count, mixprec::float8_e4m3::from_bits(0x5A));
  const auto* source = static_cast<const Source*>(x);
  float tensor_scale;
  if constexpr (packed) {
    if (path == nullptr)
      tensor_scale =
          mixprec::reference::quantize_nvfp4_packed(source, rows, cols, out.data(), scales.data(), o, orientation);
    else
      tensor_scale =
          mixprec::host::quantize_nvfp4_packed(source, rows, cols, out.data(), scales.data(), o, orientation, *path);
  } else {
    if (path == nullptr)
      tensor_scale = mixprec::reference::quantize_nvfp4(source, rows, cols, out.data(), scales.data(), o, orientation);
    else
      tensor_scale =
          mixprec::host::quantize_nvfp4(source, rows, cols, out.data(), scales.data(), o, orientation, *path);
  }
  return {codes_of(out), codes_of(scales), tensor_scale};
}

// A tensor x and quantize_nvfp4_as for its source type, both forms.
struct nvfp4_call {
  const void* x;
  std::size_t count;
  using quantize_function = quantized (*)(const void*, std::size_t, std::int64_t, std::int64_t,
                                          const mixprec::nvfp4_options&, mx_orientation, std::size_t, const simd_path*);
  quantize_function unpacked, packed;
};
template <class Source>
nvfp4_call nvfp4_call_of(const std::vector<Source>& x) {
  return {x.data(), x.size(), &quantize_nvfp4_as<mixprec::float4_e2m1, Source>,
          &quantize_nvfp4_as<mixprec::float4_e2m1x2, Source>};
}

// One form (packed or not) on every path against the reference.
void check_nvfp4_form(const nvfp4_call& call, bool packed, std::int64_t rows, std::int64_t cols,
                      const mixprec::nvfp4_options& o, mx_orientation orientation, std::size_t scale_count) {
  const nvfp4_call::quantize_function quantize = packed ? call.packed : call.unpacked;
  const quantized expected = quantize(call.x, call.count, rows, cols, o, orientation, scale_count, nullptr);
  for (const simd_path path : mixprec::host::available_simd_paths()) {
    const quantized actual = quantize(call.x, call.count, rows, cols, o, orientation, scale_count, &path);
    INFO((packed ? "packed, " : "") << "path " << mixprec::host::to_string(path) << ", mode "
                                    << static_cast<int>(o.mode) << ", layout " << static_cast<int>(o.scale_layout)
                                    << ", 2D " << o.two_dimensional_blocks << ", RHT " << o.random_hadamard
                                    << ", orientation " << static_cast<int>(orientation) << ", " << rows << " x "
                                    << cols);
    CHECK(std::memcmp(&actual.tensor_scale, &expected.tensor_scale, sizeof(float)) == 0);
    CHECK(first_difference(expected.scales, actual.scales, "block scale") == "");
    CHECK(first_difference(expected.codes, actual.codes, packed ? "packed byte" : "element") == "");
  }
}

// Both forms: the packed one where the quantized dimension is even.
void check_nvfp4(const nvfp4_call& call, std::int64_t rows, std::int64_t cols, const mixprec::nvfp4_options& o,
                 mx_orientation orientation) {
  const std::size_t lines = lines_of(rows, cols, orientation), length = length_of(rows, cols, orientation);
  const std::size_t scale_count =
      mixprec::gemm::block_scale_count(o.scale_layout, lines, (length + 15) / 16, "test");
  check_nvfp4_form(call, false, rows, cols, o, orientation, scale_count);
  if (length % 2 == 0) check_nvfp4_form(call, true, rows, cols, o, orientation, scale_count);
}

// Every mode, orientation, layout and block shape (the transform only where
// the quantized dimension is a multiple of 16).
void check_nvfp4_everywhere(const nvfp4_call& call, std::int64_t rows, std::int64_t cols) {
  for (const rounding mode : every_mode)
    for (const mx_orientation orientation : both_orientations)
      for (const block_scale_layout layout : both_layouts)
        for (int shape = 0; shape < 3; ++shape) {
          mixprec::nvfp4_options o;
          o.mode = mode;
          o.scale_layout = layout;
          o.seed = 7;
          o.offset = 3;
          o.two_dimensional_blocks = shape == 1;
          o.random_hadamard = shape == 2;
          if (o.random_hadamard && length_of(rows, cols, orientation) % 16 != 0) continue;
          if (o.random_hadamard && mode == rounding::toward_zero) o.hadamard_signs = 0x1234;
          check_nvfp4(call, rows, cols, o, orientation);
        }
}
void check_nvfp4_everywhere(const std::vector<float>& x, std::int64_t rows, std::int64_t cols) {
  check_nvfp4_everywhere(nvfp4_call_of(x), rows, cols);
}

// values as T (bfloat16, float16: a source type of its own), each rounded once.
template <class T>
std::vector<T> converted(const std::vector<float>& values) {
  std::vector<T> result;
  result.reserve(values.size());
  for (const float v : values) result.push_back(T(v));
  return result;
}

// Values of many magnitudes: each 8-element run shares a random binade, from
// float subnormals to near FLT_MAX, so blocks see every scale.
std::vector<float> many_magnitudes(std::size_t n, std::uint32_t seed, int lowest_exponent, int highest_exponent) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(lowest_exponent, highest_exponent);
  std::vector<float> x(n);
  int e = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) e = exponent(generator);
    x[i] = std::ldexp(normal(generator), e);
  }
  return x;
}

// Every positive grid point of Element and the midpoint above it, as doubles.
template <class Element>
std::vector<double> grid_points_and_midpoints() {
  std::vector<double> points;
  const auto max_code = std::numeric_limits<Element>::max().bits();
  for (std::uint8_t code = 0; code <= max_code; ++code) {
    const double value = static_cast<double>(static_cast<float>(Element::from_bits(code)));
    points.push_back(value);
    if (code < max_code)
      points.push_back((value + static_cast<double>(static_cast<float>(Element::from_bits(
                                    static_cast<std::uint8_t>(code + 1))))) / 2);
  }
  const double max = static_cast<double>(static_cast<float>(std::numeric_limits<Element>::max()));
  points.push_back(max * 1.0625);  // past max: floor clamps
  return points;
}

// Pushes f, the floats one ulp either side, and their negatives.
void push_neighbourhood(std::vector<float>& x, float f) {
  for (const float v : {f, std::nextafter(f, 0.0f), std::nextafter(f, FLT_MAX)}) {
    x.push_back(v);
    x.push_back(-v);
  }
}

// Blocks of 32 around each scale 2^k: element 0 is max · 2^k (which fixes X =
// 2^k under both rules) or a float ulp either side of it (one scale more or
// less), the others grid points and midpoints of Element times 2^k, ±1 ulp.
template <class Element>
std::vector<float> blocks_around_scale_boundaries() {
  const double max = static_cast<double>(static_cast<float>(std::numeric_limits<Element>::max()));
  const std::vector<double> points = grid_points_and_midpoints<Element>();
  std::vector<float> x;
  for (const int k : {-140, -133, -127, -126, -125, -120, -64, -3, 0, 1, 17, 64, 100, 110}) {
    const float anchor = static_cast<float>(std::ldexp(max, k));
    if (!std::isfinite(anchor)) continue;
    std::vector<float> values;
    for (const double point : points) push_neighbourhood(values, static_cast<float>(std::ldexp(point, k)));
    for (int variant = 0; variant < 3; ++variant) {
      const float first = variant == 0 ? anchor : variant == 1 ? std::nextafter(anchor, 0.0f) : std::nextafter(anchor, FLT_MAX);
      for (std::size_t begin = 0; begin < values.size(); begin += 31) {
        x.push_back(first);
        for (std::size_t i = begin; i < begin + 31; ++i) x.push_back(i < values.size() ? values[i] : 0.0f);
      }
    }
  }
  return x;
}

// Special blocks of 32: NaN, ±inf, zeros (both signs), float subnormals only,
// tiny (below 2^-127 · max), huge (near FLT_MAX), and a mixture, then a
// partial last block.
std::vector<float> special_blocks() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const float tiny = FLT_MIN * 0x1p-10f;
  std::vector<float> x;
  const auto block = [&](std::initializer_list<float> firsts, float rest) {
    std::size_t i = 0;
    for (const float v : firsts) x.push_back(v), ++i;
    for (; i < 32; ++i) x.push_back(rest * static_cast<float>(i % 7) * (i % 2 == 0 ? 1.0f : -1.0f));
  };
  block({nan}, 1.0f);
  block({1.0f, inf}, 2.0f);
  block({-inf}, 0.5f);
  block({0.0f, -0.0f}, 0.0f);
  block({-0.0f}, 0.0f);
  block({from_bits(1), from_bits(0x807FFFFF)}, from_bits(0x00012345));
  block({tiny}, tiny / 7.0f);
  block({FLT_MAX, -FLT_MAX}, FLT_MAX / 8.0f);
  block({FLT_MIN, 1e-40f, -3e-39f}, 1e-41f);
  block({448.0f * 0x1p-135f}, 0x1p-140f);
  for (int i = 0; i < 13; ++i) x.push_back(static_cast<float>(i) * 0.37f);
  return x;
}

}  // namespace

namespace {

// host::detail::mx_scale_code and cast::mx_scale (its code) for Element.
template <class Element>
[[gnu::noinline]] unsigned host_mx_scale_code(std::uint32_t amax_bits, mx_scale_rule rule) {
  return mixprec::host::detail::mx_scale_code<Element>(amax_bits, rule);
}
template <class Element>
[[gnu::noinline]] unsigned cast_mx_scale_code(float amax, mx_scale_rule rule) {
  return mixprec::cast::mx_scale<Element>(amax, rule).bits();
}
struct mx_scale_codes {
  float max;  // the element type's largest value
  unsigned (*host)(std::uint32_t, mx_scale_rule);
  unsigned (*cast)(float, mx_scale_rule);
};
template <class Element>
mx_scale_codes mx_scale_codes_of() {
  return {static_cast<float>(std::numeric_limits<Element>::max()), &host_mx_scale_code<Element>,
          &cast_mx_scale_code<Element>};
}
const mx_scale_codes every_mx_scale_codes[] = {
    mx_scale_codes_of<mixprec::float8_e4m3>(), mx_scale_codes_of<mixprec::float8_e5m2>(),
    mx_scale_codes_of<mixprec::float6_e2m3>(), mx_scale_codes_of<mixprec::float6_e3m2>(),
    mx_scale_codes_of<mixprec::float4_e2m1>()};

}  // namespace

TEST_CASE("host MX scale codes equal cast::mx_scale at every exponent and around every mantissa boundary",
          "[host_block_quantize]") {
  for (const mx_scale_codes& element : every_mx_scale_codes) {
    std::uint32_t max_bits;
    std::memcpy(&max_bits, &element.max, sizeof max_bits);
    const std::uint32_t max_mantissa = max_bits & 0x7FFFFFu;
    for (const mx_scale_rule rule : {mx_scale_rule::floor, mx_scale_rule::rceil})
      for (std::uint32_t exponent = 0; exponent < 256; ++exponent)
        for (const std::uint32_t mantissa : {0u, 1u, max_mantissa - 1, max_mantissa, max_mantissa + 1, 0x400000u,
                                             0x7FFFFEu, 0x7FFFFFu}) {
          const std::uint32_t bits = (exponent << 23) | (mantissa & 0x7FFFFFu);
          INFO("amax bits " << bits << ", rule " << static_cast<int>(rule));
          CHECK(element.host(bits, rule) == element.cast(from_bits(bits), rule));
        }
  }
}

TEST_CASE("host quantize_mx equals the reference on random blocks of many magnitudes, partial blocks included",
          "[host_block_quantize]") {
  // 45 x 70: rows and columns both end in a partial block of 32.
  const std::vector<float> x = many_magnitudes(45 * 70, 1, -150, 127);
  for (const mx_call& call : every_mx_element(x)) check_mx_everywhere(call, 45, 70);
  // Moderate magnitudes, the common case, one tensor wider than a panel.
  const std::vector<float> wide = many_magnitudes(3 * 1100, 2, -30, 30);
  for (const mx_call& call : every_mx_element(wide)) check_mx_everywhere(call, 3, 1100);
}

TEST_CASE("host quantize_mx equals the reference around every scale boundary and element midpoint +-1 ulp",
          "[host_block_quantize]") {
  const std::vector<float> inputs[] = {
      blocks_around_scale_boundaries<mixprec::float8_e4m3>(), blocks_around_scale_boundaries<mixprec::float8_e5m2>(),
      blocks_around_scale_boundaries<mixprec::float6_e2m3>(), blocks_around_scale_boundaries<mixprec::float6_e3m2>(),
      blocks_around_scale_boundaries<mixprec::float4_e2m1>()};
  for (std::size_t element = 0; element < 5; ++element) {
    std::vector<float> x = inputs[element];
    x.resize((x.size() + 31) / 32 * 32, 0.0f);
    // One line per 32-block row-wise; the same data 32 rows tall column-wise.
    const auto blocks = static_cast<std::int64_t>(x.size() / 32);
    const mx_call call = every_mx_element(x)[element];
    check_mx_everywhere(call, blocks, 32);
    check_mx_everywhere(call, 32, blocks);
  }
}

TEST_CASE("host quantize_mx equals the reference on NaN, inf, zero, subnormal, tiny and huge blocks",
          "[host_block_quantize]") {
  const std::vector<float> x = special_blocks();
  for (const mx_call& call : every_mx_element(x)) {
    check_mx_everywhere(call, 1, static_cast<std::int64_t>(x.size()));
    check_mx_everywhere(call, static_cast<std::int64_t>(x.size()), 1);
  }
}

TEST_CASE("host quantize_mx equals the reference from bfloat16 and float16 sources", "[host_block_quantize]") {
  const std::vector<float> values = many_magnitudes(37 * 41, 3, -30, 15);
  check_mx_everywhere(mx_call_of<mixprec::float8_e4m3>(converted<mixprec::bfloat16>(values)), 37, 41);
  check_mx_everywhere(mx_call_of<mixprec::float4_e2m1>(converted<mixprec::float16>(values)), 37, 41);
}

TEST_CASE("host quantize_nvfp4 equals the reference on random data of many magnitudes, partial blocks included",
          "[host_block_quantize]") {
  // 48 x 70: rows a multiple of 16 (so the column-wise transform runs), columns not.
  check_nvfp4_everywhere(many_magnitudes(48 * 70, 4, -40, 40), 48, 70);
  check_nvfp4_everywhere(many_magnitudes(35 * 64, 5, -150, 127), 35, 64);
  check_nvfp4_everywhere(many_magnitudes(2 * 1056, 6, -10, 10), 2, 1056);  // wider than a panel
}

TEST_CASE("host quantize_nvfp4 equals the reference at every E4M3 block-scale midpoint and E2M1 midpoint +-1 ulp",
          "[host_block_quantize]") {
  // An element 2688 sets S = 2688 / 2688 = 1, so a block of amax a gets d =
  // E4M3(a / 6): a = 6 m for every E4M3 grid point and midpoint m, ±1 ulp.
  // The block's other elements are E2M1 grid points and midpoints times d
  // (E4M3 of the float a / 6: d itself or a neighbour, whatever the exact
  // rounding gives), ±1 ulp.
  const std::vector<double> e4m3 = grid_points_and_midpoints<mixprec::float8_e4m3>();
  const std::vector<double> e2m1 = grid_points_and_midpoints<mixprec::float4_e2m1>();
  std::vector<float> x = {2688.0f};
  x.resize(16, 0.0f);
  for (const double m : e4m3) {
    if (m == 0 || m > 448) continue;
    std::vector<float> anchors;
    push_neighbourhood(anchors, static_cast<float>(6 * m));
    for (const float anchor : anchors) {
      if (anchor < 0) continue;
      const double d = static_cast<double>(static_cast<float>(mixprec::float8_e4m3(anchor / 6)));
      std::vector<float> values;
      for (const double q : e2m1)
        if (q * d <= static_cast<double>(anchor)) push_neighbourhood(values, static_cast<float>(q * d));
      for (std::size_t begin = 0; begin < values.size(); begin += 15) {
        x.push_back(anchor);
        for (std::size_t i = begin; i < begin + 15; ++i) x.push_back(i < values.size() ? values[i] : 0.0f);
      }
    }
  }
  const auto blocks = static_cast<std::int64_t>(x.size() / 16);
  check_nvfp4_everywhere(x, blocks, 16);
  check_nvfp4_everywhere(x, 16, blocks);
  // The same blocks in a tensor whose S is not 1 (amax 3000: S = 0.896 rounded).
  x[0] = 3000.0f;
  check_nvfp4_everywhere(x, blocks, 16);
}

TEST_CASE("host quantize_nvfp4 equals the reference on NaN, inf, zero, tiny and huge tensors and blocks",
          "[host_block_quantize]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> base = many_magnitudes(48 * 32, 7, -20, 20);
  for (std::size_t i = 0; i < 16; ++i) base[100 + i] = 0.0f;           // a zero block
  for (std::size_t i = 0; i < 16; ++i) base[300 + i] = 1e-30f * static_cast<float>(i);  // d = 0
  const std::vector<float> specials = special_blocks();
  std::vector<float> special_tensor(specials);
  special_tensor.resize(48 * 16, 1.5f);
  for (const float poison : {nan, inf, -inf}) {
    std::vector<float> x = base;
    x[777] = poison;  // S = 1; its block's d is NaN
    check_nvfp4_everywhere(x, 48, 32);
  }
  check_nvfp4_everywhere(base, 48, 32);
  check_nvfp4_everywhere(special_tensor, 48, 16);
  check_nvfp4_everywhere(std::vector<float>(48 * 16, 0.0f), 48, 16);     // amax 0: S = 1
  check_nvfp4_everywhere(many_magnitudes(32 * 16, 8, -149, -120), 32, 16);  // S clamps to FLT_MAX
  check_nvfp4_everywhere(many_magnitudes(32 * 16, 9, 100, 127), 32, 16);    // huge
}

TEST_CASE("host quantize_nvfp4_packed equals the reference on odd and even shapes, partial blocks and every source",
          "[host_block_quantize]") {
  // check_nvfp4 compares the packed forms wherever the quantized dimension is
  // even (so every case above covers them too); here shapes whose lines end
  // in partial blocks of every even length, one orientation odd (37 rows),
  // panels wider than 1024 and column-wise panels of more than 256 lines.
  const std::int64_t shapes[][2] = {{37, 42}, {50, 34}, {2, 1058}, {48, 300}, {18, 2}, {1, 2}, {64, 16}};
  for (const auto& shape : shapes) {
    const std::int64_t rows = shape[0], cols = shape[1];
    const std::vector<float> values =
        many_magnitudes(static_cast<std::size_t>(rows * cols), static_cast<std::uint32_t>(rows + cols), -30, 30);
    check_nvfp4_everywhere(values, rows, cols);
  }
  const std::vector<float> values = many_magnitudes(32 * 46, 11, -20, 20);
  check_nvfp4_everywhere(nvfp4_call_of(converted<mixprec::bfloat16>(values)), 32, 46);
  check_nvfp4_everywhere(nvfp4_call_of(converted<mixprec::float16>(values)), 32, 46);
}

TEST_CASE("host quantize_nvfp4 equals the reference from bfloat16 sources", "[host_block_quantize]") {
  const std::vector<float> values = many_magnitudes(32 * 40, 10, -20, 20);
  check_nvfp4_everywhere(nvfp4_call_of(converted<mixprec::bfloat16>(values)), 32, 40);
}

namespace {

// x ([rows, cols], row-major) transposed: [cols, rows]. Quantized
// column-wise, its blocks are x's row-wise ones, so blocks built along a
// line become columns, one per SIMD lane of the column-wise panels.
std::vector<float> transposed(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
  std::vector<float> result(x.size());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) result[c * rows + r] = x[r * cols + c];
  return result;
}

}  // namespace

TEST_CASE("host column-wise quantization equals the reference at panel edges and with special blocks side by side",
          "[host_block_quantize]") {
  // Column-wise panels are 256 columns by one block of rows, read a row of x
  // at a time with a block per lane: shapes with a second panel of 44
  // columns (300), a last block of 13 rows (45, 13), columns that fill no
  // vector (17, 1), one row, and whole 16-row tiles of codes (64 x 16).
  const std::int64_t shapes[][2] = {{45, 300}, {13, 17}, {1, 33}, {33, 1}, {64, 16}};
  for (const auto& shape : shapes) {
    const std::int64_t rows = shape[0], cols = shape[1];
    const std::vector<float> x =
        many_magnitudes(static_cast<std::size_t>(rows * cols), static_cast<std::uint32_t>(3 * rows + cols), -40, 40);
    check_mx_everywhere(mx_call_of<mixprec::float8_e4m3>(x), rows, cols);
    check_mx_everywhere(mx_call_of<mixprec::float4_e2m1>(x), rows, cols);
    check_nvfp4_everywhere(x, rows, cols);
  }
  // Decoded sources, rows decoded in place: a bfloat16 tensor wider than a panel.
  const std::vector<float> wide = many_magnitudes(40 * 270, 12, -20, 20);
  check_mx_everywhere(mx_call_of<mixprec::float8_e5m2>(converted<mixprec::bfloat16>(wide)), 40, 270);
  check_nvfp4_everywhere(nvfp4_call_of(converted<mixprec::float16>(wide)), 40, 270);

  // The special blocks as columns (NaN, inf, zero, subnormal, tiny and huge
  // scales in neighbouring lanes of one vector).
  std::vector<float> specials = special_blocks();
  specials.resize(specials.size() / 32 * 32);
  const std::size_t special_count = specials.size() / 32;
  const std::vector<float> specials_as_columns = transposed(specials, special_count, 32);
  for (const mx_call& call : every_mx_element(specials_as_columns))
    check_mx_everywhere(call, 32, static_cast<std::int64_t>(special_count));
  // NVFP4 blocks of 16 as columns: zero, d = 0 (tiny), huge and ordinary
  // blocks side by side, then the same with one NaN or inf (its block's d is NaN).
  std::vector<float> blocks = many_magnitudes(20 * 16, 13, -20, 20);
  for (std::size_t i = 0; i < 16; ++i) blocks[16 + i] = 0.0f;
  for (std::size_t i = 0; i < 16; ++i) blocks[48 + i] = 1e-30f * static_cast<float>(i);
  for (std::size_t i = 0; i < 16; ++i) blocks[80 + i] = 3e5f * static_cast<float>(i % 3);
  check_nvfp4_everywhere(transposed(blocks, 20, 16), 16, 20);
  for (const float poison : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> poisoned = blocks;
    poisoned[16 * 7 + 5] = poison;
    check_nvfp4_everywhere(transposed(poisoned, 20, 16), 16, 20);
  }
}

namespace {

// The message of the reference's error for a call, with its function's name
// replaced by the host's: what the host must say.
std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const mixprec::error& e) {
    return e.what();
  }
  return "(no error)";
}
std::string as_host(std::string message, const std::string& function) {
  std::string reference = "mixprec::reference::", host = "mixprec::host::";
  reference += function;
  host += function;
  for (std::size_t at = message.find(reference); at != std::string::npos; at = message.find(reference, at))
    message.replace(at, reference.size(), host);
  return message;
}

// Checks that the host rejects a call as the reference does: host_call(path)
// (called with null: the best-path overload; with a path: that path, each
// available one) must throw the reference's message with `function`'s name
// as the host's. Returns that message (for further checks).
std::string check_host_rejects_as_reference(const std::string& function, const std::function<void()>& reference_call,
                                            const std::function<void(const simd_path*)>& host_call) {
  const std::string expected = as_host(message_of(reference_call), function);
  INFO(expected);
  std::string host_prefix = "mixprec::host::";
  host_prefix += function;
  host_prefix += ": ";
  REQUIRE(expected.find(host_prefix) == 0);
  CHECK(message_of([&] { host_call(nullptr); }) == expected);
  for (const simd_path path : mixprec::host::available_simd_paths())
    CHECK(message_of([&] { host_call(&path); }) == expected);
  return expected;
}

}  // namespace

TEST_CASE("host quantize_mx rejects the reference's bad calls with its message, writing nothing",
          "[host_block_quantize]") {
  const std::vector<float> x(64, 1.0f);
  std::vector<mixprec::float8_e4m3> q(64, mixprec::float8_e4m3::from_bits(0x33));
  std::vector<mixprec::float8_e8m0> scales(512, mixprec::float8_e8m0::from_bits(0x33));
  const auto untouched = [&] {
    return mixprec_test::every_code_is(q, 0x33) && mixprec_test::every_code_is(scales, 0x33);
  };
  mixprec::mx_options bad_rule, bad_mode, bad_layout;
  bad_rule.rule = static_cast<mx_scale_rule>(9);
  bad_mode.mode = static_cast<rounding>(42);
  bad_layout.scale_layout = static_cast<block_scale_layout>(5);
  struct bad_call {
    const float* x;
    std::int64_t rows, cols;
    mixprec::float8_e4m3* out;
    mixprec::float8_e8m0* scales;
    mixprec::mx_options o;
    mx_orientation orientation;
  };
  const bad_call calls[] = {
      {x.data(), -1, 64, q.data(), scales.data(), {}, mx_orientation::rowwise},
      {x.data(), INT64_MAX, 2, q.data(), scales.data(), {}, mx_orientation::rowwise},
      {nullptr, 1, 64, q.data(), scales.data(), {}, mx_orientation::rowwise},
      {x.data(), 1, 64, nullptr, scales.data(), {}, mx_orientation::rowwise},
      {x.data(), 1, 64, q.data(), nullptr, {}, mx_orientation::rowwise},
      {x.data(), 1, 64, q.data(), scales.data(), bad_rule, mx_orientation::rowwise},
      {x.data(), 1, 64, q.data(), scales.data(), bad_mode, mx_orientation::rowwise},
      {x.data(), 1, 64, q.data(), scales.data(), bad_layout, mx_orientation::rowwise},
      {x.data(), 1, 64, q.data(), scales.data(), {}, static_cast<mx_orientation>(3)},
  };
  for (const bad_call& c : calls) {
    check_host_rejects_as_reference(
        "quantize_mx",
        [&] { mixprec::reference::quantize_mx(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation); },
        [&](const simd_path* path) {
          if (path == nullptr)
            mixprec::host::quantize_mx(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation);
          else
            mixprec::host::quantize_mx(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation, *path);
        });
  }
  CHECK(untouched());
  // Arrays that overlap: out over x, scales over out, scales over x. The
  // elements would overwrite x while it is read; the caller gets the
  // message, not garbage, and nothing is written.
  std::vector<float> shared(64 + 16, 2.0f);
  auto* shared_bytes = reinterpret_cast<unsigned char*>(shared.data());
  const std::vector<float> shared_copy = shared;
  auto* overlapping_out = reinterpret_cast<mixprec::float8_e4m3*>(shared_bytes + 8);
  auto* overlapping_scales = reinterpret_cast<mixprec::float8_e8m0*>(shared_bytes + 4);
  struct overlap_call {
    const float* x;
    mixprec::float8_e4m3* out;
    mixprec::float8_e8m0* scales;
    const char* names;
  };
  const overlap_call overlaps[] = {
      {shared.data(), overlapping_out, scales.data(), "x ["},
      {x.data(), q.data(), reinterpret_cast<mixprec::float8_e8m0*>(q.data() + 1), "out ["},
      {shared.data(), q.data(), overlapping_scales, "x ["},
  };
  for (const overlap_call& c : overlaps) {
    const std::string expected = check_host_rejects_as_reference(
        "quantize_mx", [&] { mixprec::reference::quantize_mx(c.x, 1, 64, c.out, c.scales); },
        [&](const simd_path* path) {
          if (path == nullptr)
            mixprec::host::quantize_mx(c.x, 1, 64, c.out, c.scales, {}, mx_orientation::rowwise);
          else
            mixprec::host::quantize_mx(c.x, 1, 64, c.out, c.scales, {}, mx_orientation::rowwise, *path);
        });
    CHECK(expected.find("overlap") != std::string::npos);
    CHECK(expected.find(c.names) != std::string::npos);
  }
  CHECK(std::memcmp(shared.data(), shared_copy.data(), shared.size() * sizeof(float)) == 0);
  CHECK(untouched());
  // A path that is no enumerator is refused, naming the available ones.
  MIXPREC_REQUIRE_ERROR(mixprec::host::quantize_mx(x.data(), 1, 64, q.data(), scales.data(), {},
                                                   mx_orientation::rowwise, static_cast<simd_path>(7)),
                        "available_simd_paths");
  CHECK(untouched());
  // Empty tensors accept null pointers, as in the reference.
  CHECK_NOTHROW(mixprec::host::quantize_mx(static_cast<const float*>(nullptr), 0, 64,
                                           static_cast<mixprec::float8_e4m3*>(nullptr), nullptr));
}

namespace {

// A call quantize_nvfp4 or quantize_nvfp4_packed (out of type Storage) must
// reject, with a part of its message.
template <class Storage>
struct nvfp4_bad_call {
  const float* x;
  std::int64_t rows, cols;
  Storage* out;
  mixprec::float8_e4m3* scales;
  mixprec::nvfp4_options o;
  mx_orientation orientation;
  const char* says;
};

// The bad calls both forms share, on x [24, 16] (quantized dimensions even,
// so that the packed form's length check passes them on).
template <class Storage>
std::vector<nvfp4_bad_call<Storage>> nvfp4_bad_calls(const float* x, Storage* out, mixprec::float8_e4m3* scales) {
  mixprec::nvfp4_options bad_mode, both, rht, bad_layout;
  bad_mode.mode = static_cast<rounding>(42);
  both.random_hadamard = both.two_dimensional_blocks = true;
  rht.random_hadamard = true;
  bad_layout.scale_layout = static_cast<block_scale_layout>(5);
  return {
      {x, 16, -2, out, scales, {}, mx_orientation::rowwise, "negative"},
      {x, 4, INT64_MAX - 1, out, scales, {}, mx_orientation::rowwise, "overflow"},
      {nullptr, 24, 16, out, scales, {}, mx_orientation::rowwise, "x is null"},
      {x, 24, 16, nullptr, scales, {}, mx_orientation::rowwise, "out is null"},
      {x, 24, 16, out, nullptr, {}, mx_orientation::rowwise, "block_scales is null"},
      {x, 24, 16, out, scales, bad_mode, mx_orientation::rowwise, "mode = 42"},
      {x, 24, 16, out, scales, both, mx_orientation::rowwise, "choose one"},
      {x, 24, 16, out, scales, rht, mx_orientation::columnwise, "multiple of 16"},  // 24 rows
      {x, 24, 16, out, scales, bad_layout, mx_orientation::rowwise, "layout"},
      {x, 24, 16, out, scales, {}, static_cast<mx_orientation>(3), "orientation = 3"},
  };
}

// c through reference::quantize_nvfp4 (Storage float4_e2m1) or
// quantize_nvfp4_packed (float4_e2m1x2), and through the host's same
// function (with path...: none for the best-path overload, or one).
template <class Storage>
float reference_quantize(const nvfp4_bad_call<Storage>& c) {
  if constexpr (std::is_same<Storage, mixprec::float4_e2m1x2>::value)
    return mixprec::reference::quantize_nvfp4_packed(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation);
  else
    return mixprec::reference::quantize_nvfp4(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation);
}
template <class Storage, class... Path>
float host_quantize(const nvfp4_bad_call<Storage>& c, Path... path) {
  if constexpr (std::is_same<Storage, mixprec::float4_e2m1x2>::value)
    return mixprec::host::quantize_nvfp4_packed(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation, path...);
  else
    return mixprec::host::quantize_nvfp4(c.x, c.rows, c.cols, c.out, c.scales, c.o, c.orientation, path...);
}

// The host rejects c as the reference's same function does, on every path,
// with a message holding c.says; returns the message.
template <class Storage>
std::string check_nvfp4_rejects(const nvfp4_bad_call<Storage>& c) {
  const bool packed = std::is_same<Storage, mixprec::float4_e2m1x2>::value;
  const std::string expected = check_host_rejects_as_reference(
      packed ? "quantize_nvfp4_packed" : "quantize_nvfp4", [&] { reference_quantize(c); },
      [&](const simd_path* path) {
        if (path == nullptr)
          host_quantize(c);
        else
          host_quantize(c, *path);
      });
  CHECK(expected.find(c.says) != std::string::npos);
  return expected;
}

// The last checks of both rejection tests: a path that is no enumerator is
// refused, and an empty tensor takes null pointers (S = 1).
template <class Storage>
void check_nvfp4_bad_path_and_empty(const float* x, Storage* out, mixprec::float8_e4m3* scales) {
  const nvfp4_bad_call<Storage> good{x, 24, 16, out, scales, {}, mx_orientation::rowwise, ""};
  MIXPREC_REQUIRE_ERROR(host_quantize(good, static_cast<simd_path>(7)), "available_simd_paths");
  const nvfp4_bad_call<Storage> empty{nullptr, 0, 16, nullptr, nullptr, {}, mx_orientation::rowwise, ""};
  CHECK(host_quantize(empty) == 1.0f);
}

}  // namespace

TEST_CASE("host quantize_nvfp4 rejects the reference's bad calls with its message, writing nothing",
          "[host_block_quantize]") {
  const std::vector<float> x(24 * 16, 1.0f);
  std::vector<mixprec::float4_e2m1> q(x.size(), mixprec::float4_e2m1::from_bits(0x3));
  std::vector<mixprec::float8_e4m3> scales(1024, mixprec::float8_e4m3::from_bits(0x33));
  const auto untouched = [&] {
    return mixprec_test::every_code_is(q, 0x3) && mixprec_test::every_code_is(scales, 0x33);
  };
  for (const auto& c : nvfp4_bad_calls(x.data(), q.data(), scales.data())) check_nvfp4_rejects(c);
  CHECK(untouched());
  // out over x, and block scales over out: refused, nothing written.
  std::vector<float> shared(x.size(), 2.0f);
  const std::vector<float> shared_copy = shared;
  auto* overlapping_out = reinterpret_cast<mixprec::float4_e2m1*>(shared.data() + 3);
  for (int which = 0; which < 2; ++which) {
    const float* source = which == 0 ? shared.data() : x.data();
    mixprec::float4_e2m1* out = which == 0 ? overlapping_out : q.data();
    mixprec::float8_e4m3* block_scales = which == 0 ? scales.data() : reinterpret_cast<mixprec::float8_e4m3*>(q.data() + 5);
    check_nvfp4_rejects(nvfp4_bad_call<mixprec::float4_e2m1>{source, 24, 16, out, block_scales, {},
                                                             mx_orientation::rowwise, "overlap"});
  }
  CHECK(std::memcmp(shared.data(), shared_copy.data(), shared.size() * sizeof(float)) == 0);
  check_nvfp4_bad_path_and_empty(x.data(), q.data(), scales.data());
  CHECK(untouched());
}

TEST_CASE("host quantize_nvfp4_packed rejects the reference's bad calls with its message, writing nothing",
          "[host_block_quantize]") {
  const std::vector<float> x(24 * 16, 1.0f);
  std::vector<mixprec::float4_e2m1x2> q(x.size() / 2, mixprec::float4_e2m1x2::from_bits(0x3C));
  std::vector<mixprec::float8_e4m3> scales(1024, mixprec::float8_e4m3::from_bits(0x33));
  const auto untouched = [&] {
    return mixprec_test::every_code_is(q, 0x3C) && mixprec_test::every_code_is(scales, 0x33);
  };
  // quantize_nvfp4's bad calls, and quantized dimensions that are odd (row-wise,
  // column-wise, and cols under an orientation that is no enumerator: the
  // length check comes first and reads cols there).
  std::vector<nvfp4_bad_call<mixprec::float4_e2m1x2>> calls = nvfp4_bad_calls(x.data(), q.data(), scales.data());
  calls.push_back({x.data(), 1, 15, q.data(), scales.data(), {}, mx_orientation::rowwise, "is 15, odd"});
  calls.push_back({x.data(), 3, 16, q.data(), scales.data(), {}, mx_orientation::columnwise, "is 3, odd"});
  calls.push_back({x.data(), 16, 3, q.data(), scales.data(), {}, static_cast<mx_orientation>(3), "is 3, odd"});
  for (const auto& c : calls) check_nvfp4_rejects(c);
  CHECK(untouched());
  // out (24 · 16 / 2 = 192 bytes) over x, block scales over out's last byte,
  // and out over the block scales: refused, nothing written.
  std::vector<float> shared(x.size(), 2.0f);
  const std::vector<float> shared_copy = shared;
  auto* overlapping_out = reinterpret_cast<mixprec::float4_e2m1x2*>(shared.data() + 3);
  const mx_orientation rowwise = mx_orientation::rowwise;
  const nvfp4_bad_call<mixprec::float4_e2m1x2> overlaps[] = {
      {shared.data(), 24, 16, overlapping_out, scales.data(), {}, rowwise, "x ["},
      {x.data(), 24, 16, q.data(), reinterpret_cast<mixprec::float8_e4m3*>(q.data() + q.size() - 1), {}, rowwise,
       "out ["},
      {x.data(), 24, 16, reinterpret_cast<mixprec::float4_e2m1x2*>(scales.data() + 8), scales.data(), {}, rowwise,
       "out ["},
  };
  for (const auto& c : overlaps) {
    const std::string expected = check_nvfp4_rejects(c);
    CHECK(expected.find("overlap") != std::string::npos);
    CHECK(expected.find("+192 bytes") != std::string::npos);  // out spans the packed bytes only
  }
  // Packed out ends at byte 192: block scales right after it are apart.
  const std::vector<float> ones(24 * 16, 1.0f);
  std::vector<unsigned char> adjacent(192 + 24, 0x77);
  CHECK_NOTHROW(mixprec::host::quantize_nvfp4_packed(ones.data(), 24, 16,
                                                     reinterpret_cast<mixprec::float4_e2m1x2*>(adjacent.data()),
                                                     reinterpret_cast<mixprec::float8_e4m3*>(adjacent.data() + 192)));
  CHECK(std::memcmp(shared.data(), shared_copy.data(), shared.size() * sizeof(float)) == 0);
  check_nvfp4_bad_path_and_empty(x.data(), q.data(), scales.data());
  CHECK(untouched());
}
