/// \file
/// mixprec/core/error.hpp — the exception types of the library.
///
/// Every rejected argument throws mixprec::error, derived from
/// std::invalid_argument (itself a std::logic_error) so callers that already
/// catch standard exceptions keep working. Runtime failures of external
/// libraries (CUDA, cuBLASLt) throw mixprec::runtime_error, derived from
/// std::runtime_error. Messages name the broken constraint, the values seen
/// and what to do.
#pragma once

#include <cfenv>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

#include "mixprec/core/mxcsr.hpp"

namespace mixprec {

/// A rejected argument: a precondition of a mixprec function does not hold.
///
/// Derived from std::invalid_argument; what() names the broken constraint, the
/// values seen and what to do.
class error : public std::invalid_argument {
 public:
  /// Constructs the exception with the complete message returned by what().
  explicit error(const std::string& message) : std::invalid_argument(message) {}
};

/// A failure reported at run time by an external library (CUDA runtime, cuBLASLt, NCCL).
///
/// Derived from std::runtime_error; what() names the failing call and the
/// library's error code or string.
class runtime_error : public std::runtime_error {
 public:
  /// Constructs the exception with the complete message returned by what().
  explicit runtime_error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

// The default floating-point environment while a message is written, the
// caller's again afterwards (flags included). A message names the values it
// rejects, and must name them as they are whatever the caller set: under DAZ
// the float -> double widening inside operator<< reads a subnormal as 0 (a
// rejected scale of 1e-45 would print "0"), and glibc rounds the decimal
// digits in the current rounding mode. Only rejected calls pay for it.
class default_environment_while_formatting {
 public:
  default_environment_while_formatting() noexcept : rounding_mode_(std::fegetround()), mxcsr_(read_mxcsr()) {
    std::fesetround(FE_TONEAREST);
    write_mxcsr(mxcsr_ & ~(mxcsr_denormals_are_zero | mxcsr_flush_to_zero));
  }
  ~default_environment_while_formatting() {
    std::fesetround(rounding_mode_);
    write_mxcsr(mxcsr_);
  }
  default_environment_while_formatting(const default_environment_while_formatting&) = delete;
  default_environment_while_formatting& operator=(const default_environment_while_formatting&) = delete;

 private:
  int rounding_mode_;
  std::uint32_t mxcsr_;
};

// Builds a message from any streamable pieces: make_message("K = ", k, " must be ..."),
// in the default floating-point environment.
template <class... Pieces>
std::string make_message(const Pieces&... pieces) {
  const default_environment_while_formatting environment;
  std::ostringstream out;
  (void)std::initializer_list<int>{((void)(out << pieces), 0)...};
  return out.str();
}

}  // namespace detail

/// Throws mixprec::error when the condition is false.
///
/// The message is the concatenation of `pieces`, each written with `operator<<`.
/// \throws mixprec::error when `condition` is false.
template <class... Pieces>
void require(bool condition, const Pieces&... pieces) {
  if (!condition) throw error(detail::make_message(pieces...));
}

}  // namespace mixprec
