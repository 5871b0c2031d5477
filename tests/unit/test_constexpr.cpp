// The conversion engine is constexpr (issue 2 §2): conversions, decoding,
// numeric_limits and stochastic rounding evaluated in static_assert. If this
// file compiles, the checks passed; the TEST_CASE at the end registers the
// file with the test runner and repeats a few checks at run time.
#include <cstdint>
#include <limits>

#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"

namespace {

using mixprec::convert;
using mixprec::rounding;
using mixprec::saturation;
using mixprec::bfloat16;
using mixprec::float16;
using mixprec::float8_e4m3;
using mixprec::float8_e4m3fnuz;
using mixprec::float8_e5m2;
using mixprec::float8_e5m2fnuz;
using mixprec::float4_e2m1;
using mixprec::float6_e2m3;
using mixprec::float6_e3m2;
using mixprec::float8_e8m0;

// Float bits at compile time.
constexpr std::uint32_t bits_of(float x) { return mixprec::detail::bit_cast<std::uint32_t>(x); }
constexpr float nan_float() { return mixprec::detail::bit_cast<float>(std::uint32_t{0x7FC00000u}); }

template <class T>
constexpr unsigned code(float x, rounding r = rounding::nearest_even, saturation s = T::default_saturation) {
  return convert<T>(x, r, s).bits();
}
template <class T>
constexpr unsigned code(double x, rounding r = rounding::nearest_even, saturation s = T::default_saturation) {
  return convert<T>(x, r, s).bits();
}

#if MIXPREC_HAS_BUILTIN_BIT_CAST

// ---- E4M3: max 448, the tie at 464, overflow, subnormals, NaN, -0 ----------
static_assert(code<float8_e4m3>(448.0f) == 0x7E, "max");
static_assert(code<float8_e4m3>(464.0f, rounding::nearest_even, saturation::none) == 0x7E, "464 is a tie: even 448");
static_assert(code<float8_e4m3>(464.5f, rounding::nearest_even, saturation::none) == 0x7F, "past the tie: NaN");
static_assert(code<float8_e4m3>(-464.5f, rounding::nearest_even, saturation::none) == 0xFF, "NaN keeps the sign");
static_assert(code<float8_e4m3>(464.5f) == 0x7E, "default saturation::finite gives max");
static_assert(code<float8_e4m3>(1e30f, rounding::toward_zero, saturation::none) == 0x7E, "toward_zero never passes max");
static_assert(code<float8_e4m3>(449.0f, rounding::upward, saturation::none) == 0x7F, "upward overflows");
static_assert(code<float8_e4m3>(-449.0f, rounding::upward, saturation::none) == 0xFE, "upward on the negative side stops at -max");
static_assert(code<float8_e4m3>(0x1p-9f) == 0x01, "denorm_min");
static_assert(code<float8_e4m3>(0x1p-10f) == 0x00, "half of denorm_min is a tie: even zero");
static_assert(code<float8_e4m3>(0x1.8p-10f) == 0x01, "three quarters of denorm_min");
static_assert(code<float8_e4m3>(0x1.8p-9f) == 0x02, "1.5 denorm_min is a tie: even 2");
static_assert(code<float8_e4m3>(0x1.Cp-7f) == 0x07, "largest subnormal");
static_assert(code<float8_e4m3>(-0.0f) == 0x80, "-0 keeps its sign");
static_assert(code<float8_e4m3>(-1e-30f) == 0x80, "underflow keeps its sign");
static_assert(code<float8_e4m3>(nan_float()) == 0x7F, "NaN");
static_assert(code<float8_e4m3>(-431.99999999999994) == 0xFD, "a double is rounded once");
static_assert(code<float8_e4m3>(static_cast<float>(-431.99999999999994)) == 0xFE, "through float it would be 0xFE");
static_assert(bits_of(static_cast<float>(float8_e4m3::from_bits(0x7E))) == bits_of(448.0f), "decode max");
static_assert(static_cast<double>(float8_e4m3::from_bits(0x01)) == 0x1p-9, "decode denorm_min to double");
static_assert(float8_e4m3(2.5f).bits() == 0x42, "the float constructor");
static_assert(float8_e4m3(300).bits() == 0x79, "the integer constructor: 300 is nearer 288 than 320");
static_assert(float8_e4m3(304).bits() == 0x7A, "304 is a tie between 288 and 320: even 320");
static_assert(bits_of(static_cast<float>(std::numeric_limits<float8_e4m3>::max())) == bits_of(448.0f), "limits max");
static_assert(mixprec::convert_stochastic<float8_e4m3>(449.0f, 0xFFFFFFFFu, saturation::none).bits() == 0x7F,
              "stochastic rounding overflows to NaN under none");
static_assert(mixprec::convert_stochastic<float8_e4m3>(449.0f, 0xF8000000u, saturation::none).bits() == 0x7F,
              "fraction 1/32 = 2^27 / 2^32: random 2^32 - 2^27 reaches 2^32 and rounds away");
static_assert(mixprec::convert_stochastic<float8_e4m3>(449.0f, 0xF7FFFFFFu, saturation::none).bits() == 0x7E,
              "one less stays toward zero");

// ---- E5M2 ----------------------------------------------------------------
static_assert(code<float8_e5m2>(57344.0f) == 0x7B, "max");
static_assert(code<float8_e5m2>(61440.0f, rounding::nearest_even, saturation::none) == 0x7C, "tie above max: odd max, overflow to inf");
static_assert(code<float8_e5m2>(61439.0f, rounding::nearest_even, saturation::none) == 0x7B, "below the tie");
static_assert(code<float8_e5m2>(61440.0f) == 0x7B, "default saturation::finite");
static_assert(code<float8_e5m2>(0x1p-16f) == 0x01, "denorm_min");
static_assert(code<float8_e5m2>(-0x1p-17f) == 0x80, "tie with zero: -0");
static_assert(code<float8_e5m2>(nan_float()) == 0x7F, "NaN");
static_assert(code<float8_e5m2>(-std::numeric_limits<float>::infinity(), rounding::nearest_even, saturation::none) == 0xFC, "-inf");

// ---- FP16 ----------------------------------------------------------------
static_assert(code<float16>(65504.0f) == 0x7BFF, "max");
static_assert(code<float16>(65520.0f) == 0x7C00, "tie above max overflows to inf (default none)");
static_assert(code<float16>(65520.0f, rounding::toward_zero) == 0x7BFF, "toward_zero stops at max");
static_assert(code<float16>(65520.0f, rounding::nearest_even, saturation::finite) == 0x7BFF, "finite saturates");
static_assert(code<float16>(0x1p-24f) == 0x0001, "denorm_min");
static_assert(code<float16>(0x1p-25f) == 0x0000, "tie with zero");
static_assert(code<float16>(-0x1.000002p-25f) == 0x8001, "just past the tie");
static_assert(code<float16>(1.0f + 0x1p-11f) == 0x3C00, "tie between 1 and 1 + 2^-10: even 1");
static_assert(code<float16>(1.0f + 0x1.8p-10f) == 0x3C02, "tie between 1 + 2^-10 and 1 + 2^-9: even");
static_assert(code<float16>(0.1) == 0x2E66, "double 0.1");
static_assert(bits_of(static_cast<float>(float16::from_bits(0x7C01))) == 0x7FC02000u, "sNaN decodes quiet, payload kept");

// ---- BF16 ----------------------------------------------------------------
static_assert(code<bfloat16>(1.0f) == 0x3F80, "one");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x3F808000u})) == 0x3F80, "tie: even");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x3F818000u})) == 0x3F82, "tie: even up");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x7FFFFFFFu})) == 0x7FFF,
              "NaN with all bits set stays NaN (no bias-and-shift -0)");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x7F7FFFFFu})) == 0x7F80, "float max overflows");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x7F7FFFFFu}), rounding::toward_zero) == 0x7F7F,
              "toward_zero stops at max");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x00000001u})) == 0x0000, "float denorm_min underflows");
