# Sourced by the shell tests (tests/cli/*.sh, tests/ort/*.sh): a scratch folder removed on exit, the
# pass / fail counters, `check`, `missing_shared` and `finish`.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

check() {  # check DESCRIPTION COMMAND...: a plain assertion
  local what="$1"
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

# missing_shared WHAT: WHAT (shared data, ONNX Runtime) is absent: the test is skipped, or fails under
# MCOMPRESS_REQUIRE_SHARED=1 (scripts/test.sh, CI), never passes silently.
missing_shared() {
  if [ "${MCOMPRESS_REQUIRE_SHARED:-}" = 1 ]; then echo "FAIL: $1 not found (MCOMPRESS_REQUIRE_SHARED=1)"; exit 1; fi
  echo "$1 not found: skipped (MCOMPRESS_REQUIRE_SHARED=1 makes this a failure)"
  echo "0 passed, 0 failed"
  exit 0
}

finish() {  # the summary line; the exit status of the test
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
