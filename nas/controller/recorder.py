"""Every row the controller writes, each under a deterministic idempotency key.

Keys name the controller's *step* — ``op``, the number of journaled ``ask`` and ``tell``
events before it — or the candidate, never a clock or a counter of this process, so a step
repeated after a kill (the same op number, same content) replaces its files instead of
adding rows, and a restart that repeats nothing writes nothing:

================  =============================  =======================================
table             key                            rows
================  =============================  =======================================
candidates        ``ask-<op>``                   the new and the decided candidates of an ask
trials            ``decided-<op>``               the strategy's decided records of that ask
trials / epochs   ``trial-<id>``/``epochs-<id>``  one evaluated candidate
events            ``strategy-events-<op>``       the strategy's ``pop_events()`` of the step;
                                                 ``event_id`` = ``se-<op>-<i>``
events            ``rung-<n>-<id>-<epochs>``     one rung decision (fidelity schedule)
================  =============================  =======================================

Every write of a step happens *before* the step's journal event, and compaction runs only
between steps (:meth:`Recorder.compact`), so a repeated step always finds its own files
unmerged. :meth:`Recorder.discard_after` removes the files of a step that the journal does
not have (a kill between the write and the journal event) when the restarted run will not
make that step the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from nas.records import Candidate, TrialRecord, canonical_json
from nas.strategies.base import Event
from store.result_store import ResultStore

__all__ = ["STRATEGY_EVENT_PREFIX", "Recorder", "op_of_event_id", "with_llm_cost"]

log = logging.getLogger("archlab.controller")

STRATEGY_EVENT_PREFIX = "se-"
_STEP_KEYS = (("candidates", "ask-"), ("trials", "decided-"), ("events", "strategy-events-"))


def with_llm_cost(rec: TrialRecord, llm_cost: tuple[int, int, float]) -> TrialRecord:
    """``rec`` with the LLM cost of the strategy step that produced its candidate added
    (``Strategy.llm_cost_of``): the trained trial carries what designing it cost, so the
    trials' token sums equal ``llm_calls``' for strategies that attribute their requests."""
    tin, tout, usd = llm_cost
    if not (tin or tout or usd):
        return rec
    c = rec.cost
    cost = replace(c, llm_tokens_in=c.llm_tokens_in + tin, llm_tokens_out=c.llm_tokens_out + tout,
                   llm_cost_usd=c.llm_cost_usd + usd)  # fmt: skip
    return replace(rec, cost=cost)


def op_of_event_id(event_id: str) -> int:
    """The step number of a strategy event id (``se-<op>-<i>``); -1 for other events."""
    if not event_id.startswith(STRATEGY_EVENT_PREFIX):
        return -1
    try:
        return int(event_id.split("-")[1])
    except (IndexError, ValueError):
        return -1


class Recorder:
    """The controller's writes to ``store`` for run ``run_id`` (see the module doc)."""

    def __init__(self, store: ResultStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.appends = 0

    def _append(self, table: str, rows: Sequence[Mapping[str, Any]], key: str) -> None:
        if rows:
            self.store.append(table, self.run_id, list(rows), key=key)
            self.appends += 1

    def ask(self, op: int, cands: Sequence[Candidate], decided: Sequence[tuple[Candidate, TrialRecord]]) -> None:  # fmt: skip
        """The candidates of one ask (new and decided) and the decided records."""
        rows = [c.to_row() for c in cands] + [c.to_row() for c, _ in decided]
        self._append("candidates", rows, f"ask-{op:08d}")
        self._append("trials", [r.to_row() for _, r in decided], f"decided-{op:08d}")

    def trial(self, rec: TrialRecord) -> None:
        """One evaluated candidate's record (with its LLM cost: :func:`with_llm_cost`)."""
        self._append("trials", [rec.to_row()], f"trial-{rec.candidate_id}")
        self._append("epochs", rec.epoch_rows(), f"epochs-{rec.candidate_id}")

    def rung(self, row: Mapping[str, Any]) -> None:
        """One rung decision (``nas.controller.rungs.rung_row``), keyed by its event id."""
        self._append("events", [row], str(row["event_id"]))

    def events(self, op: int, events: Sequence[Event]) -> None:
        """The strategy's events of step ``op`` (never raises: they feed the report)."""
        if not events:
            return
        now = time.time()
        rows = [
            {"event_id": f"{STRATEGY_EVENT_PREFIX}{op:08d}-{i:05d}", "kind": str(k),
             "payload": canonical_json(p), "created_at": now}
            for i, (k, p) in enumerate(events)
        ]  # fmt: skip
        try:
            self._append("events", rows, f"strategy-events-{op:08d}")
        except Exception:
            log.warning("storing %d strategy event(s) of step %d failed", len(rows), op, exc_info=True)  # fmt: skip

    def discard_after(self, op: int) -> int:
        """Remove the files of steps ``>= op`` (not journaled); returns how many."""
        n = 0
        for table, prefix in _STEP_KEYS:
            stale = [k for k in self.store.keys(table, self.run_id, prefix)
                     if _op_of_key(k, prefix) >= op]  # fmt: skip
            if stale:
                self.store.discard(table, self.run_id, stale)
                n += len(stale)
        return n

    def discard_newer(self, tables: Sequence[str], after: float) -> int:
        """Remove rows other writers (the experience pool) made for steps the journal does
        not have: keyed files of ``tables`` made entirely after ``after`` (the last journal
        event's time)."""
        return sum(self.store.discard_newer(t, self.run_id, after) for t in tables)

    def compact(self, tables: Sequence[str] | None = None, target_bytes: int | None = None) -> int:
        """Merge the run's small files (between steps only); returns the files removed.
        ``target_bytes``: the store's compaction target (None: its default)."""
        if target_bytes is None:
            res = self.store.compact(self.run_id, tables)
        else:
            res = self.store.compact(self.run_id, tables, target_bytes=target_bytes)
        return sum(r.files_before - r.files_after for r in res)


def _op_of_key(key: str, prefix: str) -> int:
    try:
        return int(key[len(prefix) :])
    except ValueError:
        return -1
