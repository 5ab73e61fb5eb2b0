#!/usr/bin/env bash
# tests/serve/promtool.sh GPULET WORKDIR - `promtool check metrics` on what `gpulet serve` exposes at
# /metrics (the metrics port and the main one) after some requests. Fails on any parse error and on
# every lint problem except those promtool raises against Triton's own names, which gpulet keeps
# as Triton spells them so dashboards built for Triton work: exactly the lines
#   nv_inference_* counter metrics should have "_total" suffix
#   nv_inference_* metric names should not contain abbreviated units        (the *_duration_us)
#   nv_inference_* non-histogram and non-summary metrics should not have "_count" suffix
# are filtered. Exit 77 (skip) without promtool, curl or python3.
set -u
G=$1; W=$2
command -v promtool >/dev/null || { echo "SKIP: promtool not found (Debian package prometheus; scripts/install-deps.sh)"; exit 77; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"

TRITON_LINT='^nv_inference_[a-z_]+ (counter metrics should have "_total" suffix|metric names should not contain abbreviated units|non-histogram and non-summary metrics should not have "_count" suffix)$'
# check FILE WHAT: promtool on FILE; prints what is left after the Triton filter, returns 1 if any
check() {
  promtool check metrics < "$1" > "$W/lint" 2>&1; local rc=$?
  local left; left=$(grep -Ev "$TRITON_LINT" "$W/lint" | grep -v '^$')
  local filtered; filtered=$(grep -Ec "$TRITON_LINT" "$W/lint")
  echo "$2: promtool exit $rc, $filtered Triton-name lint line(s) filtered"
  if [ $rc != 0 ] && [ $rc != 3 ]; then echo "$left"; return 1; fi  # 1: parse error
  [ -z "$left" ] || { echo "$left"; return 1; }
  return 0
}

# the filter itself must not hide problems with gpulet's own names
printf '# HELP gpulet_bad_us x\n# TYPE gpulet_bad_us counter\ngpulet_bad_us 1\n' > "$W/bad.prom"
check "$W/bad.prom" "self-test" >/dev/null && fail "the filter hides a lint problem of a gpulet_ metric" || ok "the filter keeps gpulet_ lint problems"
printf 'gpulet_broken{model="x" 1\n' > "$W/broken.prom"
check "$W/broken.prom" "self-test" >/dev/null && fail "a parse error passed" || ok "a parse error fails"

make_repo lenet lenet2=lenet || exit 1
lenet_input "$W/in.json"
start_server
for i in 1 2 3 4 5 6; do req POST /v2/models/lenet/infer -d @"$W/in.json"; [ "$CODE" = 200 ] || fail "infer $i: $CODE $BODY"; done
req POST /v2/models/lenet2/infer -d @"$W/in.json"; [ "$CODE" = 200 ] || fail "infer lenet2: $CODE $BODY"
req POST /v2/models/lenet/infer -d '{"inputs":[]}'; [ "$CODE" = 400 ] || fail "bad request: $CODE"
curl -s -m 30 -D "$W/mh" -o "$W/metrics.prom" "http://127.0.0.1:$MP/metrics" || fail "metrics port"
curl -s -m 30 -o "$W/main.prom" "$U/metrics" || fail "main port /metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$W/mh" && ok "exposition content type" || fail "content type: $(cat "$W/mh")"
check "$W/metrics.prom" "metrics port" && ok "promtool: metrics port clean" || fail "promtool on the metrics port"
check "$W/main.prom" "main port" && ok "promtool: main port clean" || fail "promtool on the main port"
# the numbers are the requests sent, and each family has HELP and TYPE
grep -q '^nv_inference_request_success{model="lenet",version="1"} 6$' "$W/metrics.prom" && ok "lenet: 6 successes" || fail "lenet successes: $(grep request_success "$W/metrics.prom")"
grep -q '^nv_inference_request_success{model="lenet2",version="1"} 1$' "$W/metrics.prom" && ok "lenet2: 1 success" || fail "lenet2 successes"
grep -q '^gpulet_request_duration_seconds{model="lenet",version="1",quantile="0.99"} [0-9.]*$' "$W/metrics.prom" && ok "latency summary quantile" || fail "no latency quantile for lenet"
grep -q '^gpulet_request_duration_seconds_count{model="lenet",version="1"} 6$' "$W/metrics.prom" && ok "latency summary count" || fail "latency summary count for lenet"
grep -q '^gpulet_slo_attainment_ratio{model="lenet",version="1"} ' "$W/metrics.prom" && ok "attainment gauge" || fail "no attainment for lenet"
python3 - "$W/metrics.prom" <<'PY' && ok "every sample's family has HELP and TYPE" || fail "a family lacks HELP or TYPE"
import re, sys
help, typ, names = set(), {}, set()
for line in open(sys.argv[1]):
    if line.startswith('# HELP '): help.add(line.split()[2])
    elif line.startswith('# TYPE '): typ[line.split()[2]] = line.split()[3]
    elif line.strip(): names.add(re.match(r'[a-zA-Z_:][a-zA-Z0-9_:]*', line).group(0))
bad = []
for n in names:
    fam = n
    for suf in ('_bucket', '_sum', '_count'):
        if n.endswith(suf) and n[:-len(suf)] in typ and typ[n[:-len(suf)]] in ('histogram', 'summary'): fam = n[:-len(suf)]
    if fam not in help or fam not in typ: bad.append(n)
print('\n'.join(bad)); sys.exit(1 if bad else 0)
PY
stop_server
echo "$fails failure(s)"
[ $fails = 0 ]
