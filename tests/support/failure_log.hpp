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

// A failure_log that also counts the checks made, so a test can assert that
// its sweep checked something (CHECK(log.checked > 0)) as well as that
// nothing failed (CHECK(log.count == 0)).
struct check_log : failure_log {
  std::uint64_t checked = 0;

  void check(bool ok, const std::string& line) {
    ++checked;
    if (!ok) add(line);
  }
};

}  // namespace mixprec_test
