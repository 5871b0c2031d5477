#!/usr/bin/env bash
# The main job, from a fresh clone on Debian bookworm:
#   bash examples/run_demo.sh [fashion_mnist_train options...]
# Installs what is missing (compilers, CMake, zlib, gnuplot, Debian's
# dataset-fashion-mnist), builds the demo, and trains the Fashion-MNIST MLP with
# every precision recipe. Results (table, CSV, plot) go to out/demo/.
#
# The GPU path (--device cuda) is compiled only where it can run or where it
# is asked for: when `nvidia-smi -L` lists a GPU, when the options include
# `--device cuda`, or with MIXPREC_DEMO_CUDA=ON (MIXPREC_DEMO_CUDA=OFF never
# builds it). Without it a CPU-only machine compiles one C++ file.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'run_demo: %s\n' "$*"; }
started=$SECONDS

say "checking the Debian packages the demo needs (installs any that are missing)"
bash cmake/install-dependencies.sh

cuda=${MIXPREC_DEMO_CUDA:-AUTO}
why="no GPU found (nvidia-smi -L); MIXPREC_DEMO_CUDA=ON or --device cuda builds it anyway"
if [ "$cuda" = AUTO ]; then
  cuda=OFF
  previous=
  for argument in "$@"; do
    if [ "$previous" = --device ] && [ "$argument" = cuda ]; then cuda=ON why="asked for by --device cuda"; fi
    previous=$argument
  done
  if [ "$cuda" = OFF ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    cuda=AUTO why="a GPU is present: built when nvcc is found"
  fi
else
  why="MIXPREC_DEMO_CUDA=$cuda"
fi
case "$cuda" in
  ON) estimate="about 1-2 minutes (the CUDA path takes most of it)" ;;
  AUTO) estimate="about 1-2 minutes with nvcc, 20-40 s without" ;;
  *) estimate="about 20-40 s on 2 cores" ;;
esac

mkdir -p build
say "configuring build/demo (Release; CUDA path: $cuda, $why)"
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DMIXPREC_BUILD_TESTS=OFF -DMIXPREC_BUILD_BENCHMARKS=OFF \
  -DMIXPREC_BUILD_EXAMPLES=ON -DMIXPREC_CUDA="$cuda" >build/demo.configure.log 2>&1 ||
  { cat build/demo.configure.log; exit 1; }
say "building fashion_mnist_train with $(nproc) jobs: $estimate (log: build/demo.build.log)"
build_started=$SECONDS
cmake --build build/demo --target fashion_mnist_train -j"$(nproc)" >build/demo.build.log 2>&1 ||
  { cat build/demo.build.log; exit 1; }
say "built in $((SECONDS - build_started)) s; training (the full run: about 5-6 min on 2 idle AVX-512 cores, more on a busy or AVX2-only machine; --quick: well under a minute; a line per epoch with the time left)"
status=0
build/demo/examples/fashion_mnist/fashion_mnist_train --out out/demo "$@" || status=$?
say "finished in $((SECONDS - started)) s; results in out/demo/"
exit $status
