"""One interface for running picklable Python calls: in-process, local processes, Slurm.

The contract (``tests/contract/test_executor_contract.py`` runs it against every backend):

* ``submit(calls) -> handles``: one :class:`Handle` per :class:`Call`, in order; nothing
  blocks on the calls themselves (the in-process backend excepted: it runs them here).
* ``as_completed(handles, timeout_s=None)`` yields each handle once, as it finishes, with
  ``handle.outcome`` set. With ``timeout_s`` it stops after that many seconds and leaves the
  rest unresolved (``outcome is None``); it never raises because a call failed.
* ``cancel(handles)``: every unfinished handle ends ``CANCELLED``.
* ``attach(key, job_id, ref=None, call=None)`` (re-attach after a restart of the caller):
  a handle for a call submitted by an earlier executor, given the ``job_id`` and
  ``handle.ref`` it had (``ref`` names the job folder and the call's position in its pack).
  The handle follows the job if it is still pending or running, or carries its result if it
  already finished; it is ``LOST`` when the job is gone without a result (or unknown): the
  caller then submits the call again. ``call`` (optional) lets the executor retry an
  infrastructure failure itself.
* An :class:`Outcome` is a value (``DONE``) or a structured failure — ``FAILED`` with the
  traceback, ``TIMEOUT``, ``CANCELLED``, ``PREEMPTED``, ``NODE_FAIL`` — never an exception
  that escapes. ``attempts`` counts every start of the call (requeues and retries).

Knows nothing about architectures.

>>> ex = InProcessExecutor()
>>> [h] = ex.submit([Call(pow, (2, 10), key="a")])
>>> [(x.key, x.outcome.value) for x in ex.as_completed([h])]
[('a', 1024)]
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Call", "Executor", "Handle", "InProcessExecutor", "Outcome", "OutcomeState", "lost"]


class OutcomeState(str, enum.Enum):
    DONE = "DONE"  # the call returned; ``value`` holds its result
    FAILED = "FAILED"  # the call raised (or its process died); ``error`` holds the traceback
    TIMEOUT = "TIMEOUT"  # the task hit its time limit
    CANCELLED = "CANCELLED"  # cancelled by the user or the controller
    PREEMPTED = "PREEMPTED"  # preempted and retries exhausted
    NODE_FAIL = "NODE_FAIL"  # the node died and retries exhausted
    LOST = "LOST"  # attach only: the job is gone without a result (or unknown): submit again


@dataclass(frozen=True)
class Outcome:
    state: OutcomeState
    value: Any = None
    error: str = ""
    attempts: int = 1  # how many times the call was started (requeues and retries count)

    @property
    def ok(self) -> bool:
        return self.state is OutcomeState.DONE


@dataclass(frozen=True)
class Call:
    """A picklable function and its arguments; ``key`` is the caller's id for it.

    On a cluster the function must be importable by the worker's Python (a module-level
    function or class of an installed package, not a lambda or a test-file local).
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: str = ""


@dataclass(eq=False)
class Handle:
    """A submitted call: the backend's job id and what the backend needs to poll it."""

    key: str
    job_id: str = ""
    backend: Any = None  # backend-specific (the task it belongs to, ...)
    outcome: Outcome | None = None
    # what ``attach`` needs besides ``job_id`` (JSON-able: job folder, position in the pack,
    # submission time); ``{}`` where the backend cannot re-attach
    ref: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.outcome is not None


class Executor(Protocol):
    name: str

    def submit(self, calls: Sequence[Call]) -> list[Handle]: ...

    def as_completed(
        self, handles: Sequence[Handle], timeout_s: float | None = None
    ) -> Iterator[Handle]: ...

    def cancel(self, handles: Sequence[Handle]) -> None: ...

    def attach(
        self,
        key: str,
        job_id: str,
        ref: dict[str, Any] | None = None,
        call: Call | None = None,
    ) -> Handle: ...


class InProcessExecutor:
    """Runs each call in this process at submit time (debugging, tests, the demo).

    No pdb, no subprocess: a raising call becomes ``FAILED`` with its traceback.
    """

    name = "inprocess"

    def __init__(self) -> None:
        self._count = 0

    def submit(self, calls: Sequence[Call]) -> list[Handle]:
        handles = []
        for i, call in enumerate(calls):
            h = Handle(key=call.key or str(i), job_id=f"inprocess-{self._count}")
            self._count += 1
            try:
                h.outcome = Outcome(OutcomeState.DONE, value=call.fn(*call.args, **call.kwargs))
            except Exception:  # a failure is data
                h.outcome = Outcome(OutcomeState.FAILED, error=traceback.format_exc())
            handles.append(h)
        return handles

    def as_completed(
        self, handles: Sequence[Handle], timeout_s: float | None = None
    ) -> Iterator[Handle]:
        yield from (h for h in handles if h.outcome is not None)

    def cancel(self, handles: Sequence[Handle]) -> None:
        for h in handles:
            if h.outcome is None:
                h.outcome = Outcome(OutcomeState.CANCELLED, error="cancelled before it ran")

    def attach(
        self,
        key: str,
        job_id: str,
        ref: dict[str, Any] | None = None,
        call: Call | None = None,
    ) -> Handle:
        """Always ``LOST``: the calls ran in a process that is gone (submit them again)."""
        return Handle(
            key=key,
            job_id=job_id,
            ref=dict(ref or {}),
            outcome=lost(f"the in-process executor cannot re-attach job {job_id!r}"),
        )


def lost(why: str) -> Outcome:
    """The outcome of a re-attach that found no job to follow (the caller submits again)."""
    return Outcome(OutcomeState.LOST, error=why, attempts=0)
