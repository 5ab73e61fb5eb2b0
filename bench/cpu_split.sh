#!/bin/sh
# bench/cpu_split.sh - runs the CPU split benchmark (bench/cpu_split.c) once and keeps the raw
# output with the CPU model, commit and date in bench/results/cpu_split-<date>.txt.
# Usage: bench/cpu_split.sh [BUILD_DIR (build)] [seconds per arrangement (2)] [n...]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
bin=$build/gl_bench_cpu_split
[ -x "$bin" ] || { echo "cpu_split.sh: $bin not built (ninja -C $build gl_bench_cpu_split)" >&2; exit 1; }
mkdir -p "$root/bench/results"
out=$root/bench/results/cpu_split-$(date -u +%Y%m%d-%H%M%S).txt
{
  echo "# bench/cpu_split.sh  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src bench || echo ' (dirty)')"
  echo "# cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs online, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# note: a shared machine; other processes can take cores during the run, so numbers may be noisy"
  "$bin" "$@"
} | tee "$out"
echo "wrote $out" >&2
