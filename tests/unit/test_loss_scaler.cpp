// Loss scaling: trajectories from the anchors' published formulas.
//   - PyTorch GradScaler (torch/amp/grad_scaler.py, _amp_update_scale_): on inf
//     scale *= backoff and the tracker resets; after growth_interval clean
//     steps in a row scale *= growth.
//   - Megatron-LM DynamicGradScaler: hysteresis overflows before backing off,
//     refilled when the scale grows.
// The expected values below are computed from those formulas by hand, not by
// the code under test.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/gradient_check.hpp"
#include "support/catch.hpp"

namespace {

using mixprec::dynamic_loss_scaler;

void clean_steps(dynamic_loss_scaler& scaler, int count) {
  for (int i = 0; i < count; ++i) scaler.update(false);
}

}  // namespace

TEST_CASE("dynamic_loss_scaler defaults are PyTorch GradScaler's", "[loss_scaler]") {
  const dynamic_loss_scaler::options o;
  CHECK(o.init_scale == 65536.0f);
  CHECK(o.growth_factor == 2.0);
  CHECK(o.backoff_factor == 0.5);
  CHECK(o.growth_interval == 2000);
  CHECK(o.hysteresis == 1);
  CHECK(o.min_scale == 1.0f);
  CHECK(o.max_scale == 16777216.0f);
  static_assert(std::is_aggregate<dynamic_loss_scaler::options>::value, "options is a plain aggregate");
  static_assert(std::is_trivially_copyable<dynamic_loss_scaler::state>::value, "state is a plain struct");
  dynamic_loss_scaler scaler;
  CHECK(scaler.scale() == 65536.0f);
  CHECK(scaler.inverse_scale() == 1.0f / 65536.0f);
}

TEST_CASE("GradScaler trajectory: an overflow halves the scale", "[loss_scaler]") {
  dynamic_loss_scaler scaler;
  scaler.update(true);
  CHECK(scaler.scale() == 32768.0f);
  CHECK(scaler.skipped_steps() == 1);
  CHECK(scaler.steps() == 1);
}

TEST_CASE("GradScaler trajectory: 2000 clean steps double the scale, 4000 quadruple it", "[loss_scaler]") {
  dynamic_loss_scaler scaler;
  clean_steps(scaler, 1999);
  CHECK(scaler.scale() == 65536.0f);
  CHECK(scaler.growth_tracker() == 1999);
  clean_steps(scaler, 1);
  CHECK(scaler.scale() == 131072.0f);
  CHECK(scaler.growth_tracker() == 0);
  clean_steps(scaler, 2000);
  CHECK(scaler.scale() == 262144.0f);
  CHECK(scaler.skipped_steps() == 0);
}

TEST_CASE("GradScaler trajectory: an overflow resets the growth counter", "[loss_scaler]") {
  // 1999 clean + inf + 2000 clean: 65536 -> 32768 -> 65536.
  dynamic_loss_scaler scaler;
  clean_steps(scaler, 1999);
  scaler.update(true);
  CHECK(scaler.scale() == 32768.0f);
  CHECK(scaler.growth_tracker() == 0);
  clean_steps(scaler, 1999);
  CHECK(scaler.scale() == 32768.0f);
  clean_steps(scaler, 1);
  CHECK(scaler.scale() == 65536.0f);
  CHECK(scaler.steps() == 4000);
  CHECK(scaler.skipped_steps() == 1);
}

TEST_CASE("GradScaler trajectory: a mixed sequence with custom factors", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.init_scale = 1024.0f;
  o.growth_factor = 4.0;
  o.backoff_factor = 0.25;
  o.growth_interval = 3;
  dynamic_loss_scaler scaler(o);
  // Hand-computed: c c c -> 4096; i -> 1024; c c i -> 256; c c c -> 1024; i i -> 64.
  const char* sequence = "ccc" "i" "cci" "ccc" "ii";
  const float expected[] = {1024, 1024, 4096, 1024, 1024, 1024, 256, 256, 256, 1024, 256, 64};
  for (int i = 0; sequence[i] != '\0'; ++i) {
    scaler.update(sequence[i] == 'i');
    INFO("after step " << i + 1);
    CHECK(scaler.scale() == expected[i]);
  }
  CHECK(scaler.skipped_steps() == 4);
}

