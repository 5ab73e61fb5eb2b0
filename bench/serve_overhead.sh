#!/usr/bin/env bash
# bench/serve_overhead.sh [-d SECONDS] [-r REPEATS] [-c CONNS] [GPULET[=LABEL] ...] - the server's own
# per-request cost: `gpulet serve` pinned to one core (taskset) serving the zoo's `tiny` model (one
# Gemm on 16 floats: compute well under a microsecond), loaded by wrk (Debian `wrk`) pinned to
# another core. Per binary and case: wrk's requests/s and client latency, and, where the server
# has GET /v2/gpulet/overhead, its own overhead p50/p99 from inside (HTTP in -> response queued,
# minus compute; the histogram's difference over the run). Cases: `live` (GET /v2/health/live:
# libmicrohttpd's floor with an empty handler), `post404` (a POST with the binary body to an
# unknown model: the floor with a body), then JSON and binary inference on 1 and CONNS
# connections. Several binaries (e.g. before/after) run interleaved, REPEATS times; medians are
# reported. The server's CPU time per request (all its threads, /proc/PID/task/*/schedstat) and
# 1e6 / that (the requests/s one core would sustain if the server had it alone) are reported
# beside the measured requests/s, which on a shared machine depend on the others. Results:
# bench/results/serve_overhead_<host>_<time>.txt, with the load average at each run.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=4 reps=3 conns=16
while getopts d:r:c: o; do
  case $o in d) secs=$OPTARG ;; r) reps=$OPTARG ;; c) conns=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "$root/build/gpulet"
command -v wrk >/dev/null || { echo "serve_overhead: needs wrk (apt-get install wrk)" >&2; exit 77; }
ncpu=$(nproc)
SCPU=${SERVER_CPU:-0}
WCPU=${WRK_CPU:-$((ncpu > 1 ? 1 : 0))}
W=$(mktemp -d /tmp/gl_serve_ovh.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/repo/tiny"
maker=
for b in "$@"; do "${b%%=*}" zoo tiny -o "$W/repo/tiny/model.onnx" >/dev/null 2>&1 && { maker=${b%%=*}; break; }; done
[ -n "$maker" ] || "$root/build/gpulet" zoo tiny -o "$W/repo/tiny/model.onnx" >/dev/null
echo '{"max_batch_size": 8, "slo_ms": 1000, "max_queue_size": 1024}' > "$W/repo/tiny/config.json"
out=$root/bench/results/serve_overhead_$(hostname)_$(date -u +%Y%m%dT%H%M%SZ).txt
{
  echo "# gpulet serve overhead: model tiny (x[1,16] -> Gemm 4), server on CPU $SCPU (taskset, 1 HTTP thread,"
  echo "# --policy none, 1 core), wrk -t1 on CPU $WCPU, ${secs}s per run, $reps repeats interleaved; medians"
  echo "# machine: $ncpu CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); shared with other users (noisy)"
  echo "# $(date -u) commit $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || true); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# command: bench/serve_overhead.sh -d $secs -r $reps -c $conns $*"
  i=0
  for b in "$@"; do echo "# binary $i: ${b%%=*} label ${b#*=}"; i=$((i + 1)); done
} > "$out"
python3 - "$W" "$secs" "$reps" "$conns" "$SCPU" "$WCPU" "$@" >> "$out" <<'PY'
import json, os, re, statistics, struct, subprocess, sys, time, urllib.request
w, secs, reps, conns, scpu, wcpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
bins = [(b.split("=", 1)[0], b.split("=", 1)[1] if "=" in b else os.path.basename(os.path.dirname(b.split("=", 1)[0])) or b) for b in sys.argv[7:]]
x = [((i * 7919) % 257) / 128.0 - 1.0 for i in range(16)]
jbody = json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": x}]}).encode()
hdr = json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}}],
                  "parameters": {"binary_data_output": True}}).encode()
bbody = hdr + struct.pack("<16f", *x)
def lua(name, method, body, headers):
    p = f"{w}/{name}.lua"
    if body is not None:
        open(f"{w}/{name}.body", "wb").write(body)
    with open(p, "w") as f:
        f.write(f'wrk.method = "{method}"\n')
        for k, v in headers.items(): f.write(f'wrk.headers["{k}"] = "{v}"\n')
        if body is not None:
            f.write(f'local f = io.open("{w}/{name}.body", "rb"); wrk.body = f:read("*all"); f:close()\n')
    return p
cases = [("live", 1, lua("live", "GET", None, {}), "/v2/health/live"),
         ("live", conns, lua("live", "GET", None, {}), "/v2/health/live"),
         ("post404", conns, lua("p404", "POST", bbody, {"Inference-Header-Content-Length": str(len(hdr))}), "/v2/models/nosuch/infer"),
         ("json", 1, lua("json", "POST", jbody, {"Content-Type": "application/json"}), "/v2/models/tiny/infer"),
         ("json", conns, lua("json", "POST", jbody, {"Content-Type": "application/json"}), "/v2/models/tiny/infer"),
         ("binary", 1, lua("bin", "POST", bbody, {"Inference-Header-Content-Length": str(len(hdr))}), "/v2/models/tiny/infer"),
         ("binary", conns, lua("bin", "POST", bbody, {"Inference-Header-Content-Length": str(len(hdr))}), "/v2/models/tiny/infer")]
