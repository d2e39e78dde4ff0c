"""LLMatic (Nasir et al., 2023): LLM variation inside two CVT-MAP-Elites archives.

* **Network archive** — descriptors (width/depth ratio, FLOPs) of the space
  (:meth:`~nas.spaces.base.CategoricalSpace.features`), normalized to [0, 1] with bounds
  **derived from the space** (min and max over its members: every member of spaces up to
  20,000 members, else 20,000 seeded samples). Its CVT niches are centroids of k-means over
  those reachable descriptors (:func:`reachable_centroids`), so every niche holds at least
  one member of the space (checked at construction); uniform centroids over [0, 1]² left
  9 of 20 NB201 niches unreachable. Fitness = validation accuracy.
* **Prompt archive** — a prompt individual is (prompt id, temperature); descriptors (prompt
  id / (n_prompts - 1), temperature normalized by ``temperature_bounds``); fitness, as in the
  paper's code, 1 when the network it produced entered the network archive, else 0.
  **Curiosity** belongs to prompt individuals: +1 when their network entered the archive,
  -0.5 when it did not, -1 when it was untrainable (any failure state).

Each proposal after the ``init_size`` random networks:

1. Prompt: with probability ``random_prompt_prob`` (and while the prompt archive is empty) a
   prompt id drawn uniformly at random, at that prompt's current temperature; otherwise a
   prompt individual of the archive drawn by curiosity (softmax over curiosity).
2. Operator: crossover with probability ``1 - mutation_prob``, else mutation — decided
   first and kept: a crossover whose child was already proposed is retried with other
   partners, never silently turned into a mutation.
3. Parents: mutation takes one of the ``parents_top`` fittest networks (the paper's code
   takes the top 3); crossover crosses one of them with another elite drawn at random.
   After a quarter of ``max_tries`` attempts whose children were all seen, parents are
   drawn from the whole archive; after half, the child is varied once more by the same
   prompt (a longer step); in the last quarter by a prompt drawn at random (the candidate
   names the prompt it used). The kind stays what was decided.
   LLM operators get ``operator_tries`` (4) calls per proposal; when their children were
   all proposed before (a small model often repeats its parent), the rule-based operator
   makes the remaining attempts, agent ``rule-based-operators:<kind>(fallback)``, recorded
   once per proposal in ``operator_failures``.
4. After ``max_tries`` unseen-child attempts the proposal is a uniform random cell,
   ``Origin.agent`` "random-fallback" — counted in the ``variation`` event.

Temperature mutation is the paper's fitness-driven step: after a result, the prompt
individual that produced it moves to ``temperature ± temperature_step`` (+ when the network
is the best so far, - otherwise; clipped to ``temperature_bounds``) and enters the prompt
archive there. ``temperature_sigma`` (default 0, as in the paper) adds Gaussian jitter when a prompt is used.

The prompt id and temperature travel in ``Origin.prompt`` (``"p<id>@T<temperature>"``) and
the parents in ``Candidate.parents``, so replaying told results rebuilds both archives, all
curiosity scores and every temperature.

Events (:meth:`pop_events`): every ``archive_every`` told results, and when the run stops
(``pop_events(final=True)``), one ``archive`` snapshot per archive: ``{archive: "network" |
"prompt", iteration (results told), labels, ranges: [[0, 1], [0, 1]], niches, cells:
[{descriptor: [x, y] (normalized), fitness, candidate_id}]}`` (prompt cells also carry
``prompt``: the prompt key; their candidate is the network that earned the fitness), and one
``variation`` event: ``{iteration, proposals, counts: {random-init, mutation, crossover,
random-fallback, operator-fallback}, crossover_rate (of the variation proposals),
configured_crossover_rate, random_fallback_rate (of all proposals), prompts: {id: uses},
distinct_prompts, network_niches_filled, network_niches}`` — counted from the told
candidates.

When the LLM budget is spent (:class:`~nas.strategies.llm.CompletionBudgetExceeded` from the
operators), LLMatic stops proposing so the run ends cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.config_checks import at_least, between, one_of
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.base import CategoricalSpace
from nas.spaces.nb201 import NB201Space
from nas.strategies.base import BaseStrategy, Event, StrategyError
from nas.strategies.llm import CompletionBudgetExceeded
from nas.strategies.operators import (
    MUTATION_ANSWERS,
    LLMOperators,
    OperatorError,
    Operators,
    RuleBasedOperators,
)

if TYPE_CHECKING:
    from nas.strategies.registry import StrategyParts


@dataclass(frozen=True)
class LlmaticConfig:
    """Section ``strategy.llmatic`` (the strategy's other knobs keep their paper values)."""

    niches: int = 20  # CVT centroids per archive
    mutation_prob: float = 0.7  # probability of mutation (else crossover)
    init_temperature: float = 0.7  # initial LLM temperature for prompt individuals
    temperature_sigma: float = 0.0  # std of a Gaussian jitter on a used prompt's temperature
    # (0 = the paper: temperature moves only by the fitness-driven +-temperature_step)
    prompt_niches: int = 10  # CVT centroids of the prompt archive (prompt id x temperature)
    init_size: int = 10  # random networks evaluated before variation starts
    # how the LLM answers a mutation: "edit" = one or two 'position: new choice' lines held
    # to a per-parent grammar that admits only cells not yet proposed (a real 1.5B model
    # repeated evaluated cells in 32 of 95 whole-cell answers); "cell" = the whole cell
    # (the paper's form, and how the recorded cassettes were made)
    mutation_answer: str = "edit"
    # a crossover answer that repeats a proposed cell is asked once more, naming the cell,
    # 0.3 hotter (template llmatic_crossover_reask), before the rule-based fallback
    crossover_reask: bool = True

    def validate(self, where: str = "strategy.llmatic.") -> None:
        one_of(where, "mutation_answer", self.mutation_answer, MUTATION_ANSWERS)
        for name in ("niches", "prompt_niches", "init_size"):
            at_least(where, name, getattr(self, name), 1)
        between(where, "mutation_prob", self.mutation_prob, 0, 1)
        at_least(where, "init_temperature", self.init_temperature, 0)
        at_least(where, "temperature_sigma", self.temperature_sigma, 0)


__all__ = [
    "CVTArchive",
    "Elite",
    "LLMatic",
    "LlmaticConfig",
    "cvt_centroids",
    "descriptor_bounds",
    "from_config",
    "reachable_centroids",
    "reachable_descriptors",
]

_INIT = "random-init"
_FALLBACK = "random-fallback"


class _RulesTakeOver(Exception):
    """The operators' tries for this proposal are spent: the rule-based operator answers."""


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


_ENUMERATE_MAX = 20_000


_REACHABLE: dict[tuple[str, int], np.ndarray] = {}


def _reachable(space: CategoricalSpace, seed: int) -> np.ndarray:
    """Distinct raw (width/depth, FLOPs) descriptors of the space's members (per space kind)."""
    hit = _REACHABLE.get((space.kind, seed))
    if hit is not None:
        return hit
    if space.refined_size(None) <= _ENUMERATE_MAX:
        archs = list(space.enumerate(None))
    else:
        rng = np.random.default_rng(seed)
        archs = [space.sample(rng) for _ in range(_ENUMERATE_MAX)]
    pts = np.unique(np.array([space.features(a) for a in archs], dtype=np.float64), axis=0)
    pts.setflags(write=False)
    _REACHABLE[(space.kind, seed)] = pts
    return pts


def reachable_descriptors(space: CategoricalSpace, seed: int = 0) -> np.ndarray:
    """The distinct descriptors the space's members reach, raw (rows of (ratio, FLOPs))."""
    return _reachable(space, seed)


def descriptor_bounds(
    space: CategoricalSpace, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per descriptor, (min, max) over the space's members (see the module doc)."""
    pts = reachable_descriptors(space, seed)
    lo, hi = pts.min(0), pts.max(0)
    return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))


