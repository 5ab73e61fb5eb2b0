#!/usr/bin/env bash
# bench/gpu/checklist.sh OUT_DIR [SECTION...] - everything to do on a GPU machine, in sections that
# each end within ~9 minutes on one H100 with 16 cores (the device tool allows 10 minutes a call;
# pass two or three small ones per call). Default: all sections, in this order:
#   build     configure with CUDA (cuDNN from the Python wheel if not in the toolkit), build
#   facts     nvidia-smi, nvcc, gpulet doctor
#   gputests  ctest -L gpu: every zoo model on CUDA vs the CPU (fp32 graph/eager, tf32, ResNet-50
#             unfused) and fp16 vs fp32 within 1e-2|y32| + 1e-2 max|y32| per element (printed with
#             their margins), Gather's error flag, ONNX's suites on --device cuda (no FAIL, every
#             CPU pass passes or is an explained SKIP there)
#   unit      the rest of ctest (CPU; label reference excluded)
#   runs      zoo latency on CUDA at batch 1, 8, 32 in fp32, tf32 and fp16, fused conv off for
#             ResNet-50 (A/B), and the CPU's output sums for comparison (RUN_MODELS="a b" splits it)
#   nhwc      fp16 channels-last A/B: every conv zoo model at batch 1, 8, 32 with GPULET_CUDA_NHWC=0
#             (NCHW) and =1 (the fp16 default), one line each: p50s and NHWC's speed-up
#             (NHWC_MODELS="a b" splits it); decides whether NHWC stays the fp16 default
#   cache     the conv algorithm cache cold then warm (compile times)
#   sanitize  compute-sanitizer memcheck/initcheck/racecheck on small runs, eager and graph
#   profile   gpulet profile --device cuda on green-context gpu-lets (fp32; fp16 smaller)
#   gpulets   gpulet gpulets: partition build times, latency vs SMs, pairs together vs alone
#   demo      gpulet demo --device cuda: gpu-lets on green contexts against time-sharing, served
#             and measured (the server's GPU path and the measured-profile planning, first run)
#   torch     bench/gpu_vs_torch.py: PyTorch fp16 eager / CUDA graphs / torch.compile against
#             gpulet fp32 / tf32 / fp16 (GPU_VS_TORCH_MODELS=a,b splits it across calls)
# A device call, e.g.: bench/gpu/checklist.sh $OUT build facts gputests
# Results: OUT_DIR/checklist.log (one line per step: rc and seconds, plus the headline lines) and
# one file per step. With GL_CHECKLIST_PACK=1 the step files are packed into
# OUT_DIR/checklist_<sections>.tgz at the end (the device tool brings back at most 8 files).
# Steps that fail are recorded and the script goes on, so one run gives the whole picture.
set -u
out=${1:?usage: bench/gpu/checklist.sh OUT_DIR [build facts gputests unit runs nhwc cache sanitize profile gpulets demo torch]}
shift
sections=${*:-build facts gputests unit runs nhwc cache sanitize profile gpulets demo torch}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.." || exit 1
raw="$out/raw"
mkdir -p "$raw"
log() { echo "== $*" | tee -a "$out/checklist.log"; }
step() { # step NAME command...: runs, logs rc and time
  local name=$1; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$@" >"$raw/$name.txt" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  log "$name: rc $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"
  return $rc
}
want() { [[ " $sections " == *" $1 "* ]]; }
log "gpulet GPU checklist [$sections], commit $(git rev-parse HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
cudnn_root=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
if [ -n "$cudnn_root" ]; then export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"; fi
bin=./build-gpu/gpulet
zoo() { mkdir -p .zoo; for m in "$@"; do [ -f ".zoo/$m.onnx" ] || $bin zoo "$m" -o ".zoo/$m.onnx" >/dev/null 2>&1; done; }
ZOO="lenet mobilenetv2 mnasnet googlenet resnet50 ssd-mobilenet densenet161 vgg16 bert-base"

if want build; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  step configure cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    ${cudnn_root:+-DCUDNN_ROOT=$cudnn_root}
  grep -h "gpulet:" "$raw/configure.txt" | tee -a "$out/checklist.log"
  step build cmake --build build-gpu -j "$(nproc)"
  [ -f build-gpu/libgpulet_cuda.so ] || log "NO CUDA MODULE BUILT (see raw/configure.txt)"
fi

if want facts; then
  { nvidia-smi || true; nvcc --version || true; } >"$raw/gpu_info.txt" 2>&1
  step doctor $bin doctor
fi

if want gputests; then
  # verbose: the zoo test prints each comparison's worst error as a fraction of its bound
  step ctest_gpu bash -c "cd build-gpu && timeout 560 ctest -L gpu -j 5 --output-on-failure -V"
  grep -hE "cuda .* vs |^(cpu|cuda): |of the CPU's|tests passed|Skipped|\(Failed\)|Timeout" "$raw/ctest_gpu.txt" |
    tee -a "$out/checklist.log"
