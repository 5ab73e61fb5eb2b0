#!/usr/bin/env bash
# tests/serve/status_page.sh GPULET WORKDIR ARTIFACTS - the status page at / rendered by headless
# Chromium against a live `gpulet serve` with three models after some requests: the page's script
# has polled (more than once), shows a block per gpu-let sized by its share, a row per model with
# the request count, percentiles and SLO attainment that /v2/models/stats gives, and no error.
# Also the static files' content types and ETag revalidation. Leaves a screenshot in
# ARTIFACTS/status.png. Exit 77 (skip) without chromium (or $CHROMIUM), curl or python3.
set -u
G=$1; W=$2; ART=$3
CHROME=${CHROMIUM:-chromium}
command -v "$CHROME" >/dev/null || { echo "SKIP: $CHROME not found (Debian package chromium; scripts/install-deps.sh)"; exit 77; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
timeout 20 "$CHROME" --version >/dev/null 2>&1 || { echo "SKIP: '$CHROME --version' fails: Chromium cannot run here"; exit 77; }
rm -rf "$W"; mkdir -p "$W" "$ART"
. "$(dirname "$0")/lib.sh"
make_repo lenet lenet2=lenet lenet3=lenet || exit 1
echo '{"max_batch_size": 4, "slo_ms": 5000}' > "$W/repo/lenet2/config.json"
echo '{"max_batch_size": 2, "slo_ms": 2000}' > "$W/repo/lenet3/config.json"
lenet_input "$W/in.json"
start_server
for i in 1 2 3 4 5; do req POST /v2/models/lenet/infer -d @"$W/in.json"; [ "$CODE" = 200 ] || fail "infer lenet: $CODE"; done
for i in 1 2 3; do req POST /v2/models/lenet2/infer -d @"$W/in.json"; [ "$CODE" = 200 ] || fail "infer lenet2: $CODE"; done

# the static files
req GET /; expect 200 '<script src="/status.js">' "index.html at /"
grep -qi '^Content-Type: text/html; charset=utf-8' "$W/headers" && ok "/: text/html" || fail "/: $(cat "$W/headers")"
grep -qi '^Cache-Control: no-cache' "$W/headers" && ok "/: Cache-Control" || fail "/: no Cache-Control"
ETAG=$(grep -i '^ETag:' "$W/headers" | cut -d' ' -f2 | tr -d '\r')
req GET / -H "If-None-Match: $ETAG"; [ "$CODE" = 304 ] && [ -z "$BODY" ] && ok "/: 304 when unchanged" || fail "/: revalidation got $CODE"
req GET /status.js; expect 200 'function tick' "status.js"
grep -qi '^Content-Type: text/javascript; charset=utf-8' "$W/headers" && ok "status.js: text/javascript" || fail "status.js content type"
req GET /status.css; expect 200 '.let' "status.css"
grep -qi '^Content-Type: text/css; charset=utf-8' "$W/headers" && ok "status.css: text/css" || fail "status.css content type"
req POST /status.js; expect 405 '"error"' "POST to a static file: 405"

# the page in Chromium: --virtual-time-budget lets its once-a-second timer run several polls
chrome() { timeout 25 "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --no-first-run \
             --user-data-dir="$W/chrome" --virtual-time-budget=4000 "$@" 2>> "$W/chrome.log"; }
t0=$(date +%s)
chrome --dump-dom "$U/" > "$W/dom.html" || fail "chromium --dump-dom exited $?"
chrome --window-size=1280,860 --screenshot="$ART/status.png" "$U/" >/dev/null || fail "chromium --screenshot exited $?"
echo "chromium took $(( $(date +%s) - t0 )) s"
req GET /v2/gpulet/plan; echo "$BODY" > "$W/plan.json"
req GET /v2/models/stats; echo "$BODY" > "$W/stats.json"
python3 - "$W/dom.html" "$W/plan.json" "$W/stats.json" <<'PY' || fail "the page does not show what the server reports"
import json, re, sys
from html.parser import HTMLParser
dom = open(sys.argv[1]).read()
plan, stats = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))

class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.lets = []; s.rows = {}; s.row = None; s.cell = None; s.polls = 0; s.conn = ''; s.in_conn = False
    def handle_starttag(s, tag, a):
        a = dict(a); cls = a.get('class', '').split()
        if tag == 'body': s.polls = int(a.get('data-polls', 0))
        if 'let' in cls and 'free' not in cls: s.lets.append(a)
        if tag == 'tr' and 'data-model' in a: s.row = a['data-model']; s.rows[s.row] = dict(a)
        if tag == 'td' and s.row: s.cell = cls[0] if cls and cls[0] != 'l' else None
        if a.get('id') == 'conn': s.in_conn = True
    def handle_endtag(s, tag):
        if tag == 'tr': s.row = None
        if tag == 'td': s.cell = None
        if tag == 'p': s.in_conn = False
    def handle_data(s, d):
        if s.row and s.cell: s.rows[s.row][s.cell] = s.rows[s.row].get(s.cell, '') + d.strip()
        if s.in_conn: s.conn += d
