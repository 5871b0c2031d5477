// core/exact_float.hpp's environment-independent operations and bit tests,
// held to the hardware's IEEE 754 operations and comparisons in the DEFAULT
// floating-point environment (MXCSR set to its default state here, the
// caller's restored after): there the hardware rounds to nearest even and
// keeps subnormals, so it is the independent reference. Each operation of
// the library is run in the default state and again with DAZ, FTZ and a
// directed rounding mode set, and must give the reference's bits both times
// (tests/unit/test_fp_environment.cpp checks the optimizers and the other
// users the same way).
//
// Inputs per operation: every pair (triple for fma) of special and boundary
// values; cases built to land on exact ties, on the subnormal/normal edge, on
// the overflow threshold and on exact cancellation; and a few million random
// bit patterns (seeded), half of them uniform and half with the operands'
// exponents close, where the rounding has work to do. For compile time and
// run time the harness is plain loops over function pointers.
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "mixprec/core/exact_float.hpp"
#include "support/catch.hpp"
#include "support/test_random.hpp"

namespace {

using mixprec::detail::bit_cast;

// MXCSR set to `control` for the scope; the caller's restored after.
class mxcsr_scope {
 public:
  explicit mxcsr_scope(std::uint32_t control) : saved_(mixprec::detail::read_mxcsr()) {
    mixprec::detail::write_mxcsr(control);
  }
  ~mxcsr_scope() { mixprec::detail::write_mxcsr(saved_); }
  mxcsr_scope(const mxcsr_scope&) = delete;
  mxcsr_scope& operator=(const mxcsr_scope&) = delete;

 private:
  std::uint32_t saved_;
};

// x, hidden from the optimiser: the reference operations run on the hardware,
// at run time, never folded at compile time.
template <class T>
T opaque(T x) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__ volatile("" : "+m"(x));
#endif
  return x;
}

std::uint32_t bits_of(float x) { return bit_cast<std::uint32_t>(x); }
std::uint64_t bits_of(double x) { return bit_cast<std::uint64_t>(x); }
float float_of(std::uint32_t b) { return bit_cast<float>(b); }
double double_of(std::uint64_t b) { return bit_cast<double>(b); }

std::string hex(float x) {
  char text[64];
  std::snprintf(text, sizeof text, "%a (0x%08X)", static_cast<double>(x), static_cast<unsigned>(bits_of(x)));
  return text;
}
std::string hex(double x) {
  char text[64];
  std::snprintf(text, sizeof text, "%a (0x%016llX)", x, static_cast<unsigned long long>(bits_of(x)));
  return text;
}

// A seeded 64-bit generator (the library's stochastic_rounding_bits is not the test's input).
struct bits_generator {
  mixprec_test::lcg g;
  explicit bits_generator(std::uint64_t seed) : g(seed) {}
  std::uint64_t next() {
    g.uniform();
    const std::uint64_t high = g.state >> 32;
    g.uniform();
    return (high << 32) | (g.state >> 32);
  }
};

// ---- Inputs -----------------------------------------------------------------

// Zeros, subnormal and normal edges, 1 and its neighbours, max, infinities and
// NaNs (quiet, signalling, with payloads, negative), both signs.
std::vector<float> special_floats() {
  const std::uint32_t magnitudes[] = {0x00000000u, 0x00000001u, 0x00000002u, 0x00000003u, 0x00400000u, 0x007FFFFFu,
                                      0x00800000u, 0x00800001u, 0x00FFFFFFu, 0x01000000u, 0x33800000u, 0x34000000u,
                                      0x3F7FFFFFu, 0x3F800000u, 0x3F800001u, 0x3FC00000u, 0x40000000u, 0x5F800000u,
                                      0x7F000000u, 0x7F7FFFFEu, 0x7F7FFFFFu, 0x7F800000u, 0x7FC00000u, 0x7F800001u,
                                      0x7FA00001u, 0x7FFFFFFFu};
  std::vector<float> values;
  for (std::uint32_t m : magnitudes) {
    values.push_back(float_of(m));
    values.push_back(float_of(m | 0x80000000u));
  }
  return values;
}
std::vector<double> special_doubles() {
  const std::uint64_t magnitudes[] = {
      0x0000000000000000ull, 0x0000000000000001ull, 0x0000000000000003ull, 0x0008000000000000ull, 0x000FFFFFFFFFFFFFull,
      0x0010000000000000ull, 0x0010000000000001ull, 0x001FFFFFFFFFFFFFull, 0x3CA0000000000000ull, 0x3CB0000000000000ull,
      0x3FEFFFFFFFFFFFFFull, 0x3FF0000000000000ull, 0x3FF0000000000001ull, 0x3FF8000000000000ull, 0x4000000000000000ull,
      0x36A0000000000000ull, 0x7FE0000000000000ull, 0x7FEFFFFFFFFFFFFFull, 0x7FF0000000000000ull, 0x7FF8000000000000ull,
      0x7FF0000000000001ull, 0x7FF4000000000001ull, 0x7FFFFFFFFFFFFFFFull};
  std::vector<double> values;
  for (std::uint64_t m : magnitudes) {
    values.push_back(double_of(m));
    values.push_back(double_of(m | 0x8000000000000000ull));
  }
  return values;
}

