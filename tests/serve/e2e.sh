#!/usr/bin/env bash
# tests/serve/e2e.sh GPULET WORKDIR - end-to-end checks of `gpulet serve` with curl: a repository
# with lenet and mobilenetv2 (from the zoo) plus two broken folders; health, metadata, config,
# JSON / binary / raw infer compared with `gpulet run` on the same input, each bad request answered
# with a clear 4xx while the server keeps serving, limits, stats, metrics, repository load/unload,
# and a graceful SIGTERM that answers the requests in flight. Exit 77 (skip) without curl/python3.
set -u
G=$1; W=$2
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W/repo/lenet" "$W/repo/mobilenetv2" "$W/repo/broken" "$W/outside"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null || exit 1
"$G" zoo mobilenetv2 -o "$W/repo/mobilenetv2/model.onnx" >/dev/null || exit 1
echo '{"max_batch_size": 8, "slo_ms": 5000}' > "$W/repo/lenet/config.json"
echo '{"max_batch_size": 4, "slo_ms": 60000, "precision": "tf32"}' > "$W/repo/mobilenetv2/config.json"
cp "$W/repo/lenet/model.onnx" "$W/repo/broken/model.onnx"
echo '{"max_batch_size": 4, "colour": "red"}' > "$W/repo/broken/config.json"
# a model folder whose model.onnx is a symlink to a file outside the repository
mkdir -p "$W/repo/escape"; cp "$W/repo/lenet/model.onnx" "$W/outside/model.onnx"
ln -s "$W/outside/model.onnx" "$W/repo/escape/model.onnx"
# deadline behaviour: an SLO no run can meet (rejected early, or served late), a one-slot queue
mkdir -p "$W/repo/tight" "$W/repo/late" "$W/repo/qone"
cp "$W/repo/lenet/model.onnx" "$W/repo/tight/"; cp "$W/repo/lenet/model.onnx" "$W/repo/late/"
cp "$W/repo/mobilenetv2/model.onnx" "$W/repo/qone/"
echo '{"max_batch_size": 8, "slo_ms": 0.0001}' > "$W/repo/tight/config.json"
echo '{"max_batch_size": 8, "slo_ms": 0.0001, "serve_late": true}' > "$W/repo/late/config.json"
echo '{"max_batch_size": 1, "slo_ms": 60000, "max_queue_size": 1}' > "$W/repo/qone/config.json"

"$G" serve --model-repository "$W/repo" --port 0 --metrics-port 0 --port-file "$W/ports" \
  --max-body 1000000 2> "$W/server.log" &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
for i in $(seq 1 600); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
[ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
read P MP < "$W/ports"
U="http://127.0.0.1:$P"
# req METHOD PATH [curl args...] -> sets CODE and BODY
req() { local m=$1 p=$2; shift 2; BODY=$(curl -s -m 60 -X "$m" -o "$W/body" -w '%{http_code}' "$@" "$U$p"; true); CODE=$BODY; BODY=$(cat "$W/body"); }
expect() { # CODE-WANTED PATTERN WHAT
  if [ "$CODE" = "$1" ] && { [ -z "$2" ] || printf '%s' "$BODY" | grep -q -- "$2"; }; then ok "$3"; else fail "$3: got $CODE $BODY"; fi
}
req GET /v2/health/live; expect 200 '"live":true' "live"
req GET /v2/health/ready; expect 200 '"ready":true' "ready"
req GET /v2; expect 200 '"binary_tensor_data"' "server metadata"
req GET /v2/models/lenet; expect 200 '"shape":\[-1,1,28,28\]' "model metadata"
req GET /v2/models/lenet/versions/1; expect 200 '"name":"lenet"' "model metadata with version"
req GET /v2/models/lenet/versions/1/ready; expect 200 '"ready":true' "model ready with version"
req GET /v2/models/lenet/ready; expect 200 '"ready":true' "model ready"
req GET /v2/models/lenet/config; expect 200 '"max_batch_size":8' "model config"
req GET /v2/models/nosuch; expect 404 '"error"' "unknown model"
req GET /v2/models/lenet/versions/2; expect 404 'no version' "unknown version"
req GET /v2/models/broken; expect 404 '"error"' "broken model not served"
req POST /v2/repository/index; expect 200 "unknown field 'colour'" "index names what is wrong with the broken model"
if printf '%s' "$BODY" | grep -q '"name":"escape","version":"1","state":"UNAVAILABLE","reason":"[^"]*symbolic link'; then ok "symlinked model.onnx refused"; else fail "symlink: $BODY"; fi
req GET /nowhere; expect 404 '"error"' "unknown path"

# inputs: JSON, binary, raw and a TensorProto for `gpulet run`
python3 - "$W" <<'PY'
import json, struct, sys
w = sys.argv[1]
x = [((i * 7919) % 257) / 128.0 - 1.0 for i in range(784)]
raw = struct.pack('<784f', *x)
json.dump({"id": "a1", "inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}]}, open(w + "/in.json", "w"))
nested = [[[x[r * 28:(r + 1) * 28] for r in range(28)]]]
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": nested}], "outputs": [{"name": "logits"}]}, open(w + "/nested.json", "w"))
h = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}],
                "parameters": {"binary_data_output": True}}).encode()
