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
"$bin" profile "$model" --calib "$images" --preprocess keras --calib-count 100 --e2e-images 4 -o "$tmp/p.csv" >/dev/null 2>"$tmp/p.err"
check "profile warns when the folder has fewer images than --calib-count" grep -q "fewer than the 100" "$tmp/p.err"
check "profile writes per-filter CSV" test "$(wc -l <"$tmp/p.csv")" -eq "$((1 + 8+8+16+16+32+32+32+32+64+64+64+64+128+128+128+128+128+128+128+128+128+128+128+128+256+256+256+1000))"
"$bin" profile "$model" --calib "$images" --preprocess keras --calib-count 6 --e2e-images 4 --json --quiet >"$tmp/p.json"
check "profile --json has layers[].filters[].sensitivity" grep -q '"sensitivity"' "$tmp/p.json"
check "profile --json has end-to-end KL" grep -q '"kl"' "$tmp/p.json"

# --- compress with calibration, report, QDQ export; recipe flag errors
expect 2 "unknown recipe 'int9' \\(valid: lossless, fp16, int8, prom, hybrid, sparse\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int9
expect 2 "needs calibration images" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --preprocess keras
expect 2 "max-drop must be between 0 and 100" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --max-drop -1 --calib "$images" --preprocess keras
expect 2 "max-drop must be between 0 and 100" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --max-drop 250 --calib "$images" --preprocess keras
expect 2 "ternary-fraction must be between 0 and 1" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-fraction 1.5 --calib "$images" --preprocess keras
expect 2 "ternary-terms must be 1, 2 or 3" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-terms 4 --calib "$images" --preprocess keras
expect 2 "drop-estimate must be expected or agreement" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --drop-estimate median --calib "$images" --preprocess keras
expect 2 "drop-estimate applies to --max-drop" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --ternary-fraction 0.2 --drop-estimate agreement --calib "$images" --preprocess keras
expect 2 "activations must be int8 or float" -- compress "$model" -o "$tmp/x.mcz" --recipe hybrid --activations int4 --calib "$images" --preprocess keras
expect 2 "--ternary-terms does not apply to the int8 recipe \\(it applies to: hybrid\\)" -- compress "$model" -o "$tmp/x.mcz" --recipe int8 --ternary-terms 2 --calib "$images" --preprocess keras
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
expect 0 "" -- compress "$model" -o "$tmp/s.mcz" --recipe sparse --sparsity 0.2 --max-drop 5 --calib "$images" --preprocess keras --quiet
"$bin" info "$tmp/s.mcz" --json >"$tmp/si.json"
ratio="$(grep -o '"compression_ratio": [0-9.]*' "$tmp/si.json" | head -1 | sed 's/.*: //')"
check "the sparse recipe writes a file over 4x smaller than fp32 (got ${ratio:-none})" awk -v r="${ratio:-0}" 'BEGIN { exit !(r > 4) }'
expect 0 "" -- export "$tmp/s.mcz" -o "$tmp/s.onnx" --qdq --quiet
check "a sparse recipe QDQ export contains DequantizeLinear weights" grep -q DequantizeLinear "$tmp/s.onnx"
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

# --- issue 15: budgets with labels (--val), confidence, paired comparisons
mkdir -p "$tmp/val/nolabels" "$tmp/val/three"
cp "$images"/n01440764_tench.JPEG "$images"/n01818515_macaw.JPEG "$images"/n02092339_Weimaraner.JPEG "$tmp/val/nolabels/"
cp "$tmp/val/nolabels/"*.JPEG "$tmp/val/three/"
grep -E 'tench|macaw|Weimaraner' "$images/labels.tsv" >"$tmp/val/three/labels.tsv"
expect 3 "labels.tsv: no such file" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --val "$tmp/val/nolabels"
expect 2 "one image is worth 33.33 points, more than the 1-point budget; give at least 100 labelled images" -- compress "$model" -o "$tmp/val/x.mcz" \
  --recipe hybrid --calib "$images" --preprocess keras --val "$tmp/val/three"
expect 2 "3 images of --calib also are in --val .*must be disjoint" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --max-drop 50 \
  --calib "$images" --preprocess keras --val "$tmp/val/three"
expect 2 "--confidence must be between 0.5 and 1" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --confidence 0.4
expect 2 "--confidence must be between 0.5 and 1" -- compress "$model" -o "$tmp/val/x.mcz" --recipe hybrid --calib "$images" --preprocess keras --confidence 1
check "refused budgets leave no file" test ! -e "$tmp/val/x.mcz"
# The budget object: in the file's report and in compress --json.
"$bin" compress "$model" -o "$tmp/val/h.mcz" --recipe hybrid --calib "$images" --preprocess keras --json --quiet >"$tmp/val/h.json"
for key in max_drop estimate bound confidence images labels met path; do
  check "compress --json has budget.$key" grep -q "\"$key\"" "$tmp/val/h.json"
done
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
