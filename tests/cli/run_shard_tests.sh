#!/usr/bin/env bash
# Sharded and resumable sweeps (docs/SHARDING.md): the bundled example swept whole and as 3 shards run
# by GNU parallel, merged byte for byte into the unsharded CSV, JSON and HTML; --shard and --merge
# refusals (bad K/N, missing, duplicate and foreign parts, each error naming the part); a sweep and a
# shard killed after their first point and run again compute only the missing points; the batch
# Makefile interrupted and run again redoes only the unfinished jobs.
# Usage: run_shard_tests.sh PATH/TO/mcompress. Runs from the repository root (ctest sets it).
set -u
bin="${1:?usage: run_shard_tests.sh MCOMPRESS_BINARY}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"  # absolute: parallel and make run it from elsewhere
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1

# A small grid, 4 points (3 need calibration): shard 1/3 gets points 0 and 3, shards 2/3 and 3/3 one each.
# Every point's file is kept (the kept paths are in the table's commands, so they must merge too).
keep="$tmp/keep"
mkdir -p "$keep"
grid=(--eval-images "$images" --preprocess keras --eval-limit 2 --calib "$images" --calib-count 4
  --recipes fp16,int8,hybrid --budgets hybrid:ternary-fraction=0.1,0.3 --keep "$keep")
# computed_points LOG: how many "sweep: [k/n] POINT: ..." lines (one per point computed) a run printed.
computed_points() { grep -c '^sweep: \[[0-9]*/[0-9]*\] ' "$1"; }
same_outputs() {  # same_outputs A B WHAT: A.csv/.json/.html equal B's
  for ext in csv json html; do check "$3: $ext byte-identical to the unsharded run" cmp -s "$1.$ext" "$2.$ext"; done
}

# --- the unsharded run: the reference
mkdir -p "$tmp/u"
expect 0 "" -- sweep "$model" "${grid[@]}" -o "$tmp/u/sweep.csv" -o "$tmp/u/sweep.json" --html "$tmp/u/sweep.html"
cp "$tmp/out" "$tmp/u/table.txt"
check "the unsharded sweep has a row per point" test "$(wc -l <"$tmp/u/sweep.csv")" -eq 5
check "the unsharded sweep prints its table" grep -q '^hybrid ternary-fraction=0.3 ' "$tmp/u/table.txt"

# --- 3 shards under GNU parallel, merged
mkdir -p "$tmp/p"
shard_cmd=("$bin" sweep "$model" "${grid[@]}" --force --shard '{}/3' -o "$tmp/p/part{}.json" --quiet)
if command -v parallel >/dev/null 2>&1; then
  parallel --will-cite --halt now,fail=1 "${shard_cmd[@]}" ::: 1 2 3 >"$tmp/p/parallel.log" 2>&1
  rc=$?
  check "GNU parallel runs the 3 shards (exit $rc: $(head -c 300 "$tmp/p/parallel.log"))" test "$rc" -eq 0
else
  # Without parallel the shards still run (in the background) so the merge is checked; the parallel
  # run is what scripts/setup.sh installs it for, so under MCOMPRESS_REQUIRE_SHARED=1 it is a failure.
  if [ "${MCOMPRESS_REQUIRE_SHARED:-}" = 1 ]; then
    echo "FAIL: GNU parallel not found (MCOMPRESS_REQUIRE_SHARED=1; scripts/setup.sh installs the package 'parallel')"
    failed=$((failed + 1))
  else
    echo "GNU parallel not found: shards run as background jobs (MCOMPRESS_REQUIRE_SHARED=1 makes this a failure)"
  fi
  for k in 1 2 3; do "${shard_cmd[@]//\{\}/$k}" & done
  wait
