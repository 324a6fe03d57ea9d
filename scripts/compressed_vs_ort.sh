#!/usr/bin/env bash
# Accuracy of a compressed model three ways on identical preprocessed inputs:
#   1. mcompress eval FILE.mcz (mcompress's executor on the decoded model)
#   2. ONNX Runtime on `mcompress export --qdq` (int8 tensors as int8 initializers + DequantizeLinear),
#      with ORT's default graph optimizations and with optimizations disabled
#   3. ONNX Runtime on the plain export (every weight dequantized to float32), optimizations disabled
# (scripts/ort_outputs.js runs ORT; see there why the optimization level matters.)
# and the largest difference between mcompress's outputs and each ORT run. Prints one markdown row
# (with --header, the table header first).
# mcompress runs a .mcz with int8 activations in its --qdq form and computes the int8 layers in
# integers as ONNX Runtime's kernels do (QLinearConv; ConvInteger for convs not followed by a
# quantizer), so with ORT's default optimizations (which turn DequantizeLinear -> Conv ->
# QuantizeLinear into QLinearConv) the outputs agree up to float rounding in the network's float tail.
# With optimizations 'disabled' ORT evaluates DequantizeLinear -> Conv -> QuantizeLinear in float (a
# float simulation), where a value on a rounding tie may quantize one step apart after ulp-level
# differences, and such flips cascade: that column shows the size of that noise. ONNX Runtime also
# changes float-weight graphs at any level above 'disabled': where a Conv/Gemm reads a
# DequantizeLinear output and its weight is a float initializer, it quantizes that weight itself
# (its own int8 scales), so the plain export measures a different model there (MobileNetV1 0.25
# int8: mcompress 57.4% top-1, ORT on the plain export at default optimizations 0.2%); hence
# 'disabled' for the float export. Without activation QDQ both exports match mcompress to ~1e-5.
# Usage: scripts/compressed_vs_ort.sh MODEL.mcz [IMAGES_DIR] [--preprocess keras|torch] [--limit N]
#                                     [--build DIR] [--header]
# Needs node + npm (scripts/setup.sh --with-ort). IMAGES_DIR defaults to ../shared/imagenet-dev.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/scripts/lib.sh"
shared="$repo/../shared"
ort="$shared/tools/ort-eval/run"
build="$repo/build"
usage() { echo "usage: compressed_vs_ort.sh MODEL.mcz [IMAGES_DIR] [--preprocess keras|torch] [--limit N] [--build DIR] [--header]" >&2; exit 2; }

model="" images="" header=0
eval_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preprocess|--limit) [ $# -ge 2 ] || usage; eval_flags+=("$1" "$2"); shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build="$2"; shift 2 ;;
    --header) header=1; shift ;;
    -h|--help) usage ;;
    -*) echo "compressed_vs_ort: unknown option '$1'" >&2; usage ;;
    *) if [ -z "$model" ]; then model="$1"; elif [ -z "$images" ]; then images="$1"; else usage; fi; shift ;;
  esac
done
[ -n "$model" ] || usage
[ -f "$model" ] || { echo "compressed_vs_ort: $model: no such file" >&2; exit 3; }
images="${images:-$shared/imagenet-dev}"
[ -f "$images/labels.tsv" ] || { echo "compressed_vs_ort: $images/labels.tsv not found" >&2; exit 3; }
bin="$build/mcompress"
[ -x "$bin" ] || { echo "compressed_vs_ort: $bin not built (run scripts/build.sh)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$bin" eval "$model" --images "$images" ${eval_flags[@]+"${eval_flags[@]}"} --json --quiet \
  --save-inputs "$tmp/in.npy" --save-scores "$tmp/ours.npy" --force >"$tmp/ours.json"
"$bin" export "$model" -o "$tmp/qdq.onnx" --qdq 2>"$tmp/qdq.log"
"$bin" export "$model" -o "$tmp/float.onnx" --quiet
"$ort" ort-npy --help >/dev/null  # installs onnxruntime-node into the cache on first use
export NODE_PATH="${MCOMPRESS_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcompress-ort-eval}/node_modules"
# qdq: ORT's default optimizations; qdq_exact / float: optimizations disabled (the graph as written).
for run in "qdq qdq all" "qdq_exact qdq disabled" "float float disabled"; do
  read -r name form level <<<"$run"
  node "$repo/scripts/ort_outputs.js" "$tmp/$form.onnx" "$tmp/in.npy" "$tmp/ort_$name.npy" --optimization "$level"
  node "$repo/scripts/npy_topk.js" "$tmp/ort_$name.npy" "$images/labels.tsv" >"$tmp/ort_$name.json"
done
int8_tensors=$(sed -n 's/.*; \([0-9]*\) int8 weight tensors.*/\1/p' "$tmp/qdq.log")

if [ "$header" = 1 ]; then
  echo "| model | mcompress top-1 / top-5 | ORT, QDQ export, default optimizations | ORT, QDQ export, optimizations off | ORT, float export, optimizations off | max abs output diff vs mcompress: QDQ; QDQ off; float off (/ max abs output) |"
  echo "|---|---|---|---|---|---|"
fi
printf '| %s | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %s; %s; %s |\n' "$(basename "$model" .mcz) (${int8_tensors:-?} int8 tensors)" \
  "$(json_field top1 <"$tmp/ours.json")" "$(json_field top5 <"$tmp/ours.json")" \
  "$(json_field top1 <"$tmp/ort_qdq.json")" "$(json_field top5 <"$tmp/ort_qdq.json")" \
  "$(json_field top1 <"$tmp/ort_qdq_exact.json")" "$(json_field top5 <"$tmp/ort_qdq_exact.json")" \
  "$(json_field top1 <"$tmp/ort_float.json")" "$(json_field top5 <"$tmp/ort_float.json")" \
  "$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort_qdq.npy")" "$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort_qdq_exact.npy")" \
  "$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort_float.npy")"
