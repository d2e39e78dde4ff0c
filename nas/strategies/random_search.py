"""Random search over NAS-Bench-201 cells (uniform over the 15,625 cells, no repeats)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nas.records import Candidate, Origin, TrialRecord
from nas.spaces.nb201 import random_arch
from nas.strategies.base import CallOrderError

__all__ = ["RandomSearch"]


class RandomSearch:
    """Sample cells uniformly; a cell already proposed is never proposed again.

    >>> s = RandomSearch(recipe={"epochs": 1}, rng=np.random.default_rng(0))
    >>> len(s.ask(3))
    3
    """

    name = "random"

    def __init__(self, recipe: Mapping[str, Any], rng: np.random.Generator, seed: int = 0) -> None:
        self.recipe = dict(recipe)
        self.rng = rng
        self.seed = seed
        self.seen: set[str] = set()
        self.pending: dict[str, Candidate] = {}
        self.history: list[tuple[Candidate, TrialRecord]] = []

    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        tries = 0
        while len(out) < n and tries < 100 * max(1, n):
            tries += 1
            arch = random_arch(self.rng)
            if arch in self.seen:
                continue
            self.seen.add(arch)
            c = Candidate(
                "nb201", arch, arch, self.recipe, self.seed, origin=Origin(strategy=self.name)
            )
            self.pending[c.id] = c
            out.append(c)
        return out

    def tell(self, results: Sequence[tuple[Candidate, TrialRecord]]) -> None:
        for cand, rec in results:
            if cand.id not in self.pending:
                raise CallOrderError(f"tell() for candidate {cand.id} that was never asked")
            del self.pending[cand.id]
            self.history.append((cand, rec))
