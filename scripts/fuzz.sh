#!/bin/sh
# scripts/fuzz.sh - builds gpulet's libFuzzer targets with clang and runs one for N seconds.
# usage: scripts/fuzz.sh [TARGET] [SECONDS] [LIBFUZZER-FLAG...]   (defaults: fuzz_onnx 300)
# Targets: fuzz_onnx fuzz_prepare fuzz_kserve fuzz_config fuzz_profile fuzz_scenario fuzz_trace fuzz_http.
# Seeds: per target (ONNX's test data, tests/*/corpus, scenarios/, bench/results/profile-*.json,
# fuzz/seeds/TARGET) plus fuzz/corpus-regress/TARGET. Crashing inputs land in build-fuzz/crashes/;
# once fixed, copy them to fuzz/corpus-regress/TARGET/ (tests/fuzz.cmake replays them every run).
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
seed() { for f in "$@"; do [ -f "$f" ] && cp "$f" "$corpus/" 2>/dev/null; done; return 0; }
case "$target" in
  fuzz_onnx|fuzz_prepare)
    if [ -d "$data" ]; then
      for f in "$data"/*/*/model.onnx; do
        case_dir=$(dirname "$f")
        name=$(basename "$(dirname "$case_dir")")_$(basename "$case_dir")
        [ -e "$corpus/$name.onnx" ] || cp "$f" "$corpus/$name.onnx"
        [ -e "$case_dir/test_data_set_0/input_0.pb" ] && [ ! -e "$corpus/$name.pb" ] &&
          cp "$case_dir/test_data_set_0/input_0.pb" "$corpus/$name.pb"
      done
    fi
    seed "$root"/tests/onnx/corpus/* ;;
  fuzz_kserve) seed "$root"/tests/serve/corpus/* ;;
  fuzz_profile) seed "$root"/bench/results/profile-*.json ;;
  fuzz_scenario) seed "$root"/scenarios/*.json ;;
esac
# every target: its committed seeds and regression inputs
seed "$root/fuzz/seeds/$target"/* "$root/fuzz/corpus-regress/$target"/*
dict=; [ -f "$root/fuzz/dict/$target.dict" ] && dict=-dict=$root/fuzz/dict/$target.dict
exec "$build/$target" $dict -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -malloc_limit_mb=512 \
  -artifact_prefix="$build/crashes/" -print_final_stats=1 "$@" "$corpus"
