#!/usr/bin/env bash
# Stop the model server scripts/llm-up.sh started from this checkout (ARCHLAB_LLM_DIR).
# Keeps the venv and the verified model, so the next llm-up.sh starts in seconds.
# A server that was not started from this directory is left alone.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ARCHLAB_LLM_DIR:-$repo/.work/llm}
log() { echo "llm-down: $*" >&2; }

[ -f "$dir/server.pid" ] || { log "no server started from $dir"; exit 0; }
pid=$(cat "$dir/server.pid")
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q llama_cpp.server; then
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  log "stopped the model server (pid $pid)"
else
  log "the server of $dir (pid $pid) was not running"
fi
rm -f "$dir/server.pid" "$dir/port"
