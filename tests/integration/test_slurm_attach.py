"""Re-attach on the real cluster: a restarted caller follows its array tasks (no second start)
and re-submits only a task that is really gone (cancelled while nobody watched)."""

from __future__ import annotations

import gc
import json
import subprocess
import time
from pathlib import Path

import pytest

from slurm import Call, OutcomeState, SiteParams
from slurm.cluster import SlurmClient, slurm_env
from slurm.slurm_executor import SlurmExecutor
from tests.support import cluster_calls as T

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slurm,
    pytest.mark.skipif(bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"),
    pytest.mark.timeout(300),
]

SITE = SiteParams(time="5", cpus_per_task=1, mem="100M", signal_delay_s=30)


def make(tmp_path: Path) -> SlurmExecutor:
    return SlurmExecutor(tmp_path / "jobs", site=SITE, poll_interval_s=1.0, result_grace_s=2.0)


def _starts(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_running_task_reattached_and_cancelled_task_resubmitted(tmp_path: Path) -> None:
    counter = tmp_path / "starts"
    ex = make(tmp_path)
    keep, gone = ex.submit(
        [
            Call(T.counted_sleep, (str(counter), 4.0, "keep"), key="keep"),
            Call(T.counted_sleep, (str(counter), 60.0, "gone"), key="gone"),
        ]
    )
    deadline = time.monotonic() + 60
    while len(_starts(counter)) < 2:
        assert time.monotonic() < deadline, "the array tasks did not start"
        time.sleep(0.2)
    journal = json.dumps([(h.key, h.job_id, h.ref) for h in (keep, gone)])
    assert keep.job_id.split("_")[0] == gone.job_id.split("_")[0]  # one array
    queries_before = ex.client.queries
    del ex, keep, gone  # the controller dies; its array keeps running
    gc.collect()
    # while nobody watches, someone cancels one task
    (_, gone_id, _), = [r for r in json.loads(journal) if r[0] == "gone"]  # fmt: skip
    subprocess.run(["scancel", gone_id], env=slurm_env(), check=True)

    ex2 = make(tmp_path)
    handles = [ex2.attach(k, j, r) for k, j, r in json.loads(journal)]
    assert all(h.outcome is None for h in handles)  # both need the cluster's word
    got = {h.key: h.outcome for h in ex2.as_completed(handles, timeout_s=120)}
    assert got["keep"] is not None and got["keep"].value == "keep"
    assert got["gone"] is not None and got["gone"].state is OutcomeState.LOST
    assert "CANCELLED" in got["gone"].error
    assert ex2.stats()["attached"] == 1 and ex2.stats()["lost"] == 1
    assert queries_before >= 0 and ex2.client.queries <= 6  # config + a few batched sacct
    # the caller re-submits the lost one: it starts a second time, the kept one never did
    [again] = ex2.submit([Call(T.counted_sleep, (str(counter), 0.1, "gone"), key="gone")])
    [done] = list(ex2.as_completed([again], timeout_s=120))
    assert done.outcome is not None and done.outcome.value == "gone"
    starts = [line.split()[0] for line in _starts(counter)]
    assert sorted(starts) == ["gone", "gone", "keep"], starts


def test_reused_job_id_is_not_attached(tmp_path: Path) -> None:
    """A job id that now names another job (cluster reset) ends LOST, not followed."""
    ex = make(tmp_path)
    [h] = ex.submit([Call(T.sleep_for, (30,), key="other")])
    deadline = time.monotonic() + 30
    while SlurmClient().states([h.job_id]).get(h.job_id) not in ("RUNNING", "COMPLETED"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    folder = tmp_path / "old"
    folder.mkdir()
    # what an earlier run recorded for the same id: another job name, submitted long ago
    ref = {"dir": str(folder), "pos": 0, "n": 1, "at": time.time() - 7200, "name": "someone"}
    ex2 = make(tmp_path)
    a = ex2.attach("mine", h.job_id, ref)
    got = {x.key: x.outcome for x in ex2.as_completed([a], timeout_s=60)}
    assert got["mine"] is not None and got["mine"].state is OutcomeState.LOST
    assert "not 'someone'" in got["mine"].error
    ex.cancel([h])
