#!/usr/bin/env bash
# The faults a cluster brings (docs/SIGNALS.md): SIGINT / SIGTERM at several points of a long compress
# and while its output is being written, SIGKILL leaving a temporary file the next run removes, a write
# cut short by the file-size limit, a full device, a full folder, a read-only folder (also one made
# read-only during the run), and two runs writing the same output. After each: the exit code, no
# temporary file in the output folder, and an output that is absent or whole.
# Usage: run_fault_tests.sh PATH/TO/mcompress. Runs from the repository root (ctest sets it).
set -u
bin="${1:?usage: run_fault_tests.sh MCOMPRESS_BINARY}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"  # wrappers below exec it from elsewhere
model=examples/mobilenet_v1_0.25_224.onnx
images=examples/images
. "$(dirname "$0")/../harness.sh" || exit 1
real_bin="$bin"

# --- helpers
no_temporaries() { [ -z "$(find "$1" -name '*.mcompress-tmp-*' 2>/dev/null)" ]; }
loads() { "$real_bin" info "$1" >/dev/null 2>&1; }
# whole_or_absent MCZ [REPORT]: neither file, or a .mcz that loads (and its report beside it)
whole_or_absent() {
  if [ ! -e "$1" ]; then [ -z "${2:-}" ] || [ ! -e "$2" ]; return; fi
  loads "$1" && { [ -z "${2:-}" ] || [ -s "$2" ]; }
}
signal_code() { case "$1" in INT) echo 130 ;; TERM) echo 143 ;; KILL) echo 137 ;; esac; }
# A background job of a non-interactive shell ignores SIGINT, and mcompress keeps an inherited
# "ignored": env --default-signal gives the job the default back, as an interactive shell would.
if env --default-signal=INT true 2>/dev/null; then
  launch=(env --default-signal=INT)
  signals=(TERM INT)
else
  echo "env --default-signal not available: SIGINT cases run as SIGTERM"
  launch=()
  signals=(TERM TERM)
fi
have_strace=0
if command -v strace >/dev/null 2>&1 && strace -f -o /dev/null true 2>/dev/null; then have_strace=1; else
  echo "strace not available or not permitted: the signals while writing are skipped (scripts/setup.sh installs strace)"
fi

long=(compress "$model" --recipe hybrid --calib "$images" --preprocess keras --eval-images "$images" --quiet --force)
quick=(compress "$model" --recipe fp16 --quiet)

# --- a signal at several points of a long compress (reading, calibrating, searching, evaluating,
# writing): 130 / 143, or 0 when it finished first; no temporary file; the .mcz and its report both
# in place and whole, or neither.
i=0
for delay in 0.05 0.4 1 2 3.5; do
  sig="${signals[$((i % 2))]}"
  d="$tmp/signal$i"
  mkdir -p "$d"
  "${launch[@]}" "$bin" "${long[@]}" -o "$d/out.mcz" --report "$d/out.json" 2>"$d/err" &
  pid=$!
  sleep "$delay"
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  code=$?
  echo "SIG$sig after $delay s: exit $code"
  check "SIG$sig after $delay s: exit $(signal_code "$sig") or 0 (got $code)" test "$code" -eq "$(signal_code "$sig")" -o "$code" -eq 0
  check "SIG$sig after $delay s: no temporary file" no_temporaries "$d"
  check "SIG$sig after $delay s: output and report whole, or neither" whole_or_absent "$d/out.mcz" "$d/out.json"
  [ "$code" -ne 0 ] || check "SIG$sig after $delay s: finished, so the output is there" loads "$d/out.mcz"
  i=$((i + 1))
done

