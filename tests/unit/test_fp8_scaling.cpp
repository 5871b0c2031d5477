// FP8 scaling recipes against TransformerEngine's delayed-scaling formula
// (transformer_engine/common/recipe/delayed_scaling.cu):
//   scale = (fp8_max · 2^-margin) / amax; amax = max of the history window
//   (or its newest entry); amax 0 or non-finite keeps the previous scale; an
//   infinite scale becomes FLT_MAX; power_of_two keeps the exponent bits.
// Expected values are worked out by hand from that formula.
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "mixprec/scaling/fp8_scaling.hpp"
#include "support/catch.hpp"

namespace {
using mixprec::amax_algo;
using mixprec::float8_e4m3;
using mixprec::float8_e5m2;
constexpr float infinity = std::numeric_limits<float>::infinity();
constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();

template <class T>
mixprec::delayed_scaling<T> recorded(mixprec::delayed_scaling_options o, std::initializer_list<float> amaxes) {
  mixprec::delayed_scaling<T> scaling(o);
  for (float a : amaxes) scaling.record(a);
  return scaling;
}
}  // namespace

TEST_CASE("delayed_scaling defaults are TransformerEngine's", "[fp8_scaling]") {
  const mixprec::delayed_scaling<float8_e4m3>::options o;
  CHECK(o.history_len == 1024);
  CHECK(o.algo == amax_algo::max);
  CHECK(o.margin == 0);
  CHECK_FALSE(o.power_of_two);
  mixprec::delayed_scaling<float8_e4m3> scaling;
  CHECK(scaling.scale() == 1.0f);
  CHECK(scaling.scale_inv() == 1.0f);
}

TEST_CASE("delayed scaling: history 1, 3, 2 with max gives 448/3", "[fp8_scaling]") {
  auto scaling = recorded<float8_e4m3>({}, {1.0f, 3.0f, 2.0f});
  const float scale = scaling.update();
  CHECK(scale == 448.0f / 3.0f);
  CHECK(scale == Approx(149.33333f));
  CHECK(scaling.scale() == scale);
  CHECK(scaling.scale_inv() == 1.0f / scale);
  CHECK(scaling.amax() == 3.0f);
}

TEST_CASE("delayed scaling: most_recent takes the newest amax", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.algo = amax_algo::most_recent;
  auto scaling = recorded<float8_e4m3>(o, {1.0f, 3.0f, 2.0f});
  CHECK(scaling.update() == 224.0f);
}

TEST_CASE("delayed scaling: margin 1 halves the scale", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.margin = 1;
  CHECK(recorded<float8_e4m3>(o, {1.0f, 3.0f, 2.0f}).update() == 224.0f / 3.0f);
  o.margin = 3;
  CHECK(recorded<float8_e4m3>(o, {2.0f}).update() == 28.0f);
}

TEST_CASE("delayed scaling: E5M2 uses its own max, 57344", "[fp8_scaling]") {
  CHECK(recorded<float8_e5m2>({}, {4.0f}).update() == 14336.0f);
  CHECK(recorded<mixprec::float8_e4m3fnuz>({}, {4.0f}).update() == 60.0f);
}

TEST_CASE("delayed scaling: the window slides over history_len entries", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.history_len = 3;
  mixprec::delayed_scaling<float8_e4m3> scaling(o);
  const float amaxes[] = {8.0f, 1.0f, 2.0f, 4.0f, 1.0f, 1.0f, 0.5f};
  // Window max after each record: 8 8 8 4 4 4 1.
  const float expected_amax[] = {8.0f, 8.0f, 8.0f, 4.0f, 4.0f, 4.0f, 1.0f};
  for (int i = 0; i < 7; ++i) {
    scaling.record(amaxes[i]);
    INFO("after record " << i + 1);
    CHECK(scaling.update() == 448.0f / expected_amax[i]);
  }
  CHECK(scaling.history() == std::vector<float>{1.0f, 1.0f, 0.5f});
}

TEST_CASE("delayed scaling: amax 0 or non-finite keeps the previous scale", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.algo = amax_algo::most_recent;
  mixprec::delayed_scaling<float8_e4m3> scaling(o);
  CHECK(scaling.update() == 1.0f);  // nothing recorded: amax 0
  scaling.record(0.0f);
  CHECK(scaling.update() == 1.0f);
  scaling.record(7.0f);
  CHECK(scaling.update() == 64.0f);
  scaling.record(0.0f);
  CHECK(scaling.update() == 64.0f);
  scaling.record(infinity);
  CHECK(scaling.update() == 64.0f);
  scaling.record(not_a_number);
  CHECK(scaling.update() == 64.0f);
  CHECK(scaling.scale_inv() == 1.0f / 64.0f);
}

