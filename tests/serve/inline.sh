#!/usr/bin/env bash
# tests/serve/inline.sh GPULET WORKDIR [EXPECT_INLINE] - the short-request path of `gpulet serve`: the
# zoo's `tiny` model (a batch of 1 well under 20 us) answered by the HTTP thread that received the
# request (no suspend) when it is alone in its queue, else through suspend/resume. Sequential
# requests, then 16 concurrent clients (JSON and binary) so both paths and their race (an answer
# arriving as the handler gives up waiting) are taken. Every request must be answered 200 with the
# same output, GET /v2/gpulet/overhead must count exactly the successful inferences, with
# EXPECT_INLINE=1 some of them answered inline (not under sanitizers: a slow batch of 1 turns the
# path off), and the server must exit 0 on SIGTERM with no sanitizer report in its log.
# Also under ThreadSanitizer (tests/tsan.cmake). Exit 77 (skip) without curl/python3.
set -u
G=$1; W=$2; EXPECT_INLINE=${3:-0}
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
make_repo tiny || { echo "FAIL: zoo tiny"; exit 1; }
echo '{"max_batch_size": 8, "slo_ms": 600000}' > "$W/repo/tiny/config.json"
start_server --http-threads 2 --policy none
python3 - "$W" <<'PY'
import json, struct, sys
w = sys.argv[1]
x = [i / 8.0 - 1.0 for i in range(16)]
json.dump({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "data": x}]}, open(w + "/in.json", "w"))
h = json.dumps({"inputs": [{"name": "input", "shape": [1, 16], "datatype": "FP32", "parameters": {"binary_data_size": 64}}]}).encode()
open(w + "/bin.body", "wb").write(h + struct.pack("<16f", *x)); open(w + "/bin.hlen", "w").write(str(len(h)))
PY
HL=$(cat "$W/bin.hlen")
# sequential: one keep-alive connection, 40 requests
urls=""; for i in $(seq 1 40); do urls="$urls $U/v2/models/tiny/infer"; done
curl -s -m 120 -H 'Content-Type: application/json' -d @"$W/in.json" $urls -w '\n%{http_code}\n' > "$W/seq.out"
n200=$(grep -c '^200$' "$W/seq.out")
[ "$n200" = 40 ] && ok "40 sequential requests answered 200" || fail "sequential: $n200 of 40 answered 200"
# concurrent: 16 clients x 10 requests each (half JSON, half binary)
pids=""
for c in $(seq 1 16); do
  if [ $((c % 2)) = 0 ]; then
    (for i in $(seq 1 10); do curl -s -m 120 -o "$W/c$c.$i.out" -w '%{http_code}\n' -H 'Content-Type: application/json' \
       -d @"$W/in.json" "$U/v2/models/tiny/infer"; done > "$W/c$c.codes") & pids="$pids $!"
  else
    (for i in $(seq 1 10); do curl -s -m 120 -o "$W/c$c.$i.out" -w '%{http_code}\n' -H "Inference-Header-Content-Length: $HL" \
       --data-binary @"$W/bin.body" "$U/v2/models/tiny/infer"; done > "$W/c$c.codes") & pids="$pids $!"
  fi
done
wait $pids
cn=$(cat "$W"/c*.codes | grep -c '^200$')
[ "$cn" = 160 ] && ok "160 concurrent requests answered 200" || fail "concurrent: $cn of 160 answered 200"
# every JSON answer carries the same output; every binary answer the same bytes
nj=$(cat "$W"/c{2,4,6,8,10,12,14,16}.*.out | python3 -c "
import sys, re
outs = set(re.findall(r'\"data\":\[[^]]*\]', sys.stdin.read()))
print(len(outs))")
[ "$nj" = 1 ] && ok "JSON answers agree" || fail "JSON answers differ ($nj distinct outputs)"
nb=$(md5sum "$W"/c{1,3,5,7,9,11,13,15}.*.out | awk '{print $1}' | sort -u | wc -l)
[ "$nb" = 1 ] && ok "binary answers agree" || fail "binary answers differ ($nb distinct)"
req GET /v2/gpulet/overhead
python3 - "$W/body" "$EXPECT_INLINE" <<'PY' && ok "overhead counts every inference ($(cat "$W/body" | head -c 120)...)" || fail "overhead: $BODY"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["overhead"]["count"] == 200 and o["handoff"]["count"] == 200, o["overhead"]["count"]
assert sum(b[2] for b in o["overhead"]["buckets"]) == 200
assert o["overhead"]["p50_us"] is not None and o["overhead"]["p50_us"] <= o["overhead"]["p99_us"]
assert 0 <= o["answered_inline"] <= 200
if sys.argv[2] == "1": assert o["answered_inline"] > 0, "none answered inline"
PY
req GET /metrics
printf '%s' "$BODY" | grep -q '^gpulet_server_overhead_seconds_count 200$' && ok "metrics histogram" || fail "metrics: no gpulet_server_overhead_seconds_count 200"
stop_server
if grep -q "Sanitizer" "$W/server.log"; then fail "sanitizer report"; grep -A30 Sanitizer "$W/server.log" | head -60; fi
[ $fails = 0 ] && echo "PASS" || { echo "$fails failures"; exit 1; }
