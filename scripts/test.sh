#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the release build (for valgrind's leak
# check of `gpulet run`), the ThreadSanitizer build of just the concurrency tests (label tsan,
# tests/tsan.cmake), and the AddressSanitizer + UndefinedBehaviorSanitizer build, in which the
# whole suite runs. Its output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
scripts/build.sh asan
# valgrind needs the uninstrumented build: no leak in `gpulet run` on a real model. Tests
# labelled perf (overload behaviour, which depends on real timings) run in the release build too.
(cd build && ctest --output-on-failure -L 'valgrind|perf')
# ThreadSanitizer: only the targets the tsan-labelled tests need (configure writes the list);
# a race report fails the test (halt_on_error for units; the server exits 66 after a report).
scripts/build.sh tsan gpulet  # configures, so tsan-targets.txt exists
read -r -a tsan_targets < build-tsan/tsan-targets.txt
scripts/build.sh tsan "${tsan_targets[@]}"
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/../scripts/tsan.supp" \
  ctest --output-on-failure -L '^tsan$')
cd build-asan
ctest --output-on-failure -j "$(nproc)" -LE perf "$@"
