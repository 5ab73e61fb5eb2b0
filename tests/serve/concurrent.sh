#!/usr/bin/env bash
# tests/serve/concurrent.sh GPULET WORKDIR - `gpulet serve` under concurrent load, checking only
# what does not depend on timing, so it holds under ThreadSanitizer (label tsan; scripts/test.sh
# runs it in build-tsan): JSON and binary requests to two models from many clients at once, while
# other clients read statistics, metrics, the plan and the index, and one model is unloaded and
# reloaded; then SIGTERM with requests in flight. Every request to the steady model must be
# answered 200, the server must exit 0 (ThreadSanitizer exits 66 after a report) and its log must
# hold no sanitizer report. Exit 77 (skip) without curl/python3.
set -u
G=$1; W=$2
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W/repo/lenet" "$W/repo/other"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null || exit 1
cp "$W/repo/lenet/model.onnx" "$W/repo/other/model.onnx"
echo '{"max_batch_size": 8, "slo_ms": 600000, "max_queue_delay_us": 2000, "warm": false}' > "$W/repo/lenet/config.json"
echo '{"max_batch_size": 4, "slo_ms": 600000}' > "$W/repo/other/config.json"
"$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --port-file "$W/ports" --http-threads 4 \
  2> "$W/server.log" &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
for i in $(seq 1 1200); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
[ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
read P MP < "$W/ports"
U="http://127.0.0.1:$P"
python3 - "$W" <<'PY'
import json, struct, sys
w = sys.argv[1]
x = [((i * 7919) % 257) / 128.0 - 1.0 for i in range(784)]
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}]}, open(w + "/in.json", "w"))
h = json.dumps({"inputs": [{"name": "input", "shape": [2, 1, 28, 28], "datatype": "FP32",
                            "parameters": {"binary_data_size": 6272}}],
                "parameters": {"binary_data_output": True}}).encode()
open(w + "/bin.body", "wb").write(h + struct.pack('<1568f', *(x + x))); open(w + "/bin.hlen", "w").write(str(len(h)))
PY
HL=$(cat "$W/bin.hlen")
round() { # $1: tag; 12 JSON + 12 binary clients on lenet, 8 on other, 6 readers; sets pids
  local i
  pids=""
  for i in $(seq 1 12); do
    curl -s -m 300 -o "$W/$1.j$i.out" -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary @"$W/in.json" "$U/v2/models/lenet/infer" > "$W/$1.j$i.code" & pids="$pids $!"
    curl -s -m 300 -o "$W/$1.b$i.out" -w '%{http_code}' -H "Inference-Header-Content-Length: $HL" \
      --data-binary @"$W/bin.body" "$U/v2/models/lenet/infer" > "$W/$1.b$i.code" & pids="$pids $!"
  done
  for i in $(seq 1 8); do
    curl -s -m 300 -o /dev/null -w '%{http_code}' --data-binary @"$W/in.json" "$U/v2/models/other/infer" > "$W/$1.o$i.code" & pids="$pids $!"
  done
  for p in /v2/models/stats /metrics /v2/gpulet/plan /v2/models/lenet /v2/health/ready; do
    curl -s -m 300 -o /dev/null "$U$p" & pids="$pids $!"
  done
  curl -s -m 300 -o /dev/null -X POST "$U/v2/repository/index" & pids="$pids $!"
}
round r1
# unload and reload the other model while requests are in flight
curl -s -m 300 -o "$W/unload.out" -w '%{http_code}' -X POST "$U/v2/repository/models/other/unload" > "$W/unload.code"
curl -s -m 300 -o "$W/load.out" -w '%{http_code}' -X POST "$U/v2/repository/models/other/load" > "$W/load.code"
wait $pids
[ "$(cat "$W/unload.code")" = 200 ] && [ "$(cat "$W/load.code")" = 200 ] && ok "unload + reload under load" \
  || fail "unload/load: $(cat "$W/unload.code" "$W/unload.out" "$W/load.code" "$W/load.out")"
codes=$(cat "$W"/r1.[jb]*.code | tr -d '\n' | sed 's/200//g')
[ -z "$codes" ] && ok "24 concurrent requests to lenet answered 200" || fail "lenet answers: $(cat "$W"/r1.[jb]*.code | tr '\n' ' ') $(head -c 300 "$W"/r1.j1.out)"
bad=$(cat "$W"/r1.o*.code | tr '\n' ' ' | sed 's/200//g; s/503//g; s/404//g; s/ //g')
[ -z "$bad" ] && ok "requests to the reloaded model answered 200/404/503" || fail "other answers: $(cat "$W"/r1.o*.code | tr '\n' ' ')"
grep -aq '"shape":\[2,10\],"parameters":{"binary_data_size":80}' "$W/r1.b1.out" && ok "binary answer holds the output" || fail "binary answer: $(head -c 200 "$W/r1.b1.out")"
# SIGTERM with a round in flight: every admitted request answered, exit 0
round r2
sleep 0.2
kill -TERM $SP
wait $SP; rc=$?
wait $pids
trap - EXIT
[ $rc = 0 ] && ok "SIGTERM under load: exit 0" || fail "server exit $rc (66: ThreadSanitizer found a race)"
bad=$(cat "$W"/r2.[jb]*.code | tr '\n' ' ' | sed 's/200//g; s/503//g; s/000//g; s/ //g')
[ -z "$bad" ] && ok "requests at shutdown: 200, 503 or refused" || fail "answers at shutdown: $(cat "$W"/r2.[jb]*.code | tr '\n' ' ')"
if grep -q "Sanitizer" "$W/server.log"; then fail "sanitizer report:"; grep -A40 -m3 "Sanitizer" "$W/server.log"; else ok "no sanitizer report"; fi
[ $fails = 0 ] && { echo "all passed"; exit 0; }
echo "$fails failed"
exit 1
