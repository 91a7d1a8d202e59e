#!/usr/bin/env bash
# Instructions of one small call, counted by valgrind: the call's cost that a VM whose
# speed moves does not blur (the two builds of a change compared by count, not time).
#
#   scripts/call_instructions.sh BINARY CALL SHAPE [N]
#
# BINARY is examples/call_cost.rs built (`cargo build --release --features openblas
# --example call_cost`; copy target/release/examples/call_cost aside to compare two
# revisions). Prints (I(2N) − I(N)) / N, N = 200 by default: the instructions of one
# call, the process's start and the first call cancelling. valgrind 3.19 has no
# AVX-512, so the crate runs its AVX2 kernels under it: the kernels' counts are those
# of AVX2, the rest of the call (checks, views, scratch) is the same on either. One
# thread each for OpenBLAS and rayon: idle workers spinning would add to the count.
set -euo pipefail
binary=$1 call=$2 shape=$3 n=${4:-200}
count() {
  OPENBLAS_NUM_THREADS=1 RAYON_NUM_THREADS=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$binary" "$call" "$shape" "$1" 2>&1 >/dev/null |
    awk '/I *refs:/ { gsub(/,/, "", $NF); print $NF }'
}
"$binary" "$call" "$shape" 0 >/dev/null   # bad arguments fail here, with their message
once=$(count "$n")
twice=$(count $((2 * n)))
echo "$call $shape: $(((twice - once) / n)) instructions a call"
