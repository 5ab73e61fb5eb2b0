#!/usr/bin/env bash
# bench/headline/run.sh - the simulated headline: throughput under SLO of every policy per scenario
# at 1, 8 and 1000 devices on the analytic h100 and rtx2080ti profiles and on the measured CPU
# profile, ratios to sbp and triton, load sweeps and gnuplot plots (docs/headline.md).
# Usage: bench/headline/run.sh [BUILD_DIR] [OUT_DIR]
#   OUT_DIR defaults to bench/results/headline-<yyyymmdd>-<commit>; raw outputs go to OUT_DIR/raw/.
# Environment (all optional): HL_PROFILES ("h100 rtx2080ti cpu"), HL_DEVICES ("1 8 1000"),
#   HL_SCENS (the shipped scenarios), HL_POLICIES, HL_SWEEP=0 skips the load sweeps and plots,
#   HL_CPU_PROFILE (bench/results/profile-cpu-20261125.json), HL_CPU_SCENS (cpu-small), HL_STEPS (6).
# Method. 1 and 8 devices: `gpulet simulate --find-max` (pooled routing: one queue per model over
# all devices; doubling bracket, then HL_STEPS bisection steps), then one probe at 1.1x the found
# scale to record what limits it (plan infeasible, or the model with the lowest attainment).
# 1000 devices: --find-max refuses --aggregate, so this script bisects itself: the largest scale
# whose plan (for rate x1.2, the simulator's headroom) is feasible on 1000 devices (`gpulet plan`,
# 8 steps), then aggregated simulation (`--aggregate`, split routing, fixed plan) at that scale,
# bisecting down (4 steps) while it fails its SLOs. Split routing is pessimistic next to pooling
# (docs/scheduler.md "Aggregation"). time-varying needs re-planning, which aggregation lacks: not
# run at 1000.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
B=$BUILD/gpulet
[ -x "$B" ] || { echo "no $B: build first (ninja -C $BUILD)"; exit 2; }
COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet -- src || echo '+dirty')
OUT=${2:-bench/results/headline-$(date -u +%Y%m%d)-$(git rev-parse --short HEAD)}
mkdir -p "$OUT/raw" "$OUT/plans"
PROFILES=${HL_PROFILES:-h100 rtx2080ti cpu}
DEVICES=${HL_DEVICES:-1 8 1000}
POLICIES=${HL_POLICIES:-gpulet gpulet-int sbp triton static fine}
SCENS=${HL_SCENS:-game traffic scen1a scen2a scen3a scen4a scen5a scen1b scen2b equal-rate skewed time-varying}
CPU_PROFILE=${HL_CPU_PROFILE:-bench/results/profile-cpu-20261125.json}
STEPS=${HL_STEPS:-6}
CSV=$OUT/headline.csv
t0=$(date +%s)

prof_arg() { case $1 in cpu) echo "$CPU_PROFILE" ;; *) echo "analytic:$1" ;; esac; }
# per profile: simulated seconds per probe and warm-up (h100 rates are ~30x the 2080 Ti's)
dur_of() { case $1 in h100) echo "1 0.1" ;; rtx2080ti) echo "4 0.4" ;; cpu) echo "60 5" ;; esac; }

{
echo "# bench/headline (simulated part)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(uname -srm), $(nproc) cpu(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit:  $COMMIT"
echo "command: bench/headline/run.sh $*"
echo "profiles: h100, rtx2080ti = analytic roofline ('gpulet profile --analytic'), not measured;"
echo "          cpu = $CPU_PROFILE ($(python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['provenance']; print(p['who'], p['when'], 'commit', p['commit'], 'analytic' if p.get('analytic') else 'measured')" "$CPU_PROFILE" 2>/dev/null))"
echo "policies: $POLICIES; scenarios: $SCENS; devices: $DEVICES; find-max steps $STEPS; seed 1; jitter on"
} > "$OUT/README.txt"

echo "profile,devices,scenario,policy,method,duration_s,scale,throughput_rps,above_scale,above_plan,above_worst_model,above_worst_attain,wall_s" > "$CSV"

# worst model of a simulate output: "name attain%"
worst_of() { awk 'NF==9 && $2 ~ /^[0-9]+$/ { if (min=="" || $4+0<min) { min=$4+0; w=$1 } } END { printf "%s %s", (w==""?"-":w), (min==""?"-":min) }' "$1"; }
plan_of() { sed -n 's/^plan \(feasible\|INFEASIBLE\).*/\1/p' "$1" | head -1; }
total_rate() { # scenario scale -> sum of peak rates x scale
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(sum(max([m['rate']]+[p['rate'] for p in m.get('phases',[])]) for m in s['models'])*float(sys.argv[2]))" "$1" "$2"
}

