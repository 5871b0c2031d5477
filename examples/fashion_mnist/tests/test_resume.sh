#!/usr/bin/env bash
# --checkpoint / --resume of fashion_mnist_train (issue 12): a run stopped
# after epoch 1 and resumed reproduces the uninterrupted run bit for bit
# (steps.csv, numerics_report.csv; epochs.csv and summary.csv without their
# wall-time column), for every recipe; a checkpoint that does not fit the run
# (other arguments, damaged, cut short, missing, not a checkpoint) is rejected
# before any training.
#   bash test_resume.sh PROGRAM DATA_DIR
# Exit 0: every case held; 1: one failed; 77 (CTest: skipped): no data set.
source "$(dirname "${BASH_SOURCE[0]}")/test_common.sh" "$@"

# The cases that need no data first.
expect_rejection "--stop-after 1 without --checkpoint (or --resume) would lose the run" --stop-after 1
expect_rejection "--stop-after must be at least 1" --checkpoint --stop-after 0
expect_rejection "--checkpoint and --resume run on the CPU path only" --resume somewhere --device cuda
expect_rejection "--resume needs the directory" --resume ""

skip_without_data "the resume cases"

# Every recipe, 3 epochs of 20 steps: cheap, and long enough that the
# resumed epochs 2-3 depend on every piece of restored state (moments, loss
# scale and its growth tracker, amax histories, the batch order).
run=("$program" --data "$data" --train-limit 1280 --test-limit 200 --epochs 3 --batch 64 --no-plot)
"${run[@]}" --out full >full.log 2>&1 || fail "the uninterrupted run failed:"$'\n'"$(cat full.log)"
"${run[@]}" --out resumed --checkpoint --stop-after 1 >part.log 2>&1 ||
  fail "the run stopped after epoch 1 failed:"$'\n'"$(cat part.log)"
[[ "$(cat part.log)" == *"Stopped after epoch 1 of 3 (--stop-after)"* ]] || fail "no stop line:"$'\n'"$(cat part.log)"
[ ! -e resumed/steps.csv ] || fail "the stopped run wrote steps.csv: its tables belong to the finished run"
cp -r resumed stopped  # kept for the rejection cases below
# Resumed in place: --resume reads every checkpoint before --out is written.
"${run[@]}" --out resumed --resume resumed >resume.log 2>&1 || fail "the resumed run failed:"$'\n'"$(cat resume.log)"
[[ "$(cat resume.log)" == *"resumed from resumed"* ]] || fail "the resumed run does not say so"
[[ "$(cat resume.log)" != *"epoch  1/3"* ]] || fail "the resumed run trained epoch 1 again"
for file in steps.csv numerics_report.csv; do
  if cmp -s "full/$file" "resumed/$file"; then echo "ok:   $file of the resumed run equals the uninterrupted run's"
  else fail "$file differs:"$'\n'"$(diff "full/$file" "resumed/$file" | head -8)"; fi
done
for file in epochs.csv summary.csv; do  # the last column is wall time
  if cmp -s <(cut -d, -f1-7 "full/$file") <(cut -d, -f1-7 "resumed/$file") && [ "$(wc -l <"full/$file")" -gt 1 ]; then
    echo "ok:   $file of the resumed run equals the uninterrupted run's (wall time aside)"
  else fail "$file differs:"$'\n'"$(diff "full/$file" "resumed/$file" | head -8)"; fi
done
# The comparison can fail: a run from another seed differs in steps.csv.
"${run[@]}" --recipes fp32 --seed 7 --out other >/dev/null 2>&1
if cmp -s <(grep '^fp32,' full/steps.csv) other/steps.csv; then fail "another seed gave the same steps.csv"; fi

# Checkpoints that do not fit this run: rejected before any training.
small=("$program" --data "$data" --train-limit 1280 --test-limit 200 --epochs 3 --batch 64 --no-plot --out again)
expect_rejection "checkpoint-fp8.bin: the checkpoint was written by another run (--seed: checkpoint 20240501, this run 5)" \
  "${small[@]:1}" --recipes fp8 --seed 5 --resume stopped
expect_rejection "(--epochs: checkpoint 3, this run 4)" "${small[@]:1}" --epochs 4 --recipes fp16 --resume stopped
expect_rejection "(--batch: checkpoint 64, this run 32; report step: checkpoint 19, this run 39)" "${small[@]:1}" --batch 32 --recipes fp32 \
  --resume stopped
expect_rejection "(--optimizer: checkpoint adamw, this run sgd; --lr: checkpoint 0.002, this run 0.05)" \
  "${small[@]:1}" --optimizer sgd --recipes bf16 --resume stopped
expect_rejection "training images: checkpoint 1280, this run 640" "${small[@]:1}" --train-limit 640 --recipes fp32 \
  --resume stopped
mkdir -p damaged empty
cp stopped/checkpoint-fp8.bin damaged/
printf '\x01' | dd of=damaged/checkpoint-fp8.bin bs=1 seek=2000 conv=notrunc 2>/dev/null
expect_rejection "damaged/checkpoint-fp8.bin: CRC-32 mismatch" "${small[@]:1}" --recipes fp8 --resume damaged
head -c 3000 stopped/checkpoint-fp16.bin >damaged/checkpoint-fp16.bin
expect_rejection "damaged/checkpoint-fp16.bin: CRC-32 mismatch" "${small[@]:1}" --recipes fp16 --resume damaged
echo "not a checkpoint" >damaged/checkpoint-fp32.bin
expect_rejection "not a fashion_mnist_train checkpoint" "${small[@]:1}" --recipes fp32 --resume damaged
expect_rejection "--resume empty: no checkpoint for recipe bf16" "${small[@]:1}" --recipes bf16 --resume empty
# A checkpoint renamed to another recipe's name: its identity says which it is.
cp stopped/checkpoint-fp8.bin damaged/checkpoint-fp8-current.bin
expect_rejection "(recipe: checkpoint fp8, this run fp8-current)" "${small[@]:1}" --recipes fp8-current --resume damaged

finish
echo "every case held"
