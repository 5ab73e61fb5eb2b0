#!/usr/bin/env bash
# tests/serve/replan.sh GPULET WORKDIR - no request is lost or fails because of a re-plan: steady
# load from background clients on two models while the server is forced through several re-plans
# (POST /v2/gpulet/replan rebuilding every gpu-let, a rate step that crosses the trigger, a model
# load and unload); every request must get 200, the server's success counters must equal what
# was sent, and the plan history must show gpu-lets built and retired. Exit 77 without python3.
set -u
G=$1; W=$2
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W/repo/lenet" "$W/repo/mobilenetv2" "$W/repo/extra"
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null || exit 1
"$G" zoo mobilenetv2 -o "$W/repo/mobilenetv2/model.onnx" >/dev/null || exit 1
cp "$W/repo/lenet/model.onnx" "$W/repo/extra/"
echo '{"max_batch_size": 8, "slo_ms": 10000, "rate": 20}' > "$W/repo/lenet/config.json"
echo '{"max_batch_size": 4, "slo_ms": 60000}' > "$W/repo/mobilenetv2/config.json"
echo '{"max_batch_size": 4, "slo_ms": 10000}' > "$W/repo/extra/config.json"
"$G" serve --model-repository "$W/repo" --models lenet,mobilenetv2 --port 0 --metrics-port -1 \
  --port-file "$W/ports" --replan-period 2 --rate-window 2 --save-profile "$W/refined.json" 2> "$W/server.log" &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
for i in $(seq 1 600); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
[ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
read P MP < "$W/ports"
python3 - "$P" "$W" <<'PY'
import http.client, json, sys, threading, time
port, w = int(sys.argv[1]), sys.argv[2]
x = [((i * 7919) % 257) / 128.0 - 1.0 for i in range(784)]
lenet = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}]})
m = [0.01] * (3 * 224 * 224)
mnet = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": m}]})
sent = {"lenet": 0, "mobilenetv2": 0}
bad = []
lock = threading.Lock()
stop = threading.Event()

def client(model, body, period):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    nxt = time.time()
    while not stop.is_set():
        try:
            c.request("POST", "/v2/models/%s/infer" % model, body, {"Content-Type": "application/json"})
            r = c.getresponse(); data = r.read(); code = r.status
        except Exception as e:
            code, data = -1, str(e).encode()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        with lock:
            sent[model] += 1
            if code != 200: bad.append((model, code, data[:200]))
        nxt += period() if callable(period) else period
        d = nxt - time.time()
        if d > 0: time.sleep(d)
        else: nxt = time.time()

def post(path, body=b""):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", path, body)
    r = c.getresponse(); d = r.read()
    return r.status, d

fast = {"on": False}
ts = [threading.Thread(target=client, args=("lenet", lenet, lambda: 0.004 if fast["on"] else 0.04)),
      threading.Thread(target=client, args=("mobilenetv2", mnet, 0.2))]
for t in ts: t.start()
time.sleep(1.5)
ok = True
for k in range(3):
    code, d = post("/v2/gpulet/replan", b'{"rebuild": true}')
    plan = json.loads(d)
    if code != 200 or plan["history"][-1]["lets_built"] < 1 or plan["history"][-1]["reason"] != "request":
        print("FAIL: forced re-plan %d: %d %s" % (k, code, d[:300])); ok = False
    time.sleep(0.5)
# a rate step on lenet (25 -> ~150+ req/s offered) crosses the trigger
fast["on"] = True
time.sleep(5)
fast["on"] = False
code, d = post("/v2/repository/models/extra/load")
if code != 200: print("FAIL: load extra: %d %s" % (code, d[:300])); ok = False
time.sleep(0.5)
code, d = post("/v2/repository/models/extra/unload")
if code != 200: print("FAIL: unload extra: %d %s" % (code, d[:300])); ok = False
code, d = post("/v2/gpulet/replan", b'{"reason": "request"}')
time.sleep(1)
stop.set()
for t in ts: t.join()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("GET", "/v2/models/stats"); st = json.loads(c.getresponse().read())
c.request("GET", "/v2/gpulet/plan"); plan = json.loads(c.getresponse().read())
c.request("GET", "/metrics"); metrics = c.getresponse().read().decode()
succ = {s["name"]: s["inference_stats"]["success"]["count"] for s in st["model_stats"]}
print("sent", sent, "server success", succ)
hist = plan["history"]
for h in hist: print("epoch %(epoch)d %(reason)s built %(lets_built)d kept %(lets_kept)d reconfigured %(lets_reconfigured)d retired %(lets_retired)d decision %(decision_ms).3f ms switch %(switch_ms).1f ms" % h)
if bad: print("FAIL: %d requests not answered 200, e.g. %s" % (len(bad), bad[:3])); ok = False
for mname in sent:
    if succ.get(mname) != sent[mname]: print("FAIL: %s: sent %d, server counted %s successes" % (mname, sent[mname], succ.get(mname))); ok = False
if sum(h["lets_retired"] for h in hist) < 3: print("FAIL: gpu-lets were not retired across re-plans"); ok = False
reasons = {h["reason"] for h in hist}
for r in ("load", "request", "unload"):
    if r not in reasons: print("FAIL: no '%s' re-plan in the history %s" % (r, sorted(reasons))); ok = False
if "rate" not in reasons and "period" not in reasons: print("FAIL: the rate step caused no re-plan %s" % sorted(reasons)); ok = False
if 'gpulet_replans_total{reason="request"}' not in metrics or "gpulet_gpulet_units{" not in metrics: print("FAIL: control-loop metrics missing"); ok = False
g = [s for s in st["model_stats"] if s["name"] == "lenet"][0]["gpulet"]
if not (g.get("p99_ms") and g["p50_ms"] <= g["p99_ms"] <= g["p999_ms"] and g.get("slo_attain") == 1.0):
    print("FAIL: stats window percentiles / slo_attain: %s" % g); ok = False
if sent["lenet"] < 200: print("FAIL: the load was too light to mean anything (%d lenet requests)" % sent["lenet"]); ok = False
sys.exit(0 if ok else 1)
PY
rc=$?
kill -TERM $SP; wait $SP || { echo "FAIL: server exit code"; rc=1; }
trap - EXIT
if [ $rc = 0 ]; then
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); assert p['device']['kind']=='cpu'" "$W/refined.json" \
    && echo "ok: refined profile saved" || { echo "FAIL: --save-profile"; rc=1; }
fi
[ $rc = 0 ] && echo "all passed" || tail -20 "$W/server.log"
exit $rc
