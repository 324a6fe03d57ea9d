#!/usr/bin/env bash
# CLI contract tests: exit codes and one-line error messages of ../shared/docs/CLI.md, stdin/stdout
# handling, and that failures leave no output behind. Usage: run_cli_tests.sh PATH/TO/mcompress
# Runs from the repository root (ctest sets the working directory).
set -u
bin="${1:?usage: run_cli_tests.sh MCOMPRESS_BINARY}"
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1

# --- usage errors (2)
expect 2 "" -- 
expect 2 "frobnicate" -- frobnicate
expect 2 "--bogus" -- info "$model" --bogus
expect 2 "threads" -- info "$model" --threads 0
expect 2 "threads" -- eval "$model" --images "$images" --preprocess keras --threads -3
expect 2 "threads" -- eval "$model" --images "$images" --preprocess keras --threads many
expect 2 "limit" -- eval "$model" --images "$images" --preprocess keras --limit 0
expect 2 "unknown preprocessing .tf." -- eval "$model" --images "$images" --preprocess tf
expect 2 "--preprocess is required" -- eval "$model" --images "$images"
expect 2 "images" -- eval "$model"
expect 2 "crop" -- eval "$model" --images "$images" --preprocess keras --crop 300 --resize 256
expect 0 "Usage" -- --help
expect 0 "Usage" -- info --help
expect 0 "keras" -- eval --help
expect 0 "mcompress [0-9]" -- --version

# --- invalid input (3)
expect 3 "no-such.onnx: no such file" -- info "$tmp/no-such.onnx"
expect 3 "is a directory" -- info "$tmp"
expect 3 "empty.onnx: empty file" -- info tests/data/bad/empty.onnx
expect 3 "truncated or corrupt" -- info tests/data/bad/truncated.onnx
expect 3 "not an ONNX model" -- info tests/data/bad/not_a_model.onnx
expect 3 "cycle" -- info tests/data/bad/cycle.onnx
expect 3 "'nowhere' is not produced" -- info tests/data/bad/dangling_input.onnx
expect 3 "empty file" -- info - 
head -c 100000 "$model" >"$tmp/cut.onnx"
expect 3 "cut.onnx" -- info "$tmp/cut.onnx"

# --- unsupported (4)
expect 4 "unsupported op 'LSTM' in node 'relu' \(opset 13\)" -- info tests/data/bad/unsupported_op.onnx
expect 4 "opset 99" -- info tests/data/bad/opset_99.onnx
expect 4 "opset 22 is not supported \(supported: 6 to 21\)" -- info tests/data/bad/opset_22.onnx
expect 3 "op_before_its_opset.onnx: node 'relu' \(HardSwish\): the op does not exist before opset 14" -- info tests/data/bad/op_before_its_opset.onnx
expect 4 "LSTM" -- eval tests/data/bad/unsupported_op.onnx --images "$images" --preprocess keras

# --- image folders: a corrupt labelled image is an error (3), never silently skipped
mkdir -p "$tmp/imgs"
cp "$images"/n01440764_tench.JPEG "$tmp/imgs/"
printf 'not a jpeg at all' >"$tmp/imgs/broken.JPEG"
head -c 5000 "$images"/n01818515_macaw.JPEG >"$tmp/imgs/cut.JPEG"
printf 'n01440764_tench.JPEG\t0\nbroken.JPEG\t1\n' >"$tmp/imgs/labels.tsv"
expect 3 "broken.JPEG" -- eval "$model" --images "$tmp/imgs" --preprocess keras
printf 'n01440764_tench.JPEG\t0\ncut.JPEG\t1\n' >"$tmp/imgs/labels.tsv"
expect 3 "cut.JPEG" -- eval "$model" --images "$tmp/imgs" --preprocess keras
printf 'n01440764_tench.JPEG\t0\nmissing.JPEG\t1\n' >"$tmp/imgs/labels.tsv"
expect 3 "missing.JPEG" -- eval "$model" --images "$tmp/imgs" --preprocess keras
printf 'n01440764_tench.JPEG 0\n' >"$tmp/imgs/labels.tsv"
expect 3 "labels.tsv:1" -- eval "$model" --images "$tmp/imgs" --preprocess keras
printf 'n01440764_tench.JPEG\tzero\n' >"$tmp/imgs/labels.tsv"
expect 3 "labels.tsv:1" -- eval "$model" --images "$tmp/imgs" --preprocess keras
printf 'n01440764_tench.JPEG\t5000\n' >"$tmp/imgs/labels.tsv"
expect 3 "beyond the model" -- eval "$model" --images "$tmp/imgs" --preprocess keras
expect 3 "no such" -- eval "$model" --images "$tmp/nowhere" --preprocess keras

