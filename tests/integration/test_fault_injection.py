"""Fault injection: a 60-candidate run on the local executor is SIGKILLed at 10 points (ask,
submit, after submit, store append, tell, snapshot, a torn journal line) and resumed each
time. At the end: exactly 60 distinct candidates, one trial record each, none trained twice.

A restarted controller re-attaches to the local task processes its predecessor started (they
outlive it) or reads their result pickles; it re-submits only candidates whose task really
died or never started (``resubmit`` events), so a second evaluator call (``cached``/``wait``)
happens only for those.

"Trained twice" is measured by :class:`tests.support.counting_evaluator.CountingEvaluator`'s
``events.log``: a ``done`` line is written when a training finished, so two ``done`` lines for
one candidate mean it was trained to completion twice. A re-submitted candidate whose first
training finished returns the stored record (``cached``), one whose first training is still
running waits for it (``wait``); a ``start`` without ``done`` is a training cut short by a
kill (the controller and its in-process work died) and is allowed to start again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from launcher.config import load_config
from launcher.run import create_run
from nas.controller import read_events
from store.result_store import LocalResultStore
from tests.conftest import REPO
from tests.support.counting_evaluator import read_events_log

pytestmark = pytest.mark.integration

N = 60
PHASES = ["ask", "submit", "submitted", "append", "tell", "snapshot", "journal", "append",
          "submitted", "tell"]  # fmt: skip


def _controller(run_dir, env, fault=""):
    e = dict(env)
    if fault:
        e["ARCHLAB_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "launcher", "controller", str(run_dir), "--quiet"],
        cwd=REPO,
        env=e,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_sigkill_at_ten_points_then_resume_trains_each_candidate_once(tmp_path):
    cfg = load_config(
        overrides=[
            f"experiment.run_root={tmp_path / 'runs'}",
            "experiment.name=faults",
            f"budget.candidates={N}",
            "executor.kind=local",
            "executor.max_in_flight=8",
            "executor.poll_interval_s=0.1",
            "executor.snapshot_every=4",
            "executor.site.time=00:10:00",
        ]
    )
    paths = create_run(cfg, cluster="local")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": f"{work}:0.02", "PYTHONPATH": str(REPO)}
    rng = np.random.default_rng(7)
    kills = runs = 0
    for phase in PHASES:
        runs += 1
        out = _controller(paths.run_dir, env, f"{phase}:{int(rng.integers(1, 4))}")
        assert out.returncode in (0, -signal.SIGKILL), out.stderr[-3000:]
        kills += out.returncode == -signal.SIGKILL
        if out.returncode == 0:
            break
    final = _controller(paths.run_dir, env)
    runs += 1
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 8, f"only {kills} kills happened"

    store = LocalResultStore(paths.tables)
    trials = store.read("trials", paths.run_id).to_pylist()
    per_cand = Counter(r["candidate_id"] for r in trials)
    assert len(per_cand) == N and set(per_cand.values()) == {1}, per_cand.most_common(3)
    assert all(r["state"] in ("COMPLETE", "FAILED") for r in trials)
    cands = Counter(r["candidate_id"] for r in store.read("candidates", paths.run_id).to_pylist())
    assert set(cands) == set(per_cand) and set(cands.values()) == {1}

    log = read_events_log(work)
    done = Counter(c for kind, c in log if kind == "done")
    assert set(done) == set(per_cand), "every stored candidate was trained"
    assert max(done.values()) == 1, f"trained twice: {[c for c, n in done.items() if n > 1]}"
    starts = Counter(c for kind, c in log if kind == "start")
    cached = sum(1 for kind, _ in log if kind == "cached")
    events = read_events(paths.run_dir / "journal.jsonl")
    starts_ctl = sum(1 for e in events if e["ev"] == "start")
    assert starts_ctl == runs
    assert events[-1]["ev"] == "stop" and events[-1]["reason"] == "done"

    # re-attach: restarts followed their predecessors' tasks ...
    attached = [cid for e in events if e["ev"] == "attach" for cid in e["ids"]]
    assert attached, "no restart re-attached a task"
    # ... and re-submitted only candidates whose task really died or never started
    resubmitted: dict[str, list[str]] = {}
    last_ref: dict[str, tuple[str, dict]] = {}
    for e in events:
        if e["ev"] == "submit":
            refs = e.get("refs") or [{}] * len(e["ids"])
            for cid, job, ref in zip(e["ids"], e["jobs"], refs, strict=True):
                last_ref[cid] = (job, ref)
        elif e["ev"] == "resubmit":
            for cid, why in zip(e["ids"], e["why"], strict=True):
                resubmitted.setdefault(cid, []).append(why)
                job, ref = last_ref.get(cid, ("", {}))
                if why.startswith("lost") and job.startswith("local-"):
                    result = paths.run_dir / ref["dir"] / f"{job[6:]}_0_result.pkl"
                    assert not result.exists(), f"{cid}: {job} finished but was re-submitted"
                else:
                    assert not job or why.startswith("never submitted"), (cid, job, why)
    again = {c for kind, c in log if kind in ("cached", "wait")}
    assert again <= set(resubmitted), f"called again without a resubmit: {again - set(resubmitted)}"
    print(
        f"\nfault injection: {kills} kills, {starts_ctl} controller starts, "
        f"{sum(starts.values())} training starts for {N} candidates, {cached} cached "
        f"re-submissions; {len(attached)} re-attached, {sum(map(len, resubmitted.values()))} "
        f"re-submitted ({Counter(w.split(':')[0] for ws in resubmitted.values() for w in ws)})"
    )
    assert Path(paths.run_dir / "jobs").is_dir()
