// tests/support/catch_runner.hpp — the one entry into Catch2's test runner.
//
// Catch2 v2's implementation is one large header that takes ~20 s to compile;
// catch_runner.cpp compiles it once (the static library mixprec_catch2_runner)
// and every test program's main (catch_main.cpp, cuda_main.cpp) calls in here.
#pragma once

namespace mixprec_test {

// Runs the test cases selected by the command line; returns Catch2's exit code.
int run_catch2(int argc, char* argv[]);

}  // namespace mixprec_test
