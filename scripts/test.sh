#!/usr/bin/env bash
# README command 2 (and CI): install what is missing, build, run every test; then the same suite
# under AddressSanitizer + UndefinedBehaviorSanitizer. Chromium is installed so the CLI test renders
# every HTML report it writes in headless Chromium (scripts/check_html.sh), not only checks its text.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-ort --with-chromium --with-slurm
jobs="$(nproc 2>/dev/null || echo 2)"
export MCOMPRESS_REQUIRE_CHROMIUM=1
# Tests that need ../shared fail when it is missing instead of skipping (tests/test_util.h need_shared).
export MCOMPRESS_REQUIRE_SHARED=1

scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
ctest --test-dir build --output-on-failure -j "$jobs"

# Sanitizer build: separate tree, line tables (-g1) for readable reports; -O1 and no benchmarks keep
# CI time down (compiling this tree at -O2 -g took twice as long, 10.5 against 5.3 minutes on 2 cores,
# to save half a minute of test time). -march=native as in Release: the vectorized kernels make the
# sanitized CLI runs 1.4-1.7x faster (hybrid compress of the bundled model 35 -> 26 s, sparse 103 -> 60 s).
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DMCOMPRESS_SANITIZE=ON -DMCOMPRESS_BENCH=OFF
# ONNX Runtime comparisons (label ort: numbers, the same as in the Release tree), the Slurm cluster
# test (label cluster: the same binary paths as cli_shard) and the whole-run CLI suites (label
# whole_runs: byte identity of complete runs, 4-5 minutes under the sanitizers; tests/CMakeLists.txt)
# run in the Release tree only.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE 'ort|cluster|whole_runs'
