// The NCCL adapter of the data-parallel hook: ncclAllReduce(MAX) in place,
// stream-ordered and capturable, NaN winning. The order keys it reduces are
// checked on the host against the floats' own order and an independent
// NaN-propagating maximum; with one GPU a single-rank communicator checks the
// plumbing (MAX over one rank is the identity: every value, NaN included,
// must come back); with two or more, two ranks check that found_inf and the
// amaxes become the maximum over ranks and that a NaN on one rank reaches both.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mixprec/cuda/nccl_hook.hpp"
#include "mixprec/cuda/training.hpp"
#include "support/catch.hpp"

namespace {
void nccl_check(ncclResult_t result, const char* what) {
  if (result != ncclSuccess) FAIL(what << ": " << ncclGetErrorString(result));
}
std::uint32_t bits_of(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}
float float_of(std::uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}
// The maximum the hook must compute, written from the rule itself: NaN if
// either is NaN, else the larger, +0 over -0.
float nan_propagating_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<float>::quiet_NaN();
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
bool same_or_both_nan(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits_of(a) == bits_of(b); }
}  // namespace

TEST_CASE("the hook's order keys order like the floats, NaN above all, and round-trip", "[cuda][nccl]") {
  using mixprec::cuda::nccl_detail::bits_of_order_key;
  using mixprec::cuda::nccl_detail::order_key;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> values = {0.0f, -0.0f, inf, -inf, std::nanf(""), -std::nanf("0x1"), 1e-45f, -1e-45f,
                               std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 1.0f, -1.0f};
  std::mt19937 rng(3);
  for (int i = 0; i < 500; ++i) values.push_back(float_of(static_cast<std::uint32_t>(rng())));
  for (std::uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 65537) {
    const float x = float_of(static_cast<std::uint32_t>(bits));
    const float back = float_of(bits_of_order_key(order_key(static_cast<std::uint32_t>(bits))));
    CAPTURE(bits);
    REQUIRE(same_or_both_nan(x, back));
    if (std::isnan(x)) REQUIRE(order_key(static_cast<std::uint32_t>(bits)) == 0xFFFFFFFFu);
  }
  for (float a : values) {
    for (float b : values) {
      CAPTURE(a, b, bits_of(a), bits_of(b));
      const std::uint32_t ka = order_key(bits_of(a)), kb = order_key(bits_of(b));
      if (!std::isnan(a) && !std::isnan(b) && a < b) REQUIRE(ka < kb);
      REQUIRE(same_or_both_nan(float_of(bits_of_order_key(ka > kb ? ka : kb)), nan_propagating_max(a, b)));
    }
  }
}

TEST_CASE("nccl_max_allreduce on one rank gives back every value, NaN included", "[cuda][nccl]") {
  ncclComm_t comm = nullptr;
  int device = 0;
  nccl_check(ncclCommInitAll(&comm, 1, &device), "ncclCommInitAll");
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {0.0f, 3.0f, std::nanf(""), inf, 1e-30f, -0.0f, 448.0f, -2.5f};
  mixprec::cuda::device_array<float> buffer(values.size());
  buffer.upload(values);
  mixprec::cuda::nccl_max_allreduce(comm)(buffer.get(), values.size(), nullptr);
  const std::vector<float> back = buffer.download(values.size(), nullptr);
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(i, values[i], back[i]);
    CHECK(same_or_both_nan(values[i], back[i]));
  }
  ncclCommDestroy(comm);
}

TEST_CASE("nccl_max_allreduce on one rank keeps the values and captures into a graph", "[cuda][nccl]") {
  ncclComm_t comm = nullptr;
  int device = 0;
  nccl_check(ncclCommInitAll(&comm, 1, &device), "ncclCommInitAll");
  const mixprec::cuda::max_allreduce all_reduce = mixprec::cuda::nccl_max_allreduce(comm);
  mixprec::cuda::device_loss_scaler scaler;
  mixprec::cuda::device_delayed_scaling recipe;
  recipe.add<mixprec::float8_e4m3>();
  recipe.prepare();
  const float amax = 7.0f, one = 1.0f;
  // Complete before the non-blocking stream below runs (mixprec/cuda/runtime.hpp).
  mixprec::cuda::copy_and_wait(recipe.amax(0), &amax, sizeof(float));
  mixprec::cuda::copy_and_wait(scaler.found_inf(), &one, sizeof(float));
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  mixprec::cuda::agree_across_ranks(all_reduce, scaler, {&recipe}, stream);
  recipe.update(stream);
  scaler.update(stream);
  REQUIRE(cudaStreamEndCapture(stream, &graph) == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, stream) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  CHECK(recipe.read_window_amaxes(stream) == std::vector<float>{7.0f});
  CHECK(scaler.save(stream).skipped_steps == 1);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  ncclCommDestroy(comm);
  MIXPREC_REQUIRE_ERROR(mixprec::cuda::nccl_max_allreduce(nullptr), "communicator is null");
}

TEST_CASE("nccl_max_allreduce over two ranks gives every rank the maximum", "[cuda][nccl]") {
  int devices = 0;
  REQUIRE(cudaGetDeviceCount(&devices) == cudaSuccess);
  if (devices < 2) {
    WARN("SKIPPED: two-rank NCCL test needs two GPUs; this machine has " << devices);
    return;
  }
  int device_list[2] = {0, 1};
  ncclComm_t comms[2] = {nullptr, nullptr};
  nccl_check(ncclCommInitAll(comms, 2, device_list), "ncclCommInitAll");
  // found_inf, two amaxes, and an amax that is NaN on rank 0 only.
  const float found_inf[2] = {0.0f, 1.0f};
  const float amaxes[2][3] = {{3.0f, 0.5f, std::nanf("")}, {1.0f, 9.0f, 2.0f}};
  std::vector<float*> buffers(2);
  for (int r = 0; r < 2; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    REQUIRE(cudaMalloc(&buffers[r], 4 * sizeof(float)) == cudaSuccess);
    const float values[4] = {found_inf[r], amaxes[r][0], amaxes[r][1], amaxes[r][2]};
    mixprec::cuda::copy_and_wait(buffers[r], values, sizeof(values));
  }
  // One host thread per rank, as in data-parallel training: the hook's
  // conversion kernels must not run inside an NCCL group, which would defer
  // the all-reduce past them (see mixprec/cuda/nccl_hook.hpp).
  std::vector<std::thread> ranks;
  std::vector<std::string> errors(2);
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      try {
        mixprec::cuda::check(cudaSetDevice(r), "cudaSetDevice");
        mixprec::cuda::nccl_max_allreduce(comms[r])(buffers[static_cast<std::size_t>(r)], 4, nullptr);
        mixprec::cuda::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  }
  for (std::thread& t : ranks) t.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  for (int r = 0; r < 2; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    float values[4] = {};
    mixprec::cuda::copy_and_wait(values, buffers[r], sizeof(values));
    CAPTURE(r);
    CHECK(values[0] == 1.0f);
    CHECK(values[1] == 3.0f);
    CHECK(values[2] == 9.0f);
    CHECK(std::isnan(values[3]));  // rank 0's NaN reached rank 1
    cudaFree(buffers[r]);
    ncclCommDestroy(comms[r]);
  }
  REQUIRE(cudaSetDevice(0) == cudaSuccess);
}
