#!/usr/bin/env bash
# Hostile command lines for fashion_mnist_train (issue 12, defect 18): each is
# rejected with a message naming the option and the value, before any
# training; a diverging run fails; --out is data to gnuplot, never code.
#   bash test_arguments.sh PROGRAM DATA_DIR
# Exit 0: every case held; 1: one failed; 77 (CTest: skipped): the data set
# is missing, so the cases that train could not run (the others still ran).
source "$(dirname "${BASH_SOURCE[0]}")/test_common.sh" "$@"

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

skip_without_data "the cases that read or train"
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
    fail "--lr 1e30 $check: expected exit 1 and \"fp32 diverged\"; got exit $status:"$'\n'"$output"
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
  fail "--out \"$hostile\": expected exit 0 and no file \"pwned\"; got exit $status, pwned: $(find "$work" -name pwned)"$'\n'"$output"
elif command -v gnuplot >/dev/null && [ ! -s "$hostile/losses.png" ]; then
  fail "--out \"$hostile\": gnuplot is installed but no plot was written:"$'\n'"$output"
else
  echo "ok:   --out \"$hostile\" -> results and the plot in that directory, nothing executed"
fi

finish
echo "every case held"
