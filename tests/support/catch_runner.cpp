// Catch2's runner, compiled once for every test program (see catch_runner.hpp).
#if MIXPREC_CATCH2_VERSION == 2
#define CATCH_CONFIG_RUNNER  // v2: this translation unit holds the implementation, without a main
#endif
#include "support/catch_runner.hpp"

#include "support/catch.hpp"

int mixprec_test::run_catch2(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
