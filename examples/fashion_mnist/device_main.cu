// examples/fashion_mnist/device_main.cu — the host functions of
// device_path.hpp over the device trainer (device_trainer.cuh). The one CUDA
// translation unit of fashion_mnist_train.
#include <cuda_runtime.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "device_path.hpp"
#include "device_trainer.cuh"
#include "mixprec/core/error.hpp"

namespace fashion_mnist {

std::string cuda_device_problem() {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess) {
    cudaGetLastError();  // reset the last-error state for later calls
    return std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")";
  }
  if (devices == 0) return "cudaGetDeviceCount reported 0 devices";
  return "";
}

std::string cuda_device_description() {
  const int device = mixprec::cuda::current_device();
  cudaDeviceProp properties{};
  mixprec::cuda::check(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
  std::ostringstream out;
  out << properties.name << ", compute capability " << properties.major << '.' << properties.minor << ", "
      << properties.multiProcessorCount << " SMs";
  return out.str();
}

void check_device_shapes(const std::vector<std::size_t>& widths, std::size_t batch) {
  mixprec::require(batch % device::gemm_multiple == 0, "--batch ", batch, " must be a multiple of ",
                   device::gemm_multiple,
                   " on the device: the batch is K of the weight-gradient GEMM, and cuBLASLt's FP8 kernels "
                   "need K % 16 == 0; use e.g. ",
                   mixprec::gemm::round_up(static_cast<std::int64_t>(batch), device::gemm_multiple));
  for (std::size_t l = 1; l + 1 < widths.size(); ++l) {
    mixprec::require(widths[l] % device::gemm_multiple == 0, "--hidden: width ", widths[l], " (hidden layer ", l,
                     ") must be a multiple of ", device::gemm_multiple,
                     " on the device: it is N of one GEMM and K of the next, and cuBLASLt's FP8 kernels need both "
                     "% 16 == 0; use e.g. ",
                     mixprec::gemm::round_up(static_cast<std::int64_t>(widths[l]), device::gemm_multiple));
  }
}

run_result train_on_device(const recipe& r, const training_options& options, const std::vector<std::size_t>& widths,
                           const prepared_split& train, const prepared_split& test, const progress_callback& progress) {
  check_device_shapes(widths, options.batch_size);
  // Evaluation batches of block recipes are padded to a multiple of 4 rows.
  const auto eval_rows = static_cast<std::size_t>(mixprec::gemm::round_up(static_cast<std::int64_t>(options.eval_batch), 4));
  device::trainer t(r, options, widths, std::max(options.batch_size, eval_rows));
  return t.run(train, test, progress);
}

double time_device_steps(const recipe& r, const training_options& options, const std::vector<std::size_t>& widths,
                         const prepared_split& data, std::size_t warmup, std::size_t steps) {
  check_device_shapes(widths, options.batch_size);
  device::trainer t(r, options, widths, options.batch_size);
  return t.time_steps(data, warmup, steps);
}

}  // namespace fashion_mnist
