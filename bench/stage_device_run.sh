#!/usr/bin/env bash
# Stages the whole device-side run (bench/run_device_side_gpu.sh) into one
# git-ignored folder, on the BUILD machine, so that the GPU machine — which
# has nvcc, CMake, PyTorch and compute-sanitizer but no Catch2, no Google
# Benchmark, no zlib headers and no package registry — only runs programs:
#
#   bash bench/stage_device_run.sh                      # Release build (sm_90a) in build/device-stage, then stage
#   bash bench/stage_device_run.sh --build-dir build/x  # stage from an existing build (rebuilds the targets there)
#   bash bench/stage_device_run.sh --build-dir build/x --no-build   # stage what build/x already holds
#   bash bench/stage_device_run.sh --dry-run            # then run the staged script here (no GPU: every GPU
#                                                       # step must say "skipped: no CUDA device") and check it
#
# Options: --stage-dir DIR (default .device), --jobs N (default 2), --out DIR
# (--dry-run's bundle; default DIR/dry-run-out).
#
# What goes into the stage folder (printed with its size at the end; the
# device tool carries at most 64 MiB):
#   bin/   mixprec_cuda_tests, mixprec_cuda_bench, fashion_mnist_train, and
#          mixprec_nccl_tests when NCCL was found;
#   lib/   the shared libraries those programs need that the GPU machine may
#          lack (ldd: libbenchmark, libz, libcudart, ...). Left out: the C/C++
#          runtime and the driver (the GPU machine's own), and libraries over
#          32 MiB (libcublasLt ~0.5 GiB, libnccl ~0.2 GiB), which the device
#          script finds there (CUDA's lib64, PyTorch's nvidia-* wheels);
#   data/  the four Fashion-MNIST .gz files (Debian's dataset-fashion-mnist);
#   py/    bench/torch_scaled_mm_baseline.py, bench/torch_training_baseline.py;
#   run_device_side_gpu.sh, and MANIFEST.txt (commit, build, sizes, sha256s).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

build_dir=build/device-stage
stage_dir=.device
jobs=${MIXPREC_JOBS:-2}
do_build=1
dry_run=0
dry_out=
data_dir=/usr/share/datasets/fashion-mnist
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --stage-dir) stage_dir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    --out) dry_out=$2; shift 2 ;;
    --data) data_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "stage_device_run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
die() { echo "stage_device_run.sh: $*" >&2; exit 1; }
started=$SECONDS

programs=(tests/mixprec_cuda_tests bench/mixprec_cuda_bench examples/fashion_mnist/fashion_mnist_train)
optional_programs=(tests/mixprec_nccl_tests)

# A tree whose device code is compiled without optimisation (nvcc -G, as
# tests/run.sh builds it where no GPU is) would time a debug build: refused,
# except for a dry run (which times nothing: CI's device_run_dry_run stages
# its -G tree).
require_optimised_device_code() {
  if grep -E '^CMAKE_CUDA_FLAGS[A-Z_]*:STRING=' "$build_dir/CMakeCache.txt" 2>/dev/null |
    grep -Eq '(=| )(-G|--device-debug)( |$)'; then
    local why="$build_dir compiles device code with -G (unoptimised; tests/run.sh does so without a GPU)"
    [ "$dry_run" = 1 ] || die "$why: pass another --build-dir"
    echo "note: $why: fine for a dry run, which times nothing"
  fi
}

if [ "$do_build" = 1 ]; then
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    echo "== configuring $build_dir (Release, MIXPREC_CUDA=ON, sm_90a)"
    mkdir -p "$(dirname "$build_dir")"  # a fresh clone has no build/
    # Ninja where installed: it builds the three programs at once (make's
    # top-level Makefile builds several targets one after another).
    generator=()
    if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
    cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMIXPREC_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90a >"$build_dir.configure.log" 2>&1 ||
      { cat "$build_dir.configure.log"; die "configure failed"; }
  fi
  compgen -G "$build_dir/CMakeFiles/*/CMakeCUDACompiler.cmake" >/dev/null && ! grep -q '^MIXPREC_CUDA:STRING=OFF' "$build_dir/CMakeCache.txt" ||
    die "$build_dir was configured without CUDA; pass another --build-dir or remove it"
  require_optimised_device_code
  targets=(--target mixprec_cuda_tests --target mixprec_cuda_bench --target fashion_mnist_train)
  if grep -q '^MIXPREC_NCCL_LIBRARY:.*nccl' "$build_dir/CMakeCache.txt"; then targets+=(--target mixprec_nccl_tests); fi
  echo "== building ${targets[*]} in $build_dir (-j$jobs; test_cast_kernels.cu alone is minutes of ptxas)"
  build_started=$SECONDS
  cmake --build "$build_dir" -j"$jobs" "${targets[@]}" >"$build_dir.stage-build.log" 2>&1 ||
    { grep -E -B2 -A12 "FAILED:|error|Error" "$build_dir.stage-build.log" | head -n 80; die "build failed (log: $build_dir.stage-build.log)"; }
  echo "   built in $((SECONDS - build_started)) s"
