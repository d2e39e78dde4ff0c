"""A strategy defined in a test module plugs in with one registration: the config accepts its
name (the CLI's choices come from the registry), the composition root builds it, and the
controller runs and restores it like any built-in one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.build import TEST_EVALUATOR_ENV, build_controller, build_strategy
from launcher.config import ConfigError, load_config
from launcher.run import create_run
from nas.records import Candidate, TrialRecord
from nas.strategies import BaseStrategy, StrategyParts, register, unregister

pytestmark = pytest.mark.unit


class FirstUnseen(BaseStrategy):
    """Proposes NB201 cells in a fixed order (no randomness); learns how many completed."""

    name = "first-unseen"

    def __init__(self, rng: Any = None, recipe: Mapping[str, Any] | None = None, seed: int = 0):
        super().__init__(rng=rng, recipe=recipe, seed=seed)
        self.completed = 0
        self._order = np.random.default_rng(1234)

    def _propose(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        while len(out) < n:
            c = self._make(self.space.sample(self._order))
            if c is not None:
                out.append(c)
        return out

    def _learn(self, cand: Candidate, rec: TrialRecord) -> None:
        self.completed += rec.val_acc is not None

    def _extra_state(self) -> dict[str, Any]:
        return {"completed": self.completed}


@dataclass(frozen=True)
class FirstUnseenConfig:
    """Its config section (no settings: the registry still maps the name to a class)."""


def from_config(config: FirstUnseenConfig, parts: StrategyParts) -> FirstUnseen:
    return FirstUnseen(rng=parts.rng, recipe=parts.recipe, seed=parts.seed)


@pytest.fixture
def first_unseen() -> Iterator[None]:
    """The one registration; undone afterwards so other tests see only the built-in names."""
    register("first-unseen", FirstUnseenConfig, from_config)
    yield
    unregister("first-unseen")


def test_one_registration_plugs_a_strategy_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_unseen: None
) -> None:
    over = [f"experiment.run_root={tmp_path}", "strategy.name=first-unseen",
            "budget.candidates=6", "executor.max_in_flight=2"]  # fmt: skip
    cfg = load_config(overrides=over)
    assert isinstance(build_strategy(cfg), FirstUnseen)
    monkeypatch.setenv(TEST_EVALUATOR_ENV, str(tmp_path / "work"))
    paths = create_run(cfg, cluster="inprocess")
    first = build_controller(cfg, paths)
    assert first.run().reason == "done"
    again = build_controller(cfg, paths)
    assert again.run().reason == "done"
    assert again.strategy.state_summary() == first.strategy.state_summary()
    with pytest.raises(ConfigError, match="first-unseen"):
        load_config(overrides=["strategy.name=first-unseenn"])
