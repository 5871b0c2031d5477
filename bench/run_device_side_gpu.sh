#!/usr/bin/env bash
# The whole device side of mixprec on a GPU machine, in one short run that
# never configures or compiles: it runs what bench/stage_device_run.sh staged
# on the build machine (programs, the libraries the GPU machine may lack, the
# Fashion-MNIST files, the PyTorch baselines) from the git-ignored .device/.
#
# ---- How to run it through the device tool --------------------------------
#   On the build machine (no GPU needed; ~15-25 min of nvcc on 2 cores, most
#   of it ptxas for tests/cuda/test_cast_kernels.cu):
#     bash bench/stage_device_run.sh          # prints the folder's size (< 64 MiB)
#   Then ONE call of the device tool:
#     run(command="bash .device/run_device_side_gpu.sh", carry=[".device"], timeout_s=600)
#   The script keeps itself within MIXPREC_DEVICE_BUDGET_S (default 530 s) of
#   steps, so it ends inside the 600 s limit with time left to bundle, and a
#   fix plus a second run fit in the 15 minutes of device time (1-2 min of
#   start each). Call give_back afterwards unless rerunning at once.
#
# ---- What comes back (at most 8 files from $OUT; 3 are written) -------------
#   $OUT/summary.txt         the one-screen summary, also printed last: each
#                            step, pass / fail / skipped, seconds, its cap, a note
#   $OUT/device_run.tar.gz   every log: device_run/<step>.log (environment.log
#                            first: nvidia-smi, ldd, compute-sanitizer,
#                            torch), benchmark JSON (mixprec_cuda_bench.json,
#                            torch_baseline.json), the demos' CSV files, run.log
#   $OUT/failures.txt        the last 40 lines of each failed step's log
#   Both are rewritten after every step, so a run cut short still returns what
#   it did. Read it here with: tar -xzf <files_at>/device_run.tar.gz -C /tmp
#
# ---- Steps, most valuable first: expected time on an H200 / cap -------------
#   (estimates from the work each step does; nothing here has run on a GPU)
#   environment            ~3 s /  30 s  nvidia-smi, ldd, compute-sanitizer --version, torch
#   gemm_tests            ~40 s /  90 s  mixprec_cuda_tests "[gemm]"
#   cast_tests            ~60 s / 150 s  "[cast]" (CPU references dominate)
#   training_tests        ~20 s /  60 s  scaler, unscale, optimizers, recipes, graph capture
#   nccl_tests             ~5 s /  30 s  (only when mixprec_nccl_tests was staged)
#   demo_quick            ~15 s /  60 s  fashion_mnist_train --quick --device cuda (checks thresholds)
#   demo_full             ~90 s / 150 s  fashion_mnist_train --device cuda (10 epochs, 7 recipes)
#   mixprec_bench         ~80 s / 120 s  mixprec_cuda_bench, --benchmark_min_time=0.05 (GEMM, cast, training)
#   torch_gemm_cast       ~70 s / 100 s  torch._scaled_mm, BF16 mm, torch.compile cast + amax, device copy
#   torch_training        ~15 s /  45 s  torch's fused AdamW and _amp_foreach unscale
#   memcheck              ~60 s /  90 s  compute-sanitizer memcheck on a subset (see below)
#   conversions           ~20 s /  60 s  device conversions, exhaustive sweep at stride 257
#   conversions_exhaustive ~4 min / rest  all 2^32 floats, every format; takes what is left
#   What to cut first when time is short (set MIXPREC_DEVICE_SKIP="a b ..."):
#   conversions_exhaustive, then demo_full, then memcheck, then torch_training.
#   A step that would get under 15 s of the budget is skipped ("out of time
#   budget"); a step that runs past its cap is killed and recorded as
#   "fail: timeout"; a failing step never stops the steps after it.
#
# Without a GPU (the dry run, bash bench/stage_device_run.sh --dry-run, also a
# CTest test) every GPU program exits 77 and its step reads "skipped: no CUDA
# device"; the bundle and the summary come out all the same.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -d "$here/bin" ]; then stage=$here; else stage=$(cd "$here/.." && pwd)/.device; fi
if [ ! -x "$stage/bin/mixprec_cuda_tests" ]; then
  echo "run_device_side_gpu.sh: nothing staged in $stage; on the build machine run: bash bench/stage_device_run.sh" >&2
  exit 2
fi
out=${OUT:-$PWD/out/device_run}
budget=${MIXPREC_DEVICE_BUDGET_S:-530}
skip_list=" ${MIXPREC_DEVICE_SKIP:-} "
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/mixprec_device_run.XXXXXX")
logs=$work/device_run
mkdir -p "$logs"
exec > >(tee "$logs/run.log") 2>&1
started=$SECONDS
export LD_LIBRARY_PATH="$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
tests=$stage/bin/mixprec_cuda_tests
echo "mixprec device-side run from $stage, logs in $logs, bundle to $out, budget ${budget} s"

