#!/usr/bin/env bash
# Pruning alone, float weights kept (no quantization): top-1 on ../shared/imagenet-dev (500 images)
# and .mcz size (pruned tensors as sparse fp32 parts) for magnitude pruning, OBS pruning with the
# same sparsity in every layer, and OBS pruning with the per-layer allocation from measured
# sensitivity, at each sparsity given. Calibration as in scripts/sparse_table.sh (256 images, seed 0).
# Usage: scripts/pruning_table.sh [BUILD_DIR] [MODEL (default mobilenet_v1_0.25_224)] [SPARSITY...]
#   e.g. scripts/pruning_table.sh build mobilenet_v1_0.25_224 0.3 0.5
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
model="${2:-mobilenet_v1_0.25_224}"
shift 2 || shift $#
sparsities=("$@")
[ ${#sparsities[@]} -gt 0 ] || sparsities=(0.3 0.5)
images="$repo/../shared/imagenet-dev"
case "$model" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | sparsity | method | .mcz bytes | top-1 float | top-1 pruned | change |"
echo "|---|---|---|---|---|---|---|"
for s in "${sparsities[@]}"; do
  for method in "prune-magnitude<sparsity=$s>" "prune-obs<sparsity=$s;allocation=uniform>" "prune-obs<sparsity=$s>"; do
    "$bin" compress "$repo/../shared/models/$model.onnx" -o "$tmp/p.mcz" --recipe lossless \
      --passes "fold-constants,fold-bn,fc-to-gemm,$method" --calib "$images" --calib-count 256 --seed 0 --preprocess "$pre" \
      --eval-images "$images" --force --quiet --report "$tmp/r.json" >/dev/null
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const a = r.accuracy || {};
      console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${process.argv[4]} | ${r.size.bytes} | ${a.top1_before} | ${a.top1_after} | ${(a.top1_after - a.top1_before).toFixed(1)} |`);
    ' "$tmp/r.json" "$model" "$s" "$method"
  done
done
