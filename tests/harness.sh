# Sourced by the shell tests (tests/cli/*.sh, tests/ort/*.sh): a scratch folder removed on exit, the
# pass / fail counters, `expect` (a CLI call: exit code, one error line, message), `check`,
# `missing_shared`, `need_shared`, `need_node` and `finish`.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect CODE PATTERN [STDIN] -- ARGS...: runs $bin, the mcompress under test (stdin from STDIN, else /dev/null), checks the
# exit code, that a failure prints exactly one line starting with "mcompress: error:", and PATTERN
# (grep -E) on stderr + stdout.
expect() {
  local code="$1" pattern="$2" input=/dev/null
  shift 2
  if [ "$1" != "--" ]; then input="$1"; shift; fi
  shift
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" <"$input"
  local got=$? ok=1
  [ "$got" -eq "$code" ] || ok=0
  if [ "$code" -ne 0 ]; then
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || ok=0
    grep -q '^mcompress: error: ' "$tmp/err" || ok=0
  fi
  if [ -n "$pattern" ]; then grep -Eq -- "$pattern" "$tmp/err" "$tmp/out" || ok=0; fi
  if [ "$ok" -eq 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: mcompress $* -> exit $got (want $code, /$pattern/)"
    sed 's/^/  stderr: /' "$tmp/err" | head -5
  fi
}

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

# need_shared PATH...: sets $shared (MCOMPRESS_SHARED_DIR, else ../shared, as tests/test_util.h) and
# stops through missing_shared when a PATH below it is missing. need_node: ONNX Runtime's node.
need_shared() {
  shared="${MCOMPRESS_SHARED_DIR:-$(pwd)/../shared}"
  local p
  for p in "$@"; do [ -e "$shared/$p" ] || missing_shared "$shared/$p"; done
}
need_node() { command -v node >/dev/null || { echo "FAIL: node is required (scripts/setup.sh --with-ort)"; exit 1; }; }

finish() {  # the summary line; the exit status of the test
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
