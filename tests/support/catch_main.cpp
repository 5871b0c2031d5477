// Main of a host test program with Catch2 v2 (v3 links Catch2::Catch2WithMain
// instead); the runner itself is compiled once, in catch_runner.cpp.
#include "support/catch_runner.hpp"

int main(int argc, char* argv[]) { return mixprec_test::run_catch2(argc, argv); }