fi

for p in "${programs[@]}"; do
  [ -x "$build_dir/$p" ] || { echo "SKIPPED: $build_dir/$p is not built (needs MIXPREC_CUDA=ON, Google Benchmark, zlib)"; exit 77; }
done
[ "$do_build" = 1 ] || require_optimised_device_code
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$build_dir/CMakeCache.txt" ||
  echo "warning: $build_dir is not a Release build; its benchmark figures would not count"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ ! -f "$data_dir/$f" ]; then
    [ "$dry_run" = 1 ] && { echo "SKIPPED: $data_dir/$f is missing (apt-get install dataset-fashion-mnist)"; exit 77; }
    die "$data_dir/$f is missing (apt-get install dataset-fashion-mnist, or --data DIR)"
  fi
done

echo "== staging into $stage_dir"
rm -rf "$stage_dir"
mkdir -p "$stage_dir/bin" "$stage_dir/lib" "$stage_dir/data" "$stage_dir/py"
for p in "${programs[@]}" "${optional_programs[@]}"; do
  [ -x "$build_dir/$p" ] && cp "$build_dir/$p" "$stage_dir/bin/"
done
cp "$data_dir"/{train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz,t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz} \
  "$stage_dir/data/"
cp bench/torch_scaled_mm_baseline.py bench/torch_training_baseline.py "$stage_dir/py/"
cp bench/run_device_side_gpu.sh "$stage_dir/"

