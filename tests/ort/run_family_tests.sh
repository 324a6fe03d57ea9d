#!/usr/bin/env bash
# The architecture families through the CLI, checked with ONNX Runtime. For each tiny random-weight
# classifier tests/data/models/family_*.onnx (MobileNetV3, EfficientNet, ResNet, SqueezeNet,
# ShuffleNetV1, GhostNet; built by tests/model_builder.cpp, kept current by test_families):
#   info, eval on a folder of float32 .npy tensors (no --preprocess), profile (its layers are the
#   model's Conv / Gemm layers);
#   ONNX Runtime on the model itself against eval's scores;
#   every recipe (lossless fp16 int8 prom hybrid sparse w4a8) with calibration on the .npy folder, eval of
#   the .mcz (its top-1 the one the file stores; its scores near the float model's), and ONNX Runtime (default optimizations, 1 thread) on its default export and on its
#   `export --qdq`, each against eval's scores: max |diff| <= 1e-4 * max(1, max |output|).
# A lossless file evaluates bit-identically to the model. Prints the measured differences.
# Usage: run_family_tests.sh PATH/TO/mcompress   (needs node + npm: scripts/setup.sh --with-ort)
set -u
bin="${1:?usage: run_family_tests.sh MCOMPRESS_BINARY}"
. "$(dirname "$0")/../harness.sh" || exit 1
need_shared tools/ort-eval/run
need_node
runner="$shared/tools/ort-eval/run"
. "$(dirname "$0")/../../scripts/lib.sh" || { echo "FAIL: scripts/lib.sh not found"; exit 1; }
export NODE_PATH="${MCOMPRESS_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcompress-ort-eval}/node_modules"
"$runner" ort-npy --help >/dev/null 2>&1  # installs onnxruntime-node on first use
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# run WHAT ARGS...: runs mcompress, a failure (with its stderr) when it exits non-zero.
run() {
  local what="$1"
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local code=$?
  if [ "$code" -eq 0 ]; then ok; return 0; fi
  bad "$what: mcompress $* -> exit $code"
  sed 's/^/  stderr: /' "$tmp/err" | head -5
  return 1
}

# ort_agrees WHAT MODEL.onnx SCORES.npy: ONNX Runtime on MODEL with eval's inputs gives SCORES up
# to 1e-4 of the output range; prints the measured "DIFF / RANGE".
ort_agrees() {
  local what="$1" model="$2" scores="$3"
  if ! node scripts/ort_outputs.js "$model" "$tmp/in.npy" "$tmp/ort.npy" --optimization all --threads 1 2>"$tmp/ort_err"; then
    bad "$what: ONNX Runtime failed: $(head -c 300 "$tmp/ort_err")"
    return 1
  fi
  local diff
  if ! diff="$(npy_max_abs_diff "$scores" "$tmp/ort.npy")" || [ -z "$diff" ]; then bad "$what: cannot compare the outputs"; return 1; fi
  printf '  %-34s %s\n' "$what" "$diff"
  if awk -v d="${diff%% *}" -v m="${diff##* }" 'BEGIN { exit !(d <= 1e-4 * (m > 1 ? m : 1)) }'; then ok; else bad "$what: ONNX Runtime differs from eval by $diff"; fi
}

# Sixteen deterministic preprocessed inputs, float32 [3,16,16] in [-2, 2), labelled i mod 10. The
# recipes calibrate on them (half fitting, half held out for budgets: with fewer, GPTQ and bias
# correction of the classifier fit a handful of samples and eval's error grows tenfold).
mkdir -p "$tmp/npy"
node -e "
  const fs = require('fs');
  const { npyBytes } = require(process.argv[1]);
  let state = 31337;
  for (let i = 0; i < 16; i++) {
    const v = new Float32Array(3 * 16 * 16);
    for (let j = 0; j < v.length; j++) { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; v[j] = 4 * ((state >>> 8) / 16777216 - 0.5); }
    fs.writeFileSync(process.argv[2] + '/t' + i + '.npy', npyBytes([3, 16, 16], v));
    fs.appendFileSync(process.argv[2] + '/labels.tsv', 't' + i + '.npy\t' + (i % 10) + '\n');
  }" "$(pwd)/scripts/npy.js" "$tmp/npy"

