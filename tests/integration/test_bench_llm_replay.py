"""``bench/bench_llm_strategies.py --mode replay`` reproduces the recorded real-model LAPT
run (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, llama-cpp-python, temperature 0) from the
committed cassette, without the model: same answers, same proposals, same figures."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_llm_strategies", ROOT / "bench" / "bench_llm_strategies.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_replay_reproduces_the_recorded_lapt_run(tmp_path: Path) -> None:
    table = shared_path("data", "nb201.parquet")
    cassette = tmp_path / "cassette.json"
    shutil.copy(RESULTS / "real_llm_cassette.json", cassette)
    recorded = json.loads((RESULTS / "real_llm_strategies.json").read_text())
    budget = recorded["lapt"]["config"]["lapt_budget"]
    out = tmp_path / "replay"
    rc = _bench().main(
        ["--table", str(table), "--mode", "replay", "--cassette", str(cassette),
         "--parts", "lapt", "--seeds", "2", "--targets", "cifar10",
         "--lapt-budget", str(budget), "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    got = json.loads(out.with_suffix(".json").read_text())
    want = recorded["lapt"]["targets"]["cifar10"]["llm"][:2]
    keys = ("seed", "arch", "evals_to_best_val", "test_acc", "evaluations", "principle_steps")
    assert [{k: s[k] for k in keys} for s in got["lapt"]["targets"]["cifar10"]["llm"]] == [
        {k: s[k] for k in keys} for s in want
    ]
    cost = got["cost"]["LAPT"]
    assert cost["live_calls"] == 0 and cost["replayed_calls"] == cost["calls"] == 4
    assert cost["failed_calls"] == 0
    assert "answers" in got["lapt"] and "llmatic" not in got
