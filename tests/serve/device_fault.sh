#!/usr/bin/env bash
# tests/serve/device_fault.sh GPULET WORKDIR - surviving a device failure: `--devices cpu:2` (two
# 1-core devices) with two models under steady load from `gpulet loadgen`; GPULET_FAULT_DEVICE=1@2
# (honoured only by builds with GL_FAULT_INJECT) fails device 1 two seconds after start. Checks:
# the server keeps answering, /v2/health/ready stays 200, the plan shows device 1 failed,
# degraded, every model on device 0 and a `fault` re-plan; gpulet_devices counts 1 ok, 1 failed;
# every request sent was answered 200 except those of the batch that was running on the failing
# device (500, counted as BACKEND failures): sent == success + BACKEND exactly, and BACKEND is at
# most one batch (max_batch_size 4). Exit 77 without fault injection or curl.
set -u
G=$1; W=$2
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
make_repo a=lenet b=lenet || { echo "FAIL: zoo"; exit 1; }
for m in a b; do echo '{"max_batch_size": 4, "slo_ms": 20000, "profile_model": "lenet"}' > "$W/repo/$m/config.json"; done
export GPULET_FAULT_DEVICE=1@2.0
start_server --devices cpu:2 --policy none --rate-window 1
unset GPULET_FAULT_DEVICE
grep -q "fault injection armed: GPULET_FAULT_DEVICE" "$W/server.log" || { stop_server; echo "SKIP: this build has no fault injection (GL_FAULT_INJECT)"; exit 77; }

req GET /v2/gpulet/plan
python3 - "$W/body" <<'EOF' && ok "before: two devices, a on 0, b on 1" || fail "before: plan $(head -c 600 "$W/body")"
import json, sys
p = json.load(open(sys.argv[1]))
d = p["devices"]
assert len(d) == 2 and all(x["state"] == "ok" for x in d) and not p["degraded"], d
on = {k["model"]: x["id"] for x in d for l in x["gpulets"] for k in l["members"]}
assert on == {"a": 0, "b": 1}, on
EOF

cat > "$W/scen.json" <<'EOF'
{"format": "gpulet-scenario", "version": 1, "name": "fault", "duration_s": 5,
 "models": [{"name": "a", "slo_ms": 20000, "rate": 60}, {"name": "b", "slo_ms": 20000, "rate": 60}]}
EOF
"$G" loadgen --url "$U" --scenario "$W/scen.json" --duration 5 --warmup 0 --drain 20 --json "$W/load.json" --quiet \
  > "$W/loadgen.log" 2>&1 &
LP=$!
# while the device fails (at 2 s of uptime) and after: ready stays 200
ready_codes=""
for t in 1 2 3 4 5 6; do
  sleep 0.7
  ready_codes="$ready_codes $(curl -s -m 10 -o /dev/null -w '%{http_code}' "$U/v2/health/ready")"
done
wait $LP || fail "loadgen exit $?: $(tail -3 "$W/loadgen.log")"
if [ "$(printf '%s\n' $ready_codes | grep -vc '^200$')" = 0 ]; then ok "ready 200 throughout:$ready_codes"; else fail "ready during the failure:$ready_codes"; fi

req GET /v2/gpulet/plan
cp "$W/body" "$W/plan.json"
python3 - "$W/plan.json" <<'EOF' && ok "after: device 1 failed, degraded, every model on device 0, a fault re-plan" || fail "after: plan $(head -c 900 "$W/plan.json")"
import json, sys
p = json.load(open(sys.argv[1]))
d = p["devices"]
assert d[0]["state"] == "ok" and d[1]["state"] == "failed", [x["state"] for x in d]
assert p["degraded"] is True and p["devices_ok"] == 1, p["degraded"]
assert "injected device fault" in d[1]["why"], d[1]
assert d[1]["gpulets"] == [], d[1]["gpulets"]
on = {k["model"] for l in d[0]["gpulets"] for k in l["members"]}
assert on == {"a", "b"}, on
assert any(h["reason"] == "fault" and h["switched"] for h in p["history"]), p["history"]
assert p["recover_ms"] is not None
print("recover_ms %.1f (device failure to serving on device 0)" % p["recover_ms"])
EOF
req GET /v2/health/ready
expect 200 '"ready":true' "ready after the failure"

req GET /metrics
printf '%s\n' "$BODY" > "$W/metrics.txt"
grep -q '^gpulet_devices{state="ok"} 1$' "$W/metrics.txt" && grep -q '^gpulet_devices{state="failed"} 1$' "$W/metrics.txt" \
  && ok "gpulet_devices: 1 ok, 1 failed" || fail "gpulet_devices: $(grep gpulet_devices "$W/metrics.txt")"
python3 - "$W/load.json" "$W/metrics.txt" <<'EOF' && ok "every request answered 200 but the failing batch's" || fail "counts"
import json, re, sys
lg = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read()
def metric(name, model, extra=""):
    m = re.search(r'^%s\{model="%s",version="1"%s\} (\d+)$' % (name, model, extra), txt, re.M)
    return int(m.group(1))
