"""The controller loop: rebuild from journal + store, then ask -> submit -> store -> tell.

A fresh start and a resume are the same code path (:meth:`Controller.run`):

1. **Rebuild.** Open the journal (taking its writer lock, cutting a torn tail), load the
   newest intact snapshot (folded state + pickled strategy), fold the journal tail and
   replay it into the strategy (``ask(n)`` and ``tell`` in journal order; a deterministic
   strategy returns the same candidates, which is checked). Read the run's ``trials`` from
   the store: the store is the source of truth for results.
2. **Reconcile.** Each candidate not yet told is finished where it stands: a result in the
   journal is told; a result only in the store is *recognised* (journaled, told — never
   trained again); a submitted candidate is re-attached through ``executor.attach(key,
   job_id, ref, call)`` (the job id and ref of its last ``submit`` event): the executor
   follows a job that is still pending/running or reads the result of one that finished;
   a job that is gone without a result comes back ``LOST`` — at once or at the first status
   query — and the candidate is re-submitted. A candidate asked but never submitted is
   submitted (the same candidate, from the journal). ``attach`` and ``resubmit`` events
   record which.
3. **Loop.** Keep up to ``max_in_flight`` candidates running; as each result arrives:
   ``store.append`` -> journal ``result`` -> ``strategy.tell`` -> journal ``tell``;
   periodic snapshots. Strategies with ``batch_synchronous = True`` get barrier semantics
   (ask a batch, wait for all of it, tell it at once). Candidate ids are content hashes:
   a proposal whose id is known is told back as DUPLICATE and not evaluated again.
4. **Stop** when the candidate budget is evaluated, another budget is reached (in-flight
   candidates still finish), the strategy is exhausted, ``<run_dir>/CANCEL`` appears
   (in-flight tasks are cancelled), or a signal asked to stop (``request_stop``; in-flight
   tasks keep running and are re-attached by the next start).

Durability: the ``submit`` event is fsynced before the loop goes on (it names the jobs
that must be re-attached; a job change afterwards — a queued local task started, an
executor retry — is journaled as an unsynced ``submit`` with ``update: true``); other
events are written without fsync (a process crash keeps
them; a lost ``result``/``tell`` after a power loss is re-derived from the store).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller.budget import Budget
from nas.controller.faults import fault_point
from nas.controller.journal import Journal
from nas.controller.signals import loop_stop_reason
from nas.controller.snapshot import load_latest, write_snapshot
from nas.controller.state import ASKED, DECIDED, STORED, SUBMITTED, TOLD, RunState, summary_of
from nas.controller.submit_intent import clear_intent, recover_submission, write_intent
from nas.records import (
    Candidate,
    RecordError,
    TrialRecord,
    TrialState,
    canonical_json,
    content_hash,
)
from slurm.executor import Call, Executor, Handle, OutcomeState

__all__ = ["CANCEL_FILE", "Controller", "RunSummary", "record_from_outcome"]

log = logging.getLogger("archlab.controller")

CANCEL_FILE = "CANCEL"
JOURNAL_FILE = "journal.jsonl"
STATE_DIR = "state"

_OUTCOME_TO_STATE = {
    OutcomeState.FAILED: TrialState.FAILED,
    OutcomeState.TIMEOUT: TrialState.TIMEOUT,
    OutcomeState.CANCELLED: TrialState.CANCELLED,  # [issue 18] not a bad architecture
    OutcomeState.PREEMPTED: TrialState.PREEMPTED,
    OutcomeState.NODE_FAIL: TrialState.FAILED,
}


def record_from_outcome(handle: Handle, cand: Candidate) -> TrialRecord:
    """The TrialRecord of a finished handle: the evaluator's record, or a failure record."""
    out = handle.outcome
    assert out is not None
    if out.ok and isinstance(out.value, TrialRecord) and out.value.candidate_id == cand.id:
        return out.value.with_(job_id=handle.job_id, attempt=max(out.attempts, out.value.attempt))
    state = _OUTCOME_TO_STATE.get(out.state, TrialState.FAILED)
    error = out.error or f"the executor returned {type(out.value).__name__}, not this TrialRecord"
    now = time.time()
    return TrialRecord(
        cand.id,
        state,
        error=error,
        attempt=max(1, out.attempts),
        job_id=handle.job_id,
        started_at=now,
        finished_at=now,
    )


