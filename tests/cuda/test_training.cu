// The device training utilities equal their host counterparts bit for bit:
// the loss scaler's trajectory and counters, the unscale kernel's found_inf
// and write-back (its norm to float rounding), the fused optimizers' master
// weights, states, model copies and amax, the delayed-scaling scales; a step
// with found_inf leaves every byte unchanged; scaler, recipe and optimizer
// updates capture into a CUDA graph and replay like eager launches.
//
// Catch2 and the kernels share this .cu file: the device headers define the
// kernels, so their users are CUDA translation units.
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "mixprec/cuda/training.hpp"
#include "mixprec/mixprec.hpp"
#include "support/catch.hpp"
#include "support/test_random.hpp"

namespace {

using mixprec::scalar_type;
using mixprec::cuda::training_detail::check;
using mixprec::cuda::training_detail::device_array;

// ---- helpers ---------------------------------------------------------------

using mixprec_test::lcg;
using mixprec_test::random_vector;

std::size_t bytes_per(scalar_type t) {
  return mixprec::visit_scalar_type(t, [](auto zero) { return sizeof(zero); });
}

std::vector<unsigned char> encode(const std::vector<float>& x, scalar_type t) {
  std::vector<unsigned char> out(x.size() * bytes_per(t));
  mixprec::visit_scalar_type(t, [&](auto zero) {
    using T = decltype(zero);
    for (std::size_t i = 0; i < x.size(); ++i) {
      T value;
      if constexpr (std::is_same<T, float>::value) {
        value = x[i];
      } else {
        value = mixprec::convert<T>(x[i]);
      }
      std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
    }
  });
  return out;
}

// Device bytes, optionally starting one element past an aligned address so
// that the kernels' scalar (unvectorised) paths run.
struct device_bytes {
  device_array<unsigned char> memory;
  std::size_t offset = 0, size = 0;
  device_bytes() = default;
  device_bytes(std::size_t bytes, std::size_t misalign) : memory(bytes + misalign + 16), offset(misalign), size(bytes) {
    mixprec::cuda::fill_and_wait(memory.get(), 0, bytes + misalign + 16);  // complete before any stream uses it
  }
  unsigned char* get() const { return memory.get() + offset; }
  void upload(const std::vector<unsigned char>& host) {
    REQUIRE(host.size() == size);
    mixprec::cuda::copy_and_wait(get(), host.data(), size);
  }
  std::vector<unsigned char> read() const {
    std::vector<unsigned char> host(size);
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    check(cudaMemcpy(host.data(), get(), size, cudaMemcpyDeviceToHost), "cudaMemcpy");
    return host;
  }
};

std::vector<unsigned char> read_floats(const float* device, std::size_t n) {
  std::vector<unsigned char> host(n * sizeof(float));
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  check(cudaMemcpy(host.data(), device, host.size(), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return host;
}
template <class T>
std::vector<unsigned char> host_bytes(const T* p, std::size_t n) {
  std::vector<unsigned char> out(n * sizeof(T));
  std::memcpy(out.data(), p, out.size());
  return out;
}

void set_device_float(float* device, float value) {
  mixprec::cuda::copy_and_wait(device, &value, sizeof(float));
}

void require_same_state(const mixprec::dynamic_loss_scaler_state& a, const mixprec::dynamic_loss_scaler_state& b) {
  REQUIRE(a.scale == b.scale);
  REQUIRE(a.hysteresis_left == b.hysteresis_left);
  REQUIRE(a.growth_tracker == b.growth_tracker);
  REQUIRE(a.steps == b.steps);
  REQUIRE(a.skipped_steps == b.skipped_steps);
  REQUIRE(a.overflows_at_min_scale == b.overflows_at_min_scale);
}

}  // namespace

TEST_CASE("device loss scaler follows the host scaler step for step", "[cuda][loss_scaler]") {
  mixprec::dynamic_loss_scaler::options o;
  o.growth_interval = 3;
  o.hysteresis = 2;
  o.min_scale = 0.25f;
  o.init_scale = 4.0f;
  mixprec::dynamic_loss_scaler host(o);
  mixprec::cuda::device_loss_scaler device(o);
  const char* sequence = "ccciciiiiiiiiicccccccicccccccciiccc";
  for (int i = 0; sequence[i] != '\0'; ++i) {
    const bool found_inf = sequence[i] == 'i';
    if (found_inf) set_device_float(device.found_inf(), 1.0f);
    device.update();
    host.update(found_inf);
    INFO("step " << i + 1);
    require_same_state(device.save(), host.save());
    REQUIRE_FALSE(device.read_found_inf());  // update() clears it
  }
  CHECK(host.overflows_at_min_scale() > 0);
  // Save/load round trip through the device.
  mixprec::cuda::device_loss_scaler restored;
  restored.load(host.save());
  require_same_state(restored.save(), host.save());
  MIXPREC_REQUIRE_ERROR(restored.load([&] {
    auto s = host.save();
    s.scale = -1.0f;
    return s;
  }()), "scale = -1");
}

TEST_CASE("unscale kernel: found_inf, squared norm and write-back over many tensors", "[cuda][unscale]") {
  struct spec {
    std::size_t size;
    scalar_type type;
    std::size_t misalign;
  };
  const spec specs[] = {{1, scalar_type::float32, 0},       {3, scalar_type::bfloat16, 0},
                        {4097, scalar_type::float16, 0},    {100003, scalar_type::float32, 1},
                        {70000, scalar_type::bfloat16, 1},  {32768, scalar_type::float16, 0},
                        {65537, scalar_type::bfloat16, 0},  {5, scalar_type::float16, 1}};
  const float scale = 512.0f, inverse = 1.0f / scale;
  std::vector<std::vector<unsigned char>> host;
  std::vector<device_bytes> device;
  mixprec::cuda::gradient_set set;
  std::vector<mixprec::const_tensor_view> views;
  std::uint64_t seed = 1;
  for (const spec& s : specs) {
    host.push_back(encode(random_vector(s.size, seed++, 100.0f), s.type));
    device.emplace_back(host.back().size(), s.misalign * bytes_per(s.type));
    device.back().upload(host.back());
  }
  for (std::size_t i = 0; i < device.size(); ++i) {
    set.add(mixprec::tensor_view(device[i].get(), specs[i].size, specs[i].type));
    views.emplace_back(host[i].data(), specs[i].size, specs[i].type);
  }
  mixprec::dynamic_loss_scaler_options o;
  o.init_scale = scale;
  mixprec::cuda::device_loss_scaler scaler(o);

  SECTION("clean gradients: no inf, the norm of the host check") {
    mixprec::cuda::unscale_and_check(set, scaler);
    const mixprec::gradient_check expected = mixprec::check_gradients(views, inverse);
    CHECK_FALSE(scaler.read_found_inf());
    CHECK(scaler.read_squared_norm() == Approx(expected.squared_norm).epsilon(1e-6));
    // Repeatable: the reduction order is fixed.
    const float first = scaler.read_squared_norm();
    mixprec::cuda::unscale_and_check(set, scaler);
    CHECK(scaler.read_squared_norm() == first);
    for (std::size_t i = 0; i < device.size(); ++i) CHECK(device[i].read() == host[i]);  // read-only
  }
  SECTION("write-back gives the host's rounding of g / scale") {
    mixprec::cuda::unscale_and_check(set, scaler, nullptr, true);
    for (std::size_t i = 0; i < device.size(); ++i) {
      std::vector<float> expected(specs[i].size);
      mixprec::visit_scalar_type(specs[i].type, [&](auto zero) {
        using T = decltype(zero);
        const T* g = reinterpret_cast<const T*>(host[i].data());
        for (std::size_t k = 0; k < specs[i].size; ++k) {
          expected[k] = mixprec::detail::mul_rn(static_cast<float>(g[k]), inverse);
        }
      });
      INFO("tensor " << i);
      CHECK(device[i].read() == encode(expected, specs[i].type));
    }
  }
  SECTION("one inf or NaN anywhere raises found_inf; it stays raised until the scaler update") {
    const float bad[] = {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
    for (float value : bad) {
      for (std::size_t i = 0; i < device.size(); ++i) {
        std::vector<unsigned char> poisoned = host[i];
        const std::vector<unsigned char> code = encode({value}, specs[i].type);
        std::memcpy(poisoned.data() + (specs[i].size / 2) * code.size(), code.data(), code.size());
        device[i].upload(poisoned);
        mixprec::cuda::unscale_and_check(set, scaler);
        INFO("tensor " << i << " value " << value);
        CHECK(scaler.read_found_inf());
        device[i].upload(host[i]);
        mixprec::cuda::unscale_and_check(set, scaler);
        CHECK(scaler.read_found_inf());  // only raised, never cleared by the kernel
        scaler.update();
        CHECK_FALSE(scaler.read_found_inf());
      }
    }
  }
  SECTION("a finite gradient that overflows when unscaled counts as inf") {
    mixprec::dynamic_loss_scaler_options small;
    small.init_scale = 0.25f;
    small.min_scale = 0.25f;
    mixprec::cuda::device_loss_scaler below_one(small);
    const std::vector<unsigned char> huge = encode(std::vector<float>(specs[0].size, 1.0e38f), specs[0].type);
    device[0].upload(huge);
    mixprec::cuda::unscale_and_check(set, below_one);
    CHECK(below_one.read_found_inf());
  }
}

namespace {

// One parameter of the parity runs.
struct parameter_spec {
  std::size_t size;
  scalar_type gradient;
  int copy;  // -1: none, -2: BF16-only, else a scalar_type
  std::size_t group;
  std::size_t misalign;  // elements
};

// What changes between the steps of a parity run (all optional).
template <class Rule>
struct parity_schedule {
  // The groups' options at step s (a schedule; SGD momentum switched on mid-run).
  std::function<std::vector<typename Rule::options>(int)> groups;
  // Whether parameter p has no gradient at step s (host: empty view; device: mask byte 0).
  std::function<bool(int, std::size_t)> frozen;
};

// Runs the same steps through the host optimizer and the device optimizer
// and compares every byte they own or write.
template <class Rule>
void run_parity(const std::vector<typename Rule::options>& groups, const std::vector<parameter_spec>& specs,
                const mixprec::optimizer_options& options, int steps, int skipped_step,
                const parity_schedule<Rule>& schedule = {}) {
  mixprec::basic_optimizer<Rule> host(options);
  mixprec::cuda::fused_optimizer<Rule> device(options);
  for (const auto& g : groups) {
    host.add_group(g);
    device.add_group(g);
  }
  const std::size_t n = specs.size();
  std::vector<std::vector<unsigned char>> host_gradient(n), host_copy(n);
  std::vector<device_bytes> device_gradient, device_copy;
  std::vector<float> host_scale(n), host_amax(n, 0.0f);
  device_array<float> device_scale(n), device_amax(n);
  check(cudaMemset(device_amax.get(), 0, n * sizeof(float)), "cudaMemset");
  mixprec::cuda::gradient_set gradient_set;
  for (std::size_t p = 0; p < n; ++p) {
    const parameter_spec& s = specs[p];
    const std::vector<float> initial = random_vector(s.size, 1000 + p, 2.0f);
    host_gradient[p].assign(s.size * bytes_per(s.gradient), 0);
    device_gradient.emplace_back(host_gradient[p].size(), s.misalign * bytes_per(s.gradient));
    const mixprec::const_tensor_view device_view(device_gradient.back().get(), s.size, s.gradient);
    gradient_set.add(device_view);
    host_scale[p] = p % 2 == 0 ? 64.0f : 0.75f;
    if (s.copy == -2) {
      host_copy[p] = encode(initial, scalar_type::bfloat16);
      device_copy.emplace_back(host_copy[p].size(), s.misalign * 2);
      device_copy.back().upload(host_copy[p]);
      host.add_bf16_parameter(s.group, reinterpret_cast<mixprec::bfloat16*>(host_copy[p].data()), s.size);
      device.add_bf16_parameter(s.group, reinterpret_cast<mixprec::bfloat16*>(device_copy.back().get()), s.size,
                                device_view);
    } else if (s.copy == -1) {
      device_copy.emplace_back();
      host.add_parameter(s.group, initial.data(), s.size);
      device.add_parameter(s.group, initial.data(), s.size, device_view);
    } else {
      const scalar_type type = static_cast<scalar_type>(s.copy);
      host_copy[p].assign(s.size * bytes_per(type), 0);
      device_copy.emplace_back(host_copy[p].size(), s.misalign * bytes_per(type));
      host.add_parameter(s.group, initial.data(), s.size,
                         mixprec::model_copy(mixprec::tensor_view(host_copy[p].data(), s.size, type), &host_scale[p],
                                             &host_amax[p]));
      device.add_parameter(s.group, initial.data(), s.size, device_view,
                           mixprec::model_copy(mixprec::tensor_view(device_copy.back().get(), s.size, type),
                                               device_scale.get() + p, device_amax.get() + p));
    }
  }
  device_scale.upload(host_scale);
  mixprec::dynamic_loss_scaler_options scaler_options;
  scaler_options.init_scale = 1024.0f;
  scaler_options.growth_interval = 3;
  mixprec::dynamic_loss_scaler host_scaler(scaler_options);
  mixprec::cuda::device_loss_scaler device_scaler(scaler_options);

  auto device_snapshot = [&] {
    std::vector<unsigned char> all;
    auto append = [&](const std::vector<unsigned char>& b) { all.insert(all.end(), b.begin(), b.end()); };
    for (std::size_t p = 0; p < n; ++p) {
      if (device.master(p) != nullptr) append(read_floats(device.master(p), specs[p].size));
      for (std::size_t k = 0; k < device.state_arrays(p); ++k) {
        append(read_floats(device.state(p, static_cast<int>(k)), specs[p].size));
      }
      if (device_copy[p].size > 0) append(device_copy[p].read());
    }
    append(read_floats(device_amax.get(), n));
    return all;
  };
  auto host_snapshot = [&] {
    std::vector<unsigned char> all;
    auto append = [&](const std::vector<unsigned char>& b) { all.insert(all.end(), b.begin(), b.end()); };
    for (std::size_t p = 0; p < n; ++p) {
      if (host.master(p) != nullptr) append(host_bytes(host.master(p), specs[p].size));
      for (std::size_t k = 0; k < host.state_arrays(p); ++k) {
        append(host_bytes(host.state(p, static_cast<int>(k)), specs[p].size));
      }
      append(host_copy[p]);
    }
    append(host_bytes(host_amax.data(), n));
    return all;
  };

  device.prepare();
  for (int step = 0; step < steps; ++step) {
    if (schedule.groups) {
      const std::vector<typename Rule::options> now = schedule.groups(step);
      for (std::size_t g = 0; g < now.size(); ++g) {
        host.set_group(g, now[g]);
        device.set_group(g, now[g]);
      }
    }
    std::vector<mixprec::const_tensor_view> views;
    std::vector<unsigned char> mask(n, 1);
    for (std::size_t p = 0; p < n; ++p) {
      std::vector<float> g = random_vector(specs[p].size, 50000 + 100 * step + p, host_scaler.scale());
      if (step == skipped_step && p == n / 2) g[specs[p].size / 3] = std::numeric_limits<float>::infinity();
      const bool frozen = schedule.frozen && schedule.frozen(step, p);
      // A frozen parameter's buffer holds zeros, so the device norm sees what the host's empty view gives.
      if (frozen) std::fill(g.begin(), g.end(), 0.0f);
      host_gradient[p] = encode(g, specs[p].gradient);
      device_gradient[p].upload(host_gradient[p]);
      mask[p] = frozen ? 0 : 1;
      views.emplace_back(frozen ? nullptr : host_gradient[p].data(), frozen ? 0 : specs[p].size, specs[p].gradient);
    }
    mixprec::cuda::copy_and_wait(device.gradient_mask(), mask.data(), n);
    const std::vector<unsigned char> before = device_snapshot();
    mixprec::cuda::unscale_and_check(gradient_set, device_scaler);
    const bool device_found_inf = device_scaler.read_found_inf();
    const float device_squared_norm = device_scaler.read_squared_norm();
    device.step(device_scaler);
    device_scaler.update();

    const mixprec::gradient_check expected = mixprec::check_gradients(views, host_scaler.inverse_scale());
    INFO("step " << step);
    REQUIRE(device_found_inf == expected.found_inf);
    REQUIRE(device_found_inf == (step == skipped_step));
    mixprec::step_inputs in;
    in.found_inf = expected.found_inf;
    in.inverse_scale = host_scaler.inverse_scale();
    in.squared_grad_norm = device_squared_norm;  // the device's reduction order, so clipping matches too
    const mixprec::step_report report = host.step(views, in);
    host_scaler.update(expected.found_inf);
    REQUIRE(report.skipped == (step == skipped_step));
    if (report.skipped) REQUIRE(device_snapshot() == before);  // every byte unchanged
    REQUIRE(device_snapshot() == host_snapshot());
    require_same_state(device_scaler.save(), host_scaler.save());
    // Hand the amax to a recipe and reset it, as a training loop would.
    std::fill(host_amax.begin(), host_amax.end(), 0.0f);
    check(cudaMemset(device_amax.get(), 0, n * sizeof(float)), "cudaMemset");
  }
  CHECK(device.read_steps() == host.steps());
  CHECK(host.steps() == steps - 1);
  // The device state saved as bytes is the host's, byte for byte, and loads into the host.
  const std::vector<unsigned char> device_checkpoint = device.save_bytes();
  CHECK(device_checkpoint == host.save_bytes());
  host.load_bytes(device_checkpoint);
  CHECK(host.save_bytes() == device_checkpoint);
}

std::vector<parameter_spec> mixed_parameters() {
  const auto f32 = scalar_type::float32, bf16 = scalar_type::bfloat16, f16 = scalar_type::float16;
  return {
      {100000, bf16, static_cast<int>(bf16), 0, 0},           // the common case: vectorised
      {4099, f32, static_cast<int>(scalar_type::float8_e4m3), 0, 0},
      {33, f16, static_cast<int>(scalar_type::float8_e5m2), 1, 0},
      {70001, bf16, static_cast<int>(f16), 1, 1},             // misaligned: scalar path
      {17, f32, static_cast<int>(f32), 0, 0},
      {1, bf16, -1, 1, 0},                                     // no copy
      {40000, bf16, -2, 0, 0},                                 // BF16-only
      {1023, f16, -2, 1, 1},                                   // BF16-only, misaligned
  };
}

}  // namespace

TEST_CASE("fused AdamW on the device equals the host optimizer bit for bit", "[cuda][optimizer]") {
  mixprec::adamw_options a, b;
  a.weight_decay = 0.05f;
  b.lr = 3e-4f;
  b.beta1 = 0.8f;
  b.eps = 1e-6f;
  SECTION("nearest-even copies, no clipping") {
    run_parity<mixprec::adamw_rule>({a, b}, mixed_parameters(), {}, 8, 4);
  }
  SECTION("stochastic rounding and clipping") {
    mixprec::optimizer_options o;
    o.model_rounding = mixprec::rounding::stochastic;
    o.max_grad_norm = 10.0f;
    o.seed = 1234;
    run_parity<mixprec::adamw_rule>({a, b}, mixed_parameters(), o, 8, 2);
  }
}

TEST_CASE("fused SGD on the device equals the host optimizer bit for bit", "[cuda][optimizer]") {
  mixprec::sgd_options plain, nesterov;
  plain.lr = 0.05f;
  nesterov.lr = 0.01f;
  nesterov.momentum = 0.9f;
  nesterov.nesterov = true;
  nesterov.weight_decay = 1e-4f;
  mixprec::optimizer_options o;
  o.max_grad_norm = 50.0f;
  run_parity<mixprec::sgd_rule>({plain, nesterov}, mixed_parameters(), o, 6, 0);
}

TEST_CASE("device progress equals the host's: momentum started mid-run, amsgrad, maximize, frozen parameters",
          "[cuda][optimizer][issue12]") {
  // Parameter 2 (and 6, BF16-only) has no gradient on every third step.
  auto frozen = [](int step, std::size_t p) { return (p == 2 || p == 6) && step % 3 == 1; };
  SECTION("SGD: momentum and dampening switched on at step 3, maximize in group 1") {
    parity_schedule<mixprec::sgd_rule> schedule;
    schedule.groups = [](int step) {
      mixprec::sgd_options a, b;
      a.lr = 0.02f;
      b.lr = 0.01f;
      b.maximize = true;
      if (step >= 3) {
        a.momentum = b.momentum = 0.9f;
        a.dampening = 0.5f;
      }
      return std::vector<mixprec::sgd_options>{a, b};
    };
    schedule.frozen = frozen;
    run_parity<mixprec::sgd_rule>(schedule.groups(0), mixed_parameters(), {}, 9, 5, schedule);
  }
  SECTION("AdamW: amsgrad in group 0, maximize in group 1, clipping and stochastic copies") {
    mixprec::adamw_options a, b;
    a.amsgrad = true;
    a.weight_decay = 0.05f;
    b.maximize = true;
    b.lr = 3e-4f;
    mixprec::optimizer_options o;
    o.model_rounding = mixprec::rounding::stochastic;
    o.max_grad_norm = 10.0f;
    o.seed = 99;
    parity_schedule<mixprec::adamw_rule> schedule;
    schedule.frozen = frozen;
    run_parity<mixprec::adamw_rule>({a, b}, mixed_parameters(), o, 9, 4, schedule);
  }
}

TEST_CASE("a device run resumed from save_bytes into a fresh optimizer continues bit for bit", "[cuda][optimizer][checkpoint]") {
  // 20 steps == 10 + save_bytes + load_bytes into a fresh optimizer (fresh
  // master, zero states, zero copies) + 10, comparing every byte.
  const std::size_t n = 3, size = 5000;
  struct run {
    mixprec::cuda::fused_adamw optimizer;
    device_array<mixprec::bfloat16> gradient[3], copy[3];
    explicit run(const mixprec::optimizer_options& o) : optimizer(o) {
      mixprec::adamw_options g;
      g.amsgrad = true;
      optimizer.add_group(g);
      for (std::size_t p = 0; p < 3; ++p) {
        gradient[p] = device_array<mixprec::bfloat16>(size);
        copy[p] = device_array<mixprec::bfloat16>(size);
        check(cudaMemset(copy[p].get(), 0, size * 2), "cudaMemset");
        const std::vector<float> initial = random_vector(size, 70 + p);
        optimizer.add_parameter(0, initial.data(), size, mixprec::const_tensor_view(gradient[p].get(), size),
                                mixprec::model_copy(mixprec::tensor_view(copy[p].get(), size)));
      }
      optimizer.prepare();
    }
    void step(int s) {
      for (std::size_t p = 0; p < 3; ++p) {
        const std::vector<unsigned char> g = encode(random_vector(size, 900 + 10 * s + p), scalar_type::bfloat16);
        check(cudaMemcpy(gradient[p].get(), g.data(), g.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
      }
      const unsigned char mask[3] = {1, static_cast<unsigned char>(s % 2), 1};  // parameter 1: every other step
      mixprec::cuda::copy_and_wait(optimizer.gradient_mask(), mask, 3);
      optimizer.step(nullptr, nullptr, nullptr);
    }
    std::vector<unsigned char> everything() {
      std::vector<unsigned char> all = optimizer.save_bytes();
      for (std::size_t p = 0; p < 3; ++p) {
        std::vector<unsigned char> c(size * 2);
        check(cudaMemcpy(c.data(), copy[p].get(), c.size(), cudaMemcpyDeviceToHost), "cudaMemcpy");
        all.insert(all.end(), c.begin(), c.end());
      }
      return all;
    }
  };
  mixprec::optimizer_options o;
  o.model_rounding = mixprec::rounding::stochastic;
  o.seed = 5;
  run uninterrupted(o);
  for (int s = 0; s < 20; ++s) uninterrupted.step(s);
  std::vector<unsigned char> checkpoint;
  {
    run first(o);
    for (int s = 0; s < 10; ++s) first.step(s);
    checkpoint = first.optimizer.save_bytes();
  }
  run resumed(o);
  const std::vector<unsigned char> fresh = resumed.everything();
  std::vector<unsigned char> corrupt = checkpoint;
  corrupt[corrupt.size() / 2] ^= 1;
  MIXPREC_REQUIRE_ERROR(resumed.optimizer.load_bytes(corrupt), "checksum mismatch");
  CHECK(resumed.everything() == fresh);  // a rejected load changes nothing on the device
  resumed.optimizer.load_bytes(checkpoint);
  for (int s = 10; s < 20; ++s) resumed.step(s);
  CHECK(resumed.everything() == uninterrupted.everything());
  CHECK(resumed.optimizer.read_steps() == 20);
  (void)n;
}

TEST_CASE("device buffers that alias across parameters are rejected", "[cuda][optimizer][issue12]") {
  mixprec::cuda::fused_sgd optimizer;
  optimizer.add_group({});
  device_array<float> storage(16);
  device_array<mixprec::bfloat16> shared(8);
  const std::vector<float> initial(8, 1.0f);
  optimizer.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(storage.get(), 8));
  MIXPREC_REQUIRE_ERROR(optimizer.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(shared.get(), 8),
                                                mixprec::model_copy(mixprec::tensor_view(storage.get() + 4, 8))),
                        "overlaps the gradient of parameter 0");
  optimizer.add_bf16_parameter(0, shared.get(), 8, mixprec::const_tensor_view(storage.get() + 8, 8));
  MIXPREC_REQUIRE_ERROR(optimizer.add_bf16_parameter(0, shared.get(), 8, mixprec::const_tensor_view(storage.get() + 8, 8)),
                        "overlaps the BF16 weights of parameter 1");
  device_array<unsigned char> bytes(64);
  MIXPREC_REQUIRE_ERROR(
      optimizer.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(storage.get(), 8),
                              mixprec::model_copy(mixprec::tensor_view(bytes.get(), 8, static_cast<scalar_type>(42)))),
      "is not a scalar_type");
  CHECK(optimizer.parameter_count() == 2);
  mixprec::cuda::fused_adamw adamw;
  adamw.add_group({});
  adamw.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(storage.get(), 8));
  adamw.prepare();
  mixprec::adamw_options amsgrad;
  amsgrad.amsgrad = true;
  MIXPREC_REQUIRE_ERROR(adamw.set_group(0, amsgrad), "choose amsgrad before prepare()");
  mixprec::adamw_options zero_eps;
  zero_eps.eps = 0.0f;
  MIXPREC_REQUIRE_ERROR(adamw.set_group(0, zero_eps), "eps = 0");
}

TEST_CASE("the unscale kernel raises found_inf when the squared norm overflows float", "[cuda][unscale][issue12]") {
  // 4096 finite values of 1e20: each square (1e40) is finite in double, the
  // sum is not a float. The host step(gradients, scaler) skips such a step.
  const std::size_t size = 4096;
  device_array<float> gradient(size);
  const std::vector<float> huge(size, 1e20f);
  gradient.upload(huge);
  mixprec::cuda::gradient_set set;
  set.add(mixprec::const_tensor_view(gradient.get(), size));
  mixprec::cuda::device_loss_scaler scaler([] {
    mixprec::dynamic_loss_scaler_options o;
    o.init_scale = 1.0f;
    return o;
  }());
  mixprec::cuda::unscale_and_check(set, scaler);
  CHECK(scaler.read_found_inf());
  CHECK(std::isinf(scaler.read_squared_norm()));
}

TEST_CASE("device loss scaler and recipe follow the host's new rules (double factors, FLT_MIN clamp, margins)",
          "[cuda][loss_scaler][fp8_scaling][issue12]") {
  mixprec::dynamic_loss_scaler::options o;
  o.growth_factor = 1.001;
  o.backoff_factor = 0.9;
  o.growth_interval = 1;
  mixprec::dynamic_loss_scaler host(o);
  mixprec::cuda::device_loss_scaler device(o);
  for (int i = 0; i < 50; ++i) {
    const bool found_inf = i % 4 == 3;
    if (found_inf) set_device_float(device.found_inf(), 1.0f);
    device.update();
    host.update(found_inf);
    INFO("step " << i + 1);
    require_same_state(device.save(), host.save());
  }
  // E4M3, margin 14, amax 3e38: 448 · 2^-14 / 3e38 is subnormal; host and device clamp to FLT_MIN.
  mixprec::delayed_scaling_options r;
  r.margin = 14;
  mixprec::cuda::device_delayed_scaling recipe(r);
  recipe.add<mixprec::float8_e4m3>();
  recipe.prepare();
  const float amax = 3e38f;
  check(cudaMemcpy(recipe.amaxes(), &amax, sizeof amax, cudaMemcpyHostToDevice), "cudaMemcpy");
  recipe.update();
  mixprec::delayed_scaling<mixprec::float8_e4m3> host_recipe(r);
  host_recipe.record(amax);
  host_recipe.update();
  CHECK(host_recipe.scale() == FLT_MIN);
  CHECK(recipe.read_scales()[0] == host_recipe.scale());
  CHECK(recipe.read_scale_invs()[0] == host_recipe.scale_inv());
  r.margin = 15;
  mixprec::cuda::device_delayed_scaling too_wide(r);  // E5M2 could take it; E4M3 cannot
  MIXPREC_REQUIRE_ERROR(too_wide.add<mixprec::float8_e4m3>(), "margin = 15 must lie in [0, 14]");
  CHECK_NOTHROW(too_wide.add<mixprec::float8_e5m2>());
}


TEST_CASE("device delayed scaling equals the host recipe for every tensor in one launch", "[cuda][fp8_scaling]") {
  const mixprec::amax_algo algos[] = {mixprec::amax_algo::max, mixprec::amax_algo::most_recent};
  for (mixprec::amax_algo algo : algos) {
    mixprec::delayed_scaling_options o;
    o.history_len = 5;
    o.algo = algo;
    o.margin = 1;
    o.power_of_two = algo == mixprec::amax_algo::most_recent;
    mixprec::cuda::device_delayed_scaling device(o);
    std::vector<mixprec::delayed_scaling<mixprec::float8_e4m3>> e4m3(3, mixprec::delayed_scaling<mixprec::float8_e4m3>(o));
    std::vector<mixprec::delayed_scaling<mixprec::float8_e5m2>> e5m2(2, mixprec::delayed_scaling<mixprec::float8_e5m2>(o));
    for (int i = 0; i < 3; ++i) device.add<mixprec::float8_e4m3>();
    for (int i = 0; i < 2; ++i) device.add(scalar_type::float8_e5m2);
    device.prepare();
    const float specials[] = {0.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                              1e-40f, 3.0e38f};
    lcg g(7);
    for (int step = 0; step < 40; ++step) {
      std::vector<float> amax(5);
      for (int t = 0; t < 5; ++t) {
        amax[t] = (step + t) % 7 == 3 ? specials[(step + t) % 5] : std::fabs(g.uniform()) * 100.0f;
        if (t < 3) {
          e4m3[t].record(amax[t]);
          e4m3[t].update();
        } else {
          e5m2[t - 3].record(amax[t]);
          e5m2[t - 3].update();
        }
      }
      check(cudaMemcpy(device.amaxes(), amax.data(), 5 * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
      device.update();
      const std::vector<float> scales = device.read_scales(), inverses = device.read_scale_invs();
      for (int t = 0; t < 5; ++t) {
        const float expected = t < 3 ? e4m3[t].scale() : e5m2[t - 3].scale();
        const float expected_inverse = t < 3 ? e4m3[t].scale_inv() : e5m2[t - 3].scale_inv();
        INFO("step " << step << " tensor " << t << " algo " << static_cast<int>(algo));
        REQUIRE(host_bytes(&scales[t], 1) == host_bytes(&expected, 1));
        REQUIRE(host_bytes(&inverses[t], 1) == host_bytes(&expected_inverse, 1));
      }
      const std::vector<float> slots = [&] {
        std::vector<float> s(5);
        check(cudaMemcpy(s.data(), device.amaxes(), 5 * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
        return s;
      }();
      for (float s : slots) REQUIRE(s == 0.0f);  // consumed and reset
    }
  }
}

TEST_CASE("scaler, recipe and optimizer updates capture into a CUDA graph and replay like eager launches",
          "[cuda][graph]") {
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  mixprec::dynamic_loss_scaler_options so;
  so.growth_interval = 2;
  mixprec::cuda::device_loss_scaler captured_scaler(so), eager_scaler(so);
  mixprec::cuda::device_delayed_scaling captured_recipe, eager_recipe;
  captured_recipe.add<mixprec::float8_e4m3>();
  eager_recipe.add<mixprec::float8_e4m3>();
  captured_recipe.prepare();
  eager_recipe.prepare();
  const std::size_t size = 5000;
  const std::vector<float> initial = random_vector(size, 3), gradient = random_vector(size, 4, 65536.0f);
  device_array<float> device_gradient(size);
  device_gradient.upload(gradient);
  device_array<mixprec::bfloat16> captured_copy(size), eager_copy(size);
  mixprec::cuda::gradient_set captured_set, eager_set;
  captured_set.add(mixprec::const_tensor_view(device_gradient.get(), size));
  eager_set.add(mixprec::const_tensor_view(device_gradient.get(), size));
  mixprec::cuda::fused_adamw captured_optimizer, eager_optimizer;
  for (auto* o : {&captured_optimizer, &eager_optimizer}) o->add_group({});
  captured_optimizer.add_parameter(0, initial.data(), size, mixprec::const_tensor_view(device_gradient.get(), size),
                                   mixprec::model_copy(mixprec::tensor_view(captured_copy.get(), size),
                                                       nullptr, captured_recipe.amax(0)));
  eager_optimizer.add_parameter(0, initial.data(), size, mixprec::const_tensor_view(device_gradient.get(), size),
                                mixprec::model_copy(mixprec::tensor_view(eager_copy.get(), size), nullptr,
                                                    eager_recipe.amax(0)));
  captured_set.prepare(stream);
  captured_optimizer.prepare(stream);

  // One training step's device work, captured once.
  cudaGraph_t graph = nullptr;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  mixprec::cuda::unscale_and_check(captured_set, captured_scaler, stream);
  captured_optimizer.step(captured_scaler, stream);
  captured_scaler.update(stream);
  captured_recipe.update(stream);
  check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  std::size_t nodes = 0;
  check(cudaGraphGetNodes(graph, nullptr, &nodes), "cudaGraphGetNodes");
  CHECK(nodes == 4);  // one kernel each: unscale, optimizer, scaler update, recipe update

  for (int step = 0; step < 5; ++step) {
    check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    mixprec::cuda::unscale_and_check(eager_set, eager_scaler, stream);
    eager_optimizer.step(eager_scaler, stream);
    eager_scaler.update(stream);
    eager_recipe.update(stream);
  }
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  require_same_state(captured_scaler.save(stream), eager_scaler.save(stream));
  CHECK(captured_scaler.read_scale(stream) == 65536.0f * 4.0f);  // grew twice in 5 clean steps
  CHECK(captured_optimizer.read_steps(stream) == 5);
  CHECK(read_floats(captured_optimizer.master(0), size) == read_floats(eager_optimizer.master(0), size));
  CHECK(captured_recipe.read_scales(stream) == eager_recipe.read_scales(stream));
  CHECK(captured_recipe.read_scales(stream)[0] != 1.0f);

  // Host-synchronous calls are refused while capturing, with a message that says what to do.
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  MIXPREC_REQUIRE_ERROR(captured_scaler.read_scale(stream), "call prepare(stream)");
  cudaGraph_t discarded = nullptr;
  cudaStreamEndCapture(stream, &discarded);
  if (discarded != nullptr) cudaGraphDestroy(discarded);
  cudaGetLastError();

  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST_CASE("device API rejections name the constraint", "[cuda][optimizer]") {
  mixprec::cuda::fused_adamw optimizer;
  device_array<float> gradient(8);
  MIXPREC_REQUIRE_ERROR(optimizer.add_parameter(0, nullptr, 8, mixprec::const_tensor_view(gradient.get(), 8)),
                        "group 0 does not exist");
  optimizer.add_group({});
  const std::vector<float> initial(8, 1.0f);
  MIXPREC_REQUIRE_ERROR(optimizer.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(gradient.get(), 4)),
                        "the gradient has 4 elements");
  MIXPREC_REQUIRE_ERROR(
      optimizer.add_parameter(0, initial.data(), 8,
                              mixprec::const_tensor_view(gradient.get(), 8, scalar_type::float8_e4m3)),
      "the gradient is float8_e4m3");
  device_array<mixprec::float8_e4m3> copy(8);
  MIXPREC_REQUIRE_ERROR(optimizer.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(gradient.get(), 8),
                                                mixprec::model_copy(mixprec::tensor_view(copy.get(), 8))),
                        "needs a scale");
  mixprec::optimizer_options clipping;
  clipping.max_grad_norm = 1.0f;
  mixprec::cuda::fused_sgd sgd(clipping);
  sgd.add_parameter(sgd.add_group({}), initial.data(), 8, mixprec::const_tensor_view(gradient.get(), 8));
  MIXPREC_REQUIRE_ERROR(sgd.step(nullptr, nullptr, nullptr), "needs the squared gradient norm");
  sgd.prepare();
  MIXPREC_REQUIRE_ERROR(sgd.add_group({}), "add every group before prepare()");
  MIXPREC_REQUIRE_ERROR(sgd.add_parameter(0, initial.data(), 8, mixprec::const_tensor_view(gradient.get(), 8)),
                        "registered before prepare()");
  mixprec::cuda::gradient_set set;
  set.add(mixprec::const_tensor_view(gradient.get(), 8));
  mixprec::cuda::device_loss_scaler scaler;
  MIXPREC_REQUIRE_ERROR(mixprec::cuda::unscale_and_check(set, scaler, nullptr, true), "write_back needs writable");
  MIXPREC_REQUIRE_ERROR(set.add(mixprec::const_tensor_view(gradient.get(), 8, scalar_type::float8_e5m2)),
                        "gradients are float32, bfloat16 or float16");
  mixprec::cuda::device_delayed_scaling recipe;
  MIXPREC_REQUIRE_ERROR(recipe.add(scalar_type::bfloat16), "not an FP8 type");
  MIXPREC_REQUIRE_ERROR(recipe.amaxes(), "call prepare()");
  MIXPREC_REQUIRE_ERROR(mixprec::cuda::agree_across_ranks({}, scaler, {}), "hook is empty");
}

// Issue 12, defect 8: the device step read an FP8 copy's scale and never
// checked it (NaN: an all-NaN copy, 0: all zeros, inf: ±448, −1: flipped
// signs, and "success"). The host rejects such a scale before touching
// anything; the device launch must change no byte and record the refusal.
// Reference: the host optimizer (its rejection, and a good step's bytes after
// the refused ones, loaded from the device's checkpoint).
TEST_CASE("a model-copy scale that is not finite and > 0 refuses the device step, changing no byte",
          "[cuda][optimizer][issue12]") {
  constexpr std::size_t n = 300, m = 40;  // an FP8 copy with a scale and amax slot, a BF16 copy without
  const std::vector<float> w_fp8 = random_vector(n, 812, 1.0f), w_bf16 = random_vector(m, 813, 1.0f);
  const std::vector<float> g_fp8 = random_vector(n, 814, 0.5f), g_bf16 = random_vector(m, 815, 0.5f);
  device_array<float> grad_fp8(n), grad_bf16(m), scale(1), amax(1);
  mixprec::cuda::copy_and_wait(grad_fp8.get(), g_fp8.data(), n * sizeof(float));
  mixprec::cuda::copy_and_wait(grad_bf16.get(), g_bf16.data(), m * sizeof(float));
  device_array<mixprec::float8_e4m3> copy_fp8(n);
  device_array<mixprec::bfloat16> copy_bf16(m);
  set_device_float(scale.get(), 2.0f);
  set_device_float(amax.get(), 0.0f);
  mixprec::cuda::fused_adamw device;
  const std::size_t group = device.add_group(mixprec::adamw_options{});
  device.add_parameter(group, w_bf16.data(), m, mixprec::const_tensor_view(grad_bf16.get(), m),
                       mixprec::model_copy(mixprec::tensor_view(copy_bf16.get(), m)));
  device.add_parameter(group, w_fp8.data(), n, mixprec::const_tensor_view(grad_fp8.get(), n),
                       mixprec::model_copy(mixprec::tensor_view(copy_fp8.get(), n), scale.get(), amax.get()));
  device.step(nullptr, nullptr, nullptr);  // one good step: state that a corrupt step would visibly change
  REQUIRE(device.read_steps() == 1);
  REQUIRE(device.read_rejected_steps().rejected_steps == 0);
  device.require_no_rejected_step();
  const std::vector<unsigned char> before = device.save_bytes();
  const std::vector<unsigned char> amax_before = read_floats(amax.get(), 1);

  // The host optimizer, from the same state, with host copies of the buffers.
  std::vector<mixprec::float8_e4m3> host_copy_fp8(n);
  std::vector<mixprec::bfloat16> host_copy_bf16(m);
  float host_scale = 2.0f, host_amax = 0.0f;
  mixprec::adamw_optimizer host;
  const std::size_t host_group = host.add_group(mixprec::adamw_options{});
  host.add_parameter(host_group, w_bf16, mixprec::model_copy(mixprec::tensor_view(host_copy_bf16.data(), m)));
  host.add_parameter(host_group, w_fp8,
                     mixprec::model_copy(mixprec::tensor_view(host_copy_fp8.data(), n), &host_scale, &host_amax));
  host.load_bytes(before);
  const std::vector<mixprec::const_tensor_view> host_gradients = {mixprec::const_tensor_view(g_bf16.data(), m),
                                                                   mixprec::const_tensor_view(g_fp8.data(), n)};

  const float bad_scales[] = {std::numeric_limits<float>::quiet_NaN(), 0.0f, std::numeric_limits<float>::infinity(),
                              -1.0f, -0.0f, -std::numeric_limits<float>::infinity()};
  std::int64_t refused = 0;
  for (float bad : bad_scales) {
    CAPTURE(bad);
    host_scale = bad;
    MIXPREC_REQUIRE_ERROR(host.step(host_gradients, false), "the model-copy scale of parameter 1 is");
    set_device_float(scale.get(), bad);
    device.step(nullptr, nullptr, nullptr);
    ++refused;
    REQUIRE(device.save_bytes() == before);         // masters, moments, copies, progress, step count
    REQUIRE(read_floats(amax.get(), 1) == amax_before);
    const auto report = device.read_rejected_steps();
    REQUIRE(report.rejected_steps == refused);
    REQUIRE(report.first_parameter == 1);
    REQUIRE(std::isnan(report.first_scale));  // the first refusal's scale is kept
    MIXPREC_REQUIRE_ERROR(device.require_no_rejected_step(), "a model-copy scale was not finite and > 0");
  }
  // found_inf raised as well: still refused and recorded (validation first, as on the host).
  device_array<float> found_inf(1);
  set_device_float(found_inf.get(), 1.0f);
  device.step(found_inf.get(), nullptr, nullptr);
  REQUIRE(device.read_rejected_steps().rejected_steps == refused + 1);
  REQUIRE(device.save_bytes() == before);

  // A good scale again: the step applies, equal to the host's bit for bit.
  host_scale = 0.5f;
  set_device_float(scale.get(), 0.5f);
  set_device_float(amax.get(), 0.0f);  // as host_amax: the step raises it from 0
  host.step(host_gradients, false);
  device.step(nullptr, nullptr, nullptr);
  REQUIRE(device.read_steps() == 2);
  REQUIRE(device.save_bytes() == host.save_bytes());
  REQUIRE(read_floats(amax.get(), 1) == host_bytes(&host_amax, 1));
  // load() clears the record.
  device.load_bytes(before);
  REQUIRE(device.read_rejected_steps().rejected_steps == 0);
}

TEST_CASE("agree_across_ranks hands found_inf and the amaxes to the hook", "[cuda][data_parallel]") {
  mixprec::cuda::device_loss_scaler scaler;
  mixprec::cuda::device_delayed_scaling recipe;
  recipe.add<mixprec::float8_e4m3>();
  recipe.add<mixprec::float8_e5m2>();
  recipe.prepare();
  std::vector<std::pair<const float*, std::size_t>> calls;
  // A stand-in for another rank: MAX with a buffer of its values (found_inf 1, amax 3 and 0).
  const mixprec::cuda::max_allreduce fake = [&](float* buffer, std::size_t count, cudaStream_t stream) {
    calls.emplace_back(buffer, count);
    std::vector<float> mine(count);
    check(cudaMemcpyAsync(mine.data(), buffer, count * sizeof(float), cudaMemcpyDeviceToHost, stream), "copy");
    check(cudaStreamSynchronize(stream), "sync");
    const float other[] = {1.0f, 3.0f, 0.0f};
    for (std::size_t i = 0; i < count; ++i) mine[i] = std::fmax(mine[i], other[count == 1 ? 0 : i + 1]);
    check(cudaMemcpy(buffer, mine.data(), count * sizeof(float), cudaMemcpyHostToDevice), "copy");
  };
  set_device_float(recipe.amax(1), 5.0f);
  mixprec::cuda::agree_across_ranks(fake, scaler, {&recipe});
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].first == scaler.found_inf());
  CHECK(calls[1].second == 2);
  CHECK(scaler.read_found_inf());
  recipe.update();
  CHECK(recipe.read_window_amaxes() == std::vector<float>{3.0f, 5.0f});
}
