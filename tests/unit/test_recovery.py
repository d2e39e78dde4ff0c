"""Recovery paths: a journal that lost its tail invalidates the snapshots past it (sequence
numbers are not reused under an old snapshot); the damage checks resume and status use."""

from __future__ import annotations

import numpy as np
import pytest

from nas.controller import Budget, Controller, read_events
from nas.controller.journal import Journal, check_journal, writable_problem
from nas.controller.snapshot import load_latest, write_snapshot
from nas.controller.state import fold
from nas.strategies import RandomSearch
from slurm.executor import InProcessExecutor
from store.result_store import LocalResultStore
from tests.support.counting_evaluator import CountingEvaluator

pytestmark = pytest.mark.unit


def _journal(path, n):
    j, _ = Journal.open(path)
    for i in range(n):
        j.append("start" if i == 0 else "tell", ids=[], pid=i)
    j.close()
    return read_events(path)


def test_snapshot_past_the_journal_end_is_set_aside_and_never_loaded(tmp_path):
    p, state_dir = tmp_path / "journal.jsonl", tmp_path / "state"
    events = _journal(p, 10)
    write_snapshot(state_dir, 4, fold(events[:5]).to_json())
    write_snapshot(state_dir, 9, fold(events).to_json())
    # the journal loses its last 3 lines (a torn tail cut, a manual repair)
    cut = p.read_bytes().split(b"\n")
    p.write_bytes(b"\n".join(cut[:7]) + b"\n")
    j, evs = Journal.open(p)
    assert len(evs) == 7
    snap = load_latest(state_dir, events=evs)
    assert snap is not None and snap.seq == 4  # the one that belongs to this journal
    assert (state_dir / "stale-snapshot-000000000009.json").exists()
    # new events take the sequence numbers 7, 8, 9 again: the old snapshot-9 must not return
    for _ in range(5):
        j.append("tell", ids=[])
    j.close()
    evs = read_events(p)
    snap = load_latest(state_dir, events=evs)
    assert snap is not None and snap.seq == 4


def test_snapshot_of_another_history_is_set_aside(tmp_path):
    p, state_dir = tmp_path / "journal.jsonl", tmp_path / "state"
    events = _journal(p, 6)
    other = [dict(e, t=e["t"] + 100.0) for e in events]  # same seqs, other events
    write_snapshot(state_dir, 5, fold(other).to_json())
    assert load_latest(state_dir, events=events) is None
    assert list(state_dir.glob("stale-snapshot-*.json"))


def _ctl(tmp_path, budget):
    return Controller(
        tmp_path / "run", "r1", RandomSearch({"epochs": 1}, rng=np.random.default_rng(0)),
        CountingEvaluator(str(tmp_path / "work")), InProcessExecutor(),
        LocalResultStore(tmp_path / "tables"), Budget(budget), max_in_flight=2, snapshot_every=2,
    )  # fmt: skip


def test_resume_after_a_cut_journal_lists_only_the_journals_controller_starts(tmp_path):
    _ctl(tmp_path, 6).run()
    _ctl(tmp_path, 8).run()  # a second start, with snapshots of its own
    p = tmp_path / "run" / "journal.jsonl"
    events = read_events(p)
    second = max(i for i, e in enumerate(events) if e["ev"] == "start")
    lines = p.read_bytes().split(b"\n")
    p.write_bytes(b"\n".join(lines[:second]) + b"\n" + lines[second][:20])  # torn in the start
    s = _ctl(tmp_path, 8).run()
    evs = read_events(p)
    assert len(s.state.starts) == sum(e["ev"] == "start" for e in evs) == 2
    assert s.reason == "done" and len(s.state.with_result()) == 8
    assert [e["seq"] for e in evs] == list(range(len(evs)))


def test_damage_in_the_middle_gives_the_recovery_hint_and_torn_tail_does_not(tmp_path):
    p = tmp_path / "journal.jsonl"
    _journal(p, 5)
    data = p.read_bytes()
    p.write_bytes(data[:-5])  # torn tail: fine to resume
    assert check_journal(p) == ""
    lines = data.split(b"\n")
    lines[1] = lines[1].replace(b'"tell"', b'"tall"')
    p.write_bytes(b"\n".join(lines))
    hint = check_journal(p)
    assert "damaged and more lines follow" in hint and "head -c" in hint
    assert writable_problem(p) == ""
