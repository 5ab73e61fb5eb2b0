#!/usr/bin/env bash
# Configures and builds gpulet. usage: scripts/build.sh [release|debug|asan|tsan] [TARGET...]
# (default release, every target). Build folders: build (release), build-debug, build-asan, build-tsan.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  debug) dir=build-debug; flags=(-DCMAKE_BUILD_TYPE=Debug) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DGL_SANITIZE=ON) ;;
  tsan) dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=Debug -DGL_TSAN=ON) ;;
  *) echo "usage: $0 [release|debug|asan|tsan]" >&2; exit 2 ;;
esac
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$dir" "${gen[@]}" "${flags[@]}" >/dev/null
[ $# -gt 0 ] && shift
targets=(); [ $# -gt 0 ] && targets=(--target "$@")
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
