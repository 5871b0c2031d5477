// examples/fashion_mnist/device_path.hpp — the GPU path of the demo as host
// functions (defined in device_main.cu, compiled only when the build has
// CUDA: MIXPREC_FASHION_MNIST_CUDA), so main.cpp stays a plain C++ file.
//
// The device trainer (device_trainer.cuh) runs the same recipes as the CPU
// trainer (mlp.hpp) from the same shared pieces (training_setup.hpp: initial
// weights, batch order, schedule, records), on mixprec's device parts: cast
// kernels, the cuBLASLt GEMM, the device loss scaler, delayed FP8 scaling and
// the fused optimizer.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "recipes.hpp"
#include "training_setup.hpp"

namespace fashion_mnist {

// Empty when a CUDA device can be used; otherwise why not, in words.
std::string cuda_device_problem();

// "NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs".
std::string cuda_device_description();

// The device's shape rules (cuBLASLt's FP8 kernels: N and K multiples of 16):
// the batch and every hidden width must be multiples of 16. Throws
// mixprec::error naming the value.
void check_device_shapes(const std::vector<std::size_t>& widths, std::size_t batch);

// Trains one recipe on the device with the CPU trainer's semantics; the
// numerics report is left empty (it is computed by the CPU path only).
run_result train_on_device(const recipe& r, const training_options& options, const std::vector<std::size_t>& widths,
                           const prepared_split& train, const prepared_split& test, const progress_callback& progress);

// Milliseconds per training step, measured with CUDA events over `steps`
// steps after `warmup` untimed ones, on the batches of `data` in order, at the
// peak learning rate (no schedule updates, no host reads inside the timed
// steps).
double time_device_steps(const recipe& r, const training_options& options, const std::vector<std::size_t>& widths,
                         const prepared_split& data, std::size_t warmup, std::size_t steps);

}  // namespace fashion_mnist
