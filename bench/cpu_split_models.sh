#!/bin/sh
# bench/cpu_split_models.sh - runs bench/cpu_split_models.c (two zoo models at their SLO batches:
# 1+1 core split against time-sharing 2 cores) and keeps the raw output with the CPU, commit, load
# and date in bench/results/cpu_split_models-<date>.txt.
# Usage: bench/cpu_split_models.sh [PROFILE (newest bench/results/profile-cpu-*.json)] [SLO scale (10)]
#        [seconds per arrangement (4)] [rounds (3)] [model A (googlenet)] [model B (resnet50)]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD:-$root/build}/gl_bench_cpu_split_models
[ -x "$bin" ] || { echo "cpu_split_models.sh: $bin not built (ninja -C build gl_bench_cpu_split_models)" >&2; exit 1; }
prof=${1:-$(ls -t "$root"/bench/results/profile-cpu-*.json | head -1)}
mkdir -p "$root/bench/results"
out=$root/bench/results/cpu_split_models-$(date -u +%Y%m%d-%H%M%S).txt
{
  echo "# bench/cpu_split_models.sh  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src bench || echo ' (dirty)')"
  echo "# cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs online, load $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
  echo "# note: a shared machine (2 cores, ~8 users); other processes take cores during the run, so numbers are noisy"
  "$bin" "$prof" "${2:-10}" "${3:-4}" "${4:-3}" "${5:-googlenet}" "${6:-resnet50}"
  echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
echo "wrote $out" >&2
