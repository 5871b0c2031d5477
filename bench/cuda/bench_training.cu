// GPU benchmarks of the training utilities, measured with CUDA events
// (Google Benchmark's manual time), reported as bytes moved per second.
//
//   fused AdamW step      BF16 gradient read, FP32 master and both moments read
//                         and written, BF16 model copy written: 28 bytes/param
//   unscale + inf check   BF16 gradients read (check and squared norm only: 2
//   (+ norm)              bytes/param) or read and written back (unscale in
//                         place, as torch._amp_foreach_non_finite_check_and_unscale_: 4)
//   device copy           cudaMemcpy device to device: the bandwidth reference
//                         (bytes read + written)
//   scaler / recipe       one launch each per step; the graph variant replays
//   updates               the captured pair (no host work per step but the launch)
//
// Sizes: 2^27 parameters as one tensor, and the many-small-tensors case: 4096
// tensors, tensor i of 1024 · (1 + (37 · i) mod 64) elements (134,479,872 in
// all). bench/torch_training_baseline.py measures PyTorch on the same sizes.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "gpu_timing.hpp"
#include "mixprec/cuda/training.hpp"
#include "mixprec/mixprec.hpp"

namespace {

using mixprec::cuda::training_detail::check;
using mixprec::cuda::training_detail::device_array;

std::vector<std::size_t> tensor_sizes(bool many_small) {
  if (!many_small) return {std::size_t{1} << 27};
  std::vector<std::size_t> sizes(4096);
  for (std::size_t i = 0; i < sizes.size(); ++i) sizes[i] = 1024 * (1 + (37 * i) % 64);
  return sizes;
}

__global__ void fill_kernel(float* out, std::size_t n, std::uint64_t seed, float magnitude) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = magnitude * (static_cast<float>(mixprec::stochastic_rounding_bits(seed, 0, i)) * 0x1p-31f - 1.0f);
  }
}
__global__ void fill_bf16_kernel(mixprec::bfloat16* out, std::size_t n, std::uint64_t seed, float magnitude) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = mixprec::bfloat16(magnitude *
                               (static_cast<float>(mixprec::stochastic_rounding_bits(seed, 0, i)) * 0x1p-31f - 1.0f));
  }
}

using mixprec_bench::have_device;

// Times `body` with CUDA events (bench/cuda/gpu_timing.hpp) and reports the
// bytes it moves per call as GB/s.
template <class Body>
void time_with_events(benchmark::State& state, double bytes_per_call, Body body, cudaStream_t stream = nullptr) {
  mixprec_bench::time_with_events(state, 10, body, stream);
  state.counters["GB/s"] = benchmark::Counter(bytes_per_call / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes"] = bytes_per_call;
}

void BM_device_copy(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const std::size_t bytes = std::size_t{1} << 30;
    device_array<unsigned char> a(bytes), b(bytes);
    check(cudaMemset(a.get(), 1, bytes), "cudaMemset");
    time_with_events(state, 2.0 * static_cast<double>(bytes), [&] {
      check(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpyAsync");
    });
  });
}

struct gradients_on_device {
  std::vector<device_array<mixprec::bfloat16>> tensors;
  std::size_t total = 0;
  explicit gradients_on_device(const std::vector<std::size_t>& sizes, float magnitude) {
    std::uint64_t seed = 1;
    for (std::size_t n : sizes) {
      tensors.emplace_back(n);
      fill_bf16_kernel<<<1024, 256>>>(tensors.back().get(), n, seed++, magnitude);
      total += n;
    }
    check(cudaDeviceSynchronize(), "fill");
  }
};

void BM_fused_adamw_step(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const bool many_small = state.range(0) != 0;
    const std::vector<std::size_t> sizes = tensor_sizes(many_small);
    gradients_on_device gradients(sizes, 1024.0f);
    std::vector<device_array<mixprec::bfloat16>> copies;
    mixprec::cuda::fused_adamw optimizer;
    optimizer.add_group(mixprec::adamw_options{});
    {
      std::size_t largest = 0;
      for (std::size_t n : sizes) largest = n > largest ? n : largest;
      device_array<float> initial(largest);
      fill_kernel<<<1024, 256>>>(initial.get(), largest, 99, 1.0f);
      check(cudaDeviceSynchronize(), "fill");
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        copies.emplace_back(sizes[i]);
        optimizer.add_parameter(0, initial.get(), sizes[i],
                                mixprec::const_tensor_view(gradients.tensors[i].get(), sizes[i]),
                                mixprec::model_copy(mixprec::tensor_view(copies.back().get(), sizes[i])));
      }
    }
    mixprec::cuda::device_loss_scaler scaler;
    optimizer.prepare();
    const double bytes = 28.0 * static_cast<double>(gradients.total);
    time_with_events(state, bytes, [&] { optimizer.step(scaler.found_inf(), scaler.scale(), nullptr); });
    state.counters["params"] = static_cast<double>(gradients.total);
    state.counters["tensors"] = static_cast<double>(sizes.size());
  });
}

void BM_unscale_check_norm(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const bool many_small = state.range(0) != 0;
    const bool write_back = state.range(1) != 0;
    const std::vector<std::size_t> sizes = tensor_sizes(many_small);
    gradients_on_device gradients(sizes, 1.0f);
    mixprec::cuda::gradient_set set;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      set.add(mixprec::tensor_view(gradients.tensors[i].get(), sizes[i]));
    }
    mixprec::dynamic_loss_scaler_options o;
    o.init_scale = 1.0f;  // write-back with scale 1 keeps the values: every call measures the same work
    mixprec::cuda::device_loss_scaler scaler(o);
    set.prepare();
    const double bytes = (write_back ? 4.0 : 2.0) * static_cast<double>(gradients.total);
    time_with_events(state, bytes, [&] { mixprec::cuda::unscale_and_check(set, scaler, nullptr, write_back); });
    state.counters["params"] = static_cast<double>(gradients.total);
    state.counters["tensors"] = static_cast<double>(sizes.size());
  });
}

void BM_scaler_and_recipe_update(benchmark::State& state) {
  if (!have_device(state)) return;
  mixprec_bench::skip_on_error(state, [&] {
    const bool graph = state.range(0) != 0;
    mixprec::cuda::device_loss_scaler scaler;
    mixprec::cuda::device_delayed_scaling recipe;
    for (int i = 0; i < 64; ++i) recipe.add<mixprec::float8_e4m3>();  // e.g. 3 tensors x 21 layers
    recipe.prepare();
    cudaStream_t stream = nullptr;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    cudaGraphExec_t exec = nullptr;
    if (graph) {
      cudaGraph_t g = nullptr;
      check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
      scaler.update(stream);
      recipe.update(stream);
      check(cudaStreamEndCapture(stream, &g), "capture");
      check(cudaGraphInstantiate(&exec, g, 0), "cudaGraphInstantiate");
      cudaGraphDestroy(g);
    }
    time_with_events(
        state, 0.0,
        [&] {
          if (graph) {
            check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
          } else {
            scaler.update(stream);
            recipe.update(stream);
          }
        },
        stream);
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    cudaStreamDestroy(stream);
  });
}

}  // namespace

BENCHMARK(BM_device_copy)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fused_adamw_step)->ArgName("many_small")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_unscale_check_norm)
    ->ArgNames({"many_small", "write_back"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_scaler_and_recipe_update)->ArgName("graph")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
