#!/usr/bin/env bash
# ONNX Runtime confirms the import -> export round trip: every shared model exported by mcompress
# gives ORT outputs byte-identical to ../shared/reference (ORT 1.30, 1 thread, same inputs).
# And int8 inference agrees: the bundled MobileNet compressed with the int8 recipe, `mcompress eval`
# of the .mcz against ORT (default optimizations: QLinearConv kernels) on its `export --qdq`, on the
# bundled images: the integer layers compute the same integers, so the outputs differ only by float
# rounding in the float tail (pooling, classifier, softmax), far below one activation step.
# Usage: run_ort_roundtrip.sh PATH/TO/mcompress   (needs node + npm: scripts/setup.sh --with-ort)
set -u
bin="${1:?usage: run_ort_roundtrip.sh MCOMPRESS_BINARY}"
# MCOMPRESS_SHARED_DIR overrides ../shared as in tests/test_util.h. A missing folder skips, except under
# MCOMPRESS_REQUIRE_SHARED=1 (scripts/test.sh), where it fails.
shared="${MCOMPRESS_SHARED_DIR:-$(pwd)/../shared}"
if [ ! -d "$shared/reference" ]; then
  if [ "${MCOMPRESS_REQUIRE_SHARED:-}" = 1 ]; then echo "FAIL: $shared/reference not found (MCOMPRESS_REQUIRE_SHARED=1)"; exit 1; fi
  echo "$shared/reference not found: skipped (MCOMPRESS_REQUIRE_SHARED=1 makes this a failure)"; echo "0 passed, 0 failed"; exit 0
fi
command -v node >/dev/null || { echo "node is required (scripts/setup.sh --with-ort)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
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

. "$(dirname "$0")/../../scripts/lib.sh"
if "$bin" compress examples/mobilenet_v1_0.25_224.onnx -o "$tmp/int8.mcz" --recipe int8 --calib examples/images \
     --preprocess keras --quiet &&
   "$bin" eval "$tmp/int8.mcz" --images examples/images --quiet --save-inputs "$tmp/in.npy" --save-scores "$tmp/ours.npy" \
     >/dev/null &&
   "$bin" export "$tmp/int8.mcz" -o "$tmp/int8_qdq.onnx" --qdq --quiet &&
   "$shared/tools/ort-eval/run" ort-npy "$tmp/int8_qdq.onnx" "$tmp/in.npy" "$tmp/ort.npy" --threads 1 >/dev/null; then
  diff="$(npy_max_abs_diff "$tmp/ours.npy" "$tmp/ort.npy")"
  if awk -v d="${diff%% *}" 'BEGIN { exit !(d < 1e-4) }'; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: int8 .mcz: mcompress eval and ORT on the --qdq export differ by $diff (max |diff| / max |output|)"
  fi
else
  failed=$((failed + 1))
  echo "FAIL: int8 .mcz: compress, eval, export --qdq or ORT failed"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
