# The test programs' common parts, included from the top-level CMakeLists.txt
# when the tests are built, before any folder that has a test program
# (examples/ has one, tests/ the rest), so that the folders can be added in
# the order their heaviest files should start compiling.
#
# Defines:
#   mixprec_test_support   INTERFACE: tests/ on the include path (the Catch2
#                          wrapper and the test helpers), Catch2, and CUDA's
#                          host conversion headers where they are installed;
#   mixprec_catch2_runner  STATIC: Catch2's runner, compiled once;
#   MIXPREC_CATCH2_VERSION 2 or 3; MIXPREC_CATCH2_HOST_MAIN the main a host
#                          test program adds to its sources (empty for v3);
#   MIXPREC_CUDA_INCLUDE_DIRS where cuda_fp16.h / cuda_bf16.h / cuda_fp8.h
#                          are (unset without them);
# and includes CMake's Catch module (catch_discover_tests).

# ---- Catch2: v3 where found, else Debian's v2.13 ---------------------------
find_package(Catch2 3 QUIET CONFIG)
if(Catch2_FOUND)
  set(MIXPREC_CATCH2_VERSION 3)
  set(MIXPREC_CATCH2_TARGET Catch2::Catch2WithMain)
else()
  find_package(Catch2 2 REQUIRED CONFIG)
  set(MIXPREC_CATCH2_VERSION 2)
  set(MIXPREC_CATCH2_TARGET Catch2::Catch2)
endif()
list(APPEND CMAKE_MODULE_PATH "${Catch2_DIR}")
include(Catch)
message(STATUS "mixprec: Catch2 v${MIXPREC_CATCH2_VERSION} from ${Catch2_DIR}")

set(MIXPREC_TESTS_DIR ${PROJECT_SOURCE_DIR}/tests)
add_library(mixprec_test_support INTERFACE)
target_include_directories(mixprec_test_support INTERFACE ${MIXPREC_TESTS_DIR})
target_compile_definitions(mixprec_test_support INTERFACE MIXPREC_CATCH2_VERSION=${MIXPREC_CATCH2_VERSION})
target_link_libraries(mixprec_test_support INTERFACE mixprec::mixprec ${MIXPREC_CATCH2_TARGET})
# CUDA's host conversion headers (cuda_fp16.h, cuda_bf16.h, cuda_fp8.h) serve
# as independent references; they compile with g++/clang++, no nvcc needed.
if(CUDAToolkit_FOUND OR EXISTS /usr/local/cuda/include/cuda_fp8.h)
  if(CUDAToolkit_INCLUDE_DIRS)
    set(MIXPREC_CUDA_INCLUDE_DIRS ${CUDAToolkit_INCLUDE_DIRS})
  else()
    set(MIXPREC_CUDA_INCLUDE_DIRS /usr/local/cuda/include)
  endif()
  target_include_directories(mixprec_test_support SYSTEM INTERFACE ${MIXPREC_CUDA_INCLUDE_DIRS})
  target_compile_definitions(mixprec_test_support INTERFACE MIXPREC_HAVE_CUDA_HOST_HEADERS=1)
endif()

# Catch2's runner, compiled once and linked into every test program (Catch2
# v2's implementation alone takes ~20 s to compile): the programs' mains call
# mixprec_test::run_catch2 (tests/support/catch_runner.hpp).
add_library(mixprec_catch2_runner STATIC ${MIXPREC_TESTS_DIR}/support/catch_runner.cpp)
target_link_libraries(mixprec_catch2_runner PUBLIC mixprec_test_support)
mixprec_strict_warnings(mixprec_catch2_runner)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # Catch2 v2's implementation trips g++ 12's -Wmaybe-uninitialized inside
  # <regex> at -O2 with the sanitizers (a false positive in libstdc++).
  target_compile_options(mixprec_catch2_runner PRIVATE -Wno-maybe-uninitialized)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  # Unoptimised: the runner holds Catch2's session and reporters, none of it
  # on a hot path, and -O0 compiles it in a third of the time (ASan + UBSan:
  # 12 s instead of 38 s; g++ -O3: 10 s instead of 21 s).
  target_compile_options(mixprec_catch2_runner PRIVATE -O0)
endif()
# A host test program's main: Catch2 v3 brings its own (Catch2WithMain).
set(MIXPREC_CATCH2_HOST_MAIN)
if(MIXPREC_CATCH2_VERSION EQUAL 2)
  set(MIXPREC_CATCH2_HOST_MAIN ${MIXPREC_TESTS_DIR}/support/catch_main.cpp)
endif()
