#!/usr/bin/env bash
# CLI workflow tests: budgets (--val, --confidence, the budget object), timing, eval --compare, sweeps,
# HTML reports, the batch Makefile, one key per meaning across info / report / sweep, input conventions
# and refusals. The error contract (exit codes, messages, no partial outputs) is run_cli_tests.sh; the
# two run in parallel under ctest. Usage: run_cli_workflow_tests.sh PATH/TO/mcompress
# Runs from the repository root (ctest sets the working directory).
set -u
bin="${1:?usage: run_cli_workflow_tests.sh MCOMPRESS_BINARY}"
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1

# Files of three recipes the key checks below read (fp16, int8, sparse).
expect 0 "" -- compress "$model" -o "$tmp/f16.mcz" --recipe fp16 --quiet
expect 0 "" -- compress "$model" -o "$tmp/q.mcz" --recipe int8 --calib "$images" --preprocess keras --quiet
# The int8 kernel choice from the environment: a value it does not know is a usage error, not ignored.
MCOMPRESS_INT8_KERNELS=bogus expect 2 "MCOMPRESS_INT8_KERNELS must be .portable. or .automatic. \\(or unset\\), got .bogus." -- \
  eval "$tmp/q.mcz" --images "$images" --preprocess keras --limit 2
MCOMPRESS_INT8_KERNELS=portable expect 0 "" -- eval "$tmp/q.mcz" --images "$images" --preprocess keras --limit 2

expect 0 "" -- compress "$model" -o "$tmp/s.mcz" --recipe sparse --sparsity 0.2 --max-drop 5 --calib "$images" --calib-count 6 --preprocess keras --quiet
"$bin" info "$tmp/s.mcz" --json >"$tmp/si.json"
ratio="$(grep -o '"compression_ratio": [0-9.]*' "$tmp/si.json" | head -1 | sed 's/.*: //')"
check "the sparse recipe writes a file over 4x smaller than fp32 (got ${ratio:-none})" awk -v r="${ratio:-0}" 'BEGIN { exit !(r > 4) }'
expect 0 "" -- export "$tmp/s.mcz" -o "$tmp/s.onnx" --qdq --quiet
check "a sparse recipe QDQ export contains DequantizeLinear weights" grep -q DequantizeLinear "$tmp/s.onnx"

# --- issue 15: budgets with labels (--val), confidence, paired comparisons
mkdir -p "$tmp/val/nolabels" "$tmp/val/three"
cp "$images"/n01440764_tench.JPEG "$images"/n01818515_macaw.JPEG "$images"/n02092339_Weimaraner.JPEG "$tmp/val/nolabels/"
cp "$tmp/val/nolabels/"*.JPEG "$tmp/val/three/"
grep -E 'tench|macaw|Weimaraner' "$images/labels.tsv" >"$tmp/val/three/labels.tsv"
expect 3 "labels.tsv: no such file" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --val "$tmp/val/nolabels"
expect 2 "has 3 labelled images: even a candidate that changes no answer has a 0.9 bound of 35.38 points there, more than the 1-point budget; give at least 163 labelled images" -- compress "$model" -o "$tmp/val/x.mcz" \
  --recipe hybrid --calib "$images" --preprocess keras --val "$tmp/val/three"
expect 2 "3 images of --calib also are in --val .*must be disjoint" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --max-drop 50 \
  --calib "$images" --preprocess keras --val "$tmp/val/three"
expect 2 "--confidence must be between 0.5 and 1" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --confidence 0.4
expect 2 "--confidence must be between 0.5 and 1" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --confidence 1
check "refused budgets leave no file" test ! -e "$tmp/val/x.mcz"
# The budget object: in the file's report and in compress --json.
"$bin" compress "$model" -o "$tmp/val/h.mcz" --recipe hybrid --calib "$images" --preprocess keras --json >"$tmp/val/h.json" 2>"$tmp/val/h.err"
for key in max_drop estimate bound confidence images labels met within certifiable path; do
  check "compress --json has budget.$key" grep -q "\"$key\"" "$tmp/val/h.json"
