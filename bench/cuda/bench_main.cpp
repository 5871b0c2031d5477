// Main of the GPU benchmark program (mixprec_cuda_bench). Without a usable
// CUDA device it says why and exits 77, as the GPU test programs do, so the
// device script (bench/run_device_side_gpu.sh) records "skipped: no CUDA
// device" rather than a run of benchmarks that each report an error. With a
// device: Google Benchmark's own main (this definition replaces the one of
// benchmark::benchmark_main, which the linker then leaves unused).
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device (%s); the GPU benchmarks did not run\n",
                status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount reported 0 devices");
    return 77;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
