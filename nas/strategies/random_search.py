"""Random search: uniform samples from the space, never the same architecture twice.

``allow_duplicates=True`` is the NAS-Bench-201 paper's random search (``archlab bench nb201
--protocol paper``): every draw is proposed, duplicates and isomorphs included, and each
costs an evaluation (sequential ask(1)/tell loops only: duplicates share a candidate id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.records import Candidate
from nas.spaces.base import SearchSpace
from nas.strategies.base import BaseStrategy

if TYPE_CHECKING:
    from nas.strategies.registry import StrategyParts

__all__ = ["RandomConfig", "RandomSearch", "from_config"]


@dataclass(frozen=True)
class RandomConfig:
    """Section ``strategy.random``."""

    allow_duplicates: bool = False  # propose every draw (NB201 paper protocol; bench only)

    def validate(self, where: str = "strategy.random.") -> None:
        """Nothing to range-check (a flag); kept so every strategy section has one."""


class RandomSearch(BaseStrategy):
    """Sample uniformly from ``space`` (default: NAS-Bench-201 cells); a cell isomorphic to
    one already proposed is never proposed again (dedupe by ``arch_hash``).

    >>> s = RandomSearch(recipe={"epochs": 1}, rng=np.random.default_rng(0))
    >>> len(s.ask(3))
    3
    """

    name = "random"

    def __init__(
        self,
        recipe: Mapping[str, Any] | None = None,
        rng: np.random.Generator | int | None = None,
        seed: int = 0,
        space: SearchSpace | None = None,
        allow_duplicates: bool = RandomConfig.allow_duplicates,
    ) -> None:
        super().__init__(space=space, rng=rng, recipe=recipe, seed=seed)
        self.allow_duplicates = bool(allow_duplicates)

    def _propose(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        if self.allow_duplicates:
            made = (
                self._make(self.space.sample(self.rng), agent="uniform-sampler") for _ in range(n)
            )
            return [c for c in made if c is not None]
        for _ in range(n):
            arch = self._sample_unseen(lambda: self.space.sample(self.rng), tries=1000)
            if arch is None:
                break  # (nearly) exhausted
            c = self._make(arch, agent="uniform-sampler")
            if c is not None:
                out.append(c)
        return out


def from_config(config: RandomConfig, parts: StrategyParts) -> RandomSearch:
    """Registry factory: ``strategy.random`` plus the run's parts."""
    from nas.strategies.registry import searched_space

    return RandomSearch(
        recipe=parts.recipe,
        rng=parts.rng,
        seed=parts.seed,
        space=searched_space(parts, "Random search"),
        allow_duplicates=config.allow_duplicates,
    )
