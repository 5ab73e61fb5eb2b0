#!/bin/sh
# bench/cpu_policy.sh - paired, interleaved A/B of serving policies on the CPU: for ROUNDS rounds,
# each policy in turn serves the demo's repository (gpulet demo's cache folder) and
# `gpulet loadgen --find-max` measures its throughput under SLO with the same seeded arrivals.
# Prints one line per run (policy, throughput under SLO, re-plans during the probes, the
# plan's gpu-lets) and writes every loadgen JSON, plan and server log under OUT.
# usage: bench/cpu_policy.sh GPULET CACHE_DIR OUT [ROUNDS] [POLICIES] [PROBE_S] [STEPS] [SERVE_ARGS]
# POLICIES: comma-separated; an item LABEL=BINARY:POLICY serves POLICY with another build of
# gpulet (before/after comparisons in one interleaved series).
set -eu
B=$1 C=$2 OUT=$3 ROUNDS=${4:-3} POLS=${5:-gpulet,sbp} PROBE=${6:-6} STEPS=${7:-6} EXTRA=${8:-}
mkdir -p "$OUT"
SC="$OUT/scenario.json"
[ -f "$SC" ] || python3 - "$C" "$SC" <<'PY'
import json, sys, os
repo = os.path.join(sys.argv[1], "repo")
ms = []
for name in sorted(os.listdir(repo)):
    cfg = json.load(open(os.path.join(repo, name, "config.json")))
    ms.append({"name": name, "slo_ms": cfg["slo_ms"], "rate": cfg.get("rate", 10)})
json.dump({"format": "gpulet-scenario", "version": 1, "name": "demo", "duration_s": 10, "seed": 1, "models": ms},
          open(sys.argv[2], "w"))
PY
echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/') rounds=$ROUNDS probe=${PROBE}s steps=$STEPS extra='$EXTRA'"
for r in $(seq 1 "$ROUNDS"); do
  for item in $(echo "$POLS" | tr , ' '); do
    bin=$B pol=$item label=$item
    case $item in *=*:*) label=${item%%=*}; rest=${item#*=}; bin=${rest%:*}; pol=${rest##*:} ;; esac
    tag="$label-r$r"
    rm -f "$OUT/ports"
    # the server 5 nice levels below the client, as gpulet demo runs it
    nice -n 5 "$bin" serve --model-repository "$C/repo" --port 0 --metrics-port -1 --port-file "$OUT/ports" \
      --policy "$pol" --profile "$C/profile-cpu.json" $EXTRA >"$OUT/serve-$tag.log" 2>&1 &
    pid=$!
    i=0; while [ ! -s "$OUT/ports" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    port=$(cut -d' ' -f1 "$OUT/ports")
    i=0; while ! curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    curl -s "http://127.0.0.1:$port/v2/gpulet/plan" >"$OUT/plan0-$tag.json"
    la=$(cut -d' ' -f1 /proc/loadavg)
    "$B" loadgen --url "http://127.0.0.1:$port" --scenario "$SC" --binary --find-max --steps "$STEPS" \
      --duration "$PROBE" --warmup 1 --seed 1 --connections 200 --quiet --json "$OUT/lg-$tag.json" >"$OUT/lg-$tag.txt" 2>&1 || true
    curl -s "http://127.0.0.1:$port/v2/gpulet/plan" >"$OUT/plan1-$tag.json"
    kill "$pid"; wait "$pid" || true
    python3 - "$OUT" "$tag" "$la" <<'PY'
import json, sys
out, tag, la = sys.argv[1:4]
lg = json.load(open(f"{out}/lg-{tag}.json"))
p0 = json.load(open(f"{out}/plan0-{tag}.json")); p1 = json.load(open(f"{out}/plan1-{tag}.json"))
fm = lg["find_max"]
def lets(p):
    return " ".join("[%s%s:%s]" % (l["units"], "c", ",".join("%s/b%d" % (m["model"].replace("mobilenetv2", "mob"), m["batch"]) for m in l["members"]))
                    for d in p["devices"] for l in d["gpulets"])
reasons = {}
for h in p1.get("history", p1.get("replans", [])):
    reasons[h["reason"]] = reasons.get(h["reason"], 0) + 1
probes = " ".join("%.2g%s" % (q["scale"], "+" if q["ok"] else "-") for q in fm["probes"])
print(f"{tag:12s} load {la:5s} under-SLO {fm['throughput_rps']:7.1f} req/s {'' if fm['bracketed'] else '(>=) '}"
      f"probes {probes} | epochs {p1['epoch']} {reasons} feasible {p1['feasible']} | start {lets(p0)} | end {lets(p1)}")
PY
    sleep 1
  done
done
