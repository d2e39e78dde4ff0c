"""Failures where users look: ``status`` shows the controller's last error and the top
failure kinds with an example; ``runs`` tells a crashed controller from a live one;
``controller`` exits 1 when no candidate completed; table runs print the test accuracy
after selection and label their GPU-hours as modelled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launcher.build import build_store
from launcher.config import load_config
from launcher.run import RunPaths, create_run
from nas.controller.journal import Journal
from nas.records import Candidate, TrialRecord, TrialState
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _failed_run(tmp_path: Path) -> RunPaths:
    cfg = load_config(overrides=[f"experiment.run_root={tmp_path / 'runs'}", "budget.candidates=3"])
    paths = create_run(cfg, cluster="local")
    cands = [Candidate("nb201", f"|arch{i}~0|", f"h{i}", seed=i) for i in range(3)]
    store = build_store(cfg, paths)
    store.append("candidates", paths.run_id, [c.to_row() for c in cands])
    errors = ["FileNotFoundError: CIFAR-10 not found: looked for data_batch_1",
              "FileNotFoundError: CIFAR-10 not found: looked for data_batch_1",
              "RuntimeError: CUDA out of memory"]  # fmt: skip
    now = time.time()
    recs = [TrialRecord(c.id, TrialState.FAILED, error=e, started_at=now, finished_at=now)
            for c, e in zip(cands, errors, strict=True)]  # fmt: skip
    store.append("trials", paths.run_id, [r.to_row() for r in recs])
    journal, _ = Journal.open(paths.run_dir / "journal.jsonl")
    with journal:
        journal.append("start", pid=1, host="h", slurm_job_id=None)
        journal.append("ask", ids=[c.id for c in cands], cands={c.id: c.to_row() for c in cands},
                       dups=[])  # fmt: skip
        for c in cands:
            journal.append("result", id=c.id, state="FAILED", val_acc=None)
    log = paths.logs / "controller.out"
    log.write_text(
        "archlab controller: run x (pid 1)\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n    boom()\n'
        "launcher.config.load.ConfigError: strategy.lapt.source_table is empty\n"
    )
    info = {"cluster": "local", "pid": 999999, "host": "elsewhere", "log": str(log), "time": 0}
    (paths.run_dir / "controller.json").write_text(json.dumps(info))
    return paths


def test_status_and_runs_show_the_failures(tmp_path: Path) -> None:
    paths = _failed_run(tmp_path)
    root = str(paths.run_dir.parent)
    out = _cli("status", paths.run_id, "--once", "--runs-root", root)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert (
        "last error: launcher.config.load.ConfigError: strategy.lapt.source_table is empty" in text
    )
    assert "no candidate completed (3 failed)" in text
    assert "failures:   2 FAILED FileNotFoundError: FileNotFoundError: CIFAR-10 not found" in text
    assert "1 FAILED RuntimeError: RuntimeError: CUDA out of memory" in text
    runs = _cli("runs", "--runs-root", root)
    assert "crashed (archlab resume)" in runs.stdout, runs.stdout


def test_controller_exits_1_when_no_candidate_completed(tmp_path: Path) -> None:
    cfg = load_config(overrides=[f"experiment.run_root={tmp_path / 'runs'}",
                                 "budget.candidates=2", "train.time_budget_s=0.000001",
                                 "space.nb201_channels=4"])  # fmt: skip
    paths = create_run(cfg, cluster="local")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = _cli("controller", str(paths.run_dir), "--quiet", "--no-requeue", env=env)
    assert out.returncode == 1, out.stderr[-2000:]
    assert f"no candidate of run {paths.run_id} completed (2 evaluated" in out.stderr
    assert "failures:" in out.stderr and "TIMEOUT" in out.stderr
    assert "Traceback" not in out.stderr


def test_table_run_prints_test_after_selection_and_modelled_cost(tmp_path: Path) -> None:
    table = Path(REPO.parent / "shared" / "data" / "nb201.parquet")
    if not table.is_file():
        table = Path("/work/shared/data/nb201.parquet")
    if not table.is_file():
        pytest.skip("the NB201 table is absent")
    root = tmp_path / "runs"
    out = _cli("launch", str(REPO / "configs" / "llmatic_nb201.yaml"), f"space.table={table}",
               "budget.candidates=12", f"experiment.run_root={root}",
               "--cluster", "inprocess")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (run,) = [p.name for p in root.iterdir()]
    best = _cli("best", run, "--runs-root", str(root))
    assert "test_acc 0." in best.stdout and "table lookup after selection" in best.stdout
    st = _cli("status", run, "--once", "--runs-root", str(root))
    assert "best test:  0." in st.stdout and "(modelled:" in st.stdout, st.stdout
