#!/usr/bin/env bash
# Does the per-filter sensitivity proxy predict the end-to-end effect of quantization? Runs
# bench/proxy_validation in its default configuration on mobilenet_v1_0.75_224 with the shared dev
# images and prints the markdown table (docs/SENSITIVITY.md explains method and reading).
# Usage: scripts/proxy_validation.sh [BUILD_DIR] [extra proxy_validation flags, e.g. --layers conv_pw_12 --json]
# Build first: cmake -S . -B build -G Ninja && cmake --build build --target proxy_validation
# About 5-10 minutes on 2 cores; progress lines go to stderr.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
if [[ $# -gt 0 && "$1" != -* ]]; then build="$1"; shift; fi
bin="$build/bench/proxy_validation"
if [[ ! -x "$bin" ]]; then
  echo "proxy_validation.sh: $bin not found; build it with: cmake --build $build --target proxy_validation" >&2
  exit 2
fi
exec "$bin" "$repo/../shared/models/mobilenet_v1_0.75_224.onnx" --calib "$repo/../shared/imagenet-dev" --preprocess keras \
  --calib-count 64 --eval-images 64 --format ternary2 --k-fraction 0.25 --sample 24 --seed 0 "$@"