// A random float: uniform bits, or (sparse) a significand with few random
// top bits, which makes exact results and exact ties frequent.
float random_float(bits_generator& r, bool sparse) {
  std::uint64_t b = r.next();
  std::uint32_t x = static_cast<std::uint32_t>(b);
  if (sparse) x &= ~((1u << (b >> 59)) - 1u);  // clear up to 31 low bits
  return float_of(x);
}
double random_double(bits_generator& r, bool sparse) {
  std::uint64_t x = r.next();
  if (sparse) x &= ~((std::uint64_t{1} << (r.next() % 53)) - 1u);
  return double_of(x);
}
// y with its exponent field moved to within `spread` binades of x's (x, y
// finite): operands close enough that neither absorbs the other.
template <class Bits>
Bits near_exponent(Bits x, Bits y, int mantissa_bits, Bits exponent_mask, std::uint64_t random, int spread) {
  const Bits field = (x & exponent_mask) >> mantissa_bits;
  const Bits max_field = exponent_mask >> mantissa_bits;
  const auto offset = static_cast<long long>(random % static_cast<std::uint64_t>(2 * spread + 1)) - spread;
  long long moved = static_cast<long long>(field) + offset;
  if (moved < 0) moved = 0;
  if (moved >= static_cast<long long>(max_field)) moved = static_cast<long long>(max_field) - 1;
  return static_cast<Bits>((y & ~exponent_mask) | (static_cast<Bits>(moved) << mantissa_bits));
}

// ---- The checks -----------------------------------------------------------------

// MXCSR's DAZ and FTZ bits and its rounding control's directed modes.
constexpr std::uint32_t daz_ftz = mixprec::detail::mxcsr_denormals_are_zero | mixprec::detail::mxcsr_flush_to_zero;
constexpr std::uint32_t directed_modes[] = {0x4000u, 0x2000u, 0x6000u};  // upward, downward, toward zero

template <class T>
bool same_bits(T a, T b) {
  return bits_of(a) == bits_of(b);
}

// One operation (1 to 3 operands; the ones it does not take are ignored).
template <class T>
struct operation {
  const char* name;
  int operands;
  T (*exact)(T, T, T);     // the library's
  T (*hardware)(T, T, T);  // the plain operation, run in the default environment
};
template <class T>
using input = std::array<T, 3>;

template <class T>
std::string describe(const char* name, int operands, const input<T>& x) {
  std::string text = std::string(name) + "(";
  for (int k = 0; k < operands; ++k) text += (k != 0 ? ", " : "") + hex(x[static_cast<std::size_t>(k)]);
  return text + ")";
}

// Whether `result` is one of two or more NaN operands, quieted: which NaN
// the hardware returns then depends on the order the compiler gives a
// commutative operation's operands (x86 returns its first source operand),
// so any of them is accepted.
template <class T>
bool is_one_of_the_nans(T result, const input<T>& x, int operands) {
  int nans = 0;
  bool found = false;
  for (int k = 0; k < operands; ++k) {
    const T operand = x[static_cast<std::size_t>(k)];
    if (!std::isnan(operand)) continue;
    ++nans;
    found = found || same_bits(result, operand + operand);  // quieted (in the default environment)
  }
  return nans >= 2 && found;
}