TEST_CASE("Megatron hysteresis: the scale backs off once the hysteresis is used up", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.hysteresis = 2;
  o.growth_interval = 4;
  dynamic_loss_scaler scaler(o);
  scaler.update(true);  // hysteresis 2 -> 1: no backoff
  CHECK(scaler.scale() == 65536.0f);
  CHECK(scaler.hysteresis_left() == 1);
  CHECK(scaler.growth_tracker() == 0);
  scaler.update(false);
  scaler.update(true);  // 1 -> 0: back off
  CHECK(scaler.scale() == 32768.0f);
  scaler.update(true);  // used up: backs off on every further overflow
  CHECK(scaler.scale() == 16384.0f);
  CHECK(scaler.hysteresis_left() == 0);
  clean_steps(scaler, 3);
  CHECK(scaler.scale() == 16384.0f);
  CHECK(scaler.hysteresis_left() == 0);  // clean steps alone do not refill it
  scaler.update(false);  // the 4th clean step: grows, and the hysteresis refills
  CHECK(scaler.scale() == 32768.0f);
  CHECK(scaler.hysteresis_left() == 2);
  scaler.update(true);  // tolerated again
  CHECK(scaler.scale() == 32768.0f);
  CHECK(scaler.skipped_steps() == 4);
}

TEST_CASE("Megatron hysteresis: an overflow resets the growth counter even when tolerated", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.hysteresis = 3;
  o.growth_interval = 2;
  dynamic_loss_scaler scaler(o);
  scaler.update(false);
  scaler.update(true);
  scaler.update(false);
  CHECK(scaler.scale() == 65536.0f);  // the counter restarted after the overflow
  scaler.update(false);
  CHECK(scaler.scale() == 131072.0f);
}

TEST_CASE("hysteresis = 1 is exactly GradScaler on a long pseudo-random sequence", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.growth_interval = 7;
  dynamic_loss_scaler scaler(o);
  // GradScaler's update written out, in double (exact for these powers of two).
  // Overflows come from a scale above a noisy ceiling near 2^20 plus random
  // spikes (1 in 16), so the trajectory goes up and down (128 .. 2^20) and
  // stays inside [min_scale, max_scale], where the two rules must agree.
  double scale = 65536.0;
  long tracker = 0;
  unsigned state = 12345u;
  int overflows = 0;
  for (int step = 0; step < 20000; ++step) {
    state = state * 1664525u + 1013904223u;
    const bool found_inf = (state >> 28) == 0 || scale * (1.0 + (state & 0xFFFFu) / 65536.0) > 1048576.0;
    overflows += found_inf ? 1 : 0;
    if (found_inf) {
      scale *= 0.5;
      tracker = 0;
    } else if (++tracker == 7) {
      scale *= 2.0;
      tracker = 0;
    }
    scaler.update(found_inf);
    REQUIRE(static_cast<double>(scale) >= static_cast<double>(o.min_scale));
    REQUIRE(static_cast<double>(scale) <= static_cast<double>(o.max_scale));
    REQUIRE(static_cast<double>(scaler.scale()) == scale);
  }
  CHECK(overflows > 1000);
  CHECK(scaler.skipped_steps() == overflows);
}

TEST_CASE("bounds: 166 overflows in a row never reach 0", "[loss_scaler]") {
  // Plain GradScaler reaches 2^-149 after 165 halvings from 2^16 and 0 after 166.
  SECTION("default min_scale 1") {
    dynamic_loss_scaler scaler;
    for (int i = 0; i < 166; ++i) scaler.update(true);
    CHECK(scaler.scale() == 1.0f);
    CHECK(scaler.skipped_steps() == 166);
    CHECK(scaler.overflows_at_min_scale() == 150);  // 16 halvings reach 1; the other 150 are counted
  }
  SECTION("the smallest allowed min_scale") {
    dynamic_loss_scaler::options o;
    o.min_scale = std::numeric_limits<float>::min();  // 2^-126
    dynamic_loss_scaler scaler(o);
    for (int i = 0; i < 166; ++i) {
      scaler.update(true);
      REQUIRE(scaler.scale() > 0.0f);
      REQUIRE(std::isfinite(scaler.inverse_scale()));
    }
    CHECK(scaler.scale() == std::numeric_limits<float>::min());
    CHECK(scaler.overflows_at_min_scale() == 166 - 142);
  }
}

TEST_CASE("bounds: growth stops at max_scale and never reaches inf", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.growth_interval = 1;
  o.max_scale = 3.0e38f;
  o.init_scale = 1.0f;
  dynamic_loss_scaler scaler(o);
  for (int i = 0; i < 300; ++i) scaler.update(false);
  CHECK(scaler.scale() == 3.0e38f);
  scaler.update(true);
  CHECK(scaler.scale() == 1.5e38f);
  SECTION("a max_scale off the growth grid is reached exactly") {
    dynamic_loss_scaler::options p;
    p.growth_interval = 1;
    p.max_scale = 100000.0f;
    dynamic_loss_scaler clamped(p);
    clamped.update(false);
    CHECK(clamped.scale() == 100000.0f);
  }
}

