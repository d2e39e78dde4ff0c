"""Test accuracy after selection, for table runs.

A table run (``train.evaluator=table``) searches on validation accuracy only: the trials
hold no test accuracy, so the search never sees it. Once a candidate is *selected* (the best
by validation), its test accuracy is looked up in the same table, at the same dataset and
fidelity — what ``best``, ``status`` and the report print as "test (after selection)".

    >>> test_after_selection(src.facts, arch)     # doctest: +SKIP
    0.9137
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analysis.source import RunFacts

__all__ = ["SELECTION_NOTE", "test_after_selection", "tests_after_selection"]

SELECTION_NOTE = "table lookup after selection by val_acc"


def test_after_selection(facts: RunFacts, arch: str) -> float | None:
    """The test accuracy of ``arch`` in the run's benchmark table, or None when the run is
    no table run, the table is gone, or the architecture is not in it."""
    return tests_after_selection(facts, {"_": arch}).get("_")


def tests_after_selection(facts: RunFacts, archs: dict[str, str]) -> dict[str, float]:
    """``{key: test accuracy}`` for each ``{key: arch}`` found in the run's table (one table
    load for all); empty for runs that are no table runs or whose table is gone."""
    train, path = facts.train, facts.space.table
    if train.evaluator != "table" or not path:
        return {}
    from nas.evaluators.table import TableError, TableEvaluator

    try:
        ev = TableEvaluator(path, dataset=train.dataset, fidelity=train.table_fidelity)
    except (TableError, OSError, ValueError):
        return {}
    out = {}
    for key, arch in archs.items():
        try:
            out[key] = float(ev.test_acc(arch))
        except (KeyError, TableError, ValueError):
            continue
    return out
