#!/usr/bin/env bash
# Calibration statistics files: `mcompress calibrate` and `--stats FILE` on compress, profile and
# sweep. Outputs with and without the file are byte-identical and the file spares every statistics
# computation; a file for another model, other settings or other images, a truncated file and a
# flipped byte are refused (exit 3) naming the file; usage (2) and output (5) errors come before any
# work and leave nothing behind. Usage: run_stats_tests.sh PATH/TO/mcompress (from the repository root).
set -u
bin="${1:?usage: run_stats_tests.sh MCOMPRESS_BINARY}"
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1
calib=(--calib "$images" --preprocess keras)
stats="$tmp/m.stats"

# --- usage (2) and output (5) errors, before any work; nothing written
expect 2 "--calib is required" -- calibrate "$model" -o "$stats"
expect 2 "unknown target 'int9' \(valid: int8, prom, w4a8, hybrid, sparse, profile\)" -- calibrate "$model" "${calib[@]}" -o "$stats" --for int8,int9
expect 2 "recipe 'fp16' needs no calibration images" -- calibrate "$model" "${calib[@]}" -o "$stats" --for fp16
expect 2 "'hybrid' is listed twice" -- calibrate "$model" "${calib[@]}" -o "$stats" --for hybrid,hybrid
expect 2 "--preprocess is required" -- calibrate "$model" --calib "$images" -o "$stats"
expect 2 "--json and -o - both write to stdout" -- calibrate "$model" "${calib[@]}" -o - --json
expect 2 "--stats needs --calib DIR" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --preprocess keras --stats "$stats"
expect 2 "cannot both be standard input" -- compress - -o "$tmp/x.mcz" --recipe int8 "${calib[@]}" --stats -
expect 5 "does not exist" -- calibrate "$model" "${calib[@]}" -o "$tmp/no/such/dir/m.stats"
expect 3 "no-such.onnx: no such file" -- calibrate "$tmp/no-such.onnx" "${calib[@]}" -o "$stats"
mkdir -p "$tmp/empty"
expect 3 "no images" -- calibrate "$model" --calib "$tmp/empty" --preprocess keras -o "$stats"
check "a failed calibrate writes nothing" test ! -e "$stats"
expect 0 "Examples:.*" -- calibrate --help
expect 0 "--stats" -- compress --help

# --- calibrate: one entry per model state asked for; deterministic bytes, whatever the threads
"$bin" calibrate "$model" "${calib[@]}" -o "$stats" --json >"$tmp/c.json" 2>"$tmp/c.err"
check "calibrate --json lists the entries" grep -q '"entries": \[' "$tmp/c.json"
check "calibrate --json: three entries (float, int8 activations, profile)" test "$(grep -c '"for":' "$tmp/c.json")" -eq 3
check "calibrate --json: the model's hash" grep -Eq '"model_sha256": "[0-9a-f]{64}"' "$tmp/c.json"
check "calibrate warns that the folder has fewer images than asked" grep -q "fewer than the 256 asked for" "$tmp/c.err"
"$bin" calibrate "$model" "${calib[@]}" -o - --threads 1 --quiet >"$tmp/again.stats"
check "calibrate writes the same bytes again (-o -, --threads 1)" cmp -s "$stats" "$tmp/again.stats"
expect 5 "already exists" -- calibrate "$model" "${calib[@]}" -o "$stats"
expect 0 "3 statistics entries" -- calibrate "$model" "${calib[@]}" -o "$stats" --force

# --- byte-identical results with and without --stats, nothing computed with it
for recipe in int8 hybrid; do
  "$bin" compress "$model" -o "$tmp/q.mcz" --recipe "$recipe" "${calib[@]}" --quiet
  mv "$tmp/q.mcz" "$tmp/without.mcz"  # the same output name: the file records it
  "$bin" compress "$model" -o "$tmp/q.mcz" --recipe "$recipe" "${calib[@]}" --stats "$stats" --verbose 2>"$tmp/v.err"
  check "compress --recipe $recipe: the same file with --stats" cmp -s "$tmp/without.mcz" "$tmp/q.mcz"
  check "compress --recipe $recipe --stats computes no statistics" test "$(grep -c 'calibration statistics on' "$tmp/v.err")" -eq 0
  check "compress --recipe $recipe --stats reads both of its entries" test "$(grep -c 'calibration statistics reused' "$tmp/v.err")" -eq 2
  rm -f "$tmp/q.mcz"