fi

if want unit; then
  step ctest_unit bash -c "cd build-gpu && timeout 560 ctest -j 12 --output-on-failure -LE 'reference|gpu'"
  grep -h "tests passed" "$raw/ctest_unit.txt" | tee -a "$out/checklist.log"
fi

if want runs; then
  zoo ${RUN_MODELS:-$ZOO}
  for m in ${RUN_MODELS:-$ZOO}; do
    for b in 1 8 32; do
      [ "$m" = bert-base ] && [ "$b" = 32 ] && continue
      for p in fp32 tf32 fp16; do
        step "run_${m}_b${b}_cuda_$p" timeout 120 $bin run ".zoo/$m.onnx" --device cuda --batch $b --iters 50 --warmup 5 \
          --precision $p
      done
      step "run_${m}_b${b}_cpu_check" timeout 120 $bin run ".zoo/$m.onnx" --batch $b --iters 1 --warmup 0
    done
  done
  step run_resnet50_b32_cuda_fp16_unfused env GPULET_CUDA_FUSED_CONV=0 $bin run .zoo/resnet50.onnx --device cuda \
    --batch 32 --iters 50 --warmup 5 --precision fp16
  step run_resnet50_b32_cuda_fp32_unfused env GPULET_CUDA_FUSED_CONV=0 $bin run .zoo/resnet50.onnx --device cuda \
    --batch 32 --iters 50 --warmup 5
  # one line per run: model, batch, precision, p50
  for f in "$raw"/run_*_cuda_*.txt; do
    p50=$(grep -oE "p50 [0-9.]+" "$f" | head -1)
    echo "$(basename "$f" .txt) ${p50:-FAILED}"
  done | tee -a "$out/checklist.log"
fi

if want nhwc; then
  # fp16 NCHW vs NHWC (channels-last conv chains, cuda_layout.h), same warm machine, alternating
  nm=${NHWC_MODELS:-lenet mobilenetv2 mnasnet googlenet resnet50 ssd-mobilenet densenet161 vgg16}
  zoo $nm
  for m in $nm; do
    for b in 1 8 32; do
      for l in 0 1; do
        step "nhwc_${m}_b${b}_l$l" env GPULET_CUDA_NHWC=$l timeout 120 $bin run ".zoo/$m.onnx" --device cuda \
          --batch $b --iters 50 --warmup 5 --precision fp16
      done
      a=$(grep -oE "p50 [0-9.]+" "$raw/nhwc_${m}_b${b}_l0.txt" | head -1 | cut -d' ' -f2)
      c=$(grep -oE "p50 [0-9.]+" "$raw/nhwc_${m}_b${b}_l1.txt" | head -1 | cut -d' ' -f2)
      echo "nhwc $m b$b fp16: nchw p50 ${a:-FAILED} nhwc p50 ${c:-FAILED} speed-up $(awk -v a="${a:-0}" -v c="${c:-0}" \
        'BEGIN{if (a > 0 && c > 0) printf "%.2fx", a / c; else print "-"}')" | tee -a "$out/checklist.log"
    done
  done
  # a plan cuDNN refused channels-last fell back to NCHW (its A/B line compares NCHW with NCHW)
  grep -l "channels-last plan failed" "$raw"/nhwc_*.txt 2>/dev/null | sed 's|^.*/|NHWC FELL BACK TO NCHW: |' |
    tee -a "$out/checklist.log"
  # the layout at fp32 data too (tensor cores off): does channels-last alone cost or pay?
  step nhwc_resnet50_b32_fp32_l1 env GPULET_CUDA_NHWC=1 timeout 120 $bin run .zoo/resnet50.onnx --device cuda \
    --batch 32 --iters 50 --warmup 5
  step nhwc_resnet50_b32_tf32_l1 env GPULET_CUDA_NHWC=1 timeout 120 $bin run .zoo/resnet50.onnx --device cuda \
    --batch 32 --iters 50 --warmup 5 --precision tf32
  grep -hoE "p50 [0-9.]+" "$raw"/nhwc_resnet50_b32_*32_l1.txt | sed 's/^/nhwc resnet50 b32 fp32|tf32 NHWC: /' |
    tee -a "$out/checklist.log"
fi

if want cache; then
  # conv algorithm cache: a cold compile measures every convolution, a warm one reads the file
  zoo resnet50
  export GPULET_CACHE="$raw/gpulet_cache"
  rm -rf "$GPULET_CACHE"
  step algo_cache_cold $bin run .zoo/resnet50.onnx --device cuda --batch 8 --iters 5 --warmup 1
  step algo_cache_warm $bin run .zoo/resnet50.onnx --device cuda --batch 8 --iters 5 --warmup 1
  step algo_cache_fp16_cold $bin run .zoo/resnet50.onnx --device cuda --batch 8 --iters 5 --warmup 1 --precision fp16
  grep -h "compile" "$raw"/algo_cache_*.txt | tee -a "$out/checklist.log"
  unset GPULET_CACHE
