#!/usr/bin/env bash
# Coverage study of --max-drop (docs/BUDGET.md): how often the top-1 drop on images no decision saw
# exceeds the budget, with labels (--val) and without.
#
# For each of N random splits (seed s = 1..N) of ../shared/imagenet-dev's 500 labelled images into
# calibration (C, 100 images), validation (V, 200) and test (T, 200) images, and for each studied run
# (hybrid on MobileNetV1 0.25 and ShuffleNetV2, sparse on MobileNetV2: the runs that overshot their
# budget in the README), two files are compressed with --max-drop 1:
#   labels:    --calib C --val V                (every budget decision a paired bound on V's labels, confidence
#              0.9: 100 images search, 100 decide)
#   no labels: --calib C+V --calib-count 300 --held-out 200 (the same 300 images, labels unused: 100 fit
#              and 200 held out, split into 100 to search and 100 to confirm, so that one confirmation
#              image is worth 1 point and a 1-point budget is decidable)
# and both are measured on T with eval --compare (the float model's and the written file's top-1, the drop
# and its paired 90% interval: the test measurement's own uncertainty on 200 images).
# Prints one TSV row per file on stdout (seed, model, recipe, mode, bytes, MULs, budget met, decision
# estimate and bound, drop on T), then a summary per run and mode on stderr. Rows already in OUT
# (--resume OUT) are skipped, so an interrupted study continues where it stopped. With --out FILE the
# rows are appended to FILE as each file is measured (the header first if FILE is new) and rows already
# in it are skipped: the way to run a study that spans several sittings (nothing on stdout).
# Usage: scripts/budget_coverage.sh [--splits N] [--from S] [--build DIR] [--runs LIST] [--threads T] [--modes M]
#                                   [--resume FILE.tsv > coverage.tsv | --out FILE.tsv]
#   --from  the first split to run (default 1): processes given disjoint ranges (--from 11 --splits 20 and
#           --splits 10) share the cores; their files are summarized together (coverage_summary.js A.tsv B.tsv)
#   --modes comma-separated labels,no_labels (default both)
#   --runs  comma-separated MODEL:RECIPE (default mobilenet_v1_0.25_224:hybrid,shufflenet_v2_x1_0:hybrid,mobilenet_v2_1_0:sparse)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/scripts/lib.sh"
shared="$repo/../shared"
images="$shared/imagenet-dev"
modes="labels,no_labels" splits=20 first=1 build="$repo/build" resume="" out="" threads=() runs="mobilenet_v1_0.25_224:hybrid,shufflenet_v2_x1_0:hybrid,mobilenet_v2_1_0:sparse"
while [ $# -gt 0 ]; do
  case "$1" in
    --splits) splits="$2"; shift 2 ;;
    --from) first="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --resume) resume="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --threads) threads=(--threads "$2"); shift 2 ;;
    *) echo "usage: budget_coverage.sh [--splits N] [--from S] [--build DIR] [--runs LIST] [--threads T] [--modes M] [--resume FILE.tsv | --out FILE.tsv]" >&2; exit 2 ;;
  esac
done
for mode in ${modes//,/ }; do
  case "$mode" in labels|no_labels) ;; *) echo "budget_coverage: --modes takes labels and/or no_labels, got '$mode'" >&2; exit 2 ;; esac
