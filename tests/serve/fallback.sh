#!/bin/bash
# tests/serve/fallback.sh - when a policy has no plan for the models at any rate, the server's
# fallback keeps the policy's kind: sbp and triton (time-sharing whole devices) serve every model
# on one gpu-let of all cores, not a per-model core split (which made the time-sharing baseline a
# spatial policy); static keeps the per-model split. Usage: fallback.sh GPULET WORKDIR
set -u
G=$1 W=$2
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
make_repo fast=lenet slow=lenet || { echo "FAIL: zoo"; exit 1; }
# fast: 0.1 ms, SLO 10 ms; slow: 1 s a batch, SLO 5 s. Each alone fits; no whole-device
# time-sharing plan can keep fast within 10 ms beside slow's 1 s batches.
echo '{"max_batch_size": 4, "slo_ms": 10, "rate": 20, "profile_model": "fast"}' > "$W/repo/fast/config.json"
echo '{"max_batch_size": 4, "slo_ms": 5000, "rate": 1, "profile_model": "slow"}' > "$W/repo/slow/config.json"
python3 - "$W/profile.json" <<'PY'
import json, sys
def model(name, ms):
    med = [[ms * b, ms * b * 0.6] for b in (1, 2, 4)]
    return {"name": name, "memory_mb": 1, "latency_ms": {"median": med, "p99": [[x * 1.1 for x in r] for r in med]},
            "batch_ms": [0, 0, 0], "l2_pct": [1, 1, 1], "dram_pct": [0, 0, 0]}
json.dump({"format": "gpulet-profile", "version": 1,
           "device": {"kind": "cpu", "name": "test", "unit": "core", "total_units": 2, "granularity": 1, "min_units": 1, "memory_mb": 1000},
           "provenance": {"who": "tests/serve/fallback.sh", "when": "2026-11-25T00:00:00Z", "commit": "test", "analytic": True},
           "sizes": [1, 2], "batches": [1, 2, 4],
           "interference": {"batches": [1, 2, 4], "coef": {"l2_self": 0, "l2_other": 0, "dram_self": 0, "dram_other": 0, "const": 1}},
           "models": [model("fast", 0.1), model("slow", 1000)]}, open(sys.argv[1], "w"))
PY
lets() { # the plan's gpu-lets as "units:member,member ..."
  curl -s "$U/v2/gpulet/plan" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(" ".join("%d:%s" % (l["units"], ",".join(sorted(m["model"] for m in l["members"]))) for d in p["devices"] for l in d["gpulets"]))'
}
for pol in sbp triton static gpulet; do
  start_server --policy "$pol" --profile "$W/profile.json" --replan-period 86400
  got=$(lets)
  case $pol in
    sbp|triton) want="2:fast,slow" ;;
    static) want="1:fast 1:slow" ;;
    gpulet) want="" ;;
  esac
  if [ -n "$want" ]; then
    [ "$got" = "$want" ] && ok "$pol: fallback $got" || fail "$pol: gpu-lets '$got', want '$want'"
  else
    case $got in *fast,slow*) fail "gpulet: fast shares a gpu-let with slow: $got" ;; *) ok "gpulet: $got" ;; esac
  fi
  stop_server
done
[ $fails = 0 ] && echo "fallback: all ok" || { echo "fallback: $fails failed"; exit 1; }
