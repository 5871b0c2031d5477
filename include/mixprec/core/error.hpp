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

#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

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

// Builds a message from any streamable pieces: make_message("K = ", k, " must be ...").
template <class... Pieces>
std::string make_message(const Pieces&... pieces) {
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
