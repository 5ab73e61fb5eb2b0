#!/usr/bin/env bash
# tests/serve/devices.sh GPULET WORKDIR - several devices in the server: bad --devices and
# --partition values are refused with the reason; `--devices cpu:2` plans two identical 1-core
# devices together: with load that one core cannot carry (two lenet copies planned as resnet50,
# 9 req/s each at ~60 ms a request) the plan JSON lists both devices, each with a gpu-let on its
# own core, both models answer, and gpulet_devices counts 2 ok. Exit 77 without curl.
set -u
G=$1; W=$2
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
make_repo lenet1=lenet lenet2=lenet || { echo "FAIL: zoo"; exit 1; }
for m in lenet1 lenet2; do
  echo '{"max_batch_size": 8, "slo_ms": 400, "rate": 6, "profile_model": "resnet50"}' > "$W/repo/$m/config.json"
done

bad() { # WANT-IN-MESSAGE ARGS...
  local want=$1; shift
  timeout 60 "$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 "$@" > /dev/null 2> "$W/bad.log"
  local rc=$?
  if [ $rc != 0 ] && [ $rc != 124 ] && grep -q -- "$want" "$W/bad.log"; then ok "refused: $*"; else fail "$* (rc $rc): $(tail -2 "$W/bad.log")"; fi
}
bad "bad item 'cpu:0'" --devices cpu:0
bad "unknown item 'gpu:1'" --devices gpu:1
bad "fallback device" --devices cuda:0,cpu:2
bad "the CPU is named twice" --devices cpu,cpu
bad "fewer than 16 devices" --devices cpu:16
bad "green, mps or whole" --partition magic
bad "not with --whole" --devices cpu:2 --whole
# without a GPU (the build machines), a CUDA device is refused with the reason
if ! timeout 20 "$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --devices cuda:0 > /dev/null 2> "$W/cuda.log"; then
  grep -q "cuda:0" "$W/cuda.log" && ok "cuda:0 without a usable GPU: $(tail -1 "$W/cuda.log" | head -c 160)" \
    || fail "cuda:0 refusal does not name the device: $(tail -1 "$W/cuda.log")"
fi

start_server --devices cpu:2
req GET /v2/gpulet/plan
cp "$W/body" "$W/plan.json"
python3 - "$W/plan.json" <<'EOF' && ok "cpu:2: two 1-core devices, a gpu-let on each" || fail "cpu:2 plan: $(head -c 900 "$W/plan.json")"
import json, sys
p = json.load(open(sys.argv[1]))
d = p["devices"]
assert len(d) == 2, len(d)
assert all(x["units"] == 1 and x["state"] == "ok" and x["kind"] == "cpu" for x in d), d
assert p["degraded"] is False
assert all(len(x["gpulets"]) >= 1 for x in d), [len(x["gpulets"]) for x in d]
cpus = [set(c for l in x["gpulets"] for c in l["cpus"]) for x in d]
assert all(len(c) == 1 for c in cpus) and not (cpus[0] & cpus[1]), cpus
on = {k["model"] for x in d for l in x["gpulets"] for k in l["members"]}
assert on == {"lenet1", "lenet2"}, on
EOF
lenet_input "$W/in.json"
for m in lenet1 lenet2; do
  req POST /v2/models/$m/infer --data-binary @"$W/in.json"
  expect 200 '"outputs"' "infer $m on cpu:2"
done
req GET /metrics
printf '%s\n' "$BODY" | grep -q '^gpulet_devices{state="ok"} 2$' && ok "gpulet_devices ok 2" || fail "gpulet_devices: $(printf '%s\n' "$BODY" | grep gpulet_devices)"
stop_server
[ $fails = 0 ] && echo "all passed" || tail -20 "$W/server.log"
exit $((fails > 0))