# ---- Libraries the staging left to this machine (libcublasLt, libnccl) ------
# Searched in CUDA's folders and in the nvidia-* wheels beside PyTorch.
resolve_libraries() {
  local missing lib dir found extra=""
  missing=$(for b in "$stage"/bin/*; do ldd "$b" 2>/dev/null | awk '/not found/ {print $1}'; done | sort -u)
  [ -n "$missing" ] || return 0
  local purelib
  purelib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
  for lib in $missing; do
    found=""
    for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
               /usr/lib/x86_64-linux-gnu /usr/local/lib; do
      if [ -e "$dir/$lib" ]; then found=$dir; break; fi
    done
    if [ -z "$found" ] && [ -n "$purelib" ] && [ -d "$purelib/nvidia" ]; then
      found=$(find "$purelib/nvidia" -name "$lib" -printf '%h\n' 2>/dev/null | head -n 1)
    fi
    if [ -n "$found" ]; then
      echo "library $lib: from $found"
      case ":$LD_LIBRARY_PATH:$extra:" in *":$found:"*) ;; *) extra="$extra:$found" ;; esac
    else
      echo "library $lib: NOT FOUND on this machine"
    fi
  done
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH$extra"
}
resolve_libraries

# ---- Is there a GPU? (the benchmark program exits 77 without one, 0 listing) --
"$stage/bin/mixprec_cuda_bench" --benchmark_list_tests=true >/dev/null 2>&1
probe=$?
gpu=1
[ "$probe" = 77 ] && gpu=0
have_torch=0
python3 -c 'import torch' >/dev/null 2>&1 && have_torch=1
sanitizer=$(command -v compute-sanitizer || { [ -x /usr/local/cuda/bin/compute-sanitizer ] && echo /usr/local/cuda/bin/compute-sanitizer; } || true)

# ---- Step bookkeeping --------------------------------------------------------
rows=()
failed_steps=()
record() {  # name status seconds cap note
  rows+=("$(printf '%-23s %-32s %7s %5s  %s' "$1" "$2" "$3" "$4" "$5")")
}
write_bundle() {
  {
    echo "mixprec device-side run, $(date -u +%Y-%m-%dT%H:%M:%SZ): ${gpu_name:-no GPU}; budget ${budget} s, $((SECONDS - started)) s so far"
    printf '%-23s %-32s %7s %5s  %s\n' step status seconds cap note
    printf '%s\n' "${rows[@]}"
  } >"$out/summary.txt"
  : >"$out/failures.txt"
  for name in "${failed_steps[@]}"; do
    { echo "==== $name (last 40 lines of $name.log)"; tail -n 40 "$logs/$name.log"; echo; } >>"$out/failures.txt"
  done
  [ -s "$out/failures.txt" ] || echo "no step failed" >"$out/failures.txt"
  cp "$out/summary.txt" "$logs/summary.txt"
  # run.log grows while it is archived: GNU tar's exit 1 ("file changed") is fine, 2 is not.
  tar --warning=no-file-changed -czf "$out/device_run.tar.gz.part" -C "$work" device_run 2>/dev/null
  if [ $? -le 1 ]; then mv "$out/device_run.tar.gz.part" "$out/device_run.tar.gz"; else rm -f "$out/device_run.tar.gz.part"; fi
}
# A note for the summary from a step's log: Catch2's totals, or the last line.
note_of() {
  local log=$1 line
  line=$(grep -E "^(All tests passed|test cases:)" "$log" | tail -n 1)
  [ -n "$line" ] || line=$(grep -v '^\s*$' "$log" | tail -n 1)
  printf '%s' "${line:0:70}"
}
step() {  # name cap command...: runs it under its own timeout, records the outcome
  local name=$1 cap=$2
  shift 2
  local log=$logs/$name.log elapsed=$((SECONDS - started))
  local remaining=$((budget - elapsed))
  if [[ $skip_list == *" $name "* ]]; then record "$name" "skipped: MIXPREC_DEVICE_SKIP" 0 "$cap" ""; write_bundle; return; fi
  if [ "$remaining" -lt 15 ]; then record "$name" "skipped: out of time budget" 0 "$cap" "${elapsed} s used of ${budget}"; write_bundle; return; fi
  [ "$cap" -gt "$remaining" ] && cap=$remaining
  echo "== [$name] cap ${cap} s, ${elapsed} s elapsed: $*"
  local t0=$SECONDS
  { echo "\$ $*"; echo; } >"$log"
  timeout -k 10 "$cap" "$@" >>"$log" 2>&1
  local rc=$? seconds=$((SECONDS - t0)) status
  case $rc in
    0) status=pass ;;
    77) status="skipped: $(grep -m 1 -o 'SKIPPED: .*' "$log" | sed -E 's/^SKIPPED: //; s/ \(.*//; s/: .*//' | cut -c1-23)"
        [ "$status" = "skipped: " ] && status="skipped (exit 77)" ;;
    124|137) status="fail: timeout after ${cap} s"; failed_steps+=("$name") ;;
    *) status="fail (exit $rc)"; failed_steps+=("$name") ;;
  esac
  echo "   [$name] $status in ${seconds} s"
  record "$name" "$status" "$seconds" "$cap" "$(note_of "$log")"
  write_bundle
}
skip_step() {  # name reason
  record "$1" "skipped: $2" 0 - ""
  echo "== [$1] skipped: $2"
  write_bundle
}