TEST_CASE("a restored growth counter past the interval still grows (>=, not ==)", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.growth_interval = 2000;
  dynamic_loss_scaler scaler(o);
  dynamic_loss_scaler::state s = scaler.save();
  s.growth_tracker = 2500;  // e.g. a checkpoint written with a longer interval
  s.options.growth_interval = 100;
  scaler.load(s);
  scaler.update(false);
  CHECK(scaler.scale() == 131072.0f);
  CHECK(scaler.growth_tracker() == 0);
}

TEST_CASE("save/load round trip continues bit for bit", "[loss_scaler]") {
  dynamic_loss_scaler::options o;
  o.hysteresis = 2;
  o.growth_interval = 5;
  dynamic_loss_scaler original(o);
  const char* first = "ccicciiicccccccc";
  for (int i = 0; first[i] != '\0'; ++i) original.update(first[i] == 'i');
  const dynamic_loss_scaler::state saved = original.save();
  // Through bytes, as a checkpoint file would carry it.
  unsigned char bytes[sizeof(saved)];
  std::memcpy(bytes, &saved, sizeof(saved));
  dynamic_loss_scaler::state loaded_state;
  std::memcpy(&loaded_state, bytes, sizeof(saved));
  dynamic_loss_scaler restored;  // default options: load replaces them
  restored.load(loaded_state);
  CHECK(restored.get_options().hysteresis == 2);
  CHECK(restored.get_options().growth_interval == 5);
  const char* second = "iccccciciiccccccccccccci";
  for (int i = 0; second[i] != '\0'; ++i) {
    original.update(second[i] == 'i');
    restored.update(second[i] == 'i');
    REQUIRE(original.scale() == restored.scale());
    REQUIRE(original.growth_tracker() == restored.growth_tracker());
    REQUIRE(original.hysteresis_left() == restored.hysteresis_left());
  }
  CHECK(original.steps() == restored.steps());
  CHECK(original.skipped_steps() == restored.skipped_steps());
  CHECK(original.overflows_at_min_scale() == restored.overflows_at_min_scale());
}

TEST_CASE("static_loss_scaler keeps its scale and counts skipped steps", "[loss_scaler]") {
  mixprec::static_loss_scaler scaler(1024.0f);
  scaler.update(true);
  scaler.update(false);
  CHECK(scaler.scale() == 1024.0f);
  CHECK(scaler.inverse_scale() == 1.0f / 1024.0f);
  CHECK(scaler.steps() == 2);
  CHECK(scaler.skipped_steps() == 1);
  CHECK(mixprec::static_loss_scaler().scale() == 1.0f);
}

TEST_CASE("options are rejected with a message naming the field and the value", "[loss_scaler]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto with = [](auto change) {
    dynamic_loss_scaler::options o;
    change(o);
    return o;
  };
  using options = dynamic_loss_scaler::options;
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.growth_factor = 1.0; })), "growth_factor = 1");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.growth_factor = 0.5; })), "growth_factor = 0.5");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([&](options& o) { o.growth_factor = static_cast<double>(inf); })), "growth_factor = inf");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.backoff_factor = 1.0; })), "backoff_factor = 1");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.backoff_factor = 0.0; })), "backoff_factor = 0");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.backoff_factor = -0.5; })), "backoff_factor = -0.5");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([&](options& o) { o.backoff_factor = static_cast<double>(nan); })), "backoff_factor = nan");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.growth_interval = 0; })), "growth_interval = 0");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.growth_interval = -3; })), "growth_interval = -3");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.hysteresis = 0; })), "hysteresis = 0");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.min_scale = 0.0f; })), "min_scale = 0");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.min_scale = 1e-39f; })), "1/min_scale overflows");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([&](options& o) { o.max_scale = inf; })), "max_scale = inf");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.min_scale = 1024.0f; o.max_scale = 512.0f; o.init_scale = 600.0f; })),
                        "min_scale = 1024 must be <= max_scale = 512");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.init_scale = 0.5f; })), "init_scale = 0.5");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([](options& o) { o.init_scale = 3.0e7f; })), "init_scale = 3e+07");
  MIXPREC_REQUIRE_ERROR(dynamic_loss_scaler(with([&](options& o) { o.init_scale = nan; })), "init_scale = nan");
  MIXPREC_REQUIRE_ERROR(mixprec::static_loss_scaler(0.0f), "scale = 0");
  MIXPREC_REQUIRE_ERROR(mixprec::static_loss_scaler(inf), "scale = inf");
}

