from __future__ import annotations

import numpy as np
import pytest

from nas.records import TrialRecord, TrialState
from nas.spaces.nb201 import to_ops
from nas.strategies import StrategyError
from nas.strategies.rea import RegularizedEvolution


def _ok(c, v: float) -> TrialRecord:  # type: ignore[no-untyped-def]
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": v})


def test_init_then_single_edit_children_of_tournament_winners() -> None:
    s = RegularizedEvolution(population_size=5, sample_size=5, rng=np.random.default_rng(0))
    init = s.ask(5)
    assert [c.origin.agent for c in init] == ["random-init"] * 5
    scores = dict(zip([c.id for c in init], [0.1, 0.2, 0.9, 0.3, 0.4], strict=True))
    s.tell([(c, _ok(c, scores[c.id])) for c in init])
    best = init[2]
    [child] = s.ask(1)  # sample_size == population_size: the tournament winner is the best
    assert child.parents == (best.id,) and child.origin.agent == "single-edit-mutation"
    assert sum(a != b for a, b in zip(to_ops(best.arch), to_ops(child.arch), strict=True)) == 1


def test_ageing_removes_the_oldest_whatever_its_accuracy() -> None:
    s = RegularizedEvolution(population_size=3, sample_size=2, rng=np.random.default_rng(1))
    told = []
    for v in (0.99, 0.1, 0.2, 0.3):
        [c] = s.ask(1)
        s.tell([(c, _ok(c, v))])
        told.append(c.id)
    assert [m[0] for m in s.population] == told[1:]


def test_failures_do_not_enter_the_population() -> None:
    s = RegularizedEvolution(population_size=3, sample_size=1, rng=np.random.default_rng(2))
    [c] = s.ask(1)
    s.tell([(c, TrialRecord(c.id, TrialState.DIVERGED, error="nan loss"))])
    assert not s.population


def test_bad_arguments_are_rejected_with_the_fix() -> None:
    with pytest.raises(StrategyError, match="sample_size <= population_size"):
        RegularizedEvolution(population_size=2, sample_size=5)
