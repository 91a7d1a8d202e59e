#!/usr/bin/env bash
# Times two builds of examples/speed.rs in alternating rounds, case by case, and prints
# the median of new/old per case: the check that a change keeps speed unchanged.
#
#   scripts/speed_compare.sh OLD_BINARY NEW_BINARY [ROUNDS] [REPS]
#
# Build each with `cargo build --release --example speed [--features openblas]` on the
# revision to compare (copy target/release/examples/speed aside for the old one).
# Cases: the groups of benches/scaling.rs, chain.rs and wide.rs at sizes that take
# seconds, not minutes, on 2 cores; or those named in CASES (space-separated).
set -euo pipefail
old=$1 new=$2 rounds=${3:-5} reps=${4:-7}
cases=(
  forward:2000 forward_64mib:4000 forward_f32:2000
  reverse:100 reverse:1000 reverse:4000 reverse_f32:4000 value:1000
  batch64:1000 batch64:2000
  jacobian_forward:1000-1000-10-1000-1000 jacobian_reverse:1000-1000-10-1000-1000
  jacobian_auto:1000-1000-10-1000-1000 jacobian_auto:500-2000-20-2000-20-2000-500
  jacobian_auto:4000-1000-100-10 jacobian_auto:10-100-1000-4000 jacobian_auto:2000-2000-2000
  jvp:1000-1000-10-1000-1000 vjp:1000-1000-10-1000-1000 hvp:1000-1000-10-1000-1000
  jvp:depth4 vjp:depth4 hvp:depth4 hvp:depth1
  mlp_grad:depth8 weight_grads:1000-1000-1000 hessian:300-300-10-300-300
  wide:250 wide:1000
)
if [[ -n ${CASES:-} ]]; then read -ra cases <<<"$CASES"; fi
printf '%-44s %12s %12s %8s\n' case old_median new_median new/old
for c in "${cases[@]}"; do
  ratios=() olds=() news=()
  for ((r = 0; r < rounds; r++)); do
    o=$("$old" "$c" "$reps"); n=$("$new" "$c" "$reps")
    olds+=("$o"); news+=("$n")
    ratios+=("$(python3 -c "print($n / $o)")")
  done
  python3 - "$c" "${olds[*]}" "${news[*]}" "${ratios[*]}" <<'PY'
import statistics, sys
c, o, n, r = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
print(f"{c:<44} {statistics.median(o):12.4e} {statistics.median(n):12.4e} {statistics.median(r):8.3f}")
PY
done