# --- success paths
expect 0 "top-1" -- eval "$model" --images "$images" --preprocess keras --limit 4 --threads 1
"$bin" info "$model" --json >"$tmp/info.json"
check "info --json has the contract keys" grep -q '"macs": 41030272' "$tmp/info.json"
check "info --json params" grep -q '"params": 475544' "$tmp/info.json"
"$bin" info - --json <"$model" >"$tmp/stdin.json"
check "info reads stdin" grep -q '"macs": 41030272' "$tmp/stdin.json"
"$bin" eval "$model" --images "$images" --preprocess keras --json --quiet >"$tmp/eval.json" 2>"$tmp/eval.err"
check "eval --json prints top1" grep -q '"top1":' "$tmp/eval.json"
check "eval --json prints images" grep -q '"images": 12' "$tmp/eval.json"
check "--quiet eval prints nothing on stderr" test ! -s "$tmp/eval.err"
sha_before="$(sha256sum "$model")"
"$bin" info "$model" >/dev/null
check "the input is never modified" test "$sha_before" = "$(sha256sum "$model")"

# --- export: atomic, never overwrites without --force, pipes
expect 0 "" -- export "$model" -o "$tmp/copy.onnx" --quiet
check "export writes the model" test -s "$tmp/copy.onnx"
expect 5 "already exists" -- export "$model" -o "$tmp/copy.onnx"
expect 0 "" -- export "$model" -o "$tmp/copy.onnx" --force --quiet
expect 5 "does not exist" -- export "$model" -o "$tmp/no/such/dir/out.onnx"
expect 4 "LSTM" -- export tests/data/bad/unsupported_op.onnx -o "$tmp/bad.onnx"
check "a failed export leaves no file" test ! -e "$tmp/bad.onnx"
expect 3 "truncated" -- export tests/data/bad/truncated.onnx -o "$tmp/bad.onnx"
check "a failed export leaves no file (corrupt input)" test ! -e "$tmp/bad.onnx"
check "no temporary files are left behind" test -z "$(ls -A "$tmp" | grep -v -E '^(out|err|copy.onnx|imgs|info.json|stdin.json|eval.json|eval.err|cut.onnx|empty|p.csv|p.err|p.json)$')"
"$bin" export - -o - <"$model" 2>/dev/null | "$bin" info - --json >"$tmp/pipe.json"
check "export - -o - | info - works in a pipe" grep -q '"macs": 41030272' "$tmp/pipe.json"
chmod 500 "$tmp/imgs"
if [ "$(id -u)" -ne 0 ]; then expect 5 "not writable" -- export "$model" -o "$tmp/imgs/x.onnx"; fi
chmod 700 "$tmp/imgs"

