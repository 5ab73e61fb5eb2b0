#!/usr/bin/env bash
# tests/serve/priority.sh GPULET WORKDIR - the `priority` request parameter orders a model's queue:
# with a backlog of priority-5 requests on a model that runs one at a time, a priority-1 request
# sent once 6 or more wait is answered before them (by deadline alone, as with priority 5 itself,
# it would come last: answered after none); then the
# same with the model's config `priority` as the default level. Exit 77 without curl/python3.
set -u
G=$1; W=$2
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
make_repo mobilenetv2 || exit 1
echo '{"max_batch_size": 1, "slo_ms": 600000, "warm": false, "priority": 3}' > "$W/repo/mobilenetv2/config.json"
# binary tensor bodies: parsing costs nothing, so the backlog forms in the model's queue
python3 - "$W" <<'PY'
import json, struct, sys
w = sys.argv[1]
raw = struct.pack('<%df' % (3 * 224 * 224), *[((i * 31) % 97) / 97.0 for i in range(3 * 224 * 224)])
for name, prio in (("low", 5), ("high", 1), ("dflt", 0)):
    h = {"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}]}
    if prio: h["parameters"] = {"priority": prio}
    h = json.dumps(h).encode()
    open(f"{w}/{name}.body", "wb").write(h + raw); open(f"{w}/{name}.hlen", "w").write(str(len(h)))
PY
start_server --cores-per-model 1
req GET /v2/models/mobilenetv2/config; expect 200 '"priority":{"string_value":"3"}' "config priority reported"
req POST /v2/models/mobilenetv2/infer --data-binary @"$W/high.body" -H "Inference-Header-Content-Length: $(cat "$W/high.hlen")"; expect 200 '"model_name"' "a first request (compiles batch 1)"
# race LATE: 20 priority-5 requests in parallel; once all have arrived and 6 or more still wait in
# the queue (the plan's "queued", either plan form), one request from file LATE. Prints how many of the 20 are answered
# after it (-1 if any answer is not 200). One Python process, so the client adds no delay.
race() {
  python3 - "$P" "$W" "$1" <<'PY'
import http.client, json, sys, threading, time
port, w, late = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def body(name): return open(f"{w}/{name}.body", "rb").read(), open(f"{w}/{name}.hlen").read()
def send(name, out, i):
    b, h = body(name)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v2/models/mobilenetv2/infer", b, {"Inference-Header-Content-Length": h})
    r = c.getresponse(); r.read()
    out[i] = (r.status, time.monotonic())
def queued():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v2/gpulet/plan"); p = json.loads(c.getresponse().read())
    return max([m.get("queued", 0) for m in p.get("models", []) + p.get("gpulets", [])] + [0])
low = [None] * 20
ts = [threading.Thread(target=send, args=("low", low, i)) for i in range(20)]
for t in ts: t.start()
q = 0
for _ in range(2000):
    q = queued()
    done = sum(1 for r in low if r is not None)
    if q >= 6 and q + done >= 19: break  # every one has arrived (one may be running)
    time.sleep(0.002)
print(f"queued when the late request was sent: {q}", file=sys.stderr)
res = [None]
send(late, res, 0)
for t in ts: t.join()
if res[0][0] != 200 or any(r[0] != 200 for r in low): print(-1)
else: print(sum(1 for r in low if r[1] > res[0][1]))
PY
}
after=$(race high)
echo "priority 1 after a priority-5 backlog: $after of 20 backlog requests answered after it"
[ "$after" -ge 4 ] && ok "priority 1 jumps the priority-5 queue" || fail "priority 1: only $after of 20 priority-5 requests answered after it"
after=$(race dflt)
echo "no priority (config default 3) after a priority-5 backlog: $after of 20 answered after it"
[ "$after" -ge 4 ] && ok "the config's default level (3) goes before priority 5" || fail "default level: only $after of 20 after it"
stop_server
echo "$fails failure(s)"
[ $fails = 0 ]
