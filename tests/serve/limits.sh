#!/usr/bin/env bash
# tests/serve/limits.sh GPULET WORKDIR - `gpulet serve`'s limits and repository path checks that
# tests/serve/e2e.sh does not cover, each hit once and its message checked: --max-model-bytes
# (checked before model.onnx is read), --max-graph-nodes, --max-inputs, --max-elements, the
# queue length's range in config.json; model
# folders that are symlinks, config.json that is a symlink or over 1 MiB, model.onnx that is a
# folder; load/unload names with "..", "/", absolute paths, percent-escapes and leading dots.
# Exit 77 (skip) without curl/python3.
set -u
G=$1; W=$2
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W/repo" "$W/outside/m"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
mkdir -p "$W/repo/lenet" "$W/repo/big" "$W/repo/cfglink" "$W/repo/bigcfg" "$W/repo/onnxdir/model.onnx"
"$G" zoo lenet -o "$W/repo/lenet/model.onnx" >/dev/null || exit 1
size=$(stat -c %s "$W/repo/lenet/model.onnx")
limit=$((size + 1000))
# over --max-model-bytes by 1000 bytes (trailing bytes: the size check comes before any parsing)
{ cat "$W/repo/lenet/model.onnx"; head -c 2000 /dev/zero; } > "$W/repo/big/model.onnx"
cp "$W/repo/lenet/model.onnx" "$W/outside/m/model.onnx"
cp "$W/repo/lenet/model.onnx" "$W/repo/cfglink/model.onnx"
cp "$W/repo/lenet/model.onnx" "$W/repo/bigcfg/model.onnx"
echo '{"max_batch_size": 4}' > "$W/outside/config.json"
ln -s "$W/outside/config.json" "$W/repo/cfglink/config.json"
ln -s "$W/outside/m" "$W/repo/linkdir"        # a model folder that is a symlink
python3 -c "import sys; open(sys.argv[1],'w').write('{\"slo_ms\": 100' + ' ' * (1 << 20) + '}')" "$W/repo/bigcfg/config.json"
echo '{"max_batch_size": 8, "slo_ms": 60000}' > "$W/repo/lenet/config.json"
mkdir -p "$W/repo/badq"; cp "$W/repo/lenet/model.onnx" "$W/repo/badq/"
echo '{"max_queue_size": 100000}' > "$W/repo/badq/config.json"

