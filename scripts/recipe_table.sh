#!/usr/bin/env bash
# Results of the int8 and prom recipes (or those named) on every shared model: size, share of
# multiplications removed, energy, and top-1 before/after on ../shared/imagenet-dev (500 images).
# Calibration: 256 images sampled (seed 0) from the same folder, without labels.
# Usage: scripts/recipe_table.sh [BUILD_DIR] [RECIPE...]
# With KEEP=DIR in the environment each .mcz is also kept as DIR/MODEL.RECIPE.mcz (for
# scripts/confirm_with_ort.sh DIR). RECIPE may carry flags: "hybrid --max-drop 1".
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
shift || true
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(int8 prom)
images="$repo/../shared/imagenet-dev"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | recipe | .mcz bytes | vs fp32 | vs fp16 | MULs removed | energy vs fp32 | energy vs fp16 | top-1 float | top-1 compressed | change |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for spec in "${recipes[@]}"; do
  read -r recipe flags <<<"$spec"
  for m in mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0; do
    case "$m" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
    if ! "$bin" compress "$repo/../shared/models/$m.onnx" -o "$tmp/m.mcz" --recipe "$recipe" $flags --calib "$images" --calib-count 256 \
         --preprocess "$pre" --eval-images "$images" --force --quiet --report "$tmp/r.json" >/dev/null 2>"$tmp/err"; then
      echo "| $m | $recipe | failed: $(head -c 200 "$tmp/err") | | | | | | | | |"
      continue
    fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$tmp/m.mcz" "$KEEP/$m.$(echo "$spec" | sed 's/ /_/g; s/-//g').mcz"; fi
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const a = r.accuracy || {};
      console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${r.size.bytes} | ${r.size.compression_ratio.toFixed(2)}x | ` +
        `${r.size.compression_ratio_vs_fp16.toFixed(2)}x | ${(100 * (1 - r.ops.muls / r.ops_original.muls)).toFixed(1)}% | ` +
        `${(r.energy_pj_original / r.energy_pj).toFixed(1)}x | ${(r.energy_pj_fp16 / r.energy_pj).toFixed(1)}x | ` +
        `${a.top1_before} | ${a.top1_after} | ${(a.top1_after - a.top1_before).toFixed(1)} |`);
    ' "$tmp/r.json" "$m" "$spec"
  done
done