static_assert(code<bfloat16>(mixprec::detail::bit_cast<float>(std::uint32_t{0x80000001u}), rounding::downward) == 0x8001,
              "downward: -float denorm_min gives -bf16 denorm_min");

// ---- fnuz ------------------------------------------------------------------
static_assert(code<float8_e4m3fnuz>(240.0f) == 0x7F, "max");
static_assert(code<float8_e4m3fnuz>(248.0f, rounding::nearest_even, saturation::none) == 0x80, "tie above odd max: NaN");
static_assert(code<float8_e4m3fnuz>(-0.0f) == 0x00, "no -0");
static_assert(code<float8_e4m3fnuz>(-1e-30f) == 0x00, "negative underflow is +0");
static_assert(code<float8_e4m3fnuz>(nan_float()) == 0x80, "the one NaN");
static_assert(code<float8_e4m3fnuz>(0x1p-10f) == 0x01, "denorm_min");
static_assert(code<float8_e5m2fnuz>(57344.0f) == 0x7F, "max");
static_assert(code<float8_e5m2fnuz>(-1e9f, rounding::nearest_even, saturation::none) == 0x80, "overflow: the one NaN");
static_assert(code<float8_e5m2fnuz>(-1e9f) == 0xFF, "default finite: -max");
static_assert(code<float8_e5m2fnuz>(1.0) == 0x40, "one (bias 16)");
static_assert(bits_of(static_cast<float>(float8_e5m2fnuz::from_bits(0x80))) == 0x7FC00000u, "NaN decodes to +qNaN");
static_assert((-float8_e4m3fnuz::from_bits(0x00)).bits() == 0x00, "-(+0) is +0");