p = P(); p.feed(dom)
bad = []
def check(cond, what):
    print(('ok: ' if cond else 'FAIL: ') + what)
    if not cond: bad.append(what)
check(p.polls >= 2, f'the page polled {p.polls} times (>= 2)')
check(p.conn.startswith('updated'), f'no error shown ({p.conn.strip()!r})')
# gpu-lets: the contract's form (devices[].gpulets) or the older one (gpulets[])
if 'devices' in plan:
    lets = [(g['id'], g.get('share')) for d in plan['devices'] for g in d['gpulets']]
else:
    # the page groups the entries of models sharing a partition (same CPUs) into one gpu-let
    lets, seen = [], {}
    for g in plan['gpulets']:
        key = (g.get('kind'), tuple(g.get('cpus', [])))
        if key not in seen: seen[key] = len(lets); lets.append((len(lets), g['share']))
check(len(p.lets) == len(lets), f'{len(p.lets)} gpu-let blocks for {len(lets)} gpu-lets')
for (lid, share), a in zip(lets, p.lets):
    check(str(lid) == a.get('data-let') and abs(float(a['data-share']) - share) < 1e-9, f'gpu-let {lid}: share {a.get("data-share")} = {share}')
    m = re.search(r'flex: 0 1 ([0-9.]+)%', a.get('style', ''))
    check(m is not None and abs(float(m.group(1)) - 100 * share) < 1e-2, f'gpu-let {lid}: width {m and m.group(1)}% of the device')
names = [m['name'] for m in stats['model_stats']]
check(sorted(names) == ['lenet', 'lenet2', 'lenet3'], f'stats models {names}')
def fmt(v, d): return '-' if v is None else f'{v:.{d}f}'
for m in stats['model_stats']:
    r = p.rows.get(m['name'])
    check(r is not None, f'a row for {m["name"]}')
    if r is None: continue
    g = m['gpulet']; ok_n = m['inference_stats']['success']['count']
    check(r.get('success') == str(ok_n) == r.get('data-success'), f'{m["name"]}: answered {r.get("success")} = {ok_n}')
    check(r.get('p50') == fmt(g.get('p50_ms'), 2), f'{m["name"]}: p50 {r.get("p50")} = {fmt(g.get("p50_ms"), 2)}')
    check(r.get('p99') == fmt(g.get('p99_ms'), 2), f'{m["name"]}: p99 {r.get("p99")} = {fmt(g.get("p99_ms"), 2)}')
    att = '-' if g.get('slo_attain') is None else f'{100 * g["slo_attain"]:.1f}%'
    check(r.get('attain') == att, f'{m["name"]}: SLO attainment {r.get("attain")} = {att}')
    check(r.get('rate', '-') != '-', f'{m["name"]}: a rate is shown ({r.get("rate")})')
for n in ('lenet', 'lenet2', 'lenet3'):
    check(re.search(r'<b>' + n + r'</b>', dom) is not None, f'{n} labels a gpu-let block')
check(p.rows.get('lenet', {}).get('success') == '5' and p.rows.get('lenet2', {}).get('success') == '3', 'the counts are the requests sent (5, 3)')
sys.exit(1 if bad else 0)
PY
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if d[:8]==b"\x89PNG\r\n\x1a\n" and len(d) > 10000 else 1)' "$ART/status.png" \
  && ok "screenshot: $ART/status.png" || fail "no screenshot in $ART/status.png"
stop_server

# The plan in the form of CONTRACTS.md section 2 (devices[].gpulets[].members, models, history),
# served as static files by Python next to the page's own files: the page draws it the same way.
F="$W/fake"; mkdir -p "$F/v2/gpulet" "$F/v2/models"
cp "$(dirname "$0")/../../src/serve/web/"* "$F/"
python3 - "$F" <<'PY'
import json, sys
f = sys.argv[1]
plan = {"policy": "gpulet", "epoch": 3, "uptime_s": 12.5, "decision_ms": 0.41, "feasible": True, "why": "",
  "devices": [{"id": 0, "kind": "cpu", "name": "Test CPU", "unit": "core", "units": 4, "gpulets": [
    {"id": 7, "units": 2, "share": 0.5, "cpus": [0, 1], "state": "serving", "duty_ms": 12.0, "occupancy": 0.61,
     "members": [{"model": "alpha", "batch": 8, "rate": 100.0, "predicted_ms": 1.2, "observed_ms": 1.31},
                 {"model": "beta", "batch": 4, "rate": 20.0, "predicted_ms": 3.0, "observed_ms": None}]},
    {"id": 9, "units": 1, "share": 0.25, "cpus": [2], "state": "warming", "members": [{"model": "gamma", "batch": 2}]}]},
   {"id": 1, "kind": "gpu", "name": "Test GPU", "unit": "SM", "units": 100, "gpulets": [
    {"id": 11, "units": 60, "share": 0.6, "state": "retiring", "members": [{"model": "alpha", "batch": 16}]}]}],
  "models": [{"name": "alpha", "slo_ms": 100, "percentile": 99, "rate_observed": 95.2, "rate_target": 114.2, "queued": 3, "gpulets": [7, 11]},
             {"name": "beta", "slo_ms": 50, "percentile": 99, "rate_observed": 19.5, "queued": 0, "gpulets": [7]},
             {"name": "gamma", "slo_ms": 20, "percentile": 99, "rate_observed": 0, "queued": 0, "gpulets": [9]}],
  "history": [{"epoch": 2, "t_s": 0.0, "reason": "load", "incremental": False, "lets_built": 2, "lets_kept": 0, "lets_retired": 0, "decision_ms": 0.3, "switch_ms": 120.0},
              {"epoch": 3, "t_s": 10.0, "reason": "drift", "incremental": True, "lets_built": 1, "lets_kept": 1, "lets_retired": 1, "decision_ms": 0.41, "switch_ms": 35.0}]}