TEST_CASE("delayed scaling with max: NaN entries are skipped, infinity holds the scale", "[fp8_scaling]") {
  // TE reduces the window with fmaxf from 0: NaN drops out, infinity wins.
  auto with_nan = recorded<float8_e4m3>({}, {2.0f, not_a_number, 1.0f});
  CHECK(with_nan.update() == 224.0f);
  auto with_inf = recorded<float8_e4m3>({}, {2.0f});
  with_inf.update();
  with_inf.record(infinity);
  with_inf.record(1.0f);
  CHECK(with_inf.update() == 224.0f);  // the window's amax is infinity: previous scale kept
}

TEST_CASE("delayed scaling: a tiny amax gives FLT_MAX, never infinity", "[fp8_scaling]") {
  auto scaling = recorded<float8_e4m3>({}, {std::numeric_limits<float>::denorm_min()});
  CHECK(scaling.update() == FLT_MAX);
  CHECK(std::isfinite(scaling.scale_inv()));
}

TEST_CASE("delayed scaling: power_of_two rounds the scale down to a power of two", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.power_of_two = true;
  CHECK(recorded<float8_e4m3>(o, {1.0f, 3.0f, 2.0f}).update() == 128.0f);  // 149.33 -> 128
  CHECK(recorded<float8_e4m3>(o, {3.5f}).update() == 128.0f);               // 448/3.5 = 128 exactly
  CHECK(recorded<float8_e4m3>(o, {std::numeric_limits<float>::denorm_min()}).update() == 0x1p127f);
  CHECK(mixprec::detail::floor_power_of_two(0x1.8p-140f) == 0x1p-140f);  // subnormal
  CHECK(mixprec::detail::floor_power_of_two(0x1p-149f) == 0x1p-149f);
}

TEST_CASE("current scaling: the scale of this amax alone; 0 or non-finite gives 1", "[fp8_scaling]") {
  CHECK(mixprec::current_scale<float8_e4m3>(2.0f) == 224.0f);
  CHECK(mixprec::current_scale<float8_e5m2>(2.0f) == 28672.0f);
  CHECK(mixprec::current_scale<float8_e4m3>(0.0f) == 1.0f);
  CHECK(mixprec::current_scale<float8_e4m3>(infinity) == 1.0f);
  CHECK(mixprec::current_scale<float8_e4m3>(not_a_number) == 1.0f);
  mixprec::current_scaling_options o;
  o.margin = 1;
  o.power_of_two = true;
  CHECK(mixprec::current_scale<float8_e4m3>(3.0f, o) == 64.0f);  // 224/3 = 74.7 -> 64
  mixprec::current_scaling<float8_e4m3> scaling;
  CHECK(scaling.update(7.0f) == 64.0f);
  CHECK(scaling.update(0.0f) == 1.0f);  // no memory of the previous step
  CHECK(scaling.scale_inv() == 1.0f);
}

TEST_CASE("the hybrid convention: E4M3 forward, E5M2 gradients", "[fp8_scaling]") {
  static_assert(std::is_same<mixprec::hybrid_fp8::forward_type, float8_e4m3>::value, "");
  static_assert(std::is_same<mixprec::hybrid_fp8::gradient_type, float8_e5m2>::value, "");
  static_assert(std::is_same<mixprec::e4m3_fp8::gradient_type, float8_e4m3>::value, "");
  mixprec::fp8_linear_scaling<> layer;  // hybrid, delayed scaling, default options
  static_assert(std::is_same<decltype(layer.weight), mixprec::delayed_scaling<float8_e4m3>>::value, "");
  static_assert(std::is_same<decltype(layer.grad_output), mixprec::delayed_scaling<float8_e5m2>>::value, "");
  layer.input.record(2.0f);
  layer.weight.record(0.5f);
  layer.grad_output.record(2.0f);
  CHECK(layer.input.update() == 224.0f);
  CHECK(layer.weight.update() == 896.0f);
  CHECK(layer.grad_output.update() == 28672.0f);
  mixprec::delayed_scaling_options o;
  o.history_len = 16;
  mixprec::fp8_linear_scaling<mixprec::hybrid_fp8> custom(o);
  CHECK(custom.grad_output.get_options().history_len == 16);
  mixprec::fp8_linear_scaling<mixprec::hybrid_fp8, mixprec::current_scaling> current;
  CHECK(current.grad_output.update(4.0f) == 14336.0f);
}

