#!/usr/bin/env bash
# ONNX external data through the CLI (issue 16, item 4): `export --external-data` writes the pair,
# mcompress reads the pair back as the single file (info, eval, compress give the same), and every bad
# side file is a one-line input error (exit 3) naming the tensor and the path; no partial outputs.
# Usage: run_external_data_tests.sh PATH/TO/mcompress   (from the repository root, as ctest runs it)
set -u
bin="${1:?usage: run_external_data_tests.sh MCOMPRESS_BINARY}"
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1


# same-length binary replacement of the first occurrence of FROM by TO in FILE (protobuf lengths stay valid)
replace() { FROM="$2" TO="$3" perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$1"; }

# --- writing the pair
mkdir -p "$tmp/pair"
expect 0 "wrote .*/pair/m.onnx \([0-9,]+ bytes\) and .*/pair/m.onnx.data \(1,[0-9,]+ bytes: [0-9]+ initializers of 1,024 bytes or more\)" -- \
  export "$model" -o "$tmp/pair/m.onnx" --external-data
check "the model file is small" test "$(stat -c %s "$tmp/pair/m.onnx")" -lt 100000
check "the side file holds the weights" test "$(stat -c %s "$tmp/pair/m.onnx.data")" -gt 1800000
check "the model names its side file by file name" grep -q "m.onnx.data" "$tmp/pair/m.onnx"
check "no temporary file is left" test "$(find "$tmp/pair" -type f | wc -l)" -eq 2
touch "$tmp/pair/m2.onnx.data"
expect 5 "m2.onnx.data: already exists" -- export "$model" -o "$tmp/pair/m2.onnx" --external-data --quiet
check "a side file in the way stops the export before the model is written" test ! -e "$tmp/pair/m2.onnx"
expect 5 "already exists" -- export "$model" -o "$tmp/pair/m.onnx" --external-data
expect 0 "" -- export "$model" -o "$tmp/pair/m.onnx" --external-data --force --quiet
expect 2 "--external-data writes a side file .*not '-'" -- export "$model" -o - --external-data
expect 5 "does not exist" -- export "$model" -o "$tmp/no/such/dir/x.onnx" --external-data
check "a failed export leaves no file" test ! -e "$tmp/no"
expect 4 "LSTM" -- export tests/data/bad/unsupported_op.onnx -o "$tmp/bad.onnx" --external-data
check "a failed export leaves neither file" test ! -e "$tmp/bad.onnx" -a ! -e "$tmp/bad.onnx.data"
rm -f "$tmp/pair/m2.onnx.data"

# --- reading it back: the same model as the single file
"$bin" export "$model" -o "$tmp/single.onnx" --quiet
expect 0 "" -- export "$tmp/pair/m.onnx" -o "$tmp/back.onnx" --quiet
check "pair -> single export is byte-identical to the single-file export" cmp -s "$tmp/single.onnx" "$tmp/back.onnx"
expect 0 "external data: .*pair/m.onnx.data \(1,[0-9,]+ bytes\)" -- info "$tmp/pair/m.onnx"
"$bin" info "$model" --json | jq -S 'del(.file, .bytes)' >"$tmp/info_single.json"
"$bin" info "$tmp/pair/m.onnx" --json | jq -S 'del(.file, .bytes, .external_data)' >"$tmp/info_pair.json"
check "info --json: same params, MACs and layers" cmp -s "$tmp/info_single.json" "$tmp/info_pair.json"
check "info --json lists the side file" bash -c "'$bin' info '$tmp/pair/m.onnx' --json | jq -e '.external_data.files[0].path | endswith(\"m.onnx.data\")' >/dev/null"
check "a bare file name resolves in the current folder" bash -c "cd '$tmp/pair' && '$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")' info m.onnx >/dev/null"
for m in "$model" "$tmp/pair/m.onnx"; do
  n="$(basename "$m" .onnx)"
  "$bin" eval "$m" --images "$images" --preprocess keras --json --quiet --save-scores "$tmp/$n.scores.npy" >"$tmp/$n.eval.json"
  "$bin" compress "$m" -o "$tmp/$n.mcz" --recipe int8 --calib "$images" --preprocess keras --quiet
  "$bin" export "$tmp/$n.mcz" -o "$tmp/$n.mcz.onnx" --quiet
  "$bin" info "$tmp/$n.mcz" --json | jq -S '[.params, .macs, .tensors]' >"$tmp/$n.mcz.json"
done
check "eval: same top-1 / top-5 on the pair" test "$(jq -c '[.top1, .top5, .images]' "$tmp/m.eval.json")" = \
  "$(jq -c '[.top1, .top5, .images]' "$tmp/mobilenet_v1_0.25_224.eval.json")"
check "eval: identical scores on the pair" cmp -s "$tmp/m.scores.npy" "$tmp/mobilenet_v1_0.25_224.scores.npy"
check "compress: the same tensors from the pair" cmp -s "$tmp/m.mcz.json" "$tmp/mobilenet_v1_0.25_224.mcz.json"
check "compress: the same exported model from the pair" cmp -s "$tmp/m.mcz.onnx" "$tmp/mobilenet_v1_0.25_224.mcz.onnx"
for m in "$model" "$tmp/pair/m.onnx"; do
  "$bin" profile "$m" --calib "$images" --preprocess keras --calib-count 4 --e2e-images 2 -o "$tmp/$(basename "$m" .onnx).profile.json" --quiet >/dev/null
