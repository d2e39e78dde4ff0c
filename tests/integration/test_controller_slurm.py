"""On the real Slurm cluster: launch -> controller job -> array tasks -> results; the
controller job gets USR2, requeues itself, re-attaches to its array tasks (still running:
none starts twice), and the run completes; cancel leaves no job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nas.controller import read_events
from slurm.cluster import SlurmClient
from store.result_store import LocalResultStore
from tests.conftest import REPO
from tests.support import cluster_calls as T
from tests.support.counting_evaluator import read_events_log

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slurm,
    pytest.mark.skipif(bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"),
    pytest.mark.timeout(600),
]

SITE = [
    "executor.site.time=00:05:00",
    "executor.site.cpus_per_task=1",
    "executor.site.mem=200M",
    "executor.site.signal_delay_s=30",
    "executor.site.controller_time=00:10:00",
    "executor.poll_interval_s=1",
]


def _launch(tmp_path: Path, name: str, n: int, seconds: float) -> tuple[Path, str]:
    work = tmp_path / f"work-{name}"
    work.mkdir()
    cfgfile = tmp_path / f"{name}.yaml"
    cfgfile.write_text(f"experiment:\n  name: {name}\n  run_root: {tmp_path / 'runs'}\n")
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": f"{work}:{seconds}", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "launch", str(cfgfile),
         f"budget.candidates={n}", "executor.max_in_flight=4", *SITE, "--cluster", "slurm"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (run_dir,) = (
        (tmp_path / "runs").iterdir()
        if name == "usr2"
        else [d for d in (tmp_path / "runs").iterdir() if d.name.startswith(name)]
    )
    info = json.loads((run_dir / "controller.json").read_text())
    return run_dir, str(info["job_id"])


def _wait(pred, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _events(run_dir: Path) -> list[dict]:
    return read_events(run_dir / "journal.jsonl")


def test_launch_usr2_requeue_completes(tmp_path):
    n, seconds = 4, 24.0  # the tasks outlive the controller's requeue (~12 s)
    run_dir, job = _launch(tmp_path, "usr2", n, seconds)
    work = tmp_path / "work-usr2"
    _wait(lambda: sum(k == "start" for k, _ in read_events_log(work)) >= 4, 120, "4 task starts")
    SlurmClient().cancel([f"{job}_0"], signal="USR2")
    _wait(lambda: any(e["ev"] == "stop" and e["reason"] == "done" for e in _events(run_dir)),
          400, "the requeued controller to finish")  # fmt: skip
    evs = _events(run_dir)
    stops = [e["reason"] for e in evs if e["ev"] == "stop"]
    assert stops[0].startswith("interrupted:SIGUSR2") and stops[-1] == "done", stops
    starts = [e for e in evs if e["ev"] == "start"]
    assert len(starts) >= 2
    trials = LocalResultStore(run_dir / "tables").read("trials", run_dir.name).to_pylist()
    per = Counter(r["candidate_id"] for r in trials)
    assert len(per) == n and set(per.values()) == {1}
    # the array tasks were re-attached, not re-run: one evaluator start per candidate, no
    # second call, and the re-attached ones finished after the restart (they were running)
    attached = [cid for e in evs if e["ev"] == "attach" for cid in e["ids"]]
    assert len(attached) == 4, attached
    assert not [e for e in evs if e["ev"] == "resubmit"]
    calls = Counter(k for k, _ in read_events_log(work))
    assert calls["start"] == n and calls["done"] == n, calls
    assert not calls["cached"] and not calls["wait"], calls
    finished = {r["candidate_id"]: r["finished_at"] for r in trials}
    restart_t = float(starts[1]["t"])
    assert all(finished[c] > restart_t for c in attached), "attached tasks were not running"


def test_cancel_leaves_no_job_in_squeue(tmp_path):
    run_dir, job = _launch(tmp_path, "cancel", 20, 60.0)
    _wait(lambda: any(e["ev"] == "submit" for e in _events(run_dir)), 180, "a submission")
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "cancel", str(run_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    tasks = {j.split("_")[0] for e in _events(run_dir) if e["ev"] == "submit" for j in e["jobs"]}
    ours = {job, *tasks}

    def gone() -> bool:
        q = subprocess.run(["squeue", "-h", "-o", "%A %i"], capture_output=True, text=True)
        ids = {tok.split("_")[0] for line in q.stdout.split() for tok in [line]}
        return not (ours & ids)

    _wait(gone, 60, f"jobs {sorted(ours)} to leave squeue")
