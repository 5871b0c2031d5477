// tests/support/failure_log.hpp — counts the failures of a sweep and keeps
// the first few lines for the assertion's message, so a loop over thousands
// of cases asserts once (CHECK(log.count == 0)) instead of expanding a
// Catch2 assertion per case.
#pragma once

#include <cstdint>
#include <string>

namespace mixprec_test {

struct failure_log {
  std::uint64_t count = 0;
  std::string first;  // the first `kept` lines, each indented and ended by a newline
  static constexpr std::uint64_t kept = 8;

  void add(const std::string& line) {
    if (count++ < kept) first += "  " + line + "\n";
  }
};

}  // namespace mixprec_test
