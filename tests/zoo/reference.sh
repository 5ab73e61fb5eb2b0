#!/usr/bin/env bash
# tests/zoo/reference.sh GPULET RUN_JS WORKDIR MODEL BATCH... - makes MODEL with `gpulet zoo`
# (symbolic batch), runs ONNX Runtime on seeded inputs at each batch (tools/ort/run.js writes the
# inputs and its outputs as TensorProto files), then `gpulet zoo --check` runs gpulet on the same
# inputs and compares. Exit 77 (ctest: skipped) when ONNX Runtime is missing or gpulet lacks an op.
set -uo pipefail
gpulet=$1 runjs=$2 work=$3 model=$4
shift 4
ort_dir=$(dirname "$runjs")
if ! command -v node >/dev/null || [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
  echo "SKIP: onnxruntime-node is not installed in $ort_dir (scripts/install-deps.sh installs it)"
  exit 77
fi
dir="$work/$model"
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$gpulet" zoo "$model" -o "$dir/model.onnx" --seed 1 || exit 1
rc=0
for b in "$@"; do
  d="$dir/b$b"
  node "$runjs" "$dir/model.onnx" --batch "$b" --seed 1 --threads 2 --warmup 0 --iters 1 --out "$d" \
    --json "$d.ort.json" || exit 1
  echo "onnxruntime: batch $b: $(grep -o '"p50": [0-9.]*' "$d.ort.json" | head -1) ms"
  "$gpulet" zoo --check "$dir/model.onnx" --data "$d" --threads 2
  r=$?
  if [ $r -eq 77 ]; then exit 77; fi
  if [ $r -ne 0 ]; then rc=1; fi
done
# The models are large (VGG-16 is 553 MB): keep them only when something failed.
if [ $rc -eq 0 ]; then rm -rf "$dir"; fi
exit $rc
