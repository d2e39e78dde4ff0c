"""The controller's side of the executor: submit, re-attach, wait, cancel, and the journal
events that name the jobs (``intent`` before a submission, ``submit``, ``submit`` with
``update: true``, ``resubmit``, ``cancel``).

:class:`Dispatcher` owns the candidates in flight. It journals through ``emit`` (the
controller's journal append) and hands finished ``(Candidate, TrialRecord)`` pairs back;
the controller stores and tells them. Job folders are journaled relative to the run
directory (:meth:`Dispatcher.portable`), so a moved run directory still re-attaches.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from nas.controller.faults import fault_point
from nas.controller.outcome import record_from_outcome
from nas.controller.submit_intent import INTENT_EVENT, plan_intent
from nas.records import Candidate, TrialRecord, TrialState
from slurm.executor import Call, Executor, Handle, OutcomeState

__all__ = ["Dispatcher", "Emit"]

log = logging.getLogger("archlab.controller")


class Emit(Protocol):
    def __call__(self, ev: str, *, sync: bool = True, **fields: Any) -> None: ...


class Dispatcher:
    """Candidates in flight on ``executor`` (see the module doc)."""

    def __init__(
        self,
        executor: Executor,
        evaluate: Callable[[Candidate], TrialRecord],
        run_dir: Path,
        emit: Emit,
        *,
        poll_interval_s: float = 1.0,
        max_submit_failures: int = 5,
    ) -> None:
        self.executor = executor
        self.evaluate = evaluate
        self.run_dir = run_dir
        self.emit = emit
        self.poll_interval_s = poll_interval_s
        self.max_submit_failures = max_submit_failures
        self.in_flight: dict[str, tuple[Candidate, Handle]] = {}
        self.to_submit: list[Candidate] = []
        self.eval_s = 0.0  # time inside executor.submit (in-process executors evaluate there)
        self.wait_s = 0.0  # time waiting in executor.as_completed
        self._failures = 0
        self._journaled_job: dict[str, str] = {}  # candidate -> job id the journal has
        # a fidelity schedule's task per candidate (its next rung); None: ``evaluate``
        self.task_of: Callable[[Candidate], Callable[[Candidate], TrialRecord]] | None = None

    def _call(self, cand: Candidate) -> Call:
        fn = self.evaluate if self.task_of is None else self.task_of(cand)
        return Call(fn, (cand,), key=cand.id)

    # ------------------------------------------------------------------ submit
    def submit(self, cands: Sequence[Candidate]) -> list[tuple[Candidate, TrialRecord]]:
        """Submit ``cands`` and journal the jobs (fsynced). A failed submission is retried
        later (``to_submit``); after ``max_submit_failures`` the candidates come back as
        FAILED records."""
        cands = list(cands)
        self.to_submit = []
        fault_point("submit")
        intent = plan_intent(self.executor, [c.id for c in cands])
        if intent is not None:  # [issue 18] journaled (fsynced) before the submission
            self.emit(INTENT_EVENT, **intent.fields())
        t = time.perf_counter()
        try:
            handles = self.executor.submit([self._call(c) for c in cands])
        except Exception:
            self.eval_s += time.perf_counter() - t
            self._failures += 1
            err = traceback.format_exc()
            if self._failures > self.max_submit_failures:
                log.error("submission failed %d times; recording FAILED:\n%s", self._failures, err)
                self._failures = 0
                now = time.time()
                return [
                    (c, TrialRecord(c.id, TrialState.FAILED, error=f"submission failed:\n{err}",
                                    started_at=now, finished_at=now))
                    for c in cands
                ]  # fmt: skip
            log.warning("submission failed (try %d), retrying:\n%s", self._failures, err)
            self.to_submit = cands
            time.sleep(min(60.0, self.poll_interval_s * 2**self._failures))
            return []
        self.eval_s += time.perf_counter() - t
        self._failures = 0
        fault_point("submitted")
        refs = [self.portable(h.ref) for h in handles]
        extra: dict[str, Any] = {"refs": refs} if any(refs) else {}
        self.emit("submit", ids=[c.id for c in cands], jobs=[h.job_id for h in handles], **extra)
        for c, h in zip(cands, handles, strict=True):
            self.in_flight[c.id] = (c, h)
            self._journaled_job[c.id] = h.job_id
        return []

    def portable(self, ref: dict[str, Any]) -> dict[str, Any]:
        """``ref`` with its job folder relative to the run directory when inside it."""
        d = ref.get("dir")
        if not d:
            return dict(ref)
        try:
            rel = Path(str(d)).relative_to(self.run_dir.absolute())
        except ValueError:
            return dict(ref)
        return {**ref, "dir": str(rel)}

    # ------------------------------------------------------------------ re-attach
    def attach(self, cand: Candidate, job_id: str, ref: dict[str, Any]) -> str:
        """Re-attach ``cand`` to its job; "" when attached, else why it must be re-submitted."""
        ref = dict(ref)
        if ref.get("dir") and not os.path.isabs(str(ref["dir"])):
            ref["dir"] = str(self.run_dir / str(ref["dir"]))
        try:
            h = self.executor.attach(cand.id, job_id, ref=ref, call=self._call(cand))
        except Exception:
            log.warning("could not re-attach %s (job %s):\n%s", cand.id, job_id,
                        traceback.format_exc())  # fmt: skip
            return "attach raised"
        if h.outcome is not None and h.outcome.state is OutcomeState.LOST:
            return f"lost: {h.outcome.error}"[:500]
        self.in_flight[cand.id] = (cand, h)
        self._journaled_job[cand.id] = h.job_id
        return ""

    # ------------------------------------------------------------------ wait
    def has_finished(self) -> bool:
        return any(h.outcome is not None for _, h in self.in_flight.values())

    def wait(self) -> list[tuple[Candidate, TrialRecord]]:
        """Finished candidates (waiting up to ``poll_interval_s`` when none is); a
        re-attached job that turned out gone goes back to ``to_submit`` (``resubmit``)."""
        handles = [h for _, h in self.in_flight.values() if h.outcome is None]
        done = [h for _, h in self.in_flight.values() if h.outcome is not None]
        if not done and handles:
            t = time.perf_counter()
            try:
                for h in self.executor.as_completed(handles, timeout_s=self.poll_interval_s):
                    done.append(h)
                    break
            except TimeoutError:
                pass
            self.wait_s += time.perf_counter() - t
            seen = {id(h) for h in done}
            done += [h for _, h in self.in_flight.values()
                     if h.outcome is not None and id(h) not in seen]  # fmt: skip
        self.journal_job_changes()  # tasks the executor started while we waited
        lost: dict[str, str] = {}
        out: list[tuple[Candidate, TrialRecord]] = []
        for h in done:
            if h.key not in self.in_flight:
                continue
            cand, _ = self.in_flight.pop(h.key)
            assert h.outcome is not None
            if h.outcome.state is OutcomeState.LOST:  # a re-attached job turned out gone
                lost[cand.id] = f"lost: {h.outcome.error}"[:500]
                self.to_submit.append(cand)
            else:
                out.append((cand, record_from_outcome(h, cand)))
        if lost:
            self.emit("resubmit", sync=False, ids=list(lost), why=list(lost.values()))
        return out

    def journal_job_changes(self) -> None:
        """Journal in-flight candidates whose executor job changed since their submit event."""
        moved = [
            (cid, h)
            for cid, (_, h) in self.in_flight.items()
            if h.job_id and h.outcome is None and self._journaled_job.get(cid) != h.job_id
        ]
        if not moved:
            return
        self.emit("submit", sync=False, update=True, ids=[cid for cid, _ in moved],
                  jobs=[h.job_id for _, h in moved],
                  refs=[self.portable(h.ref) for _, h in moved])  # fmt: skip
        for cid, h in moved:
            self._journaled_job[cid] = h.job_id

    # ------------------------------------------------------------------ cancel
    def cancel(self) -> None:
        handles = [h for _, h in self.in_flight.values()]
        if handles:
            try:
                self.executor.cancel(handles)
            except Exception:
                log.warning("cancelling in-flight tasks failed:\n%s", traceback.format_exc())
        self.emit("cancel", ids=list(self.in_flight))
        self.in_flight.clear()
