"""A step cut short by a kill left its LLM calls' rows in ``llm_calls`` (written as soon as
each answer came, #22); the restarted controller writes them again under the same keys when
it makes the step again. Until then the in-run compaction leaves ``llm_calls`` alone: a row
merged into another file would be read twice after the rewrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nas.controller import Budget, Controller
from nas.strategies import RandomSearch
from slurm.executor import InProcessExecutor
from store.result_store import LocalResultStore
from tests.support.counting_evaluator import CountingEvaluator

pytestmark = pytest.mark.unit


def test_llm_rows_of_the_step_to_make_again_are_not_merged_until_it_is(tmp_path: Path) -> None:
    store = LocalResultStore(tmp_path / "tables")
    ctl = Controller(
        tmp_path / "run", "r1", RandomSearch({"epochs": 1}, rng=np.random.default_rng(0)),
        CountingEvaluator(str(tmp_path / "work")), InProcessExecutor(), store, Budget(2),
    )  # fmt: skip
    for cid in ("c1", "c2"):  # the killed step's answered calls
        store.append("llm_calls", "r1", [{"call_id": cid}], key=f"llm-{cid}")
    for i in range(2):
        store.append("events", "r1", [{"event_id": f"e{i}", "kind": "k"}], key=f"ev-{i}")
    ctl._redo_op = 0  # what a restart after a kill inside op 0 sets
    ctl._compact(final=False)
    assert len(store.files("llm_calls", "r1")) == 2  # left alone
    assert len(store.files("events", "r1")) == 1  # the other tables are merged
    store.append("llm_calls", "r1", [{"call_id": "c1"}], key="llm-c1")  # op 0 made again
    assert store.read("llm_calls", "r1").num_rows == 2
    ctl.state.asks = 1  # op 0 is journaled now
    ctl._compact(final=False)
    assert len(store.files("llm_calls", "r1")) == 1
    assert store.read("llm_calls", "r1").num_rows == 2
