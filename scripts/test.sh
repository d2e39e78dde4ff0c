#!/usr/bin/env bash
# The test command (README: `make test`): quality gates, then the test suite with the real
# services (local Slurm cluster, local S3 server) started by the project's own scripts.
set -uo pipefail
venv=${1:-.venv}; shift || true
cd "$(dirname "$0")/.."
export PATH="$PWD/$venv/bin:$PATH"
mkdir -p .work

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
for svc in slurm s3 chromium llm; do
  up="scripts/${svc}-up.sh"
  [ -x "$up" ] || continue
  echo "== starting $svc"
  t0=$SECONDS
  if out=$(bash "$up" 2>.work/${svc}-up.err); then
    [ "$svc" = llm ] && echo "   llm up in $((SECONDS - t0)) s"
    while IFS= read -r line; do
      case "$line" in *=*) export "$line" ;; esac
    done <<<"$out"
    started+=("$svc")
  else
    echo "   $svc could not start here (tests marked '$svc' will skip): $(tail -n 3 .work/${svc}-up.err)"
    export "ARCHLAB_${svc^^}_DOWN_REASON=$(tail -n 1 .work/${svc}-up.err)"
  fi
done

echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@" tests
rc=$?

for svc in "${started[@]}"; do
  bash "scripts/${svc}-down.sh" >/dev/null 2>&1 || true
done
exit $rc
