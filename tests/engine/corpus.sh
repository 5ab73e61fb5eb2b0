#!/usr/bin/env bash
# tests/engine/corpus.sh GPULET DIR - every model in DIR through `gpulet run`: exit 0 (ran) or 1
# (a clear error) only; a signal or a sanitizer abort fails the test.
set -u
bin=$1 dir=$2 fail=0
for f in "$dir"/*.bin; do
  [ -e "$f" ] || { echo "no models in $dir"; exit 1; }
  out=$("$bin" run --iters 1 --warmup 0 "$f" 2>&1); rc=$?
  if [ $rc -gt 1 ]; then echo "FAIL $(basename "$f"): rc $rc"; echo "$out" | tail -5; fail=1
  else echo "ok   $(basename "$f"): rc $rc"; fi
done
exit $fail