// The hardware's results in the default environment, then the library's in
// the default environment and under DAZ|FTZ with directed rounding `mode`:
// each must have the hardware's bits.
template <class T>
void check_operation(const operation<T>& op, const std::vector<input<T>>& inputs, std::uint32_t mode) {
  std::vector<T> expected(inputs.size()), actual(inputs.size());
  const std::uint32_t default_state = 0x1F80u;  // every exception masked, to nearest, DAZ and FTZ clear
  {
    const mxcsr_scope scope(default_state);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      expected[i] = op.hardware(opaque(inputs[i][0]), opaque(inputs[i][1]), opaque(inputs[i][2]));
  }
  for (const std::uint32_t environment : {default_state, default_state | daz_ftz | mode}) {
    {
      const mxcsr_scope scope(environment);
      for (std::size_t i = 0; i < inputs.size(); ++i) actual[i] = op.exact(inputs[i][0], inputs[i][1], inputs[i][2]);
    }
    const mxcsr_scope scope(default_state);
    std::size_t count = 0;
    std::string first;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (same_bits(expected[i], actual[i]) || is_one_of_the_nans(actual[i], inputs[i], op.operands)) continue;
      if (count++ == 0)
        first =
            describe(op.name, op.operands, inputs[i]) + ": hardware " + hex(expected[i]) + ", exact " + hex(actual[i]);
    }
    INFO(op.name << " with MXCSR 0x" << std::hex << environment << std::dec << ": " << count << " of " << inputs.size()
                 << " results differ from the hardware's in the default environment; the first: " << first);
    CHECK(count == 0);
  }
}

float near_float(float a, float b, std::uint64_t random) {
  if (!std::isfinite(a) || !std::isfinite(b)) return b;
  return float_of(near_exponent<std::uint32_t>(bits_of(a), bits_of(b), 23, 0x7F800000u, random, 30));
}
double near_double(double a, double b, std::uint64_t random) {
  if (!std::isfinite(a) || !std::isfinite(b)) return b;
  return double_of(near_exponent<std::uint64_t>(bits_of(a), bits_of(b), 52, 0x7FF0000000000000ull, random, 60));
}

// Values next to x (x finite): x and its neighbours on both sides.
std::vector<float> around(float x) {
  const std::uint32_t b = bits_of(x);
  return {float_of(b - 1), x, float_of(b + 1)};
}

constexpr std::size_t random_count = 2000000;

// Every pair of specials, the built pairs in both orders, then `random_pairs`
// random pairs: uniform or sparse, every other one with b's exponent near a's.
template <class T>
std::vector<input<T>> pair_inputs(const std::vector<T>& specials, const std::vector<std::pair<T, T>>& built,
                                  std::size_t random_pairs, T (*random)(bits_generator&, bool),
                                  T (*near)(T, T, std::uint64_t)) {
  std::vector<input<T>> inputs;
  inputs.reserve(specials.size() * specials.size() + 2 * built.size() + random_pairs);
  for (T a : specials)
    for (T b : specials) inputs.push_back({a, b, T(0)});
  for (const auto& ab : built) {
    inputs.push_back({ab.first, ab.second, T(0)});
    inputs.push_back({ab.second, ab.first, T(0)});
  }
  bits_generator r(0x5EED + sizeof(T));
  for (std::size_t i = 0; i < random_pairs; ++i) {
    const bool sparse = (i & 2) != 0;
    const T a = random(r, sparse);
    T b = random(r, sparse);
    if (i & 1) b = near(a, b, r.next());
    inputs.push_back({a, b, T(0)});
  }
  return inputs;
}

