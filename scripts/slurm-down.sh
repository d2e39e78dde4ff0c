#!/usr/bin/env bash
# Stop the single-node cluster started by scripts/slurm-up.sh (by its pid files only).
# Keeps the installed packages and the MariaDB data directory; ARCHLAB_SLURM_PURGE=1 also
# removes the state directory (the next slurm-up.sh then starts from scratch).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ARCHLAB_SLURM_DIR:-$repo/.work/slurm}

stop() {  # stop NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL
  local name=$1 pidfile=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    echo "slurm-down: stopping $name ($pid)" >&2
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}

if [ -f "$dir/etc/slurm.conf" ] && command -v scancel >/dev/null; then
  SLURM_CONF=$dir/etc/slurm.conf timeout 10 scancel --user=root >/dev/null 2>&1 || true
fi
stop slurmd "$dir/run/slurmd.pid"
stop slurmctld "$dir/run/slurmctld.pid"
stop slurmdbd "$dir/run/slurmdbd.pid"
stop mariadbd "$dir/run/mysqld.pid"
# munged is shared with anything else on the machine that uses munge: left running.
if [ "${ARCHLAB_SLURM_PURGE:-0}" = "1" ]; then rm -rf "$dir"; fi
exit 0
