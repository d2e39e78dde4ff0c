"""One interface for running picklable Python calls: in-process, local processes, Slurm.

``submit(calls) -> handles``; ``as_completed(handles)`` yields each handle with an
:class:`Outcome` as it finishes; ``cancel(handles)``. An outcome is a value or a structured
failure — never an exception that escapes. Knows nothing about architectures.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Call", "Executor", "Handle", "InProcessExecutor", "Outcome", "OutcomeState"]


class OutcomeState(str, enum.Enum):
    DONE = "DONE"  # the call returned; ``value`` holds its result
    FAILED = "FAILED"  # the call raised; ``error`` holds the traceback
    TIMEOUT = "TIMEOUT"  # the task hit its time limit
    CANCELLED = "CANCELLED"  # cancelled by the user or the controller
    PREEMPTED = "PREEMPTED"  # preempted and retries exhausted
    NODE_FAIL = "NODE_FAIL"  # the node died and retries exhausted


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
    """A picklable function and its arguments; ``key`` is the caller's id for it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: str = ""


@dataclass
class Handle:
    """A submitted call: the backend's job id and what the backend needs to poll it."""

    key: str
    job_id: str = ""
    backend: Any = None  # backend-specific (submitit job, future, ...)
    outcome: Outcome | None = None


class Executor(Protocol):
    name: str

    def submit(self, calls: Sequence[Call]) -> list[Handle]: ...

    def as_completed(
        self, handles: Sequence[Handle], timeout_s: float | None = None
    ) -> Iterator[Handle]: ...

    def cancel(self, handles: Sequence[Handle]) -> None: ...


class InProcessExecutor:
    """Runs each call in this process at submit time (debugging, tests, the demo)."""

    name = "inprocess"

    def submit(self, calls: Sequence[Call]) -> list[Handle]:
        handles = []
        for i, call in enumerate(calls):
            h = Handle(key=call.key or str(i), job_id=f"inprocess-{i}")
            try:
                h.outcome = Outcome(OutcomeState.DONE, value=call.fn(*call.args, **call.kwargs))
            except Exception:  # a failure is data
                h.outcome = Outcome(OutcomeState.FAILED, error=traceback.format_exc())
            handles.append(h)
        return handles

    def as_completed(
        self, handles: Sequence[Handle], timeout_s: float | None = None
    ) -> Iterator[Handle]:
        yield from handles

    def cancel(self, handles: Sequence[Handle]) -> None:
        for h in handles:
            if h.outcome is None:
                h.outcome = Outcome(OutcomeState.CANCELLED, error="cancelled before it ran")
