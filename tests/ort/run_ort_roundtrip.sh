#!/usr/bin/env bash
# ONNX Runtime confirms the import -> export round trip: every shared model exported by mcompress
# gives ORT outputs byte-identical to ../shared/reference (ORT 1.30, 1 thread, same inputs).
# And compressed inference agrees: the bundled MobileNet compressed with every recipe, the top-1 its
# file stores, `mcompress eval` of the .mcz, and ORT (default optimizations: QLinearConv kernels) on
# its default export and (int8) its `export --qdq`, on the bundled images: the integer layers compute
# the same integers, so the outputs differ only by float rounding in the float tail (pooling,
# classifier, softmax), far below one activation step.
# Usage: run_ort_roundtrip.sh PATH/TO/mcompress   (needs node + npm: scripts/setup.sh --with-ort)
set -u
bin="${1:?usage: run_ort_roundtrip.sh MCOMPRESS_BINARY}"
. "$(dirname "$0")/../harness.sh" || exit 1
need_shared reference
need_node
for m in mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0; do
  case "$m" in mobilenet_v1*) input=input_keras.npy ;; *) input=input_torch.npy ;; esac
  if "$bin" export "$shared/models/$m.onnx" -o "$tmp/$m.onnx" --quiet &&
     "$shared/tools/ort-eval/run" ort-npy "$tmp/$m.onnx" "$shared/reference/$input" "$tmp/$m.out.npy" --threads 1 >/dev/null &&
     cmp -s "$tmp/$m.out.npy" "$shared/reference/$m.output.npy"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $m: exported model's ORT output differs from the reference (or export/ORT failed)"
  fi
done

. "$(dirname "$0")/../../scripts/lib.sh" || { echo "FAIL: scripts/lib.sh could not be read"; exit 1; }
# Every recipe on the bundled model: the top-1 the file stores (measured on the written file), `eval`
# of the file, and ONNX Runtime (default optimizations, as users run it) on the default export, on
# the same preprocessed inputs, must all be equal; ORT's outputs must match eval's up to float
# rounding in the float tail. And for int8 the --qdq form as well.
export NODE_PATH="${MCOMPRESS_ORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcompress-ort-eval}/node_modules"
"$shared/tools/ort-eval/run" ort-npy --help >/dev/null 2>&1  # installs onnxruntime-node on first use
for recipe in lossless fp16 int8 prom hybrid sparse; do
  f="$tmp/$recipe.mcz"
  if "$bin" compress examples/mobilenet_v1_0.25_224.onnx -o "$f" --recipe "$recipe" --calib examples/images --preprocess keras \
       --eval-images examples/images --quiet &&
     "$bin" eval "$f" --images examples/images --quiet --json --save-inputs "$tmp/in.npy" --save-scores "$tmp/ours.npy" --force \
       >"$tmp/eval.json" &&
     "$bin" info "$f" --json >"$tmp/info.json" &&
     "$bin" export "$f" -o "$tmp/$recipe.onnx" --quiet &&
     node scripts/ort_outputs.js "$tmp/$recipe.onnx" "$tmp/in.npy" "$tmp/ort.npy" --optimization all --threads 1 &&
     node scripts/npy_topk.js "$tmp/ort.npy" examples/images/labels.tsv >"$tmp/ort.json"; then
    stored="$(json_path metadata.report.accuracy.top1_after <"$tmp/info.json")"
    evaluated="$(json_field top1 <"$tmp/eval.json")"
    ort_top1="$(json_field top1 <"$tmp/ort.json")"
    diff="$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort.npy")"
    if awk -v a="$stored" -v b="$evaluated" -v c="$ort_top1" -v d="${diff%% *}" -v m="${diff##* }" \
         'BEGIN { exit !(a != "" && d != "" && a == b && b == c && d <= 1e-4 * (m > 1 ? m : 1)) }'; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAIL: $recipe: stored top-1 $stored, eval $evaluated, ORT on the default export $ort_top1, outputs differ by $diff"
    fi
  else
    failed=$((failed + 1))
    echo "FAIL: $recipe: compress, eval, info, export or ORT failed"
  fi
done
if "$bin" export "$tmp/int8.mcz" -o "$tmp/int8_qdq.onnx" --qdq --quiet &&
   "$bin" eval "$tmp/int8.mcz" --images examples/images --quiet --save-inputs "$tmp/in.npy" --save-scores "$tmp/ours.npy" --force \
     >/dev/null &&
   "$shared/tools/ort-eval/run" ort-npy "$tmp/int8_qdq.onnx" "$tmp/in.npy" "$tmp/ort.npy" --threads 1 >/dev/null; then
  diff="$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort.npy")"
  if awk -v d="${diff%% *}" 'BEGIN { exit !(d != "" && d < 1e-4) }'; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: int8 .mcz: mcompress eval and ORT on the --qdq export differ by $diff (max |diff| / max |output|)"
  fi
else
  failed=$((failed + 1))
  echo "FAIL: int8 .mcz: eval, export --qdq or ORT failed"
fi
finish
