#!/usr/bin/env bash
# tests/serve/fault.sh GPULET WORKDIR - fault isolation: with GPULET_FAULT_INJECT=lenet:2 (honoured
# only by builds with GL_FAULT_INJECT, the sanitizer build) the first two lenet batches fail; only
# their requests get 500 with the message, the gpu-let rebuilds its plans and serves on, the
# other model is untouched. Exit 77 when the build has no fault injection or without curl.
set -u
G=$1; W=$2
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
rm -rf "$W"; mkdir -p "$W/repo/lenet" "$W/repo/other"
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null || exit 1
cp "$W/repo/lenet/model.onnx" "$W/repo/other/"
echo '{"max_batch_size": 4, "slo_ms": 10000}' > "$W/repo/lenet/config.json"
echo '{"max_batch_size": 4, "slo_ms": 10000}' > "$W/repo/other/config.json"
GPULET_FAULT_INJECT=lenet:2 "$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 \
  --port-file "$W/ports" 2> "$W/server.log" &
SP=$!
trap 'kill -9 $SP 2>/dev/null' EXIT
for i in $(seq 1 600); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
[ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
grep -q "fault injection armed" "$W/server.log" || { echo "SKIP: this build has no fault injection (GL_FAULT_INJECT)"; exit 77; }
read P MP < "$W/ports"
U="http://127.0.0.1:$P"
python3 -c "
import json
x=[0.5]*784
json.dump({'inputs':[{'name':'input','shape':[1,1,28,28],'datatype':'FP32','data':x}]},open('$W/in.json','w'))"
fails=0
codes=""
for i in 1 2 3 4 5; do
  c=$(curl -s -m 60 -o "$W/out.$i" -w '%{http_code}' --data-binary @"$W/in.json" "$U/v2/models/lenet/infer")
  codes="$codes $c"
done
oc=$(curl -s -m 60 -o /dev/null -w '%{http_code}' --data-binary @"$W/in.json" "$U/v2/models/other/infer")
echo "lenet:$codes other: $oc"
[ "$codes" = " 500 500 200 200 200" ] || { echo "FAIL: codes$codes"; fails=1; }
grep -q 'injected fault' "$W/out.1" || { echo "FAIL: the 500 does not carry the message: $(cat "$W/out.1")"; fails=1; }
[ "$oc" = 200 ] || { echo "FAIL: the other model"; fails=1; }
curl -s -m 10 "$U/v2/gpulet/plan" > "$W/plan.json"
python3 -c "
import json,sys
p=json.load(open('$W/plan.json'))
f=[l['faults'] for l in p['devices'][0]['gpulets'] if any(m['model']=='lenet' for m in l['members'])]
assert f and max(f)==2, f" || { echo "FAIL: plan does not show 2 faults: $(head -c 400 "$W/plan.json")"; fails=1; }
curl -s -m 10 "$U/metrics" | grep -q '^nv_inference_request_failure{model="lenet",version="1",reason="BACKEND"} 2$' \
  || { echo "FAIL: BACKEND failures metric"; fails=1; }
kill -TERM $SP; wait $SP || { echo "FAIL: server exit code"; fails=1; }
trap - EXIT
[ $fails = 0 ] && echo "all passed" || tail -20 "$W/server.log"
exit $fails