done
"$bin" compress "$model" -o "$tmp/q.mcz" --recipe hybrid "${calib[@]}" --stats - --quiet <"$stats"
check "compress --stats - reads standard input" cmp -s "$tmp/without.mcz" "$tmp/q.mcz"
rm -f "$tmp/q.mcz"
expect 0 "--stats\) ignored: recipe 'fp16' needs no calibration images" -- compress "$model" -o "$tmp/f.mcz" --recipe fp16 "${calib[@]}" --stats "$stats"
prof=(--e2e-images 2)
"$bin" profile "$model" "${calib[@]}" "${prof[@]}" -o "$tmp/p1.json" --quiet >/dev/null
"$bin" profile "$model" "${calib[@]}" "${prof[@]}" -o "$tmp/p2.json" --quiet --stats "$stats" >/dev/null
check "profile: the same output with --stats" cmp -s "$tmp/p1.json" "$tmp/p2.json"
sw=(--eval-images "$images" --preprocess keras --calib "$images" --calib-count 6 --eval-limit 2 --recipes int8,hybrid --budgets hybrid:ternary-fraction=0.3)
"$bin" calibrate "$model" "${calib[@]}" --calib-count 6 --for int8,hybrid -o "$tmp/six.stats" --quiet
"$bin" sweep "$model" "${sw[@]}" -o "$tmp/s1.csv" --quiet
"$bin" sweep "$model" "${sw[@]}" -o "$tmp/s2.csv" --stats "$tmp/six.stats" 2>"$tmp/s2.err" >/dev/null
check "sweep: the same table with --stats" cmp -s "$tmp/s1.csv" "$tmp/s2.csv"
check "sweep --stats computes no statistics" grep -q "computed 0 time(s)" "$tmp/s2.err"

# --- refused (3), naming the file and what differs; no output left behind
run=(compress "$model" -o "$tmp/r.mcz" --recipe int8 --quiet)  # --quiet: the error is the only line
expect 3 "m.stats: calibration statistics of another model" -- compress tests/data/models/family_mobilenet_v3.onnx -o "$tmp/r.mcz" --recipe int8 "${calib[@]}" --stats "$stats" --quiet
expect 3 "m.stats: calibration statistics for other settings: --seed 0, this run --seed 1" -- "${run[@]}" "${calib[@]}" --seed 1 --stats "$stats"
expect 3 "m.stats: calibration statistics for other settings: --calib-count 256 \(a sample of 12 images\), this run --calib-count 8" -- \
  "${run[@]}" "${calib[@]}" --calib-count 8 --stats "$stats"
expect 3 "m.stats: calibration statistics for other settings: images as 'keras, .*', this run 'torch, " -- \
  "${run[@]}" --calib "$images" --preprocess torch --stats "$stats"
expect 3 "m.stats: calibration statistics for other settings: 6 of the 12 images held out of fitting, this run 3 \(--held-out\)" -- \
  "${run[@]}" "${calib[@]}" --held-out 3 --stats "$stats"
mkdir -p "$tmp/other"
cp "$images"/* "$tmp/other/"
cp "$images"/n01440764_tench.JPEG "$tmp/other/n03933933_pier.JPEG"
expect 3 "m.stats: calibration statistics of other images: 1 of the 12 sample images differs by content \(first: image [0-9]+, .*n03933933_pier.JPEG\)" -- \
  "${run[@]}" --calib "$tmp/other" --preprocess keras --stats "$stats"
expect 3 "six.stats: calibration statistics for other settings: --calib-count 6" -- profile "$model" "${calib[@]}" --stats "$tmp/six.stats" --quiet
expect 3 "m.stats: calibration statistics for other settings: --calib-count 256" -- sweep "$model" "${sw[@]}" --stats "$stats" --quiet
head -c 100000 "$stats" >"$tmp/cut.stats"
expect 3 "cut.stats: truncated \(100000 bytes, the header says [0-9]+\)" -- "${run[@]}" "${calib[@]}" --stats "$tmp/cut.stats"
head -c 20 "$stats" >"$tmp/stub.stats"
expect 3 "stub.stats: truncated calibration statistics file" -- profile "$model" "${calib[@]}" --stats "$tmp/stub.stats" --quiet
# One bit of one byte in the middle of the first entry flipped.
cp "$stats" "$tmp/flip.stats"
byte=$(od -An -tu1 -j 5000 -N 1 "$tmp/flip.stats" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$tmp/flip.stats" bs=1 seek=5000 conv=notrunc status=none
expect 3 "flip.stats: checksum mismatch \(the file is corrupt\)" -- "${run[@]}" "${calib[@]}" --stats "$tmp/flip.stats"
expect 3 "without.mcz: not a calibration statistics file" -- "${run[@]}" "${calib[@]}" --stats "$tmp/without.mcz"
expect 3 "nowhere.stats: no such file" -- "${run[@]}" "${calib[@]}" --stats "$tmp/nowhere.stats"
check "a refused --stats leaves no output" test ! -e "$tmp/r.mcz"

finish
