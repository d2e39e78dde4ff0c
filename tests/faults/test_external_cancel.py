"""Drill: two running array tasks are ``scancel``ed by hand in the middle of a run. The
controller did not ask for it, so each is treated like a preemption and submitted again: the
run completes with 0 FAILED trials, two resubmissions, and every candidate trained to the end
once (the cancelled trainings start again; none finishes twice)."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest

from tests.faults.helpers import (
    cancel_jobs_named,
    controller_process,
    make_run,
    need_slurm,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


def test_two_externally_cancelled_tasks_are_resubmitted_not_failed(tmp_path):
    need_slurm()
    n = 6
    run = make_run(tmp_path, "extcancel", n, 15.0)
    proc = controller_process(run)
    try:
        wait_for(lambda: len(run.starts_per_candidate()) >= 2, 120, "two training starts")
        job_of = {}
        for e in run.events():
            if e["ev"] == "submit":
                job_of.update(zip(e["ids"], e["jobs"], strict=True))
        victims = [job_of[c] for c in list(run.starts_per_candidate())[:2]]
        subprocess.run(["scancel", *victims], check=True)
        proc.wait(timeout=240)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        cancel_jobs_named(f"archlab-{run.paths.run_id}")
    results = run.results()
    assert len(results) == n and set(results.values()) == {"COMPLETE"}, results
    moved = [c for e in run.events() if e["ev"] == "submit" and e.get("update") for c in e["ids"]]
    assert len(moved) == 2, moved  # two resubmissions, one per cancelled task
    done = Counter(c for k, c in run.log() if k == "done")
    assert set(done) == set(results) and set(done.values()) == {1}, done
    starts = run.starts_per_candidate()
    assert sum(starts.values()) == n + 2, starts  # the two cut-short trainings started again
    assert run.stops() == ["done"] and run.controller_starts() == 1
