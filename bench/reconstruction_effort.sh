#!/usr/bin/env bash
# Accuracy against effort of the w4a8 recipe (issue 18): for each --effort (fast: GPTQ with each layer
# fitted in turn to the quantized network's inputs; default: learned rounding too; max: 4x its steps)
# one compress of MODEL with 256 calibration images from ../shared/imagenet-dev (seed 0), evaluated
# on the 500 images of that folder (the calibration images among them), on the written file. Prints
# one markdown row per effort: wall time, peak memory, size, top-1 before and after. Issue 18 target:
# MobileNetV1 0.75 under 10 minutes and 2 GB on 2 cores at the default effort.
#   bench/reconstruction_effort.sh [BUILD_DIR] [MODEL] [EFFORTS...]   (default: build, mobilenet_v1_0.75_224, fast default max)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
name="${2:-mobilenet_v1_0.75_224}"
shift 2 || shift $# || true
efforts=("$@")
[ ${#efforts[@]} -gt 0 ] || efforts=(fast default max)
[ -x "$bin" ] || { echo "reconstruction_effort: $bin not built" >&2; exit 2; }
model="$repo/../shared/models/$name.onnx"
images="$repo/../shared/imagenet-dev"
[ -f "$model" ] || { echo "reconstruction_effort: $model not found" >&2; exit 2; }
case "$name" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "| model | --effort | cores | wall | peak RSS | .mcz bytes | vs fp32 | top-1 float | top-1 w4a8 | change | load before -> after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for effort in "${efforts[@]}"; do
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" compress "$model" -o "$tmp/m.mcz" --recipe w4a8 --effort "$effort" \
    --calib "$images" --calib-count 256 --preprocess "$pre" --eval-images "$images" --threads "$(nproc)" --quiet --force \
    --report "$tmp/r.json" >/dev/null
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  read -r wall rss <"$tmp/time"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")), a = r.accuracy;
    const [name, effort, cores, wall, rss, load] = process.argv.slice(2);
    console.log(`| ${name} | ${effort} | ${cores} | ${wall} s | ${Math.round(rss / 1024)} MB | ${r.size.bytes} | ` +
      `${r.size.compression_ratio.toFixed(2)}x | ${a.top1_before} | ${a.top1_after} | ${(a.top1_after - a.top1_before).toFixed(1)} | ${load} |`);
  ' "$tmp/r.json" "$name" "$effort" "$(nproc)" "$wall" "$rss" "$load_before -> $load_after"
done