def reachable_centroids(
    n: int, normalized: np.ndarray, seed: int = 0, iters: int = 50
) -> np.ndarray:
    """``n`` CVT centroids fitted (k-means) to the reachable normalized descriptors, so each
    niche is the nearest niche of at least one of them. Fewer distinct points than ``n``
    raise :class:`StrategyError` (ask for fewer niches)."""
    x = np.unique(np.asarray(normalized, dtype=np.float64), axis=0)
    if n < 1 or len(x) < n:
        raise StrategyError(
            f"{n} niches: the space reaches only {len(x)} distinct descriptors; "
            f"set niches <= {len(x)}"
        )
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), size=n, replace=False)].copy()
    for _ in range(iters):
        lab = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1), axis=1)
        for k in range(n):
            pts = x[lab == k]
            c[k] = pts.mean(0) if len(pts) else x[int(rng.integers(len(x)))]
    lab = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1), axis=1)
    empty = sorted(set(range(n)) - set(lab.tolist()))
    for k in empty:  # a centroid nobody reaches: move it onto a point of the largest niche
        big = int(np.bincount(lab, minlength=n).argmax())
        members = np.flatnonzero(lab == big)
        c[k] = x[members[0]]
        lab = np.argmin(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1), axis=1)
    if len(set(lab.tolist())) != n:
        raise StrategyError(f"could not place {n} reachable niches over {len(x)} descriptors")
    c.setflags(write=False)
    return c


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


