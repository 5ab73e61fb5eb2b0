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
echo "all ok"
