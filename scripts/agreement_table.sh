#!/usr/bin/env bash
# Proof that the accuracy numbers of a compressed model agree, for every recipe on every shared model.
# Each .mcz is compressed once (calibration: --calib ../shared/imagenet-dev --calib-count N --seed 0;
# hybrid and sparse at their default --max-drop 1) and its top-1 on ../shared/imagenet-dev is read four ways:
#   1. stored: the top-1 `mcompress compress --eval-images` measured on the written file
#      (`mcompress info FILE.mcz --json` -> metadata.report.accuracy.top1_after)
#   2. eval:   `mcompress eval FILE.mcz --images DIR --json` (.top1)
#   3. ONNX Runtime on the default export (`mcompress export FILE.mcz -o x.onnx`: the graph eval runs)
#   4. ONNX Runtime on the `--qdq` export (every quantized weight as int8 behind DequantizeLinear)
# ONNX Runtime runs on exactly the preprocessed inputs mcompress used (eval --save-inputs) with its
# default graph optimizations ('all', as a user would run it; scripts/ort_outputs.js), scored by
# scripts/npy_topk.js. A row agrees when all four top-1 values (and their image counts) are within
# 0.3 points of each other. Also shown: the largest |difference| between ORT's outputs on the default
# export and eval's scores (npy_max_abs_diff, "DIFF / largest |eval score|").
# Prints one markdown table on stdout, after a one-line comment with the commit, images and settings;
# progress goes to stderr. Exit: 0 every row agrees, 1 some row disagrees or failed, 2 usage error.
# Usage: scripts/agreement_table.sh [--build DIR] [--models a,b] [--recipes a,b] [--calib-count N]
#                                   [--limit N] [--keep DIR] [--threads T]
#   --build DIR        folder holding mcompress (default ./build of this repo)
#   --models a,b       subset of the shared models (default all five)
#   --recipes a,b      subset of lossless,fp16,int8,prom,hybrid,sparse (default all six)
#   --calib-count N    calibration images (default 256, the README's setting)
#   --limit N          evaluate only the first N labelled images (compress --eval-limit, eval --limit)
#   --keep DIR         keep DIR/MODEL.RECIPE.mcz, .onnx (default export) and .qdq.onnx
#   --threads T        worker threads for mcompress and ONNX Runtime (default: all cores)
# e.g. scripts/agreement_table.sh --models mobilenet_v1_0.25_224 --recipes int8,fp16,sparse --calib-count 32 --limit 100
# Needs node + npm (scripts/setup.sh --with-ort); onnxruntime-node comes from ../shared/tools/ort-eval/run.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/scripts/lib.sh"
shared="$repo/../shared"
ort="$shared/tools/ort-eval/run"
images="$shared/imagenet-dev"
all_models=(mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0)
all_recipes=(lossless fp16 int8 prom hybrid sparse)
tolerance=0.3

usage_line="usage: agreement_table.sh [--build DIR] [--models a,b] [--recipes a,b] [--calib-count N] [--limit N] [--keep DIR] [--threads T]"
usage() { echo "$usage_line" >&2; exit 2; }
bad() { echo "agreement_table: $*" >&2; usage; }
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1 $2: expected a positive integer"; }
# in_list WORD ITEM...: whether WORD is one of the ITEMs
in_list() { local w="$1" x; shift; for x in "$@"; do [ "$x" = "$w" ] && return 0; done; return 1; }

build="$repo/build" models_arg="" recipes_arg="" calib_count=256 limit="" keep="" threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) echo "$usage_line"; exit 0 ;;
    --build|--models|--recipes|--calib-count|--limit|--keep|--threads)
      [ $# -ge 2 ] && [ -n "$2" ] || bad "$1 needs a value"
      case "$1" in
        --build) build="$2" ;;
        --models) models_arg="$2" ;;
        --recipes) recipes_arg="$2" ;;
        --calib-count) positive "$1" "$2"; calib_count="$2" ;;
        --limit) positive "$1" "$2"; limit="$2" ;;
        --keep) keep="$2" ;;
        --threads) positive "$1" "$2"; threads="$2" ;;
      esac
      shift 2 ;;
    *) bad "unknown argument '$1'" ;;
  esac