fill_scale() { # prof N scen -> scale at which the lower bound's work is 20% of N devices
  $B plan --profile "$(prof_arg "$1")" --scenario scenarios/$3.json --policy bound --fill "$2" --devices "$2" --quiet 2>&1 |
    sed -n 's/^scale \([0-9.e+-]*\).*/\1/p' | awk '{ printf "%.6g", $1 / 4 }'
}
# find-max with the simulator's own search (1 and 8 devices)
fm() { # prof N scen pol
  local prof=$1 N=$2 s=$3 p=$4 D W RP=0 f=$OUT/raw/$1-$2-$3-$4
  read -r D W <<<"$(dur_of "$prof")"
  if [ "$s" = time-varying ]; then D=30; W=1; RP=5; fi
  local t1 k0; t1=$(date +%s.%N)
  # start the search where the lower bound fills a quarter of the devices: planners are not
  # monotone at tiny rates (gpulet's time-sharing rule), and from scale 1 an infeasible first
  # probe would send the search downwards only
  k0=$(fill_scale "$prof" "$N" "$s")
  $B simulate --profile "$(prof_arg "$prof")" --scenario scenarios/$s.json --policy "$p" --devices "$N" \
     --duration "$D" --warmup "$W" --steps "$STEPS" --replan "$RP" --scale "$k0" --find-max > "$f.txt" 2>&1
  local k tp
  k=$(sed -n 's/^find-max: scale \([0-9.]*\),.*/\1/p' "$f.txt"); k=${k:-0}
  tp=$(sed -n 's/.*throughput under SLO \([0-9.]*\) req.*/\1/p' "$f.txt"); tp=${tp:-0}
  local ak=0 apl=- aw="- -"
  if awk -v k="$k" 'BEGIN { exit !(k > 0) }'; then
    ak=$(awk -v k="$k" 'BEGIN { printf "%.6g", k * 1.1 }')
    $B simulate --profile "$(prof_arg "$prof")" --scenario scenarios/$s.json --policy "$p" --devices "$N" \
       --duration "$D" --warmup "$W" --replan "$RP" --scale "$ak" > "$f.above.txt" 2>&1
    apl=$(plan_of "$f.above.txt"); aw=$(worst_of "$f.above.txt")
  else
    # nothing passes: what fails at the starting scale
    ak=$k0
    $B simulate --profile "$(prof_arg "$prof")" --scenario scenarios/$s.json --policy "$p" --devices "$N" \
       --duration "$D" --warmup "$W" --replan "$RP" --scale "$ak" > "$f.above.txt" 2>&1
    apl=$(plan_of "$f.above.txt"); aw=$(worst_of "$f.above.txt")
  fi
  local t2; t2=$(date +%s.%N)
  echo "$prof,$N,$s,$p,find-max,$D,$k,$tp,$ak,$apl,${aw% *},${aw#* },$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}')" >> "$CSV"
}

