#!/usr/bin/env bash
# ONNX Runtime loads the pair `export --external-data` writes (OUT.onnx + OUT.onnx.data) and computes
# outputs byte-identical to the single-file export: for the bundled float model and for its int8
# .mcz in the default (QDQ / ConvInteger) and --qdq forms; every shared model's pair gives the reference outputs.
# Usage: run_ort_external_data.sh PATH/TO/mcompress   (needs node + npm: scripts/setup.sh --with-ort)
set -u
bin="${1:?usage: run_ort_external_data.sh MCOMPRESS_BINARY}"
. "$(dirname "$0")/../harness.sh" || exit 1
need_shared tools/ort-eval/run
need_node
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
ort() { "$shared/tools/ort-eval/run" ort-npy "$@" --threads 1 >/dev/null; }

"$bin" eval "$model" --images "$images" --preprocess keras --quiet --save-inputs "$tmp/in.npy" >/dev/null ||
  { echo "FAIL: eval --save-inputs"; exit 1; }
"$bin" compress "$model" -o "$tmp/q.mcz" --recipe int8 --calib "$images" --preprocess keras --quiet ||
  { echo "FAIL: compress"; exit 1; }
for c in "float:$model:" "int8:$tmp/q.mcz:" "int8_qdq:$tmp/q.mcz:--qdq"; do
  IFS=: read -r name src flag <<<"$c"
  mkdir -p "$tmp/$name"
  # shellcheck disable=SC2086
  if "$bin" export "$src" -o "$tmp/$name/single.onnx" --quiet $flag &&
     "$bin" export "$src" -o "$tmp/$name/pair.onnx" --external-data --quiet $flag &&
     ort "$tmp/$name/single.onnx" "$tmp/in.npy" "$tmp/$name/single.npy" &&
     ort "$tmp/$name/pair.onnx" "$tmp/in.npy" "$tmp/$name/pair.npy" &&
     cmp -s "$tmp/$name/single.npy" "$tmp/$name/pair.npy" &&
     [ "$(stat -c %s "$tmp/$name/pair.onnx")" -lt "$(stat -c %s "$tmp/$name/single.onnx")" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name: ORT on the --external-data pair differs from the single file (or export / ORT failed)"
  fi
done
# Every shared model as a pair: ORT's outputs byte-identical to ../shared/reference (as ort_roundtrip
# checks for the single-file export).
if [ -d "$shared/reference" ]; then
  for m in mobilenet_v1_0.25_224 mobilenet_v1_0.5_224_quant_dequant mobilenet_v1_0.75_224 mobilenet_v2_1_0 shufflenet_v2_x1_0; do
    case "$m" in mobilenet_v1*) input=input_keras.npy ;; *) input=input_torch.npy ;; esac
    if "$bin" export "$shared/models/$m.onnx" -o "$tmp/$m.onnx" --external-data --quiet &&
       ort "$tmp/$m.onnx" "$shared/reference/$input" "$tmp/$m.out.npy" &&
       cmp -s "$tmp/$m.out.npy" "$shared/reference/$m.output.npy"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAIL: $m: ORT on the --external-data pair differs from the reference (or export / ORT failed)"
    fi
  done
fi
# The pair still loads when both files move together to another folder (the location is relative).
mkdir -p "$tmp/moved"
mv "$tmp/float/pair.onnx" "$tmp/float/pair.onnx.data" "$tmp/moved/"
if ort "$tmp/moved/pair.onnx" "$tmp/in.npy" "$tmp/moved.npy" && cmp -s "$tmp/moved.npy" "$tmp/float/single.npy"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: the moved pair does not load in ORT or gives other outputs"
fi
finish
