// tests/cuda/device_buffer.hpp — device memory for the GPU tests: an owning
// buffer with host copies in and out, usable from plain C++ (no nvcc). Copies
// and fills complete before they return (mixprec::cuda::copy_and_wait /
// fill_and_wait), so the tests' kernels on non-blocking streams never race
// with them; download() waits for `stream` first (the kernels' stream).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "mixprec/cuda/runtime.hpp"

namespace mixprec_test {

class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes > 0) mixprec::cuda::check(cudaMalloc(&data_, bytes), "cudaMalloc");
  }
  template <class T>
  explicit device_buffer(const std::vector<T>& host) : device_buffer(host.size() * sizeof(T)) {
    upload(host.data(), bytes_);
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) {
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  device_buffer& operator=(device_buffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~device_buffer() {
    if (data_ != nullptr) cudaFree(data_);
  }

  void upload(const void* host, std::size_t bytes, std::size_t offset = 0) {
    mixprec::cuda::copy_and_wait(static_cast<char*>(data_) + offset, host, bytes);
  }
  template <class T>
  std::vector<T> download(std::size_t count, std::size_t offset_bytes = 0, cudaStream_t stream = nullptr) const {
    std::vector<T> host(count);
    mixprec::cuda::copy_and_wait(host.data(), static_cast<const char*>(data_) + offset_bytes, count * sizeof(T), stream);
    return host;
  }
  void fill(unsigned char byte) { mixprec::cuda::fill_and_wait(data_, byte, bytes_); }

  // The buffer's address plus `offset_bytes`, as T* (misaligned on purpose in tests).
  template <class T>
  T* at(std::size_t offset_bytes = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(data_) + offset_bytes);
  }
  void* get() const { return data_; }
  std::size_t size() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace mixprec_test
