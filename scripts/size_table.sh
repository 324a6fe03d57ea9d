#!/usr/bin/env bash
# Sizes of every shared model under the lossless and fp16 recipes (markdown table), with the
# lossless round trip checked: the exported ONNX must have bit-identical initializers, i.e. the
# same file as exporting the source. Usage: scripts/size_table.sh [BUILD_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
shared="$repo/../shared/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | source ONNX bytes | lossless .mcz bytes (ratio) | fp16 .mcz bytes (ratio) | lossless round trip |"
echo "|---|---|---|---|---|"
for m in mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0; do
  src="$shared/$m.onnx"
  "$bin" compress "$src" -o "$tmp/l.mcz" --recipe lossless --quiet --force
  "$bin" compress "$src" -o "$tmp/h.mcz" --recipe fp16 --quiet --force
  "$bin" export "$tmp/l.mcz" -o "$tmp/back.onnx" --quiet --force
  "$bin" export "$src" -o "$tmp/direct.onnx" --quiet --force
  if cmp -s "$tmp/back.onnx" "$tmp/direct.onnx"; then rt="bit-identical"; else rt="DIFFERS"; fi
  s=$(stat -c %s "$src"); l=$(stat -c %s "$tmp/l.mcz"); h=$(stat -c %s "$tmp/h.mcz")
  printf '| %s | %s | %s (%.2fx) | %s (%.2fx) | %s |\n' "$m" "$s" "$l" "$(awk "BEGIN{print $s/$l}")" "$h" "$(awk "BEGIN{print $s/$h}")" "$rt"
done
