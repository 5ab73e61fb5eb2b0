#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the release build (for valgrind's leak
# check of `gpulet run`) and the AddressSanitizer + UndefinedBehaviorSanitizer build, in which the
# whole suite runs. Its output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
scripts/build.sh asan
# valgrind needs the uninstrumented build: no leak in `gpulet run` on a real model.
(cd build && ctest --output-on-failure -L valgrind)
cd build-asan
ctest --output-on-failure -j "$(nproc)" "$@"