# --- a signal while the output is being written: strace sends it when mcompress calls fsync on a
# temporary file (complete, not yet renamed); the first fsync is the .mcz's, the second the report's.
# signal_at_fsync SIG N ARGS...: runs mcompress ARGS, with SIG sent at its N-th fsync.
signal_at_fsync() {
  local sig="$1" nth="$2"
  shift 2
  strace -f -o /dev/null -e trace=fsync -e "inject=fsync:signal=$sig:when=$nth" "${launch[@]}" "$bin" "$@" 2>/dev/null
}
if [ "$have_strace" -eq 1 ]; then
  for sig in "${signals[@]}"; do
    for nth in 1 2; do
      d="$tmp/writing-$sig-$nth"
      mkdir -p "$d"
      signal_at_fsync "$sig" "$nth" "${quick[@]}" --report "$d/out.json" -o "$d/out.mcz" 2>/dev/null
      code=$?
      check "SIG$sig at fsync $nth: exit $(signal_code "$sig") (got $code)" test "$code" -eq "$(signal_code "$sig")"
      check "SIG$sig at fsync $nth: nothing in the folder, neither temporary file nor output" test -z "$(ls -A "$d")"
    done
  done

  # SIGKILL cannot be caught: the temporary file stays, named after the output with the writer's
  # host and PID, and the next write into that folder removes it (a live writer's, or another
  # host's recent one, is left alone).
  d="$tmp/killed"
  mkdir -p "$d"
  signal_at_fsync KILL 1 "${quick[@]}" -o "$d/out.mcz" 2>/dev/null
  code=$?
  temporary="$(ls -A "$d")"
  check "SIGKILL while writing: exit 137 (got $code)" test "$code" -eq 137
  check "SIGKILL while writing: one temporary file left, OUT.mcompress-tmp-HOST-PID-N ($temporary)" \
    sh -c "echo '$temporary' | grep -Eqx 'out\.mcz\.mcompress-tmp-[A-Za-z0-9._]+-[0-9]+-[0-9]+'"
  host="${temporary#out.mcz.mcompress-tmp-}"
  host="${host%-*-*}"
  printf 'partial' >"$d/other.mcz.mcompress-tmp-elsewhere$host-$$-0"  # another host's, recent: kept
  printf 'partial' >"$d/live.mcz.mcompress-tmp-$host-$$-0"             # this shell is alive: kept
  expect 0 "" -- "${quick[@]}" -o "$d/next.mcz"
  check "the next run in the folder removed the killed run's temporary file" test ! -e "$d/$temporary"
  check "... and left a live writer's and another host's alone" \
    test -e "$d/other.mcz.mcompress-tmp-elsewhere$host-$$-0" -a -e "$d/live.mcz.mcompress-tmp-$host-$$-0"
  check "... and wrote its output" loads "$d/next.mcz"
fi

# --- the file-size limit (ulimit -f 200: 200 KiB, the .mcz is 800 KB): exit 5, not SIGXFSZ
d="$tmp/ulimit"
mkdir -p "$d"
printf '#!/bin/sh\nulimit -f 200\nexec "%s" "$@"\n' "$real_bin" >"$tmp/limited"
chmod +x "$tmp/limited"
bin="$tmp/limited"
expect 5 "^mcompress: error: $d/x.mcz: cannot write: File too large$" -- "${quick[@]}" -o "$d/x.mcz"
expect 5 "x.onnx: cannot write: File too large" -- export "$model" -o "$d/x.onnx"
bin="$real_bin"
check "ulimit -f: nothing left in the folder" test -z "$(ls -A "$d")"

# --- a full device: written in place (no temporary, never replaced), ENOSPC is exit 5
if [ -c /dev/full ]; then
  expect 5 "^mcompress: error: /dev/full: cannot write: No space left on device$" -- "${quick[@]}" -o /dev/full
  expect 5 "/dev/full: cannot write: No space left on device" -- export "$model" -o /dev/full
  "$bin" "${quick[@]}" -o "$tmp/small.mcz"
  expect 5 "/dev/full: cannot write: No space left on device" -- report "$tmp/small.mcz" --html /dev/full
  for args in "${quick[*]} -o -" "info $model --json" "report $tmp/small.mcz"; do
    # shellcheck disable=SC2086
    "$bin" $args >/dev/full 2>"$tmp/err"
    code=$?
    check "mcompress $args >/dev/full: exit 5, one error line (got $code)" \
      test "$code" -eq 5 -a "$(wc -l <"$tmp/err")" -eq 1
    check "mcompress $args >/dev/full: says stdout cannot be written" grep -q '^mcompress: error: <stdout>: cannot write: ' "$tmp/err"
  done
  check "/dev/full is still a device" test -c /dev/full
  ls /dev | grep -F .mcompress-tmp- >"$tmp/dev_temporaries"
  check "no temporary file in /dev" test ! -s "$tmp/dev_temporaries"
fi
expect 0 "" -- "${quick[@]}" -o /dev/null
check "/dev/null is still a device" test -c /dev/null

# --- a full folder and a read-only folder. Tests run as root, whom file modes do not stop: the
# folder gets a file system of its own (a 128 KiB tmpfs; a read-only bind mount) in a private mount
# namespace (unshare -m), else (read-only only) the immutable attribute (chattr +i).
can_mount=0
mkdir -p "$tmp/probe"
if command -v unshare >/dev/null 2>&1 && unshare -m sh -c "mount -t tmpfs -o size=64k probe '$tmp/probe'" 2>/dev/null; then
  can_mount=1
fi
if [ "$can_mount" -eq 1 ]; then
  d="$tmp/full"
  mkdir -p "$d"
  # Runs mcompress with $d replaced by a 128 KiB file system, and lists what is left in it.
  cat >"$tmp/in_full_folder" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount -t tmpfs -o size=128k mcompress-full "$d" || exit 97