# ---- 1. Environment ------------------------------------------------------------
environment_report() {
  set +e
  echo "date: $(date -u)"; echo "host: $(uname -a)"; echo "cores: $(nproc)"; free -g 2>/dev/null | head -n 2
  echo; echo "---- nvidia-smi"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
      --format=csv
    nvidia-smi
  else
    echo "nvidia-smi: not installed"
  fi
  echo; echo "---- compute-sanitizer"
  if [ -n "$sanitizer" ]; then "$sanitizer" --version; else echo "compute-sanitizer: not found"; fi
  echo; echo "---- python3 / torch"
  python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
  echo; echo "---- LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  local missing=0
  for b in "$stage"/bin/*; do
    echo "---- ldd $(basename "$b")"
    ldd "$b"
    ldd "$b" | grep -q "not found" && missing=1
  done
  echo; echo "---- staged MANIFEST.txt"; cat "$stage/MANIFEST.txt"
  if [ "$missing" = 1 ]; then echo "a shared library is missing (see ldd above)"; return 1; fi
  echo "every shared library resolved"
}
export -f environment_report
export stage sanitizer
gpu_name=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
step environment 30 bash -c environment_report

# ---- 2-4. GPU tests ----------------------------------------------------------
step gemm_tests 90 "$tests" "[gemm]" --durations yes
step cast_tests 150 "$tests" "[cast]" --durations yes
step training_tests 60 "$tests" "[cuda]~[cast]~[gemm]~[conversion]" --durations yes
if [ -x "$stage/bin/mixprec_nccl_tests" ]; then
  step nccl_tests 30 "$stage/bin/mixprec_nccl_tests" --durations yes
fi

# ---- 5. The demo on the device ----------------------------------------------
demo=$stage/bin/fashion_mnist_train
step demo_quick 60 "$demo" --quick --device cuda --data "$stage/data" --out "$logs/demo_quick"
step demo_full 150 "$demo" --device cuda --data "$stage/data" --out "$logs/demo_full"

# ---- 6. Benchmarks, short minimum times ---------------------------------------
step mixprec_bench 120 "$stage/bin/mixprec_cuda_bench" --benchmark_min_time=0.05 \
  --benchmark_out="$logs/mixprec_cuda_bench.json" --benchmark_out_format=json
if [ "$have_torch" = 1 ]; then
  step torch_gemm_cast 100 python3 "$stage/py/torch_scaled_mm_baseline.py" --json "$logs/torch_baseline.json"
  step torch_training 45 python3 "$stage/py/torch_training_baseline.py" --repeats 10
else
  skip_step torch_gemm_cast "no PyTorch (python3 -c 'import torch' failed)"
  skip_step torch_training "no PyTorch"
fi

# ---- 7. compute-sanitizer memcheck on a subset --------------------------------
# The kernels with shared-memory tiles and vector accesses at odd shapes
# (cast-transpose, block scales), the stream-order and graph tests, the GEMM's
# graph replay and plan cache, and the multi-tensor training kernels.
memcheck_subset="cast-transpose equals the reference*,row-wise and block scales equal the reference*,stream order*,graph capture and replay with new scales,plans are cached per key and reused,[unscale],[fp8_scaling],*recipe and optimizer updates capture*,packed FP4 pairs*,block casts are stream-ordered*"
if [ "$gpu" = 0 ]; then
  skip_step memcheck "no CUDA device"
elif [ -z "$sanitizer" ]; then
  skip_step memcheck "no compute-sanitizer"
else
  step memcheck 90 "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 20 "$tests" "$memcheck_subset"
fi

# ---- 8. Device conversions, the exhaustive sweep last ---------------------------
step conversions 60 env MIXPREC_EXHAUSTIVE_STRIDE=257 "$tests" "[conversion]" --durations yes
step conversions_exhaustive 600 "$tests" "[conversion][exhaustive]" --durations yes

# ---- Summary ---------------------------------------------------------------------
write_bundle
echo
cat "$out/summary.txt"
echo "bundle: $out/device_run.tar.gz ($(du -h "$out/device_run.tar.gz" | cut -f1)); failures: $out/failures.txt"
rm -rf "$work"  # everything is in the bundle
[ "${#failed_steps[@]}" = 0 ]