fi

if want sanitize && command -v compute-sanitizer >/dev/null; then
  # out-of-bounds, races, reads of uninitialised device memory in gpulet's own kernels (and the
  # fused conv's z = y with weight 0: initcheck shows whether cuDNN reads it)
  zoo lenet mobilenetv2 resnet50 bert-base
  for m in lenet mobilenetv2; do
    for p in fp32 fp16; do
      step "memcheck_${m}_$p" env GPULET_CUDA_GRAPHS=0 timeout 240 compute-sanitizer --tool memcheck --error-exitcode 9 \
        $bin run ".zoo/$m.onnx" --device cuda --batch 2 --iters 1 --warmup 0 --precision $p
      step "initcheck_${m}_$p" env GPULET_CUDA_GRAPHS=0 timeout 240 compute-sanitizer --tool initcheck --error-exitcode 9 \
        $bin run ".zoo/$m.onnx" --device cuda --batch 2 --iters 1 --warmup 0 --precision $p
    done
  done
  step initcheck_resnet50_fused env GPULET_CUDA_GRAPHS=0 timeout 300 compute-sanitizer --tool initcheck --error-exitcode 9 \
    $bin run .zoo/resnet50.onnx --device cuda --batch 1 --iters 1 --warmup 0
  step racecheck_bert env GPULET_CUDA_GRAPHS=0 timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 \
    $bin run .zoo/bert-base.onnx --device cuda --batch 1 --iters 1 --warmup 0
  step memcheck_lenet_graph timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
    $bin run .zoo/lenet.onnx --device cuda --batch 2 --iters 3 --warmup 1
fi

if want profile; then
  # The measured H100 profile the scheduler needs most: the zoo on green-context gpu-lets. Resumable:
  # copy profile-h100.json back in and run again to add what this call had no time for.
  [ -f bench/results/profile-h100.json ] && cp bench/results/profile-h100.json "$out/profile-h100.json"
  step profile_h100 timeout 420 $bin profile --device cuda --resume \
    --models lenet,mobilenetv2,resnet50,bert-base,googlenet,vgg16 --batches 1,2,4,8,16,32 --corun \
    -o "$out/profile-h100.json"
  step profile_h100_fp16 env GPULET_CUDA_PRECISION=fp16 timeout 120 $bin profile --device cuda --resume \
    --models resnet50,bert-base --batches 1,8,32 -o "$out/profile-h100-fp16.json"
fi

if want gpulets; then
  # green-context gpu-lets (raw CSVs in raw/gpulets_*): SM granularity, partition build/teardown
  # times, ResNet-50 latency on 10..100% of the SMs, two models on a 50%+50% split alone/together
  zoo resnet50 bert-base mobilenetv2
  step gpulets_resnet50_bert timeout 300 $bin gpulets "$raw/gpulets_resnet50_bert" --quick --reps 2 \
    --model-a .zoo/resnet50.onnx --model-b .zoo/bert-base.onnx --batch-a 32 --batch-b 8
  step gpulets_resnet50_mobilenet timeout 240 $bin gpulets "$raw/gpulets_resnet50_mobilenet" --quick --reps 2 \
    --model-a .zoo/resnet50.onnx --model-b .zoo/mobilenetv2.onnx --batch-a 32 --batch-b 32
  grep -h "^pair" "$raw"/gpulets_*.txt 2>/dev/null | tee -a "$out/checklist.log"
fi

if want demo; then
  # the serving demo on GPU 0: profile measured there, gpulet vs sbp through `gpulet serve`
  step demo timeout 560 $bin demo --device cuda --cache-dir "$raw/demo-cache" --duration 10 --steps 4 --probe 5
  tail -20 "$raw/demo.txt" | tee -a "$out/checklist.log"
fi

if want torch; then
  # PyTorch comparison (needs python3 with torch, onnx; onnxruntime optional); the budget in
  # seconds after which torch.compile is skipped
  step gpu_vs_torch timeout 540 python3 bench/gpu_vs_torch.py "$raw" --gpulet $bin \
    --models "${GPU_VS_TORCH_MODELS:-lenet,resnet50,bert-base}" --budget "${GPU_VS_TORCH_BUDGET:-300}"
  grep -h "best gpulet" "$raw/gpu_vs_torch.txt" | tee -a "$out/checklist.log"
  cp "$raw"/gpu_vs_torch.json "$raw"/gpu_vs_torch.csv "$out/" 2>/dev/null
fi

log "done [$sections]"
if [ "${GL_CHECKLIST_PACK:-0}" = 1 ]; then
  tag=$(echo "$sections" | tr ' ' '_')
  tar -czf "$out/checklist_$tag.tgz" -C "$raw" . && rm -rf "$raw"
fi
