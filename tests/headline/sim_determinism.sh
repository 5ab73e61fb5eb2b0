#!/usr/bin/env bash
# tests/headline/sim_determinism.sh GPULET - `gpulet simulate` is a function of its seed: the same
# seed twice gives the same per-model table (sent, served, attainment, p50/p99/p99.9) with
# re-planning and jitter on, for the pooled run, find-max and the aggregated run at 1 and 2
# threads; another seed gives a different one. Only the wall-time line may differ.
set -u
G=$1
SC=$(cd "$(dirname "$0")/../.." && pwd)/scenarios
fails=0
strip() { grep -v "events in" | grep -v "run(s) on"; }
run() { "$G" simulate --profile analytic:rtx2080ti --scenario "$SC/time-varying.json" --policy "$1" --devices 2 \
          --duration 12 --warmup 1 --replan 4 --scale 0.4 --seed "$2" "${@:3}" 2>&1 | strip; }
for p in gpulet-int fine sbp; do
  a=$(run $p 5); b=$(run $p 5); c=$(run $p 6)
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "FAIL: $p seed 5 differs between two runs"; diff <(echo "$a") <(echo "$b") | head; fails=$((fails + 1)); }
  [ "$a" != "$c" ] || { echo "FAIL: $p seeds 5 and 6 give the same table"; fails=$((fails + 1)); }
  echo "$a" | grep -q "^resnet50 " || { echo "FAIL: $p: no per-model table"; echo "$a"; fails=$((fails + 1)); }
done
fm() { "$G" simulate --profile analytic:h100 --scenario "$SC/traffic.json" --policy gpulet --devices 2 --duration 0.5 \
         --warmup 0.05 --steps 4 --find-max --seed "$1" 2>&1 | strip; }
a=$(fm 3); b=$(fm 3)
[ "$a" = "$b" ] && echo "$a" | grep -q "^find-max: scale" || { echo "FAIL: find-max with seed 3 differs or failed"; fails=$((fails + 1)); }
ag() { "$G" simulate --profile analytic:h100 --scenario "$SC/scen1a.json" --policy fine --devices 64 --scale 2000 \
         --duration 0.3 --warmup 0.03 --replan 0 --seed 9 --aggregate=2 --threads "$1" 2>&1 | strip; }
a=$(ag 1); b=$(ag 2)
[ "$a" = "$b" ] && echo "$a" | grep -q "^plan feasible" || { echo "FAIL: aggregated run differs between 1 and 2 threads"; diff <(echo "$a") <(echo "$b") | head; fails=$((fails + 1)); }
[ $fails = 0 ] && echo "ok: simulate is deterministic for a seed"
exit $((fails > 0))
