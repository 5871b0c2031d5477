// Kernels of the device-conversion tests: the same conversion functions the
// host uses (mixprec::convert, convert_stochastic, static_cast<float>), compiled
// for the GPU, where they may take hardware fast paths.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/device_conversion.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/types.hpp"

namespace mixprec_test {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

template <class T>
__global__ void encode_kernel(mixprec::rounding mode, mixprec::saturation policy, std::uint32_t first,
                              std::uint32_t count, typename T::storage_type* codes) {
  for (std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    const float x = __uint_as_float(first + i);
    codes[i] = mixprec::convert<T>(x, mode, policy).bits();
  }
}

template <class T>
__global__ void encode_stochastic_kernel(mixprec::saturation policy, std::uint64_t seed, std::uint32_t first,
                                         std::uint32_t count, typename T::storage_type* codes) {
  for (std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    const float x = __uint_as_float(first + i);
    codes[i] = mixprec::convert_stochastic<T>(x, mixprec::stochastic_rounding_bits(seed, 0, first + i), policy).bits();
  }
}

template <class T>
__global__ void decode_kernel(std::uint32_t count, std::uint32_t* float_bits) {
  for (std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    float_bits[i] = __float_as_uint(static_cast<float>(T::from_bits(static_cast<typename T::storage_type>(i))));
  }
}

// Runs `launch(device_buffer)` for the format's type and copies count codes back.
template <class Element, class Launch>
void run_and_copy(std::uint32_t count, Element* host_out, Launch launch) {
  Element* device_out = nullptr;
  check(cudaMalloc(&device_out, sizeof(Element) * count), "cudaMalloc");
  launch(device_out);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(host_out, device_out, sizeof(Element) * count, cudaMemcpyDeviceToHost);
  cudaFree(device_out);
  check(launched, "kernel launch");
  check(copied, "cudaMemcpy");
}

constexpr int block_size = 256;
constexpr int grid_size = 132 * 16;

}  // namespace

void encode_range_on_device(format_id format, mixprec::rounding mode, mixprec::saturation policy,
                            std::uint32_t first, std::uint32_t count, void* host_codes) {
  with_type(format, [&](auto type_tag) {
    using T = decltype(type_tag);
    using code = typename T::storage_type;
    run_and_copy(count, static_cast<code*>(host_codes), [&](code* out) {
      encode_kernel<T><<<grid_size, block_size>>>(mode, policy, first, count, out);
    });
  });
}

void encode_stochastic_range_on_device(format_id format, mixprec::saturation policy, std::uint64_t seed,
                                       std::uint32_t first, std::uint32_t count, void* host_codes) {
  with_type(format, [&](auto type_tag) {
    using T = decltype(type_tag);
    using code = typename T::storage_type;
    run_and_copy(count, static_cast<code*>(host_codes), [&](code* out) {
      encode_stochastic_kernel<T><<<grid_size, block_size>>>(policy, seed, first, count, out);
    });
  });
}

void decode_all_codes_on_device(format_id format, std::uint32_t* host_float_bits) {
  with_type(format, [&](auto type_tag) {
    using T = decltype(type_tag);
    const std::uint32_t count = 1u << (8 * sizeof(T));
    run_and_copy(count, host_float_bits, [&](std::uint32_t* out) {
      decode_kernel<T><<<grid_size, block_size>>>(count, out);
    });
  });
}

}  // namespace mixprec_test