TEST_CASE("delayed scaling: save/load round trip continues bit for bit", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.history_len = 4;
  mixprec::delayed_scaling<float8_e5m2> original(o);
  for (float a : {3.0f, 7.5f, 0.25f, 1.0f, 2.0f, 6.0f}) {
    original.record(a);
    original.update();
  }
  mixprec::delayed_scaling<float8_e5m2> restored;  // default options: load replaces them
  restored.load(original.save());
  CHECK(restored.get_options().history_len == 4);
  CHECK(restored.history() == original.history());
  for (float a : {0.5f, 0.0f, 9.0f, 0.125f, 0.125f, 0.125f, 0.125f}) {
    original.record(a);
    restored.record(a);
    REQUIRE(original.update() == restored.update());
    REQUIRE(original.scale_inv() == restored.scale_inv());
  }
  auto corrupt = [&](auto change) {
    mixprec::delayed_scaling<float8_e5m2>::state s = original.save();
    change(s);
    return s;
  };
  using state = mixprec::delayed_scaling_state;
  MIXPREC_REQUIRE_ERROR(restored.load(corrupt([](state& s) { s.history.assign(5, 1.0f); })), "holds 5 entries");
  MIXPREC_REQUIRE_ERROR(restored.load(corrupt([](state& s) { s.history[1] = -2.0f; })), "history entry 1 = -2");
  MIXPREC_REQUIRE_ERROR(restored.load(corrupt([](state& s) { s.scale = 0.0f; })), "scale = 0");
  MIXPREC_REQUIRE_ERROR(restored.load(corrupt([](state& s) { s.scale_inv = 3.0f; })), "scale_inv = 3");
  CHECK(restored.scale() == original.scale());  // a rejected load changes nothing
}

TEST_CASE("recipe options and inputs are rejected with messages", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.history_len = 0;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "history_len = 0");
  o = {};
  o.margin = -1;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "margin = -1");
  o.margin = 25;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "margin = 25");
  o = {};
  o.algo = static_cast<amax_algo>(7);
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "algo = 7");
  mixprec::delayed_scaling<float8_e4m3> scaling;
  MIXPREC_REQUIRE_ERROR(scaling.record(-1.0f), "amax = -1");
  mixprec::current_scaling_options c;
  c.margin = 30;
  MIXPREC_REQUIRE_ERROR(mixprec::current_scaling<float8_e4m3>(c), "margin = 30");
  MIXPREC_REQUIRE_ERROR(mixprec::current_scaling<float8_e4m3>().update(-2.0f), "amax = -2");
}

TEST_CASE("margins are format-aware: max(T) · 2^-margin stays at or above T's smallest normal", "[fp8_scaling][issue12]") {
  // E4M3: 448 · 2^-14 = 0.0273 >= 2^-6, 448 · 2^-15 = 0.0137 < 2^-6.
  // E5M2: 57344 · 2^-29 = 1.07e-4 >= 2^-14, 57344 · 2^-30 < 2^-14.
  // Before: E4M3 with margin 19..24 was accepted and quantised everything to 0.
  mixprec::delayed_scaling_options o;
  o.margin = 14;
  CHECK_NOTHROW(mixprec::delayed_scaling<float8_e4m3>(o));
  o.margin = 15;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "margin = 15 must lie in [0, 14]");
  o.margin = 19;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "margin = 19");
  o.margin = 29;
  CHECK_NOTHROW(mixprec::delayed_scaling<float8_e5m2>(o));
  o.margin = 30;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e5m2>(o), "margin = 30 must lie in [0, 29]");
  mixprec::current_scaling_options c;
  c.margin = 15;
  MIXPREC_REQUIRE_ERROR(mixprec::current_scaling<float8_e4m3>(c), "margin = 15 must lie in [0, 14]");
  MIXPREC_REQUIRE_ERROR(mixprec::current_scale<float8_e4m3>(1.0f, c), "margin = 15");
  // fp8_linear_scaling shares one option set: the E5M2 gradient recipe takes margins E4M3 cannot.
  o.margin = 20;
  MIXPREC_REQUIRE_ERROR((mixprec::fp8_linear_scaling<mixprec::hybrid_fp8>(o)), "margin = 20");
}

