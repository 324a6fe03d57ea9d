#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in build-fuzz, then runs each
# for SECONDS (default 60) on a fresh copy of its seed corpus (tests/fuzz/corpus/<format>, plus any
# saved findings in tests/fuzz/regressions/<format>). Prints each target's iteration count ("Done N
# runs in S second(s)") and exits non-zero if a target finds a crash, a hang or an oversized
# allocation; the input that caused it is saved in build-fuzz/findings/<format>/.
# Usage: scripts/fuzz.sh [SECONDS]
#
# A finding is fixed by fixing the reader and copying the input to tests/fuzz/regressions/<format>/,
# where `mcompress_tests --test-case='test_mutation: fuzz corpora*'` replays it in every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
dir=build-fuzz
jobs="$(nproc 2>/dev/null || echo 2)"

CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DMCOMPRESS_FUZZ=ON -DMCOMPRESS_TESTS=OFF \
  -DMCOMPRESS_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$jobs" --target fuzz_mcz fuzz_onnx

status=0
for format in mcz onnx; do
  work="$dir/run/$format"
  findings="$dir/findings/$format"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$findings"
  cp tests/fuzz/corpus/"$format"/* "$work/corpus/"
  if [ -d tests/fuzz/regressions/"$format" ]; then cp tests/fuzz/regressions/"$format"/* "$work/corpus/" 2>/dev/null || true; fi
  seeds="$(ls "$work/corpus" | wc -l)"
  log="$work/fuzz.log"
  set +e
  # -malloc_limit_mb: no input here justifies a single 512 MiB allocation (the targets cap decoding).
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/tests/fuzz/fuzz_$format" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$findings/" "$work/corpus" >"$log" 2>&1
  rc=$?
  set -e
  done_line="$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1 || true)"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz_$format: FAILED (exit $rc) after $(grep -oE '^#[0-9]+' "$log" | tail -1 || echo '?') runs; log: $log"
    grep -E "^==[0-9]+==(ERROR|WARNING)|SUMMARY|runtime error|mc::Error of kind|uncaught exception|Test unit written" "$log" | head -20 || true
    status=1
  else
    echo "fuzz_$format: $done_line (from $seeds seeds; corpus now $(ls "$work/corpus" | wc -l) inputs)"
  fi
done
exit "$status"