open(w + "/bin.body", "wb").write(h + raw); open(w + "/bin.hlen", "w").write(str(len(h)))
open(w + "/bin_trunc.body", "wb").write(h + raw[:-10])
open(w + "/raw.body", "wb").write(raw)
def varint(n):
    out = b""
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
pb = b"".join(b"\x08" + varint(d) for d in [1, 1, 28, 28]) + b"\x10\x01" + b"\x42\x05input" + b"\x4a" + varint(len(raw)) + raw
open(w + "/in.pb", "wb").write(pb)
json.dump({"inputs": [{"name": "input", "shape": [3, 1, 28, 28], "datatype": "FP32", "data": x * 3}]}, open(w + "/batch3.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "INT64", "data": [1] * 784}]}, open(w + "/dtype.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 27], "datatype": "FP32", "data": x[:756]}]}, open(w + "/shape.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x[:700]}]}, open(w + "/count.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [9, 1, 28, 28], "datatype": "FP32", "data": x * 9}]}, open(w + "/toobatch.json", "w"))
json.dump({"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}]}, open(w + "/name.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}], "outputs": [{"name": "nope"}]}, open(w + "/outname.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [400, 1, 28, 28], "datatype": "FP32", "data": x * 400}]}, open(w + "/big.json", "w"))
m = [((i * 31) % 101) / 50.0 - 1.0 for i in range(3 * 224 * 224)]
json.dump({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "parameters": {"binary_data_size": len(m) * 4}}]}, open(w + "/mh.json", "w"))
mh = open(w + "/mh.json", "rb").read(); open(w + "/mnet.body", "wb").write(mh + struct.pack('<%df' % len(m), *m)); open(w + "/mnet.hlen", "w").write(str(len(mh)))
PY
ref=$("$G" run "$W/repo/lenet/model.onnx" --input "$W/in.pb" --iters 1 --warmup 0 | grep '^output logits')
rsum=$(echo "$ref" | sed -E 's/.* sum ([^ ]+) abs-sum ([^ ]+).*/\1 \2/')
req POST /v2/models/lenet/infer -H 'Content-Type: application/json' --data-binary @"$W/in.json"
expect 200 '"id":"a1"' "JSON infer"
cp "$W/body" "$W/json_out"
python3 - "$W/json_out" $rsum <<'PY' && ok "JSON infer equals gpulet run (sum, abs-sum)" || fail "JSON infer differs from gpulet run"
import json, sys
o = json.load(open(sys.argv[1]))["outputs"][0]
s = sum(o["data"]); a = sum(abs(v) for v in o["data"])
ws, wa = float(sys.argv[2]), float(sys.argv[3])
assert o["shape"] == [1, 10] and o["datatype"] == "FP32", o
assert abs(s - ws) <= 1e-4 * (1 + abs(ws)) and abs(a - wa) <= 1e-4 * (1 + abs(wa)), (s, a, ws, wa)
PY
req POST /v2/models/lenet/versions/1/infer --data-binary @"$W/nested.json"
cmp_json() { python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['outputs'][0]['data']; b=json.load(open(sys.argv[2]))['outputs'][0]['data']; assert a==b" "$1" "$2"; }
[ "$CODE" = 200 ] && cmp_json "$W/body" "$W/json_out" && ok "nested data, versioned path" || fail "nested: $CODE $BODY"
curl -s -m 60 -D "$W/bin.hdr" -o "$W/bin.out" -H "Inference-Header-Content-Length: $(cat "$W/bin.hlen")" \
  -H 'Content-Type: application/octet-stream' --data-binary @"$W/bin.body" "$U/v2/models/lenet/infer"
python3 - "$W" <<'PY' && ok "binary infer equals JSON infer" || fail "binary infer"
import json, struct, sys, re
w = sys.argv[1]
hdr = open(w + "/bin.hdr").read()
hl = int(re.search(r"(?i)inference-header-content-length: *(\d+)", hdr).group(1))
b = open(w + "/bin.out", "rb").read()
h = json.loads(b[:hl]); o = h["outputs"][0]
assert o["parameters"]["binary_data_size"] == 40 and len(b) == hl + 40
v = list(struct.unpack("<10f", b[hl:]))
want = json.load(open(w + "/json_out"))["outputs"][0]["data"]
assert all(abs(p - q) <= 1e-6 * (1 + abs(q)) for p, q in zip(v, want)), (v, want)
PY
curl -s -m 60 -D "$W/raw.hdr" -o "$W/raw.out" -H "Inference-Header-Content-Length: 0" --data-binary @"$W/raw.body" "$U/v2/models/lenet/infer"
grep -qi 'inference-header-content-length' "$W/raw.hdr" && ok "raw binary infer" || fail "raw binary infer"
req POST /v2/models/lenet/infer --data-binary @"$W/batch3.json"; expect 200 '"shape":\[3,10\]' "client batch of 3"
python3 -c "
import json,sys
a=json.load(open(sys.argv[1]))['outputs'][0]['data']; b=json.load(open(sys.argv[2]))['outputs'][0]['data']
assert len(a)==30 and all(abs(a[10*k+i]-b[i])<=1e-5*(1+abs(b[i])) for k in range(3) for i in range(10))" "$W/body" "$W/json_out" \
  && ok "each sample of a padded batch (plan for 4) equals the single answer" || fail "batch rows differ"

# deadlines: rejected early with a reason (503), or served late and counted as missed
req POST /v2/models/tight/infer --data-binary @"$W/in.json"; expect 503 'cannot meet its deadline' "rejected early"
req POST /v2/models/late/infer --data-binary @"$W/in.json"; expect 200 '"outputs"' "served late"
req POST /v2/models/lenet/infer --data-binary @"$W/in.json" -o /dev/null

# bad requests: a clear 4xx each, and the server keeps serving
req POST /v2/models/lenet/infer --data-binary '{"inputs":[{"name":'; expect 400 'malformed JSON' "malformed JSON"
req POST /v2/models/lenet/infer --data-binary @"$W/dtype.json"; expect 400 'datatype INT64' "wrong datatype"
req POST /v2/models/lenet/infer --data-binary @"$W/shape.json"; expect 400 'model expects' "wrong shape"
req POST /v2/models/lenet/infer --data-binary @"$W/count.json"; expect 400 'needs 784 elements' "element count not matching shape"
req POST /v2/models/lenet/infer --data-binary @"$W/toobatch.json"; expect 400 'max_batch_size' "batch over max_batch_size"
req POST /v2/models/lenet/infer --data-binary @"$W/name.json"; expect 400 "no input 'image'" "unknown input name"
req POST /v2/models/lenet/infer --data-binary @"$W/outname.json"; expect 400 "no output 'nope'" "unknown output name"
req POST /v2/models/lenet/infer --data-binary @"$W/big.json"; expect 413 'over the limit' "body over the limit"
req POST /v2/models/nosuch/infer --data-binary @"$W/in.json"; expect 404 "unknown model" "infer on unknown model"
req POST /v2/models/lenet/versions/7/infer --data-binary @"$W/in.json"; expect 404 "no version" "infer on unknown version"
req POST /v2/models/lenet/infer -H "Inference-Header-Content-Length: $(cat "$W/bin.hlen")" --data-binary @"$W/bin_trunc.body"
expect 400 'past the end' "truncated binary body"
req POST /v2/models/lenet/infer -H "Inference-Header-Content-Length: 99999" --data-binary @"$W/in.json"; expect 400 'past the end' "header length past the body"
req POST /v2/models/lenet/infer -H "Inference-Header-Content-Length: x" --data-binary @"$W/in.json"; expect 400 'non-negative integer' "bad header length"
req GET /v2/models/lenet/infer; expect 405 'POST' "infer with GET"
req POST /v2/models/lenet/infer --data-binary @"$W/in.json"; expect 200 '"outputs"' "still serving after bad requests"

# mobilenetv2, binary input
curl -s -m 120 -o "$W/m.out" -w '%{http_code}' -H "Inference-Header-Content-Length: $(cat "$W/mnet.hlen")" --data-binary @"$W/mnet.body" "$U/v2/models/mobilenetv2/infer" > "$W/m.code"
[ "$(cat "$W/m.code")" = 200 ] && grep -q '"shape":\[1,1000\]' "$W/m.out" && ok "mobilenetv2 binary-input infer" || fail "mobilenetv2: $(cat "$W/m.code") $(head -c 300 "$W/m.out")"

pids=""
# a one-slot queue: concurrent requests beyond it get 429; concurrent requests batch together
for i in 1 2 3 4 5 6; do
  curl -s -m 120 -o "$W/q.$i.out" -w '%{http_code}' -H "Inference-Header-Content-Length: $(cat "$W/mnet.hlen")" \
    --data-binary @"$W/mnet.body" "$U/v2/models/qone/infer" > "$W/q.$i" & pids="$pids $!"
  curl -s -m 120 -o /dev/null -w '%{http_code}' -H "Inference-Header-Content-Length: $(cat "$W/mnet.hlen")" \
    --data-binary @"$W/mnet.body" "$U/v2/models/mobilenetv2/infer" > "$W/b.$i" & pids="$pids $!"
done
wait $pids
codes=$(cat "$W"/q.[1-6] | sort | uniq -c | tr '\n' ' ')
if grep -q 429 "$W"/q.[1-6] && grep -q 200 "$W"/q.[1-6] && grep -q 'queue holds 1 requests' "$W"/q.*.out; then ok "queue full: 429 ($codes)"; else fail "queue full: $codes"; fi
[ "$(cat "$W"/b.[1-6] | tr -d '\n')" = 200200200200200200 ] && ok "6 concurrent mobilenetv2 requests" || fail "concurrent: $(cat "$W"/b.[1-6])"
req GET /v2/models/mobilenetv2/stats
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['model_stats'][0]; assert s['inference_count']>=7 and s['execution_count']<s['inference_count'] and any(b['batch_size']>1 for b in s['batch_stats']), s" "$W/body" \
  && ok "concurrent requests were batched" || fail "no batching: $BODY"

# statistics and metrics
req GET /v2/models/lenet/stats; expect 200 '"inference_count":' "model stats"
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['model_stats'][0]; assert s['name']=='lenet' and s['inference_count']>=8 and s['execution_count']>=5, s" "$W/body" && ok "stats count samples" || fail "stats counts: $BODY"
M=$(curl -s -m 10 "http://127.0.0.1:$MP/metrics")
echo "$M" | grep -q '^nv_inference_request_success{model="lenet",version="1"} [1-9]' && ok "metrics: success" || fail "metrics success"
echo "$M" | grep -q '^nv_inference_request_failure{model="lenet",version="1",reason="OTHER"} [1-9]' && ok "metrics: failures" || fail "metrics failure"
echo "$M" | grep -q '^gpulet_batch_size_bucket{model="lenet",version="1",le="4"}' && ok "metrics: batch histogram" || fail "metrics histogram"
echo "$M" | grep -q '^gpulet_rejected_early_total{model="tight",version="1"} [1-9]' && ok "metrics: rejected early" || fail "metrics rejected early"
echo "$M" | grep -q '^gpulet_slo_missed_total{model="late",version="1"} [1-9]' && ok "metrics: SLO missed" || fail "metrics SLO missed"
echo "$M" | grep -q '^nv_inference_request_failure{model="qone",version="1",reason="REJECTED"} [1-9]' && ok "metrics: queue-full rejections" || fail "metrics queue full"
req GET /v2/gpulet/plan; expect 200 '"gpulets"' "plan JSON"
# limits: request headers over the limit, too many connections
big=$(head -c 100000 /dev/zero | tr '\0' a)
CODE=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$U/v2/health/live")
case $CODE in 4*) ok "headers over the limit: $CODE";; *) fail "headers over the limit: $CODE";; esac
req GET /v2/health/live; expect 200 'live' "still serving after the header limit"
req GET /; expect 200 '<html' "status page"

