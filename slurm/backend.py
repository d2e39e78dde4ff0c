"""What the local-process and Slurm executors share: packing, polling, outcomes, retries.

Both run each *task* (a pack of one or more calls) through submitit's worker
(``python -m submitit.core._submit FOLDER``) with a :class:`slurm.runner.TaskRunner` as the
pickled function, and read what it leaves behind: submitit's result pickle
``<job>_0_result.pkl`` and, for a task whose calls did not all succeed, the runner's
``<job>_calls.pkl``. A backend only says how tasks start, whether they are still alive,
and how to stop them.

Every executor instance owns a fresh folder (``<folder>/<kind>-<time>-<random>``): after a
cluster reset job ids restart at 1 and a reused folder would hand back stale results.

Re-attach: each handle's ``ref`` names its job folder, its position in the task's pack
(``pos`` of ``n``) and the submission time (``at``). A later executor (the caller restarted)
gets the handle back with :meth:`BatchExecutor.attach`: a result pickle in that folder is
read (never rerun), a live job is followed like its own, and a job that is gone without a
result ends ``LOST`` (the caller submits the call again). Calls of one pack share one task.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slurm.executor import Call, Handle, Outcome, OutcomeState, lost
from slurm.runner import TaskRunner, sidecar_path
from slurm.site import SiteParams

__all__ = ["Backoff", "BatchExecutor", "RetryPolicy", "Task", "outcome_for_state"]

_RETRYABLE = frozenset({OutcomeState.NODE_FAIL, OutcomeState.PREEMPTED})


@dataclass(frozen=True)
class RetryPolicy:
    """Which failed calls are submitted again, and how often.

    Infrastructure failures (``NODE_FAIL``, ``PREEMPTED`` that Slurm did not requeue, and a
    ``CANCELLED`` the caller did not ask for — someone ``scancel``ed the task, which ends
    like a preemption) are retried up to ``max_retries`` times; a call that raised only with
    ``retry_user_errors``. ``TIMEOUT`` never is (a checkpointable call already requeues
    itself at its time limit, and rerunning a plain one would time out again), nor a cancel
    the caller requested.
    """

    max_retries: int = 2
    retry_user_errors: bool = False

    def should_retry(
        self, outcome: Outcome, retries_done: int, *, cancel_requested: bool = False
    ) -> bool:
        if retries_done >= self.max_retries:
            return False
        if outcome.state in _RETRYABLE:
            return True
        if outcome.state is OutcomeState.CANCELLED:
            return not cancel_requested  # an external scancel: like a preemption
        return self.retry_user_errors and outcome.state is OutcomeState.FAILED


class Backoff:
    """Intervals between status queries: ``base_s`` after a change, growing by ``factor``
    while nothing changes, up to ``max_factor * base_s``; each with ±``jitter`` (a share)
    so that many controllers do not query slurmctld in lockstep.
    """

    def __init__(
        self,
        base_s: float,
        *,
        factor: float = 1.5,
        max_factor: float = 6.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.factor = factor
        self.max_s = base_s * max_factor
        self.jitter = jitter
        self.current = base_s
        self._rng = rng or random.Random()

    def next(self, changed: bool) -> float:
        self.current = self.base_s if changed else min(self.current * self.factor, self.max_s)
        return self.current * self._rng.uniform(1 - self.jitter, 1 + self.jitter)


def outcome_for_state(state: str, detail: str = "") -> Outcome:
    """The outcome of a task that ended in Slurm ``state`` without writing a result."""
    tail = f"\n{detail}" if detail else ""
    if state in ("TIMEOUT", "DEADLINE"):
        return Outcome(
            OutcomeState.TIMEOUT, error=f"Slurm state {state}: the task hit its time limit{tail}"
        )
    if state in ("CANCELLED", "REVOKED"):
        return Outcome(OutcomeState.CANCELLED, error=f"Slurm state {state}{tail}")
    if state == "PREEMPTED":
        return Outcome(OutcomeState.PREEMPTED, error=f"Slurm state PREEMPTED{tail}")
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return Outcome(OutcomeState.NODE_FAIL, error=f"Slurm state {state}{tail}")
    if state == "OUT_OF_MEMORY":
        return Outcome(
            OutcomeState.FAILED, error=f"Slurm state OUT_OF_MEMORY: raise executor.site.mem{tail}"
        )
    return Outcome(OutcomeState.FAILED, error=f"Slurm state {state}, no result written{tail}")


@dataclass(eq=False)
class Task:
    """One array task / local process: a pack of calls and their handles."""

    calls: list[Call | None]  # None: a re-attached call whose function is not known here
    handles: list[Handle]
    retries: list[int]  # per call: how many times it was already resubmitted
    attempts_before: list[int]  # per call: starts in earlier tasks
    job_id: str = ""
    job: Any = None  # backend object (submitit LocalJob)
    submitted_at: float = 0.0  # time.monotonic() of the submission
    terminal_since: float | None = None
    done: bool = False
    cancelled: bool = False
    folder: Path | None = None  # the job folder (None: this executor's own)
    sid: str = ""  # submitit's job id: the prefix of the task's files ("12_3", "4711")
    attached: str = ""  # re-attached and not yet seen alive: what attach was given (job id)
    ident: dict[str, Any] = field(default_factory=dict)  # ref of an attached task
    records: list[dict[str, Any]] | None = None  # what _finish resolved the task with
    fallback: Outcome | None = None
    name: str = ""  # the Slurm job name it was submitted under ("" = the executor's)

    def __repr__(self) -> str:
        return f"Task(job_id={self.job_id!r}, calls={len(self.calls)}, done={self.done})"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Stats:
    tasks: int = 0
    retries: int = 0
    attached: int = 0  # handles re-attached (attach calls that found a job or its result)
    lost: int = 0  # attach calls that found nothing to follow
    first_result_s: float | None = None
    started: float = field(default_factory=time.monotonic)


class BatchExecutor:
    """Base of :class:`slurm.LocalExecutor` and :class:`slurm.SlurmExecutor`."""

    name = "batch"

    def __init__(
        self,
        folder: str | Path,
        *,
        site: SiteParams | None = None,
        pack: int = 1,
        max_retries: int = 2,
        retry_user_errors: bool = False,
        poll_interval_s: float = 10.0,
        max_requeues: int = 3,
        result_grace_s: float = 10.0,
    ) -> None:
        if pack < 1:
            raise ValueError("pack must be >= 1 (calls per task)")
        self.site = site or SiteParams()
        self.site.validate()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.folder = Path(folder).absolute() / f"{self.name}-{stamp}-{secrets.token_hex(3)}"
        self.folder.mkdir(parents=True, exist_ok=False)
        self.pack = pack
        self.policy = RetryPolicy(max_retries, retry_user_errors)
        self.poll_interval_s = poll_interval_s
        self.max_requeues = max_requeues
        self.result_grace_s = result_grace_s
        self._tick_s = min(1.0, poll_interval_s)
        self._tasks: list[Task] = []
        self._retry_queue: list[tuple[Call, Handle, int, int]] = []
        self._attached: dict[tuple[str, str], Task] = {}
        self._stats = _Stats()

    # ------------------------------------------------------------------ public API
    def submit(self, calls: Sequence[Call]) -> list[Handle]:
        handles = [Handle(key=c.key or str(i)) for i, c in enumerate(calls)]
        tasks = self._pack(list(calls), handles, [0] * len(calls), [0] * len(calls))
        if tasks:
            self._launch(tasks)
        return handles

    def as_completed(
        self, handles: Sequence[Handle], timeout_s: float | None = None
    ) -> Iterator[Handle]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        emitted: set[int] = set()
        while True:
            fresh = [h for h in handles if h.outcome is not None and id(h) not in emitted]
            for h in fresh:
                emitted.add(id(h))
                yield h
            if len(emitted) == len(handles):
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            before = sum(t.done for t in self._tasks)
            self._poll()
            if sum(t.done for t in self._tasks) == before:
                time.sleep(self._tick_s)

    def cancel(self, handles: Sequence[Handle]) -> None:
        """Stop the tasks of ``handles``; their unfinished calls (and any call packed with
        them) end ``CANCELLED``."""
        tasks = {id(h.backend): h.backend for h in handles if h.outcome is None and h.backend}
        live = [t for t in tasks.values() if not t.done]
        self._cancel_tasks(live)
        for t in live:
            t.cancelled = True
            t.done = True
            for h in t.handles:
                if h.outcome is None:
                    h.outcome = Outcome(OutcomeState.CANCELLED, error="cancelled by the caller")
        self._retry_queue = [r for r in self._retry_queue if r[1].outcome is None]

    def attach(
        self,
        key: str,
        job_id: str,
        ref: dict[str, Any] | None = None,
        call: Call | None = None,
    ) -> Handle:
        """A handle for the call ``key`` an earlier executor submitted as ``job_id``.

        ``ref`` is the earlier ``handle.ref`` (job folder ``dir``, ``pos`` of ``n`` in the
        pack, submission time ``at``). The handle resolves from the job's result pickle if
        there is one, follows the job while it is pending/running, and ends ``LOST`` when the
        job is gone without a result or unknown (the caller then submits again). ``call`` lets
        the executor retry an infrastructure failure of the attached call itself.
        """
        ref = dict(ref or {})
        h = Handle(key=key, job_id=job_id, ref=ref)
        folder = Path(str(ref.get("dir", ""))) if ref.get("dir") else None
        sid = self._sid(job_id)
        pos, n = int(ref.get("pos", 0)), int(ref.get("n", 1))
        if not job_id or folder is None or not sid or not 0 <= pos < n:
            self._stats.lost += 1
            h.outcome = lost(f"nothing to re-attach: job {job_id!r}, ref {ref}")
            return h
        slot = (str(folder), job_id)
        task = self._attached.get(slot)
        fresh = task is None
        if task is None:
            task = Task(
                calls=[None] * n,
                handles=[Handle(key="", job_id=job_id) for _ in range(n)],
                retries=[0] * n,
                attempts_before=[0] * n,
                job_id=job_id,
                folder=folder,
                sid=sid,
                attached=job_id,
                ident=ref,
            )
            for ph in task.handles:
                ph.backend = task
            self._attached[slot] = task
        if len(task.calls) != n or task.handles[pos].key:
            self._stats.lost += 1
            h.outcome = lost(f"job {job_id} position {pos} was attached twice or n differs")
            return h
        h.backend = task
        task.handles[pos] = h
        task.calls[pos] = call
        self._stats.attached += 1
        if fresh:
            self._adopt(task)
        elif task.done:
            self._resolve(task, pos)
        return h

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks and logs."""
        return {
            "tasks": self._stats.tasks,
            "retries": self._stats.retries,
            "attached": self._stats.attached,
            "lost": self._stats.lost,
            "first_result_s": self._stats.first_result_s,
        }

    # ------------------------------------------------------------------ backend hooks
    def _launch(self, tasks: list[Task]) -> None:
        raise NotImplementedError

    def _poll(self) -> None:
        raise NotImplementedError

    def _cancel_tasks(self, tasks: list[Task]) -> None:
        raise NotImplementedError

    def _sid(self, job_id: str) -> str:
        """submitit's id (the prefix of the task's files) for our ``job_id``; "" if invalid."""
        return job_id

    def _adopt(self, task: Task) -> None:
        """Start following a re-attached task (its result may already be there)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery
    def _pack(
        self,
        calls: list[Call],
        handles: list[Handle],
        retries: list[int],
        attempts: list[int],
    ) -> list[Task]:
        tasks = []
        for start in range(0, len(calls), self.pack):
            end = start + self.pack
            pack: list[Call | None] = list(calls[start:end])
            task = Task(
                calls=pack,
                handles=handles[start:end],
                retries=retries[start:end],
                attempts_before=attempts[start:end],
            )
            for h in task.handles:
                h.backend = task
            tasks.append(task)
        self._tasks.extend(tasks)
        self._stats.tasks += len(tasks)
        return tasks

    def _runner(self, task: Task) -> TaskRunner:
        return TaskRunner(
            [(c.fn, tuple(c.args), dict(c.kwargs)) for c in task.calls if c is not None],
            time_limit_s=self.site.time_limit_s(),
            signal_delay_s=self.site.signal_delay_s,
        )

    def _folder(self, task: Task) -> Path:
        return task.folder or self.folder

    def _result_path(self, task: Task) -> Path:
        return self._folder(task) / f"{task.sid or task.job_id}_0_result.pkl"

    def _log_path(self, task: Task) -> Path:
        return self._folder(task) / f"{task.sid or task.job_id}_0_log.out"

    def _ref(self, task: Task, pos: int, at: float) -> dict[str, Any]:
        """What ``attach`` needs to find call ``pos`` of ``task`` again."""
        return {
            "dir": str(self._folder(task)),
            "pos": pos,
            "n": len(task.calls),
            "at": round(at, 3),
        }

    def _records_from_pickle(self, task: Task) -> list[dict[str, Any]]:
        from submitit.core.utils import pickle_load

        try:
            kind, payload = pickle_load(self._result_path(task))
        except Exception as exc:  # unreadable result: the task's data is lost
            err = f"cannot read {self._result_path(task)}: {exc!r}"
            return [{"state": "FAILED", "error": err, "attempt": 1}] * len(task.calls)
        if kind == "success" and isinstance(payload, list) and len(payload) == len(task.calls):
            return payload
        side = sidecar_path(self._folder(task), task.sid or task.job_id)
        if side.exists():
            try:
                records: list[dict[str, Any]] = pickle_load(side)
                return records
            except Exception:  # fall back to the traceback below
                pass
        text = str(payload)
        state = "TIMEOUT" if "UncompletedJobError" in text and "timed-out" in text else "FAILED"
        return [{"state": state, "error": text, "attempt": 1}] * len(task.calls)

    def _finish(self, task: Task, records: list[dict[str, Any]] | None, fallback: Outcome) -> None:
        """Resolve ``task``: per-call records from the worker, else ``fallback`` for all."""
        task.done = True
        task.records, task.fallback = records, fallback
        if self._stats.first_result_s is None:
            self._stats.first_result_s = time.monotonic() - self._stats.started
        for i in range(len(task.calls)):
            self._resolve(task, i)

    def _resolve(self, task: Task, i: int) -> None:
        h, call = task.handles[i], task.calls[i]
        if h.outcome is not None or (not h.key and call is None):
            return  # resolved already, or a pack position nobody re-attached
        records, fallback = task.records, task.fallback
        assert fallback is not None
        if records is not None:
            rec = records[i]
            outcome = Outcome(
                OutcomeState(rec["state"]),
                value=rec.get("value"),
                error=rec.get("error", ""),
                attempts=task.attempts_before[i] + int(rec.get("attempt", 1)),
            )
        elif fallback.state is OutcomeState.LOST:
            outcome = fallback
        else:
            outcome = Outcome(
                fallback.state, error=fallback.error, attempts=task.attempts_before[i] + 1
            )
        if task.cancelled:
            outcome = Outcome(OutcomeState.CANCELLED, error="cancelled by the caller")
        if self.policy.should_retry(outcome, task.retries[i], cancel_requested=task.cancelled):
            if call is None:  # re-attached without the call: the caller submits it again
                h.outcome = lost(
                    f"{outcome.state.value} and the call is not known here:\n{outcome.error}"
                )
            else:
                self._retry_queue.append((call, h, task.retries[i] + 1, outcome.attempts))
        else:
            h.outcome = outcome
        if h.outcome is not None and h.outcome.state is OutcomeState.LOST:
            self._stats.attached -= 1  # counted as attached, turned out gone
            self._stats.lost += 1

    def _resubmit(self) -> None:
        if not self._retry_queue:
            return
        queue, self._retry_queue = self._retry_queue, []
        self._stats.retries += len(queue)
        calls, handles, retries, attempts = (list(x) for x in zip(*queue, strict=True))
        self._launch(self._pack(calls, handles, retries, attempts))

    def _forget(self, task: Task) -> None:
        """An attached task whose job turned out to be gone: its handles end ``LOST``."""
        self._finish(task, None, lost(f"job {task.job_id} is gone without a result"))


def chunks(items: list[Task], size: int) -> Iterator[list[Task]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def listdir(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()