sent = sum(m["sent"] for m in lg["models"])
errors = sum(m["errors"] for m in lg["models"])
rejected = sum(m["rejected"] for m in lg["models"])
succ = sum(metric("nv_inference_request_success", x) for x in "ab")
backend = sum(metric("nv_inference_request_failure", x, ',reason="BACKEND"') for x in "ab")
other = sum(metric("nv_inference_request_failure", x, ',reason="%s"' % r) for x in "ab" for r in ("REJECTED", "OTHER"))
print("sent %d, 200 %d, failed with the device %d (client errors %d, rejected %d)" % (sent, succ, backend, errors, rejected))
assert sent > 300, sent
assert sent == succ + backend, (sent, succ, backend)
assert errors == backend and rejected == 0 and other == 0, (errors, backend, rejected, other)
assert backend <= 4, backend
EOF
grep -q "device 1 .*failed: .*injected device fault" "$W/server.log" && ok "log line" || fail "no log line for the failure"
stop_server

# the fallback: device 1 marked a fallback (as the CPU after GPUs) is unused until device 0, the
# last primary, fails; then every model is served there, planned with the fallback's own (CPU)
# profile, flagged degraded
cp "$W/server.log" "$W/server1.log"
export GPULET_FAULT_DEVICE=0@1.5 GPULET_FAULT_FALLBACK=1
start_server --devices cpu:2 --policy gpulet --rate-window 1
unset GPULET_FAULT_DEVICE GPULET_FAULT_FALLBACK
req GET /v2/gpulet/plan
python3 - "$W/body" <<'EOF2' && ok "fallback unused while device 0 serves" || fail "fallback before: $(head -c 600 "$W/body")"
import json, sys
p = json.load(open(sys.argv[1]))
d = p["devices"]
assert d[1]["fallback"] is True and d[1]["gpulets"] == [] and d[0]["gpulets"], d
EOF2
"$G" loadgen --url "$U" --scenario "$W/scen.json" --duration 3 --warmup 0 --drain 20 --json "$W/load2.json" --quiet \
  > "$W/loadgen2.log" 2>&1 || fail "loadgen (fallback) exit: $(tail -3 "$W/loadgen2.log")"
req GET /v2/health/ready
expect 200 '"ready":true' "ready on the fallback"
req GET /v2/gpulet/plan
cp "$W/body" "$W/plan2.json"
req GET /metrics
printf '%s\n' "$BODY" > "$W/metrics2.txt"
python3 - "$W/plan2.json" "$W/load2.json" "$W/metrics2.txt" <<'EOF2' && ok "fallback: every model on device 1, degraded, every request but the failing batch's answered" || fail "fallback after: $(head -c 900 "$W/plan2.json")"
import json, re, sys
p = json.load(open(sys.argv[1]))
d = p["devices"]
assert d[0]["state"] == "failed" and d[1]["state"] == "ok" and p["degraded"], d
assert "degraded" in p["why"] and "from its profile" in p["why"], p["why"]
on = {k["model"] for l in d[1]["gpulets"] for k in l["members"]}
assert on == {"a", "b"} and d[0]["gpulets"] == [], on
lg = json.load(open(sys.argv[2]))
txt = open(sys.argv[3]).read()
def metric(name, model, extra=""):
    return int(re.search(r'^%s\{model="%s",version="1"%s\} (\d+)$' % (name, model, extra), txt, re.M).group(1))
sent = sum(m["sent"] for m in lg["models"])
succ = sum(metric("nv_inference_request_success", x) for x in "ab")
backend = sum(metric("nv_inference_request_failure", x, ',reason="BACKEND"') for x in "ab")
print("fallback: sent %d, 200 %d, failed with the device %d, recover_ms %s" % (sent, succ, backend, p["recover_ms"]))
assert sent > 150 and sent == succ + backend and backend <= 8, (sent, succ, backend)
EOF2
stop_server

# every device fails: queued requests are answered (503), new ones get 503, ready is 503, and
# the server still stops cleanly
cp "$W/server.log" "$W/server2.log"
export GPULET_FAULT_DEVICE=0@1.0,1@1.0
start_server --devices cpu:2 --policy none --rate-window 1
unset GPULET_FAULT_DEVICE
lenet_input "$W/in.json"
sleep 2.5
req GET /v2/health/ready
expect 503 '"ready":false' "ready 503 once no device is left"
req POST /v2/models/a/infer --data-binary @"$W/in.json"
expect 503 "" "infer 503 once no device is left"
req GET /v2/gpulet/plan
python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert p['devices_ok']==0 and all(d['state']=='failed' for d in p['devices']), p['devices']" "$W/body" \
  && ok "plan: both devices failed" || fail "plan: $(head -c 500 "$W/body")"
stop_server
[ $fails = 0 ] && echo "all passed" || tail -30 "$W/server.log"
exit $((fails > 0))
