/// \file
/// mixprec::cuda::cublas_error, the exception a cuBLASLt call's failure
/// becomes (a mixprec::runtime_error that keeps the cublasStatus_t), so
/// callers can tell "not offered by this cuBLASLt or device" from other
/// failures. Thrown by mixprec/cuda/scaled_gemm.hpp and
/// mixprec/cuda/block_scaled_gemm.hpp, which include this header. Host code
/// only (cublasLt.h): compiles with nvcc and with g++/clang++.
#pragma once

#include <cublasLt.h>

#include <string>

#include "mixprec/core/error.hpp"

namespace mixprec {
namespace cuda {

/// A cuBLASLt call that returned a status other than CUBLAS_STATUS_SUCCESS.
/// what() names the call, the status and the problem; status() is the status
/// itself, so callers can tell "not offered here" (CUBLAS_STATUS_NOT_SUPPORTED,
/// or CUBLAS_STATUS_INVALID_VALUE, which cuBLASLt also returns for attribute
/// combinations it does not support) from other failures.
class cublas_error : public mixprec::runtime_error {
 public:
  /// `message` becomes what(); `status` is kept for status().
  cublas_error(cublasStatus_t status, const std::string& message) : mixprec::runtime_error(message), status_(status) {}
  /// The cuBLASLt status that was returned.
  cublasStatus_t status() const noexcept { return status_; }

 private:
  cublasStatus_t status_;
};

}  // namespace cuda
}  // namespace mixprec