# Shared libraries: what ldd resolves, minus the system's C/C++ runtime and
# the driver (the GPU machine brings its own, matching its kernel and GPU),
# minus the very large CUDA libraries (found there by the device script).
system_library='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libcuda|libnvidia-)[.-]'
left_to_gpu_machine=()
for binary in "$stage_dir"/bin/*; do
  while read -r name _ path _; do
    [ -n "$name" ] || continue
    name=$(basename "$name")
    if [[ $name =~ $system_library ]]; then continue; fi
    if [ "$path" = "not" ] || [ ! -f "$path" ]; then
      left_to_gpu_machine+=("$name (not found here)")
      continue
    fi
    [ -f "$stage_dir/lib/$name" ] && continue
    size=$(stat -L -c %s "$path")
    if [ "$size" -gt $((32 << 20)) ]; then
      left_to_gpu_machine+=("$name ($((size >> 20)) MiB)")
      continue
    fi
    cp -L "$path" "$stage_dir/lib/$name"
  done < <(ldd "$binary" | awk '/=>/ {print $1, $2, $3, $4} !/=>/ {print $1, "=>", $1, ""}')
done
mapfile -t left_to_gpu_machine < <(printf '%s\n' "${left_to_gpu_machine[@]}" | sort -u | sed '/^$/d')

{
  echo "mixprec device-side run, staged $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  # The commit the programs were built from: the build's own source tree.
  source_dir=$(grep -E '^CMAKE_HOME_DIRECTORY:' "$build_dir/CMakeCache.txt" | cut -d= -f2)
  echo "built from: ${source_dir:-?} at commit $(git -C "${source_dir:-.}" rev-parse HEAD 2>/dev/null || echo unknown)$(
    git -C "${source_dir:-.}" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "build: $build_dir ($(grep -E '^CMAKE_BUILD_TYPE:' "$build_dir/CMakeCache.txt" | cut -d= -f2)," \
       "CUDA architectures $(grep -E '^CMAKE_CUDA_ARCHITECTURES:' "$build_dir/CMakeCache.txt" | cut -d= -f2))"
  echo "nvcc: $(/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -n 2 | head -n 1)"
  echo "left to the GPU machine: ${left_to_gpu_machine[*]:-nothing}"
  # The newest C / C++ runtime symbol versions the staged files need: the GPU
  # machine's own libc and libstdc++ must provide them.
  for f in "$stage_dir"/bin/* "$stage_dir"/lib/*; do
    echo "needs $(basename "$f"): $(objdump -T "$f" 2>/dev/null | grep -oE '(GLIBC|GLIBCXX|CXXABI)_[0-9.]+' |
      sort -u | sort -t_ -k1,1 -k2,2V | awk -F_ '{newest[$1] = $0} END {for (k in newest) printf "%s ", newest[k]}')"
  done
  echo
  (cd "$stage_dir" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum)
} >"$stage_dir/MANIFEST.txt"

bytes=$(du -sb "$stage_dir" | cut -f1)
echo "   programs: $(cd "$stage_dir/bin" && ls | tr '\n' ' ')"
echo "   libraries: $(cd "$stage_dir/lib" && ls | tr '\n' ' ')"
echo "   found on the GPU machine instead: ${left_to_gpu_machine[*]:-nothing}"
grep '^needs ' "$stage_dir/MANIFEST.txt" | sed 's/^/   /' 
du -sh "$stage_dir"/* | sed 's/^/   /'
echo "   total: $bytes bytes ($((bytes >> 20)) MiB) in $stage_dir; staged in $((SECONDS - started)) s"
# The device tool's 64 MiB cover the working tree that travels too (tracked
# and untracked, not ignored, files) besides the carried folder.
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) 2>/dev/null | xargs -0 -r du -cb 2>/dev/null |
  awk '$2 == "total" {sum += $1} END {print sum + 0}')
echo "   with the working tree that travels with it ($((tree_bytes >> 10)) KiB): $(((bytes + tree_bytes) >> 20)) MiB of the tool's 64"
[ $((bytes + tree_bytes)) -lt $((64 << 20)) ] ||
  die "$stage_dir plus the working tree is $(((bytes + tree_bytes) >> 20)) MiB: over the device tool's 64 MiB"

if [ "$dry_run" = 0 ]; then
  cat <<EOF
Next, through the device tool (see the header of bench/run_device_side_gpu.sh):
  run(command="bash $stage_dir/run_device_side_gpu.sh", carry=["$stage_dir"], timeout_s=600)
EOF
  exit 0
fi

# ---- Dry run: the staged script on this machine, with no GPU visible ------
dry_out=${dry_out:-$stage_dir/dry-run-out}
rm -rf "$dry_out"
mkdir -p "$dry_out"
echo "== dry run: OUT=$dry_out CUDA_VISIBLE_DEVICES='' bash $stage_dir/run_device_side_gpu.sh"
CUDA_VISIBLE_DEVICES= OUT=$dry_out bash "$stage_dir/run_device_side_gpu.sh"
status=$?
failures=0
fail() { echo "DRY RUN FAILED: $*"; failures=$((failures + 1)); }
[ "$status" = 0 ] || fail "the device script exited $status (every GPU step should be skipped, none failed)"
[ -f "$dry_out/summary.txt" ] || fail "no $dry_out/summary.txt"
[ -f "$dry_out/device_run.tar.gz" ] || fail "no $dry_out/device_run.tar.gz"
count=$(find "$dry_out" -type f | wc -l)
[ "$count" -le 8 ] || fail "$count files under OUT; the device tool returns at most 8"
deep=$(find "$dry_out" -mindepth 3 -type f | wc -l)
[ "$deep" = 0 ] || fail "$deep files more than 2 folders down under OUT"
if [ -f "$dry_out/summary.txt" ]; then
  summary=$(cat "$dry_out/summary.txt")
  for step in gemm_tests cast_tests training_tests demo_quick demo_full mixprec_bench memcheck conversions; do
    line=$(grep -E "^$step " <<<"$summary")
    [[ $line == *"skipped: no CUDA device"* ]] || fail "step $step is not 'skipped: no CUDA device' in the summary: $line"
  done
  line=$(grep -E "^environment " <<<"$summary")
  [[ $line == *" pass "* ]] || fail "the environment step did not pass: $line"
  if grep -E " fail[ :]" <<<"$summary"; then fail "a step failed"; fi
fi
if [ -f "$dry_out/device_run.tar.gz" ]; then
  listing=$(tar -tzf "$dry_out/device_run.tar.gz")  # (grep -q on a pipe would stop tar early: SIGPIPE)
  grep -q 'device_run/gemm_tests.log' <<<"$listing" || fail "the bundle holds no gemm_tests.log"
fi
[ "$failures" = 0 ] || exit 1
echo "DRY RUN OK: every GPU step skipped visibly, the bundle ($count files) and the summary came out"
