#!/usr/bin/env bash
# The main job, from a fresh clone on Debian bookworm:
#   bash examples/run_demo.sh [fashion_mnist_train options...]
# Installs what is missing (compilers, CMake, zlib, gnuplot, Debian's
# dataset-fashion-mnist), builds the demo, and trains the Fashion-MNIST MLP with
# every precision recipe. Results (table, CSV, loss-curve PNG) go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-dependencies.sh
mkdir -p build
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DMIXPREC_BUILD_TESTS=OFF -DMIXPREC_BUILD_BENCHMARKS=OFF \
  >build/demo.configure.log 2>&1 || { cat build/demo.configure.log; exit 1; }
cmake --build build/demo --target fashion_mnist_train -j"$(nproc)" >build/demo.build.log 2>&1 ||
  { cat build/demo.build.log; exit 1; }
exec build/demo/examples/fashion_mnist/fashion_mnist_train --out out/demo "$@"