@dataclass(frozen=True)
class RunSummary:
    """What :meth:`Controller.run` ends with."""

    reason: str  # done | exhausted | cancelled | interrupted:<why> | budget:<limit>
    state: RunState
    overhead_s: float  # controller time outside evaluate/wait (this process)
    journal_syncs: int

    @property
    def finished(self) -> bool:
        return self.reason in ("done", "exhausted") or self.reason.startswith("budget")


class Controller:
    """Runs one run's search to its end; construct it fresh for every (re)start.

    ``strategy`` must be freshly constructed (never asked): the controller replays the
    journal into it, or replaces it by the snapshot's pickled copy. ``evaluate`` is a
    picklable ``Candidate -> TrialRecord``; ``store`` needs ``append(table, run_id, rows,
    key=...)`` and ``read(table, run_id)``.

    Example::

        c = Controller(run_dir, run_id, RandomSearch(recipe, rng), evaluator,
                       InProcessExecutor(), LocalResultStore(run_dir / "tables"),
                       Budget(candidates=10), max_in_flight=2)
        summary = c.run()
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        run_id: str,
        strategy: Any,
        evaluate: Callable[[Candidate], TrialRecord],
        executor: Executor,
        store: Any,
        budget: Budget,
        *,
        max_in_flight: int = 4,
        poll_interval_s: float = 1.0,
        snapshot_every: int = 50,
        on_result: Callable[[Candidate, TrialRecord], None] | None = None,
        max_submit_failures: int = 5,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.strategy = strategy
        self.evaluate = evaluate
        self.executor = executor
        self.store = store
        self.budget = budget
        self.max_in_flight = max_in_flight
        self.poll_interval_s = poll_interval_s
        self.snapshot_every = max(1, snapshot_every)
        self.on_result = on_result
        self.max_submit_failures = max_submit_failures
        self.barrier = bool(getattr(strategy, "batch_synchronous", False))
        self.state = RunState()
        self.records: dict[str, TrialRecord] = {}
        self.in_flight: dict[str, tuple[Candidate, Handle]] = {}
        self.to_submit: list[Candidate] = []
        self.to_tell: list[str] = []
        self.stop_reason = ""
        self.exhausted = False
        self._stop_request = ""
        self._journal: Journal | None = None
        self._results_since_snapshot = 0
        self._submit_failures = 0
        self._empty_asks = 0
        self._ask_idle = False  # the strategy had nothing to propose until a result arrives
        self._cand_cache: dict[str, Candidate] = {}
        self._wait_s = 0.0
        self._eval_s = 0.0
        self._journaled_job: dict[str, str] = {}  # candidate -> job id the journal has
        self.replay_mismatch = 0  # ask events whose replay returned other candidates

    # ------------------------------------------------------------------ public
    def request_stop(self, why: str) -> None:
        """Ask the loop to stop at its next check (safe to call from a signal handler)."""
        self._stop_request = why or "signal"

    @property
    def cancel_file(self) -> Path:
        return self.run_dir / CANCEL_FILE

    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        self._journal, events = Journal.open(self.run_dir / JOURNAL_FILE)
        try:
            self._rebuild(events)
            self._emit(
                "start",
                pid=os.getpid(),
                host=socket.gethostname(),
                slurm_job_id=os.environ.get("SLURM_JOB_ID", ""),
                resumed=bool(events),
            )
            # [issue 18 hook] a submission the journal missed (crash inside the submit window)
            found = recover_submission(self.run_dir, self.executor, self.state)
            if found.ids:
                refs = [self._portable(r) for r in found.refs]
                self._emit("submit", ids=found.ids, jobs=found.jobs, refs=refs, recovered=True)
            clear_intent(self.run_dir)
            self._reconcile()
            reason = self._loop()
            self._store_strategy_events(final=True)
            self._journal.sync()
            self._emit("stop", reason=reason)
            self._snapshot()
            overhead = time.perf_counter() - t0 - self._wait_s - self._eval_s
            return RunSummary(reason, self.state, overhead, self._journal.syncs)
        finally:
            self._journal.close()
            self._journal = None

    # ------------------------------------------------------------------ rebuild
    def _rebuild(self, events: list[dict[str, Any]]) -> None:
        # [issue 18 hook] events=: snapshots past a cut journal tail are set aside
        snap = load_latest(self.run_dir / STATE_DIR, events=events)
        if snap is not None and snap.strategy is not None:
            self.state = RunState.from_json(snap.state)
            self.strategy = snap.strategy
            tail = events[snap.seq + 1 :]
            log.info("resuming from %s (+%d journal events)", snap.path.name, len(tail))
        else:
            tail = events
        self.records = self._read_store_records()
        for ev in tail:
            self._replay(ev)
            self.state.apply(ev)
        if self.replay_mismatch:
            log.warning(
                "strategy replay diverged on %d ask event(s): the strategy is not deterministic "
                "under replay; the journal's candidates are used",
                self.replay_mismatch,
            )

    def _read_store_records(self) -> dict[str, TrialRecord]:
        read = getattr(self.store, "read", None)
        if read is None:
            return {}
        out: dict[str, TrialRecord] = {}
        for row in read("trials", self.run_id).to_pylist():
            out.setdefault(str(row["candidate_id"]), TrialRecord.from_row(row))
        return out

    def _replay(self, ev: dict[str, Any]) -> None:
        kind = ev["ev"]
        if kind == "ask":
            got = [c.id for c in self.strategy.ask(int(ev["n"]))]
            if got != list(ev["ids"]):
                self.replay_mismatch += 1
            self._pop_decided()  # the strategy's own decisions are journaled separately
        elif kind == "tell":
            pairs = [
                (self._cand(cid), self.records[cid]) for cid in ev["ids"] if cid in self.records
            ]
            pairs += [(self._cand(cid), self._duplicate_record(cid)) for cid in ev.get("dups", [])]
            self._tell_strategy(pairs)

    def _reconcile(self) -> None:
        to_store: dict[int, list[str]] = {}
        attached: list[str] = []
        resubmit: dict[str, str] = {}
        for cid, e in self.state.cands.items():
            if e.phase in (DECIDED, TOLD):
                continue
            if e.phase == STORED and cid in self.records:
                self.to_tell.append(cid)
            elif cid in self.records:
                self._journal_result(cid, self.records[cid], recognised=True)
                self.to_tell.append(cid)
            elif e.phase == SUBMITTED:
                why = self._attach(
                    cid, e.jobs[-1], e.refs[-1] if len(e.refs) == len(e.jobs) else {}
                )
                if why:
                    resubmit[cid] = why
                    self.to_submit.append(self._cand(cid))
                else:
                    attached.append(cid)
            else:
                if e.phase == ASKED:
                    to_store.setdefault(int(e.row.get("ask_seq", -1)), []).append(cid)
                resubmit[cid] = "never submitted (no submit event)"
                self.to_submit.append(self._cand(cid))
        for ask_seq in to_store:  # the ask's candidates file may be missing: rewrite it (same key)
            rows = [e.row for e in self.state.cands.values() if e.row.get("ask_seq") == ask_seq]
            self._store_candidates(rows, ask_seq)
        if attached:
            jobs = [self.in_flight[cid][1].job_id for cid in attached]
            self._emit("attach", sync=False, ids=attached, jobs=jobs)
            log.info("re-attached %d candidate(s) to their jobs", len(attached))
        if resubmit:
            self._emit("resubmit", sync=False, ids=list(resubmit), why=list(resubmit.values()))
            log.info("re-submitting %d candidate(s) not running anymore", len(resubmit))
        self._flush_tells()

    def _attach(self, cid: str, job_id: str, ref: dict[str, Any]) -> str:
        """Re-attach ``cid`` to its job; "" when attached, else why it must be re-submitted."""
        attach = getattr(self.executor, "attach", None)
        if attach is None:
            return f"the {getattr(self.executor, 'name', '?')} executor cannot re-attach"
        ref = dict(ref)
        if ref.get("dir") and not os.path.isabs(str(ref["dir"])):
            ref["dir"] = str(self.run_dir / str(ref["dir"]))
        cand = self._cand(cid)
        try:
            try:
                h = attach(cid, job_id, ref=ref, call=Call(self.evaluate, (cand,), key=cid))
            except TypeError:  # an executor with the plain attach(key, job_id)
                h = attach(cid, job_id)
        except Exception:
            log.warning("could not re-attach %s (job %s):\n%s", cid, job_id, traceback.format_exc())
            return "attach raised"
        if h is None:
            return "the executor does not know the job"
        if h.outcome is not None and h.outcome.state is OutcomeState.LOST:
            return f"lost: {h.outcome.error}"[:500]
        self.in_flight[cid] = (cand, h)
        self._journaled_job[cid] = h.job_id
        return ""

    # ------------------------------------------------------------------ loop
    def _loop(self) -> str:
        while True:
            # [issue 18 hook] signals.py: a cancel stops as "cancelled", other signals interrupt
            if self._stop_request and (
                stop := loop_stop_reason(self._stop_request, self.cancel_file.exists())
            ):
                return stop
            if self.cancel_file.exists():
                self._cancel_in_flight()
                return "cancelled"
            if not self.stop_reason:
                self.stop_reason = self._budget_reason()
            if self.to_submit:
                self._submit(self.to_submit)
            self._fill()
            if not self.in_flight and not self.to_submit:
                self._flush_tells(force=True)
                if self.stop_reason:
                    return self.stop_reason
                if self.exhausted:
                    return "exhausted"
                if self._left() <= 0:
                    return "done"
                continue
            self._wait_some()

    def _left(self) -> int:
        return self.budget.candidates - len(self.state.evaluated())

    def _budget_reason(self) -> str:
        first = float(self.state.starts[0]["t"]) if self.state.starts else time.time()
        llm = self.state.llm_usd() + float(getattr(self.strategy, "llm_cost_usd", 0.0) or 0.0)
        why = self.budget.exhausted_by(
            wall_s=time.time() - first, gpu_s=self.state.gpu_seconds(), llm_usd=llm
        )
        return f"budget:{why}" if why else ""

    def _fill(self) -> None:
        if self.stop_reason or self.exhausted or self.to_submit or self._ask_idle:
            return
        if self.barrier and (self.in_flight or self.to_tell):
            return
        batch = int(getattr(self.strategy, "batch_size", 0) or self.max_in_flight)
        room = batch if self.barrier else self.max_in_flight - len(self.in_flight)
        n = min(room, self._left())
        if n <= 0:
            return
        cands = self.strategy.ask(n)
        fault_point("ask")
        decided = self._pop_decided()
        ids = [c.id for c in cands]
        ask_seq = self._next_seq
        rows: dict[str, dict[str, Any]] = {}
        new: list[Candidate] = []
        dups: list[str] = []
        for c in cands:
            if c.id in self.state.cands or c.id in rows:
                dups.append(c.id)
                continue
            try:
                c.validate()
            except RecordError as e:  # never evaluated: becomes an INVALID data point
                decided.append((c, TrialRecord(c.id, TrialState.INVALID, error=str(e))))
                continue
            rows[c.id] = {**c.to_row(), "ask_seq": ask_seq}
            new.append(c)
            self._cand_cache[c.id] = c
        self._emit("ask", sync=False, n=n, ids=ids, cands=rows, dups=dups)
        for cand, rec in decided:
            self._record_decided(cand, rec)
        self._store_candidates(list(rows.values()), ask_seq)
        # A duplicate of a candidate whose result the strategy already has is told back (with
        # the known metrics); one of a candidate still running is only counted.
        told_dups = [cid for cid in dups if self.state.cands[cid].phase == TOLD]
        if told_dups:
            pairs = [(self._cand(cid), self._duplicate_record(cid)) for cid in told_dups]
            self._tell_strategy(pairs)
            self._emit("tell", sync=False, ids=[], dups=told_dups)
        self._empty_asks = 0 if new else self._empty_asks + 1
        if not new:
            if not self.in_flight and (not (cands or decided) or self._empty_asks >= 100):
                self.exhausted = True  # nothing running that could make it propose more
            self._ask_idle = bool(self.in_flight)
        if new:
            self._submit(new)

    def _submit(self, cands: Sequence[Candidate]) -> None:
        cands = list(cands)
        self.to_submit = []
        fault_point("submit")
        write_intent(self.run_dir, self.executor, [c.id for c in cands])  # [issue 18 hook]
        calls = [Call(self.evaluate, (c,), key=c.id) for c in cands]
        t = time.perf_counter()
        try:
            handles = self.executor.submit(calls)
        except Exception:
            self._eval_s += time.perf_counter() - t
            self._submit_failures += 1
            err = traceback.format_exc()
            if self._submit_failures > self.max_submit_failures:
                log.error(
                    "submission failed %d times; recording FAILED:\n%s", self._submit_failures, err
                )
                now = time.time()
                for c in cands:
                    rec = TrialRecord(
                        c.id,
                        TrialState.FAILED,
                        error=f"submission failed:\n{err}",
                        started_at=now,
                        finished_at=now,
                    )
                    self._finish(c, rec)
                self._submit_failures = 0
                return
            log.warning("submission failed (try %d), retrying:\n%s", self._submit_failures, err)
            self.to_submit = cands
            time.sleep(min(60.0, self.poll_interval_s * 2**self._submit_failures))
            return
        self._eval_s += time.perf_counter() - t  # in-process executors evaluate here
        self._submit_failures = 0
        fault_point("submitted")
        refs = [self._portable(h.ref) for h in handles]
        extra: dict[str, Any] = {"refs": refs} if any(refs) else {}
        self._emit("submit", ids=[c.id for c in cands], jobs=[h.job_id for h in handles], **extra)
        clear_intent(self.run_dir)  # [issue 18 hook] the journal names the jobs now
        for c, h in zip(cands, handles, strict=True):
            self.in_flight[c.id] = (c, h)
            self._journaled_job[c.id] = h.job_id

    def _portable(self, ref: dict[str, Any]) -> dict[str, Any]:
        """``ref`` with its job folder relative to the run directory when inside it."""
        d = ref.get("dir")
        if not d:
            return dict(ref)
        try:
            rel = Path(str(d)).relative_to(self.run_dir.absolute())
        except ValueError:
            return dict(ref)
        return {**ref, "dir": str(rel)}

    def _journal_job_changes(self) -> None:
        """Journal in-flight candidates whose executor job changed since their submit event."""
        moved = [
            (cid, h)
            for cid, (_, h) in self.in_flight.items()
            if h.job_id and h.outcome is None and self._journaled_job.get(cid) != h.job_id
        ]
        if not moved:
            return
        refs = [self._portable(h.ref) for _, h in moved]
        self._emit(
            "submit",
            sync=False,
            update=True,
            ids=[cid for cid, _ in moved],
            jobs=[h.job_id for _, h in moved],
            refs=refs,
        )
        for cid, h in moved:
            self._journaled_job[cid] = h.job_id

    def _wait_some(self) -> None:
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
            self._wait_s += time.perf_counter() - t
            seen = {id(h) for h in done}
            done += [
                h for _, h in self.in_flight.values() if h.outcome is not None and id(h) not in seen
            ]
        self._journal_job_changes()  # tasks the executor started while we waited
        lost: dict[str, str] = {}
        for h in done:
            if h.key not in self.in_flight:
                continue
            cand, _ = self.in_flight.pop(h.key)
            assert h.outcome is not None
            if h.outcome.state is OutcomeState.LOST:  # a re-attached job turned out gone
                lost[cand.id] = f"lost: {h.outcome.error}"[:500]
                self.to_submit.append(cand)
            else:
                self._finish(cand, record_from_outcome(h, cand))
        if lost:
            self._emit("resubmit", sync=False, ids=list(lost), why=list(lost.values()))

    def _finish(self, cand: Candidate, rec: TrialRecord) -> None:
        cid = cand.id
        if cid not in self.records:
            self._store_trial(rec)
            self.records[cid] = rec
        else:
            rec = self.records[cid]  # the store already has it: keep the first record
        fault_point("append")
        self._journal_result(cid, rec, recognised=False)
        fault_point("tell")
        self.to_tell.append(cid)
        self._ask_idle = False
        self._flush_tells()
        if self.on_result is not None:
            self.on_result(cand, rec)
        self._results_since_snapshot += 1
        if self._results_since_snapshot >= self.snapshot_every:
            self._snapshot()

    def _flush_tells(self, force: bool = False) -> None:
        if not self.to_tell or (self.barrier and self.in_flight and not force):
            return
        ids, self.to_tell = self.to_tell, []
        self._tell_strategy([(self._cand(cid), self.records[cid]) for cid in ids])
        self._emit("tell", sync=False, ids=ids)

    def _cancel_in_flight(self) -> None:
        handles = [h for _, h in self.in_flight.values()]
        if handles:
            try:
                self.executor.cancel(handles)
            except Exception:
                log.warning("cancelling in-flight tasks failed:\n%s", traceback.format_exc())
        self._emit("cancel", ids=list(self.in_flight))
        self.in_flight.clear()

    # ------------------------------------------------------------------ helpers
    @property
    def _next_seq(self) -> int:
        assert self._journal is not None
        return self._journal.next_seq

    def _emit(self, ev: str, *, sync: bool = True, **fields: Any) -> None:
        assert self._journal is not None
        event = self._journal.append(ev, sync=sync, **fields)
        self.state.apply(event)

    def _journal_result(self, cid: str, rec: TrialRecord, *, recognised: bool) -> None:
        summary = summary_of(rec.to_row())
        summary["recognised"] = recognised
        self._emit("result", sync=False, id=cid, **summary)

    def _cand(self, cid: str) -> Candidate:
        c = self._cand_cache.get(cid)
        if c is None:
            row = {k: v for k, v in self.state.cands[cid].row.items() if k != "ask_seq"}
            c = self._cand_cache[cid] = Candidate.from_row(row)
        return c

    def _duplicate_record(self, cid: str) -> TrialRecord:
        orig = self.records.get(cid)
        metrics = dict(orig.metrics) if orig and orig.state is TrialState.COMPLETE else {}
        return TrialRecord(
            cid,
            TrialState.DUPLICATE,
            metrics=metrics,
            error="the same candidate (content hash) was already proposed",
        )

    def _pop_decided(self) -> list[tuple[Candidate, TrialRecord]]:
        pop = getattr(self.strategy, "pop_decided", None)
        return list(pop()) if pop is not None else []

    def _record_decided(self, cand: Candidate, rec: TrialRecord) -> None:
        if cand.id in self.state.cands:
            return
        rows = [cand.to_row()]
        self._append("candidates", rows, key=f"decided-{cand.id}")
        self._append("trials", [rec.to_row()], key=f"trial-{cand.id}")
        self.records[cand.id] = rec
        self._cand_cache[cand.id] = cand
        self._emit("decided", sync=False, cand=rows[0], rec=rec.to_row())

    def _tell_strategy(self, pairs: list[tuple[Candidate, TrialRecord]]) -> None:
        if not pairs:
            return
        try:
            self.strategy.tell(pairs)
        except Exception:  # a strategy bug must not kill a run of 500 trainings
            log.warning("strategy.tell failed (results stay stored):\n%s", traceback.format_exc())
        self._store_strategy_events()

    def _store_strategy_events(self, final: bool = False) -> None:
        """Append the strategy's ``pop_events()`` (optional protocol part) to ``events``; the
        key is a content hash, so a replay that re-creates the same events rewrites the file."""
        pop = getattr(self.strategy, "pop_events", None)
        if pop is None:
            return
        try:
            events = list(pop(final=True) if final else pop())
            if not events:
                return
            body = canonical_json([[k, p] for k, p in events])
            h = content_hash(body, length=20)
            now = time.time()
            rows = [
                {"event_id": f"ev-{h}-{i}", "kind": str(k), "payload": canonical_json(p),
                 "created_at": now}
                for i, (k, p) in enumerate(events)
            ]  # fmt: skip
            self._append("events", rows, key=f"strategy-events-{h}")
        except Exception:  # events feed the report; they must not kill the run
            log.warning("storing strategy events failed:\n%s", traceback.format_exc())

    def _store_candidates(self, rows: list[dict[str, Any]], ask_seq: int) -> None:
        clean = [{k: v for k, v in r.items() if k != "ask_seq"} for r in rows]
        if clean:
            self._append("candidates", clean, key=f"ask-{ask_seq}")

    def _store_trial(self, rec: TrialRecord) -> None:
        self._append("trials", [rec.to_row()], key=f"trial-{rec.candidate_id}")
        epochs = rec.epoch_rows()
        if epochs:
            self._append("epochs", epochs, key=f"epochs-{rec.candidate_id}")

    def _append(self, table: str, rows: list[dict[str, Any]], key: str) -> None:
        try:
            self.store.append(table, self.run_id, rows, key=key)
        except TypeError:  # a store without idempotency keys
            self.store.append(table, self.run_id, rows)

    def _snapshot(self) -> None:
        assert self._journal is not None
        if self.to_tell or self.to_submit:
            return  # only at points where the strategy equals the replay of the journal
        self._journal.sync()
        write_snapshot(
            self.run_dir / STATE_DIR, self.state.seq, self.state.to_json(), self.strategy
        )
        self._results_since_snapshot = 0