def st(name, ok, p50, p99, att):
    return {"name": name, "version": "1", "inference_stats": {"success": {"count": ok, "ns": 0}, "fail": {"count": 0, "ns": 0}},
            "gpulet": {"slo_met": ok, "slo_missed": 0, "rejected_early": 0, "rejected_queue_full": 0, "window_s": 10,
                       "p50_ms": p50, "p99_ms": p99, "p999_ms": p99, "slo_attain": att}}
stats = {"model_stats": [st("alpha", 950, 1.5, 7.25, 0.995), st("beta", 190, 2.0, 30.0, 0.9), st("gamma", 0, None, None, None)]}
json.dump(plan, open(f + "/v2/gpulet/plan", "w")); json.dump(stats, open(f + "/v2/models/stats", "w"))
PY
python3 -m http.server 0 --bind 127.0.0.1 --directory "$F" > "$W/http.log" 2>&1 &
HP=$!
for i in $(seq 1 100); do FP=$(grep -o 'port [0-9]*' "$W/http.log" | head -1 | cut -d' ' -f2); [ -n "$FP" ] && break; sleep 0.05; done
if [ -z "$FP" ]; then fail "python http.server did not start"; else
  chrome --dump-dom "http://127.0.0.1:$FP/" > "$W/dom2.html" || fail "chromium (contract form) exited $?"
  chrome --window-size=1280,860 --screenshot="$ART/status-contract.png" "http://127.0.0.1:$FP/" >/dev/null || fail "chromium screenshot (contract form)"
  python3 - "$W/dom2.html" <<'PY' || fail "the page does not draw the contract's plan form"
import re, sys
dom = open(sys.argv[1]).read()
bad = []
def check(cond, what):
    print(('ok: ' if cond else 'FAIL: ') + what)
    if not cond: bad.append(what)
lets = re.findall(r'<div class="let ([a-z]+)" data-let="(\d+)" data-share="([0-9.]+)" style="flex: 0 1 ([0-9.]+)%"[^>]*>(.*?)</div>', dom)
check([(l[1], l[0]) for l in lets] == [("7", "serving"), ("9", "warming"), ("11", "retiring")], f"contract form: blocks {[(l[1], l[0]) for l in lets]}")
check([float(l[3]) for l in lets] == [50.0, 25.0, 60.0], f"contract form: widths {[l[3] for l in lets]}")
check(len(lets) == 3 and '<b>alpha</b> ×8, <b>beta</b> ×4' in lets[0][4], "contract form: a gpu-let with two models lists both")
check(dom.count('class="let free"') == 2, "contract form: the unassigned part of each device is drawn free")
check(dom.count('class="device"') == 2, "contract form: two devices")
for name, rate, p99, att in (("alpha", "95.2", "7.25", "99.5%"), ("beta", "19.5", "30.00", "90.0%"), ("gamma", "0.0", "-", "-")):
    row = re.search(r'<tr data-model="' + name + r'".*?</tr>', dom)
    check(row is not None and f'<td class="rate">{rate}</td>' in row.group(0) and f'<td class="p99">{p99}</td>' in row.group(0)
          and re.search(r'<td class="attain[^"]*">' + re.escape(att) + '</td>', row.group(0)) is not None,
          f"contract form: {name} rate {rate}, p99 {p99}, attainment {att}")
check(re.search(r'<td class="attain bad">90.0%</td>', dom) is not None, "contract form: attainment under the percentile is marked")
hist = re.findall(r'<tr data-epoch="(\d+)">.*?</tr>', dom)
check(hist == ["3", "2"], f"contract form: history newest first {hist}")
check('incremental' in dom and '>drift<' in dom and '>full<' in dom, "contract form: reasons and kinds shown")
check(re.search(r'id="epoch">3<', dom) is not None and re.search(r'id="policy">gpulet<', dom) is not None, "contract form: policy and epoch")
sys.exit(1 if bad else 0)
PY
fi
kill $HP 2>/dev/null; wait $HP 2>/dev/null
echo "$fails failure(s)"
[ $fails = 0 ]