# --- profile: calibration folder problems, models it cannot profile, outputs
mkdir -p "$tmp/empty"
expect 3 "no calibration images" -- profile "$model" --calib "$tmp/empty" --preprocess keras --e2e-images 0
expect 3 "no such directory" -- profile "$model" --calib "$tmp/nowhere" --preprocess keras
expect 4 "no Conv, Gemm or MatMul" -- profile tests/data/models/relu_only.onnx --calib "$images" --preprocess keras --quiet
expect 2 "calib-count" -- profile "$model" --calib "$images" --preprocess keras --calib-count 0
expect 2 "e2e-formats" -- profile "$model" --calib "$images" --preprocess keras --e2e-formats ternary9
expect 2 "--calib" -- profile "$model" --preprocess keras
"$bin" profile "$model" --calib "$images" --preprocess keras --calib-count 100 --e2e-images 1 -o "$tmp/p.csv" >/dev/null 2>"$tmp/p.err"
check "profile warns when the folder has fewer images than --calib-count" grep -q "fewer than the 100" "$tmp/p.err"
check "profile writes per-filter CSV" test "$(wc -l <"$tmp/p.csv")" -eq "$((1 + 8+8+16+16+32+32+32+32+64+64+64+64+128+128+128+128+128+128+128+128+128+128+128+128+256+256+256+1000))"
"$bin" profile "$model" --calib "$images" --preprocess keras --calib-count 6 --e2e-images 1 --json --quiet >"$tmp/p.json"
check "profile --json has layers[].filters[].sensitivity" grep -q '"sensitivity"' "$tmp/p.json"
check "profile --json has end-to-end KL" grep -q '"kl"' "$tmp/p.json"

# --- compress with calibration, report, QDQ export; recipe flag errors
expect 2 "unknown recipe 'int9' \\(valid: lossless, fp16, int8, prom, w4a8, hybrid, sparse\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int9
expect 2 "needs calibration images" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --preprocess keras
expect 2 "max-drop must be between 0 and 100" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --max-drop -1 --calib "$images" --preprocess keras
expect 2 "max-drop must be between 0 and 100" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --max-drop 250 --calib "$images" --preprocess keras
expect 2 "ternary-fraction must be between 0 and 1" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-fraction 1.5 --calib "$images" --preprocess keras
expect 2 "ternary-terms must be 1, 2 or 3" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-terms 4 --calib "$images" --preprocess keras
expect 2 "drop-estimate must be expected or agreement" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --drop-estimate median --calib "$images" --preprocess keras
expect 2 "drop-estimate applies to --max-drop" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-fraction 0.2 --drop-estimate agreement --calib "$images" --preprocess keras
expect 2 "activations must be int8 or float" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --activations int4 --calib "$images" --preprocess keras
expect 2 "--ternary-terms does not apply to the int8 recipe \\(it applies to: hybrid\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --ternary-terms 2 --calib "$images" --preprocess keras
expect 2 "--effort must be fast, default or max, got 'slow'" -- compress "$model" -o "$tmp/x.mcz" --recipe w4a8 --effort slow --calib "$images" --preprocess keras
expect 2 "--effort does not apply to the int8 recipe \\(it applies to: w4a8\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --effort max --calib "$images" --preprocess keras
expect 2 "--max-drop does not apply to the int8 recipe \\(it applies to: hybrid, sparse\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --max-drop 1 --calib "$images" --preprocess keras
# --- pruning and the sparse recipe (issue #7)
expect 2 "--sparsity must be in \\[0, 1\\), got 1$" -- compress "$model" -o "$tmp/x.mcz" --recipe sparse --sparsity 1 --calib "$images" --preprocess keras
expect 2 "--sparsity must be in \\[0, 1\\), got -0.2" -- compress "$model" -o "$tmp/x.mcz" --recipe sparse --sparsity -0.2 --calib "$images" --preprocess keras
expect 2 "--sparsity does not apply to the int8 recipe \\(it applies to: sparse\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --sparsity 0.5 --calib "$images" --preprocess keras
expect 2 "pass 'prune-magnitude': option 'sparsity=1.5' must be in \\[0, 1\\)" -- compress "$model" -o "$tmp/x.mcz" --passes "prune-magnitude<sparsity=1.5>" --quiet
expect 2 "layer 'conv1': N:M pruning with M=4 needs M to divide its 3 input channels" -- compress "$model" -o "$tmp/x.mcz" --passes "prune-nm<layers=conv;method=magnitude>" --quiet
expect 2 "layer 'conv_pw_1': N:M pruning with M=3 needs M to divide its 8 input channels" -- compress "$model" -o "$tmp/x.mcz" --passes "prune-nm<n=1;m=3;method=magnitude>" --quiet
expect 2 "layer 'conv_pw_1'" -- compress "$model" -o "$tmp/x.mcz" --passes "fold-bn,prune-nm<n=1;m=3>" --calib "$images" --preprocess keras --quiet
check "a failed pruning leaves no file" test ! -e "$tmp/x.mcz"
# An opset-18 graph with hard-swish, squeeze-and-excitation (ReduceMean with axes as an input), Swish,
# LeakyRelu and PRelu (tests/model_builder.h se_family_model): info, profile, int8 and its QDQ export.
expect 0 "opset 18" -- info tests/data/models/se_family_opset18.onnx
expect 0 "se_reduce" -- profile tests/data/models/se_family_opset18.onnx --calib "$images" --preprocess keras --quiet
expect 0 "" -- compress tests/data/models/se_family_opset18.onnx -o "$tmp/se.mcz" --recipe int8 --calib "$images" --preprocess keras --quiet
expect 0 "" -- export "$tmp/se.mcz" -o "$tmp/se_qdq.onnx" --qdq --quiet
check "the family model's QDQ export contains DequantizeLinear weights" grep -q DequantizeLinear "$tmp/se_qdq.onnx"
expect 4 "no pointwise layers" -- compress tests/data/models/tiny_conv.onnx -o "$tmp/x.mcz" --recipe prom --calib "$images" --preprocess keras --quiet
check "a failed compress leaves no file" test ! -e "$tmp/x.mcz"
expect 0 "" -- compress "$model" -o "$tmp/q.mcz" --recipe int8 --calib "$images" --preprocess keras --report "$tmp/q.json" --quiet
check "compress --report writes the report keys" grep -q '"energy_pj_fp16"' "$tmp/q.json"
"$bin" report "$tmp/q.mcz" --json >"$tmp/q2.json"
check "report --json regenerates size and ops" grep -q '"int8_macs": 41030272' "$tmp/q2.json"
expect 0 "" -- export "$tmp/q.mcz" -o "$tmp/q.onnx" --qdq --quiet
"$bin" info "$tmp/q.onnx" --json >"$tmp/qi.json"
check "a QDQ export keeps every parameter and MAC" grep -q '"macs": 41030272' "$tmp/qi.json"
check "a QDQ export contains DequantizeLinear weights" grep -q DequantizeLinear "$tmp/q.onnx"