# 1000 devices: plan bisection, then aggregated simulation
feasible_plan() { # prof N scen pol scale -> exit 0 when the plan for scale x1.2 is feasible
  $B plan --profile "$(prof_arg "$1")" --scenario scenarios/$3.json --policy "$4" --devices "$2" \
     --scale "$(awk -v k="$5" 'BEGIN { printf "%.9g", k * 1.2 }')" --quiet 2>/dev/null | grep -q ": feasible"
}
agg_ok() { # prof N scen pol scale file -> exit 0 when every model meets its SLO
  local D W
  read -r D W <<<"$(dur_of "$1")"
  D=$(awk -v d="$D" 'BEGIN { printf "%g", d / 4 }'); W=$(awk -v w="$W" 'BEGIN { printf "%g", w / 4 }')
  $B simulate --profile "$(prof_arg "$1")" --scenario scenarios/$3.json --policy "$4" --devices "$2" \
     --duration "$D" --warmup "$W" --replan 0 --scale "$5" --aggregate --threads 2 > "$6" 2>&1
  grep -q "worst SLO attainment .*, OK" "$6"
}
agg() { # prof N scen pol
  local prof=$1 N=$2 s=$3 p=$4 f=$OUT/raw/$1-$2-$3-$4 t1 t2
  t1=$(date +%s.%N)
  local K hi lo=0 mid i
  K=$($B plan --profile "$(prof_arg "$prof")" --scenario scenarios/$s.json --policy bound --fill "$N" --devices "$N" --quiet 2>&1 | sed -n 's/^scale \([0-9.e+-]*\).*/\1/p')
  # the bound's work is 80% of N devices at K: no policy plans rate x1.2 on N devices above K x 1.25 / 1.2
  hi=$(awk -v k="$K" 'BEGIN { printf "%.9g", k * 1.25 / 1.2 * 1.01 }')
  if feasible_plan "$prof" "$N" "$s" "$p" "$hi"; then lo=$hi; else
    mid=$hi
    for i in 1 2 3 4 5 6; do mid=$(awk -v m="$mid" 'BEGIN { printf "%.9g", m / 2 }'); if feasible_plan "$prof" "$N" "$s" "$p" "$mid"; then lo=$mid; break; fi; done
    if awk -v l="$lo" 'BEGIN { exit !(l > 0) }'; then
      hi=$(awk -v l="$lo" 'BEGIN { printf "%.9g", l * 2 }')
      for i in 1 2 3 4 5 6 7; do
        mid=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.9g", (l + h) / 2 }')
        if feasible_plan "$prof" "$N" "$s" "$p" "$mid"; then lo=$mid; else hi=$mid; fi
      done
    fi
  fi
  local kplan=$lo k=0 apl=- aw="- -" ak=$hi
  if awk -v l="$lo" 'BEGIN { exit !(l > 0) }'; then
    if agg_ok "$prof" "$N" "$s" "$p" "$lo" "$f.txt"; then k=$lo; apl=planner; aw="- -"
    else
      cp "$f.txt" "$f.above.txt"; ak=$lo; apl=$(plan_of "$f.txt"); aw=$(worst_of "$f.txt")
      # halve until a probe passes (time-shared policies fail well below their plan's limit:
      # triton's short-SLO models wait behind long batches), then bisect
      hi=$lo; lo=$(awk -v l="$lo" 'BEGIN { printf "%.9g", l / 2 }')
      for i in 1 2 3 4 5 6; do
        agg_ok "$prof" "$N" "$s" "$p" "$lo" "$f.lo.txt" && break
        hi=$lo; lo=$(awk -v l="$lo" 'BEGIN { printf "%.9g", l / 2 }')
      done
      if grep -q "worst SLO attainment .*, OK" "$f.lo.txt"; then
        k=$lo
        for i in 1 2 3 4; do
          mid=$(awk -v l="$lo" -v h="$hi" 'BEGIN { printf "%.9g", (l + h) / 2 }')
          if agg_ok "$prof" "$N" "$s" "$p" "$mid" "$f.mid.txt"; then lo=$mid; k=$mid; mv "$f.mid.txt" "$f.lo.txt"; else hi=$mid; fi
        done
        mv "$f.lo.txt" "$f.txt"
      fi
      rm -f "$f.mid.txt" "$f.lo.txt"
    fi
  fi
  local tp=0
  awk -v k="$k" 'BEGIN { exit !(k > 0) }' && tp=$(total_rate scenarios/$s.json "$k")
  t2=$(date +%s.%N)
  local D W; read -r D W <<<"$(dur_of "$prof")"
  echo "$prof,$N,$s,$p,plan+aggregate,$(awk -v d="$D" 'BEGIN { printf "%g", d / 4 }'),$k,$tp,$ak,$apl,${aw% *},${aw#* },$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}')" >> "$CSV"
  echo "$prof $N $s $p: plan-feasible scale $kplan, simulated pass scale $k" >> "$OUT/raw/agg-log.txt"
}

echo "== find-max (1, 8 devices) and plan+aggregate (1000 devices)"
for prof in $PROFILES; do
  for N in $DEVICES; do
    [ "$prof" = cpu ] && [ "$N" != 1 ] && continue   # the measured CPU profile is one 2-core machine
    SS=$SCENS
    # the research scenarios' SLOs are below this CPU's batch-1 latencies (resnet50 170 ms on a
    # core vs 108 ms): every policy gets 0 there, so the CPU profile runs the CPU mix only
    [ "$prof" = cpu ] && SS=${HL_CPU_SCENS:-cpu-small}
    for s in $SS; do
      for p in $POLICIES; do
        if [ "$N" -ge 100 ]; then
          [ "$s" = time-varying ] && continue
          agg "$prof" "$N" "$s" "$p"
        else
          fm "$prof" "$N" "$s" "$p"
        fi
      done
      tail -n "$(echo $POLICIES | wc -w)" "$CSV" | awk -F, '{ printf "%s x%s %-12s %-10s scale %-10s %12s req/s  (%ss)\n", $1, $2, $3, $4, $7, $8, $13 }'
    done
  done