// ---- across formats and the numeric operations -----------------------------
static_assert(convert<float8_e4m3>(float16::from_bits(0x5F00)).bits() == 0x7E, "float16 448 to E4M3");
static_assert(mixprec::isnan(float8_e4m3::from_bits(0x7F)) && !mixprec::isnan(float8_e4m3::from_bits(0x7E)), "isnan");
static_assert(mixprec::isinf(float16::from_bits(0xFC00)) && mixprec::signbit(float16::from_bits(0xFC00)), "isinf, signbit");
static_assert((float8_e4m3(448.0f) + float8_e4m3(448.0f)).bits() == 0x7E, "448 + 448 saturates");
static_assert((float16(65504.0f) + float16(65504.0f)).bits() == 0x7C00, "65504 + 65504 is inf");
static_assert(float8_e4m3::from_bits(0x00) == float8_e4m3::from_bits(0x80), "+0 == -0");
static_assert(!(float8_e4m3::from_bits(0x7F) == float8_e4m3::from_bits(0x7F)), "NaN != NaN");

// ---- The microscaling formats (issue 13 §1) ---------------------------------
static_assert(code<float4_e2m1>(6.0f) == 0x7 && code<float4_e2m1>(-0.5f) == 0x9, "FP4 max, subnormal");
static_assert(code<float4_e2m1>(5.0f) == 0x6, "FP4 tie between 4 and 6: even 4");
static_assert(code<float4_e2m1>(1e30f, rounding::nearest_even, saturation::none) == 0x7, "FP4 saturates under none");
static_assert(code<float4_e2m1>(nan_float(), rounding::toward_zero, saturation::none) == 0x7, "FP4 NaN is +max");
static_assert(code<float6_e2m3>(7.25f) == 0x1E && code<float6_e2m3>(0.125) == 0x01, "E2M3 tie, subnormal");
static_assert(code<float6_e3m2>(26.0f) == 0x1E && code<float6_e3m2>(-28.0) == 0x3F, "E3M2 tie, -max");
static_assert(code<float8_e8m0>(0.0f) == 0x00 && code<float8_e8m0>(-1.0f) == 0x7F, "E8M0: no zero, |x|");
static_assert(code<float8_e8m0>(3.0f) == 0x80 && code<float8_e8m0>(1.5) == 0x80, "E8M0 ties to the even code");
static_assert(code<float8_e8m0>(3.0f, rounding::upward) == 0x81, "E8M0 upward (cudaRoundPosInf)");
static_assert(code<float8_e8m0>(0x1.fffffep127f, rounding::upward, saturation::none) == 0xFF, "E8M0 overflow: NaN");
static_assert(code<float8_e8m0>(nan_float()) == 0xFF, "E8M0 NaN");
static_assert(bits_of(static_cast<float>(float8_e8m0::from_bits(0x00))) == 0x00400000u, "0x00 is 2^-127");
static_assert(bits_of(static_cast<float>(float4_e2m1::from_bits(0xF))) == bits_of(-6.0f), "FP4 decode");
static_assert(mixprec::convert_stochastic<float8_e8m0>(3.0f, 0x80000000u).bits() == 0x81, "E8M0 stochastic");
static_assert(mixprec::convert_stochastic<float4_e2m1>(5.0f, 0x7FFFFFFFu).bits() == 0x6, "FP4 stochastic");
static_assert(mixprec::float4_e2m1x2(float4_e2m1(1.0f), float4_e2m1(-6.0f)).bits() == 0xF2, "element 0 low");

