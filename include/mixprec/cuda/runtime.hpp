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

/// Copies `bytes` between host and device memory (cudaMemcpyDefault: unified
/// addressing, either direction, pageable or pinned) and returns once the copy
/// is complete: cudaMemcpyAsync on `stream`, then cudaStreamSynchronize. A
/// plain cudaMemcpy is not enough for buffers that kernels on other streams
/// use: by CUDA's API synchronisation rules (CUDA Runtime API, "API
/// synchronization behavior") a pageable host-to-device cudaMemcpy may return
/// once the source is staged, before the DMA lands, and it is ordered only
/// against the legacy default stream, not against cudaStreamNonBlocking
/// streams. After this call the data is in place for work on any stream, and
/// the source may be freed. Reading memory that a kernel writes: pass that
/// kernel's stream (or synchronise it first). Not capturable (it synchronises).
/// Throws mixprec::runtime_error naming the call when CUDA fails.
inline void copy_and_wait(void* destination, const void* source, std::size_t bytes, cudaStream_t stream = nullptr) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDefault, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after a copy)");
}

/// Sets `bytes` of device memory to `byte` and returns once done (the memset
/// counterpart of copy_and_wait, for the same reason: cudaMemset is
/// asynchronous for device memory and ordered only against the legacy stream).
/// Throws mixprec::runtime_error naming the call when CUDA fails.
inline void fill_and_wait(void* destination, int byte, std::size_t bytes, cudaStream_t stream = nullptr) {
  if (bytes == 0) return;
  check(cudaMemsetAsync(destination, byte, bytes, stream), "cudaMemsetAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after a memset)");
}

// Owns n elements of device memory (cudaMalloc / cudaFree), move-only: the
// buffers of the training utilities, and a ready one for programs that use
// them. upload() and download() are synchronised (copy_and_wait: complete when
// they return, so safe with kernels on any stream; set-up and reads, never
// inside a captured step); zero() is stream-ordered.
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

  /// n elements from host or device memory (cudaMemcpyDefault: unified
  /// addressing), complete on return (copy_and_wait on `stream`). Throws
  /// mixprec::error when n exceeds size(), mixprec::runtime_error when CUDA fails.
  void upload(const T* source, std::size_t n, cudaStream_t stream = nullptr) {
    require(n <= size_, "mixprec::cuda::device_array: uploading ", n, " elements into ", size_);
    copy_and_wait(data_, source, n * sizeof(T), stream);
  }
  /// The whole vector, growing the array if it is too small.
  void upload(const std::vector<T>& host, cudaStream_t stream = nullptr) {
    if (host.size() > size_) *this = device_array(host.size());
    upload(host.data(), host.size(), stream);
  }
  /// The first n elements, after the work already enqueued on `stream` (pass
  /// the stream of the kernels that wrote them). Throws mixprec::error when n
  /// exceeds size(), mixprec::runtime_error when CUDA fails.
  void download(T* host, std::size_t n, cudaStream_t stream = nullptr) const {
    require(n <= size_, "mixprec::cuda::device_array: reading ", n, " elements of ", size_);
    copy_and_wait(host, data_, n * sizeof(T), stream);
  }
  /// The first n elements as a host vector (same rules as the overload above).
  std::vector<T> download(std::size_t n, cudaStream_t stream = nullptr) const {
    std::vector<T> host(n);
    download(host.data(), n, stream);
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
