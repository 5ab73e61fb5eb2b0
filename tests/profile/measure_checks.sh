#!/usr/bin/env bash
# tests/profile/measure_checks.sh GPULET - `gpulet profile --device cpu`: a tiny measured profile
# the reader accepts with the right entries, --resume that measures nothing twice, co-run samples,
# and clear errors (exit 2 for usage, 1 for failures) on bad arguments.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME EXPECTED_RC PATTERN -- command...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc $rc (want $want), output:"; echo "$out" | tail -8; fail=1
  else
    echo "ok   $name"
  fi
}
p=$tmp/p.json
tiny=(--device cpu --models lenet --sizes 1 --iters 5 --min-iters 3 --warmup 1)
check tiny 0 "wrote .*p.json \(1 models, 1 sizes, 2 batches" -- "$bin" profile "${tiny[@]}" --batches 1,2 -o "$p"
# the entries: read back with an independent JSON reader (the profiler already re-reads the file
# through gl_profile_load before it reports success)
python3 - "$p" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "gpulet-profile" and d["version"] == 1
assert d["device"]["kind"] == "cpu" and d["device"]["unit"] == "core", d["device"]
assert d["provenance"]["analytic"] is False and d["provenance"]["when"] and d["provenance"]["who"]
assert d["sizes"] == [1] and d["batches"] == [1, 2], (d["sizes"], d["batches"])
(m,) = d["models"]
assert m["name"] == "lenet" and m["memory_mb"] > 0.2, m["memory_mb"]   # 61706 f32 weights
med, p99 = m["latency_ms"]["median"], m["latency_ms"]["p99"]
assert len(med) == 2 and all(len(r) == 1 and r[0] > 0 for r in med), med
assert all(q[0] >= r[0] for q, r in zip(p99, med)), (p99, med)
assert all(3 <= r[0] <= 5 for r in m["runs"]), m["runs"]
assert m["arena_bytes"][1] > m["arena_bytes"][0] > 0, m["arena_bytes"]
assert "INCOMPLETE" not in d["notes"]
print("ok   entries")
PY
cp "$p" "$tmp/first.json"
check resume-nothing 0 "^profile: 0 cells to measure" -- "$bin" profile "${tiny[@]}" --batches 1,2 -o "$p" --resume
check resume-one 0 "^profile: 1 cells to measure" -- "$bin" profile "${tiny[@]}" --batches 1,2,4 -o "$p" --resume
python3 - "$tmp/first.json" "$p" <<'PY' || fail=1
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
ma, mb = a["models"][0]["latency_ms"]["median"], b["models"][0]["latency_ms"]["median"]
assert b["batches"] == [1, 2, 4] and mb[:2] == ma, (ma, mb)   # kept, not re-measured
assert mb[2][0] > 0
print("ok   resume kept the cells")
PY
if [ "$(nproc)" -ge 2 ]; then
  c=$tmp/c.json
  check corun 0 "co-runs on 1 \+ 1 cores" -- "$bin" profile "${tiny[@]}" --batches 1,2 --corun --corun-batches 1,2 --corun-s 0.05 -o "$c"
  python3 - "$c" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
s = d["corun"]["samples"]
assert len(s) == 4 and all(x["slowdown"] > 0 and len(x["x"]) == 4 and x["units"] == 1 for x in s), s
print("ok   co-run samples")
PY
  check corun-resume 0 "wrote .* 2 co-runs" -- "$bin" profile "${tiny[@]}" --batches 1,2 --corun --corun-batches 1,2 --corun-s 0.05 -o "$c" --resume
fi
check no-batch1 2 "--batches must start at 1" -- "$bin" profile --device cpu --models lenet --batches 2,4 -o "$tmp/x.json"
check descending 2 "strictly ascending" -- "$bin" profile --device cpu --models lenet --batches 1,4,2 -o "$tmp/x.json"
check bad-list 2 "not a comma-separated list" -- "$bin" profile --device cpu --models lenet --sizes 1,x -o "$tmp/x.json"
check too-big 2 "--sizes: 999 cores cannot be granted" -- "$bin" profile --device cpu --models lenet --sizes 999 -o "$tmp/x.json"
check bad-iters 2 "--iters: 'abc'" -- "$bin" profile --device cpu --models lenet --iters abc -o "$tmp/x.json"
check no-output 2 "needs --device, --models and -o" -- "$bin" profile --device cpu --models lenet
check unknown-model 1 "'nosuch' is neither a zoo model" -- "$bin" profile --device cpu --models nosuch --sizes 1 -o "$tmp/x.json"
check unknown-device 2 "unknown device 'tpu'" -- "$bin" profile --device tpu --models lenet -o "$tmp/x.json"
check cuda-hook 1 "green-context" -- "$bin" profile --device cuda --models lenet -o "$tmp/x.json"
echo '{"format": "gpulet-profile", "device": {"kind": "cuda", "name": "h100"}}' >"$tmp/other.json"
check resume-other 1 "measured on another device" -- "$bin" profile "${tiny[@]}" --batches 1,2 -o "$tmp/other.json" --resume
check analytic-still 0 "wrote .*a.json \(analytic h100\)" -- "$bin" profile --analytic h100 -o "$tmp/a.json"
[ ! -e "$tmp/x.json" ] || { echo "FAIL: a failed run left $tmp/x.json"; fail=1; }
exit $fail
