#!/usr/bin/env bash
# The hybrid recipe's trade-off curve: for each share of all MACs made ternary (--ternary-fraction),
# the share of multiplications removed, the size, and top-1 on ../shared/imagenet-dev (500 images),
# plus the --max-drop 1 point. Calibration: 256 images sampled (seed 0) from the same folder,
# without labels (128 fit, 128 held out).
# Usage: scripts/hybrid_frontier.sh [BUILD_DIR] [MODEL] [PREPROCESS] [FRACTIONS...]
# MAX_DROPS="0.5 1 2" (environment) sets the --max-drop rows (default 1).
# EXTRA="--ternary-terms 2 --activations float" (environment) adds flags to every compress run.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
model="${2:-$repo/../shared/models/mobilenet_v1_0.75_224.onnx}"
pre="${3:-keras}"
shift 3 2>/dev/null || shift $#
fractions=("$@")
[ ${#fractions[@]} -gt 0 ] || fractions=(0.3 0.5 0.7 0.8 0.9)
images="$repo/../shared/imagenet-dev"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
row() {  # row LABEL ARGS...: compress with ARGS, print one table row
  local label="$1"
  shift
  "$bin" compress "$model" -o "$tmp/m.mcz" --recipe hybrid --calib "$images" --calib-count 256 --preprocess "$pre" \
    --eval-images "$images" --force --report "$tmp/r.json" ${EXTRA:-} "$@" >/dev/null 2>"$tmp/log"
  local held
  held=$(sed -n 's/.*result on the held-out images: top-1 agreement \([0-9.]*\)%, expected drop \([0-9.]*\) points.*/\1 \2/p' "$tmp/log")
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const o = r.ops, b = r.ops_original, a = r.accuracy || {};
    const pct = (x, y) => (100 * (1 - x / y)).toFixed(1);
    const held = process.argv[3] ? `${(+process.argv[3]).toFixed(1)}% / ${(+process.argv[4]).toFixed(2)}` : "-";
    const adds = 100 * (o.adds / b.adds - 1);
    console.log(`| ${process.argv[2]} | ${pct(o.muls, b.muls)}% | ${adds >= 0 ? "+" : ""}${adds.toFixed(1)}% | ${r.size.bytes} (${r.size.compression_ratio.toFixed(2)}x) | ` +
                `${(r.energy_pj_original / r.energy_pj).toFixed(2)}x | ${(r.energy_pj_fp16 / r.energy_pj).toFixed(2)}x | ${held} | ${a.top1_before} | ${a.top1_after} | ${(a.top1_after - a.top1_before).toFixed(1)} |`);
  ' "$tmp/r.json" "$label" $held
}
echo "| setting | MULs removed | ADDs change | .mcz bytes (vs fp32) | energy vs fp32 | energy vs fp16 | held-out agreement / expected drop | top-1 float | top-1 hybrid | change |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for f in "${fractions[@]}"; do row "--ternary-fraction $f" --ternary-fraction "$f"; done
for p in ${MAX_DROPS:-1}; do row "--max-drop $p" --max-drop "$p"; done
