"""`archlab launch --cluster local` returns at once; status/runs/cancel/resume on that run;
`--dry-run` and `archlab sbatch` print scripts and create nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from nas.controller import read_events
from tests.conftest import REPO
from tests.support.counting_evaluator import read_events_log

pytestmark = pytest.mark.integration


def _cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _wait(pred, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_launch_local_returns_at_once_then_cancel_and_resume(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": f"{work}:0.3", "PYTHONPATH": str(REPO)}
    root = tmp_path / "runs"
    t0 = time.monotonic()
    out = _cli("launch", "configs/demo.yaml", f"experiment.run_root={root}",
               "budget.candidates=12", "executor.max_in_flight=2", "executor.poll_interval_s=0.2",
               "--cluster", "local", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < 30  # it does not wait for the run
    assert "follow:   archlab status" in out.stdout
    (run_dir,) = root.iterdir()
    journal = run_dir / "journal.jsonl"
    _wait(lambda: sum(e["ev"] == "result" for e in read_events(journal)) >= 2, 120, "results")
    st = _cli("status", run_dir.name, "--runs-root", str(root))
    assert st.returncode == 0 and "evaluated" in st.stdout and "best val" in st.stdout, st.stderr
    cancel = _cli("cancel", run_dir.name, "--runs-root", str(root))
    assert cancel.returncode == 0, cancel.stderr
    _wait(lambda: any(e["ev"] == "stop" for e in read_events(journal)), 60, "the stop")
    assert read_events(journal)[-1]["reason"] == "cancelled"
    runs = _cli("runs", "--runs-root", str(root))
    assert run_dir.name in runs.stdout and "cancelled" in runs.stdout
    res = _cli("resume", run_dir.name, "--runs-root", str(root), "--cluster", "inprocess", env=env)
    assert res.returncode == 0, res.stderr
    evs = read_events(journal)
    assert evs[-1]["ev"] == "stop" and evs[-1]["reason"] == "done"
    done = Counter(c for k, c in read_events_log(work) if k == "done")
    assert len(done) == 12 and max(done.values()) == 1


def test_dry_run_prints_script_and_budget_and_creates_nothing(tmp_path):
    data = tmp_path.parent / f"{tmp_path.name}-data" / "cifar-100-python"
    data.mkdir(parents=True)
    for name in ("train", "test"):  # what the validation looks for (it never reads them)
        (data / name).write_bytes(b"")
    out = _cli("launch", "configs/nader_cifar100.yaml", "configs/site_example.yaml",
               f"experiment.run_root={tmp_path}", f"train.data_dir={data.parent}",
               "--dry-run")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "#SBATCH --signal=B:USR2@120" in out.stdout and "#SBATCH --requeue" in out.stdout
    assert "launcher controller" in out.stdout and "GPU-hours" in out.stdout
    assert "LLM ceiling:       50 USD" in out.stdout
    assert not any(tmp_path.iterdir())


def test_sbatch_command_embeds_the_resolved_config(tmp_path):
    out = _cli("sbatch", "configs/demo.yaml", f"experiment.run_root={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("#!/bin/bash") and "ARCHLAB_CONFIG" in out.stdout
    assert "--config" in out.stdout and "#SBATCH --requeue" in out.stdout
    assert not any(tmp_path.iterdir())
