"""The Slurm executor on the real single-node cluster (scripts/slurm-up.sh).

Skips with the reason only where no cluster could be started. Polling at 1 s here; the
production default is 10 s.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from slurm import Call, Handle, OutcomeState, SiteParams
from slurm.cluster import TERMINAL_STATES, SlurmClient, slurm_env
from slurm.slurm_executor import SlurmExecutor
from tests.support import cluster_calls as T

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slurm,
    pytest.mark.skipif(bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"),
    pytest.mark.timeout(600),
]

FAST = SiteParams(time="5", cpus_per_task=1, mem="100M", signal_delay_s=30)


def make(tmp_path: Path, site: SiteParams = FAST, **kw: object) -> SlurmExecutor:
    kw.setdefault("poll_interval_s", 1.0)
    kw.setdefault("result_grace_s", 2.0)
    return SlurmExecutor(tmp_path / "jobs", site=site, **kw)  # type: ignore[arg-type]


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def sacct_state(job_id: str, timeout_s: float = 20.0) -> str:
    """The job's final state in accounting (which lags the result file by a second or so)."""
    client = SlurmClient()
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = client.states([job_id]).get(job_id, "")
        if state in TERMINAL_STATES:
            break
        time.sleep(0.5)
    return state


@pytest.fixture(scope="module")
def hard_timeout(tmp_path_factory: pytest.TempPathFactory) -> tuple[SlurmExecutor, Handle]:
    """A call that ignores USR2/TERM under a 1-minute limit: only Slurm's kill ends it.

    Submitted by the first test and judged by the last, so its minute overlaps the others.
    """
    site = SiteParams(time="1", cpus_per_task=1, mem="100M", signal_delay_s=30)
    ex = make(tmp_path_factory.mktemp("hard"), site=site)
    [h] = ex.submit([Call(T.sleep_ignoring_signals, (300,))])
    return ex, h


def test_array_of_50_in_one_sbatch(
    tmp_path: Path, hard_timeout: tuple[SlurmExecutor, Handle]
) -> None:
    ex = make(tmp_path)
    handles = ex.submit([Call(T.add, (i, 100), key=f"c{i}") for i in range(50)])
    got = {h.key: h.outcome for h in ex.as_completed(handles, timeout_s=180) if h.outcome}
    assert len(got) == 50
    assert all(o.state is OutcomeState.DONE for o in got.values())
    assert {k: o.value for k, o in got.items()} == {f"c{i}": i + 100 for i in range(50)}
    assert ex.client.sbatch_calls == 1
    assert len({h.job_id.split("_")[0] for h in handles}) == 1


@pytest.mark.slow
def test_1500_calls_split_at_max_array_size(tmp_path: Path) -> None:
    ex = make(tmp_path, poll_interval_s=5.0)
    assert ex.client.facts().max_array_size == 1001
    handles = ex.submit([Call(T.noop, key=str(i)) for i in range(1500)])
    assert ex.client.sbatch_calls == 2
    arrays = {h.job_id.split("_")[0] for h in handles}
    assert len(arrays) == 2
    assert max(int(h.job_id.split("_")[1]) for h in handles) == 1000
    done = [h for h in ex.as_completed(handles, timeout_s=500)]
    assert len(done) == 1500
    assert all(h.outcome is not None and h.outcome.ok for h in done)
    # batched polling: a handful of sacct calls for 1500 tasks, not one per task
    assert ex.client.queries < 60


def test_pack_several_calls_per_task(tmp_path: Path) -> None:
    ex = make(tmp_path, pack=4)
    calls = [Call(T.add, (i, 1)) for i in range(9)] + [Call(T.boom, ("packed",))]
    handles = ex.submit(calls)
    assert len({h.job_id for h in handles}) == 3  # 10 calls, 4 per task
    list(ex.as_completed(handles, timeout_s=120))
    assert [h.outcome.value for h in handles[:9] if h.outcome] == list(range(1, 10))
    last = handles[9].outcome
    assert last is not None and last.state is OutcomeState.FAILED and "packed" in last.error
    # the failing call does not drag down the calls packed with it
    assert handles[8].outcome is not None and handles[8].outcome.ok


def test_raising_call_is_failed_with_traceback(tmp_path: Path) -> None:
    ex = make(tmp_path)
    [h] = ex.submit([Call(T.boom, ("exploded on purpose",))])
    [done] = list(ex.as_completed([h], timeout_s=120))
    assert done.outcome is not None and done.outcome.state is OutcomeState.FAILED
    assert "Traceback" in done.outcome.error and "exploded on purpose" in done.outcome.error
    assert done.outcome.attempts == 1  # user errors are not retried by default
    assert sacct_state(h.job_id) == "FAILED"  # never shown as COMPLETED


