// The NCCL adapter of the data-parallel hook: ncclAllReduce(MAX) in place,
// stream-ordered and capturable. With one GPU a single-rank communicator
// checks the plumbing (MAX over one rank is the identity); with two or more,
// two ranks check that found_inf and the amaxes become the maximum over ranks.
#include <cuda_runtime.h>
#include <nccl.h>

#include <vector>

#include "mixprec/cuda/nccl_hook.hpp"
#include "mixprec/cuda/training.hpp"
#include "support/catch.hpp"

namespace {
void nccl_check(ncclResult_t result, const char* what) {
  if (result != ncclSuccess) FAIL(what << ": " << ncclGetErrorString(result));
}
}  // namespace

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
  REQUIRE(cudaMemcpy(recipe.amax(0), &amax, sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  REQUIRE(cudaMemcpy(scaler.found_inf(), &one, sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
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
  const float found_inf[2] = {0.0f, 1.0f};
  const float amaxes[2][2] = {{3.0f, 0.5f}, {1.0f, 9.0f}};
  std::vector<float*> buffers(2);
  for (int r = 0; r < 2; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    REQUIRE(cudaMalloc(&buffers[r], 3 * sizeof(float)) == cudaSuccess);
    const float values[3] = {found_inf[r], amaxes[r][0], amaxes[r][1]};
    REQUIRE(cudaMemcpy(buffers[r], values, sizeof(values), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  // One thread drives both ranks: NCCL needs the calls grouped.
  nccl_check(ncclGroupStart(), "ncclGroupStart");
  for (int r = 0; r < 2; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    mixprec::cuda::nccl_max_allreduce(comms[r])(buffers[r], 3, nullptr);
  }
  nccl_check(ncclGroupEnd(), "ncclGroupEnd");
  for (int r = 0; r < 2; ++r) {
    REQUIRE(cudaSetDevice(r) == cudaSuccess);
    float values[3] = {};
    REQUIRE(cudaMemcpy(values, buffers[r], sizeof(values), cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(values[0] == 1.0f);
    CHECK(values[1] == 3.0f);
    CHECK(values[2] == 9.0f);
    cudaFree(buffers[r]);
    ncclCommDestroy(comms[r]);
  }
  REQUIRE(cudaSetDevice(0) == cudaSuccess);
}
