"""One suite, every executor: in-process, local processes, Slurm (skips where it is down).

The contract is in ``slurm/executor.py``'s docstring.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slurm import Call, Executor, OutcomeState, SiteParams, make_executor
from tests.support import cluster_calls as T

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]

SITE = SiteParams(time="5", cpus_per_task=1, mem="100M", signal_delay_s=30)


@pytest.fixture(
    params=[
        "inprocess",
        "local",
        pytest.param(
            "slurm",
            marks=[
                pytest.mark.slurm,
                pytest.mark.skipif(
                    bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"
                ),
            ],
        ),
    ]
)
def executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Executor]:
    yield _make(request.param, tmp_path)


def _make(kind: str, tmp_path: Path, **kw: object) -> Executor:
    options = {"result_grace_s": 2.0} if kind != "inprocess" else {}
    return make_executor(kind, tmp_path / "jobs", SITE, poll_interval_s=1.0, **options, **kw)  # type: ignore[arg-type]


def _drain(ex: Executor, handles: list, timeout_s: float = 120) -> dict:  # type: ignore[type-arg]
    return {h.key: h.outcome for h in ex.as_completed(handles, timeout_s=timeout_s)}


def test_values_come_back_keyed(executor: Executor) -> None:
    handles = executor.submit([Call(T.add, (i, 10), key=f"k{i}") for i in range(6)])
    assert [h.key for h in handles] == [f"k{i}" for i in range(6)]
    got = _drain(executor, handles)
    assert {k: o.value for k, o in got.items()} == {f"k{i}": i + 10 for i in range(6)}
    assert all(o.state is OutcomeState.DONE and o.ok and o.attempts == 1 for o in got.values())


def test_each_handle_yielded_once_with_outcome(executor: Executor) -> None:
    handles = executor.submit([Call(T.add, (1, 1)), Call(T.add, (2, 2))])
    seen = list(executor.as_completed(handles, timeout_s=120))
    assert sorted(h.key for h in seen) == ["0", "1"]
    assert all(h.outcome is not None for h in seen)
    assert list(executor.as_completed(seen, timeout_s=5)) == seen  # finished: at once


def test_failure_is_data_with_traceback(executor: Executor) -> None:
    handles = executor.submit([Call(T.boom, ("contract-boom",), key="bad"), Call(T.noop, key="ok")])
    got = _drain(executor, handles)
    assert got["bad"].state is OutcomeState.FAILED and not got["bad"].ok
    assert "ValueError: contract-boom" in got["bad"].error
    assert got["ok"].state is OutcomeState.DONE


def _slow(executor: Executor, seconds: float) -> float:
    """The in-process backend runs calls at submit: keep its "slow" calls short."""
    return 0.05 if executor.name == "inprocess" else seconds


def test_cancel_ends_unfinished_calls_cancelled(executor: Executor) -> None:
    handles = executor.submit([Call(T.sleep_for, (_slow(executor, 60),), key="slow")])
    executor.cancel(handles)
    got = _drain(executor, handles, timeout_s=30)
    # the in-process backend has already run it: cancel only affects unfinished calls
    assert got["slow"].state in (OutcomeState.CANCELLED, OutcomeState.DONE)
    if handles[0].job_id.startswith("inprocess"):
        return
    assert got["slow"].state is OutcomeState.CANCELLED


def test_timeout_s_returns_without_raising(executor: Executor) -> None:
    handles = executor.submit([Call(T.sleep_for, (_slow(executor, 30),), key="s")])
    t0 = time.monotonic()
    list(executor.as_completed(handles, timeout_s=1))
    assert time.monotonic() - t0 < 10
    executor.cancel(handles)
    assert handles[0].outcome is not None


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_attach_after_restart_follows_running_and_finished_jobs(
    executor: Executor, tmp_path: Path
) -> None:
    """Submit, drop the executor, re-attach from a new one by the recorded job id and ref
    (a JSON round trip, as in the journal): the results come back, nothing starts twice."""
    if executor.name == "inprocess":  # nothing outlives it: attach says LOST -> submit again
        h = executor.attach("k", "inprocess-0", {}, None)  # type: ignore[attr-defined]
        assert h.outcome is not None and h.outcome.state is OutcomeState.LOST
        return
    kind = executor.name
    ex = _make(kind, tmp_path, pack=2)
    counter = tmp_path / "starts"
    handles = ex.submit(
        [Call(T.counted_sleep, (str(counter), 3.0, i), key=f"k{i}") for i in range(3)]
    )  # two tasks: [k0, k1] and [k2]
    deadline = time.monotonic() + 60
    while len(_lines(counter)) < 2:  # both tasks started (job ids are known)
        assert time.monotonic() < deadline, "tasks did not start"
        time.sleep(0.1)
    recorded = json.loads(json.dumps([(h.key, h.job_id, h.ref) for h in handles]))
    assert [r["pos"] for _, _, r in recorded] == [0, 1, 0]
    del ex, handles
    gc.collect()

    ex2 = _make(kind, tmp_path)
    attached = [ex2.attach(k, j, r) for k, j, r in recorded]  # type: ignore[attr-defined]
    assert all(h.outcome is None or h.outcome.ok for h in attached)
    got = _drain(ex2, attached, timeout_s=120)
    assert {k: o.value for k, o in got.items()} == {"k0": 0, "k1": 1, "k2": 2}
    assert len(_lines(counter)) == 3, _lines(counter)  # one start per call, none after attach

    ex3 = _make(kind, tmp_path)  # finished jobs: read from their result pickles
    again = [ex3.attach(k, j, r) for k, j, r in reversed(recorded)]  # type: ignore[attr-defined]
    got = _drain(ex3, again, timeout_s=30)
    assert {k: o.value for k, o in got.items()} == {"k0": 0, "k1": 1, "k2": 2}
    assert len(_lines(counter)) == 3


def test_attach_to_an_unknown_job_is_lost(executor: Executor, tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "gone"
    folder.mkdir(parents=True)
    job = {"inprocess": "inprocess-7", "local": "local-999999999", "slurm": "999999_0"}
    ref = {"dir": str(folder), "pos": 0, "n": 1, "at": time.time() - 3600}
    h = executor.attach("k", job[executor.name], ref)  # type: ignore[attr-defined]
    got = _drain(executor, [h], timeout_s=60)
    assert got["k"].state is OutcomeState.LOST and got["k"].error