fi
for k in 1 2 3; do check "shard $k/3 wrote its part" test -s "$tmp/p/part$k.json"; done
check "a part records its shard" grep -q '"count": 3' "$tmp/p/part2.json"
expect 0 "" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/part3.json" -o "$tmp/p/sweep.csv" -o "$tmp/p/sweep.json" \
  --html "$tmp/p/sweep.html" --quiet
same_outputs "$tmp/p/sweep" "$tmp/u/sweep" "3 shards by GNU parallel, merged"
expect 0 "" -- sweep --merge "$tmp/p/part3.json" "$tmp/p/part1.json" "$tmp/p/part2.json" -o "$tmp/p/any_order.csv" --quiet
check "the merge does not depend on the parts' order" cmp -s "$tmp/p/any_order.csv" "$tmp/u/sweep.csv"
"$bin" sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/part3.json" --json >"$tmp/p/stdout.json" 2>/dev/null
check "merge --json prints the unsharded JSON" cmp -s "$tmp/p/stdout.json" "$tmp/u/sweep.json"
"$bin" sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/part3.json" >"$tmp/p/table.txt" 2>/dev/null
check "merge prints the unsharded table" cmp -s "$tmp/p/table.txt" "$tmp/u/table.txt"

# --- --shard and --merge usage errors (2)
expect 2 "--shard '4/3': K must be between 1 and N \(3\)" -- sweep "$model" "${grid[@]}" --shard 4/3 -o "$tmp/x.json"
expect 2 "--shard '0/3': K must be between 1 and N" -- sweep "$model" "${grid[@]}" --shard 0/3 -o "$tmp/x.json"
expect 2 "--shard '1/0': N must be between 1 and" -- sweep "$model" "${grid[@]}" --shard 1/0 -o "$tmp/x.json"
expect 2 "--shard '2of3': expected K/N" -- sweep "$model" "${grid[@]}" --shard 2of3 -o "$tmp/x.json"
expect 2 "--shard '2/3/4': expected K/N" -- sweep "$model" "${grid[@]}" --shard 2/3/4 -o "$tmp/x.json"
expect 2 "--shard writes its part of the sweep to one file, -o PART.json" -- sweep "$model" "${grid[@]}" --shard 1/3
expect 2 "--shard writes its part" -- sweep "$model" "${grid[@]}" --shard 1/3 -o "$tmp/x.json" --html "$tmp/x.html"
expect 2 "--shard: the part is JSON: name it PART.json" -- sweep "$model" "${grid[@]}" --shard 1/3 -o "$tmp/x.csv"
expect 2 "--merge: --calib is a setting of the shards' runs" -- sweep --merge "$tmp/p/part1.json" --calib "$images"
expect 2 "--merge takes part files only" -- sweep "$model" --merge "$tmp/p/part1.json"
expect 2 "sweep needs a MODEL" -- sweep --eval-images "$images"
expect 5 "is the input file" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/part3.json" -o "$tmp/p/part1.json" --force
check "no shard error left a part behind" test ! -e "$tmp/x.json"

