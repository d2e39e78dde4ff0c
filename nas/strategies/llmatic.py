"""LLMatic (Nasir et al., 2023): LLM variation inside two CVT-MAP-Elites archives.

* **Network archive** — descriptors (width/depth ratio, FLOPs) of the space
  (:meth:`~nas.spaces.base.CategoricalSpace.features`), each normalized to [0, 1] with the
  space's declared ``feature_bounds`` (clipped) before the nearest CVT centroid is looked up;
  the released code compared raw FLOPs with centroids in [0, 1]², which puts almost every
  network in one niche. Fitness = validation accuracy.
* **Prompt archive** — descriptors (prompt id / (n_prompts - 1), temperature normalized by
  ``temperature_bounds``); fitness = validation accuracy of the network the prompt produced.

Each proposal: pick a prompt individual (an elite of the prompt archive, else a random
prompt at ``init_temperature``), mutate its temperature (Gaussian, ``temperature_sigma``,
clipped); with probability ``mutation_prob`` mutate a network chosen by curiosity (softmax
over curiosity scores of the archive's elites), else cross it with its nearest neighbour in
descriptor space. Curiosity of the parents: +1 when the child entered the archive, -0.5
when it did not, -1 when it was untrainable (any failure state).

The prompt id and temperature travel in ``Origin.prompt`` (``"p<id>@T<temperature>"``) and
the parents in ``Candidate.parents``, so replaying told results rebuilds both archives and
all curiosity scores.

Events (:meth:`pop_events`): every ``archive_every`` told results, and when the run stops
(``pop_events(final=True)``), one ``archive`` snapshot per archive: ``{archive: "network" |
"prompt", iteration (results told), labels, ranges: [[0, 1], [0, 1]], niches, cells:
[{descriptor: [x, y] (normalized), fitness, candidate_id}]}`` (prompt cells also carry
``prompt``: the prompt key; their candidate is the network that earned the fitness).

When the LLM budget is spent (:class:`~nas.strategies.llm.CompletionBudgetExceeded` from the
operators), LLMatic stops proposing so the run ends cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.base import CategoricalSpace
from nas.spaces.nb201 import NB201Space
from nas.strategies.base import BaseStrategy, Event, StrategyError
from nas.strategies.llm import CompletionBudgetExceeded
from nas.strategies.operators import OperatorError, Operators, RuleBasedOperators

__all__ = ["CVTArchive", "Elite", "LLMatic", "cvt_centroids"]

_INIT = "random-init"
_PROMPT = re.compile(r"^p(\d+)@T([0-9.]+)$")


@lru_cache(maxsize=32)
def _centroids(n: int, dim: int, seed: int, samples: int, iters: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((samples, dim))
    c = x[rng.choice(samples, size=n, replace=False)].copy()
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1), axis=1)
        for k in range(n):
            pts = x[lab == k]
            if len(pts):
                c[k] = pts.mean(0)
    c.setflags(write=False)
    return c


def cvt_centroids(
    n: int, dim: int = 2, seed: int = 0, samples: int = 5000, iters: int = 30
) -> np.ndarray:
    """``n`` centroids of a centroidal Voronoi tessellation of [0, 1]^dim (k-means on uniform
    samples; deterministic for a seed)."""
    if n < 1:
        raise StrategyError(f"a CVT archive needs >= 1 niche, got {n}")
    return _centroids(n, dim, seed, max(samples, n), iters)


@dataclass(frozen=True)
class Elite:
    key: str  # candidate id (networks) or prompt key "p<id>@T<temp>" (prompts)
    payload: str  # the arch text (networks) or the id of the candidate it produced (prompts)
    fitness: float
    descriptor: tuple[float, ...]  # normalized, in [0, 1]^dim


class CVTArchive:
    """A MAP-Elites archive over CVT niches: one elite (highest fitness) per niche.

    Storage only: which individuals are proposed is the strategy's business.
    """

    def __init__(self, centroids: np.ndarray) -> None:
        self.centroids = centroids
        self.elites: dict[int, Elite] = {}

    def niche(self, descriptor: Sequence[float]) -> int:
        d = np.asarray(descriptor, dtype=np.float64)
        if d.shape != (self.centroids.shape[1],) or d.min() < 0.0 or d.max() > 1.0:
            raise StrategyError(f"descriptor {tuple(d)} is not normalized to [0, 1]^dim")
        return int(np.argmin(((self.centroids - d) ** 2).sum(1)))

    def add(self, elite: Elite) -> bool:
        """Insert ``elite`` if its niche is empty or it beats the niche's elite."""
        k = self.niche(elite.descriptor)
        cur = self.elites.get(k)
        if cur is None or elite.fitness > cur.fitness:
            self.elites[k] = elite
            return True
        return False

    def __len__(self) -> int:
        return len(self.elites)

    def members(self) -> list[Elite]:
        return [self.elites[k] for k in sorted(self.elites)]


