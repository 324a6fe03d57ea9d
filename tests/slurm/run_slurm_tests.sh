#!/usr/bin/env bash
# The Slurm recipes of examples/slurm/ on a real single-node cluster (scripts/slurm_local.sh: slurmctld
# and slurmd on this machine, munge authentication; needs root and the packages slurm-wlm and munge,
# which scripts/setup.sh installs):
#   - submit.sh: a job array of 3 sweep shards of the bundled example and a dependent merge job; the
#     merged CSV, JSON and HTML are byte-identical to the unsharded sweep's;
#   - batch.sbatch: the batch Makefile inside one allocation, each compress a job step.
# Usage: run_slurm_tests.sh PATH/TO/mcompress   (from the repository root, as ctest runs it)
set -u
bin="${1:?usage: run_slurm_tests.sh MCOMPRESS_BINARY}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
. "$(dirname "$0")/../harness.sh" || exit 1
for tool in sbatch slurmctld slurmd munged; do command -v "$tool" >/dev/null || missing_shared "$tool (packages slurm-wlm, munge)"; done
[ "$(id -u)" = 0 ] || missing_shared "root (slurmd runs jobs as their user)"

cluster="$tmp/cluster"
trap 'scripts/slurm_local.sh stop "$cluster" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
if ! line="$(scripts/slurm_local.sh start "$cluster" 2>"$tmp/start.err")"; then
  echo "FAIL: the local cluster did not start: $(head -c 300 "$tmp/start.err")"; tail -5 "$cluster"/log/*.log 2>/dev/null; exit 1
fi
export SLURM_CONF="${line#export SLURM_CONF=}"

# wait_job ID: until the job leaves the queue (at most 240 s); prints its final state.
wait_job() {
  local state=""
  for _ in $(seq 480); do
    state="$(scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ')"
    case "$state" in *PENDING*|*RUNNING*|*CONFIGURING*|*COMPLETING*|"") sleep 0.5 ;; *) break ;; esac
  done
  echo "${state% }"
}

# --- a sharded sweep: job array + dependent merge
out="$tmp/sweep"
cat >"$tmp/sweep.conf" <<CONF
MCOMPRESS="$bin"
MODEL=examples/mobilenet_v1_0.25_224.onnx
SWEEP_ARGS=(--calib examples/images --eval-images examples/images --preprocess keras
            --recipes fp16,int8,hybrid --budgets hybrid:ternary-fraction=0.1,0.3 --calib-count 8 --eval-limit 4)
SHARDS=3
OUT="$out"
CONF
submitted="$(examples/slurm/submit.sh "$tmp/sweep.conf" 2>&1)"
check "submit.sh submits the array and the merge ($submitted)" grep -Eq '^sweep array job [0-9]+ \(3 tasks\), merge job [0-9]+' <<<"$submitted"
array="$(sed -n 's/^sweep array job \([0-9]*\).*/\1/p' <<<"$submitted")"
merge="$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' <<<"$submitted")"
array_state="$(wait_job "${array:-0}")"
merge_state="$(wait_job "${merge:-0}")"
check "every array task completed ($array_state)" test "$array_state" = COMPLETED
check "the merge job completed ($merge_state)" test "$merge_state" = COMPLETED
for k in 1 2 3; do check "array task $k wrote its part" test -s "$out/part$k.json"; done
# The same sweep unsharded, from the same folder with the same paths (the rows' commands name them).
. "$tmp/sweep.conf"
"$bin" sweep "$MODEL" "${SWEEP_ARGS[@]}" -o "$tmp/u.csv" -o "$tmp/u.json" --html "$tmp/u.html" --quiet
for ext in csv json html; do check "Slurm sweep: $ext byte-identical to the unsharded run" cmp -s "$out/sweep.$ext" "$tmp/u.$ext"; done

# --- the batch Makefile inside one allocation (each compress a job step)
if sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$tmp/batch.out" examples/slurm/batch.sbatch \
     MCOMPRESS="$bin" OUT="$tmp/batch" RECIPES="fp16 int8" FLAGS="--calib-count 4 --eval-limit 4" >/dev/null 2>"$tmp/batch.err"; then rc=0; else rc=$?; fi
check "batch.sbatch: make succeeded inside the allocation (exit $rc: $(tail -c 300 "$tmp/batch.out" 2>/dev/null))" test "$rc" -eq 0
check "batch.sbatch: both jobs ok in the summary" test "$(grep -c $'\tok\t' "$tmp/batch/summary.tsv" 2>/dev/null)" -eq 2

finish