# --- missing, duplicate and foreign parts (3), each named; nothing written
m="$tmp/p/refused.csv"
expect 3 "missing part: shard 2 of 3 \(given: .*part1.json \(1/3\), .*part3.json \(3/3\)\)" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/part3.json" -o "$m"
expect 3 "part2.json: duplicate part: shard 2/3 is also .*part2.json" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/part2.json" "$tmp/p/part3.json" -o "$m"
expect 3 "nope.json: no such file" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/nope.json" -o "$m"
expect 3 "sweep.json: not a sweep part" -- sweep --merge "$tmp/u/sweep.json" -o "$m"
head -c 300 "$tmp/p/part2.json" >"$tmp/p/cut.json"
expect 3 "cut.json: not valid JSON" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/cut.json" "$tmp/p/part3.json" -o "$m"
sed 's/"bytes": \([0-9]*\)/"bytes": 1\1/' "$tmp/p/part2.json" >"$tmp/p/edited.json"
expect 3 "edited.json: checksum mismatch" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/edited.json" "$tmp/p/part3.json" -o "$m"
sed 's/"mcompress": "[^"]*"/"mcompress": "9.9.9"/' "$tmp/p/part2.json" >"$tmp/p/v999.json"
expect 3 "v999.json: written by mcompress 9.9.9, this is mcompress [0-9]" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/v999.json" "$tmp/p/part3.json" -o "$m"
sed 's/"version": 1,/"version": 2,/' "$tmp/p/part2.json" >"$tmp/p/layout2.json"
expect 3 "layout2.json: sweep part layout version 2" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/layout2.json" "$tmp/p/part3.json" -o "$m"
# Another model: the example's fp16 export (other weights). A 1-point grid keeps it quick (shard 2/3 of it is empty).
"$bin" compress "$model" -o "$tmp/p/other.mcz" --recipe fp16 --quiet && "$bin" export "$tmp/p/other.mcz" -o "$tmp/p/other.onnx" --quiet
"$bin" sweep "$tmp/p/other.onnx" --eval-images "$images" --preprocess keras --eval-limit 2 --recipes fp16 --shard 2/3 -o "$tmp/p/other_model.json" --quiet
expect 3 "other_model.json: part of another model: .*other.onnx \(sha256 [0-9a-f]{12}...\), while .*part1.json is of $model" -- \
  sweep --merge "$tmp/p/part1.json" "$tmp/p/other_model.json" "$tmp/p/part3.json" -o "$m"
# Another sweep: other settings (1 image evaluated) and grid. Its shard 2/3 has no point: quick.
"$bin" sweep "$model" --eval-images "$images" --preprocess keras --eval-limit 1 --calib "$images" --calib-count 4 --recipes int8 \
  --keep "$keep" --shard 2/3 \
  -o "$tmp/p/other_grid.json" --quiet 2>/dev/null
expect 3 "other_grid.json: part of another sweep than .*part1.json: 'eval_limit' is 1 here, 2 in" -- \
  sweep --merge "$tmp/p/part1.json" "$tmp/p/other_grid.json" "$tmp/p/part3.json" -o "$m"
# Another split of the same sweep: shard 5/5, which has no point (it still writes its part, and says so).
expect 0 "shard 5/5 has no point \(the grid has 4\)" -- sweep "$model" "${grid[@]}" --shard 5/5 -o "$tmp/p/of5.json"
expect 3 "of5.json: shard 5/5, while .*part1.json is a shard of 3" -- sweep --merge "$tmp/p/part1.json" "$tmp/p/part2.json" "$tmp/p/of5.json" -o "$m"
check "a refused merge writes nothing" test ! -e "$m"

