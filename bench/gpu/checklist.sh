#!/usr/bin/env bash
# bench/gpu/checklist.sh OUT_DIR - everything to do on a GPU machine, in one go:
#   1. configure and build with the CUDA module (cuDNN from the Python wheel if not in the toolkit);
#   2. the GPU facts (gpulet doctor, nvidia-smi);
#   3. the test suite, then every ONNX test case and every zoo model on the GPU against the CPU;
#   (2b. green-context gpu-lets: gpulet gpulets, see below;)
#   4. zoo model latency on the GPU at batch 1, 8, 32 in fp32 and tf32, with the conv algorithm
#      cache cold then warm (compile times), and bench/gpu_vs_torch.py (PyTorch fp16 eager, CUDA
#      graphs and torch.compile against gpulet fp32/tf32/fp16 on the same weights).
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
# The measured H100 profile the scheduler needs most: the zoo on green-context gpu-lets (every
# grantable size from the smallest up, batches 1..32), with co-runs for the interference fit.
# Resumable: a later run with --resume adds what this one had no time for.
step profile_h100 timeout 1500 $bin profile --device cuda --resume \
  --models lenet,mobilenetv2,mnasnet,googlenet,resnet50,ssd-mobilenet,densenet161,vgg16,bert-base \
  --batches 1,2,4,8,16,32 --corun -o "$out/profile-h100.json"
step ctest bash -c "cd build-gpu && ctest -j 8 --output-on-failure -LE reference"
# the CUDA kernels' coverage of the zoo and their CPU bodies (also in ctest; listed for the record)
step cuda_coverage ./build-gpu/tests/backend_test_cuda_coverage
# compute-sanitizer over small runs (eager and graph-replayed): out-of-bounds, races, reads of
# uninitialised device memory in gpulet's own kernels
mkdir -p .zoo
for m in lenet mobilenetv2 bert-base; do
  [ -f ".zoo/$m.onnx" ] || $bin zoo "$m" -o ".zoo/$m.onnx" >/dev/null 2>&1
done
if command -v compute-sanitizer >/dev/null; then
  for m in lenet mobilenetv2 bert-base; do
    step "memcheck_$m" env GPULET_CUDA_GRAPHS=0 compute-sanitizer --tool memcheck --error-exitcode 9 \
      $bin run ".zoo/$m.onnx" --device cuda --batch 2 --iters 1 --warmup 0
    step "initcheck_$m" env GPULET_CUDA_GRAPHS=0 compute-sanitizer --tool initcheck --error-exitcode 9 \
      $bin run ".zoo/$m.onnx" --device cuda --batch 2 --iters 1 --warmup 0
  done
  step racecheck_bert env GPULET_CUDA_GRAPHS=0 compute-sanitizer --tool racecheck --error-exitcode 9 \
    $bin run .zoo/bert-base.onnx --device cuda --batch 1 --iters 1 --warmup 0
  step memcheck_lenet_graph compute-sanitizer --tool memcheck --error-exitcode 9 \
    $bin run .zoo/lenet.onnx --device cuda --batch 2 --iters 3 --warmup 1
fi
# conv algorithm cache: a cold compile measures every convolution, a warm one reads the file
export GPULET_CACHE="$out/gpulet_cache"
rm -rf "$GPULET_CACHE"
mkdir -p .zoo
[ -f .zoo/resnet50.onnx ] || $bin zoo resnet50 -o .zoo/resnet50.onnx >/dev/null 2>&1
step algo_cache_cold $bin run .zoo/resnet50.onnx --device cuda --batch 8 --iters 5 --warmup 1
step algo_cache_warm $bin run .zoo/resnet50.onnx --device cuda --batch 8 --iters 5 --warmup 1
grep -h "compile" "$out/algo_cache_cold.txt" "$out/algo_cache_warm.txt" | tee -a "$out/checklist.log"
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
    step "run_${m}_b${b}_cuda_tf32" $bin run ".zoo/$m.onnx" --device cuda --batch $b --iters 50 --warmup 5 --precision tf32
    step "run_${m}_b${b}_cpu_check" $bin run ".zoo/$m.onnx" --batch $b --iters 1 --warmup 0
  done
done
# PyTorch comparison (needs python3 with torch, onnx; onnxruntime optional): budget in seconds
# after which torch.compile is skipped; split with --models a,b if one device call is too short.
step gpu_vs_torch python3 bench/gpu_vs_torch.py "$out" --gpulet $bin --budget ${GPU_VS_TORCH_BUDGET:-1500}
log "done"