start() { # start ARGS...: a server on a free port; sets SP and U
  rm -f "$W/ports"
  "$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --port-file "$W/ports" --quiet "$@" 2>> "$W/server.log" &
  SP=$!
  for i in $(seq 1 600); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
  [ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
  U="http://127.0.0.1:$(cut -d' ' -f1 "$W/ports")"
}
req() { local m=$1 p=$2; shift 2; CODE=$(curl -s -m 60 --path-as-is -X "$m" -o "$W/body" -w '%{http_code}' "$@" "$U$p"); BODY=$(cat "$W/body"); }
expect() { # CODE-PATTERN TEXT WHAT
  if [[ "$CODE" == $1 ]] && { [ -z "$2" ] || printf '%s' "$BODY" | grep -qF -- "$2"; }; then ok "$3"; else fail "$3: got $CODE $BODY"; fi
}
reason() { # MODEL TEXT WHAT: the index gives MODEL as UNAVAILABLE with a reason holding TEXT
  python3 - "$W/body" "$1" "$2" <<'PY' && ok "$3" || fail "$3: $(cat "$W/body")"
import json, sys
idx = {m["name"]: m for m in json.load(open(sys.argv[1]))}
m = idx[sys.argv[2]]
assert m["state"] == "UNAVAILABLE" and sys.argv[3] in m["reason"], m
PY
}

start --max-model-bytes "$limit" --max-inputs 1 --max-elements 1000
trap 'kill -9 $SP 2>/dev/null' EXIT
req POST /v2/repository/index; expect 200 '"lenet"' "index"
reason big "model.onnx is $((size + 2000)) bytes, more than the limit of $limit (--max-model-bytes)" "model file over --max-model-bytes"
reason cfglink "config.json: is a symbolic link (not allowed)" "config.json that is a symlink"
reason bigcfg "config.json: not a regular file of at most 1048576 bytes" "config.json over 1 MiB"
reason onnxdir "model.onnx is not a regular file" "model.onnx that is a folder"
reason badq "'max_queue_size' must be an integer in [1, 65536]" "queue length over its limit"
printf '%s' "$BODY" | grep -q '"linkdir"' && fail "a symlinked model folder is listed" || ok "symlinked model folder not listed"
req POST /v2/repository/models/linkdir/load; expect 4?? "is a symbolic link or not a folder (not allowed)" "load of a symlinked model folder"
req GET /v2/models/linkdir/ready; expect "[45]??" "" "symlinked model not served"
for name in .. . .hidden '%2e%2e' '..%2f..%2foutside%2fm' '%2Fetc' 'a%2Fb' '%00x' 'x%20y'; do
  req POST "/v2/repository/models/$name/load"; expect 4?? "" "load '$name' refused"
  printf '%s' "$BODY" | grep -qE 'not a valid model name|unknown path' || fail "load '$name': message: $BODY"
  echo "    $CODE $BODY"
done
req POST "/v2/repository/models//etc/load"; expect 4?? "" "load of an absolute name refused"
req POST "/v2/repository/models/../../outside/m/load"; expect 4?? "" "load with a relative path refused"
req POST "/v2/repository/models/../unload"; expect 4?? "" "unload '..' refused"
req POST "/v2/repository/models/lenet/load"; expect 200 "" "a good name still loads"
# --max-inputs 1: two inputs (or two requested outputs) in one request
python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
x = [0.5] * 784
inp = {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": x}
json.dump({"inputs": [inp, dict(inp, name="input2")]}, open(w + "/two.json", "w"))
json.dump({"inputs": [inp], "outputs": [{"name": "logits"}, {"name": "logits2"}]}, open(w + "/twoout.json", "w"))
json.dump({"inputs": [dict(inp, shape=[2, 1, 28, 28], data=x * 2)]}, open(w + "/two_samples.json", "w"))
json.dump({"inputs": [inp]}, open(w + "/one.json", "w"))
PY
req POST /v2/models/lenet/infer --data-binary @"$W/two.json"; expect 4?? "more than 1 inputs" "--max-inputs: two inputs"
req POST /v2/models/lenet/infer --data-binary @"$W/twoout.json"; expect 4?? "more than 1 outputs" "--max-inputs: two requested outputs"
req POST /v2/models/lenet/infer --data-binary @"$W/two_samples.json"; expect 413 "more than 1000 elements" "--max-elements: 1568 elements"
req POST /v2/models/lenet/infer --data-binary @"$W/one.json"; expect 200 '"logits"' "a request within the limits is served"
kill -TERM $SP; wait $SP || fail "server exit code"

# --max-graph-nodes: lenet has 12 nodes
rm -rf "$W/repo/big" "$W/repo/cfglink" "$W/repo/bigcfg" "$W/repo/onnxdir" "$W/repo/linkdir" "$W/repo/badq"
start --max-graph-nodes 5
req POST /v2/repository/index; expect 200 '"lenet"' "index (second server)"
reason lenet "the model has 12 nodes, more than the limit of 5" "model over --max-graph-nodes"
kill -TERM $SP; wait $SP || fail "second server exit code"
trap - EXIT

# `gpulet run` takes the same model limits
out=$("$G" run "$W/repo/lenet/model.onnx" --max-model-bytes $((size - 1)) 2>&1); rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -qF "is $size bytes, more than the limit of $((size - 1))" && ok "run --max-model-bytes" || fail "run --max-model-bytes: $rc $out"
out=$("$G" run "$W/repo/lenet/model.onnx" --max-graph-nodes 5 2>&1); rc=$?
[ $rc = 1 ] && printf '%s' "$out" | grep -qF "12 nodes, more than the limit of 5" && ok "run --max-graph-nodes" || fail "run --max-graph-nodes: $rc $out"
"$G" run "$W/repo/lenet/model.onnx" --max-model-bytes "$size" --max-graph-nodes 12 --iters 1 >/dev/null 2>&1 && ok "run at the limits" || fail "run at the limits"
[ $fails = 0 ] && { echo "all passed"; exit 0; }
echo "$fails failed"
exit 1
