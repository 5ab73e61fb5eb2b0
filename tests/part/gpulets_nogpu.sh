#!/usr/bin/env bash
# tests/part/gpulets_nogpu.sh GPULET - `gpulet gpulets` without a GPU: exit 1 with the reason on
# stderr and in OUT/device.txt (no driver; the stub driver when the toolkit has one), exit 2 on
# bad usage, never a crash or a sanitizer report.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
check() { # check NAME WANT_RC REGEX env/args...
  local name=$1 want=$2 re=$3; shift 3
  env "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  [ "$rc" = "$want" ] || { cat "$tmp/$name.err"; fail "$name: rc $rc, want $want"; }
  grep -Eq "$re" "$tmp/$name.err" || { cat "$tmp/$name.err"; fail "$name: no /$re/ in stderr"; }
  if grep -q "Sanitizer\|runtime error" "$tmp/$name.err"; then cat "$tmp/$name.err"; fail "$name: sanitizer"; fi
  echo "ok: $name"
}
check nodriver 1 "gpulets: green contexts: no CUDA driver \(libcuda-not-here" \
  GPULET_LIBCUDA=libcuda-not-here.so.1 "$bin" gpulets "$tmp/o1" --model-a m.onnx
grep -q "no green-context device: .*no CUDA driver" "$tmp/o1/device.txt" || fail "device.txt lacks the reason"
if [ -e /usr/local/cuda/lib/stubs/libcuda.so ]; then
  check stub 1 "cuInit failed: CUDA_ERROR_STUB_LIBRARY" \
    GPULET_LIBCUDA=/usr/local/cuda/lib/stubs/libcuda.so "$bin" gpulets "$tmp/o2" --model-a m.onnx
fi
check nomodule 1 "libgpulet_green.so was not built or cannot load" \
  GPULET_GREEN_MODULE=/nonexistent/libgpulet_green.so "$bin" gpulets "$tmp/o3" --model-a m.onnx
check usage 2 "usage: gpulet gpulets" "$bin" gpulets "$tmp/o4"
check badopt 2 "bad value" "$bin" gpulets "$tmp/o5" --model-a m.onnx --seconds -1
# The harness itself on a virtual 132-SM device with the CPU backend: every file, every row.
"$bin" zoo lenet -o "$tmp/lenet.onnx" >/dev/null || fail "zoo lenet"
OMP_NUM_THREADS=1 "$bin" gpulets "$tmp/smoke" --smoke-cpu --model-a "$tmp/lenet.onnx" --quick --iters 3 \
  --warmup 1 --seconds 0.1 --reps 1 >"$tmp/smoke.out" 2>&1 || { cat "$tmp/smoke.out"; fail "smoke run"; }
grep -q "^smallest_gpulet_sms 8$" "$tmp/smoke/device.txt" || fail "device.txt"
[ "$(grep -c '^lenet.onnx,' "$tmp/smoke/latency.csv")" = 12 ] || fail "latency.csv rows (4 sizes x 3 batches)"
grep -q '^lenet.onnx,0.10,16,32,' "$tmp/smoke/latency.csv" || fail "10% of 132 SMs is not 16"
[ "$(grep -c '^\(alone\|together\|whole_sequential\),' "$tmp/smoke/pair.csv")" = 6 ] || fail "pair.csv rows"
grep -q '^# split 50%+50% vs one after the other' "$tmp/smoke/pair.csv" || fail "pair.csv summary"
grep -q '^smallest,0,16,8,' "$tmp/smoke/setup.csv" || fail "setup.csv: 16 gpu-lets of 8 SMs"
if grep -q "Sanitizer\|runtime error" "$tmp/smoke.out"; then cat "$tmp/smoke.out"; fail "smoke: sanitizer"; fi
grep -q '^green_ctx_and_stream_create,8,40,' "$tmp/smoke/green_ctx_times.csv" || fail "green_ctx_times.csv"
echo "ok: smoke"
echo "all ok"
