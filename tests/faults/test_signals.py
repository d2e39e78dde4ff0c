"""Drills on the real cluster: what ``scancel`` does to a run's controller job.

* ``scancel <controller>`` (a bare TERM): the controller stops and records ``cancelled``;
  sacct shows CANCELLED and no REQUEUED; no controller starts again (30 s).
* ``scancel --batch --signal=USR2 <controller>`` (a checkpoint request): the controller
  requeues itself, re-attaches its array tasks and completes the run; every candidate is
  trained once.
* ``archlab cancel``: the stop reason is ``cancelled`` (not ``interrupted:SIGTERM``).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from slurm.cluster import SlurmClient
from tests.conftest import REPO
from tests.faults.helpers import (
    cancel_jobs_named,
    job_states,
    launch_on_slurm,
    make_run,
    need_slurm,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(400)]


def test_scancel_of_the_controller_stops_the_run(tmp_path):
    need_slurm()
    run = make_run(tmp_path, "scancel", 8, 30.0)
    try:
        job = launch_on_slurm(run)
        wait_for(lambda: len(run.starts_per_candidate()) >= 2, 120, "two training starts")
        subprocess.run(["scancel", job], check=True)
        wait_for(lambda: run.stops() != [], 60, "the controller to record its stop")
        assert run.stops() == ["cancelled"], run.stops()
        starts = run.controller_starts()
        time.sleep(30)
        assert run.controller_starts() == starts == 1, "the controller came back"
        states = job_states(f"{job}_0")
        assert states and states[-1] == "CANCELLED" and "REQUEUED" not in states, states
    finally:
        cancel_jobs_named(f"archlab-ctl-{run.paths.run_id}")
        cancel_jobs_named(f"archlab-{run.paths.run_id}")


def test_usr2_to_the_controller_requeues_and_completes(tmp_path):
    need_slurm()
    n = 4
    run = make_run(tmp_path, "usr2", n, 24.0)
    try:
        job = launch_on_slurm(run)
        wait_for(lambda: len(run.starts_per_candidate()) >= n, 120, f"{n} training starts")
        SlurmClient().cancel([f"{job}_0"], signal="USR2")
        wait_for(lambda: run.stops()[-1:] == ["done"], 300, "the requeued controller to finish")
        stops = run.stops()
        assert stops[0] == "interrupted:SIGUSR2" and stops[-1] == "done", stops
        assert run.controller_starts() == 2
        assert "REQUEUED" in job_states(f"{job}_0")
        assert len(run.results()) == n and not run.trained_twice(), run.counts()
    finally:
        cancel_jobs_named(f"archlab-ctl-{run.paths.run_id}")
        cancel_jobs_named(f"archlab-{run.paths.run_id}")


def test_archlab_cancel_records_cancelled(tmp_path):
    need_slurm()
    run = make_run(tmp_path, "cancel", 6, 30.0)
    try:
        launch_on_slurm(run)
        wait_for(lambda: len(run.starts_per_candidate()) >= 1, 120, "a training start")
        out = subprocess.run(
            [sys.executable, "-m", "launcher", "cancel", str(run.run_dir)],
            cwd=REPO, env=run.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        wait_for(lambda: run.stops() != [], 60, "the controller to record its stop")
        assert run.stops() == ["cancelled"]
    finally:
        cancel_jobs_named(f"archlab-ctl-{run.paths.run_id}")
        cancel_jobs_named(f"archlab-{run.paths.run_id}")
