#!/usr/bin/env bash
# The hybrid recipe's trade-off curve: for each share of all MACs made ternary (--ternary-fraction),
# the share of multiplications removed, the size, and top-1 on ../shared/imagenet-dev (500 images),
# plus the --max-drop 1 point. Calibration: 256 images sampled (seed 0) from the same folder,
# without labels (128 fit, 128 held out).
# Usage: scripts/hybrid_frontier.sh [BUILD_DIR] [MODEL] [PREPROCESS] [FRACTIONS...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
model="${2:-$repo/../shared/models/mobilenet_v1_0.75_224.onnx}"
pre="${3:-keras}"
shift 3 2>/dev/null || shift $#
fractions=("$@")
[ ${#fractions[@]} -gt 0 ] || fractions=(0.1 0.2 0.3 0.4 0.5)
images="$repo/../shared/imagenet-dev"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
row() {  # row LABEL ARGS...: compress with ARGS, print one table row
  local label="$1"
  shift
  "$bin" compress "$model" -o "$tmp/m.mcz" --recipe hybrid --calib "$images" --calib-count 256 --preprocess "$pre" \
    --eval-images "$images" --force --quiet --report "$tmp/r.json" "$@" >/dev/null
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const o = r.ops, b = r.ops_original, a = r.accuracy || {};
    const pct = (x, y) => (100 * (1 - x / y)).toFixed(1);
    console.log(`| ${process.argv[2]} | ${pct(o.muls, b.muls)}% | ${pct(o.adds, b.adds)}% | ${r.size.bytes} (${r.size.compression_ratio.toFixed(2)}x) | ` +
                `${(r.energy_pj_original / r.energy_pj).toFixed(2)}x | ${a.top1_before} | ${a.top1_after} | ${(a.top1_after - a.top1_before).toFixed(1)} |`);
  ' "$tmp/r.json" "$label"
}
echo "| setting | MULs removed | ADDs removed | .mcz bytes (vs fp32) | energy vs fp32 | top-1 float | top-1 hybrid | change |"
echo "|---|---|---|---|---|---|---|---|"
for f in "${fractions[@]}"; do row "--ternary-fraction $f" --ternary-fraction "$f"; done
row "--max-drop 1" --max-drop 1
