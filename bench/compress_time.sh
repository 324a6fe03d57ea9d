#!/usr/bin/env bash
# Wall time and peak memory of the jobs issue #17 sets targets for, on MobileNetV1 0.75 with 256
# calibration images of ../shared/imagenet-dev, on all cores: `compress --recipe hybrid --max-drop 1`
# (the budget search included; target under 35 s on 2 cores), `profile` (target under 60 s) and
# `compress --recipe sparse --max-drop 1` (recorded). Prints one markdown row per job with the load
# average around it (other processes on the same cores slow a run down: compare only runs on an idle
# machine). Given RECIPE ARGS, times only `compress` with them.
#   bench/compress_time.sh [BUILD_DIR] [RECIPE ARGS...]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/build}/mcompress"
shift || true
[ -x "$bin" ] || { echo "compress_time: $bin not built" >&2; exit 2; }
model="$repo/../shared/models/mobilenet_v1_0.75_224.onnx"
images="$repo/../shared/imagenet-dev"
[ -f "$model" ] || { echo "compress_time: $model not found" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--calib "$images" --calib-count 256 --preprocess keras --threads "$(nproc)" --quiet)

# time LABEL COMMAND...: one row.
time_row() {
  local label="$1"; shift
  local load_before load_after wall rss
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  read -r wall rss <"$tmp/time"
  echo "| $label | $(nproc) cores | $wall s | $((rss / 1024)) MB | load $load_before -> $load_after |"
}

echo "| job | cores | wall | peak RSS | load |"
echo "|---|---|---|---|---|"
if [ $# -gt 0 ]; then
  time_row "compress $*" "$bin" compress "$model" -o "$tmp/m.mcz" "$@" "${common[@]}"
  exit 0
fi
time_row "compress --recipe hybrid --max-drop 1" "$bin" compress "$model" -o "$tmp/h.mcz" --recipe hybrid --max-drop 1 "${common[@]}"
time_row "profile" "$bin" profile "$model" "${common[@]}"
time_row "compress --recipe sparse --max-drop 1" "$bin" compress "$model" -o "$tmp/s.mcz" --recipe sparse --max-drop 1 "${common[@]}"
