#!/usr/bin/env python3
"""PyTorch's numbers for the training-utility benchmarks (bench/cuda/bench_training.cu).

Run on the same GPU, in the same session, as `mixprec_cuda_bench --benchmark_filter=BM_`:

    python3 bench/torch_training_baseline.py            # needs torch with CUDA

It measures, with CUDA events and the same sizes as the C++ benchmark
(2^27 parameters as one tensor; 4096 tensors of 1024 * (1 + (37 i) mod 64)
elements):

  device copy                         tensor.copy_ of 1 GiB (bytes read + written)
  torch.optim.AdamW(fused=True).step  FP32 params, grads, moments: 28 bytes/param
                                      (read g, p, m, v; write p, m, v) — the same
                                      count as mixprec's step (BF16 g read, FP32
                                      p/m/v read+written, BF16 copy written)
  _amp_foreach_non_finite_check_and_unscale_
                                      BF16 grads read and written: 4 bytes/param
                                      (mixprec: write_back=1)
  ... + torch._foreach_norm           the norm clip_grad_norm_ needs, a second
                                      read of the grads: 6 bytes/param touched
                                      (mixprec does it in the unscale pass)

and prints one line per case: name, microseconds per call, GB/s, GB/s as a
fraction of the device copy bandwidth, in the format of the C++ benchmark's
counters so the two outputs sit side by side in bench/RESULTS.md.
"""

import argparse
import statistics
import sys


def tensor_sizes(many_small):
    if not many_small:
        return [1 << 27]
    return [1024 * (1 + (37 * i) % 64) for i in range(4096)]


def time_ms(torch, fn, calls=10, repeats=20):
    """Median milliseconds per call, timed with CUDA events around `calls` calls."""
    fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) / calls)
    return statistics.median(samples)


def report(name, ms, bytes_moved, copy_gbps):
    gbps = bytes_moved / (ms * 1e-3) / 1e9
    fraction = f"{100.0 * gbps / copy_gbps:5.1f} % of copy" if copy_gbps else ""
    print(f"{name:<58} {ms * 1e3:10.1f} us  {gbps:8.1f} GB/s  {fraction}", flush=True)
    return gbps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("SKIPPED: no PyTorch (torch is not installed); this baseline needs PyTorch with CUDA")
        return 77
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (torch.cuda.is_available() is False); run on the GPU machine")
        return 77
    device = torch.device("cuda")
    print(f"# device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; CUDA {torch.version.cuda}")
    torch.manual_seed(0)

    source = torch.ones(1 << 30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    copy_ms = time_ms(torch, lambda: target.copy_(source), repeats=args.repeats)
    copy_gbps = report("device_copy (1 GiB)", copy_ms, 2.0 * source.numel(), 0.0)
    del source, target

    for many_small in (False, True):
        sizes = tensor_sizes(many_small)
        total = sum(sizes)
        label = f"many_small:{int(many_small)} ({len(sizes)} tensors, {total} params)"

        params = [torch.randn(n, device=device, dtype=torch.float32).requires_grad_() for n in sizes]
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer = torch.optim.AdamW(params, lr=1e-3, fused=True)
        ms = time_ms(torch, optimizer.step, repeats=args.repeats)
        report(f"torch.optim.AdamW(fused=True).step {label}", ms, 28.0 * total, copy_gbps)
        del optimizer, params

        grads = [torch.randn(n, device=device, dtype=torch.bfloat16) for n in sizes]
        found_inf = torch.zeros(1, device=device, dtype=torch.float32)
        inv_scale = torch.ones(1, device=device, dtype=torch.float32)  # values unchanged call to call

        def unscale():
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)

        ms = time_ms(torch, unscale, repeats=args.repeats)
        report(f"_amp_foreach_non_finite_check_and_unscale_ {label}", ms, 4.0 * total, copy_gbps)

        def unscale_and_norm():
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)
            norms = torch._foreach_norm(grads, 2.0)
            return torch.linalg.vector_norm(torch.stack(norms), 2.0)

        ms = time_ms(torch, unscale_and_norm, repeats=args.repeats)
        report(f"unscale_ + _foreach_norm {label}", ms, 6.0 * total, copy_gbps)
        del grads
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