done
# 12 images: 6 held out, 3 to confirm, one worth 33 points: a 1-point budget is not decided, whatever the bound says.
check "3 confirmation images do not meet a 1-point budget" jq -e '.budget.met == false and .budget.certifiable == false and .budget.images == 3' "$tmp/val/h.json"
check "and the warning says it is not decided" grep -q "^mcompress: warning: split-hybrid: --max-drop 1 is not decided: one of the 3 decision images is worth 33.33 points" "$tmp/val/h.err"
# Where the time goes: compress --json `timing` and compress --verbose per-stage lines (docs/KEYS.md).
jq_true() { jq -e "$@" >/dev/null; }
check "compress --json timing: stages add up to the total" \
  jq_true '.timing.total_seconds > 0 and .timing.peak_rss_bytes > 1000000 and
         ((([.timing.stages[].seconds] | add) - .timing.total_seconds) | fabs) < 0.01 and
         ([.timing.stages[].share] | add) > 0.99' "$tmp/val/h.json"
for stage in "reading the model" "calibration images" "calibration statistics" "pass split-hybrid" "budget probes" "coding the file" "writing the output" "other"; do
  check "compress --json timing has stage '$stage'" jq_true --arg s "$stage" 'any(.timing.stages[]; .stage == $s)' "$tmp/val/h.json"
done
"$bin" compress "$model" -o "$tmp/val/v.mcz" --recipe int8 --calib "$images" --preprocess keras --calib-count 8 \
  --eval-images "$images" --eval-limit 4 --verbose 2>"$tmp/val/v.err" >/dev/null
for stage in "pass quantize-int8 .*(2 times)" "eval (float model)" "eval (written file)" "total .* 100.0%" "memory .*peak resident [0-9.]* MB"; do
  check "compress --verbose prints time of '$stage'" grep -q "^  [a-z]* *$stage" "$tmp/val/v.err"
done
"$bin" profile "$model" --calib "$images" --preprocess keras --calib-count 8 --e2e-images 2 --verbose 2>"$tmp/val/p.err" >/dev/null
for stage in "calibration statistics" "filter sensitivity" "end-to-end probes" "total"; do
  check "profile --verbose prints time of '$stage'" grep -q "^  time *$stage" "$tmp/val/p.err"
done
"$bin" report "$tmp/val/h.mcz" --json >"$tmp/val/r.json"
check "report --json has the budget object" grep -q '"budget"' "$tmp/val/r.json"
# eval --compare: both models on the same images, the paired difference and its interval.
expect 0 "" -- eval --compare "$model" "$tmp/val/h.mcz" --images "$images" --preprocess keras --json
for key in top1_a top1_b difference interval images; do check "eval --compare --json has $key" grep -q "\"$key\"" "$tmp/out"; done
expect 2 "give either FILE or --compare" -- eval "$model" --compare "$model" "$model" --images "$images" --preprocess keras

