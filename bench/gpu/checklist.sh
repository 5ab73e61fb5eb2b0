#!/usr/bin/env bash
# bench/gpu/checklist.sh OUT_DIR - everything to do on a GPU machine, in one go:
#   1. configure and build with the CUDA module (cuDNN from the Python wheel if not in the toolkit);
#   2. the GPU facts (gpulet doctor, nvidia-smi);
#   3. the test suite, then every ONNX test case and every zoo model on the GPU against the CPU;
#   (2b. green-context gpu-lets: gpulet gpulets, see below;)
#   4. zoo model latency on the GPU at batch 1, 8, 32 (and, where PyTorch is present,
#      bench/gpu_vs_torch when it exists).
# Every result goes to OUT_DIR (the device tool's $OUT); commit them under bench/results/.
# Steps that fail are recorded and the script goes on, so one run gives the whole picture.
set -u
out=${1:?usage: bench/gpu/checklist.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/../.."
log() { echo "== $*" | tee -a "$out/checklist.log"; }
step() { # step NAME command...: runs, logs rc and time
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" >"$out/$name.txt" 2>&1
  local rc=$?
  log "$name: rc $rc, $(echo "$(date +%s.%N) - $t0" | bc) s"
  return $rc
}
log "gpulet GPU checklist, commit $(git rev-parse HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
{ nvidia-smi || true; nvcc --version || true; } >"$out/gpu_info.txt" 2>&1
cudnn_root=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
step configure cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  ${cudnn_root:+-DCUDNN_ROOT=$cudnn_root}
step build cmake --build build-gpu -j "$(nproc)"
if [ -n "$cudnn_root" ]; then export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"; fi
bin=./build-gpu/gpulet
step doctor $bin doctor
# green-context gpu-lets (gpulet gpulets; raw CSVs in $out/gpulets_*): SM granularity, partition
# build/teardown times, ResNet-50 latency on 10..100% of the SMs at batch 1/8/32, two models on a
# 50%+50% split alone/together and against one after the other on the whole GPU (goal >= 1.5x)
mkdir -p .zoo
for m in resnet50 bert-base mobilenetv2; do [ -f ".zoo/$m.onnx" ] || $bin zoo "$m" -o ".zoo/$m.onnx" >/dev/null 2>&1; done
step gpulets_resnet50_bert timeout 1200 $bin gpulets "$out/gpulets_resnet50_bert" --model-a .zoo/resnet50.onnx \
  --model-b .zoo/bert-base.onnx --batch-a 32 --batch-b 8
step gpulets_resnet50_mobilenet timeout 600 $bin gpulets "$out/gpulets_resnet50_mobilenet" --quick --reps 2 \
  --model-a .zoo/resnet50.onnx --model-b .zoo/mobilenetv2.onnx --batch-a 32 --batch-b 32
grep -h "^pair" "$out"/gpulets_*.txt 2>/dev/null | tee -a "$out/checklist.log"
step ctest bash -c "cd build-gpu && ctest -j 8 --output-on-failure -LE reference"
data=/usr/share/libonnx-testdata/data
if [ -d "$data" ]; then
  for suite in node pytorch-converted pytorch-operator simple; do
    step "onnx_cuda_$suite" $bin check-onnx --device cuda --summary-only "$data/$suite"
  done
fi
mkdir -p .zoo
for m in lenet mobilenetv2 mnasnet googlenet resnet50 ssd-mobilenet densenet161 vgg16 bert-base; do
  [ -f ".zoo/$m.onnx" ] || $bin zoo "$m" -o ".zoo/$m.onnx" >/dev/null 2>&1
  for b in 1 8 32; do
    [ "$m" = bert-base ] && [ "$b" = 32 ] && continue
    step "run_${m}_b${b}_cuda" $bin run ".zoo/$m.onnx" --device cuda --batch $b --iters 50 --warmup 5
    step "run_${m}_b${b}_cpu_check" $bin run ".zoo/$m.onnx" --batch $b --iters 1 --warmup 0
  done
done
if [ -x bench/gpu_vs_torch ]; then step gpu_vs_torch bench/gpu_vs_torch "$out"; fi
log "done"
