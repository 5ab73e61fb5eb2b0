#!/usr/bin/env bash
# tests/headline/fine_low_rate.sh GPULET ROOT - `fine` stays feasible at low rates on a CPU mix
# (3 LeNets sharing a residual core beside MobileNetV2, the measured 2-core profile): the shared
# residual's Nexus duty (D + l = SLO, no slack) used to break under the neighbour's interference
# factor, so fine planned cpu-small at 1x but not at 0.6x or below, and find-max found nothing.
set -u
G=$1; R=$2
fails=0
for k in 0.05 0.1 0.3 0.6 1.0; do
  out=$("$G" plan --profile "$R/bench/results/profile-cpu-20261125.json" --scenario "$R/scenarios/cpu-small.json" \
        --policy fine --scale $k 2>&1)
  if echo "$out" | head -1 | grep -q ": feasible"; then echo "ok: scale $k feasible"
  else echo "FAIL: scale $k: $(echo "$out" | head -2 | tr '\n' ' ')"; fails=$((fails + 1)); fi
done
exit $((fails > 0))
