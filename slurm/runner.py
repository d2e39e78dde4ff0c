"""What one array task runs on the node: a pack of calls, checkpointable, counting attempts.

:class:`TaskRunner` is the function submitit pickles for each task. It runs its calls one
after another and records, per call, ``DONE`` with the value, ``FAILED`` with the traceback
or ``TIMEOUT``. Done calls are never rerun after a requeue.

Signals (submitit installs the USR2 handler before the runner starts):

* **USR2** (``--signal=B:USR2@N`` before the limit, or ``scancel --batch --signal=USR2``):
  submitit calls :meth:`TaskRunner.checkpoint`, saves the returned state and requeues the
  job (``scontrol requeue``). A call that has its own ``checkpoint`` method (submitit
  ``Checkpointable``) resumes from its saved state; a plain call restarts from scratch,
  except when the signal is the time-limit warning: rerunning it would time out again, so
  it ends as ``TIMEOUT``.
* **TERM** (preemption, ``scontrol requeue``, and the time limit itself): the runner saves
  its checkpoint and exits; Slurm requeues preempted jobs itself, so no requeue is asked.

The attempt number is ``1 + SLURM_RESTART_COUNT`` (or the runner's own count if higher).
When any call did not finish ``DONE``, the per-call records go to a side file next to
submitit's result pickle and the task exits non-zero, so ``sacct`` shows FAILED, never
COMPLETED for a failure.
"""

from __future__ import annotations

import copy
import os
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TaskFailed", "TaskRunner", "sidecar_path"]

# Margin (s) for the time-limit test: the runner starts a little after the job does.
_LIMIT_MARGIN_S = 15.0


class TaskFailed(Exception):
    """Raised at the end of a task whose calls did not all finish DONE (the records are in
    the side file)."""


def sidecar_path(folder: str | Path, job_id: str) -> Path:
    """Where a task with submitit job id ``job_id`` (``"12_3"``) leaves its per-call records."""
    return Path(folder) / f"{job_id}_calls.pkl"


def _record(state: str, *, value: Any = None, error: str = "", attempt: int = 1) -> dict[str, Any]:
    return {"state": state, "value": value, "error": error, "attempt": attempt}


class TaskRunner:
    """Runs ``calls`` (``(fn, args, kwargs)`` triples) in order; see the module docstring."""

    def __init__(
        self,
        calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]],
        *,
        time_limit_s: float = 0.0,
        signal_delay_s: float = 0.0,
    ) -> None:
        self.calls = list(calls)
        self.records: list[dict[str, Any] | None] = [None] * len(self.calls)
        self.attempt = 1
        self.time_limit_s = time_limit_s
        self.signal_delay_s = signal_delay_s
        self._current = -1
        self._started = 0.0
        self._stop_reason = ""

    # ------------------------------------------------------------------ running
    def __call__(self) -> list[dict[str, Any]]:
        self._started = time.monotonic()
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        self.attempt = max(self.attempt, 1 + restarts)
        self._bind_term()
        from submitit.core.utils import UncompletedJobError

        for i, (fn, args, kwargs) in enumerate(self.calls):
            if self.records[i] is not None:
                continue
            self._current = i
            try:
                value = fn(*args, **kwargs)
            except UncompletedJobError as exc:  # submitit's signal handler: no requeue
                reason = self._stop_reason or str(exc)
                self.records[i] = _record("TIMEOUT", error=reason, attempt=self.attempt)
                for j in range(i + 1, len(self.calls)):
                    if self.records[j] is None:
                        self.records[j] = _record(
                            "TIMEOUT", error=f"not started: {reason}", attempt=self.attempt
                        )
                break
            except Exception:  # a failure is data
                self.records[i] = _record(
                    "FAILED", error=traceback.format_exc(), attempt=self.attempt
                )
            else:
                self.records[i] = _record("DONE", value=value, attempt=self.attempt)
        self._current = -1
        records = [r if r is not None else _record("FAILED", error="not run") for r in self.records]
        bad = [r for r in records if r["state"] != "DONE"]
        if bad:
            self._write_sidecar(records)
            first = bad[0]
            raise TaskFailed(
                f"{len(bad)} of {len(records)} call(s) did not finish ({first['state']}):\n"
                f"{first['error']}"
            )
        return records

    def _write_sidecar(self, records: list[dict[str, Any]]) -> None:
        import cloudpickle
        from submitit import JobEnvironment

        paths = JobEnvironment().paths
        target = sidecar_path(paths.folder, str(paths.job_id))
        tmp = target.with_suffix(".tmp")
        with tmp.open("wb") as f:
            cloudpickle.dump(records, f)
        tmp.replace(target)

    def _bind_term(self) -> None:
        """TERM: checkpoint and exit (Slurm requeues preempted jobs itself)."""
        usr2 = signal.getsignal(signal.SIGUSR2)
        handler = getattr(usr2, "__self__", None)
        if handler is None or not hasattr(handler, "checkpoint_and_exit"):
            return  # not started by submitit's worker (e.g. called directly)

        def on_term(signum: int, frame: Any) -> None:
            handler.checkpoint_and_exit(signum, frame)

        signal.signal(signal.SIGTERM, on_term)

    # ------------------------------------------------------------------ checkpointing
    def _timed_out(self) -> bool:
        if self.time_limit_s <= 0:
            return False
        elapsed = time.monotonic() - self._started
        return elapsed >= self.time_limit_s - self.signal_delay_s - _LIMIT_MARGIN_S

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on USR2/TERM: the state to requeue with, or None (no requeue)."""
        from submitit.core.utils import DelayedSubmission

        new = copy.copy(self)
        new.calls = list(self.calls)
        new.records = list(self.records)
        new.attempt = self.attempt + 1
        new._current = -1
        i = self._current
        if 0 <= i < len(self.calls):
            fn, fargs, fkwargs = self.calls[i]
            inner = fn.checkpoint(*fargs, **fkwargs) if hasattr(fn, "checkpoint") else None
            if inner is not None:
                new.calls[i] = (inner.function, tuple(inner.args), dict(inner.kwargs))
            elif self._timed_out():
                self._stop_reason = (
                    f"time limit reached ({self.time_limit_s:.0f} s) and the call is not "
                    "checkpointable: raise the site time or make the call Checkpointable"
                )
                return None
        return DelayedSubmission(new)
