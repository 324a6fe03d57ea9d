#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for trying and testing the job scripts of
# examples/slurm/ (Debian packages slurm-wlm and munge; needs root, as slurmd does).
#   scripts/slurm_local.sh start DIR   writes DIR/slurm.conf, starts munged (if not running), slurmctld and
#                                      slurmd; prints the line to export (SLURM_CONF=DIR/slurm.conf)
#   scripts/slurm_local.sh stop DIR    stops the daemons started from DIR
# Everything Slurm writes (state, spool, logs, pid files) stays in DIR; nothing under /etc is changed.
set -euo pipefail
cmd="${1:-}" dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: slurm_local.sh start|stop DIR" >&2; exit 2; }
for tool in slurmctld slurmd munged scontrol sinfo; do
  command -v "$tool" >/dev/null || { echo "slurm_local: $tool not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
conf="$dir/slurm.conf"

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; rm -f "$dir/$d.pid"; fi
  done
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: slurm_local.sh start|stop DIR" >&2; exit 2 ;;
esac

host="$(hostname -s)"
# Ports derived from DIR, so two clusters in two folders (two test runs) do not collide.
port=$((17000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 4000 * 2))
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat >"$conf" <<CONF
# Written by scripts/slurm_local.sh: one node, this machine.
ClusterName=mcompress-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$port
SlurmdPort=$((port + 1))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then runuser -u munge -- /usr/sbin/munged; else /usr/sbin/munged --force; fi
fi
stop
slurmctld -f "$conf"
slurmd -f "$conf"
# Wait for the node to be usable (at most 30 s).
for _ in $(seq 60); do
  state="$(SLURM_CONF="$conf" sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)"
  case "$state" in idle|mix|alloc) echo "export SLURM_CONF=$conf"; exit 0 ;; esac
  sleep 0.5
done
echo "slurm_local: the node did not come up (state '${state:-none}'); see $dir/log/" >&2
exit 1
