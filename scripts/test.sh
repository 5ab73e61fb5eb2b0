#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer (and the release build the benchmarks-in-tests use), then ctest.
# Its output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
scripts/build.sh asan
cd build-asan
ctest --output-on-failure -j "$(nproc)" "$@"
