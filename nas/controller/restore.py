"""Restore a run from its two places of state: the store's tables and the journal.

:func:`reopen` is the one way in (as Optuna's "reopen the storage"): it opens the journal
(the writer's lock; folded from the newest snapshot, which is only a cache of the fold) and
reads the store's ``trials``. Nothing else is read: the strategy is rebuilt from the store
(below), a submission the journal may not name is its ``intent`` event
(:mod:`nas.controller.submit_intent`), and the answers of the run's LLM calls are the
``answer`` column of its ``llm_calls`` rows, read by the run's client
(:class:`nas.llm.memo.CallMemo`).

A fresh strategy is restored from the store: what :meth:`Strategy.rebuild` gets on every start.

* ``history``: the stored ``(Candidate, TrialRecord)`` pairs of every candidate the journal
  says the strategy learned — told results and its own decided ones — in the order it
  learned them (the journal position of their tell);
* ``pending``: the candidates it asked that have no told result yet (ask order);
* ``events``: the ``(kind, payload)`` events it emitted in journaled steps (stored order).

The generator's state journaled with the last ``ask``/``tell`` is set afterwards, and
whatever the strategy emits while rebuilding (events, decisions) is dropped: it is stored
already. The strategy is never asked for a candidate it asked before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller.journal import Journal, read_events
from nas.controller.recorder import Recorder, op_of_event_id
from nas.controller.snapshot import belongs, load_latest
from nas.controller.state import DECIDED, TOLD, RunState
from nas.records import Candidate, TrialRecord
from nas.strategies.base import Event, Result, Strategy
from store.result_store import CORRUPT_DIR, ResultStore

__all__ = [
    "Reopened",
    "Restored",
    "discard_unjournaled",
    "drop_unjournaled",
    "ended_cleanly",
    "open_and_fold",
    "reopen",
    "restore_inputs",
    "restore_strategy",
    "stored_events",
]

log = logging.getLogger("archlab.controller")


@dataclass(frozen=True)
class Restored:
    history: list[Result]
    pending: list[Candidate]
    events: list[Event]
    missing: list[str]  # told candidates whose record is not in the store (skipped)


def stored_events(store: ResultStore, run_id: str, before_op: int) -> list[Event]:
    """The strategy's stored events of steps ``< before_op``, in step order."""
    rows = store.read("events", run_id, columns=["event_id", "kind", "payload"]).to_pylist()
    mine = sorted(
        (r for r in rows if 0 <= op_of_event_id(str(r["event_id"])) < before_op),
        key=lambda r: str(r["event_id"]),
    )
    seen: set[str] = set()
    out: list[Event] = []
    for r in mine:
        if r["event_id"] in seen:
            continue
        seen.add(r["event_id"])
        out.append((str(r["kind"]), json.loads(r["payload"]) if r["payload"] else {}))
    return out


def restore_inputs(
    state: RunState,
    records: dict[str, TrialRecord],
    cand_of: Callable[[str], Candidate],
    events: list[Event],
) -> Restored:
    """``rebuild``'s arguments from the journal's fold and the store's records."""
    told = sorted(
        [(e.told, i, cid) for i, (cid, e) in enumerate(state.cands.items()) if e.told >= 0]
    )
    history: list[Result] = []
    missing: list[str] = []
    for _, _, cid in told:
        rec = records.get(cid)
        if rec is None:
            missing.append(cid)
            continue
        history.append((cand_of(cid), rec))
    pending = [
        cand_of(cid)
        for cid, e in state.cands.items()
        if e.told < 0 and e.phase not in (DECIDED, TOLD)
    ]
    return Restored(history, pending, events, missing)


def restore_strategy(
    strategy: Strategy, restored: Restored, rng_state: dict[str, Any] | None
) -> None:
    """Rebuild ``strategy`` (fresh) from ``restored``, set its generator, drop re-emissions."""
    if restored.missing:
        log.warning(
            "%d told candidate(s) have no record in the store (restored without them): %s",
            len(restored.missing), ", ".join(restored.missing[:5]),
        )  # fmt: skip
    strategy.rebuild(restored.history, restored.pending, restored.events)
    if rng_state:
        strategy.set_random_state(rng_state)
    strategy.pop_events()
    strategy.pop_decided()