# repository: unload, infer fails, load, infer works
req POST /v2/repository/models/lenet/unload; expect 200 '' "unload"
req GET /v2/models/lenet/ready; expect 503 '"ready":false' "unloaded model not ready"
req POST /v2/models/lenet/infer --data-binary @"$W/in.json"; expect 404 'unknown model' "infer after unload"
req POST /v2/repository/models/lenet/load; expect 200 '' "load"
req POST /v2/models/lenet/infer --data-binary @"$W/in.json"; expect 200 '"outputs"' "infer after reload"
req POST /v2/repository/models/nosuch/load; expect 404 'no model' "load unknown model"
req POST /v2/repository/models/broken/load; expect 400 "colour" "load broken model names the problem"
# config.json "precision" (the CUDA arithmetic; the CPU ignores it): a bad name is refused
mkdir -p "$W/repo/badprec"; cp "$W/repo/lenet/model.onnx" "$W/repo/badprec/"
echo '{"max_batch_size": 4, "precision": "fp64"}' > "$W/repo/badprec/config.json"
req POST /v2/repository/models/badprec/load; expect 400 "precision" "load names a bad precision"

# the connection limit: a second server allowing 2 connections answers the third with 503
mkdir -p "$W/repo2/lenet"; cp "$W/repo/lenet/"* "$W/repo2/lenet/"
"$G" serve --model-repository "$W/repo2" --port 0 --metrics-port -1 --port-file "$W/ports2" --max-connections 2 --max-inflight 200000 --quiet 2>> "$W/server.log" &
SP2=$!
for i in $(seq 1 300); do [ -s "$W/ports2" ] && break; sleep 0.1; done
python3 - "$(cut -d' ' -f1 "$W/ports2")" <<'PY' && ok "connection limit: 503 for the third connection" || fail "connection limit"
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
time.sleep(0.2)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
s.settimeout(10)
got = s.recv(4096).decode()
assert got.startswith("HTTP/1.1 503") and "too many connections" in got, got
for c in held: c.close()
s.close()
time.sleep(0.2)
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
c.settimeout(10)
assert c.recv(4096).decode().startswith("HTTP/1.1 200")
PY
CODE=$(curl -s -m 30 -o "$W/busy.out" -w '%{http_code}' -H "Inference-Header-Content-Length: $(cat "$W/mnet.hlen")" \
  --data-binary @"$W/mnet.body" "http://127.0.0.1:$(cut -d' ' -f1 "$W/ports2")/v2/models/lenet/infer")
