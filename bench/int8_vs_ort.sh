#!/usr/bin/env bash
# Integer execution against ONNX Runtime (issue #17): compresses each model with the int8 and hybrid
# recipes (32 calibration images of ../shared/imagenet-dev), exports each file with --qdq, and runs
# bench/executor_vs_ort.sh on the .mcz files: our side runs the .mcz as `mcompress eval` does (QDQ
# layers fused into QLinearConv, pointwise layers on the AVX-512 VNNI kernel where the CPU has it),
# ORT runs the --qdq export of the same file. Prints executor_vs_ort.sh's table.
#   bench/int8_vs_ort.sh [BUILD_DIR] [--threads "T..."] [--batch B] [--seconds S] [--rounds R] [--models "NAME..."] [--recipes "R..."]
#                        [--ternary-fraction F]
# --ternary-fraction F: hybrid files with that share of MACs ternary (default: the --max-drop 1 search,
# which on 32 calibration images often keeps every layer int8).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="$repo/../shared"
build_dir="$repo/build" models="mobilenet_v1_0.75_224 mobilenet_v2_1_0" recipes="int8 hybrid" pass=() hybrid_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --recipes) recipes="$2"; shift 2 ;;
    --ternary-fraction) hybrid_args=(--ternary-fraction "$2"); shift 2 ;;
    --threads|--batch|--seconds|--rounds) pass+=("$1" "$2"); shift 2 ;;
    -*) echo "int8_vs_ort: unknown flag '$1'" >&2; exit 2 ;;
    *) build_dir="$1"; shift ;;
  esac
done
bin="$build_dir/mcompress"
[ -x "$bin" ] || { echo "int8_vs_ort: $bin not built" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
files=()
for model in $models; do
  case "$model" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
  for recipe in $recipes; do
    f="$tmp/${model}_$recipe.mcz"
    extra=()
    [ "$recipe" = hybrid ] && extra=("${hybrid_args[@]}")
    echo "int8_vs_ort: compressing $model with $recipe ${extra[*]}..." >&2
    "$bin" compress "$shared/models/$model.onnx" -o "$f" --recipe "$recipe" --calib "$shared/imagenet-dev" --calib-count 32 \
      --preprocess "$pre" --quiet "${extra[@]}"
    "$bin" export "$f" -o "${f%.mcz}.qdq.onnx" --qdq --quiet
    files+=("$f")
  done
done
"$here/executor_vs_ort.sh" "$build_dir" "${pass[@]}" --models "${files[*]}"