// Float pairs whose exact sum, product or quotient is a tie, lies at the
// subnormal/normal edge or at the overflow threshold, or cancels exactly.
std::vector<std::pair<float, float>> built_float_pairs() {
  std::vector<std::pair<float, float>> pairs;
  const float half_ulp_of_one = 0x1p-24f, max = FLT_MAX;
  for (float a : {1.0f, 0x1.000002p0f, 0x1.fffffep0f, 0x1p-126f, 0x1.000002p-126f})
    for (float sign : {1.0f, -1.0f}) {
      for (float e : around(half_ulp_of_one)) pairs.push_back({a, sign * e * (a >= 1.0f ? 1.0f : 0x1p-126f)});
      pairs.push_back({a, -a});  // exact cancellation: +0
    }
  for (std::uint32_t m = 1; m < 64; ++m) {  // subnormal results and their halves
    const float subnormal = float_of(m);
    for (float d : {2.0f, 4.0f, 3.0f, 0.5f, 1.5f, 0x1p-23f, 0x1p23f}) pairs.push_back({subnormal, d});
    pairs.push_back({0x1p-126f, -subnormal});  // normal minus subnormal: subnormal or min normal
    pairs.push_back({float_of(0x00800000u + m), -0x1p-126f});
  }
  for (float x : around(max)) {  // max + half its spacing: the overflow threshold
    for (float y : around(0x1p103f)) {
      pairs.push_back({x, y});
      pairs.push_back({-x, -y});
    }
    for (float y : around(1.0f)) pairs.push_back({x, y + y});
    for (float y : around(0.5f)) pairs.push_back({x, y});
  }
  for (std::uint32_t k = 1; k < 200; ++k) {  // (1 + k 2^-12)(1 + j 2^-12): ties where the product has 25 bits
    const float a = 1.0f + static_cast<float>(k) * 0x1p-12f;
    for (std::uint32_t j = 1; j < 200; j += 7) pairs.push_back({a, 1.0f + static_cast<float>(j) * 0x1p-12f});
    pairs.push_back({a * 0x1p-70f, (1.0f + static_cast<float>(k % 13) * 0x1p-12f) * 0x1p-66f});  // subnormal ties
  }
  return pairs;
}
std::vector<std::pair<double, double>> built_double_pairs() {
  std::vector<std::pair<double, double>> pairs;
  for (double a : {1.0, 0x1.0000000000001p0, 0x1p-1022, 0x1.0000000000001p-1022, 0x1.fffffffffffffp1023})
    for (double sign : {1.0, -1.0}) {
      for (double e : {0x1p-53, 0x1p-54, 0x1.0000000000001p-54, 0x1.fffffffffffffp-55})
        pairs.push_back({a, sign * e * (a >= 1.0 ? a : 0x1p-1022)});
      pairs.push_back({a, -a});
    }
  for (std::uint64_t m = 1; m < 64; ++m) {
    const double subnormal = double_of(m);
    for (double d : {2.0, 4.0, 3.0, 0.5, 1.5, 0x1p-52, 0x1p52}) pairs.push_back({subnormal, d});
    pairs.push_back({0x1p-1022, subnormal});
  }
  for (std::uint64_t k = 1; k < 200; ++k) {  // products with 54 bits: ties
    const double a = 1.0 + static_cast<double>(k) * 0x1p-26;
    for (std::uint64_t j = 1; j < 200; j += 7) pairs.push_back({a, 1.0 + static_cast<double>(j) * 0x1p-27});
    pairs.push_back({a * 0x1p-540, (1.0 + static_cast<double>(k % 13) * 0x1p-27) * 0x1p-510});
    pairs.push_back({a * 0x1p600, (1.0 + static_cast<double>(k % 13) * 0x1p-27) * 0x1p423});  // near overflow
  }
  return pairs;
}

TEST_CASE("exact_float: float add, multiply and divide equal the hardware's in the default environment",
          "[exact_float]") {
  using namespace mixprec::detail;
  const std::vector<input<float>> inputs =
      pair_inputs(special_floats(), built_float_pairs(), random_count, random_float, near_float);
  const operation<float> ops[] = {
      {"add_nearest", 2, [](float a, float b, float) { return add_nearest(a, b); },
       [](float a, float b, float) { return a + b; }},
      {"multiply_nearest", 2, [](float a, float b, float) { return multiply_nearest(a, b); },
       [](float a, float b, float) { return a * b; }},
      {"divide_nearest", 2, [](float a, float b, float) { return divide_nearest(a, b); },
       [](float a, float b, float) { return a / b; }}};
  for (std::size_t k = 0; k < std::size(ops); ++k) check_operation(ops[k], inputs, directed_modes[k % 3]);
}

TEST_CASE("exact_float: double add, subtract, multiply and divide equal the hardware's in the default environment",
          "[exact_float]") {
  using namespace mixprec::detail;
  const std::vector<input<double>> inputs =
      pair_inputs(special_doubles(), built_double_pairs(), random_count, random_double, near_double);
  const operation<double> ops[] = {
      {"add_nearest", 2, [](double a, double b, double) { return add_nearest(a, b); },
       [](double a, double b, double) { return a + b; }},
      {"subtract_nearest", 2, [](double a, double b, double) { return subtract_nearest(a, b); },
       [](double a, double b, double) { return a - b; }},
      {"multiply_doubles_nearest", 2, [](double a, double b, double) { return multiply_doubles_nearest(a, b); },
       [](double a, double b, double) { return a * b; }},
      {"divide_nearest", 2, [](double a, double b, double) { return divide_nearest(a, b); },
       [](double a, double b, double) { return a / b; }}};
  for (std::size_t k = 0; k < std::size(ops); ++k) check_operation(ops[k], inputs, directed_modes[k % 3]);
}