"\$@"; code=\$?; ls -A "$d" >"$tmp/full_listing"; exit \$code' sh "$real_bin" "\$@"
EOF
  chmod +x "$tmp/in_full_folder"
  bin="$tmp/in_full_folder"
  expect 5 "^mcompress: error: $d/x.mcz: cannot write: No space left on device$" -- "${quick[@]}" -o "$d/x.mcz"
  check "full folder: nothing left in it" test ! -s "$tmp/full_listing"
  expect 5 "x.onnx.data: cannot write: No space left on device" -- export "$model" -o "$d/x.onnx" --external-data
  check "full folder, two files: nothing left in it" test ! -s "$tmp/full_listing"
  bin="$real_bin"

  d="$tmp/readonly"
  mkdir -p "$d"
  cat >"$tmp/in_readonly_folder" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 97
exec "\$@"' sh "$real_bin" "\$@"
EOF
  # The folder becomes read-only while the long compress runs (after the checks at its start).
  cat >"$tmp/readonly_during_run" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind "$d" "$d" || exit 97
"\$@" & job=\$!; sleep 1; mount -o remount,bind,ro "$d"; wait \$job' sh "$real_bin" "\$@"
EOF
  chmod +x "$tmp/in_readonly_folder" "$tmp/readonly_during_run"
  bin="$tmp/in_readonly_folder"
  expect 5 "^mcompress: error: $d/x.mcz: cannot write: directory .* is not writable$" -- "${quick[@]}" -o "$d/x.mcz"
  bin="$tmp/readonly_during_run"
  expect 5 "^mcompress: error: $d/x.mcz: cannot write: (Read-only file system|directory .* is not writable)$" -- "${long[@]}" -o "$d/x.mcz"
  bin="$real_bin"
  check "read-only folder: nothing in it" test -z "$(ls -A "$d")"
else
  echo "mount namespaces not permitted: the full-folder case is skipped"
  d="$tmp/readonly"
  mkdir -p "$d"
  if chattr +i "$d" 2>/dev/null; then
    expect 5 "^mcompress: error: $d/x.mcz: cannot write: directory .* is not writable$" -- "${quick[@]}" -o "$d/x.mcz"
    chattr -i "$d"
    check "read-only folder: nothing in it" test -z "$(ls -A "$d")"
  else
    echo "neither a read-only mount nor chattr +i is possible here: the read-only folder case is skipped"
  fi
fi

# --- two runs writing the same output: each writes its own temporary file and renames it, so the
# output is one whole file, byte for byte one of the two. The two differ only in the stored
# preprocessing, so they take the same time and their writes meet. Without --force, the second to
# finish is refused ("already exists", exit 5) and the first one's file stays.
d="$tmp/race"
mkdir -p "$d"
"$bin" "${quick[@]}" -o "$d/out.mcz" && mv "$d/out.mcz" "$tmp/plain.mcz"
"$bin" "${quick[@]}" --preprocess keras -o "$d/out.mcz" && mv "$d/out.mcz" "$tmp/keras.mcz"
differ() { ! cmp -s "$1" "$2"; }
check "the two runs' outputs differ" differ "$tmp/plain.mcz" "$tmp/keras.mcz"
for round in 1 2 3; do
  "$bin" "${quick[@]}" --force -o "$d/out.mcz" 2>"$tmp/race_a.err" &
  a=$!
  "$bin" "${quick[@]}" --force --preprocess keras -o "$d/out.mcz" 2>"$tmp/race_b.err" &
  b=$!
  wait "$a"; code_a=$?
  wait "$b"; code_b=$?
  check "race $round, --force: both succeed (got $code_a $code_b)" test "$code_a" -eq 0 -a "$code_b" -eq 0
  check "race $round, --force: the output is one of the two, byte for byte" \
    sh -c "cmp -s '$d/out.mcz' '$tmp/plain.mcz' || cmp -s '$d/out.mcz' '$tmp/keras.mcz'"
  check "race $round: no temporary file" no_temporaries "$d"
done
rm -f "$d/out.mcz"
"$bin" "${quick[@]}" -o "$d/out.mcz" 2>"$tmp/race_a.err" &
a=$!
"$bin" "${quick[@]}" --preprocess keras -o "$d/out.mcz" 2>"$tmp/race_b.err" &
b=$!
wait "$a"; code_a=$?
wait "$b"; code_b=$?
check "race without --force: one succeeds, the other is refused (got $code_a $code_b)" \
  test "$((code_a + code_b))" -eq 5 -a "$((code_a * code_b))" -eq 0
winner="$tmp/plain.mcz"
[ "$code_b" -eq 0 ] && winner="$tmp/keras.mcz"
check "race without --force: the output is the winner's, byte for byte" cmp -s "$d/out.mcz" "$winner"
check "race without --force: the loser says so" grep -qh "out.mcz: already exists (use --force to overwrite)" "$tmp/race_a.err" "$tmp/race_b.err"
check "race without --force: no temporary file" no_temporaries "$d"

finish