# --- sweep: grid errors before any work (2), unwritable outputs (5), a small real sweep
sw=(--eval-images "$images" --preprocess keras --eval-limit 2)
expect 2 "sweep grid has no valid point \(int8: .*calib" -- sweep "$model" "${sw[@]}" --recipes int8
expect 2 "sweep grid has no valid point .*ternary-fraction must be between 0 and 1" -- sweep "$model" "${sw[@]}" --calib "$images" --recipes hybrid --budgets hybrid:ternary-fraction=2,3
expect 2 "unknown recipe 'int9'" -- sweep "$model" "${sw[@]}" --recipes int8,int9 --calib "$images"
expect 2 "expected RECIPE:BUDGET=V1,V2" -- sweep "$model" "${sw[@]}" --calib "$images" --budgets hybrid
expect 2 "'x' is not a number" -- sweep "$model" "${sw[@]}" --calib "$images" --budgets hybrid:max-drop=1,x
expect 2 "no valid point .*ternary-terms must be 1, 2 or 3" -- sweep "$model" "${sw[@]}" --calib "$images" --recipes hybrid --budgets hybrid:ternary-terms=4
expect 2 "ternary-terms must be a small whole number" -- sweep "$model" "${sw[@]}" --calib "$images" --budgets hybrid:ternary-terms=1.5
expect 2 "unknown budget 'bogus'" -- sweep "$model" "${sw[@]}" --calib "$images" --budgets hybrid:bogus=1
expect 2 "hybrid max-drop=1 is listed twice" -- sweep "$model" "${sw[@]}" --calib "$images" --budgets hybrid:max-drop=1,2 --budgets hybrid:max-drop=1
expect 2 "recipe 'hybrid' is not in the sweep" -- sweep "$model" "${sw[@]}" --calib "$images" --recipes int8 --budgets hybrid:max-drop=1
expect 2 "eval-images" -- sweep "$model" --preprocess keras --recipes fp16
expect 2 "jobs" -- sweep "$model" "${sw[@]}" --recipes fp16 --jobs 0
expect 2 "stdout" -- sweep "$model" "${sw[@]}" --recipes fp16 --json -o -
expect 5 "does not exist" -- sweep "$model" "${sw[@]}" --recipes fp16 -o "$tmp/no/such/dir/s.csv"
expect 5 "does not exist" -- sweep "$model" "${sw[@]}" --recipes fp16 --html "$tmp/no/such/dir/s.html"
expect 5 "--keep needs an existing directory" -- sweep "$model" "${sw[@]}" --recipes fp16 --keep "$tmp/no/such/dir"
expect 3 "no-such.onnx: no such file" -- sweep "$tmp/no-such.onnx" "${sw[@]}" --recipes fp16
mkdir -p "$tmp/sweep" "$tmp/sweep/keep"
expect 2 "no valid point" -- sweep "$model" "${sw[@]}" --recipes int8 -o "$tmp/sweep/none.csv"
check "a sweep with no valid point writes nothing" test ! -e "$tmp/sweep/none.csv"
grid=(--calib "$images" --calib-count 4 --recipes fp16,hybrid --budgets hybrid:ternary-fraction=0.2)
expect 0 "" -- sweep "$model" "${sw[@]}" "${grid[@]}" --jobs 2 -o "$tmp/sweep/j2.csv" -o "$tmp/sweep/j2.json" --html "$tmp/sweep/s.html" --keep "$tmp/sweep/keep" --quiet
cp -r "$tmp/sweep/keep" "$tmp/sweep/keep2"
# The same sweep at another --jobs and --threads, into the same --keep folder (the files record their path).
expect 0 "" -- sweep "$model" "${sw[@]}" "${grid[@]}" --jobs 1 --threads 1 -o "$tmp/sweep/j1.csv" -o "$tmp/sweep/j1.json" --keep "$tmp/sweep/keep" --force --quiet
check "sweep writes one CSV row per point" test "$(wc -l <"$tmp/sweep/j2.csv")" -eq 3
check "sweep CSV has the Pareto columns" grep -q '^recipe,budget,status,bytes,compression_ratio,muls,adds,.*,pareto_size,pareto_muls,command$' "$tmp/sweep/j2.csv"
check "sweep marks at least one Pareto point" grep -Eq ',(1,[01]|[01],1),mcompress compress' "$tmp/sweep/j2.csv"
check "sweep CSV is the same at --jobs 1 and 2" cmp -s "$tmp/sweep/j1.csv" "$tmp/sweep/j2.csv"
check "sweep JSON is the same at --jobs 1 and 2" cmp -s "$tmp/sweep/j1.json" "$tmp/sweep/j2.json"
check "sweep --keep keeps every point" test "$(ls "$tmp/sweep/keep" | wc -l)" -eq 2
check "kept .mcz files are the same at --jobs 1 and 2" diff -r -q "$tmp/sweep/keep" "$tmp/sweep/keep2"
# The recorded command reproduces the kept file byte for byte (run verbatim: same output path).
kept="$tmp/sweep/keep/hybrid_ternary-fraction_0.2.mcz"
mv "$kept" "$tmp/sweep/kept.mcz"
cmd="$(grep '^hybrid,ternary-fraction=0.2,' "$tmp/sweep/j2.csv" | sed 's/.*,mcompress compress /compress /')"
# shellcheck disable=SC2086
"$bin" $cmd --quiet
check "a sweep point's command reproduces its file" cmp -s "$kept" "$tmp/sweep/kept.mcz"
"$bin" sweep "$model" "${sw[@]}" --recipes fp16 --json --quiet >"$tmp/sweep/stdout.json"
check "sweep --json prints the points" grep -q '"pareto_size": true' "$tmp/sweep/stdout.json"

