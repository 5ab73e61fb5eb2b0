# tests/serve/lib.sh - sourced by the serve test scripts (G = the gpulet binary, W = a work dir):
# make_repo MODEL... writes W/repo with each MODEL (a zoo name, or NAME=ZOO for a copy under another
# name); start_server [args...] starts `gpulet serve` on free loopback ports and sets SP (its pid),
# P, MP and U; stop_server sends SIGTERM and checks exit 0; fail/ok count results; json PATH
# prints a field of the last BODY. Results: `fails` holds the number of failures.
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

make_repo() {
  mkdir -p "$W/repo"
  local spec name zoo
  for spec in "$@"; do
    name=${spec%%=*}; zoo=${spec#*=}
    mkdir -p "$W/repo/$name"
    if [ -f "$W/zoo-$zoo.onnx" ]; then cp "$W/zoo-$zoo.onnx" "$W/repo/$name/model.onnx"
    else "$G" zoo "$zoo" -o "$W/zoo-$zoo.onnx" >/dev/null && cp "$W/zoo-$zoo.onnx" "$W/repo/$name/model.onnx" || return 1; fi
  done
}

start_server() {
  rm -f "$W/ports"
  "$G" serve --model-repository "$W/repo" --port 0 --metrics-port 0 --port-file "$W/ports" "$@" 2> "$W/server.log" &
  SP=$!
  trap 'kill -9 $SP 2>/dev/null' EXIT
  local i
  for i in $(seq 1 600); do [ -s "$W/ports" ] && break; kill -0 $SP 2>/dev/null || break; sleep 0.1; done
  [ -s "$W/ports" ] || { cat "$W/server.log"; echo "FAIL: server did not start"; exit 1; }
  read P MP < "$W/ports"
  U="http://127.0.0.1:$P"
}

stop_server() {
  kill -TERM $SP; wait $SP; local rc=$?
  trap - EXIT
  [ $rc = 0 ] && ok "SIGTERM: exit 0" || { fail "server exit $rc"; tail -20 "$W/server.log"; }
}

# req METHOD PATH [curl args...] -> CODE, BODY, and the answer's headers in W/headers
req() {
  local m=$1 p=$2; shift 2
  rm -f "$W/body" "$W/headers"; : > "$W/body"
  CODE=$(curl -s -m 60 -X "$m" -D "$W/headers" -o "$W/body" -w '%{http_code}' "$@" "$U$p"; true)
  BODY=$(cat "$W/body")
}

expect() { # CODE-WANTED PATTERN WHAT
  if [ "$CODE" = "$1" ] && { [ -z "$2" ] || printf '%s' "$BODY" | grep -q -- "$2"; }; then ok "$3"; else fail "$3: got $CODE $BODY"; fi
}

# lenet_input FILE: a JSON inference request for lenet (one 1x1x28x28 sample)
lenet_input() {
  python3 -c 'import json,sys; x=[((i*7919)%257)/128.0-1.0 for i in range(784)]; json.dump({"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":x}]}, open(sys.argv[1],"w"))' "$1"
}
