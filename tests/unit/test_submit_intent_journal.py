"""The submit intent is a journal event (#22): journaled before each submission of an
executor that plans its submissions, ended by the ``submit`` line; a restart whose journal
ends inside the window asks the executor for the intent's submission; an intent file left by
an older archlab is journaled once and removed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.controller import Budget, Controller, read_events
from nas.controller.submit_intent import INTENT_EVENT, LEGACY_INTENT_FILE
from nas.strategies import RandomSearch
from slurm.executor import InProcessExecutor
from store.result_store import LocalResultStore
from tests.support.counting_evaluator import CountingEvaluator, read_events_log

pytestmark = pytest.mark.unit


class PlanningExecutor(InProcessExecutor):
    """In-process, but plans its submissions like the Slurm executor; its "cluster" has
    none of them (a crash before ``sbatch``)."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[tuple[list[str], float]] = []

    def plan_submission(self) -> dict[str, Any]:
        return {"kind": "planning", "name": "archlab-test"}

    def find_submission(
        self, plan: dict[str, Any], keys: Sequence[str], since: float
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        self.looked_up.append((list(keys), since))
        return {}


def _ctl(tmp_path: Path, executor: InProcessExecutor, budget: int = 6) -> Controller:
    return Controller(
        tmp_path / "run", "r1", RandomSearch({"epochs": 1}, rng=np.random.default_rng(0)),
        CountingEvaluator(str(tmp_path / "work")), executor,
        LocalResultStore(tmp_path / "tables"), Budget(budget), max_in_flight=2,
    )  # fmt: skip


def test_each_submit_follows_its_intent_and_a_restart_inside_the_window_looks_it_up(
    tmp_path: Path,
) -> None:
    assert _ctl(tmp_path, PlanningExecutor()).run().reason == "done"
    journal = tmp_path / "run" / "journal.jsonl"
    events = read_events(journal)
    submits = [i for i, e in enumerate(events) if e["ev"] == "submit"]
    assert submits and all(
        events[i - 1]["ev"] == INTENT_EVENT and events[i - 1]["ids"] == events[i]["ids"]
        for i in submits
    )
    assert not (tmp_path / "run" / LEGACY_INTENT_FILE).exists()
    # a crash right after the last intent was journaled: the journal ends inside the window
    last = max(i for i, e in enumerate(events) if e["ev"] == INTENT_EVENT)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[: last + 1]))
    for snap in (tmp_path / "run" / "state").glob("*.json"):
        snap.unlink()
    ex = PlanningExecutor()
    s = _ctl(tmp_path, ex).run()
    assert s.reason == "done" and s.state.intent is None
    assert ex.looked_up == [(events[last]["ids"], events[last]["since"])]
    after = read_events(journal)[last + 1 :]
    assert any(e["ev"] == INTENT_EVENT and e["ids"] == [] for e in after)  # found nothing
    trials = LocalResultStore(tmp_path / "tables").read("trials", "r1").to_pylist()
    assert set(Counter(r["candidate_id"] for r in trials).values()) == {1}
    # the resubmitted candidates had finished before the crash: none is trained twice
    assert Counter(k for k, _ in read_events_log(tmp_path / "work"))["done"] == 6


def test_an_older_runs_intent_file_is_journaled_once_then_removed(tmp_path: Path) -> None:
    assert _ctl(tmp_path, InProcessExecutor()).run().reason == "done"
    old = tmp_path / "run" / LEGACY_INTENT_FILE
    old.write_text('{"ids": ["gone"], "plan": {"kind": "slurm"}, "t": 5.0}')
    s = _ctl(tmp_path, InProcessExecutor()).run()
    assert s.reason == "done" and s.state.intent is None and not old.exists()
    intents = [e for e in read_events(tmp_path / "run" / "journal.jsonl")
               if e["ev"] == INTENT_EVENT]  # fmt: skip
    assert [(e["ids"], e.get("since")) for e in intents] == [(["gone"], 5.0), ([], 0.0)]
