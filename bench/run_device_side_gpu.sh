#!/usr/bin/env bash
# The device side of mixprec (issue 3) on a GPU machine, in one go:
#   1. builds the CUDA tests and benchmarks (Release, sm_90a);
#   2. runs the cast-kernel and scaled-GEMM GPU tests, then the cast tests
#      once more under compute-sanitizer memcheck;
#   3. runs the GEMM and cast benchmarks (mixprec_cuda_bench) and, when
#      PyTorch is installed, bench/torch_scaled_mm_baseline.py in the same
#      session, so the ratios in bench/RESULTS.md compare like with like.
# Results go to ${OUT:-out/device_side}: test logs, benchmark JSON, and the
# nvidia-smi line of the device.
#   bash bench/run_device_side_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/device_side}
mkdir -p "$out"
jobs=${MIXPREC_JOBS:-$(nproc)}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/device.csv"
cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DMIXPREC_CUDA=ON >"$out/configure.log" 2>&1
cmake --build build/gpu -j"$jobs" --target mixprec_cuda_tests mixprec_cuda_bench >"$out/build.log" 2>&1

status=0
./build/gpu/tests/mixprec_cuda_tests "[cast],[gemm]" 2>&1 | tee "$out/tests.log" || status=1
if command -v compute-sanitizer >/dev/null || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  # Memcheck is slow: the cast kernels' tests and a few GEMM cases.
  "$sanitizer" --tool memcheck --error-exitcode 1 ./build/gpu/tests/mixprec_cuda_tests \
    "[cast]","graph capture and replay with new scales","plans are cached per key and reused" \
    2>&1 | tail -n 20 | tee "$out/memcheck.log" || status=1
fi

./build/gpu/bench/mixprec_cuda_bench --benchmark_filter='gemm_throughput|host_overhead|copy|quantize|cast_transpose|blockwise|dequantize|amax_only' \
  --benchmark_out="$out/mixprec_cuda_bench.json" --benchmark_out_format=json 2>&1 | tee "$out/mixprec_cuda_bench.txt"
if python3 -c 'import torch' 2>/dev/null; then
  python3 bench/torch_scaled_mm_baseline.py --json "$out/torch_baseline.json" | tee "$out/torch_baseline.txt"
else
  echo "PyTorch not installed: torch._scaled_mm / torch.compile baselines not measured" | tee "$out/torch_baseline.txt"
fi
exit $status