# --- resume: a sweep killed after its first point computes only the missing points when run again
r="$tmp/r"
mkdir -p "$r"
rm -rf "$keep" && mkdir "$keep"
# killed_after_first_point LOG STATE ARGS...: starts the sweep, kills it (SIGKILL: no chance to tidy up) as
# soon as a point is complete, and waits for it. A point is complete when its kept file exists: the
# sweep writes a point's --resume record first, then its kept file, so a record without its file (a
# kill in between, likelier on a slow sanitizer build) is computed again by the rerun; the checks
# below count complete points by kept files for that reason.
killed_after_first_point() {
  local log="$1" state="$2"
  shift 2
  "$bin" "$@" >"$log" 2>&1 &
  local pid=$! waited=0
  while [ "$(find "$keep" -name '*.mcz' 2>/dev/null | wc -l)" -lt 1 ] && [ "$waited" -lt 2400 ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.05
    waited=$((waited + 1))
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
killed_after_first_point "$r/first.log" "$r/state" sweep "$model" "${grid[@]}" --resume "$r/state" \
  -o "$r/sweep.csv" -o "$r/sweep.json" --html "$r/sweep.html"
recorded=$(find "$keep" -name '*.mcz' | wc -l)  # complete points: record and kept file
check "the killed sweep completed some but not all points ($recorded of 4)" test "$recorded" -ge 1 -a "$recorded" -lt 4
check "the killed sweep wrote no table, JSON or page" test ! -e "$r/sweep.csv" -a ! -e "$r/sweep.json" -a ! -e "$r/sweep.html"
check "the killed sweep left no kept file without its record" \
  test "$recorded" -le "$(find "$r/state" -name 'point_*.json' | wc -l)"
touch -d '2001-01-01' "$r/state"/point_*.json "$keep"/*.mcz
expect 0 "" -- sweep "$model" "${grid[@]}" --resume "$r/state" -o "$r/sweep.csv" -o "$r/sweep.json" --html "$r/sweep.html"
cp "$tmp/err" "$r/second.log"
check "the rerun says what it resumed ($(grep resumed "$r/second.log"))" grep -q "^sweep: $recorded of 4 points resumed from .*, $((4 - recorded)) to compute" "$r/second.log"
check "the rerun computed only the missing points ($(computed_points "$r/second.log") of 4)" test "$(computed_points "$r/second.log")" -eq $((4 - recorded))
check "the resumed points' records were not rewritten" test "$(find "$r/state" -name 'point_*.json' ! -newermt 2001-01-02 | wc -l)" -eq "$recorded"
check "the resumed points' kept files were not rewritten" test "$(find "$keep" -name '*.mcz' -newermt 2001-01-02 | wc -l)" -eq $((4 - recorded))
check "every point is kept after the rerun" test "$(find "$keep" -name '*.mcz' | wc -l)" -eq 4
same_outputs "$r/sweep" "$tmp/u/sweep" "a killed and resumed sweep"
expect 0 "" -- sweep "$model" "${grid[@]}" --resume "$r/state" -o "$r/sweep.csv" --force
check "a complete --resume folder computes nothing" test "$(computed_points "$tmp/err")" -eq 0
check "a complete --resume folder still writes the same table" cmp -s "$r/sweep.csv" "$tmp/u/sweep.csv"
# A record of another sweep (here: other images evaluated, other grid) is set aside with a warning, never reused.
expect 0 "point_fp16.json: recorded by another sweep" -- sweep "$model" --eval-images "$images" --preprocess keras --eval-limit 1 \
  --recipes fp16 --resume "$r/state" -o "$r/other.csv"
check "a record of another sweep is computed again" test "$(computed_points "$tmp/err")" -eq 1

# A shard killed after its first point (shard 1/3 has 2), then run again: only its second point runs.
rm -rf "$keep" && mkdir "$keep"
killed_after_first_point "$r/shard.log" "$r/shard_state" sweep "$model" "${grid[@]}" --shard 1/3 --resume "$r/shard_state" -o "$r/part1.json"
check "the killed shard wrote no part" test ! -e "$r/part1.json"
complete=$(find "$keep" -name '*.mcz' | wc -l)
expect 0 "" -- sweep "$model" "${grid[@]}" --shard 1/3 --resume "$r/shard_state" -o "$r/part1.json"
check "the rerun shard computed only its missing point ($(computed_points "$tmp/err") of 2, $complete complete)" \
  test "$(computed_points "$tmp/err")" -eq $((2 - complete)) -a "$complete" -eq 1
expect 0 "" -- sweep --merge "$r/part1.json" "$tmp/p/part2.json" "$tmp/p/part3.json" -o "$r/merged.csv" -o "$r/merged.json" --html "$r/merged.html" --quiet
same_outputs "$r/merged" "$tmp/u/sweep" "a killed and resumed shard, merged"

# --- the batch Makefile (2 models x 2 recipes), interrupted (Ctrl-C on its process group) in its second job, then run again
if command -v make >/dev/null 2>&1; then
  b="$tmp/batch"
  mkdir -p "$b/models"
  cp "$model" "$b/models/good.onnx"
  cp "$model" "$b/models/more.onnx"
  # The mcompress make runs: interrupts the whole make (as Ctrl-C would) the first time it is asked for
  # the lossless recipe, after leaving a half-written output as a killed writer could.
  cat >"$b/mcompress" <<EOF
#!/usr/bin/env bash
if [ "\$1" = compress ] && [[ " \$* " == *" --recipe lossless "* ]] && [ ! -e "$b/interrupted" ]; then
  touch "$b/interrupted"
  head -c 1000 "$model" >"$b/out/good.lossless.mcz"
  kill -INT 0
  sleep 10
fi
exec "$bin" "\$@"
EOF
  chmod +x "$b/mcompress"
  make_batch() {
    setsid --wait make -s -C examples -j1 MODELS_DIR="$b/models" OUT="$b/out" RECIPES="fp16 lossless" MCOMPRESS="$b/mcompress" \
      CALIB= EVAL= >"$1" 2>&1
  }
  make_batch "$b/first.log"
  rc=$?
  check "the interrupted batch stops with an error" test "$rc" -ne 0
  check "the job before the interruption finished" grep -qx ok "$b/out/good.fp16.status"
  check "the interrupted job has no status" test ! -e "$b/out/good.lossless.status"
  check "no summary claims the interrupted batch complete" test ! -e "$b/out/summary.tsv"
  touch -d '2001-01-01' "$b/out"/good.fp16.*
  touch -d '2000-01-01' "$b/models"/*.onnx "$b/mcompress"
  make_batch "$b/second.log"
  rc=$?
  check "the batch run again succeeds ($(tail -1 "$b/second.log"))" test "$rc" -eq 0
  check "the rerun redid the interrupted and the unstarted jobs" grep -q "^ok      good lossless" "$b/second.log"
  check "the rerun ran the jobs never started" test "$(grep -c "^ok      more " "$b/second.log")" -eq 2
  check "the rerun did not redo the finished job" bash -c "! grep -q 'good fp16' '$b/second.log' && test -z \"\$(find '$b/out' -name 'good.fp16.*' -newermt 2001-01-02)\""
  check "the half-written output was replaced by a whole file" bash -c "'$bin' info '$b/out/good.lossless.mcz' >/dev/null"
  check "the summary lists the 4 jobs" test "$(grep -c $'\tok\t' "$b/out/summary.tsv")" -eq 4
else
  echo "SKIP: batch Makefile (make not installed)"
fi

# --- the batch Makefile's sharded sweep: `make sweep -j3 SHARDS=3` merges into the unsharded table and page
if command -v make >/dev/null 2>&1; then
  mk="$tmp/mk"
  mkflags="--recipes fp16,hybrid --budgets hybrid:ternary-fraction=0.3 --calib-count 4 --eval-limit 2"
  make -C examples sweep -j3 SHARDS=3 MCOMPRESS="$bin" OUT="$mk" SWEEP_FLAGS="$mkflags" >"$tmp/mk.log" 2>&1
  rc=$?
  check "make sweep SHARDS=3 succeeds (exit $rc: $(tail -c 300 "$tmp/mk.log"))" test "$rc" -eq 0
  # The same sweep unsharded, from the same folder with the same (relative) paths as the Makefile's.
  # shellcheck disable=SC2086
  (cd examples && "$bin" sweep mobilenet_v1_0.25_224.onnx --calib images --eval-images images --preprocess keras \
     $mkflags -o "$mk/u.csv" --html "$mk/u.html" --quiet)
  for ext in csv html; do check "make sweep: $ext byte-identical to the unsharded run" cmp -s "$mk/sweep.$ext" "$mk/u.$ext"; done
  check "make sweep again has nothing to do" bash -c "make -C examples sweep SHARDS=3 MCOMPRESS='$bin' OUT='$mk' SWEEP_FLAGS='$mkflags' | grep -q 'Nothing to be done'"
fi

finish
