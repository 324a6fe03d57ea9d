#!/usr/bin/env bash
# Wall time and peak memory of `mcompress compress --recipe hybrid --max-drop 1` (the budget search
# included) on MobileNetV1 0.75 with 256 calibration images: the issue #6 target is under 3 minutes
# on 2 cores. Prints one markdown row per run with the load average around it (other processes on
# the same cores slow the run down: compare only runs on an idle machine).
#   bench/compress_time.sh [BUILD_DIR] [RECIPE ARGS...]   (default: --recipe hybrid --max-drop 1)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--recipe hybrid --max-drop 1)
[ -x "$bin" ] || { echo "compress_time: $bin not built" >&2; exit 2; }
model="$repo/../shared/models/mobilenet_v1_0.75_224.onnx"
images="$repo/../shared/imagenet-dev"
[ -f "$model" ] || { echo "compress_time: $model not found" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
load_before=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" compress "$model" -o "$tmp/m.mcz" "${args[@]}" --calib "$images" --calib-count 256 \
  --preprocess keras --threads "$(nproc)" --quiet
load_after=$(cut -d' ' -f1 /proc/loadavg)
read -r wall rss <"$tmp/time"
echo "| compress ${args[*]} | $(nproc) cores | $wall s | $((rss / 1024)) MB | load $load_before -> $load_after |"
