"""Drill: the S3 server is killed for 60 s in the middle of a run on Slurm. The same
controller process (a Slurm job) rides it out (store writes retry with back-off) and completes the run:
one controller start, every candidate trained once, one trial row each, ``status`` said
"unreachable since ..., retrying" during the outage."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from launcher.commands.status import status_text
from store import open_store
from tests.faults.helpers import (
    OwnS3,
    cancel_jobs_named,
    job_states,
    launch_on_slurm,
    make_run,
    need_slurm,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.s3, pytest.mark.timeout(420)]

OUTAGE_S = float(os.environ.get("ARCHLAB_FAULTS_OUTAGE_S", "60"))


def test_s3_outage_of_a_minute_is_ridden_out_by_the_same_controller(tmp_path, monkeypatch):
    need_slurm()
    s3 = OwnS3(tmp_path / "s3data")
    s3.start()
    for k, v in s3.env().items():
        monkeypatch.setenv(k, v)
    n = 8
    uri = f"s3://{s3.bucket}/outage"
    run = make_run(tmp_path, "s3out", n, 8.0, f"store.uri={uri}",
                   f"store.s3_endpoint={s3.endpoint}")  # fmt: skip
    run.env.update(s3.env())
    try:
        job = launch_on_slurm(run)  # the controller is a Slurm job, as on a cluster
        wait_for(lambda: len(run.results()) >= 2, 180, "two results before the outage")
        s3.kill()
        killed_at = time.time()
        seen_unreachable = ""
        while time.time() - killed_at < OUTAGE_S:
            text = status_text(run.paths, with_controller=False)[0]
            line = next((x for x in text.splitlines() if x.startswith("store:")), "")
            if "unreachable since" in line:
                seen_unreachable = line
            assert not run.stops(), "the controller stopped during the outage"
            time.sleep(2)
        s3.start()
        wait_for(lambda: bool(run.stops()), 240, "the controller to finish")
        wait_for(lambda: job_states(f"{job}_0")[-1:] == ["COMPLETED"], 60, "the job to end")
        assert job_states(f"{job}_0") == ["COMPLETED"]  # never FAILED, never requeued
    finally:
        cancel_jobs_named(f"archlab-ctl-{run.paths.run_id}")
        cancel_jobs_named(f"archlab-{run.paths.run_id}")
        s3.kill()
    assert "retrying" in seen_unreachable, "status never showed the outage"
    assert run.controller_starts() == 1 and run.stops() == ["done"]
    s3.start()
    trials = open_store(uri, endpoint=s3.endpoint).read("trials", run.paths.run_id).to_pylist()
    s3.kill()
    per = Counter(r["candidate_id"] for r in trials)
    assert len(per) == n and set(per.values()) == {1}, per  # 0 lost, 0 duplicated rows
    starts = run.starts_per_candidate()
    assert set(starts) == set(per) and not run.trained_twice(), run.counts()
    status = status_text(run.paths, with_controller=False)[0]
    assert "ridden out" in status, status
    print(f"\nS3 outage {OUTAGE_S:.0f} s: {len(per)} trials, {sum(starts.values())} training "
          f"starts, 1 controller start; {seen_unreachable}")  # fmt: skip
