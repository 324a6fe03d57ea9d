#!/usr/bin/env bash
# Submits a sharded sweep to Slurm: a job array of SHARDS tasks (sweep.sbatch, one shard each) and a
# merge job that starts once they have all succeeded (merge.sbatch). Prints the two job ids.
#   examples/slurm/submit.sh [CONFIG]      (default examples/slurm/sweep.conf; run from the folder the
#                                           paths in CONFIG are relative to)
set -euo pipefail
here="$(dirname "$0")"
conf="${1:-$here/sweep.conf}"
# shellcheck source=sweep.conf
. "$conf"
mkdir -p "$OUT"  # the jobs' logs go there too
array="$(sbatch --parsable --array="1-$SHARDS" --output="$OUT/slurm-%x-%A_%a.out" "$here/sweep.sbatch" "$conf")"
merge="$(sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes --output="$OUT/slurm-%x-%j.out" \
  "$here/merge.sbatch" "$conf")"
echo "sweep array job ${array%%;*} ($SHARDS tasks), merge job ${merge%%;*}: results in $OUT/sweep.csv, $OUT/sweep.html"
