#!/usr/bin/env bash
# bench/serve_overhead.sh [GPULET] [SECONDS] - requests/s of `gpulet serve` with lenet on one core,
# and the server's overhead per request (client latency minus compute time from /stats).
# Load: wrk (Debian package `wrk`) when installed, else a keep-alive Python client (one process,
# C connections, closed loop). Raw results go to bench/results/serve_overhead_<host>_<time>.txt.
# The machine this ran on is shared and noisy: read the numbers as rough, run it a few times.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
G=${1:-$root/build/gpulet}
secs=${2:-5}
W=$(mktemp -d /tmp/gl_serve_bench.XXXXXX)
mkdir -p "$W/repo/lenet"
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null
echo '{"max_batch_size": 16, "slo_ms": 1000, "max_queue_size": 1024}' > "$W/repo/lenet/config.json"
OMP_NUM_THREADS=1 "$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --port-file "$W/ports" \
  --cores-per-model 1 --http-threads 1 --quiet 2> "$W/log" &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$W"' EXIT
for i in $(seq 1 300); do [ -s "$W/ports" ] && break; sleep 0.1; done
read P MP < "$W/ports"
out=$root/bench/results/serve_overhead_$(hostname)_$(date -u +%Y%m%dT%H%M%SZ).txt
{
  echo "# gpulet serve overhead: lenet, 1 executor core, 1 HTTP thread, ${secs}s per run"
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); shared with other users (noisy)"
  echo "# $(date -u) $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || true)"
} > "$out"
python3 - "$P" "$secs" "$W" >> "$out" <<'PY'
import http.client, json, struct, sys, threading, time
port, secs, w = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
x = [((i * 7919) % 257) / 128.0 - 1.0 for i in range(784)]
jbody = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}]}).encode()
h = json.dumps({"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}],
                "parameters": {"binary_data_output": True}}).encode()
bbody = h + struct.pack("<784f", *x)
def stats():
    c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/v2/models/lenet/stats")
    s = json.loads(c.getresponse().read())["model_stats"][0]; c.close(); return s
def run(body, hdrs, conns):
    lat, stop, errs = [], time.time() + secs, [0]
    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port)
        mine = []
        while time.time() < stop:
            t0 = time.perf_counter()
            c.request("POST", "/v2/models/lenet/infer", body, hdrs)
            r = c.getresponse(); r.read()
            if r.status != 200: errs[0] += 1
            mine.append(time.perf_counter() - t0)
        c.close(); lat.extend(mine)
    s0 = stats(); t0 = time.time()
    th = [threading.Thread(target=worker) for _ in range(conns)]
    [t.start() for t in th]; [t.join() for t in th]
    el = time.time() - t0; s1 = stats()
    n = s1["inference_stats"]["success"]["count"] - s0["inference_stats"]["success"]["count"]
    d = lambda k: (s1["inference_stats"][k]["ns"] - s0["inference_stats"][k]["ns"]) / max(n, 1) / 1e3
    ex = s1["execution_count"] - s0["execution_count"]
    lat.sort()
    mean = sum(lat) / len(lat) * 1e6
    print(f"{'json' if body is jbody else 'binary'} conns={conns} requests={len(lat)} errors={errs[0]} req/s={len(lat)/el:.0f} "
          f"client_mean_us={mean:.0f} client_p50_us={lat[len(lat)//2]*1e6:.0f} client_p99_us={lat[int(len(lat)*0.99)]*1e6:.0f} "
          f"server_request_us={d('success'):.0f} queue_us={d('queue'):.0f} compute_infer_us={d('compute_infer'):.0f} "
          f"input_us={d('compute_input'):.1f} output_us={d('compute_output'):.1f} batches={ex} "
          f"overhead_us(client_mean-compute)={mean - d('compute_infer'):.0f}")
print("# load generator: python http.client keep-alive (wrk not installed); its own cost is inside client_* numbers")
for body, hd in [(jbody, {"Content-Type": "application/json"}),
                 (bbody, {"Inference-Header-Content-Length": str(len(h)), "Content-Type": "application/octet-stream"})]:
    for conns in (1, 4):
        run(body, hd, conns)
PY
if command -v wrk >/dev/null; then
  # wrk: the same JSON request over 1 and 4 keep-alive connections (one wrk thread)
  python3 -c "
import json
x=[((i*7919)%257)/128.0-1.0 for i in range(784)]
open('$W/body.json','w').write(json.dumps({'inputs':[{'name':'input','shape':[1,1,28,28],'datatype':'FP32','data':x}]}))"
  cat > "$W/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$W/body.json", "rb"); wrk.body = f:read("*all"); f:close()
LUA
  for c in 1 4; do
    echo "# wrk -t1 -c$c -d${secs}s json" >> "$out"
    wrk -t1 -c$c -d${secs}s --latency -s "$W/post.lua" "http://127.0.0.1:$P/v2/models/lenet/infer" >> "$out" 2>&1 || true
  done
fi
cat "$out"
echo "wrote $out"
