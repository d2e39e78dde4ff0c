#!/usr/bin/env bash
# The test command (README: `make test`): quality gates, then the test suite with the real
# services (local Slurm cluster, local S3 server) started by the project's own scripts.
set -uo pipefail
venv=${1:-.venv}; shift || true
cd "$(dirname "$0")/.."
export PATH="$PWD/$venv/bin:$PATH"
mkdir -p .work

# The local model's server install runs in the background from the start, niced, while lint
# and the other tests run: its first setup builds llama-cpp-python from source (~12 min on
# 2 cores with the multimodal library, ~6 min without; pip caches the wheel). The llm_live group runs last,
# once the install is done and the server is up (fresh clone, empty pip cache: 24 min in all,
# the build 354 s of it in the background; README "Tests").
llm_install_pid=""
if [ -x scripts/llm-up.sh ]; then
  llm_t0=$SECONDS
  nice -n 10 bash scripts/llm-up.sh --install-only >.work/llm-install.log 2>&1 &
  llm_install_pid=$!
fi

echo "== ruff (lint + format check)"
ruff check . || exit 1
ruff format --check . || exit 1
echo "== mypy"
mypy || exit 1

# Optional data: Fashion-MNIST from Debian (its real-file test skips when it is absent).
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing dataset-fashion-mnist (Debian)"
  { apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; } \
    >.work/apt-fashion-mnist.log 2>&1 || echo "   not installed (its test will skip): $(tail -n 1 .work/apt-fashion-mnist.log)"
fi

# Services: each script prints the environment its clients need (KEY=VALUE lines);
# a service that cannot start here leaves its tests to skip with the reason.
# llm: the local real model (scripts/llm-up.sh); its first setup builds llama-cpp-python
# from source (~12 min on 2 cores), later ones start in seconds; tests marked llm_live.
started=()
start_service() {
  local svc=$1 up="scripts/$1-up.sh" out
  [ -x "$up" ] || return 0
  echo "== starting $svc"
  if out=$(bash "$up" 2>.work/${svc}-up.err); then
    while IFS= read -r line; do
      case "$line" in *=*) export "$line" ;; esac
    done <<<"$out"
    started+=("$svc")
  else
    echo "   $svc could not start here (tests marked '$svc' will skip): $(tail -n 3 .work/${svc}-up.err)"
    export "ARCHLAB_${svc^^}_DOWN_REASON=$(tail -n 1 .work/${svc}-up.err)"
  fi
}
for svc in slurm s3 chromium; do start_service "$svc"; done

echo "== pytest (all but llm_live)"
python -m pytest -q -p no:cacheprovider -m "not llm_live" "$@" tests
rc=$?

if [ -n "$llm_install_pid" ]; then
  echo "== waiting for the local model's install (started $((SECONDS - llm_t0)) s ago; log .work/llm-install.log)"
  wait "$llm_install_pid" || echo "   the install failed: $(tail -n 2 .work/llm-install.log)"
  echo "   llm install done $((SECONDS - llm_t0)) s after the start of make test"
fi
t0=$SECONDS
start_service llm
[ -n "${ARCHLAB_LLM_BASE_URL:-}" ] && echo "   llm up in $((SECONDS - t0)) s"
echo "== pytest llm_live (the real local model)"
python -m pytest -q -p no:cacheprovider -m llm_live "$@" tests/live
rc_live=$?
[ $rc_live = 5 ] && rc_live=0  # "-k ..." that selects no live test
[ $rc = 0 ] && rc=$rc_live

for svc in "${started[@]}"; do
  bash "scripts/${svc}-down.sh" >/dev/null 2>&1 || true
done
exit $rc