// fma(a, b, c): every triple of specials; c = -(a·b rounded) (the product's
// exact rounding error, cancellation), c = ±half an ulp of a·b and its
// neighbours (ties and near-ties of the sum), products in the subnormal
// range plus small c; random triples (uniform, sparse, and c near a·b).
TEST_CASE("exact_float: fma_nearest equals the hardware's fma in the default environment", "[exact_float]") {
  std::vector<input<float>> inputs;
  const std::vector<float> specials = special_floats();
  for (float a : specials)
    for (float b : specials)
      for (float c : specials) inputs.push_back({a, b, c});
  bits_generator r(0xF3A);
  const mxcsr_scope scope(0x1F80u);  // the products below, in the default environment
  for (std::size_t i = 0; i < random_count; ++i) {
    const bool sparse = (i & 2) != 0;
    const float a = random_float(r, sparse), b = random_float(r, sparse);
    float c = random_float(r, sparse);
    const float product = a * b;
    if (i % 4 == 1) c = near_float(product, c, r.next());
    if (i % 4 == 3 && std::isfinite(product) && product != 0.0f) {
      const int exponent = std::ilogb(product);
      const float half_ulp = std::ldexp(1.0f, (exponent < -126 ? -126 : exponent) - 24);
      const float choices[] = {
          -product, half_ulp, -half_ulp, std::nextafter(half_ulp, 0.0f), std::nextafter(half_ulp, 1.0f), 3 * half_ulp};
      c = choices[r.next() % 6];
    }
    inputs.push_back({a, b, c});
    if (i % 16 == 0) inputs.push_back({a * 0x1p-80f, b * 0x1p-60f, c * 0x1p-140f});  // near the subnormals
  }
  const operation<float> fma = {"fma_nearest", 3,
                                [](float a, float b, float c) { return mixprec::detail::fma_nearest(a, b, c); },
                                [](float a, float b, float c) { return std::fma(a, b, c); }};
  check_operation(fma, inputs, directed_modes[0]);
}

// sqrt: specials, exact squares and their neighbours (roots just above and
// below a float), subnormals, random bit patterns of either sign.
TEST_CASE("exact_float: sqrt_nearest of float and double equals the hardware's in the default environment",
          "[exact_float]") {
  std::vector<input<float>> floats;
  std::vector<input<double>> doubles;
  for (float x : special_floats()) floats.push_back({x, 0.0f, 0.0f});
  for (double x : special_doubles()) doubles.push_back({x, 0.0, 0.0});
  for (std::uint32_t k = 1; k < 5000; ++k) {
    const float root = static_cast<float>(k) * 0x1p-12f;
    for (float x : around(root * root)) floats.push_back({x, 0.0f, 0.0f});
    for (float x : around(root * root * 0x1p-140f)) floats.push_back({x, 0.0f, 0.0f});
    floats.push_back({float_of(k), 0.0f, 0.0f});  // subnormals
    const double droot = static_cast<double>(k) * 0x1p-30 + 1.0;
    for (double x : {droot * droot, std::nextafter(droot * droot, 0.0), std::nextafter(droot * droot, 4.0)})
      doubles.push_back({x, 0.0, 0.0});
    doubles.push_back({double_of(k), 0.0, 0.0});
  }
  bits_generator r(0x5C27);
  for (std::size_t i = 0; i < random_count; ++i) {
    floats.push_back({random_float(r, (i & 1) != 0), 0.0f, 0.0f});
    if (i % 2 == 0) doubles.push_back({random_double(r, (i & 2) != 0), 0.0, 0.0});
  }
  check_operation<float>({"sqrt_nearest", 1, [](float x, float, float) { return mixprec::detail::sqrt_nearest(x); },
                          [](float x, float, float) { return std::sqrt(x); }},
                         floats, directed_modes[1]);
  check_operation<double>({"sqrt_nearest", 1, [](double x, double, double) { return mixprec::detail::sqrt_nearest(x); },
                           [](double x, double, double) { return std::sqrt(x); }},
                          doubles, directed_modes[2]);
}

// ---- The bit tests --------------------------------------------------------------------