def drop_unjournaled(state: RunState, recorder: Recorder) -> int:
    """Remove what a step the journal does not have wrote (a kill between the step's writes
    and its journal event): the controller's step files (``op >= state.ops``) and the
    lessons the strategy's experience pool stored after the last journal event. Returns the
    files removed. The step is made again — the same way, so the same rows come back."""
    n = recorder.discard_after(state.ops)
    if state.last_t:
        n += recorder.discard_newer(("experiences",), state.last_t)
    return n


def open_and_fold(
    run_dir: Path, journal: str = "journal.jsonl", state_dir: str = "state"
) -> tuple[Journal, list[dict[str, Any]], RunState]:
    """Open the journal (lock) and fold it from the newest usable snapshot: only the events
    after the snapshot are parsed. Returns the writer, the events (placeholders before the
    snapshot) and the fold."""
    snap = load_latest(run_dir / state_dir)
    # the snapshot's own event is decoded too: it must be the event the snapshot folded
    j, events = Journal.open(run_dir / journal, decode_from=snap.seq if snap else 0)
    if snap is not None and snap.seq < len(events) and belongs(snap, events):
        state = RunState.from_json(snap.state)
        tail = events[snap.seq + 1 :]
    else:  # no snapshot, or one past a journal cut short / from another history: fold all
        if snap is not None:
            events = read_events(run_dir / journal)
        # events=: snapshots past the journal's end or of another history are set aside
        older = load_latest(run_dir / state_dir, events=events)
        state = RunState.from_json(older.state) if older else RunState()
        tail = events[older.seq + 1 :] if older else events
    for ev in tail:
        state.apply(ev)
    return j, events, state


@dataclass(frozen=True)
class Reopened:
    """A run as a (re)start finds it."""

    journal: Journal  # the writer (holds the lock until closed)
    events: list[dict[str, Any]]  # placeholders ``{"seq": n}`` before the snapshot's
    state: RunState  # the journal's fold
    records: dict[str, TrialRecord]  # the store's trials by candidate (first row wins)


def stored_records(store: ResultStore, run_id: str) -> dict[str, TrialRecord]:
    """The run's trials in the store, the first row of each candidate."""
    out: dict[str, TrialRecord] = {}
    for row in store.read("trials", run_id).to_pylist():
        out.setdefault(str(row["candidate_id"]), TrialRecord.from_row(row))
    return out


def reopen(
    run_dir: Path, store: ResultStore, run_id: str,
    journal: str = "journal.jsonl", state_dir: str = "state",
) -> Reopened:  # fmt: skip
    """Open the run's journal (lock, fold) and read its store: unreadable table files are
    moved aside first (logged), so a damaged file costs its rows, not the run."""
    j, events, state = open_and_fold(run_dir, journal, state_dir)
    try:
        for key, why in store.set_aside_unreadable(run_id):
            log.warning("moved the unreadable table file %s aside to %s/ (%s)", key,
                        CORRUPT_DIR, why)  # fmt: skip
        return Reopened(j, events, state, stored_records(store, run_id))
    except BaseException:
        j.close()
        raise


def ended_cleanly(events: list[dict[str, Any]]) -> bool:
    """The last journal event is a ``stop``: no step can be half written."""
    return bool(events) and events[-1].get("ev") == "stop"


def discard_unjournaled(run_dir: str | Path, recorder: Recorder, journal: str = "journal.jsonl") -> int:  # fmt: skip
    """:func:`drop_unjournaled` before the strategy is built (its experience pool reads the
    store when it is constructed): takes the journal's lock for the time it runs, so a
    running controller is never touched (``JournalBusy``)."""
    j, events, state = open_and_fold(Path(run_dir), journal)
    try:
        return 0 if not events or ended_cleanly(events) else drop_unjournaled(state, recorder)
    finally:
        j.close()
