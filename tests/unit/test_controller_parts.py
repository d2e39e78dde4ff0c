"""The controller's collaborators on their own: the reconcile plan after a restart, the
dispatcher (submit, journal, re-attach, lost jobs), the recorder's keyed writes and the
restore inputs (history in learning order, pending, events of journaled steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.controller.dispatch import Dispatcher
from nas.controller.reconcile import plan
from nas.controller.recorder import Recorder
from nas.controller.restore import restore_inputs, stored_events
from nas.controller.state import fold
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies import RandomSearch
from slurm.executor import Call, Handle, InProcessExecutor, Outcome, OutcomeState
from store.result_store import LocalResultStore

pytestmark = pytest.mark.unit


def _cands(n: int) -> list[Candidate]:
    return RandomSearch(rng=np.random.default_rng(0)).ask(n)


def _ok(c: Candidate, acc: float = 0.5) -> TrialRecord:
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": acc})


def _journal(cands: list[Candidate]) -> list[dict[str, Any]]:
    """a, b, c, d asked; a told; b stored (journaled); c submitted; d never submitted."""
    a, b, c, d = (x.id for x in cands)
    rows = {x.id: x.to_row() for x in cands}
    summ = {"state": "COMPLETE", "val_acc": 0.5}
    return [
        {"seq": 0, "t": 1.0, "ev": "start"},
        {"seq": 1, "t": 1.0, "ev": "ask", "n": 4, "ids": [a, b, c, d], "cands": rows,
         "rng": {"s": 1}},
        {"seq": 2, "t": 1.0, "ev": "submit", "ids": [a, b, c], "jobs": ["j1", "j2", "j3"],
         "refs": [{}, {}, {"dir": "jobs/x"}]},
        {"seq": 3, "t": 1.0, "ev": "result", "id": b, **summ},
        {"seq": 4, "t": 1.0, "ev": "result", "id": a, **summ},
        {"seq": 5, "t": 2.0, "ev": "tell", "ids": [a], "rng": {"s": 2}},
    ]  # fmt: skip


def test_reconcile_plan_sorts_each_candidate_by_where_it_stands() -> None:
    cands = _cands(4)
    a, b, c, d = (x.id for x in cands)
    state = fold(_journal(cands))
    p = plan(state, stored={a, b})
    assert p.tell == [b] and p.recognise == [] and p.submit == [d]
    assert p.attach == [(c, "j3", {"dir": "jobs/x"})]
    p2 = plan(state, stored={a, b, c})  # c's result reached the store, not the journal
    assert p2.recognise == [c] and p2.attach == []


def test_restore_inputs_history_in_learning_order_and_pending() -> None:
    cands = _cands(4)
    a, b, c, d = cands
    state = fold(_journal(cands))
    assert state.rng == {"s": 2} and state.ops == 2
    r = restore_inputs(
        state, {a.id: _ok(a), b.id: _ok(b)}, {x.id: x for x in cands}.__getitem__, []
    )
    assert [x.id for x, _ in r.history] == [a.id]
    assert [x.id for x in r.pending] == [b.id, c.id, d.id] and r.missing == []


def test_recorder_keys_steps_and_discards_unjournaled_ones(tmp_path: Path) -> None:
    store = LocalResultStore(tmp_path)
    rec = Recorder(store, "r")
    cands = _cands(3)
    rec.ask(0, cands[:2], [])
    rec.ask(0, cands[:2], [])  # the same step again: replaces, no new rows
    rec.events(0, [("k", {"x": 1})])
    rec.ask(1, cands[2:], [(cands[0], TrialRecord(cands[0].id, TrialState.INVALID))])
    rec.events(1, [("k", {"x": 2}), ("k", {"x": 3})])
    assert store.read("candidates", "r").num_rows == 4
    assert stored_events(store, "r", before_op=1) == [("k", {"x": 1})]
    assert rec.discard_after(1) == 3  # candidates, decided trials and events of step 1
    assert store.read("candidates", "r").num_rows == 2
    assert store.read("trials", "r").num_rows == 0
    assert [e for e in stored_events(store, "r", 99)] == [("k", {"x": 1})]


def test_recorder_discards_rows_newer_than_the_journal(tmp_path: Path) -> None:
    store = LocalResultStore(tmp_path)
    row = {"experience_id": "e1", "category": "c", "kind": "k", "text": "t", "created_at": 5.0}
    store.append("experiences", "r", [row], key="exp-a")
    store.append("experiences", "r", [{**row, "experience_id": "e2", "created_at": 9.0}],
                 key="exp-b")  # fmt: skip
    assert Recorder(store, "r").discard_newer(("experiences",), after=7.0) == 1
    assert store.read("experiences", "r").column("experience_id").to_pylist() == ["e1"]


class _Gone(InProcessExecutor):
    """Runs submits in-process; every re-attached job is gone."""

    def attach(self, key: str, job_id: str, ref: dict[str, Any] | None = None,
               call: Call | None = None) -> Handle:  # fmt: skip
        return Handle(key, job_id, outcome=Outcome(OutcomeState.LOST, error="no such job"))


def test_dispatcher_journals_jobs_and_hands_back_records(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    d = Dispatcher(_Gone(), _ok, tmp_path, lambda ev, sync=True, **f: events.append((ev, f)))
    cands = _cands(3)
    assert d.submit(cands[:2]) == []
    assert events[0][0] == "submit" and events[0][1]["ids"] == [c.id for c in cands[:2]]
    done = d.wait()
    assert [(c.id, r.state) for c, r in done] == [(c.id, TrialState.COMPLETE) for c in cands[:2]]
    assert d.in_flight == {}
    why = d.attach(cands[2], "j9", {"dir": "jobs/x"})
    assert why.startswith("lost") and cands[2].id not in d.in_flight


def test_sort_proposals_new_duplicates_and_invalid() -> None:
    from dataclasses import replace

    from nas.controller.proposals import sort_proposals

    a, b, c = _cands(3)
    bad = replace(c, arch_kind="")  # fails Candidate.validate: an INVALID data point
    own = (b, TrialRecord(b.id, TrialState.DUPLICATE))  # the strategy's own decision
    p = sort_proposals([a, a, bad], [own], known={"x"})
    assert [x.id for x in p.new] == [a.id] and p.dups == [a.id]
    assert [(x.id, r.state) for x, r in p.decided] == [
        (b.id, TrialState.DUPLICATE), (bad.id, TrialState.INVALID)
    ]  # fmt: skip
    assert sort_proposals([a], [], known={a.id}).dups == [a.id]


def test_rung_gpu_seconds_count_from_the_decision_and_the_trial_replaces_them() -> None:
    """Issue 25: a decided rung's ``gpu_s`` is in ``gpu_seconds()`` while its candidate is in
    flight; the trial (which carries all its rungs) replaces them, not adds to them; a rung
    re-journaled after a restart counts once."""
    row = {"candidate_id": "a"}
    evs: list[dict[str, Any]] = [
        {"seq": 0, "ev": "ask", "cands": {"a": row}},
        {"seq": 1, "ev": "rung", "candidate_id": "a", "epochs": 1, "promote": True,
         "next_epochs": 3, "gpu_s": 100.0},
        {"seq": 2, "ev": "rung", "candidate_id": "a", "epochs": 1, "promote": True,
         "next_epochs": 3, "gpu_s": 100.0},  # the same decision journaled again
        {"seq": 3, "ev": "rung", "candidate_id": "a", "epochs": 3, "promote": True,
         "next_epochs": 9, "gpu_s": 200.0},
    ]  # fmt: skip
    s = fold(evs)
    assert s.gpu_seconds() == 300.0 and s.rungs == 2
    s = fold([{"seq": 4, "ev": "result", "id": "a", "state": "COMPLETE", "gpu_s": 900.0}], s)
    assert s.gpu_seconds() == 900.0  # 100 + 200 of the rungs + 600 of the last one, once
