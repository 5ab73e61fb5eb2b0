#!/usr/bin/env bash
# Installs what gpulet needs on Debian 12 from Debian's packages (and ONNX Runtime from npm for
# the reference checks). Safe to re-run: installs only what is missing.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
      libmicrohttpd-dev libjansson-dev libcmocka-dev libhwloc-dev valgrind bc
      curl python3 wrk gnuplot-nox  # gnuplot: bench/headline plots
      prometheus chromium)  # promtool (tests/serve/promtool.sh), headless Chromium (status_page.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# ONNX Runtime for the zoo's reference checks (tools/ort/run.js), from npm into tools/ort/node_modules.
ort_dir="$(cd "$(dirname "$0")/.." && pwd)/tools/ort"
if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
  fi
  (cd "$ort_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