# --- one truth (issue 13): the numbers a file stores are what the file does, on every path
# A pass that rewrites float weights after one that encoded them is refused before anything runs.
expect 2 "pass 'equalize' rewrites float weights and cannot run after 'quantize-int8'" -- compress "$model" -o "$tmp/eq.mcz" \
  --passes 'fold-bn,quantize-int8<method=rtn>,equalize' --calib "$images" --preprocess keras --eval-images "$images"
check "a refused pipeline leaves no file" test ! -e "$tmp/eq.mcz"
# Options are checked whole before the first pass: the error names the pass and the option.
expect 2 "pass 'equalize': option 'iterations=abc' needs a whole number" -- compress "$model" -o "$tmp/eq.mcz" \
  --passes 'fold-bn,equalize,equalize<iterations=abc>' --calib "$images" --preprocess keras
expect 2 "pass 'quantize-int8'.* needs calibration images" -- compress "$model" -o "$tmp/eq.mcz" --passes 'fold-bn,quantize-int8'
# The accuracy stored in the file (measured on the written bytes) is what eval of the file gives.
expect 0 "" -- compress "$model" -o "$tmp/eq.mcz" --passes 'fold-bn,equalize,quantize-int8<method=rtn>,quantize-activations' \
  --calib "$images" --preprocess keras --eval-images "$images" --quiet
