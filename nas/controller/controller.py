"""The controller loop: restore from the store, then ask -> submit -> store -> tell.

A fresh start and a resume are the same path (:meth:`Controller.run`; docs/controller.md):

1. **Restore** (:mod:`nas.controller.restore`): fold the journal (from the newest snapshot),
   read the run's ``trials``, drop the files of a step the journal does not have, and
   ``strategy.rebuild(history, pending, events)`` with the generator state of the last
   journaled step — the strategy is never asked again for what it asked before.
2. **Reconcile** (:mod:`nas.controller.reconcile`): tell what is stored, recognise results
   only in the store, re-attach submitted jobs (:class:`~nas.controller.dispatch.Dispatcher`),
   resubmit lost or never-submitted candidates.
3. **Loop**: keep up to ``max_in_flight`` candidates running; results in hand are told before
   the next ask. A *step* (an ask with its decided candidates, or a tell) writes its rows
   under deterministic keys (:mod:`nas.controller.recorder`) before its journal event;
   snapshots of the fold and compaction of small store files run between steps.
   ``batch_synchronous`` strategies get barriers; known ids come back as DUPLICATE.
4. **Stop** on the candidate budget (``done``), another budget (``budget:<limit>``, in-flight
   candidates finish), ``llm_unreachable:<why>`` (the LLM endpoint did not answer
   ``llm.unreachable_stop_after`` calls in a row: the cut-short ask is not made, in-flight
   candidates finish; a resume makes that ask again), ``exhausted``, ``RUN/CANCEL`` (in-flight cancelled) or
   ``request_stop`` (in-flight left running, re-attached by the next start).

Only ``submit`` events are fsynced (they name the jobs to re-attach); everything else is
re-derived from the store after a power loss.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from nas.controller.budget import Budget
from nas.controller.dispatch import Dispatcher
from nas.controller.faults import fault_point
from nas.controller.fidelity import rung_key
from nas.controller.journal import Journal
from nas.controller.outcome import record_from_outcome
from nas.controller.proposals import sort_proposals
from nas.controller.reconcile import plan
from nas.controller.recorder import Recorder, with_llm_cost
from nas.controller.restore import (
    drop_unjournaled,
    ended_cleanly,
    reopen,
    restore_inputs,
    restore_strategy,
    stored_events,
)
from nas.controller.rungs import RUNG_EVENT, Fidelity, rung_row, stored_decisions
from nas.controller.signals import loop_stop_reason
from nas.controller.snapshot import write_snapshot
from nas.controller.state import DECIDED, TOLD, RunState, summary_of
from nas.controller.submit_intent import (
    INTENT_EVENT,
    drop_legacy_intent,
    legacy_intent,
    recover_submission,
)
from nas.llm.memo import memo_scope
from nas.llm.reach import LLMUnreachable
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies.base import Result, Strategy
from slurm.executor import Executor, Handle
from store.empty_tables import write_schema_files
from store.result_store import ResultStore
from store.schemas import TABLES

__all__ = ["CANCEL_FILE", "Controller", "RunService", "RunSummary", "record_from_outcome"]

log = logging.getLogger("archlab.controller")

CANCEL_FILE = "CANCEL"
JOURNAL_FILE = "journal.jsonl"
STATE_DIR = "state"
LLM_UNREACHABLE = "llm_unreachable"  # stop reason: nas.llm.reach.LLMUnreachable (resumable)
RUN_COMPACT_BYTES = 512 * 1024  # in-run compaction: merge files below half of this


class RunService(Protocol):
    """A job of the run besides its candidates (:class:`nas.llm.serve.LLMServer`)."""

    def start(self, emit: Callable[..., None]) -> None: ...

    def stop(self, reason: str) -> None: ...


@dataclass(frozen=True)
class RunSummary:
    """What :meth:`Controller.run` ends with."""

    # done | exhausted | cancelled | interrupted:<why> | budget:<limit> | llm_unreachable:<why>
    reason: str
    state: RunState
    overhead_s: float  # controller time outside evaluate/wait (this process)
    journal_syncs: int

    @property
    def finished(self) -> bool:
        return self.reason in ("done", "exhausted") or self.reason.startswith("budget")


class Controller:
    """Runs one run's search to its end; construct it fresh for every (re)start.

    ``strategy`` must be freshly constructed (never asked): the controller restores it from
    the store (``rebuild``). ``evaluate`` is a picklable ``Candidate -> TrialRecord``.

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
        strategy: Strategy,
        evaluate: Callable[[Candidate], TrialRecord],
        executor: Executor,
        store: ResultStore,
        budget: Budget,
        *,
        max_in_flight: int = 4,
        poll_interval_s: float = 1.0,
        snapshot_every: int = 50,
        on_result: Callable[[Candidate, TrialRecord], None] | None = None,
        max_submit_failures: int = 5,
        compact_every: int = 100,
        fidelity: Fidelity | None = None,
        services: Sequence[RunService] = (),
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.strategy = strategy
        self.dispatch = Dispatcher(
            executor, evaluate, self.run_dir, self._emit,
            poll_interval_s=poll_interval_s, max_submit_failures=max_submit_failures,
        )  # fmt: skip
        self.store = store
        self.budget = budget
        self.max_in_flight = max_in_flight
        self.snapshot_every = max(1, snapshot_every)
        self.on_result = on_result
        self.recorder = Recorder(store, run_id)
        # merge the run's small files every this many results (0: at each snapshot); a fixed
        # interval keeps the store's file count bounded while snapshots space out
        self.compact_every = compact_every
        self.barrier = bool(strategy.batch_synchronous)
        self.state = RunState()
        self.records: dict[str, TrialRecord] = {}
        self.to_tell: list[str] = []
        self.stop_reason = ""
        self.exhausted = False
        self._stop_request = ""
        self._journal: Journal | None = None
        self._results_since_snapshot = 0
        self._empty_asks = 0
        self._ask_idle = False  # the strategy had nothing to propose until a result arrives
        self._cand_cache: dict[str, Candidate] = {}
        self._steps = 0  # strategy steps (asks, tells) made by this process
        self._results_since_compact = 0
        self.discarded = 0  # files of unjournaled steps removed at restore
        # the step a kill cut short (its op), until it is made again: its LLM calls' rows are
        # in the store unattributed and are written again under the same keys then, so
        # compaction leaves llm_calls alone meanwhile (a merged row would be read twice)
        self._redo_op = -1
        # llm_unreachable (nas.llm.reach): the op of the ask it cut short, journaled with the
        # stop; the next start makes that ask again under this op's memo scope, so the calls
        # answered before the endpoint went away are served from the store, not asked again
        self._unanswered_op = -1
        # a fidelity schedule (issue 25; nas/controller/rungs.py): None = full training
        self.fidelity = fidelity
        # jobs of the run besides its candidates (the LLM server of llm.serve): started after
        # the start event, stopped with the run (an interrupted run leaves them running)
        self.services = tuple(services)
        if fidelity is not None:
            self.dispatch.task_of = lambda cand: fidelity.task(cand.id)

    # ------------------------------------------------------------------ public
    @property
    def in_flight(self) -> dict[str, tuple[Candidate, Handle]]:
        """Candidates running on the executor (owned by :attr:`dispatch`)."""
        return self.dispatch.in_flight

    @property
    def to_submit(self) -> list[Candidate]:
        return self.dispatch.to_submit

    @property
    def executor(self) -> Executor:
        return self.dispatch.executor

    @executor.setter
    def executor(self, executor: Executor) -> None:
        self.dispatch.executor = executor

    def request_stop(self, why: str) -> None:
        """Ask the loop to stop at its next check (safe to call from a signal handler)."""
        self._stop_request = why or "signal"

    @property
    def cancel_file(self) -> Path:
        return self.run_dir / CANCEL_FILE

    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        # the run's state is in two places: the journal and the store (nas.controller.restore)
        opened = reopen(self.run_dir, self.store, self.run_id, JOURNAL_FILE, STATE_DIR)
        self._journal, events, self.state = opened.journal, opened.events, opened.state
        self.records = opened.records
        try:
            self._rebuild(events)
            prior_stop = self.state.stop or {}  # the start event below clears it
            if str(prior_stop.get("reason", "")).startswith(LLM_UNREACHABLE):
                self._unanswered_op = int(prior_stop.get("redo_op", -1))
            self._emit(
                "start",
                pid=os.getpid(),
                host=socket.gethostname(),
                slurm_job_id=os.environ.get("SLURM_JOB_ID", ""),
                resumed=bool(events),
            )
            # [issue 18 hook] a submission the journal missed (crash inside the submit window)
            old_intent = legacy_intent(self.run_dir)  # a run from before: its intent file
            if old_intent is not None and self.state.intent is None:
                self._emit(INTENT_EVENT, **old_intent.fields())
            found = recover_submission(self.state, self.executor)
            if found.ids:
                refs = [self.dispatch.portable(r) for r in found.refs]
                self._emit("submit", ids=found.ids, jobs=found.jobs, refs=refs, recovered=True)
            elif self.state.intent is not None:  # nothing of it on the cluster: it is over
                self._emit(INTENT_EVENT, sync=False, ids=[], plan={}, since=0.0)
            drop_legacy_intent(self.run_dir)
            for service in self.services:
                service.start(self._emit)
            self._reconcile()
            if prior_stop.get("reason") == "exhausted" and not (self.in_flight or self.to_submit):
                # the rebuilt strategy is the one that had nothing left to propose: asking it
                # again would only add empty steps to the tables
                self.exhausted = True
            reason = self._loop()
            final = self._steps > 0 or not prior_stop.get("final_events")
            if final:  # a restart of a finished run has nothing new to flush
                self.recorder.events(self.state.ops, self.strategy.pop_events(final=True))
            self._journal.sync()
            for service in self.services:
                service.stop(reason)
            redo: dict[str, Any] = (
                {"redo_op": self._unanswered_op} if reason.startswith(LLM_UNREACHABLE) else {}
            )
            self._emit("stop", reason=reason, ops=self.state.ops, final_events=True, **redo)
            if self._steps or self.recorder.appends:  # a restart that did nothing: no rewrite
                self._snapshot()
                self._compact()
            spent = self.dispatch.wait_s + self.dispatch.eval_s
            overhead = time.perf_counter() - t0 - spent
            return RunSummary(reason, self.state, overhead, self._journal.syncs)
        except BaseException as e:  # the run failed: its services stop with it
            for service in self.services:
                service.stop(f"failed: {type(e).__name__}")
            raise
        finally:
            self._journal.close()
            self._journal = None

    # ------------------------------------------------------------------ restore
    def _rebuild(self, events: list[dict[str, Any]]) -> None:
        if self.fidelity is not None:  # brackets in ask order, then the store's rung tables
            for cid, e in self.state.cands.items():
                if e.phase != DECIDED:
                    self.fidelity.asha.assign(cid)
            self.fidelity.restore(stored_decisions(self.store, self.run_id))
        if not self.state.cands and not self.state.asks:
            return  # a fresh run: nothing to restore
        if not ended_cleanly(events):
            self.discarded = drop_unjournaled(self.state, self.recorder)
            self._redo_op = self.state.ops
        restored = restore_inputs(
            self.state,
            self.records,
            self._cand,
            stored_events(self.store, self.run_id, self.state.ops),
        )
        restore_strategy(self.strategy, restored, self.state.rng)

    def _reconcile(self) -> None:
        p = plan(self.state, self.records)
        self.to_tell += p.tell
        for cid in p.recognise:
            self._journal_result(cid, self.records[cid], recognised=True)
            self.to_tell.append(cid)
        attached: list[str] = []
        resubmit: dict[str, str] = {}
        for cid, job, ref in p.attach:
            why = self.dispatch.attach(self._cand(cid), job, ref)
            if why:
                resubmit[cid] = why
            else:
                attached.append(cid)
        for cid in p.submit:
            rung = self.state.cands[cid].rung
            resubmit[cid] = (f"promoted to {rung} epochs (fidelity rung)" if rung
                             else "never submitted (no submit event)")  # fmt: skip
        self.dispatch.to_submit += [self._cand(cid) for cid in resubmit]
        if attached:
            jobs = [self.dispatch.in_flight[cid][1].job_id for cid in attached]
            self._emit("attach", sync=False, ids=attached, jobs=jobs)
            log.info("re-attached %d candidate(s) to their jobs", len(attached))
        if resubmit:
            self._emit("resubmit", sync=False, ids=list(resubmit), why=list(resubmit.values()))
            log.info("re-submitting %d candidate(s) not running anymore", len(resubmit))
        self._flush_tells()

    # ------------------------------------------------------------------ loop
    def _loop(self) -> str:
        while True:
            # [issue 18 hook] signals.py: a cancel stops as "cancelled", other signals interrupt
            if self._stop_request and (
                stop := loop_stop_reason(self._stop_request, self.cancel_file.exists())
            ):
                return stop
            if self.cancel_file.exists():
                self.dispatch.cancel()
                return "cancelled"
            if not self.stop_reason:
                self.stop_reason = self._budget_reason()
            if self.to_submit and self.stop_reason.startswith("budget"):
                self._hold_promotions()
            if self.to_submit:
                self._submit(self.to_submit)
            if self.dispatch.has_finished():
                self._wait_some()  # results first: a restart asks when the first run did
                continue
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
        return self.budget.candidates - self.state.n_evaluated

    def _budget_reason(self) -> str:
        first = float(self.state.starts[0]["t"]) if self.state.starts else time.time()
        # the strategy's client knows the run's whole LLM spend (its budget resumes from
        # llm_calls); records carry the part attributed to candidates: never add the two
        llm = max(self.state.llm_usd(), self.strategy.llm_cost_usd)
        why = self.budget.exhausted_by(
            wall_s=time.time() - first, gpu_s=self.state.gpu_seconds(), llm_usd=llm
        )
        return f"budget:{why}" if why else ""

    def _hold_promotions(self) -> None:
        """A budget is spent: promoted candidates are not trained on. They stay asked at
        their next rung (journal ``hold``); a resume with a larger budget submits them."""
        held = [c.id for c in self.to_submit if self.state.cands[c.id].rung]
        if not held:
            return
        self.dispatch.to_submit[:] = [c for c in self.to_submit if c.id not in held]
        rungs = [self.state.cands[cid].rung for cid in held]
        self._emit("hold", sync=False, ids=held, rungs=rungs, why=self.stop_reason)
        log.info("%s: %d promoted candidate(s) held at their next rung (resume with a larger "
                 "budget trains them on)", self.stop_reason, len(held))  # fmt: skip

    def _fill(self) -> None:
        if self.stop_reason or self.exhausted or self.to_submit or self._ask_idle:
            return
        if self.barrier and (self.in_flight or self.to_tell):
            return
        batch = self.strategy.batch_size or self.max_in_flight
        room = batch if self.barrier else self.max_in_flight - len(self.in_flight)
        n = min(room, self._left())
        if n <= 0:
            return
        op = self.state.ops
        # LLM calls of this step: memoised under its op number (an ask that llm_unreachable
        # cut short: under the op it had then, whatever tells came between)
        scope, self._unanswered_op = self._unanswered_op, -1
        with memo_scope(f"op{op if scope < 0 else scope}"):
            try:
                cands = self.strategy.ask(n)
            except LLMUnreachable as e:
                self._unreachable(e, op if scope < 0 else scope)
                return
            fault_point("ask")
            p = sort_proposals(cands, self.strategy.pop_decided(), self.state.cands)
            new, dups, decided = p.new, p.dups, p.decided
            rows = {c.id: c.to_row() for c in new}
            if self.fidelity is not None:
                for c in new:
                    self.fidelity.asha.assign(c.id)
            self._cand_cache.update((c.id, c) for c in new)
            # the strategy learns its own decisions, and duplicates of told candidates (with
            # the known metrics), in the same step
            told_dups = [cid for cid in dups if self.state.cands[cid].phase == TOLD]
            back = decided + [(self._cand(cid), self._duplicate_record(cid)) for cid in told_dups]
            self._tell_strategy(back)
        self.recorder.ask(op, new, decided)
        self.recorder.events(op, self.strategy.pop_events())
        for c, r in decided:
            self.records[c.id] = r
            self._cand_cache[c.id] = c
        self._emit(
            "ask", sync=False, n=n, ids=[c.id for c in cands], cands=rows, dups=dups,
            decided={c.id: {"cand": c.to_row(), "rec": r.to_row()} for c, r in decided},
            **self._rng_field(),
        )  # fmt: skip
        self._steps += 1
        self._empty_asks = 0 if new else self._empty_asks + 1
        if not new:
            if not self.in_flight and (not (cands or decided) or self._empty_asks >= 100):
                self.exhausted = True  # nothing running that could make it propose more
            self._ask_idle = bool(self.in_flight)
        if new:
            self._submit(new)

    def _unreachable(self, err: LLMUnreachable, scope_op: int) -> None:
        """The LLM endpoint stopped answering in the middle of an ask: the step is not made
        (nothing of it is stored or journaled, the lessons it wrote are dropped; no design
        is recorded for a transport failure), in-flight candidates finish, and the run stops
        as ``llm_unreachable``; ``archlab resume`` makes the step again."""
        self.strategy.pop_events()
        self.strategy.pop_decided()
        self.discarded += drop_unjournaled(self.state, self.recorder)
        self._unanswered_op = scope_op
        self._stop_unreachable(err)

    def _stop_unreachable(self, err: LLMUnreachable) -> None:
        if not self.stop_reason:
            self.stop_reason = (f"{LLM_UNREACHABLE}: {err}; start it (a local model: "
                                f"scripts/llm-up.sh) and `archlab resume {self.run_id}`")  # fmt: skip
            log.error("%s", self.stop_reason)

    def _rng_field(self) -> dict[str, Any]:
        """``{"rng": state}`` when the strategy's generator moved since the last journal."""
        now = self.strategy.random_state()
        return {} if now == self.state.rng else {"rng": now}

    def _submit(self, cands: Sequence[Candidate]) -> None:
        for cand, rec in self.dispatch.submit(cands):  # given up: FAILED records
            self._finish(cand, rec)

    def _wait_some(self) -> None:
        for cand, rec in self.dispatch.wait():
            self._finish(cand, rec)

    def _finish(self, cand: Candidate, rec: TrialRecord) -> None:
        cid = cand.id
        if self.fidelity is not None and cid not in self.records:
            at_end = self._rung(cand, rec)
            if at_end is None:
                return  # promoted: back to the executor at its next rung
            rec = at_end
        if cid not in self.records:
            rec = with_llm_cost(rec, self.strategy.llm_cost_of(cid))
            self.recorder.trial(rec)
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
        self._results_since_compact += 1
        # a snapshot serialises the whole fold: space them with the run's size (amortised O(1))
        if self._results_since_snapshot >= max(self.snapshot_every, len(self.state.cands) // 10):
            self._snapshot()
        if self.compact_every and self._results_since_compact >= self.compact_every:
            self._compact(final=False)

    def _rung(self, cand: Candidate, rec: TrialRecord) -> TrialRecord | None:
        """A rung result: decide (or find the decision taken before a restart), store the
        decision, journal it; None when promoted, else the trial to record (PRUNED when
        stopped), carrying the GPU-seconds of all its rungs."""
        f = self.fidelity
        assert f is not None
        cid, full = cand.id, f.asha.full
        val = rec.val_acc
        if (
            rec.state is not TrialState.COMPLETE
            or val is None
            or not (0 < rec.fidelity_epochs < full)
        ):  # the last rung, or a failure at any rung: a trial as without a schedule
            gpu = rec.cost.gpu_seconds + f.spent(cid)
            return rec.with_(cost=replace(rec.cost, gpu_seconds=gpu))
        known = rung_key(cid, rec.fidelity_epochs) in f.asha.decided
        d = f.asha.decide(cid, rec.fidelity_epochs, val)
        if not known:
            f.add_spent(cid, rec.cost.gpu_seconds)
            n, f.decisions = f.decisions, f.decisions + 1
            self.recorder.rung(rung_row(d, n, rec.cost.gpu_seconds, time.time()))
        spent = f.spent(cid)
        saved = 0.0 if d.promote else spent * (full / d.epochs - 1.0)
        self._emit(RUNG_EVENT, sync=False, **d.to_payload(), saved_s=saved,
                   gpu_s=rec.cost.gpu_seconds)  # fmt: skip
        if d.promote:
            self.dispatch.to_submit.append(cand)
            return None
        kept = max(d.competitors // f.asha.eta, 1)
        why = (f"stopped at rung {d.epochs} of {full} epochs: rank {d.rank} of "
               f"{d.competitors} (top {kept} promoted)")  # fmt: skip
        return rec.with_(state=TrialState.PRUNED, error=why,
                         cost=replace(rec.cost, gpu_seconds=spent))  # fmt: skip

    def _flush_tells(self, force: bool = False) -> None:
        if not self.to_tell or (self.barrier and self.in_flight and not force):
            return
        ids, self.to_tell = self.to_tell, []
        op = self.state.ops
        with memo_scope(f"op{op}"):
            self._tell_strategy([(self._cand(cid), self.records[cid]) for cid in ids])
        self.recorder.events(op, self.strategy.pop_events())
        self._emit("tell", sync=False, ids=ids, **self._rng_field())
        self._steps += 1

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

    def _tell_strategy(self, pairs: Sequence[Result]) -> None:
        if not pairs:
            return
        try:
            self.strategy.tell(pairs)
        except LLMUnreachable as e:  # results stay stored; the rebuild on resume learns them
            self._stop_unreachable(e)
        except Exception:  # a strategy bug must not kill a run of 500 trainings
            log.warning("strategy.tell failed (results stay stored):\n%s", traceback.format_exc())

    def _snapshot(self) -> None:
        """The journal's fold (a speed-up for the next start; the strategy is restored from
        the store, never pickled)."""
        assert self._journal is not None
        self._journal.sync()
        write_snapshot(self.run_dir / STATE_DIR, self.state.seq, self.state.to_json())
        self._results_since_snapshot = 0
        if not self.compact_every:
            self._compact(final=False)

    def _compact(self, final: bool = True) -> None:
        """Merge the run's small store files (between steps: see nas.controller.recorder);
        during the run only files below ``RUN_COMPACT_BYTES`` are merged (so a merged file is
        not rewritten again and again), at the stop everything small."""
        self._results_since_compact = 0
        tables = None
        if self.state.ops <= self._redo_op or self._unanswered_op >= 0:  # see both
            tables = [t for t in TABLES if t != "llm_calls"]
        try:
            self.recorder.compact(tables, target_bytes=None if final else RUN_COMPACT_BYTES)
            if final:  # tables the run never wrote stay queryable by plain DuckDB
                write_schema_files(self.store, self.run_id)
        except Exception:  # compaction is housekeeping; the next one finishes it
            log.warning("compacting the run's tables failed:\n%s", traceback.format_exc())