_KINDS = ("random-init", "mutation", "crossover", "random-fallback", "operator-fallback")


def _kind(agent: str) -> str:
    """The variation kind of a proposal from its ``Origin.agent``."""
    if agent in (_INIT, _FALLBACK):
        return agent
    if agent.endswith("(fallback)"):
        return "operator-fallback"
    return "crossover" if agent.endswith(":crossover") else "mutation"


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
        niches: int = LlmaticConfig.niches,
        prompt_niches: int = LlmaticConfig.prompt_niches,
        mutation_prob: float = LlmaticConfig.mutation_prob,
        init_temperature: float = LlmaticConfig.init_temperature,
        temperature_sigma: float = LlmaticConfig.temperature_sigma,
        temperature_bounds: tuple[float, float] = (0.1, 1.0),
        init_size: int = LlmaticConfig.init_size,
        rng: np.random.Generator | int | None = None,
        recipe: Mapping[str, Any] | None = None,
        seed: int = 0,
        cvt_seed: int = 0,
        archive_every: int = 10,
        temperature_step: float = 0.05,
        random_prompt_prob: float = 0.2,
        parents_top: int = 3,
        max_tries: int = 40,
        operator_tries: int = 4,
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
        if not 0.0 <= random_prompt_prob <= 1.0:
            raise StrategyError(f"random_prompt_prob={random_prompt_prob} must be in [0, 1]")
        if parents_top < 1 or max_tries < 1 or operator_tries < 1:
            raise StrategyError(
                f"parents_top={parents_top}, max_tries={max_tries} and "
                f"operator_tries={operator_tries} must be >= 1"
            )
        lo, hi = temperature_bounds
        if not (0.0 <= lo < hi and lo <= init_temperature <= hi):
            raise StrategyError(
                f"temperature_bounds={temperature_bounds} must satisfy 0 <= lo < hi and hold "
                f"init_temperature={init_temperature}"
            )
        super().__init__(space=space, rng=rng, recipe=recipe, seed=seed)
        self.cspace: CategoricalSpace = space
        self.operators: Operators = operators or RuleBasedOperators()
        if isinstance(self.operators, LLMOperators):
            self.operators.known = self._known  # edits and re-asks avoid proposed cells
        self.mutation_prob = float(mutation_prob)
        self.init_temperature = float(init_temperature)
        self.temperature_sigma = float(temperature_sigma)
        self.temperature_bounds = (float(lo), float(hi))
        self.temperature_step = float(temperature_step)
        self.random_prompt_prob = float(random_prompt_prob)
        self.parents_top = int(parents_top)
        self.max_tries = int(max_tries)
        self.operator_tries = int(operator_tries)
        self.init_size = int(init_size)
        self.bounds = descriptor_bounds(space, cvt_seed)
        reach = np.array(
            [self._normalized(tuple(p)) for p in reachable_descriptors(space, cvt_seed)]
        )
        self.networks = CVTArchive(reachable_centroids(niches, reach, cvt_seed))
        self.prompt_archive = CVTArchive(cvt_centroids(prompt_niches, 2, cvt_seed + 1))
        self.curiosity: dict[str, float] = {}  # prompt individual key -> curiosity
        self.temperature: dict[int, float] = {}  # prompt id -> its current temperature
        self.best_fitness = -np.inf
        self.n_init = 0
        self.operator_failures: list[str] = []
        self.archive_every = int(archive_every)

    def _known(self, arch: str) -> bool:
        """Whether ``arch`` (or an isomorph) was already proposed: the repeat check of
        :meth:`_make`."""
        return self.space.arch_hash(arch) in self.seen

    @property
    def llm_cost_usd(self) -> float:
        """Dollars spent by the operators' LLM (0 offline); the controller's budget reads it."""
        complete = getattr(self.operators, "complete", None)
        return float(getattr(complete, "cost_usd", 0.0) or 0.0)

    # -- descriptors ---------------------------------------------------------------------

    def _normalized(self, raw: tuple[float, ...]) -> tuple[float, float]:
        (rb, fb) = self.bounds
        return (_normalize(raw[0], rb), _normalize(raw[1], fb))

    def descriptor(self, arch: str) -> tuple[float, float]:
        """Normalized (width/depth, FLOPs) of ``arch`` in [0, 1]² (bounds: the space's)."""
        return self._normalized(self.cspace.features(arch))

    def prompt_descriptor(self, prompt_id: int, temperature: float) -> tuple[float, float]:
        n = len(self.operators.prompts)
        return (
            prompt_id / (n - 1) if n > 1 else 0.0,
            _normalize(temperature, self.temperature_bounds),
        )

    # -- selection -----------------------------------------------------------------------

    def _pick_prompt(self) -> tuple[int, float]:
        elites = self.prompt_archive.members()
        if not elites or self.rng.random() < self.random_prompt_prob:
            pid = int(self.rng.integers(len(self.operators.prompts)))
            temp = self.temperature.get(pid, self.init_temperature)
        else:
            e = self._pick_by_curiosity(elites)
            m = _PROMPT.match(e.key)
            assert m is not None
            pid, temp = int(m.group(1)), float(m.group(2))
        if self.temperature_sigma > 0:
            lo, hi = self.temperature_bounds
            temp = float(np.clip(temp + self.rng.normal(0.0, self.temperature_sigma), lo, hi))
        return pid, round(temp, 4)

    def _pick_by_curiosity(self, elites: list[Elite]) -> Elite:
        cur = np.array([self.curiosity.get(e.key, 0.0) for e in elites])
        p = np.exp(cur - cur.max())
        return elites[int(self.rng.choice(len(elites), p=p / p.sum()))]

    def _top(self, elites: list[Elite]) -> list[Elite]:
        ranked = sorted(elites, key=lambda e: (-e.fitness, e.key))
        return ranked[: self.parents_top]

    @staticmethod
    def _nearest(e: Elite, others: list[Elite]) -> Elite:
        d = [
            sum((x - y) ** 2 for x, y in zip(e.descriptor, o.descriptor, strict=True))
            for o in others
        ]
        return others[int(np.argmin(d))]

    # -- ask -----------------------------------------------------------------------------

    def _child(
        self,
        kind: str,
        parent: Elite,
        partner: Elite | None,
        pid: int,
        temp: float,
        rules: bool = False,
    ) -> tuple[str, str]:
        """(child arch, agent) from the operators, or the rule-based fallback on an error
        (or when ``rules``: the operators' tries for this proposal are spent)."""
        try:
            if rules:
                raise _RulesTakeOver
            if partner is not None:
                child = self.operators.crossover(
                    self.cspace, parent.payload, partner.payload, pid, temp, self.rng
                )
            else:
                child = self.operators.mutate(self.cspace, parent.payload, pid, temp, self.rng)
            return child, f"{self.operators.name}:{kind}"
        except (OperatorError, _RulesTakeOver) as e:
            if not rules:
                self.operator_failures.append(f"{kind} of {parent.key}: {e}")
            rb = RuleBasedOperators()
            if partner is not None:
                child = rb.crossover(
                    self.cspace, parent.payload, partner.payload, pid, temp, self.rng
                )
            else:
                child = rb.mutate(self.cspace, parent.payload, pid, temp, self.rng)
            return child, f"rule-based-operators:{kind}(fallback)"

    def _vary(self) -> Candidate | None:
        elites = self.networks.members()
        pid, temp = self._pick_prompt()
        prompt = f"p{pid}@T{temp:.4f}"
        crossover = len(elites) >= 2 and self.rng.random() >= self.mutation_prob
        kind = "crossover" if crossover else "mutation"
        top = self._top(elites)
        quarter = max(1, self.max_tries // 4)
        calls = 0  # operator (LLM) calls of this proposal
        for attempt in range(self.max_tries):
            # the fittest first; once their neighbourhood looks explored, the whole archive,
            # then children carried further by the same prompt (a longer step), then by
            # another prompt drawn at random
            level = min(attempt // quarter, 3)
            if level == 3:
                pid = int(self.rng.integers(len(self.operators.prompts)))
                temp = self.temperature.get(pid, self.init_temperature)
                prompt = f"p{pid}@T{temp:.4f}"
            pool = top if level == 0 else elites
            parent = pool[int(self.rng.integers(len(pool)))]
            partner = None
            if crossover:
                others = [e for e in elites if e.key != parent.key]
                partner = others[int(self.rng.integers(len(others)))]
            # an LLM that keeps answering cells already proposed (a small model repeats its
            # parent) gets operator_tries calls per proposal, then the rule-based operator
            # takes over (recorded as a fallback): 40 slow calls for one cell is no search
            rules = not isinstance(self.operators, RuleBasedOperators) and (
                calls >= self.operator_tries
            )
            if rules and calls == self.operator_tries:
                calls += 1  # recorded once per proposal
                self.operator_failures.append(
                    f"{kind}: {self.operator_tries} children of {self.operators.name} were "
                    "already proposed; rule-based operator for the remaining tries"
                )
            calls += 0 if rules else 1
            child, agent = self._child(kind, parent, partner, pid, temp, rules)
            for _ in range(min(level, 2) - 1):
                step = Elite(parent.key, child, parent.fitness, parent.descriptor)
                rules = rules or (
                    not isinstance(self.operators, RuleBasedOperators)
                    and calls >= self.operator_tries
                )
                calls += 0 if rules else 1
                child, _agent = self._child("mutation", step, None, pid, temp, rules)
            parents = (parent.key,) if partner is None else (parent.key, partner.key)
            c = self._make(child, parents=parents, agent=agent, prompt=prompt)
            if c is not None:
                return c
        arch = self._sample_unseen(lambda: self.cspace.sample(self.rng), tries=2000)
        return None if arch is None else self._make(arch, agent=_FALLBACK, prompt=prompt)

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
        if rec.state is TrialState.PRUNED:
            return  # stopped by the fidelity schedule: neither a result nor an untrainable net
        ok = rec.state is TrialState.COMPLETE and rec.val_acc is not None
        added = False
        best = False
        if ok:
            assert rec.val_acc is not None
            elite = Elite(cand.id, cand.arch, rec.val_acc, self.descriptor(cand.arch))
            added = self.networks.add(elite)
            best = rec.val_acc > self.best_fitness
            self.best_fitness = max(self.best_fitness, rec.val_acc)
        m = _PROMPT.match(cand.origin.prompt)
        if m:
            pid, temp = int(m.group(1)), float(m.group(2))
            key = cand.origin.prompt
            self.curiosity[key] = self.curiosity.get(key, 0.0) + (
                (1.0 if added else -0.5) if ok else -1.0
            )
            # the paper's fitness-driven temperature step, then the prompt individual there
            lo, hi = self.temperature_bounds
            step = self.temperature_step if best else -self.temperature_step
            new_t = round(float(np.clip(temp + step, lo, hi)), 4)
            self.temperature[pid] = new_t
            new_key = f"p{pid}@T{new_t:.4f}"
            if new_key != key:
                self.curiosity.setdefault(new_key, self.curiosity[key])
            self.prompt_archive.add(
                Elite(new_key, cand.id, 1.0 if added else 0.0, self.prompt_descriptor(pid, new_t))
            )
        if len(self.history) % self.archive_every == 0:
            self._archive_events()

    # -- events --------------------------------------------------------------------------

    def variation_payload(self) -> dict[str, Any]:
        """Counts of the told proposals by variation kind and prompt (see the module doc)."""
        counts = dict.fromkeys(_KINDS, 0)
        prompts: dict[str, int] = {}
        for c, _ in self.history:
            counts[_kind(c.origin.agent)] += 1
            m = _PROMPT.match(c.origin.prompt)
            if m and _kind(c.origin.agent) != _FALLBACK:
                prompts[m.group(1)] = prompts.get(m.group(1), 0) + 1
        n = len(self.history)
        varied = n - counts["random-init"]
        return {
            "iteration": n,
            "proposals": n,
            "counts": counts,
            "crossover_rate": counts["crossover"] / varied if varied else 0.0,
            "configured_crossover_rate": round(1.0 - self.mutation_prob, 6),
            "random_fallback_rate": counts["random-fallback"] / n if n else 0.0,
            "prompts": dict(sorted(prompts.items(), key=lambda kv: int(kv[0]))),
            "distinct_prompts": len(prompts),
            "network_niches_filled": len(self.networks),
            "network_niches": int(self.networks.centroids.shape[0]),
        }

    def archive_payloads(self) -> list[dict[str, Any]]:
        """The current snapshot of both archives as ``archive`` event payloads."""
        (rb, fb) = self.bounds
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
        self._event("variation", self.variation_payload())

    def _final_events(self) -> None:
        if self.history and self._archive_at != len(self.history):
            self._archive_events()

    def _extra_state(self) -> dict[str, Any]:
        return {
            "networks": [(e.key, e.fitness) for e in self.networks.members()],
            "prompts": [(e.key, e.fitness) for e in self.prompt_archive.members()],
            "curiosity": sorted(self.curiosity.items()),
            "temperature": sorted(self.temperature.items()),
            "n_init": self.n_init,
        }


def from_config(config: LlmaticConfig, parts: StrategyParts) -> LLMatic:
    """Registry factory: ``strategy.llmatic`` plus the run's parts (LLM operators when the
    run has an LLM client, else the rule-based operators, named as such in every origin)."""
    client = parts.llm()
    operators: Operators = RuleBasedOperators()
    if client is not None:
        from nas.strategies.llm import LLMCompletion

        operators = LLMOperators(
            LLMCompletion(client, "llmatic"),
            mutation_answer=config.mutation_answer,
            crossover_reask=config.crossover_reask,
        )
    from nas.strategies.registry import searched_space

    space = searched_space(parts, "LLMatic")
    if not isinstance(space, CategoricalSpace):
        raise StrategyError(f"LLMatic needs a categorical space; got {type(space).__name__}")
    return LLMatic(
        space=space,
        operators=operators,
        niches=config.niches,
        prompt_niches=config.prompt_niches,
        mutation_prob=config.mutation_prob,
        init_temperature=config.init_temperature,
        temperature_sigma=config.temperature_sigma,
        init_size=config.init_size,
        rng=parts.rng,
        recipe=parts.recipe,
        seed=parts.seed,
    )