# --- HTML reports: self-contained, rendered by headless Chromium when installed
expect 2 "--sweep adds the Pareto plots" -- report "$tmp/q.mcz" --sweep "$tmp/sweep/j2.json"
expect 5 "does not exist" -- report "$tmp/q.mcz" --html "$tmp/no/such/dir/r.html"
printf '{"points": 3' >"$tmp/sweep/bad.json"
expect 3 "bad.json: not valid JSON" -- report "$tmp/q.mcz" --html "$tmp/sweep/r.html" --sweep "$tmp/sweep/bad.json"
printf '{"points": [{"recipe": "int8", "status": "ok"}]}' >"$tmp/sweep/bad.json"
expect 3 "bad.json: points\[0\]: missing 'bytes'" -- report "$tmp/q.mcz" --html "$tmp/sweep/r.html" --sweep "$tmp/sweep/bad.json"
check "a failed report --html leaves no file" test ! -e "$tmp/sweep/r.html"
expect 5 "does not exist" -- compress "$model" -o "$tmp/sweep/h.mcz" --recipe fp16 --report "$tmp/no/such/dir/r.html"
check "an unwritable --report path leaves no .mcz" test ! -e "$tmp/sweep/h.mcz"
expect 0 "" -- report "$tmp/sweep/keep/fp16.mcz" --html "$tmp/sweep/r.html" --sweep "$tmp/sweep/j2.json" --quiet
check "report --html draws the sweep's Pareto plot" grep -q 'top-1 vs stored size' "$tmp/sweep/r.html"
"$bin" report "$tmp/sweep/kept.mcz" --html "$tmp/sweep/kept.html" --quiet
check "report --html draws the hybrid's sensitivity boxes" grep -q 'filters</text>' "$tmp/sweep/kept.html"
expect 0 "" -- compress "$model" -o "$tmp/sweep/h.mcz" --recipe fp16 --report "$tmp/sweep/h.html" --quiet
check "compress --report FILE.html writes HTML" grep -q '^<!DOCTYPE html>' "$tmp/sweep/h.html"
for page in "$tmp/sweep/s.html" "$tmp/sweep/r.html" "$tmp/sweep/kept.html"; do
  scripts/check_html.sh "$page" >"$tmp/sweep/check.log" 2>&1
  rc=$?
  # No chromium: the self-containedness checks still ran; scripts/test.sh installs Chromium and sets
  # MCOMPRESS_REQUIRE_CHROMIUM=1, so there a skipped rendering is a failure.
  if [ "$rc" -eq 77 ] && [ -z "${MCOMPRESS_REQUIRE_CHROMIUM:-}" ]; then rc=0; fi
  check "$(basename "$page") is self-contained and renders: $(tail -1 "$tmp/sweep/check.log")" test "$rc" -eq 0
done

# --- batch Makefile: one corrupt model fails, the other still compresses, make reports the failure
if command -v make >/dev/null 2>&1; then
  mkdir -p "$tmp/batch/models"
  cp "$model" "$tmp/batch/models/good.onnx"
  head -c 50000 "$model" >"$tmp/batch/models/corrupt.onnx"
  bin_abs="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  make -s -C examples -j2 MODELS_DIR="$tmp/batch/models" OUT="$tmp/batch/out" RECIPES="fp16" MCOMPRESS="$bin_abs" EVAL= \
    >"$tmp/batch/log" 2>&1
  rc=$?
  check "make reports a failed model with a non-zero exit" test "$rc" -ne 0
  check "the other model still compresses" test -s "$tmp/batch/out/good.fp16.mcz"
  check "the summary lists the good model" grep -q $'^good\tfp16\tok\t' "$tmp/batch/out/summary.tsv"
  check "the summary lists the failure with its exit code" grep -q $'^corrupt\tfp16\tfailed 3\t' "$tmp/batch/out/summary.tsv"
  check "make names the failed model" grep -q "FAILED  corrupt fp16 (exit 3)" "$tmp/batch/log"
else
  echo "SKIP: batch Makefile (make not installed)"
fi

