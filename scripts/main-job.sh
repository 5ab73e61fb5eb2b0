#!/usr/bin/env bash
# The main job: install what is missing, build, check the engine briefly (ONNX's own test suites
# against their expected outputs, a few zoo models timed at batch 1), then the serving demo:
# `gpulet demo` serves a model mix with gpu-lets and with the time-sharing baseline and prints
# both side by side (docs/loadgen.md). About 4-6 minutes after the build on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
bin=./build/gpulet
data=/usr/share/libonnx-testdata/data
echo "== ONNX's own test suites through gpulet's engine (CPU) =="
for suite in node pytorch-converted pytorch-operator simple; do
  start=$(date +%s.%N)
  $bin check-onnx --summary-only "$data/$suite" | tail -1 | sed "s|^|$suite: |"
  echo "  ($(echo "$(date +%s.%N) - $start" | bc) s)"
done
echo "== A few of the zoo's models, made with seeded weights, run at batch 1 =="
echo "   (all of them: gpulet zoo --list; the larger ones take minutes on 2 cores)"
zoo=.zoo
mkdir -p "$zoo"
for m in lenet mobilenetv2 googlenet resnet50; do
  [ -f "$zoo/$m.onnx" ] || $bin zoo "$m" -o "$zoo/$m.onnx"
  echo "-- $m"
  $bin run "$zoo/$m.onnx" --batch 1 --iters 5 --warmup 1
done
echo "== The serving demo: gpu-lets against time-sharing, measured on this machine =="
$bin demo "$@"