done
echo "find-max part: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/README.txt"

# plans at each policy's best scale (x1.2 headroom), h100 x8: what the plots and the summary explain
for s in $SCENS; do
  for p in $POLICIES; do
    k=$(awk -F, -v s="$s" -v p="$p" '$1=="h100" && $2==8 && $3==s && $4==p { print $7 }' "$CSV")
    [ -n "$k" ] && awk -v k="$k" 'BEGIN { exit !(k > 0) }' || continue
    $B plan --profile analytic:h100 --scenario scenarios/$s.json --policy "$p" --devices 8 \
       --scale "$(awk -v k="$k" 'BEGIN { printf "%.9g", k * 1.2 }')" > "$OUT/plans/h100-8-$s-$p.txt" 2>&1
  done
done

if [ "${HL_SWEEP:-1}" != 0 ]; then
  echo "== load sweeps (8 devices): SLO attainment and p99 against offered load"
  t1=$(date +%s)
  echo "profile,devices,scenario,policy,scale,offered_rps,model,slo_ms,sent,attain_pct,p99_ms,plan" > "$OUT/sweep.csv"
  for prof in h100 rtx2080ti; do
    read -r D W <<<"$(dur_of $prof)"
    for s in game traffic scen1a scen2a; do
      # a common grid for every policy: 10%..170% of the best policy's max scale at 8 devices
      kmax=$(awk -F, -v pr=$prof -v s=$s '$1==pr && $2==8 && $3==s && $7>m { m=$7 } END { print m+0 }' "$CSV")
      awk -v k="$kmax" 'BEGIN { exit !(k > 0) }' || continue
      for p in $POLICIES; do
        for fr in 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0 1.2 1.4 1.7; do
          k=$(awk -v a="$kmax" -v f=$fr 'BEGIN { printf "%.6g", a * f }')
          f=$OUT/raw/sweep-$prof-8-$s-$p-$fr.txt
          $B simulate --profile analytic:$prof --scenario scenarios/$s.json --policy "$p" --devices 8 \
             --duration "$D" --warmup "$W" --replan 0 --scale "$k" > "$f" 2>&1
          pl=$(plan_of "$f")
          python3 - "$f" scenarios/$s.json "$prof" "$s" "$p" "$k" "$pl" >> "$OUT/sweep.csv" <<'PY'
import json, sys
f, scen, prof, s, p, k, pl = sys.argv[1:]
slo = {m['name']: m['slo_ms'] for m in json.load(open(scen))['models']}
tot = 0.0
rows = []
for line in open(f):
    w = line.split()
    if len(w) == 9 and w[1].isdigit() and w[0] in slo:
        rows.append(w); tot += float(w[8])
for w in rows:
    print(f"{prof},8,{s},{p},{k},{tot:.1f},{w[0]},{slo[w[0]]},{w[1]},{w[3]},{w[6]},{pl}")
PY
        done
      done
    done
  done
  echo "sweep part: $(( $(date +%s) - t1 )) s" | tee -a "$OUT/README.txt"
  # sweep.csv holds what the plots need; the per-point outputs are ~600 files
  [ "${HL_KEEP_RAW:-0}" = 1 ] || rm -f "$OUT"/raw/sweep-*.txt
  bench/headline/plots.sh "$OUT"
fi
# one file for the simulator's raw outputs (every find-max and probe), in place of ~750
( cd "$OUT/raw" && for f in $(ls | grep -E '^(h100|rtx2080ti|cpu)-.*\.txt$|^agg-log\.txt$'); do echo "==> $f <=="; cat "$f"; done ) > "$OUT/raw-sim.txt"
rm -f "$OUT"/raw/h100-*.txt "$OUT"/raw/rtx2080ti-*.txt "$OUT"/raw/cpu-*.txt "$OUT"/raw/agg-log.txt
python3 bench/headline/summary.py "$OUT" > "$OUT/summary.md"
echo "total: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/README.txt"
echo "wrote $OUT"