# === issue 14 (items 4, 5, 8): one key, one meaning; info's layer table; no source-tree paths ===
# json_number FILE KEY: the first "KEY": number of a pretty-printed JSON file (info --json: its top
# level; report --json: "size" comes first).
json_number() { sed -n 's/^ *"'"$2"'": \([-0-9.eE+]*\),\{0,1\}$/\1/p' "$1" | head -1; }
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
for f in "$tmp/f16.mcz" "$tmp/q.mcz" "$tmp/s.mcz" "$tmp/sweep/kept.mcz"; do
  n="$(basename "$f")"
  "$bin" info "$f" --json >"$tmp/keys_info.json"
  "$bin" report "$f" --json >"$tmp/keys_report.json"
  for key in bytes params fp32_bytes compression_ratio weight_bytes bits_per_weight source_bytes source_params compression_ratio_vs_source; do
    a="$(json_number "$tmp/keys_info.json" "$key")"
    b="$(json_number "$tmp/keys_report.json" "$key")"
    check "$n: info --json and report --json agree on $key ($a, $b)" test -n "$a" -a "$a" = "$b"
  done
  params="$(json_number "$tmp/keys_info.json" params)"
  fp32="$(json_number "$tmp/keys_info.json" fp32_bytes)"
  check "$n: fp32_bytes ($fp32) = 4 x params ($params)" test "$fp32" = "$((4 * params))"
  "$bin" info "$f" >"$tmp/keys_info.txt"
  "$bin" report "$f" >"$tmp/keys_report.txt"
  check "$n: info text has the same parameter count" grep -q "^weights: $(commas "$params") parameters" "$tmp/keys_info.txt"
  check "$n: report text has the same parameter count" grep -q ", $(commas "$params") parameters," "$tmp/keys_report.txt"
  ratio="$(json_number "$tmp/keys_info.json" compression_ratio)"
  shown="$(awk -v r="$ratio" 'BEGIN { printf "%.2fx smaller than the parameters at fp32", r }')"
  check "$n: info and report text say '$shown'" grep -q "$shown" "$tmp/keys_info.txt" "$tmp/keys_report.txt"
  check "$n: report says 'more' for more (no negative 'fewer')" bash -c "! grep -Eq -- '-[0-9.]+% fewer' '$tmp/keys_report.txt'"
  check "$n: no '1 ...s' plural" bash -c "! grep -Eq '(^|[^0-9,.])1 (layers|tensors|images|parameters|sections)' '$tmp/keys_info.txt' '$tmp/keys_report.txt'"
  check "$n: report --json carries no float noise" bash -c "! grep -Ev '\"top[15]' '$tmp/keys_report.json' | grep -Eq '[0-9]\.[0-9]{9,}'"
  check "$n: info shows one row per weighted layer, no tensor rows" grep -Eq '^total \([0-9]+ layers\)' "$tmp/keys_info.txt"
  check "$n: info lists tensors only with --tensors" bash -c "! grep -q '^tensor ' '$tmp/keys_info.txt'"
done
check "hybrid: report says the additions grew" grep -Eq 'adds [0-9,]+ \(float model [0-9,]+, [0-9.]+% more\)' "$tmp/keys_report.txt"
"$bin" info "$tmp/f16.mcz" --tensors >"$tmp/keys_tensors.txt"
dw2="$(grep -n '^conv_dw_2_W ' "$tmp/keys_tensors.txt" | cut -d: -f1)"
dw10="$(grep -n '^conv_dw_10_W ' "$tmp/keys_tensors.txt" | cut -d: -f1)"
check "info --tensors lists tensors in natural order (conv_dw_2 at line ${dw2:-?}, conv_dw_10 at ${dw10:-?})" test -n "$dw2" -a -n "$dw10" -a "${dw2:-0}" -lt "${dw10:-0}"
# A sweep point's numbers are its file's report.
"$bin" report "$tmp/sweep/keep/fp16.mcz" --json >"$tmp/keys_report.json"
row="$(grep '^fp16,' "$tmp/sweep/j2.csv")"
check "sweep CSV compression_ratio = report's" test "$(echo "$row" | cut -d, -f5)" = "$(json_number "$tmp/keys_report.json" compression_ratio)"
check "sweep CSV energy_pj = report's" test "$(echo "$row" | cut -d, -f11)" = "$(json_number "$tmp/keys_report.json" energy_pj)"
check "sweep CSV and JSON carry no float noise outside top-1/top-5" bash -c "! cut -d, -f1-11,14- '$tmp/sweep/j2.csv' | grep -Eq '[0-9]\.[0-9]{9,}' && ! grep -Ev '\"top[15]\"' '$tmp/sweep/j2.json' | grep -Eq '[0-9]\.[0-9]{9,}'"
# No output points into the source tree or ../shared: the energy table is cited, not our file.
paths='\.\./shared|docs/|data/|scripts/|analysis/|energy_45nm|RESEARCH\.md|COUNTING\.md|[A-Za-z_]\.(h|cpp)\b'
"$bin" report "$tmp/sweep/kept.mcz" --html "$tmp/keys.html" --quiet
for args in "info $tmp/sweep/kept.mcz" "info $tmp/sweep/kept.mcz --tensors" "info $tmp/sweep/kept.mcz --json" "report $tmp/sweep/kept.mcz" \
  "report $tmp/sweep/kept.mcz --json" "info $tmp/f16.mcz --json" "report $tmp/q.mcz --json" "info --help" "report --help"; do
  # shellcheck disable=SC2086
  "$bin" $args >"$tmp/keys_out.txt" 2>&1
  check "mcompress $args names no source-tree path ($(grep -Eo "$paths" "$tmp/keys_out.txt" | head -1))" bash -c "! grep -Eq '$paths' '$tmp/keys_out.txt'"