// One bit per float bit test (is_zero_exactly, is_positive_exactly,
// is_nonnegative_exactly, is_negative_exactly, is_finite_positive,
// is_finite_exactly) where it differs from the IEEE comparison.
unsigned float_test_differences(std::uint32_t b) {
  using namespace mixprec::detail;
  const float x = float_of(b);
  const unsigned ieee = (x == 0.0f ? 1u : 0u) | (x > 0.0f ? 2u : 0u) | (x >= 0.0f ? 4u : 0u) | (x < 0.0f ? 8u : 0u) |
                        (x > 0.0f && x <= FLT_MAX ? 16u : 0u) | (x >= -FLT_MAX && x <= FLT_MAX ? 32u : 0u);
  const unsigned bits = (is_zero_exactly(x) ? 1u : 0u) | (is_positive_exactly(x) ? 2u : 0u) |
                        (is_nonnegative_exactly(x) ? 4u : 0u) | (is_negative_exactly(x) ? 8u : 0u) |
                        (is_finite_positive(x) ? 16u : 0u) | (is_finite_exactly(x) ? 32u : 0u);
  return ieee ^ bits;
}
// Every 31st float (all 2^32 cost 20 s; 31 is odd, so the sweep reaches
// every residue of the low bits), and the edges: how many codes differ, and
// the first of them.
std::size_t float_tests_sweep(std::uint32_t& first) {
  std::size_t count = 0;
  for (std::uint64_t b = 0; b <= 0xFFFFFFFFull; b += 31)
    if (float_test_differences(static_cast<std::uint32_t>(b)) != 0 && count++ == 0)
      first = static_cast<std::uint32_t>(b);
  return count;
}

// Every float at a stride (odd, so every residue of the low bits is reached)
// and the edges, against IEEE comparisons; each double bit test on the
// doubles whose high word is that float's pattern (low word 0 and a pattern
// with low bits set, which turns inf into NaN), and the same for
// is_greater_exactly on pairs.
TEST_CASE("exact_float: the bit tests equal IEEE comparisons in the default environment", "[exact_float]") {
  const mxcsr_scope scope(0x1F80u);  // the default state
  using namespace mixprec::detail;
  std::size_t float_mismatches = 0, double_mismatches = 0, greater_mismatches = 0;
  std::uint32_t first_float = 0;
  std::uint64_t first_double = 0;
  const auto check_float = [&](std::uint32_t b) {
    if (float_test_differences(b) != 0 && float_mismatches++ == 0) first_float = b;
  };
  const auto check_double = [&](std::uint64_t b) {
    const double x = opaque(double_of(b));
    const bool ieee[] = {x == 0.0, x > 0.0 && x <= DBL_MAX, std::fabs(x) <= DBL_MAX};
    const bool bits[] = {is_zero_exactly(x), is_finite_positive(x), is_finite_exactly(x)};
    if (std::memcmp(ieee, bits, sizeof ieee) != 0 && double_mismatches++ == 0) first_double = b;
  };
  const std::vector<float> specials = special_floats();
  for (float x : specials) {
    check_float(bits_of(x));
    check_double(bits_of(static_cast<double>(x)));
  }
  for (double x : special_doubles()) check_double(bits_of(x));
  float_mismatches += float_tests_sweep(first_float);
  for (std::uint64_t b = 0; b <= 0xFFFFFFFFull; b += 997) {  // doubles: their high words at a stride
    check_double(b << 32);
    check_double((b << 32) | (b % 0xFFFFFFFBull) | 1u);
  }
  std::string first_greater;
  const auto check_greater = [&](float x, float y) {
    if ((opaque(x) > opaque(y)) != is_greater_exactly(x, y) && greater_mismatches++ == 0)
      first_greater = hex(x) + " > " + hex(y);
  };
  for (float x : specials)
    for (float y : specials) check_greater(x, y);
  bits_generator r(0x6EA7);
  for (std::size_t i = 0; i < random_count; ++i) {
    const float x = random_float(r, false);
    const std::uint64_t choice = r.next();
    const std::uint32_t y_bits = (choice & 1) != 0 ? bits_of(x) + static_cast<std::uint32_t>((choice >> 1) % 5) - 2u
                                                   : static_cast<std::uint32_t>(choice >> 32);
    check_greater(x, float_of(y_bits));
    check_greater(x, float_of(y_bits ^ 0x80000000u));
  }
  INFO("float bit tests: " << float_mismatches << " codes differ, the first 0x" << std::hex << first_float
                           << "; double: " << double_mismatches << ", the first 0x" << first_double);
  CHECK(float_mismatches == 0);
  CHECK(double_mismatches == 0);
  INFO("is_greater_exactly: " << greater_mismatches << " pairs differ, the first " << first_greater);
  CHECK(greater_mismatches == 0);
}

}  // namespace