done
check "profile: the same sensitivities from the pair" cmp -s <(jq -S 'del(.model)' "$tmp/m.profile.json") \
  <(jq -S 'del(.model)' "$tmp/mobilenet_v1_0.25_224.profile.json")
pair_bytes=$(($(stat -c %s "$tmp/pair/m.onnx") + $(stat -c %s "$tmp/pair/m.onnx.data")))
"$bin" compress "$tmp/pair/m.onnx" -o "$tmp/l.mcz" --recipe lossless --preprocess keras --json --quiet >"$tmp/l.json"
check "compress --json: the source's bytes count its side file" test "$(jq .source_bytes "$tmp/l.json")" = "$pair_bytes"
check "info of the .mcz: the same source bytes" test "$("$bin" info "$tmp/l.mcz" --json | jq .source_bytes)" = "$pair_bytes"
check "info --json external_data.bytes is the side file's size" \
  test "$("$bin" info "$tmp/pair/m.onnx" --json | jq .external_data.bytes)" = "$(stat -c %s "$tmp/pair/m.onnx.data")"
# A compressed model's int8 export as a pair reads back too.
expect 0 "and .*q.onnx.data" -- export "$tmp/m.mcz" -o "$tmp/pair/q.onnx" --external-data --qdq
expect 0 "" -- export "$tmp/pair/q.onnx" -o "$tmp/q_single.onnx" --quiet
"$bin" export "$tmp/m.mcz" -o "$tmp/q_direct.onnx" --qdq --quiet
check "a QDQ pair reads back as its single file" cmp -s "$tmp/q_single.onnx" "$tmp/q_direct.onnx"

# --- bad side files: one line, exit 3, the tensor and the path named
fresh() {  # fresh DIR: a copy of the pair in DIR
  rm -rf "$1"
  mkdir -p "$1"
  cp "$tmp/pair/m.onnx" "$tmp/pair/m.onnx.data" "$1/"
}
tensor="tensor '[^']+'"
expect 3 "^mcompress: error: <stdin>: $tensor: its data is in external file 'm.onnx.data', which cannot be located for a model read from standard input" \
  "$tmp/pair/m.onnx" -- info -
expect 3 "<stdin>: $tensor: its data is in external file" "$tmp/pair/m.onnx" -- export - -o "$tmp/x.onnx"
check "nothing written from stdin" test ! -e "$tmp/x.onnx"

fresh "$tmp/b1"
rm "$tmp/b1/m.onnx.data"
expect 3 "b1/m.onnx: $tensor: external data file '.*b1/m.onnx.data' not found" -- info "$tmp/b1/m.onnx"
expect 3 "not found" -- eval "$tmp/b1/m.onnx" --images "$images" --preprocess keras
expect 3 "not found" -- compress "$tmp/b1/m.onnx" -o "$tmp/b1/x.mcz" --recipe lossless --preprocess keras
check "a failed compress leaves no file" test ! -e "$tmp/b1/x.mcz"

fresh "$tmp/b2"
truncate -s 1000000 "$tmp/b2/m.onnx.data"
expect 3 "b2/m.onnx: $tensor: external data at offset [0-9]+, [0-9]+ bytes, passes the end of '.*b2/m.onnx.data' \(1000000 bytes\)" -- \
  info "$tmp/b2/m.onnx"

fresh "$tmp/b3"
replace "$tmp/b3/m.onnx" "m.onnx.data" "../m.o.data"
expect 3 "b3/m.onnx: $tensor: external data location '../m.o.data' leaves the model's folder '.*b3'" -- info "$tmp/b3/m.onnx"

fresh "$tmp/b4"
replace "$tmp/b4/m.onnx" "m.onnx.data" "/etc/passwd"
expect 3 "b4/m.onnx: $tensor: external data location '/etc/passwd' is an absolute path" -- info "$tmp/b4/m.onnx"

fresh "$tmp/b5"
mkdir -p "$tmp/elsewhere"
mv "$tmp/b5/m.onnx.data" "$tmp/elsewhere/"
ln -s "$tmp/elsewhere/m.onnx.data" "$tmp/b5/m.onnx.data"
expect 3 "b5/m.onnx: $tensor: external data file '.*b5/m.onnx.data' resolves to '.*elsewhere/m.onnx.data', outside the model's folder" -- \
  info "$tmp/b5/m.onnx"

fresh "$tmp/b6"
perl -0pi -e 's/(length\x12\x04\d\d\d)(\d)/$1.(($2+1)%10)/e' "$tmp/b6/m.onnx"
expect 3 "b6/m.onnx: $tensor: external data length [0-9]+ in '.*b6/m.onnx.data' does not match the tensor's size \([0-9]+ bytes\)" -- \
  info "$tmp/b6/m.onnx"

fresh "$tmp/b7"
replace "$tmp/b7/m.onnx" "m.onnx.data" "m.onnx.dat/"
mkdir "$tmp/b7/m.onnx.dat"
expect 3 "is not a regular file|not found" -- info "$tmp/b7/m.onnx"

finish
