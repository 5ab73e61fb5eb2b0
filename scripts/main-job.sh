#!/usr/bin/env bash
# The main job: install what is missing, build, and run every test model through the engine with
# timings. (Later this grows into the serving demo.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
data=/usr/share/libonnx-testdata/data
echo "== ONNX's own test suites through gpulet's engine =="
for suite in node pytorch-converted pytorch-operator simple; do
  ./build/gpulet check-onnx --summary-only "$data/$suite"
done
