#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian bookworm:
#   bash tests/run.sh
# 1. installs what is missing (cmake/install-dependencies.sh);
# 2. g++ C++17 Release: builds everything (the CUDA tests and benchmarks too
#    when nvcc is at /usr/local/cuda; GPU tests skip visibly without a GPU,
#    and without one the device code is compiled unoptimised: nvcc -G) and
#    runs every test, the exhaustive 2^32 sweeps included;
# 3. clang++ C++20 with AddressSanitizer + UndefinedBehaviorSanitizer: every
#    test again, the exhaustive sweeps at a prime stride (every code path, a
#    fraction of the inputs); every header compiled on its own;
# 4. g++ C++20 (Release) and clang++ C++17 (-O0): every header compiled on its
#    own, the examples and the host benchmarks — so, with steps 2 and 3, each
#    header is held to -Wall -Wextra -Wpedantic -Werror by both compilers in
#    both standards.
# The front-door tests (label front_door: the README's demo command from a
# fresh clone of HEAD, its code blocks, install and consumption, a configure
# without the optional dependencies) run once, in step 2's build.
# Build trees go to build/ci-* (Ninja). MIXPREC_JOBS overrides the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-dependencies.sh

jobs=${MIXPREC_JOBS:-$(nproc)}
started=$SECONDS
section() { printf '\n==== %s (%ds elapsed)\n' "$1" $((SECONDS - started)); }
mkdir -p build

# Ninja, not make: it compiles a program's files while the libraries it links
# are still compiling, and builds several targets at once (CMake's top-level
# Makefile builds them one after another), so both cores stay busy.
configure() {  # name, then CMake arguments
  local name=$1
  shift
  if [ -f "build/ci-$name/CMakeCache.txt" ] && ! grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja$" "build/ci-$name/CMakeCache.txt"; then
    rm -rf "build/ci-$name"  # made by another generator, which CMake would refuse to switch
  fi
  cmake -S . -B "build/ci-$name" -G Ninja "$@" >"build/ci-$name.configure.log" 2>&1 ||
    { cat "build/ci-$name.configure.log"; return 1; }
  grep -E "^-- mixprec" "build/ci-$name.configure.log" || true
}
build() {  # name, then optional targets
  local name=$1
  shift
  local targets=()
  for target in "$@"; do targets+=(--target "$target"); done
  cmake --build "build/ci-$name" -j"$jobs" "${targets[@]}" >"build/ci-$name.build.log" 2>&1 ||
    { grep -E -B2 -A12 "FAILED:|error|Error" "build/ci-$name.build.log" | head -n 150; return 1; }
}
run_tests() {  # name, then ctest arguments
  local name=$1
  shift
  (cd "build/ci-$name" && ctest -j"$jobs" --output-on-failure "$@")
}

section "g++ C++17 Release: build everything"
# Device code that no GPU will run is compiled without device optimisation
# (nvcc -G: cicc and ptxas at -O0; the build's CUDA CPU time falls by 40 %,
# test_cast_kernels.cu's from 53 to 11 s): the front end and ptxas still
# check every kernel and every inline PTX instruction, and
# -Werror=all-warnings holds. With a GPU (nvidia-smi lists one, or the driver
# has a /dev/nvidiaN), or with MIXPREC_DEVICE_CODE=optimized, it is built as
# users build it, and the GPU tests run on that. The host code is Release
# either way.
has_gpu() {
  { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; } ||
    compgen -G '/dev/nvidia[0-9]*' >/dev/null
}
device_flags=()
if [ "${MIXPREC_DEVICE_CODE:-}" != optimized ] && ! has_gpu; then
  device_flags=(-DCMAKE_CUDA_FLAGS=-G)
  echo "no GPU: device code compiled unoptimised (nvcc -G), checked but never run"
else
  device_flags=(-DCMAKE_CUDA_FLAGS=)
fi
configure gcc-cxx17 -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17 "${device_flags[@]}"
build gcc-cxx17

section "clang++ C++20 with ASan + UBSan: build the tests and every header on its own"
# -O1, as the sanitizers' documentation advises, and line tables only: the
# reports still name file and line, and the build takes a quarter less CPU
# than at -O2 -g (RelWithDebInfo's default). The header checks here are
# clang++'s C++20 ones (step 4 has the other two pairs, step 2 g++ C++17's).
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
configure clang-cxx20-sanitizers -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=20 -DMIXPREC_CUDA=OFF -DMIXPREC_BUILD_BENCHMARKS=OFF \
  -DMIXPREC_BUILD_EXAMPLES=OFF "-DCMAKE_CXX_FLAGS=$sanitizers" "-DCMAKE_EXE_LINKER_FLAGS=$sanitizers"
build clang-cxx20-sanitizers mixprec_tests mixprec_header_self_containment

section "g++ C++20 and clang++ C++17: every header on its own, examples, benchmarks"
# Compile checks, never run. g++ optimised (Release), as users build: some of
# its warnings come from the optimiser and differ between standards (g++ 12's
# false -Wrestrict on `"-" + std::string` appears only in C++20 at -O3).
# clang++ unoptimised (-O0, 3-5x faster for the heavy files): its warnings
# come from the front end, the same at every optimisation level.
configure gcc-cxx20 -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=20 -DMIXPREC_CUDA=OFF
build gcc-cxx20 mixprec_header_self_containment formats_tour fashion_mnist_train mixprec_bench
configure clang-cxx17 -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O0 -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 \
  -DMIXPREC_CUDA=OFF
build clang-cxx17 mixprec_header_self_containment formats_tour fashion_mnist_train mixprec_bench

section "ASan + UBSan: every host test (exhaustive sweeps at stride 257)"
MIXPREC_EXHAUSTIVE_STRIDE=257 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_tests clang-cxx20-sanitizers -LE front_door

section "g++ C++17 Release: every test (exhaustive 2^32 sweeps, install test, demo quick mode; GPU tests skip without a GPU)"
# In a checkout without changes (CI's clean clone), fashion_mnist_quick is
# left out: readme_run_demo_quick_from_fresh_clone runs the same `--quick`
# training with the same thresholds on a fresh clone of the same sources.
# With changes (the clone has only HEAD) it runs, as in ctest.
same_as_head=()
if git rev-parse --verify -q HEAD >/dev/null 2>&1 && [ -z "$(git status --porcelain 2>/dev/null)" ]; then
  same_as_head=(-E '^fashion_mnist_quick$')
  echo "the checkout equals HEAD: fashion_mnist_quick is left to the fresh-clone demo run"
fi
run_tests gcc-cxx17 "${same_as_head[@]}"
section "done"