[ "$CODE" = 503 ] && grep -q 'server busy' "$W/busy.out" && ok "in-flight body bytes limit: 503" || fail "in-flight limit: $CODE $(cat "$W/busy.out")"
CODE=$(curl -s -m 30 -o /dev/null -w '%{http_code}' --data-binary @"$W/in.json" "http://127.0.0.1:$(cut -d' ' -f1 "$W/ports2")/v2/models/lenet/infer")
[ "$CODE" = 200 ] && ok "in-flight bytes released after the busy answer" || fail "after busy: $CODE"
kill -TERM $SP2; wait $SP2 || fail "second server exit code"

# graceful SIGTERM: requests in flight are answered, exit code 0
tpids=""
for i in 1 2 3; do
  curl -s -m 120 -o /dev/null -w '%{http_code}' -H "Inference-Header-Content-Length: $(cat "$W/mnet.hlen")" \
    --data-binary @"$W/mnet.body" "$U/v2/models/mobilenetv2/infer" > "$W/term.$i" & tpids="$tpids $!"
done
sleep 0.3
kill -TERM $SP
wait $SP; rc=$?
wait $tpids
[ $rc = 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
for i in 1 2 3; do [ "$(cat "$W/term.$i")" = 200 ] && ok "in-flight request $i answered" || fail "in-flight request $i: $(cat "$W/term.$i")"; done
trap - EXIT
[ $fails = 0 ] && { echo "all passed"; exit 0; }
echo "$fails failed"; cat "$W/server.log" | tail -20
exit 1
