"""`archlab status RUN` shows the controller's re-attach/resubmit counts (from the journal)
and the LLM spend of the run (the store's llm_calls) beside progress, best and GPU-hours."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from launcher.build import build_store
from launcher.commands import status as status_cmd
from launcher.config import load_config
from launcher.run import RunPaths, create_run
from nas.controller.journal import Journal
from nas.records import Candidate
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _llm_row(i: int, usd: float) -> dict[str, object]:
    return {"call_id": f"c{i}", "agent": "lapt", "model": "m", "tokens_in": 10,
            "tokens_out": 5, "cost_usd": usd, "status": "ok", "created_at": time.time()}  # fmt: skip


def _run(tmp_path: Path) -> tuple[Any, RunPaths, Any]:
    cfg = load_config(overrides=[f"experiment.run_root={tmp_path / 'runs'}", "budget.candidates=4"])
    paths = create_run(cfg, cluster="local")
    cands = [Candidate("nb201", f"|arch{i}~0|", f"h{i}", seed=i) for i in range(3)]
    ids = [c.id for c in cands]
    journal, _ = Journal.open(paths.run_dir / "journal.jsonl")
    with journal:
        journal.append("start", pid=1, host="h", slurm_job_id=None)
        journal.append("ask", ids=ids, cands={c.id: c.to_row() for c in cands}, dups=[])
        journal.append("submit", ids=ids, jobs=["7_0", "7_1", "7_2"], refs=[{}, {}, {}])
        journal.append("result", id=ids[0], state="COMPLETE", val_acc=0.9, gpu_s=3600.0)
        journal.append("start", pid=2, host="h", slurm_job_id=None)  # a restart:
        journal.append("attach", ids=ids[1:], jobs=["7_1", "7_2"])  # two re-attached,
        journal.append("resubmit", ids=ids[2:], why="lost")  # one of them was lost
    store = build_store(cfg, paths)
    store.append("llm_calls", paths.run_id, [_llm_row(0, 0.25), _llm_row(1, 1.0)])
    return cfg, paths, store


def test_status_shows_reattached_resubmitted_and_llm_spend(tmp_path: Path) -> None:
    _, paths, _ = _run(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "status", paths.run_id, "--once",
         "--runs-root", str(paths.run_dir.parent)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "progress:   1/4 evaluated" in out.stdout and "GPU-hours:  1.00" in out.stdout
    assert "restarts:   2 re-attached to their jobs, 1 resubmitted" in out.stdout, out.stdout
    assert "LLM calls:  2 calls, $1.25" in out.stdout, out.stdout


def test_live_view_rereads_the_store_only_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, paths, store = _run(tmp_path)
    cache: dict[str, object] = {}
    text, over = status_cmd.status_text(paths, with_controller=False, cache=cache)
    assert "2 calls, $1.25" in text and not over
    store.append("llm_calls", paths.run_id, [_llm_row(2, 2.0)])
    assert "2 calls, $1.25" in status_cmd.status_text(paths, False, cache)[0]  # cached
    monkeypatch.setattr(status_cmd, "STORE_REFRESH_S", 0.0)
    assert "3 calls, $3.25" in status_cmd.status_text(paths, False, cache)[0]


def test_an_unreadable_store_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, paths, _ = _run(tmp_path)

    def broken(*_a: object, **_k: object) -> object:
        raise OSError("bucket unreachable")

    monkeypatch.setattr("launcher.build.build_store", broken)
    assert status_cmd.llm_spend(cfg, paths) == "unknown (store: OSError: bucket unreachable)"
    assert "restarts:   2 re-attached" in status_cmd.status_text(paths, False)[0]
