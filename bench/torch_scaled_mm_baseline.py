#!/usr/bin/env python3
"""PyTorch baselines for mixprec's GPU benchmarks (issue 3), on the same shapes.

  GEMM: torch._scaled_mm (E4M3 x E4M3 -> BF16, per-tensor / row-wise /
        1x128 x 128x128 block scales, fast accumulation off and on, and an
        E4M3 output) and torch.mm in BF16, in TFLOP/s;
  cast: torch.compile'd fused cast + amax (FP32 / BF16 -> E4M3 with a scale,
        saturating), in GB/s of bytes read + written, beside a device copy.

Compare with bench/cuda/bench_gemm.cpp and bench/cuda/bench_cast.cu
(mixprec_cuda_bench) run in the same session on the same GPU, and record both
in bench/RESULTS.md as ratios.

    python3 bench/torch_scaled_mm_baseline.py [--json out.json] [--quick]
"""
import argparse
import datetime
import json
import statistics
import sys

import torch

GEMM_SHAPES = [
    (8192, 8192, 8192),
    (4096, 4096, 4096),
    (16384, 8192, 1024),
    (4096, 14336, 4096),
    (64, 2112, 7168),
    (16, 8192, 8192),
    (64, 8192, 8192),
    (128, 8192, 8192),
]
CAST_SIZES = [1 << 26, 1 << 28]
E4M3_MAX = 448.0


def time_ms(fn, repeats=20, warmup=3):
    """Median milliseconds per call of fn over `repeats` event-timed calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def gemm_benchmarks(shapes, repeats):
    rows = []
    f8 = torch.float8_e4m3fn
    for m, n, k in shapes:
        a = torch.randn(m, k, device="cuda").to(f8)
        b = torch.randn(n, k, device="cuda").to(f8)  # row-major [N, K]; _scaled_mm takes its transpose
        one = torch.ones((), device="cuda")
        flops = 2.0 * m * n * k

        def record(name, fn):
            try:
                ms = time_ms(fn, repeats)
                rows.append({"benchmark": name, "m": m, "n": n, "k": k, "ms": ms, "tflops": flops / ms / 1e9})
            except Exception as error:  # a recipe this PyTorch / cuBLAS does not offer
                rows.append({"benchmark": name, "m": m, "n": n, "k": k, "error": str(error).splitlines()[0]})

        for fast in (False, True):
            record(f"scaled_mm_tensor_bf16out{'_fastaccum' if fast else ''}",
                   lambda fast=fast: torch._scaled_mm(a, b.t(), one, one, out_dtype=torch.bfloat16,
                                                      use_fast_accum=fast))
        record("scaled_mm_tensor_e4m3out",
               lambda: torch._scaled_mm(a, b.t(), one, one, scale_result=one, out_dtype=f8))
        row_a = torch.ones(m, 1, device="cuda")
        row_b = torch.ones(1, n, device="cuda")
        for fast in (False, True):
            record(f"scaled_mm_rowwise_bf16out{'_fastaccum' if fast else ''}",
                   lambda fast=fast: torch._scaled_mm(a, b.t(), row_a, row_b, out_dtype=torch.bfloat16,
                                                      use_fast_accum=fast))
        # DeepSeek-style blocks: A 1x128 ([M, K/128], strides (1, M)), B 128x128
        # ([round_up(K/128, 4), N/128], strides (1, round_up(K/128, 4))).
        kb = (k + 127) // 128
        kb4 = (kb + 3) // 4 * 4
        block_a = torch.ones(kb, m, device="cuda").t()
        block_b = torch.ones((n + 127) // 128, kb4, device="cuda").t()
        record("scaled_mm_block_1x128_128x128_bf16out",
               lambda: torch._scaled_mm(a, b.t(), block_a, block_b, out_dtype=torch.bfloat16))
        a16 = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        b16 = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        record("mm_bf16", lambda: torch.mm(a16, b16.t()))
        del a, b, a16, b16
        torch.cuda.empty_cache()
    return rows


def cast_benchmarks(sizes, repeats):
    rows = []

    def cast_amax(x, scale):
        amax = x.abs().amax()
        q = (x.float() * scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
        return q, amax

    compiled = torch.compile(cast_amax)
    for n in sizes:
        scale = torch.ones((), device="cuda")
        src = torch.randn(n, device="cuda")
        dst = torch.empty_like(src)
        ms = time_ms(lambda: dst.copy_(src), repeats)
        rows.append({"benchmark": "device_copy_f32", "n": n, "ms": ms, "gbps": 2 * 4 * n / ms / 1e6})
        for dtype, size in ((torch.float32, 4), (torch.bfloat16, 2)):
            x = src.to(dtype)
            ms = time_ms(lambda: compiled(x, scale), repeats)
            rows.append({"benchmark": f"compiled_cast_amax_{str(dtype).split('.')[-1]}_e4m3", "n": n, "ms": ms,
                         "gbps": (size + 1) * n / ms / 1e6})
            del x
        del src, dst
        torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats (a smoke test)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device; the PyTorch baselines did not run")
        return 77
    repeats = 5 if args.quick else 20
    shapes = GEMM_SHAPES[:2] if args.quick else GEMM_SHAPES
    sizes = CAST_SIZES[:1] if args.quick else CAST_SIZES
    header = {
        "device": torch.cuda.get_device_name(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    print(json.dumps(header))
    gemm = gemm_benchmarks(shapes, repeats)
    for row in gemm:
        if "error" in row:
            print(f"{row['benchmark']:44s} {row['m']:6d} {row['n']:6d} {row['k']:6d}  unsupported: {row['error']}")
        else:
            print(f"{row['benchmark']:44s} {row['m']:6d} {row['n']:6d} {row['k']:6d}  {row['ms']:9.4f} ms  "
                  f"{row['tflops']:8.1f} TFLOP/s")
    cast = cast_benchmarks(sizes, repeats)
    for row in cast:
        print(f"{row['benchmark']:44s} n=2^{row['n'].bit_length() - 1:<3d}  {row['ms']:9.4f} ms  "
              f"{row['gbps']:8.1f} GB/s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({**header, "gemm": gemm, "cast": cast}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