done
bin="$build/mcompress"
[ -x "$bin" ] || { echo "budget_coverage: $bin not built" >&2; exit 2; }
[ -f "$images/labels.tsv" ] || { echo "budget_coverage: $images/labels.tsv not found" >&2; exit 3; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

header=$'seed\tmodel\trecipe\tmode\tbytes\tmuls\tmet\twithin\testimate\tbound\tdecision_images\ttop1_float_test\ttop1_test\tdrop_test\ttest_drop_low\ttest_drop_high'
if [ -n "$out" ]; then
  [ -z "$resume" ] || { echo "budget_coverage: --out already resumes from its file; give --resume or --out, not both" >&2; exit 2; }
  [ -s "$out" ] || echo "$header" >"$out"
  resume="$out"
  exec >>"$out"  # every row below goes to the file, as soon as it is measured
elif [ -n "$resume" ] && [ -s "$resume" ]; then cat "$resume"; else echo "$header"; fi

# split SEED DIR: C, V, T folders of symlinks (V and T with their labels.tsv), by a seeded shuffle.
split() {
  local seed="$1" dir="$2"
  mkdir -p "$dir/C" "$dir/V" "$dir/T" "$dir/CV"
  node -e '
    const fs = require("fs"), path = require("path");
    const [labelsPath, seed, dir, src] = process.argv.slice(1);
    const lines = fs.readFileSync(labelsPath, "utf8").split("\n").filter(Boolean);
    let s = BigInt(seed) * 2654435761n + 1n;  // a 64-bit LCG: the same split on every machine
    const next = () => { s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n); return Number(s >> 33n); };
    for (let i = lines.length - 1; i > 0; i--) { const j = next() % (i + 1); [lines[i], lines[j]] = [lines[j], lines[i]]; }
    const parts = { C: lines.slice(0, 100), V: lines.slice(100, 300), T: lines.slice(300) };
    for (const [name, part] of Object.entries(parts)) {
      for (const l of part) {
        const f = l.split("\t")[0];
        fs.symlinkSync(path.join(src, f), path.join(dir, name, f));
        if (name !== "T") fs.symlinkSync(path.join(src, f), path.join(dir, "CV", f));
      }
      if (name !== "C") fs.writeFileSync(path.join(dir, name, "labels.tsv"), part.join("\n") + "\n");
    }' "$images/labels.tsv" "$seed" "$dir" "$images"
}

for ((seed = first; seed <= splits; seed++)); do
  d="$tmp/split$seed"
  split "$seed" "$d"
  for run in ${runs//,/ }; do
    model="${run%%:*}" recipe="${run##*:}"
    case "$model" in mobilenet_v1*) pre=keras ;; *) pre=torch ;; esac
    for mode in ${modes//,/ }; do
      if [ -n "$resume" ] && grep -q "^$seed"$'\t'"$model"$'\t'"$recipe"$'\t'"$mode"$'\t' "$resume" 2>/dev/null; then continue; fi
      if [ "$mode" = labels ]; then data=(--calib "$d/C" --val "$d/V"); else data=(--calib "$d/CV" --calib-count 300 --held-out 200); fi
      echo "budget_coverage: split $seed $model $recipe $mode..." >&2
      if ! "$bin" compress "$shared/models/$model.onnx" -o "$tmp/f.mcz" --recipe "$recipe" --max-drop 1 "${data[@]}" \
           --preprocess "$pre" "${threads[@]}" --force --quiet --json >"$tmp/c.json" 2>"$tmp/err"; then
        echo "budget_coverage: failed: $(head -c 300 "$tmp/err")" >&2
        continue
      fi
      # The test drop's own uncertainty: eval --compare's paired interval (float - compressed) on T.
      if ! "$bin" eval --compare "$shared/models/$model.onnx" "$tmp/f.mcz" --images "$d/T" --preprocess "$pre" --confidence 0.9 "${threads[@]}" \
           --quiet --json >"$tmp/cmp.json" 2>"$tmp/err"; then
        echo "budget_coverage: eval --compare failed: $(head -c 300 "$tmp/err")" >&2
        continue
      fi
      node -e '
        const fs = require("fs");
        const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
        const b = j.budget || {};
        console.log([process.argv[3], process.argv[4], process.argv[5], process.argv[6], j.bytes, j.muls, b.met, b.within, b.estimate,
                     b.bound, b.images, c.top1_a, c.top1_b, c.difference.toFixed(2), c.interval[0], c.interval[1]].join("\t"));' \
        "$tmp/c.json" "$tmp/cmp.json" "$seed" "$model" "$recipe" "$mode"
    done
  done
  rm -rf "$d"
done