done
models=("${all_models[@]}")
if [ -n "$models_arg" ]; then
  IFS=, read -r -a models <<<"$models_arg"
  for m in "${models[@]}"; do in_list "$m" "${all_models[@]}" || bad "unknown model '$m' (one of: ${all_models[*]})"; done
fi
recipes=("${all_recipes[@]}")
if [ -n "$recipes_arg" ]; then
  IFS=, read -r -a recipes <<<"$recipes_arg"
  for r in "${recipes[@]}"; do in_list "$r" "${all_recipes[@]}" || bad "unknown recipe '$r' (one of: ${all_recipes[*]})"; done
fi
[ ${#models[@]} -gt 0 ] && [ ${#recipes[@]} -gt 0 ] || bad "no models or no recipes"
bin="$(cd "$build" 2>/dev/null && pwd)/mcompress" || bad "--build $build: no such folder"
[ -x "$bin" ] || bad "$bin not built (run scripts/build.sh)"
[ -f "$images/labels.tsv" ] || { echo "agreement_table: $images/labels.tsv not found" >&2; exit 2; }
if [ -n "$keep" ]; then mkdir -p "$keep" && keep="$(cd "$keep" && pwd)"; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$ort" ort-npy --help >/dev/null 2>&1 || true  # installs onnxruntime-node into the cache on first use
export NODE_PATH="${MCOMPRESS_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcompress-ort-eval}/node_modules"
[ -f "$NODE_PATH/onnxruntime-node/package.json" ] || { echo "agreement_table: onnxruntime-node missing under $NODE_PATH (scripts/setup.sh --with-ort)" >&2; exit 2; }
ort_version="$(json_field version <"$NODE_PATH/onnxruntime-node/package.json")"

thread_flags=() ort_flags=() eval_limit_flags=() limit_flags=()
[ -z "$threads" ] || { thread_flags=(--threads "$threads"); ort_flags=(--threads "$threads"); }
[ -z "$limit" ] || { eval_limit_flags=(--eval-limit "$limit"); limit_flags=(--limit "$limit"); }

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit="$commit (+ uncommitted changes)"
labelled=$(grep -c . "$images/labels.tsv")
evaluated=all; [ -z "$limit" ] || evaluated="first $limit"
echo "<!-- agreement_table.sh: commit $commit; binary $bin ($("$bin" --version 2>&1 | head -1)); images $images ($labelled labelled; evaluated: $evaluated); calibration --calib $images --calib-count $calib_count --seed 0; hybrid/sparse --max-drop 1 (default); ONNX Runtime $ort_version, optimization all; threads ${threads:-all cores}; agree = all four top-1 within $tolerance points -->"
echo "| model | recipe | .mcz bytes | stored top-1 | eval top-1 | ORT default export top-1 | ORT --qdq export top-1 | largest difference (points) | max abs output diff (default export vs eval scores) | agree |"
echo "|---|---|---|---|---|---|---|---|---|---|"

# fail_row MODEL RECIPE WHAT LOG: a row for a step that failed (counts as disagreement).
fail_row() {
  echo "agreement_table: $1 $2: $3 failed: $(head -c 400 "$4" | tr '\n' ' ')" >&2
  echo "| $1 | $2 | $3 failed: $(head -c 160 "$4" | tr '\n|' '  ') | | | | | | | NO |"
  disagreements=$((disagreements + 1))
}

disagreements=0
start=$SECONDS
for m in "${models[@]}"; do
  case "$m" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
  for r in "${recipes[@]}"; do
    row_start=$SECONDS
    d="$tmp/row"; rm -rf "$d"; mkdir -p "$d"
    out="${keep:-$d}"
    mcz="$out/$m.$r.mcz" x="$out/$m.$r.onnx" y="$out/$m.$r.qdq.onnx"
    echo "agreement_table: $m $r: compressing..." >&2
    # Every recipe accepts --calib (lossless and fp16 ignore it).
    "$bin" compress "$shared/models/$m.onnx" -o "$mcz" --recipe "$r" --preprocess "$pre" \
        --calib "$images" --calib-count "$calib_count" --seed 0 --eval-images "$images" ${eval_limit_flags[@]+"${eval_limit_flags[@]}"} \
        ${thread_flags[@]+"${thread_flags[@]}"} --force --quiet >/dev/null 2>"$d/compress.err" || { fail_row "$m" "$r" compress "$d/compress.err"; continue; }
    bytes=$(wc -c <"$mcz" | tr -d ' ')
    "$bin" info "$mcz" --json ${thread_flags[@]+"${thread_flags[@]}"} >"$d/info.json" 2>"$d/info.err" || { fail_row "$m" "$r" info "$d/info.err"; continue; }
    stored=$(json_path metadata.report.accuracy.top1_after <"$d/info.json" 2>"$d/stored.err") || { fail_row "$m" "$r" "reading stored top-1" "$d/stored.err"; continue; }
    stored_n=$(json_path metadata.report.accuracy.images <"$d/info.json" 2>/dev/null || echo "?")
    echo "agreement_table: $m $r: eval, exports, ONNX Runtime..." >&2
    "$bin" eval "$mcz" --images "$images" ${limit_flags[@]+"${limit_flags[@]}"} ${thread_flags[@]+"${thread_flags[@]}"} --json --quiet \
        --save-inputs "$d/in.npy" --save-scores "$d/ours.npy" --force >"$d/eval.json" 2>"$d/eval.err" || { fail_row "$m" "$r" eval "$d/eval.err"; continue; }
    "$bin" export "$mcz" -o "$x" ${thread_flags[@]+"${thread_flags[@]}"} --force 2>"$d/x.err" || { fail_row "$m" "$r" export "$d/x.err"; continue; }
    "$bin" export "$mcz" -o "$y" --qdq ${thread_flags[@]+"${thread_flags[@]}"} --force 2>"$d/y.err" || { fail_row "$m" "$r" "export --qdq" "$d/y.err"; continue; }
    sed 's/^/  export: /' "$d/x.err" "$d/y.err" >&2
    ok=1
    for form in x y; do
      onnx=$x; [ "$form" = x ] || onnx=$y
      node "$repo/scripts/ort_outputs.js" "$onnx" "$d/in.npy" "$d/ort_$form.npy" --optimization all ${ort_flags[@]+"${ort_flags[@]}"} 2>"$d/ort_$form.err" \
        || { fail_row "$m" "$r" "ORT on $(basename "$onnx")" "$d/ort_$form.err"; ok=0; break; }
      node "$repo/scripts/npy_topk.js" "$d/ort_$form.npy" "$images/labels.tsv" >"$d/ort_$form.json" 2>"$d/ort_$form.err" \
        || { fail_row "$m" "$r" "scoring ORT on $(basename "$onnx")" "$d/ort_$form.err"; ok=0; break; }
    done
    [ "$ok" = 1 ] || continue
    ev=$(json_field top1 <"$d/eval.json") ev_n=$(json_field images <"$d/eval.json")
    ox=$(json_field top1 <"$d/ort_x.json") ox_n=$(json_field images <"$d/ort_x.json")
    oy=$(json_field top1 <"$d/ort_y.json") oy_n=$(json_field images <"$d/ort_y.json")
    diff_out=$(npy_max_abs_diff "$d/ort_x.npy" "$d/ours.npy" 2>&1) || diff_out="failed: $diff_out"
    # Largest pairwise difference = max - min; agree when within the tolerance and all on the same images.
    read -r spread agree < <(awk -v a="$stored" -v b="$ev" -v c="$ox" -v e="$oy" -v t="$tolerance" 'BEGIN {
        lo = a; hi = a; n = split(b " " c " " e, v, " ");
        for (i = 1; i <= n; i++) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
        s = hi - lo; printf "%.2f %s\n", s, (s <= t + 1e-9 ? "yes" : "NO") }')
    if [ "$stored_n" != "$ev_n" ] || [ "$ev_n" != "$ox_n" ] || [ "$ev_n" != "$oy_n" ]; then
      agree="NO (images: stored $stored_n, eval $ev_n, ORT $ox_n / $oy_n)"
    fi
    [ "$agree" = yes ] || disagreements=$((disagreements + 1))
    printf '| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n' "$m" "$r" "$bytes" "$stored" "$ev" "$ox" "$oy" "$spread" "$diff_out" "$agree"
    echo "agreement_table: $m $r: stored $stored, eval $ev, ORT $ox / $oy -> $agree ($((SECONDS - row_start)) s)" >&2
    rm -f "$d"/*.npy
  done
done
echo "agreement_table: ${#models[@]} model(s) x ${#recipes[@]} recipe(s) in $((SECONDS - start)) s; $disagreements row(s) not agreeing" >&2
[ "$disagreements" = 0 ]
