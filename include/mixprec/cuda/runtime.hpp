/// \file
/// mixprec/cuda/runtime.hpp — CUDA runtime statuses as exceptions, the
/// device facts the launchers size their grids by, and owned device memory.
///
/// Host code only (cuda_runtime.h): compiles with nvcc and with g++/clang++
/// against the CUDA headers, so host programs can call the GEMM wrapper
/// without nvcc.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

#include "mixprec/core/error.hpp"

namespace mixprec {
namespace cuda {

/// Throws mixprec::runtime_error naming the call and CUDA's error when status
/// is not cudaSuccess.
///
/// `what` names the call in the message ("cudaMalloc", ...).
/// \throws mixprec::runtime_error when `status` is not cudaSuccess.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw mixprec::runtime_error(mixprec::detail::make_message("mixprec::cuda: ", what, " failed: ",
                                                               cudaGetErrorName(status), " (",
                                                               cudaGetErrorString(status), ")"));
  }
}

/// The current device's ordinal.
/// \throws mixprec::runtime_error when cudaGetDevice fails.
inline int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

/// Streaming multiprocessors of the current device, queried once per device
/// (a launcher asks on every call; cudaDeviceGetAttribute is cheap, but not
/// free).
/// \throws mixprec::runtime_error when the CUDA query fails.
inline int multiprocessor_count() {
  static std::array<std::atomic<int>, 64> cache{};
  const int device = current_device();
  if (device >= 0 && device < static_cast<int>(cache.size())) {
    const int known = cache[static_cast<std::size_t>(device)].load(std::memory_order_relaxed);
    if (known > 0) return known;
  }
  int count = 0;
  check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  if (device >= 0 && device < static_cast<int>(cache.size()))
    cache[static_cast<std::size_t>(device)].store(count, std::memory_order_relaxed);
  return count;
}

/// Owns n elements of device memory (cudaMalloc / cudaFree), move-only: the
/// buffers of the training utilities, and a ready one for programs that use
/// them. Copies are synchronous (set-up and reads, never inside a captured
/// step); zero() is stream-ordered.
///
/// T is trivially copyable; sizes are in elements, not bytes.
template <class T>
class device_array {
 public:
  /// Empty: no memory, get() is null, size() is 0.
  device_array() = default;
  /// Allocates n elements, uninitialised (no allocation for n == 0).
  /// \throws mixprec::runtime_error when cudaMalloc fails.
  explicit device_array(std::size_t n) : size_(n) {
    if (n > 0) check(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)), "cudaMalloc");
  }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  /// Takes other's memory; other is left empty.
  device_array(device_array&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  /// Frees this array's memory and takes other's; other is left empty.
  device_array& operator=(device_array&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~device_array() { release(); }

  /// The device pointer (null when empty).
  T* get() const noexcept { return data_; }
  /// Number of elements.
  std::size_t size() const noexcept { return size_; }

  /// n elements from host or device memory (cudaMemcpyDefault: unified addressing).
  ///
  /// Copies into the first n elements, synchronously.
  /// \throws mixprec::error when n > size(); mixprec::runtime_error when the copy fails.
  void upload(const T* source, std::size_t n) {
    require(n <= size_, "mixprec::cuda::device_array: uploading ", n, " elements into ", size_);
    if (n > 0) check(cudaMemcpy(data_, source, n * sizeof(T), cudaMemcpyDefault), "cudaMemcpy to the device");
  }
  /// The whole vector, growing the array if it is too small.
  ///
  /// Growing allocates a new array of host.size() elements (get() changes, the old
  /// contents are freed). \throws mixprec::runtime_error when allocation or the copy fails.
  void upload(const std::vector<T>& host) {
    if (host.size() > size_) *this = device_array(host.size());
    upload(host.data(), host.size());
  }
  /// Copies the first n elements to `host` (host or device memory), synchronously.
  /// \throws mixprec::error when n > size(); mixprec::runtime_error when the copy fails.
  void download(T* host, std::size_t n) const {
    require(n <= size_, "mixprec::cuda::device_array: reading ", n, " elements of ", size_);
    if (n > 0) check(cudaMemcpy(host, data_, n * sizeof(T), cudaMemcpyDefault), "cudaMemcpy from the device");
  }
  /// The first n elements, copied into a new vector, synchronously.
  /// \throws mixprec::error when n > size(); mixprec::runtime_error when the copy fails.
  std::vector<T> download(std::size_t n) const {
    std::vector<T> host(n);
    download(host.data(), n);
    return host;
  }
  /// Sets every byte to zero, stream-ordered on `stream` (cudaMemsetAsync).
  /// \throws mixprec::runtime_error when the call fails.
  void zero(cudaStream_t stream) {
    if (size_ > 0) check(cudaMemsetAsync(data_, 0, size_ * sizeof(T), stream), "cudaMemsetAsync");
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace cuda
}  // namespace mixprec