stored=$("$bin" info "$tmp/eq.mcz" --json | sed -n 's/.*"top1_after": \([0-9.]*\).*/\1/p' | head -1)
evaluated=$("$bin" eval "$tmp/eq.mcz" --images "$images" --json --quiet | sed -n 's/.*"top1": \([0-9.]*\).*/\1/p')
check "stored top-1 ($stored) equals eval of the file ($evaluated)" test -n "$stored" -a "$stored" = "$evaluated"
# The default export is the graph eval runs (QDQ for int8 activations) and says which form it wrote.
expect 0 "as mcompress eval runs it" -- export "$tmp/eq.mcz" -o "$tmp/eq.onnx"
check "the default export of an int8-activation file is its QDQ form" grep -q QuantizeLinear "$tmp/eq.onnx"
expect 0 "every weight decoded to float32|int8 activations: ONNX Runtime re-quantizes" -- export "$tmp/eq.mcz" -o "$tmp/eqf.onnx" --float-weights
expect 2 "--qdq and --float-weights" -- export "$tmp/eq.mcz" -o "$tmp/eqx.onnx" --qdq --float-weights
expect 0 "" -- compress "$model" -o "$tmp/f16.mcz" --recipe fp16 --quiet
expect 0 "no weight is stored as int8, int4 or ternary" -- export "$tmp/f16.mcz" -o "$tmp/f16.onnx" --qdq
expect 0 "float activations, weights decoded to float32" -- export "$tmp/f16.mcz" -o "$tmp/f16d.onnx"
# The pass list comes from the registry rows, with each option's range and default.
expect 0 "bits: 2 to 8; default 8" -- compress --print-passes
expect 0 "Passes for --passes" -- compress --help
# profile reads its input once: a pipe works.
"$bin" profile - --calib "$images" --preprocess keras --calib-count 4 --e2e-images 0 --json <"$model" >"$tmp/prof.json" 2>"$tmp/prof.err"
check "profile - reads the model from a pipe ($(head -c 200 "$tmp/prof.err"))" grep -q '"layers"' "$tmp/prof.json"

# --- issue 14: guard users' files, fail fast, speak plainly
mkdir -p "$tmp/guard"
cp "$model" "$tmp/guard/m.onnx"
expect 5 "is the input file .*never overwrites its input, even with --force" -- compress "$tmp/guard/m.onnx" -o "$tmp/guard/m.onnx" --recipe fp16 --force
ln "$tmp/guard/m.onnx" "$tmp/guard/other_name.mcz"
expect 5 "is the input file" -- compress "$tmp/guard/m.onnx" -o "$tmp/guard/other_name.mcz" --recipe fp16 --force
expect 5 "is the input file" -- export "$tmp/guard/m.onnx" -o "$tmp/guard/other_name.mcz" --force
check "the input is unchanged after refused overwrites" cmp -s "$model" "$tmp/guard/m.onnx"
expect 0 "this is a .mcz file, not an ONNX model" -- compress "$model" -o "$tmp/guard/looks.onnx" --recipe fp16
expect 0 "this is an ONNX model, not a .mcz file" -- export "$model" -o "$tmp/guard/looks.mcz"
if command -v script >/dev/null 2>&1; then
  script -qec "$bin compress $model -o - --recipe fp16" /dev/null >"$tmp/guard/tty.out" 2>&1
  check "binary output to a terminal is refused" grep -q "refusing to write binary .mcz data to a terminal" "$tmp/guard/tty.out"