TEST_CASE("a huge amax gives scale FLT_MIN, never a subnormal with an infinite scale_inv", "[fp8_scaling][issue12]") {
  // E5M2, margin 29, amax 1e36: 57344 · 2^-29 / 1e36 = 1.07e-40 is subnormal
  // (its reciprocal overflows float: dequantising gave inf · 0 = NaN).
  const double exact = std::ldexp(57344.0, -29) / 1e36;
  REQUIRE(exact < static_cast<double>(FLT_MIN));
  mixprec::delayed_scaling_options o;
  o.margin = 29;
  auto scaling = recorded<float8_e5m2>(o, {1e36f});
  CHECK(scaling.update() == FLT_MIN);
  CHECK(scaling.scale_inv() == std::ldexp(1.0f, 126));
  CHECK(std::isfinite(scaling.scale_inv()));
  mixprec::current_scaling_options c;
  c.margin = 29;
  CHECK(mixprec::current_scale<float8_e5m2>(FLT_MAX, c) == FLT_MIN);
  c.power_of_two = true;
  CHECK(mixprec::current_scale<float8_e5m2>(FLT_MAX, c) == FLT_MIN);  // FLT_MIN is a power of two
}

TEST_CASE("load rejects scale_inv = inf, a negative amax and an amax no update could report", "[fp8_scaling][issue12]") {
  mixprec::delayed_scaling<float8_e4m3> scaling = recorded<float8_e4m3>({}, {2.0f, 3.0f});
  scaling.update();
  const mixprec::delayed_scaling_state good = scaling.save();
  auto with = [&](auto change) {
    mixprec::delayed_scaling_state s = good;
    change(s);
    return s;
  };
  using state = mixprec::delayed_scaling_state;
  MIXPREC_REQUIRE_ERROR(scaling.load(with([](state& s) { s.scale = 1e-40f; s.scale_inv = 1.0f / s.scale; })),
                        "must lie in [FLT_MIN, FLT_MAX]");
  MIXPREC_REQUIRE_ERROR(scaling.load(with([](state& s) { s.amax = -1.0f; })), "amax = -1 is negative");
  MIXPREC_REQUIRE_ERROR(scaling.load(with([](state& s) { s.amax = infinity; })), "amax = inf is not finite");
  CHECK(scaling.scale() == good.scale);
  // An infinite entry makes update() report amax = inf: that state loads.
  mixprec::delayed_scaling<float8_e4m3> with_inf = recorded<float8_e4m3>({}, {2.0f, infinity});
  with_inf.update();
  REQUIRE(with_inf.amax() == infinity);
  CHECK_NOTHROW(scaling.load(with_inf.save()));
  CHECK(scaling.amax() == infinity);
}

TEST_CASE("history_len is bounded before anything is allocated", "[fp8_scaling][issue12]") {
  // Before: SIZE_MAX gave std::length_error about std::vector; 2^32 in a
  // loaded state allocated 16 GiB.
  mixprec::delayed_scaling_options o;
  o.history_len = SIZE_MAX;
  MIXPREC_REQUIRE_ERROR(mixprec::delayed_scaling<float8_e4m3>(o), "history_len = 18446744073709551615 must lie in [1, 1048576]");
  o.history_len = mixprec::max_history_len;
  CHECK_NOTHROW(mixprec::delayed_scaling<float8_e4m3>(o));
  mixprec::delayed_scaling<float8_e4m3> scaling;
  mixprec::delayed_scaling_state s = scaling.save();
  s.options.history_len = std::size_t{1} << 32;
  MIXPREC_REQUIRE_ERROR(scaling.load(s), "history_len = 4294967296");
  s.options.history_len = SIZE_MAX;
  MIXPREC_REQUIRE_ERROR(scaling.load(s), "history_len = 18446744073709551615");
  CHECK(scaling.get_options().history_len == 1024);
}

TEST_CASE("delayed scaling: load rejects a scale that is no power of two when power_of_two is set", "[fp8_scaling]") {
  mixprec::delayed_scaling_options o;
  o.power_of_two = true;
  mixprec::delayed_scaling<float8_e4m3> recipe(o);
  recipe.record(3.5f);
  recipe.update();  // 448 / 3.5 = 128, a power of two
  mixprec::delayed_scaling_state s = recipe.save();
  mixprec::delayed_scaling<float8_e4m3> restored(o);
  CHECK_NOTHROW(restored.load(s));
  s.scale = 3.0f;
  s.scale_inv = 1.0f / 3.0f;  // consistent with the scale: only power_of_two is broken
  MIXPREC_REQUIRE_ERROR(restored.load(s), "scale = 3 is not a power of two, but power_of_two is set");
  CHECK(restored.scale() == 128.0f);  // a rejected load changes nothing
  s.options.power_of_two = false;     // the same scale without the rule is a state an update can reach
  CHECK_NOTHROW(restored.load(s));
}