done
for page in "$tmp/keys.html" "$tmp/sweep/s.html" "$tmp/sweep/r.html"; do
  check "$(basename "$page") names no source-tree path ($(grep -Eo "$paths" "$page" | head -1))" bash -c "! grep -Eq '$paths' '$page'"
done
check "report --json cites the built-in energy table" grep -q '"origin": "built-in (Horowitz, ISSCC 2014, 45 nm)"' "$tmp/keys_report.json"
# === end of issue 14 block ===

# === input conventions (issue 16, item 5) ===
expect 2 "--mean '1,2': expected three numbers R,G,B" -- eval "$model" --images "$images" --mean 1,2
expect 2 "--std needs --mean" -- eval "$model" --images "$images" --std 1,2,3
expect 2 "--bgr needs --mean" -- eval "$model" --images "$images" --preprocess caffe --bgr
expect 2 "--mean/--std replace --preprocess" -- eval "$model" --images "$images" --preprocess keras --mean 1,2,3
expect 2 "unknown layout 'nwhc'" -- eval "$model" --images "$images" --preprocess keras --layout nwhc
expect 2 "input '[^']+' is \[-1,3,224,224\]: with --layout nhwc that is 224 channels, not 3" -- eval "$model" --images "$images" --preprocess keras --layout nhwc
expect 2 "--input-size 192 does not fit input" -- eval "$model" --images "$images" --preprocess keras --input-size 192
expect 2 "crop-ratio" -- eval "$model" --images "$images" --preprocess keras --crop-ratio 2
expect 2 "--mean '1,2'" -- compress "$model" -o "$tmp/conv.mcz" --recipe int8 --calib "$images" --mean 1,2
check "a refused convention leaves no output" test ! -e "$tmp/conv.mcz"
for pre in caffe raw unit; do expect 0 "top-1" -- eval "$model" --images "$images" --preprocess "$pre" --limit 2; done
expect 0 "top-1" -- eval "$model" --images "$images" --mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --limit 3
# keras written as --mean/--std gives keras's accuracy (x/127.5-1 vs (x-127.5)/127.5: equal up to rounding)
"$bin" eval "$model" --images "$images" --preprocess keras --json --quiet >"$tmp/k.json"
"$bin" eval "$model" --images "$images" --mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --json --quiet >"$tmp/m.json"
check "--mean/--std 127.5 = keras top-1" test "$(json_number "$tmp/k.json" top1)" = "$(json_number "$tmp/m.json" top1)"
check "eval --json reports the input it fed (nchw 224, resize 256, offset 0)" grep -q '"layout": "nchw"' "$tmp/k.json"
# 1000 labels on a 1000-class model: a forced offset of 1 moves every label (and top-1 changes)
"$bin" eval "$model" --images "$images" --preprocess keras --label-offset 1 --json --quiet >"$tmp/o.json"
check "--label-offset 1 is applied" grep -q '"label_offset": 1' "$tmp/o.json"
# The convention is stored: compress with caffe-style custom values, eval of the file needs no flags.
expect 0 "" -- compress "$model" -o "$tmp/conv.mcz" --recipe fp16 --mean 123.68,116.78,103.94 --std 58.4,57.12,57.38 --bgr --crop-ratio 0.9 --quiet
"$bin" info "$tmp/conv.mcz" --json >"$tmp/conv_info.json"
check "the .mcz stores the convention line" grep -q 'mean=123.68,116.78,103.94;std=58.4,57.12,57.38;bgr;crop-ratio=0.9' "$tmp/conv_info.json"
expect 0 "top-1" -- eval "$tmp/conv.mcz" --images "$images" --limit 2
# Preprocessed float32 .npy tensors need no --preprocess (compress --calib and eval).
mkdir -p "$tmp/npy"
make_npy() {  # make_npy FILE: float32 [3,224,224], a constant 0.25 plane
  local header="{'descr': '<f4', 'fortran_order': False, 'shape': (3, 224, 224), }"
  local pad=$((128 - 10 - ${#header} - 1))
  { printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$header" "$pad" ""
    head -c $((3 * 224 * 224)) /dev/zero | tr '\0' '\001' | sed 's/\x01/\x00\x00\x80\x3e/g'; } >"$1"
}
for i in 0 1 2 3; do make_npy "$tmp/npy/t$i.npy"; printf 't%s.npy\t%s\n' "$i" "$i" >>"$tmp/npy/labels.tsv"; done
check "make_npy writes 128 + 602112 bytes" test "$(stat -c %s "$tmp/npy/t0.npy")" -eq $((128 + 3 * 224 * 224 * 4))
expect 0 "top-1" -- eval "$model" --images "$tmp/npy"
expect 0 "" -- compress "$model" -o "$tmp/npy.mcz" --recipe int8 --calib "$tmp/npy" --calib-count 4 --eval-images "$tmp/npy" --quiet
expect 2 "--preprocess is required" -- compress "$model" -o "$tmp/npy2.mcz" --recipe int8 --calib "$images"
# === end of input conventions ===

# === clearer refusals (issue 16, item 6) ===
expect 3 "tests/data/bad/no_outputs.onnx: the graph has no outputs" -- info tests/data/bad/no_outputs.onnx
expect 3 "tests/data/bad/no_outputs.onnx: the graph has no outputs" -- export tests/data/bad/no_outputs.onnx -o "$tmp/no.onnx"
expect 3 "tests/data/bad/no_outputs.onnx: the graph has no outputs" -- compress tests/data/bad/no_outputs.onnx -o "$tmp/no.mcz" --recipe lossless
check "a model without outputs leaves no file" test ! -e "$tmp/no.onnx" -a ! -e "$tmp/no.mcz"
expect 3 "tests/data/bad/conv_channels.onnx: node 'conv' \(Conv\): weight \[4,2,3,3\] expects 2 input channels" -- info tests/data/bad/conv_channels.onnx
expect 3 "conv_channels.onnx: node 'conv'" -- eval tests/data/bad/conv_channels.onnx --images "$images" --preprocess keras
# NaN / Inf weights: lossless and fp16 keep them with a warning naming the tensor; quantizing recipes refuse.
for r in lossless fp16; do
  "$bin" compress tests/data/models/nan_weight.onnx -o "$tmp/nan_$r.mcz" --recipe "$r" 2>"$tmp/nan_err"
  check "$r on NaN/Inf weights: exit 0" test $? -eq 0
  check "$r on NaN/Inf weights: the warning names the weight and the count" grep -q "weight 'w' holds 2 NaN or Inf values (first at index 5): kept as is" "$tmp/nan_err"
done
expect 3 "nan_weight.onnx: weight 'w' holds 2 NaN or Inf values .*recipe 'int8' needs finite weights" -- compress tests/data/models/nan_weight.onnx -o "$tmp/nan.mcz" --recipe int8 --calib "$tmp/npy" --calib-count 4 --preprocess keras
check "a refused NaN model leaves no file" test ! -e "$tmp/nan.mcz"
# === end of clearer refusals ===

finish
