#!/usr/bin/env bash
# README command 1: install what is missing, build, and run mcompress on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
echo
echo "== mcompress info examples/mobilenet_v1_0.25_224.onnx"
build/mcompress info examples/mobilenet_v1_0.25_224.onnx
echo
echo "== mcompress eval examples/mobilenet_v1_0.25_224.onnx --images examples/images --preprocess keras"
build/mcompress eval examples/mobilenet_v1_0.25_224.onnx --images examples/images --preprocess keras
