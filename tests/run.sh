#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian bookworm:
#   bash tests/run.sh
# 1. installs what is missing (cmake/install-dependencies.sh);
# 2. g++ C++17 Release: builds everything (CUDA tests/benchmarks too when nvcc is
#    at /usr/local/cuda) and runs every test, the exhaustive 2^32 sweeps included;
# 3. g++ C++20 with AddressSanitizer + UndefinedBehaviorSanitizer: the same tests,
#    exhaustive sweeps at a prime stride (every code path, a fraction of inputs);
# 4. clang++ C++20 and clang++ C++17: the strict-warning build of every test,
#    benchmark, example and header (each header compiled on its own), and the
#    non-exhaustive tests run once more under clang.
# Build trees go to build/ci-*. MIXPREC_JOBS overrides the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-dependencies.sh

jobs=${MIXPREC_JOBS:-$(nproc)}
started=$SECONDS
section() { printf '\n==== %s (%ds elapsed)\n' "$1" $((SECONDS - started)); }

configure_and_build() {  # name, then extra CMake arguments
  local name=$1
  shift
  cmake -S . -B "build/ci-$name" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release "$@" >"build/ci-$name.configure.log" 2>&1 ||
    { cat "build/ci-$name.configure.log"; return 1; }
  grep -E "^-- mixprec" "build/ci-$name.configure.log" || true
  cmake --build "build/ci-$name" -j"$jobs" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^Consolidate compiler|^Scanning dependencies' || true
  test "${PIPESTATUS[0]}" -eq 0
}
mkdir -p build

section "g++ C++17 Release: build everything"
configure_and_build gcc-cxx17 -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17

section "clang++ C++20: strict-warning build of everything"
configure_and_build clang-cxx20 -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=20 -DMIXPREC_CUDA=OFF

section "clang++ C++17: headers, examples and benchmarks"
configure_and_build clang-cxx17 -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 -DMIXPREC_CUDA=OFF \
  -DMIXPREC_BUILD_TESTS=ON -DMIXPREC_BUILD_BENCHMARKS=ON -DMIXPREC_BUILD_EXAMPLES=ON

section "g++ C++20 with ASan + UBSan: build"
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
configure_and_build gcc-cxx20-sanitizers -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=20 -DMIXPREC_CUDA=OFF \
  -DMIXPREC_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS=$sanitizers" "-DCMAKE_EXE_LINKER_FLAGS=$sanitizers"

section "clang++ C++20: non-exhaustive tests"
(cd build/ci-clang-cxx20 && ctest -j"$jobs" --output-on-failure -E 'exhaustive|fashion_mnist|install' | tail -n 4)

section "ASan + UBSan: every test (exhaustive sweeps at stride 257)"
(cd build/ci-gcc-cxx20-sanitizers &&
  MIXPREC_EXHAUSTIVE_STRIDE=257 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest -j"$jobs" --output-on-failure -E 'install' | tail -n 4)

section "g++ C++17 Release: every test (exhaustive 2^32 sweeps, install test, GPU tests skip without a GPU)"
(cd build/ci-gcc-cxx17 && ctest -j"$jobs" --output-on-failure)

section "done"
