#!/usr/bin/env bash
# Results of the sparse recipe (issue #7) on every shared model: .mcz bytes, compression ratio
# (source fp32 bytes / whole file), top-1 before/after on ../shared/imagenet-dev (500 images, by
# `mcompress compress --eval-images`), top-1 of ONNX Runtime on `mcompress export --qdq` of the
# same file (scripts/compressed_vs_ort.sh, identical preprocessed inputs), and the wall time of the
# compress command (which includes evaluating the float and the compressed model on the 500 images).
# Calibration: 256 images sampled (seed 0) from the same folder, without labels (128 fit, 128
# held out for the budget decisions).
# Usage: scripts/sparse_table.sh [BUILD_DIR] [MAX_DROP (default 1)] [EXTRA COMPRESS FLAGS...]
#   e.g. scripts/sparse_table.sh build 1
#        scripts/sparse_table.sh build 1 --passes 'fold-constants,fold-bn,fc-to-gemm,sparse-quantize<criterion=agreement>'
# Needs node + npm for the ONNX Runtime column (scripts/setup.sh --with-ort); MODELS=... limits the models.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$repo/build}"
bin="$build/mcompress"
drop="${2:-1}"
shift 2 || shift $#
extra=("$@")
images="$repo/../shared/imagenet-dev"
models="${MODELS:-mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | .mcz bytes | vs fp32 | top-1 float | top-1 sparse | change | ORT top-1 (QDQ export) | compress time |"
echo "|---|---|---|---|---|---|---|---|"
for m in $models; do
  case "$m" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
  start=$(date +%s)
  if ! "$bin" compress "$repo/../shared/models/$m.onnx" -o "$tmp/$m.mcz" --recipe sparse --max-drop "$drop" --calib "$images" \
       --calib-count 256 --seed 0 --preprocess "$pre" --eval-images "$images" --force --quiet --report "$tmp/r.json" \
       ${extra[@]+"${extra[@]}"} >/dev/null 2>"$tmp/err"; then
    echo "| $m | failed: $(head -c 200 "$tmp/err") | | | | | | |"
    continue
  fi
  seconds=$(( $(date +%s) - start ))
  ort="n/a"
  if command -v node >/dev/null && [ -x "$repo/../shared/tools/ort-eval/run" ]; then
    row="$("$repo/scripts/compressed_vs_ort.sh" "$tmp/$m.mcz" "$images" --build "$build" 2>/dev/null || true)"
    # | name | ours top-1 / top-5 | ORT QDQ top-1 / top-5 | ...
    ort="$(echo "$row" | awk -F'|' '{ split($4, a, "/"); gsub(/ /, "", a[1]); print a[1] }')"
    [ -n "$ort" ] || ort="failed"
  fi
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const a = r.accuracy || {};
    console.log(`| ${process.argv[2]} | ${r.size.bytes} | ${r.size.compression_ratio.toFixed(2)}x | ${a.top1_before} | ${a.top1_after} | ` +
      `${(a.top1_after - a.top1_before).toFixed(1)} | ${process.argv[3]} | ${process.argv[4]} s |`);
  ' "$tmp/r.json" "$m" "$ort" "$seconds"
done
