#!/usr/bin/env bash
# Instructions of one small call, counted by valgrind: the call's cost that a VM whose
# speed moves does not blur (the two builds of a change compared by count, not time).
#
#   scripts/call_instructions.sh BINARY CALL SHAPE [N]
#
# BINARY is examples/call_cost.rs built (`cargo build --release --features openblas
# --example call_cost`; copy target/release/examples/call_cost aside to compare two
# revisions). Prints (I(2N) − I(N)) / N, N = 200 by default: the instructions of one
# call, the process's start and the first call cancelling. valgrind has no AVX-512, so
# the crate runs its AVX2 kernels under it (σ's lanes where valgrind's exp gives
# glibc's bits, as the crate checks at the first call): the kernels' counts are those
# of AVX2, the rest of the call (checks, views, scratch) is the same on either. One
# thread each for OpenBLAS and rayon: idle workers spinning would add to the count.
set -euo pipefail
: "${3:?usage: $0 BINARY CALL SHAPE [N]}"
binary=$1 call=$2 shape=$3 n=${4:-200}
[[ $n =~ ^[1-9][0-9]{0,8}$ ]] || { echo "call_instructions: N $n: a positive integer" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "call_instructions: valgrind not found" >&2; exit 1; }
"$binary" "$call" "$shape" 0 >/dev/null   # bad arguments fail here, with their message
log=$(mktemp)
trap 'rm -f "$log"' EXIT
count() {
  OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1 valgrind --tool=cachegrind --cache-sim=no \
    --cachegrind-out-file=/dev/null --log-file="$log" "$binary" "$call" "$shape" "$1" >/dev/null
  local refs
  refs=$(awk '/I *refs:/ { gsub(/,/, "", $NF); print $NF }' "$log")
  [[ -n $refs ]] || { echo "call_instructions: no count in valgrind's log:" >&2; cat "$log" >&2; exit 1; }
  echo "$refs"
}
once=$(count "$n")
twice=$(count $((2 * n)))
echo "$call $shape: $(((twice - once) / n)) instructions a call"
