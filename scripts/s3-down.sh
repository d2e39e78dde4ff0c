#!/usr/bin/env bash
# Stop the local S3 server started by scripts/s3-up.sh and delete its data
# (set ARCHLAB_S3_KEEP_DATA=1 to keep .work/s3/data).
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${ARCHLAB_S3_DIR:-.work/s3}
if [ -f "$dir/nanio.pid" ]; then
  pid=$(cat "$dir/nanio.pid")
  if kill -0 "$pid" 2>/dev/null && grep -qa nanio "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/nanio.pid" "$dir/port"
fi
[ "${ARCHLAB_S3_KEEP_DATA:-0}" = "1" ] || rm -rf "$dir/data"
echo "S3 server stopped"
