#!/usr/bin/env bash
# tests/cli/run_checks.sh GPULET - `gpulet run` on a real model and on bad input: right output
# on good input; a clear one-line error and exit 1 (never a crash) on bad input.
set -u
bin=$1
data=/usr/share/libonnx-testdata/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME EXPECTED_RC PATTERN -- command...
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc $rc (want $want), output:"; echo "$out" | head -5; fail=1
  else
    echo "ok   $name"
  fi
}
model=$data/node/test_relu/model.onnx
check good 0 'output y: float \[3,4,5\]' -- "$bin" run "$model" --iters 3
check input-file 0 'latency ms over 2 runs' -- "$bin" run "$model" --iters 2 --input "$data/node/test_relu/test_data_set_0/input_0.pb"
check missing 1 'gpulet: .*nonexistent.onnx' -- "$bin" run "$tmp/nonexistent.onnx"
head -c 40 "$model" >"$tmp/trunc.onnx"
check truncated 1 'gpulet: .*trunc.onnx: ' -- "$bin" run "$tmp/trunc.onnx"
head -c 4096 /dev/urandom >"$tmp/random.onnx"
check random 1 'gpulet: .*random.onnx: ' -- "$bin" run "$tmp/random.onnx"
: >"$tmp/empty.onnx"
check empty 1 'gpulet: .*empty.onnx: ' -- "$bin" run "$tmp/empty.onnx"
check bad-batch 2 'bad value' -- "$bin" run "$model" --batch 0
check wrong-input-count 1 'has 1 inputs but 2' -- "$bin" run "$model" --input "$data/node/test_relu/test_data_set_0/input_0.pb" --input "$data/node/test_relu/test_data_set_0/input_0.pb"
check wrong-input-shape 1 'has rank 3, not 2' -- "$bin" run "$model" --input "$data/node/test_matmul_2d/test_data_set_0/input_0.pb"
# Without a GPU (or without the CUDA module) --device cuda is a clear error, not a crash.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  check no-gpu 1 'gpulet: cuda' -- "$bin" run "$model" --device cuda
fi
check bad-device 2 "unknown device 'tpu'" -- "$bin" run "$model" --device tpu
# An op gpulet does not support is named with its node.
unsupported=$data/node/test_stft/model.onnx
[ -f "$unsupported" ] && check unsupported-op 1 "STFT" -- "$bin" run "$unsupported"
exit $fail