fi
# Inputs the long work needs are checked before it starts.
mkdir -p "$tmp/guard/nolabels" "$tmp/guard/png"
cp "$images"/*.JPEG "$tmp/guard/nolabels/"
expect 3 "labels.tsv: no such file" -- compress "$model" -o "$tmp/guard/x.mcz" --recipe int8 --calib "$images" --preprocess keras --eval-images "$tmp/guard/nolabels"
printf '\x89PNG\r\n\x1a\n0000000000000000' >"$tmp/guard/png/a.jpg"
printf 'a.jpg\t1\n' >"$tmp/guard/png/labels.tsv"
expect 3 "a.jpg: a PNG image under a JPEG name" -- compress "$model" -o "$tmp/guard/x.mcz" --recipe int8 --calib "$images" --preprocess keras --eval-images "$tmp/guard/png"
check "a refused job leaves no file" test ! -e "$tmp/guard/x.mcz"
expect 3 "a.jpg: a PNG image under a JPEG name" -- compress "$model" -o "$tmp/guard/x.mcz" --recipe int8 --calib "$tmp/guard/png" --preprocess keras
mkdir -p "$tmp/guard/empty"
expect 3 "no images" -- compress "$model" -o "$tmp/guard/x.mcz" --recipe int8 --calib "$tmp/guard/empty" --preprocess keras
# A short summary by default, the pass-by-pass detail under --verbose.
"$bin" compress "$model" -o "$tmp/guard/h.mcz" --recipe hybrid --calib "$images" --preprocess keras --eval-images "$images" 2>"$tmp/guard/h.err"
lines=$(wc -l <"$tmp/guard/h.err")
check "compress prints a short summary ($lines lines)" test "$lines" -le 12
check "the summary says what the file measured" grep -q "measured on the written file" "$tmp/guard/h.err"
check "the summary says what split-hybrid chose" grep -q "chose     split-hybrid" "$tmp/guard/h.err"
check "the summary has no raw float noise" bash -c "! grep -Eq '[0-9]\.[0-9]{4,}' '$tmp/guard/h.err'"
"$bin" compress "$model" -o "$tmp/guard/h.mcz" --recipe hybrid --calib "$images" --preprocess keras --force --verbose 2>"$tmp/guard/hv.err"
check "--verbose adds the pass-by-pass detail" test "$(wc -l <"$tmp/guard/hv.err")" -gt "$((lines + 10))"
expect 0 "" -- compress "$model" -o "$tmp/guard/q.mcz" --recipe hybrid --calib "$images" --preprocess keras --quiet
check "--quiet prints nothing" test ! -s "$tmp/err"
# --passes without --recipe: the file records recipe "custom" and the pipeline it ran.
expect 0 "" -- compress "$model" -o "$tmp/guard/c.mcz" --passes 'fold-bn,prune-magnitude<sparsity=0.3>' --quiet
"$bin" info "$tmp/guard/c.mcz" --json >"$tmp/guard/c.json"
check "a --passes file records recipe custom" grep -q '"recipe": "custom"' "$tmp/guard/c.json"
check "a --passes file records its pipeline" grep -q '"passes": "fold-bn,prune-magnitude<sparsity=0.3>"' "$tmp/guard/c.json"
expect 2 "--passes replaces the recipe" -- compress "$model" -o "$tmp/guard/c2.mcz" --recipe int8 --passes fold-bn
expect 2 "give --recipe NAME or --passes PIPELINE" -- compress "$model" -o "$tmp/guard/c2.mcz"
# Flags a recipe ignores, and a file that will need --preprocess later, are said.
expect 0 "--calib .*ignored: recipe 'lossless' needs no calibration images" -- compress "$model" -o "$tmp/guard/l.mcz" --recipe lossless --calib "$images"
expect 0 "will not record the model's preprocessing" -- compress "$model" -o "$tmp/guard/l2.mcz" --recipe lossless
expect 0 "" -- compress "$model" -o "$tmp/guard/l3.mcz" --recipe fp16 --preprocess keras --quiet
check "fp16 stores --preprocess" bash -c "'$bin' info '$tmp/guard/l3.mcz' --json | grep -q '\"preprocess\": \"keras\"'"
expect 0 "WARNING: top-1 fell by .* points .*not usable" -- compress "$model" -o "$tmp/guard/p.mcz" --recipe prom --calib "$images" --preprocess keras --eval-images "$images"
# Help that teaches: `help COMMAND`, suggestions for typos, no development paths.
expect 0 "--max-drop" -- help compress
expect 2 "did you mean --max-drop" -- compress "$model" -o "$tmp/guard/t.mcz" --recipe hybrid --max-dorp 1
expect 2 "did you mean 'compress'" -- comprss "$model"
for c in info eval profile compress export report sweep; do
  "$bin" "$c" --help >"$tmp/guard/help.txt" 2>&1
  check "'$c --help' names no development path" bash -c "! grep -Eq '\.\./shared|docs/|scripts/|data/[a-z]|[a-z_]+\.h\b' '$tmp/guard/help.txt'"
done
check "the compress summary names no development path" bash -c "! grep -Eq '\.\./shared|docs/|scripts/' '$tmp/guard/h.err'"

finish
