#!/usr/bin/env bash
# Hostile command lines for fashion_mnist_train (issue 12, defect 18): each is
# rejected with a message naming the option and the value, before any
# training; a diverging run fails; --out is data to gnuplot, never code.
#   bash test_arguments.sh PROGRAM DATA_DIR
# Exit 0: every case held; 1: one failed; 77 (CTest: skipped): the data set
# is missing, so the cases that train could not run (the others still ran).
set -uo pipefail
program=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0

# expect_rejection "what must appear in the message" ARGUMENTS...: exit 2, the
# message on stderr, and no training line (the validation came first).
expect_rejection() {
  local expected=$1
  shift
  local output status
  output=$("$program" "$@" 2>&1)
  status=$?
  if [ "$status" -ne 2 ] || [[ "$output" != *"$expected"* ]] || [[ "$output" == *"Training "* ]]; then
    printf 'FAIL: %s\n  expected exit 2 and "%s" before any training; got exit %d:\n%s\n' "$*" "$expected" "$status" \
      "$output"
    failures=$((failures + 1))
  else
    printf 'ok:   %-60s -> %s\n' "$*" "$expected"
  fi
}

# Numbers are read strictly: stoull would take " -1" as 2^64 - 1.
expect_rejection "--epochs expects a non-negative integer (digits only), got ' -1'" --epochs " -1"
expect_rejection "--epochs 18446744073709551616 is too large" --epochs 18446744073709551616
expect_rejection "--epochs 1000000 is too large: at most 100000" --epochs 1000000
expect_rejection "--batch expects a non-negative integer (digits only), got '+64'" --batch +64
expect_rejection "--report-step 9223372036854775808 is too large: at most 9223372036854775807" \
  --report-step 9223372036854775808
expect_rejection "--lr expects a positive finite number, got ' 0.01'" --lr " 0.01"
expect_rejection "--lr expects a positive finite number, got 'nan'" --lr nan
expect_rejection "--lr expects a positive finite number, got '1e39'" --lr 1e39
expect_rejection "--recipes '' names no recipe" --recipes ""
expect_rejection "unknown recipe 'fp7'" --recipes fp32,fp7
# The microscaling recipes: CPU only, and NVFP4's RHT needs a batch of 16s.
expect_rejection "recipe 'nvfp4' runs on the CPU reference only (--device cpu)" --device cuda --recipes fp32,nvfp4
expect_rejection "recipe nvfp4 applies the 16-point random Hadamard transform along the batch" --batch 100
# An output directory that cannot be written fails at once, not after the run.
expect_rejection "--out /dev/null/results: cannot create the output directory" --out /dev/null/results
touch a_file
expect_rejection "--out a_file exists and is not a directory" --out a_file
# A directory in place of a data file is named as one, not "corrupt gzip data".
mkdir -p fake_data/train-images-idx3-ubyte.gz
expect_rejection "fake_data/train-images-idx3-ubyte.gz: is a directory, not a data file" --data fake_data --out out

if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "SKIPPED: the cases that read or train need Fashion-MNIST in $data (apt-get install dataset-fashion-mnist)"
  [ "$failures" -eq 0 ] && exit 77
  exit 1
fi
small=(--data "$data" --recipes fp32 --train-limit 1280 --test-limit 200 --epochs 1 --batch 64)
expect_rejection "--train-limit 100000 asks for more training images than the 60000" --data "$data" \
  --train-limit 100000 --out out
expect_rejection "--test-limit 20000 asks for more test images than the 10000" --data "$data" --test-limit 20000 \
  --out out
expect_rejection "--report-step 20 is beyond the run's 20 steps (20 per epoch x 1 epochs); give a step from 0 to 19" \
  "${small[@]}" --report-step 20 --out out

# A learning rate that makes fp32 itself diverge: exit 1, with and without --check.
for check in "" --check; do
  output=$("$program" "${small[@]}" --lr 1e30 --no-plot --out diverged $check 2>&1)
  status=$?
  if [ "$status" -ne 1 ] || [[ "$output" != *"fp32 diverged: its final training loss is"* ]]; then
    printf 'FAIL: --lr 1e30 %s: expected exit 1 and "fp32 diverged"; got exit %d:\n%s\n' "$check" "$status" "$output"
    failures=$((failures + 1))
  else
    echo "ok:   --lr 1e30 $check -> exit 1, fp32 diverged"
  fi
done

# --out is a path, never gnuplot code: before the fix it was pasted into a
# `gnuplot -e "...outfile='$out'..."` command, and this one ran `touch pwned`.
hostile="x'; system('touch pwned'); y='"
output=$("$program" "${small[@]}" --out "$hostile" 2>&1)
status=$?
if [ "$status" -ne 0 ] || [ -n "$(find "$work" -name pwned)" ]; then
  printf 'FAIL: --out "%s": expected exit 0 and no file "pwned"; got exit %d, pwned: %s\n%s\n' "$hostile" "$status" \
    "$(find "$work" -name pwned)" "$output"
  failures=$((failures + 1))
elif command -v gnuplot >/dev/null && [ ! -s "$hostile/losses.png" ]; then
  printf 'FAIL: --out "%s": gnuplot is installed but no plot was written:\n%s\n' "$hostile" "$output"
  failures=$((failures + 1))
else
  echo "ok:   --out \"$hostile\" -> results and the plot in that directory, nothing executed"
fi

[ "$failures" -eq 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "every case held"
