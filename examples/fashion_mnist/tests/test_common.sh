# The shared preamble of the demo's CTest scripts (test_arguments.sh,
# test_resume.sh), sourced with their arguments:
#   source "$(dirname "${BASH_SOURCE[0]}")/test_common.sh" "$@"
# It reads PROGRAM and DATA_DIR into $program and $data, works in a fresh
# temporary directory ($work, removed on exit), and counts failures, which
# finish turns into the exit status.
set -uo pipefail
program=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0

# fail MESSAGE: report one failed case and count it.
fail() {
  printf 'FAIL: %s\n' "$*"
  failures=$((failures + 1))
}

# expect_rejection "what must appear in the message" ARGUMENTS...: exit 2, the
# message on stderr, and no training line (the validation came first).
expect_rejection() {
  local expected=$1
  shift
  local output status
  output=$("$program" "$@" 2>&1)
  status=$?
  if [ "$status" -ne 2 ] || [[ "$output" != *"$expected"* ]] || [[ "$output" == *"Training "* ]]; then
    fail "$* : expected exit 2 and \"$expected\" before any training; got exit $status:"$'\n'"$output"
  else
    printf 'ok:   %-70s -> %s\n' "$*" "$expected"
  fi
}

# skip_without_data "the cases that ...": without Fashion-MNIST in $data, say
# so and exit 77 (CTest: skipped), or 1 if a case already failed.
skip_without_data() {
  if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
    echo "SKIPPED: $1 need Fashion-MNIST in $data (apt-get install dataset-fashion-mnist)"
    [ "$failures" -eq 0 ] && exit 77
    exit 1
  fi
}

# finish: exit 0 when every case held, 1 (with the count) otherwise.
finish() {
  [ "$failures" -eq 0 ] || { echo "$failures case(s) failed"; exit 1; }
}