def _normalize(x: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(min(1.0, max(0.0, (x - lo) / (hi - lo)))) if hi > lo else 0.0


class LLMatic(BaseStrategy):
    """LLMatic over a categorical space with pluggable operators (default: rule-based).

    >>> s = LLMatic(rng=np.random.default_rng(0), niches=10, init_size=4)
    >>> len(s.ask(2))
    2
    """

    name = "llmatic"
    stopped = False  # the LLM budget is spent: ask() returns nothing
    _archive_at = -1  # results told at the last archive snapshot

    def __init__(
        self,
        space: CategoricalSpace | None = None,
        operators: Operators | None = None,
        niches: int = 20,
        prompt_niches: int = 10,
        mutation_prob: float = 0.7,
        init_temperature: float = 0.7,
        temperature_sigma: float = 0.1,
        temperature_bounds: tuple[float, float] = (0.0, 1.0),
        init_size: int = 10,
        rng: np.random.Generator | int | None = None,
        recipe: Mapping[str, Any] | None = None,
        seed: int = 0,
        cvt_seed: int = 0,
        archive_every: int = 10,
    ) -> None:
        space = space if space is not None else NB201Space()
        if not isinstance(space, CategoricalSpace):
            raise StrategyError(
                f"LLMatic needs a space with declared descriptors; got {type(space).__name__}"
            )
        if archive_every < 1:
            raise StrategyError(f"archive_every={archive_every} must be >= 1")
        if not 0.0 <= mutation_prob <= 1.0:
            raise StrategyError(f"mutation_prob={mutation_prob} must be in [0, 1]")
        lo, hi = temperature_bounds
        if not (0.0 <= lo < hi and lo <= init_temperature <= hi):
            raise StrategyError(
                f"temperature_bounds={temperature_bounds} must satisfy 0 <= lo < hi and hold "
                f"init_temperature={init_temperature}"
            )
        super().__init__(space=space, rng=rng, recipe=recipe, seed=seed)
        self.cspace: CategoricalSpace = space
        self.operators: Operators = operators or RuleBasedOperators()
        self.mutation_prob = float(mutation_prob)
        self.init_temperature = float(init_temperature)
        self.temperature_sigma = float(temperature_sigma)
        self.temperature_bounds = (float(lo), float(hi))
        self.init_size = int(init_size)
        self.networks = CVTArchive(cvt_centroids(niches, 2, cvt_seed))
        self.prompt_archive = CVTArchive(cvt_centroids(prompt_niches, 2, cvt_seed + 1))
        self.curiosity: dict[str, float] = {}
        self.n_init = 0
        self.operator_failures: list[str] = []
        self.archive_every = int(archive_every)

    @property
    def llm_cost_usd(self) -> float:
        """Dollars spent by the operators' LLM (0 offline); the controller's budget reads it."""
        complete = getattr(self.operators, "complete", None)
        return float(getattr(complete, "cost_usd", 0.0) or 0.0)

    # -- descriptors ---------------------------------------------------------------------

    def descriptor(self, arch: str) -> tuple[float, float]:
        """Normalized (width/depth, FLOPs) of ``arch`` in [0, 1]²."""
        ratio, flops = self.cspace.features(arch)
        (rb, fb) = self.cspace.feature_bounds
        return (_normalize(ratio, rb), _normalize(flops, fb))

    def prompt_descriptor(self, prompt_id: int, temperature: float) -> tuple[float, float]:
        n = len(self.operators.prompts)
        return (
            prompt_id / (n - 1) if n > 1 else 0.0,
            _normalize(temperature, self.temperature_bounds),
        )

    # -- selection -----------------------------------------------------------------------

    def _pick_prompt(self) -> tuple[int, float]:
        elites = self.prompt_archive.members()
        if elites:
            m = _PROMPT.match(elites[int(self.rng.integers(len(elites)))].key)
            assert m is not None
            pid, temp = int(m.group(1)), float(m.group(2))
        else:
            pid, temp = int(self.rng.integers(len(self.operators.prompts))), self.init_temperature
        lo, hi = self.temperature_bounds
        temp = float(np.clip(temp + self.rng.normal(0.0, self.temperature_sigma), lo, hi))
        return pid, round(temp, 4)

    def _pick_by_curiosity(self, elites: list[Elite]) -> Elite:
        cur = np.array([self.curiosity.get(e.key, 0.0) for e in elites])
        p = np.exp(cur - cur.max())
        return elites[int(self.rng.choice(len(elites), p=p / p.sum()))]

    @staticmethod
    def _nearest(e: Elite, others: list[Elite]) -> Elite:
        d = [
            sum((x - y) ** 2 for x, y in zip(e.descriptor, o.descriptor, strict=True))
            for o in others
        ]
        return others[int(np.argmin(d))]

    # -- ask -----------------------------------------------------------------------------

    def _vary(self) -> Candidate | None:
        elites = self.networks.members()
        pid, temp = self._pick_prompt()
        prompt = f"p{pid}@T{temp:.4f}"
        parent = self._pick_by_curiosity(elites)
        others = [e for e in elites if e.key != parent.key]
        crossover = others and self.rng.random() >= self.mutation_prob
        kind = "crossover" if crossover else "mutation"
        parents = (parent.key, self._nearest(parent, others).key) if crossover else (parent.key,)
        partner = self._nearest(parent, others) if crossover else None
        for attempt in range(20):
            if attempt and attempt % 5 == 0:  # this parent's neighbourhood looks explored
                parent = self._pick_by_curiosity(elites)
                parents, partner, kind = (parent.key,), None, "mutation"
            agent = f"{self.operators.name}:{kind}"
            try:
                if partner is not None:
                    child = self.operators.crossover(
                        self.cspace, parent.payload, partner.payload, pid, temp, self.rng
                    )
                else:
                    child = self.operators.mutate(self.cspace, parent.payload, pid, temp, self.rng)
            except OperatorError as e:
                self.operator_failures.append(f"{kind} of {parent.key}: {e}")
                child = RuleBasedOperators().mutate(
                    self.cspace, parent.payload, pid, temp, self.rng
                )
                agent = f"rule-based-operators:{kind}(fallback)"
            c = self._make(child, parents=parents, agent=agent, prompt=prompt)
            if c is not None:
                return c
            if partner is not None:  # a seen crossover child: mutate it instead next time
                partner = None
                parents = (parent.key,)
                kind = "mutation"
        arch = self._sample_unseen(lambda: self.cspace.sample(self.rng), tries=2000)
        return None if arch is None else self._make(arch, agent="random-fallback")

    def _propose(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        for _ in range(n):
            if self.stopped:
                break
            if self.n_init < self.init_size or not len(self.networks):
                arch = self._sample_unseen(lambda: self.cspace.sample(self.rng), tries=2000)
                c = None if arch is None else self._make(arch, agent=_INIT)
                if c is not None:
                    self.n_init += 1
            else:
                try:
                    c = self._vary()
                except CompletionBudgetExceeded as e:
                    self.operator_failures.append(f"LLM budget spent, stopping: {e}")
                    self.stopped = True
                    break
            if c is None:
                break
            out.append(c)
        return out

    # -- tell ----------------------------------------------------------------------------

    def rebuild(
        self,
        history: Sequence[tuple[Candidate, TrialRecord]],
        pending: Sequence[Candidate] = (),
        events: Sequence[Event] = (),
    ) -> None:
        asked = [c for c, _ in history] + list(pending)
        self.n_init += sum(c.origin.agent == _INIT for c in asked)
        super().rebuild(history, pending, events)

    def _learn(self, cand: Candidate, rec: TrialRecord) -> None:
        ok = rec.state is TrialState.COMPLETE and rec.val_acc is not None
        added = False
        if ok:
            assert rec.val_acc is not None
            elite = Elite(cand.id, cand.arch, rec.val_acc, self.descriptor(cand.arch))
            added = self.networks.add(elite)
            self.curiosity.setdefault(cand.id, 0.0)
        delta = (1.0 if added else -0.5) if ok else -1.0
        for p in cand.parents:
            self.curiosity[p] = self.curiosity.get(p, 0.0) + delta
        m = _PROMPT.match(cand.origin.prompt)
        if m and ok:
            assert rec.val_acc is not None
            pid, temp = int(m.group(1)), float(m.group(2))
            self.prompt_archive.add(
                Elite(cand.origin.prompt, cand.id, rec.val_acc, self.prompt_descriptor(pid, temp))
            )
        if len(self.history) % self.archive_every == 0:
            self._archive_events()

    # -- events --------------------------------------------------------------------------

    def archive_payloads(self) -> list[dict[str, Any]]:
        """The current snapshot of both archives as ``archive`` event payloads."""
        (rb, fb) = self.cspace.feature_bounds
        n_told = len(self.history)

        def cells(archive: CVTArchive, prompts: bool) -> list[dict[str, Any]]:
            out = []
            for e in archive.members():
                cell: dict[str, Any] = {
                    "descriptor": [round(float(x), 6) for x in e.descriptor],
                    "fitness": float(e.fitness),
                    "candidate_id": e.payload if prompts else e.key,
                }
                if prompts:
                    cell["prompt"] = e.key
                out.append(cell)
            return out

        return [
            {
                "archive": "network",
                "iteration": n_told,
                "labels": [
                    f"width/depth (normalized from [{rb[0]:g}, {rb[1]:g}])",
                    f"FLOPs (normalized from [{fb[0]:g}, {fb[1]:g}])",
                ],
                "ranges": [[0.0, 1.0], [0.0, 1.0]],
                "niches": int(self.networks.centroids.shape[0]),
                "cells": cells(self.networks, False),
            },
            {
                "archive": "prompt",
                "iteration": n_told,
                "labels": [
                    f"prompt id (normalized, {len(self.operators.prompts)} prompts)",
                    "temperature (normalized from [{:g}, {:g}])".format(*self.temperature_bounds),
                ],
                "ranges": [[0.0, 1.0], [0.0, 1.0]],
                "niches": int(self.prompt_archive.centroids.shape[0]),
                "cells": cells(self.prompt_archive, True),
            },
        ]

    def _archive_events(self) -> None:
        self._archive_at = len(self.history)
        for payload in self.archive_payloads():
            self._event("archive", payload)

    def _final_events(self) -> None:
        if self.history and self._archive_at != len(self.history):
            self._archive_events()

    def _extra_state(self) -> dict[str, Any]:
        return {
            "networks": [(e.key, e.fitness) for e in self.networks.members()],
            "prompts": [(e.key, e.fitness) for e in self.prompt_archive.members()],
            "curiosity": sorted(self.curiosity.items()),
            "n_init": self.n_init,
        }
