#!/usr/bin/env bash
# The main job: install what is missing, build, then run every test model through the engine
# (ONNX's own suites, checked against their expected outputs) and the zoo's models with timings.
# (It grows into the serving demo as the server lands.)
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
echo "== The zoo's models, made with seeded weights, run at batch 1 =="
zoo=.zoo
mkdir -p "$zoo"
$bin zoo --list
for m in lenet mobilenetv2 mnasnet googlenet resnet50 ssd-mobilenet densenet161 vgg16 bert-base; do
  [ -f "$zoo/$m.onnx" ] || $bin zoo "$m" -o "$zoo/$m.onnx"
  echo "-- $m"
  $bin run "$zoo/$m.onnx" --batch 1 --iters 10 --warmup 2
done
