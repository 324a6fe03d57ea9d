#!/usr/bin/env bash
# ONNX Runtime confirmation of compressed models: scripts/compressed_vs_ort.sh on every .mcz in DIR
# (the preprocessing is the one stored in each file), one markdown table. With --limit N only the
# first N labelled images are used.
# Usage: scripts/confirm_with_ort.sh DIR [IMAGES_DIR] [--limit N] [--build DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: confirm_with_ort.sh DIR [IMAGES_DIR] [--limit N] [--build DIR]" >&2; exit 2; }
dir="$1"
shift
header=--header
status=0
for f in "$dir"/*.mcz; do
  [ -e "$f" ] || { echo "confirm_with_ort: no .mcz files in $dir" >&2; exit 3; }
  "$repo/scripts/compressed_vs_ort.sh" "$f" "$@" $header || { echo "| $(basename "$f" .mcz) | failed | | | |"; status=1; }
  header=
done
exit $status