def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r: return json.loads(r.read())
    except Exception: return None
def start(b):
    pf = f"{w}/ports"
    if os.path.exists(pf): os.remove(pf)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.Popen(["taskset", "-c", scpu, b, "serve", "--model-repository", f"{w}/repo", "--port", "0", "--metrics-port", "-1",
                          "--port-file", pf, "--policy", "none", "--cores-per-model", "1", "--http-threads", "1",
                          "--replan-period", "86400", "--quiet"], env=env, stderr=open(f"{w}/log", "a"))
    for _ in range(600):
        if os.path.exists(pf) and os.path.getsize(pf): break
        time.sleep(0.05)
    port = int(open(pf).read().split()[0])
    return p, port
def cpu_ns(pid):
    # CPU time of every thread of the server (schedstat: ns on a CPU)
    tot = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try: tot += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
        except Exception: pass
    return tot
def us(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
def diff_q(h0, h1, qs=(0.5, 0.99)):
    if not h0 or not h1: return None
    b0 = {(lo, hi): n for lo, hi, n in h0["buckets"]}
    d = sorted((lo, hi, n - b0.get((lo, hi), 0)) for lo, hi, n in h1["buckets"])
    tot = sum(n for _, _, n in d)
    if tot <= 0: return None
    res = []
    for q in qs:
        want, cum = q * tot, 0
        for lo, hi, n in d:
            if cum + n >= want and n > 0:
                res.append(lo + (hi - lo if hi > 0 else 0) * (want - cum) / n); break
            cum += n
    return res + [tot]
def stats(port):
    s = get(port, "/v2/models/tiny/stats")
    if not s: return None
    s = s["model_stats"][0]
    return s["inference_stats"]["compute_infer"]["ns"], s["inference_stats"]["success"]["count"], s["execution_count"]
res = {}
print(f"# raw runs: label case conns req/s server_cpu_us/req req/s_per_core(=1e6/cpu) wrk_p50_us wrk_p99_us errors server_overhead_p50_us server_overhead_p99_us handoff_p50_us handoff_p99_us compute_mean_us batches/req loadavg")
for rep in range(reps):
    for b, label in bins:
        p, port = start(b)
        try:
            for name, c, script, path in cases:
                o0, s0, c0 = get(port, "/v2/gpulet/overhead"), stats(port), cpu_ns(p.pid)
                r = subprocess.run(["taskset", "-c", wcpu, "wrk", "-t1", f"-c{c}", f"-d{secs}s", "--latency", "-s", script,
                                    f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True)
                c1, o1, s1 = cpu_ns(p.pid), get(port, "/v2/gpulet/overhead"), stats(port)
                t = r.stdout
                try:
                    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
                    nreq = int(re.search(r"(\d+) requests in", t).group(1))
                    p50 = us(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)); p99 = us(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
                except Exception:
                    print(f"# {label} {name} {c}: wrk output not understood: {t!r} {r.stderr!r}", flush=True)
                    continue
                cpu = (c1 - c0) / 1e3 / max(nreq, 1)
                m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
                errs = int(m.group(1)) if m else 0
                ov = diff_q(o0 and o0["overhead"], o1 and o1["overhead"]) if name in ("json", "binary") else None
                ho = diff_q(o0 and o0["handoff"], o1 and o1["handoff"]) if name in ("json", "binary") else None
                comp = bpr = None
                if name in ("json", "binary") and s0 and s1 and s1[1] > s0[1]:
                    comp = (s1[0] - s0[0]) / (s1[1] - s0[1]) / 1e3
                    bpr = (s1[2] - s0[2]) / (s1[1] - s0[1])
                la = open("/proc/loadavg").read().split()[0]
                f = lambda v: "-" if v is None else f"{v:.1f}"
                print(f"{label} {name} {c} {rps:.0f} {cpu:.1f} {1e6 / cpu:.0f} {p50:.0f} {p99:.0f} {errs} {f(ov and ov[0])} {f(ov and ov[1])} {f(ho and ho[0])} {f(ho and ho[1])} {f(comp)} {f(bpr)} {la}", flush=True)
                res.setdefault((label, name, c), []).append((rps, p50, p99, errs, ov and ov[0], ov and ov[1], ho and ho[0], ho and ho[1], comp, cpu, 1e6 / cpu))
        finally:
            p.terminate(); p.wait()
print("# medians over the repeats: label case conns req/s cpu_us/req req/s_per_core wrk_p50_us wrk_p99_us errors(sum) overhead_p50_us overhead_p99_us handoff_p50_us handoff_p99_us compute_mean_us")
for (label, name, c), v in res.items():
    def med(i):
        xs = [r[i] for r in v if r[i] is not None]
        return "-" if not xs else f"{statistics.median(xs):.1f}"
    print(f"MEDIAN {label} {name} c={c} req/s={med(0)} cpu_us/req={med(9)} req/s_per_core={med(10)} wrk_p50_us={med(1)} wrk_p99_us={med(2)} errors={sum(r[3] for r in v)} "
          f"overhead_p50_us={med(4)} overhead_p99_us={med(5)} handoff_p50_us={med(6)} handoff_p99_us={med(7)} compute_us={med(8)}")
PY
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"
cat "$out"
echo "wrote $out"
