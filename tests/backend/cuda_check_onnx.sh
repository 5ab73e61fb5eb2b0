#!/usr/bin/env bash
# tests/backend/cuda_check_onnx.sh GPULET SUITE_DIR [MIN_PASS] [ELIGIBLE] - ONNX's test cases on
# --device cuda against the CPU (ctest label gpu):
#  - no case may FAIL on CUDA;
#  - every case that passes on the CPU must pass on CUDA or be a SKIP with its reason (an op,
#    dtype or attribute the CUDA module does not do) - and, given ELIGIBLE (the cuda_onnx_eligible
#    tool, which predicts on the CPU from gl_cuda_node_supported which cases the module accepts),
#    every CPU pass it predicts must PASS on CUDA, a SKIP there is an error too;
#  - CUDA must pass at least MIN_PASS cases (0: the number of those predicted CPU passes).
# Exits 77 with "no CUDA device: skipped" when there is no CUDA device or module.
set -u
bin=${1:?usage: cuda_check_onnx.sh GPULET SUITE_DIR [MIN_PASS] [ELIGIBLE]}
dir=${2:?usage: cuda_check_onnx.sh GPULET SUITE_DIR [MIN_PASS] [ELIGIBLE]}
min=${3:-0}
eligible=${4:-}
[ -d "$dir" ] || { echo "no ONNX test data at $dir: skipped"; exit 77; }
probe=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | sort | head -1)
msg=$("$bin" check-onnx --device cuda "$probe" 2>&1)
if grep -qiE "no usable CUDA device|no CUDA backend|CUDA device [0-9]+ does not exist" <<<"$msg"; then
  echo "no CUDA device: skipped ($(grep -iE 'cuda' <<<"$msg" | head -1))"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" check-onnx "$dir" >"$tmp/cpu.txt" 2>&1
"$bin" check-onnx --device cuda "$dir" >"$tmp/cuda.txt" 2>&1
tail -1 "$tmp/cpu.txt" | sed 's/^/cpu:  /'
tail -1 "$tmp/cuda.txt" | sed 's/^/cuda: /'
grep '^PASS ' "$tmp/cpu.txt" | awk '{print $2}' | sort >"$tmp/cpu_pass"
grep '^PASS ' "$tmp/cuda.txt" | awk '{print $2}' | sort >"$tmp/cuda_pass"
grep '^SKIP ' "$tmp/cuda.txt" | sed 's/^SKIP \([^:]*\):.*/\1/' | sort >"$tmp/cuda_skip"
bad=0
if grep -q '^FAIL ' "$tmp/cuda.txt"; then
  echo "cases failing on CUDA:"
  grep '^FAIL ' "$tmp/cuda.txt"
  bad=1
fi
# passing on the CPU, neither passing nor skipped (with a reason) on CUDA: a crash or lost case
lost=$(comm -23 "$tmp/cpu_pass" <(sort -u "$tmp/cuda_pass" "$tmp/cuda_skip"))
if [ -n "$lost" ]; then
  echo "cases passing on the CPU with no CUDA verdict:"
  echo "$lost"
  bad=1
fi
if [ -n "$eligible" ]; then
  "$eligible" "$dir" 2>/dev/null | sort >"$tmp/eligible"
  comm -12 "$tmp/cpu_pass" "$tmp/eligible" >"$tmp/want"
  n_want=$(wc -l <"$tmp/want")
  [ "$min" -gt 0 ] || min=$n_want
  missing=$(comm -23 "$tmp/want" "$tmp/cuda_pass")
  if [ -n "$missing" ]; then
    echo "cases passing on the CPU, predicted to run on CUDA, not passing there:"
    for c in $missing; do grep -E "^(SKIP|FAIL) $c:" "$tmp/cuda.txt" || echo "$c: no verdict"; done
    bad=1
  fi
  extra=$(comm -13 "$tmp/eligible" "$tmp/cuda_pass" | wc -l)
  echo "predicted for CUDA (and passing on the CPU): $n_want; passing on CUDA beyond the prediction: $extra"
fi
[ "$min" -gt 0 ] || min=1
n_cpu=$(wc -l <"$tmp/cpu_pass")
n_cuda=$(wc -l <"$tmp/cuda_pass")
n_both=$(comm -12 "$tmp/cpu_pass" "$tmp/cuda_pass" | wc -l)
echo "of the CPU's $n_cpu passes: $n_both pass on CUDA, $((n_cpu - n_both)) skipped there; CUDA passes $n_cuda (floor $min)"
echo "CUDA skip reasons (count):"
grep '^SKIP ' "$tmp/cuda.txt" | sed 's/^SKIP [^:]*: //; s/node [^ ]* //; s/'"'"'[^'"'"']*'"'"'/X/g' | sort | uniq -c | sort -rn | head -25
[ "$n_cuda" -ge "$min" ] || { echo "CUDA passes $n_cuda < floor $min"; bad=1; }
exit $bad
