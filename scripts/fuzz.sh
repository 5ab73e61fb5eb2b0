#!/bin/sh
# scripts/fuzz.sh - builds gpulet's libFuzzer targets with clang and runs one for N seconds.
# usage: scripts/fuzz.sh [TARGET] [SECONDS] [LIBFUZZER-FLAG...]   (defaults: fuzz_onnx 300)
# Seeds: ONNX's test models and tensors plus tests/onnx/corpus (the regression inputs).
# Crashing inputs land in build-fuzz/crashes/; copy them to tests/onnx/corpus/ once fixed.
set -eu
target=${1:-fuzz_onnx}
secs=${2:-300}
[ $# -ge 2 ] && shift 2 || shift $#
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
data=/usr/share/libonnx-testdata/data
CC=clang cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-O1 -g" \
  -DGL_FUZZ=ON -DGL_CUDA=OFF >/dev/null
ninja -j2 -C "$build" "$target"
corpus=$build/corpus/$target
mkdir -p "$corpus" "$build/crashes"
if [ -d "$data" ]; then
  for f in "$data"/*/*/model.onnx; do
    case_dir=$(dirname "$f")
    name=$(basename "$(dirname "$case_dir")")_$(basename "$case_dir")
    [ -e "$corpus/$name.onnx" ] || cp "$f" "$corpus/$name.onnx"
    [ -e "$case_dir/test_data_set_0/input_0.pb" ] && [ ! -e "$corpus/$name.pb" ] &&
      cp "$case_dir/test_data_set_0/input_0.pb" "$corpus/$name.pb"
  done
fi
if [ -d "$root/tests/onnx/corpus" ]; then cp "$root"/tests/onnx/corpus/* "$corpus"/ 2>/dev/null || true; fi
if [ "$target" = fuzz_kserve ]; then cp "$root"/tests/serve/corpus/* "$corpus"/ 2>/dev/null || true; fi
exec "$build/$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -malloc_limit_mb=512 \
  -artifact_prefix="$build/crashes/" -print_final_stats=1 "$@" "$corpus"
