#!/usr/bin/env bash
# Accuracy of every shared model three ways, to check mcompress's executor and preprocessing against
# ONNX Runtime on ../shared/imagenet-dev (500 images):
#   1. mcompress eval (libjpeg-turbo decoding, mcompress's float executor)
#   2. ONNX Runtime on exactly the same preprocessed inputs (mcompress eval --save-inputs -> ort-npy)
#   3. ../shared/tools/ort-eval (ONNX Runtime with its own jpeg-js decoding)
# plus the largest difference between mcompress's and ORT's outputs on identical inputs.
# Usage: scripts/accuracy_vs_ort.sh [BUILD_DIR] [MODEL...]   (needs node + npm: scripts/setup.sh --with-ort)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$repo/build}"
shift || true
shared="$repo/../shared"
ort="$shared/tools/ort-eval/run"
bin="$build/mcompress"
[ -x "$bin" ] || { echo "accuracy_vs_ort: $bin not built (run scripts/build.sh)" >&2; exit 2; }
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0)
images="$shared/imagenet-dev"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

json_field() { node -e "const j=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log(j['$1'])"; }

echo "| model | preprocess | mcompress top-1 / top-5 | ORT, same inputs | ORT ort-eval (jpeg-js) | max abs output diff / max abs output |"
echo "|---|---|---|---|---|---|"
for m in "${models[@]}"; do
  case "$m" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
  model="$shared/models/$m.onnx"
  "$bin" eval "$model" --images "$images" --preprocess "$pre" --json --quiet \
    --save-inputs "$tmp/in.npy" --save-scores "$tmp/ours.npy" --force >"$tmp/ours.json"
  "$ort" ort-npy "$model" "$tmp/in.npy" "$tmp/ort.npy" >/dev/null
  node "$repo/scripts/npy_topk.js" "$tmp/ort.npy" "$images/labels.tsv" >"$tmp/ort.json"
  "$ort" ort-eval "$model" "$images" --preprocess "$pre" >"$tmp/ort-eval.txt" 2>&1
  ours1=$(json_field top1 <"$tmp/ours.json"); ours5=$(json_field top5 <"$tmp/ours.json")
  ort1=$(json_field top1 <"$tmp/ort.json"); ort5=$(json_field top5 <"$tmp/ort.json")
  ev1=$(sed -n 's/^top-1: \([0-9.]*\)%.*/\1/p' "$tmp/ort-eval.txt"); ev5=$(sed -n 's/^top-5: \([0-9.]*\)%.*/\1/p' "$tmp/ort-eval.txt")
  diff=$(node -e "
    const fs=require('fs');
    const load=p=>{const b=fs.readFileSync(p);const h=b.readUInt16LE(8);return new Float32Array(b.buffer.slice(b.byteOffset+10+h,b.byteOffset+b.length));};
    const a=load('$tmp/ours.npy'), o=load('$tmp/ort.npy'); let d=0,m=0;
    for(let i=0;i<a.length;i++){d=Math.max(d,Math.abs(a[i]-o[i]));m=Math.max(m,Math.abs(o[i]));}
    console.log(d.toExponential(2)+' / '+m.toFixed(3));")
  printf '| %s | %s | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %s |\n' "$m" "$pre" "$ours1" "$ours5" "$ort1" "$ort5" "$ev1" "$ev5" "$diff"
done