#endif  // MIXPREC_HAS_BUILTIN_BIT_CAST

// Integer paths need no bit cast: constexpr with every compiler.
static_assert(bfloat16(257).bits() == 0x4380, "257 is a tie between 256 and 258: even 256");
static_assert(bfloat16(259).bits() == 0x4382, "259 is a tie between 258 and 260: even 260");
static_assert(float8_e4m3(-1000).bits() == 0xFE, "saturates to -max");
static_assert(float16(70000).bits() == 0x7C00, "overflows to inf");
static_assert(float16::from_bits(0x3C00).bits() == 0x3C00, "from_bits");
static_assert(std::numeric_limits<float8_e4m3>::max().bits() == 0x7E, "numeric_limits is constexpr");
static_assert(std::numeric_limits<float16>::infinity().bits() == 0x7C00, "infinity() where it exists");
static_assert(float4_e2m1(-7).bits() == 0xF && float8_e8m0(-1024).bits() == 0x89, "integer paths of FP4 and E8M0");
static_assert(std::numeric_limits<float8_e8m0>::min().bits() == 0x00 && std::numeric_limits<float8_e8m0>::max().bits() == 0xFE,
              "E8M0 limits");
static_assert(std::numeric_limits<float4_e2m1>::epsilon().bits() == 0x1 && !std::numeric_limits<float8_e8m0>::is_signed,
              "FP4 epsilon 0.5; E8M0 unsigned");
static_assert(float6_e3m2::from_bits(0xFF).bits() == 0x3F, "from_bits keeps the 6 code bits");
static_assert(mixprec::stochastic_rounding_bits(0, 0, 0) == mixprec::stochastic_rounding_bits(0, 0, 0), "constexpr random bits");

}  // namespace

TEST_CASE("constexpr conversions: the static_asserts above compiled, and agree at run time", "[constexpr]") {
#if MIXPREC_HAS_BUILTIN_BIT_CAST
  constexpr unsigned tie = code<float8_e4m3>(464.0f, rounding::nearest_even, saturation::none);
  constexpr unsigned once = code<float8_e4m3>(-431.99999999999994);
  volatile float runtime_tie = 464.0f;
  volatile double runtime_once = -431.99999999999994;
  CHECK(tie == code<float8_e4m3>(runtime_tie, rounding::nearest_even, saturation::none));
  CHECK(once == code<float8_e4m3>(runtime_once));
  CHECK(tie == 0x7E);
  CHECK(once == 0xFD);
  constexpr unsigned e8m0_tie = code<float8_e8m0>(6.0f);
  volatile float runtime_six = 6.0f;
  CHECK(e8m0_tie == code<float8_e8m0>(static_cast<float>(runtime_six)));
  CHECK(e8m0_tie == 0x82);
  constexpr unsigned fp4_saturated = code<float4_e2m1>(-100.0, rounding::upward, saturation::none);
  volatile double runtime_hundred = -100.0;
  CHECK(fp4_saturated == code<float4_e2m1>(static_cast<double>(runtime_hundred), rounding::upward, saturation::none));
  CHECK(fp4_saturated == 0xF);
#else
  WARN("this compiler has no constexpr bit cast: only the integer-path static_asserts were evaluated");
#endif
  constexpr unsigned integer = bfloat16(257).bits();
  volatile int runtime_integer = 257;
  CHECK(integer == bfloat16(runtime_integer).bits());
}