TEST_CASE("a corrupt checkpoint is rejected and leaves the scaler unchanged", "[loss_scaler]") {
  dynamic_loss_scaler scaler;
  scaler.update(true);
  auto corrupt = [&](auto change) {
    dynamic_loss_scaler::state s = scaler.save();
    change(s);
    return s;
  };
  using state = dynamic_loss_scaler::state;
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.scale = 0.0f; })), "scale = 0");
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.hysteresis_left = 5; })), "hysteresis_left = 5");
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.growth_tracker = -1; })), "growth_tracker = -1");
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.skipped_steps = 9; })), "skipped_steps = 9");
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.overflows_at_min_scale = 2; })),
                        "overflows_at_min_scale = 2");
  MIXPREC_REQUIRE_ERROR(scaler.load(corrupt([](state& s) { s.options.backoff_factor = 2.0; })), "backoff_factor = 2");
  CHECK(scaler.scale() == 32768.0f);
  CHECK(scaler.steps() == 1);
}

TEST_CASE("growth and backoff round as PyTorch's kernels: (float)(scale * (double)factor)", "[loss_scaler][issue12]") {
  // _amp_update_scale_cpu_/_cuda_kernel take the factors as double (Python
  // floats): growth 1.001 and backoff 0.9 are not floats, so scale · 1.001f
  // in float differs from PyTorch from step 2 on. The reference is that rule,
  // written out here (no clamping is reached: bounds [1, 2^24]).
  dynamic_loss_scaler::options o;
  o.growth_factor = 1.001;
  o.backoff_factor = 0.9;
  o.growth_interval = 1;
  dynamic_loss_scaler scaler(o);
  float reference = o.init_scale;
  bool differs_from_float_factors = false;
  float with_float_factors = o.init_scale;
  for (int step = 0; step < 400; ++step) {
    const bool overflow = step % 5 == 4;
    scaler.update(overflow);
    reference = static_cast<float>(static_cast<double>(reference) * (overflow ? 0.9 : 1.001));
    with_float_factors *= overflow ? 0.9f : 1.001f;
    differs_from_float_factors |= with_float_factors != reference;
    INFO("after step " << step + 1);
    REQUIRE(scaler.scale() == reference);
  }
  CHECK(differs_from_float_factors);  // the test distinguishes the two roundings
}

TEST_CASE("counters saturate at INT64_MAX: a loaded extreme state never overflows", "[loss_scaler][issue12]") {
  // Before: load() accepted steps = INT64_MAX or growth_tracker =
  // growth_interval = INT64_MAX, and the next update() overflowed (UB).
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  dynamic_loss_scaler scaler;
  dynamic_loss_scaler::state s = scaler.save();
  s.steps = max;
  s.skipped_steps = max;
  s.overflows_at_min_scale = 0;
  scaler.load(s);
  scaler.update(true);
  CHECK(scaler.steps() == max);
  CHECK(scaler.skipped_steps() == max);
  CHECK(scaler.scale() == 32768.0f);

  dynamic_loss_scaler growing;
  s = growing.save();
  s.options.growth_interval = max;
  s.growth_tracker = max;
  growing.load(s);
  growing.update(false);  // the tracker stays at max, which reaches the interval: the scale grows
  CHECK(growing.scale() == 131072.0f);
  CHECK(growing.growth_tracker() == 0);
  s = growing.save();
  s.growth_tracker = max - 1;
  growing.load(s);
  growing.update(false);
  CHECK(growing.scale() == 262144.0f);
}

TEST_CASE("check_gradients names an invalid type's value and rejects a size beyond the address space",
          "[loss_scaler][gradient_check]") {
  std::vector<float> g(16, 1.0f);
  using mixprec::check_gradients;
  using mixprec::const_tensor_view;
  using mixprec::scalar_type;
  MIXPREC_REQUIRE_ERROR(check_gradients({const_tensor_view(g.data(), 16, static_cast<scalar_type>(99))}),
                        "gradient 0 is unknown scalar_type (scalar_type 99)");
  // SIZE_MAX elements were read until the process crashed.
  volatile std::size_t opaque = SIZE_MAX / 2;
  const std::size_t huge = opaque;
  MIXPREC_REQUIRE_ERROR(
      check_gradients({const_tensor_view(g), const_tensor_view(g.data(), huge, scalar_type::float32)}),
      "gradient of parameter 1: 9223372036854775807 elements of 4 bytes");
  MIXPREC_REQUIRE_ERROR(check_gradients({const_tensor_view(g.data(), huge, scalar_type::float32)}),
                        "run past the end of the address space");
  CHECK(check_gradients({const_tensor_view(g)}).squared_norm == 16.0);
}
