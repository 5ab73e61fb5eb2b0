#!/usr/bin/env bash
# tests/serve/auth.sh GPULET WORKDIR - the repository token (`gpulet serve --repo-token FILE` or
# $GPULET_REPO_TOKEN): repository control without the right bearer token gets 401 with a JSON
# error and a WWW-Authenticate header; with it, 200; inference, health and metadata stay open;
# unusable tokens stop the server from starting. Exit 77 (skip) without curl/python3.
set -u
G=$1; W=$2
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "SKIP: needs curl and python3"; exit 77; }
rm -rf "$W"; mkdir -p "$W"
. "$(dirname "$0")/lib.sh"
make_repo lenet lenet2=lenet || exit 1
lenet_input "$W/in.json"
TOK=tok-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$TOK" > "$W/token"; chmod 600 "$W/token"

start_server --repo-token "$W/token"
hdr() { grep -i "^$1:" "$W/headers" | tr -d '\r'; }
req POST /v2/repository/index; expect 401 '"error":"repository control needs' "index without a token: 401"
hdr WWW-Authenticate | grep -q 'Bearer realm="gpulet"' && ok "WWW-Authenticate: Bearer" || fail "no WWW-Authenticate: $(cat "$W/headers")"
hdr Content-Type | grep -q application/json && ok "401 body is JSON" || fail "401 content type"
req POST /v2/repository/index -H "Authorization: Bearer wrong-$TOK"; expect 401 'not the server' "wrong token: 401"
hdr WWW-Authenticate | grep -q 'error="invalid_token"' && ok "wrong token: invalid_token" || fail "wrong token header: $(cat "$W/headers")"
req POST /v2/repository/index -H "Authorization: Bearer ${TOK%?}"; expect 401 '' "token prefix: 401"
req POST /v2/repository/index -H "Authorization: Basic $TOK"; expect 401 'Bearer' "Basic scheme: 401"
req POST /v2/repository/index -H "Authorization: Bearer $TOK"; expect 200 '"name":"lenet2"' "right token: index"
req POST /v2/repository/index -H "Authorization: bearer  $TOK"; expect 200 '"name":"lenet"' "scheme is case-insensitive"
req POST /v2/repository/models/lenet2/unload; expect 401 '"error"' "unload without a token: 401"
req GET /v2/models/lenet2/ready; expect 200 '"ready":true' "lenet2 still loaded"
req POST /v2/repository/models/lenet2/unload -H "Authorization: Bearer $TOK"; expect 200 '' "unload with the token"
req POST /v2/repository/models/lenet2/load; expect 401 '"error"' "load without a token: 401"
req POST /v2/repository/models/lenet2/load -H "Authorization: Bearer $TOK"; expect 200 '' "load with the token"
req POST /v2/gpulet/replan; expect 401 '"error"' "replan without a token: 401"
req POST /v2/models/lenet/infer -d @"$W/in.json"; expect 200 '"model_name":"lenet"' "inference needs no token"
req GET /v2/health/ready; expect 200 '"ready":true' "health needs no token"
req GET /v2/models/lenet2; expect 200 '"name":"lenet2"' "metadata needs no token"
req GET /v2/models/stats; expect 200 '"model_stats"' "statistics need no token"
stop_server

# the token from the environment
GPULET_REPO_TOKEN="  $TOK " start_server
req POST /v2/repository/index; expect 401 '"error"' "env token: index without it: 401"
req POST /v2/repository/index -H "Authorization: Bearer $TOK"; expect 200 '"name":"lenet"' "env token (trimmed): index with it"
stop_server

# tokens that are not usable stop the server at once with a reason
printf 'short\n' > "$W/short"; chmod 600 "$W/short"
"$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --repo-token "$W/short" 2> "$W/err"; rc=$?
[ $rc = 2 ] && grep -q "too short" "$W/err" && ok "short token refused" || fail "short token: rc $rc $(cat "$W/err")"
printf 'two words-0123456789abcdef\n' > "$W/space"
"$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --repo-token "$W/space" 2> "$W/err"; rc=$?
[ $rc = 2 ] && grep -q "space or control" "$W/err" && ok "token with a space refused" || fail "spaced token: rc $rc $(cat "$W/err")"
"$G" serve --model-repository "$W/repo" --port 0 --metrics-port -1 --repo-token "$W/nosuch" 2> "$W/err"; rc=$?
[ $rc = 2 ] && grep -q "nosuch" "$W/err" && ok "missing token file refused" || fail "missing token file: rc $rc $(cat "$W/err")"

echo "$fails failure(s)"
[ $fails = 0 ]
