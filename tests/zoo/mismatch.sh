#!/usr/bin/env bash
# tests/zoo/mismatch.sh GPULET RUN_JS WORKDIR - `gpulet zoo --check` must fail when the reference
# outputs come from other weights (LeNet seed 1 vs seed 2), and pass on its own outputs.
set -uo pipefail
gpulet=$1 runjs=$2 dir=$3
if ! command -v node >/dev/null || [ ! -d "$(dirname "$runjs")/node_modules/onnxruntime-node" ]; then
  echo "SKIP: onnxruntime-node is not installed"; exit 77
fi
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$gpulet" zoo lenet -o "$dir/a.onnx" --seed 1 >/dev/null || exit 1
"$gpulet" zoo lenet -o "$dir/b.onnx" --seed 2 >/dev/null || exit 1
cmp -s "$dir/a.onnx" "$dir/b.onnx" && { echo "seeds 1 and 2 gave the same model"; exit 1; }
"$gpulet" zoo lenet -o "$dir/a2.onnx" --seed 1 >/dev/null || exit 1
cmp "$dir/a.onnx" "$dir/a2.onnx" || { echo "seed 1 twice gave different files"; exit 1; }
node "$runjs" "$dir/a.onnx" --batch 2 --seed 5 --iters 1 --warmup 0 --out "$dir/ref" --json "$dir/ort.json" || exit 1
"$gpulet" zoo --check "$dir/b.onnx" --data "$dir/ref"
r=$?
[ $r -eq 77 ] && exit 77
[ $r -eq 1 ] || { echo "expected FAIL (exit 1) for other weights, got exit $r"; exit 1; }
"$gpulet" zoo --check "$dir/a.onnx" --data "$dir/ref" || { echo "expected PASS on the same model"; exit 1; }
rm -rf "$dir"