def test_time_limit_warning_gives_timeout(tmp_path: Path) -> None:
    # 1-minute limit, USR2 40 s before it: the runner sees the warning after ~20 s and, the
    # call not being checkpointable, ends it as TIMEOUT instead of requeuing it.
    site = SiteParams(time="1", cpus_per_task=1, mem="100M", signal_delay_s=40)
    ex = make(tmp_path, site=site)
    [h] = ex.submit([Call(T.sleep_for, (120,))])
    [done] = list(ex.as_completed([h], timeout_s=120))
    assert done.outcome is not None and done.outcome.state is OutcomeState.TIMEOUT
    # normally the runner's own stop at the warning ("... not checkpointable"); on a loaded
    # machine the warning can come too late and Slurm's limit ends the task: TIMEOUT either way
    assert "not checkpointable" in done.outcome.error or "hit its time limit" in done.outcome.error


def test_cancel_by_caller_and_by_scancel(tmp_path: Path) -> None:
    ex = make(tmp_path, max_retries=1)
    mine, theirs, ok = ex.submit(
        [Call(T.sleep_for, (300,)), Call(T.sleep_for, (300,)), Call(T.add, (1, 2))]
    )
    ex.cancel([mine])
    assert mine.outcome is not None and mine.outcome.state is OutcomeState.CANCELLED
    time.sleep(2)
    # someone else (an admin, the user) cancels a task: sacct tells us, and since the caller
    # did not ask for it, it is treated like a preemption: submitted again (max_retries=1)
    first = theirs.job_id
    subprocess.run(["scancel", first], env=slurm_env(), check=True)
    deadline = time.monotonic() + 60
    while theirs.job_id == first:
        assert time.monotonic() < deadline, "the externally cancelled task was not resubmitted"
        list(ex.as_completed([theirs], timeout_s=1))
    assert sacct_state(first) == "CANCELLED"
    time.sleep(2)
    subprocess.run(["scancel", theirs.job_id], env=slurm_env(), check=True)  # again: it stays
    got = {h.key: h.outcome for h in ex.as_completed([mine, theirs, ok], timeout_s=120)}
    assert got[theirs.key] is not None and got[theirs.key].state is OutcomeState.CANCELLED
    assert got[theirs.key].attempts == 2
    assert got[ok.key] is not None and got[ok.key].value == 3
    assert sacct_state(theirs.job_id) == "CANCELLED"
    # a task cancelled while pending never started: accounting has no record of it, and
    # the queue no longer holds it
    queued = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i", "-j", mine.job_id.split("_")[0]],
        capture_output=True,
        text=True,
        env=slurm_env(),
        check=False,
    ).stdout.split()
    assert mine.job_id not in queued


@pytest.mark.parametrize("how", ["usr2", "term"])
def test_checkpoint_requeue_and_attempts(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "running"
    ex = make(tmp_path, site=SiteParams(time="5", cpus_per_task=1, mem="100M", signal_delay_s=30))
    [h] = ex.submit([Call(T.Countdown(steps=12, step_s=0.5, marker=str(marker)))])
    wait_for(marker)
    time.sleep(2)  # a few steps done
    if how == "usr2":
        # what Slurm sends before the time limit: the task checkpoints and requeues itself
        subprocess.run(
            ["scancel", "--batch", "--signal=USR2", h.job_id], env=slurm_env(), check=True
        )
    else:
        # preemption-style: Slurm requeues the job and sends TERM; the task checkpoints
        subprocess.run(["scontrol", "requeue", h.job_id], env=slurm_env(), check=True)
    [done] = list(ex.as_completed([h], timeout_s=150))
    assert done.outcome is not None, "no outcome"
    assert done.outcome.state is OutcomeState.DONE, done.outcome.error
    steps, starts = done.outcome.value
    assert steps == 12
    assert starts == 2  # resumed from the checkpoint, not restarted from zero
    assert done.outcome.attempts == 2


def test_nested_submission_cleans_inherited_env(tmp_path: Path) -> None:
    # A call inside a job submits another job: the outer job's SLURM_* must not leak into it.
    ex = make(tmp_path, site=SiteParams(time="5", cpus_per_task=1, mem="100M"))
    [outer] = ex.submit([Call(T.nested_submit, (str(tmp_path / "inner"),))])
    [done] = list(ex.as_completed([outer], timeout_s=180))
    assert done.outcome is not None and done.outcome.ok, done.outcome and done.outcome.error
    report = done.outcome.value
    assert report["outer_job_id"]  # it really ran inside a job
    assert report["inner_state"] == "DONE", report
    assert report["inner_probe"] is None  # SLURM_ARCHLAB_PROBE did not leak
    assert report["inner_conf"] == report["outer_conf"]  # SLURM_CONF is kept


def test_client_counts_and_accounting() -> None:
    client = SlurmClient()
    facts = client.facts()
    assert facts.accounting and facts.max_array_size == 1001
    assert client.queries == 1
    assert client.states(["999999"]) == {}
    assert client.queries == 2


def test_hard_time_limit_gives_timeout(hard_timeout: tuple[SlurmExecutor, Handle]) -> None:
    ex, h = hard_timeout
    [done] = list(ex.as_completed([h], timeout_s=200))
    assert done.outcome is not None and done.outcome.state is OutcomeState.TIMEOUT
    assert "Slurm state TIMEOUT" in done.outcome.error