models=(tests/data/models/family_*.onnx)
[ "${#models[@]}" -eq 6 ] && [ -f "${models[0]}" ] || bad "expected 6 family models in tests/data/models, found ${#models[@]}"
for model in "${models[@]}"; do
  family="$(basename "$model" .onnx)"
  family="${family#family_}"
  start=$SECONDS
  echo "$family:"
  run "$family info" info "$model" --json && cp "$tmp/out" "$tmp/info.json"
  if run "$family eval" eval "$model" --images "$tmp/npy" --quiet --json --save-inputs "$tmp/in.npy" --save-scores "$tmp/float.npy" --force; then
    ort_agrees "$family float" "$model" "$tmp/float.npy"
  fi
  # profile measures every Conv / Gemm info lists, the SE blocks' 1x1 convs and the classifier included.
  if run "$family profile" profile "$model" --calib "$tmp/npy" --calib-count 16 --e2e-images 4 --quiet -o "$tmp/profile.json" --force; then
    if node -e "
      const fs = require('fs');
      const names = f => JSON.parse(fs.readFileSync(f, 'utf8')).layers.filter(l => !l.op || ['Conv', 'Gemm', 'MatMul'].includes(l.op)).map(l => l.name).join(' ');
      const a = names(process.argv[1]), b = names(process.argv[2]);
      if (a !== b || !a) { console.error('info: ' + a + '\nprofile: ' + b); process.exit(1); }" "$tmp/info.json" "$tmp/profile.json" 2>"$tmp/cmp_err"
    then ok; else bad "$family profile: its layers are not the model's weighted layers: $(cat "$tmp/cmp_err")"; fi
  fi
  for recipe in lossless fp16 int8 prom hybrid sparse w4a8; do
    f="$tmp/$family.$recipe.mcz"
    run "$family $recipe compress" compress "$model" -o "$f" --recipe "$recipe" --calib "$tmp/npy" --calib-count 16 \
      --eval-images "$tmp/npy" --quiet --threads 2 || continue
    run "$family $recipe info" info "$f" --json || continue
    cp "$tmp/out" "$tmp/info.json"
    run "$family $recipe eval" eval "$f" --images "$tmp/npy" --quiet --json --save-scores "$tmp/ours.npy" --force || continue
    # The top-1 compress stored (measured on the written file) is eval's.
    stored="$(json_path metadata.report.accuracy.top1_after <"$tmp/info.json")"
    evaluated="$(json_field top1 <"$tmp/out")"
    if [ -n "$stored" ] && [ "$stored" = "$evaluated" ]; then ok; else bad "$family $recipe: stored top-1 $stored, eval $evaluated"; fi
    # Close to the float model: lossless bit for bit, fp16 within 1% of the output range, the
    # quantizing recipes within half of it (a sanity bound: on these random networks int8 errs by
    # 1-4%, one-term ternary prom and sparse, whose budget is top-1 points on 8 held-out images, by
    # up to 40%).
    if [ "$recipe" = lossless ]; then
      if cmp -s "$tmp/ours.npy" "$tmp/float.npy"; then ok; else bad "$family lossless: eval of the .mcz differs from the model's"; fi
    else
      case "$recipe" in fp16) bound=0.01 ;; *) bound=0.5 ;; esac
      if vs_float="$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/float.npy")" &&
         awk -v d="${vs_float%% *}" -v m="${vs_float##* }" -v b="$bound" 'BEGIN { exit !(d <= b * m) }'; then ok
      else bad "$family $recipe: eval of the .mcz differs from the float model by $vs_float (bound $bound of the range)"; fi
    fi
    run "$family $recipe export" export "$f" -o "$tmp/default.onnx" --quiet --force &&
      ort_agrees "$family $recipe export" "$tmp/default.onnx" "$tmp/ours.npy"
    run "$family $recipe export --qdq" export "$f" -o "$tmp/qdq.onnx" --qdq --quiet --force &&
      ort_agrees "$family $recipe export --qdq" "$tmp/qdq.onnx" "$tmp/ours.npy"
  done
  echo "  ($((SECONDS - start)) s)"
done
finish
