#!/usr/bin/env bash
# Create the project's virtual environment and install archlab with its test tools.
# CPU machines (no nvidia-smi) are pinned to the CPU torch wheel by constraints/cpu.txt;
# set ARCHLAB_CUDA=1 to skip the pin on a GPU machine (see README "Cluster install").
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
constraints=()
if [ "${ARCHLAB_CUDA:-0}" != "1" ]; then constraints=(-c constraints/cpu.txt); fi
# hnswlib builds from source: never bake -march=native into a wheel a cluster may reuse.
export HNSWLIB_NO_NATIVE=1
# DeepSpeed (the design card's distributed engine) is installed so that its engine test runs
# in every make test: DS_BUILD_OPS=0 builds none of its CUDA ops at install (~25 s, no CUDA
# needed); on CPU it runs single-process with gloo. A CUDA cluster installs the same extra
# (README "Cluster install"); its ops are then JIT-built on first use.
export DS_BUILD_OPS=${DS_BUILD_OPS:-0}
"$venv/bin/python" -m pip install -q "${constraints[@]}" -e '.[dev,deepspeed]'
touch "$venv/.installed"
echo "archlab environment ready in $venv"
