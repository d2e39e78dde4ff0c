"""One suite, every executor: in-process, local processes, Slurm (skips where it is down).

The contract is in ``slurm/executor.py``'s docstring.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slurm import Call, Executor, OutcomeState, SiteParams, make_executor
from slurm import testing as T

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
    options = {"result_grace_s": 2.0} if request.param != "inprocess" else {}
    yield make_executor(request.param, tmp_path / "jobs", SITE, poll_interval_s=1.0, **options)


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
