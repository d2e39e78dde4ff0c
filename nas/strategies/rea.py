"""Regularized evolution (Real et al., 2019) with ask/tell.

Population of the ``population_size`` most recently told successful candidates (ageing: the
oldest dies, whatever its accuracy); a child is a single-edit mutation of the best of
``sample_size`` members drawn at random (tournament). The first ``population_size``
proposals are uniform samples. Candidates isomorphic to one already proposed are never
proposed again (a seen child is re-mutated; after many tries a random unseen one is taken).

``allow_duplicates=True`` is the NAS-Bench-201 paper's REA (used by ``archlab bench nb201
--protocol paper``): every sample and every mutant is proposed as drawn, so duplicates and
isomorphs of earlier proposals come back and each one costs an evaluation. Such candidates
share their ``Candidate.id`` with the earlier proposal, so this mode is for sequential
ask(1)/tell loops (the benchmark), not for the controller, which keys trials by id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.config_checks import at_least, between
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.base import Allowed, CategoricalSpace, SearchSpace
from nas.strategies.base import BaseStrategy, Event, StrategyError

if TYPE_CHECKING:
    from nas.strategies.registry import StrategyParts

__all__ = ["REAConfig", "RegularizedEvolution", "from_config"]


@dataclass(frozen=True)
class REAConfig:
    """Section ``strategy.rea``."""

    population_size: int = 20  # individuals kept alive (ageing: oldest dies)
    sample_size: int = 5  # tournament size
    allow_duplicates: bool = False  # propose every draw (NB201 paper protocol; bench only)

    def validate(self, where: str = "strategy.rea.") -> None:
        at_least(where, "population_size", self.population_size, 1)
        between(where, "sample_size", self.sample_size, 1, self.population_size)


_INIT = "random-init"
_MUTATION = "single-edit-mutation"


def _is_init(c: Candidate) -> bool:
    """A random-init proposal (LAPT prefixes agents with its learner: "<learner>:random-init")."""
    return c.origin.agent == _INIT or c.origin.agent.endswith(":" + _INIT)


class RegularizedEvolution(BaseStrategy):
    """REA. ``allowed`` (categorical spaces only) restricts sampling and mutation to a refined
    sub-space: per position, the set of admissible choices (LAPT searches this way).

    >>> s = RegularizedEvolution(population_size=10, sample_size=3, rng=np.random.default_rng(0))
    >>> len(s.ask(2))
    2
    """

    name = "rea"

    def __init__(
        self,
        space: SearchSpace | None = None,
        population_size: int = REAConfig.population_size,
        sample_size: int = REAConfig.sample_size,
        rng: np.random.Generator | int | None = None,
        recipe: Mapping[str, Any] | None = None,
        seed: int = 0,
        allowed: Allowed = None,
        allow_duplicates: bool = REAConfig.allow_duplicates,
    ) -> None:
        super().__init__(space=space, rng=rng, recipe=recipe, seed=seed)
        self.allow_duplicates = bool(allow_duplicates)
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise StrategyError(
                f"REA needs population_size >= 1 and 1 <= sample_size <= population_size; "
                f"got population_size={population_size}, sample_size={sample_size}"
            )
        if allowed is not None and not isinstance(self.space, CategoricalSpace):
            raise StrategyError("REA 'allowed' needs a categorical space (per-position choices)")
        self.population_size = population_size
        self.sample_size = sample_size
        self.allowed: Allowed = allowed
        # (candidate id, arch, val_acc) of living members, oldest first
        self.population: deque[tuple[str, str, float]] = deque(maxlen=population_size)
        self.n_init = 0  # random-init proposals handed out

    # -- space access honouring the refined sub-space -------------------------------------

    def _space_sample(self) -> str:
        if isinstance(self.space, CategoricalSpace):
            return self.space.sample(self.rng, self.allowed)
        return self.space.sample(self.rng)

    def _space_mutate(self, arch: str) -> str:
        if isinstance(self.space, CategoricalSpace):
            return self.space.mutate(arch, self.rng, self.allowed)
        return self.space.mutate(arch, self.rng)

    # -- ask/tell hooks ------------------------------------------------------------------

    def _tournament(self) -> tuple[str, str, float]:
        pop = list(self.population)
        k = min(self.sample_size, len(pop))
        idx = self.rng.choice(len(pop), size=k, replace=False)
        return max((pop[int(i)] for i in idx), key=lambda m: m[2])

    def _random_candidate(self, agent: str) -> Candidate | None:
        if self.allow_duplicates:
            return self._make(self._space_sample(), agent=agent)
        sp = self.space
        if isinstance(sp, CategoricalSpace) and sp.refined_size(self.allowed) <= 4096:
            # small (refined) space: draw exactly among the unseen members
            unseen = [a for a in sp.enumerate(self.allowed) if sp.arch_hash(a) not in self.seen]
            if not unseen:
                return None
            return self._make(unseen[int(self.rng.integers(len(unseen)))], agent=agent)
        arch = self._sample_unseen(self._space_sample, tries=500)
        return None if arch is None else self._make(arch, agent=agent)

    def _propose_one(self) -> Candidate | None:
        if self.n_init < self.population_size or not self.population:
            return self._random_candidate(_INIT)
        for _ in range(10):
            pid, parent, _acc = self._tournament()
            for _ in range(20):
                child = self._space_mutate(parent)
                c = self._make(child, parents=(pid,), agent=_MUTATION)
                if c is not None:
                    return c
        return self._random_candidate("random-fallback")

    def _propose(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        for _ in range(n):
            c = self._propose_one()
            if c is None:
                break
            out.append(c)
            if _is_init(c):
                self.n_init += 1
        return out

    def rebuild(
        self,
        history: Sequence[tuple[Candidate, TrialRecord]],
        pending: Sequence[Candidate] = (),
        events: Sequence[Event] = (),
    ) -> None:
        # live init proposals are counted in _propose (a batch sees its own); restored here
        asked = [c for c, _ in history] + list(pending)
        self.n_init += sum(_is_init(c) for c in asked)
        super().rebuild(history, pending, events)

    def _learn(self, cand: Candidate, rec: TrialRecord) -> None:
        if rec.state is TrialState.COMPLETE and rec.val_acc is not None:
            self.population.append((cand.id, cand.arch, rec.val_acc))

    def _extra_state(self) -> dict[str, Any]:
        return {
            "population": list(self.population),
            "n_init": self.n_init,
            "allowed": None if self.allowed is None else [sorted(a) for a in self.allowed],
            "allow_duplicates": self.allow_duplicates,
        }


def from_config(config: REAConfig, parts: StrategyParts) -> RegularizedEvolution:
    """Registry factory: ``strategy.rea`` plus the run's parts."""
    from nas.strategies.registry import searched_space

    return RegularizedEvolution(
        space=searched_space(parts, "REA"),
        population_size=config.population_size,
        sample_size=config.sample_size,
        rng=parts.rng,
        recipe=parts.recipe,
        seed=parts.seed,
        allow_duplicates=config.allow_duplicates,
    )
