"""LAPT (Zhou et al., 2024): design principles transferred from a source task.

1. A :class:`~nas.strategies.principles.PrincipleLearner` reads the top-k architectures of
   the *source* task and returns principles plus per-position candidate operators; these
   define the refined space automatically (no human-typed first space).
2. Regularized evolution searches inside the refined space.
3. Every ``adapt_every`` told results the principles adapt: if the best target validation
   accuracy improved since the last adaptation, they are updated from the target top-r;
   otherwise the space is widened with unexplored operators. With
   ``widen_when_exhausted`` (default) a refined space whose every member has been told is
   widened at once (nothing better can be found in it) instead of waiting for the next
   adaptation.

The source task is a separate object passed in; target metrics reach the strategy only
through ``tell``. When the refined space has no unseen member left, one proposal is taken
from the full space (``Origin.agent`` "outside-refined-space") without changing the
principles, so replaying told results reproduces the state exactly.

``Origin.agent`` of the other proposals is ``"<learner>:<REA step>"`` — the learner whose
principles defined the space (``statistical-principle-learner``, or
``llm-principle-learner``; after an unusable LLM answer, the fallback's name) — and
``Origin.suggestion`` names the principles' version.

Events (:meth:`pop_events`): one ``principles`` event per learning/adaptation,
``{iteration (results told), principles: [str], space_size (refined space), source (the
source task's name, or "updated"/"widened"), learner, version, note, candidates}``.

When the LLM budget is spent (the learner's ``budget_exhausted``), LAPT stops proposing so
the run ends cleanly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.config_checks import at_least, between, one_of
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces.base import CategoricalSpace
from nas.spaces.nb201 import NB201Space
from nas.strategies.base import StrategyError
from nas.strategies.principles import (
    PrincipleLearner,
    Principles,
    SourceTask,
    StatisticalPrincipleLearner,
)
from nas.strategies.rea import RegularizedEvolution

if TYPE_CHECKING:
    from nas.strategies.registry import StrategyParts

__all__ = ["LAPT", "LEARNERS", "LaptConfig", "from_config"]

LEARNERS = ("statistical", "llm")  # strategy.lapt.learner


@dataclass(frozen=True)
class LaptConfig:
    """Section ``strategy.lapt``."""

    source_table: str = ""  # path of the source-task table the principles are learned from
    source_dataset: str = "imagenet16"  # which dataset's metrics of the source table to learn from
    top_k: int = 50  # best source architectures shown to the principle learner
    adapt_every: int = 10  # re-learn/widen the principles every k evaluations
    top_r: int = 5  # best target architectures used when updating principles
    learner: str = "statistical"  # statistical (offline) | llm
    min_lift: float = 1.0  # statistical learner: keep ops whose top-k frequency / prior >= this
    # llm learner: its refined space always keeps the choices the evidence supports (the
    # statistical learner's on the same top-k, the target top-r's); false = as answered
    evidence_floor: bool = True
    max_ops: int | None = 2  # statistical learner: choices kept per position (None = all lifted)
    keep_ratio: float = 0.5  # statistical learner: also keep ops with lift >= ratio x the best
    widen_ops: int = 1  # statistical learner: operators added per position when widening
    population_size: int = 10  # REA inside the refined space: population
    sample_size: int = 3  # REA inside the refined space: tournament size

    def validate(self, where: str = "strategy.lapt.") -> None:
        for name in ("top_k", "top_r", "adapt_every", "population_size", "widen_ops"):
            at_least(where, name, getattr(self, name), 1)
        between(where, "sample_size", self.sample_size, 1, self.population_size)
        if self.max_ops is not None:
            at_least(where, "max_ops", self.max_ops, 1)
        one_of(where, "learner", self.learner, LEARNERS)


class LAPT(RegularizedEvolution):
    """LAPT over a categorical space.

    >>> src = SourceTask("toy", ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
    ...                          "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",), (0.9,))
    >>> s = LAPT(source=src, top_k=1, rng=np.random.default_rng(0))
    >>> s.principles.size()
    1
    """

    name = "lapt"

    def __init__(
        self,
        source: SourceTask,
        space: CategoricalSpace | None = None,
        learner: PrincipleLearner | None = None,
        top_k: int = LaptConfig.top_k,
        adapt_every: int = LaptConfig.adapt_every,
        top_r: int = LaptConfig.top_r,
        population_size: int = LaptConfig.population_size,
        sample_size: int = LaptConfig.sample_size,
        rng: np.random.Generator | int | None = None,
        recipe: Mapping[str, Any] | None = None,
        seed: int = 0,
        widen_when_exhausted: bool = True,
    ) -> None:
        space = space if space is not None else NB201Space()
        if not isinstance(space, CategoricalSpace):
            raise StrategyError(
                "LAPT needs a categorical space (per-position operators); got "
                f"{type(space).__name__}"
            )
        if top_k < 1 or adapt_every < 1 or top_r < 1:
            raise StrategyError(
                f"LAPT needs top_k, adapt_every, top_r >= 1; got {top_k}, {adapt_every}, {top_r}"
            )
        self.learner: PrincipleLearner = learner or StatisticalPrincipleLearner()
        self.source_name = source.name
        self.top_k, self.adapt_every, self.top_r = top_k, adapt_every, top_r
        self.principles: Principles = self.learner.learn(space, source.top(top_k))
        super().__init__(
            space=space,
            population_size=population_size,
            sample_size=sample_size,
            rng=rng,
            recipe=recipe,
            seed=seed,
            allowed=self.principles.allowed,
        )
        self.n_told = 0
        self.widen_when_exhausted = bool(widen_when_exhausted)
        self._told: set[str] = set()  # hashes of told candidates (exhaustion check)
        self.best_at_adapt = -np.inf
        # (told so far, action, refined size, principles text)
        self.adaptations: list[tuple[int, str, int, str]] = [
            (0, "learn", self.principles.size(), self.principles.text)
        ]
        self._principles_event(self.source_name)

    def _principles_event(self, source: str) -> None:
        assert isinstance(self.space, CategoricalSpace)
        p = self.principles
        self._event(
            "principles",
            {
                "iteration": self.n_told,
                "principles": p.principle_list(),
                "space_size": p.size(),
                "source": source,
                "learner": p.learner,
                "version": p.version,
                "note": p.note,
                "candidates": p.as_json(self.space),
            },
        )

    @property
    def llm_cost_usd(self) -> float:
        """Dollars spent by the learner's LLM (0 offline); the controller's budget reads it."""
        complete = getattr(self.learner, "complete", None)
        return float(getattr(complete, "cost_usd", 0.0) or 0.0)

    @property
    def stopped(self) -> bool:
        return bool(getattr(self.learner, "budget_exhausted", False))

    def _propose(self, n: int) -> list[Candidate]:
        return [] if self.stopped else super()._propose(n)

    def _make(
        self,
        arch: str,
        parents: Sequence[str] = (),
        agent: str = "",
        suggestion: str = "",
        prompt: str = "",
    ) -> Candidate | None:
        # agent and suggestion name the principles (learner, version) the proposal came from
        note = f"{self.principles.learner} v{self.principles.version}"
        if agent and agent != "outside-refined-space":
            agent = f"{self.principles.learner}:{agent}"
        return super()._make(arch, parents, agent, suggestion or note, prompt)

    def _propose_one(self) -> Candidate | None:
        c = super()._propose_one()
        if c is None:  # the refined space has no unseen member left
            arch = self._sample_unseen(lambda: self.space.sample(self.rng), tries=2000)
            c = None if arch is None else self._make(arch, agent="outside-refined-space")
        return c

    def _learn(self, cand: Candidate, rec: TrialRecord) -> None:
        super()._learn(cand, rec)
        self.n_told += 1
        self._told.add(cand.arch_hash)
        if self.n_told % self.adapt_every == 0:
            self._adapt()
        elif self.widen_when_exhausted:
            while self._exhausted():
                size = self.principles.size()
                self._adapt(force_widen=True)
                if self.principles.size() == size:  # nothing left to add
                    break

    def _exhausted(self) -> bool:
        """Every member of the refined space has been told (checked for spaces up to 4096)."""
        assert isinstance(self.space, CategoricalSpace)
        sp = self.space
        if sp.refined_size(self.allowed) > 4096:
            return False
        return all(sp.arch_hash(a) in self._told for a in sp.enumerate(self.allowed))

    def _target_top(self) -> list[tuple[str, float]]:
        done = [
            (c.arch, float(r.metrics["val_acc"]))
            for c, r in self.history
            if r.state is TrialState.COMPLETE
        ]
        done.sort(key=lambda t: (-t[1], t[0]))
        return done[: self.top_r]

    def _adapt(self, force_widen: bool = False) -> None:
        assert isinstance(self.space, CategoricalSpace)
        top = self._target_top()
        best = top[0][1] if top else -np.inf
        if best > self.best_at_adapt and not force_widen:
            self.principles = self.learner.update(self.space, self.principles, top)
            action = "update"
        else:
            self.principles = self.learner.widen(self.space, self.principles)
            action = "widen"
        self.best_at_adapt = max(best, self.best_at_adapt)
        self.allowed = self.principles.allowed
        self.adaptations.append((self.n_told, action, self.principles.size(), self.principles.text))
        self._principles_event("updated" if action == "update" else "widened")

    def _extra_state(self) -> dict[str, Any]:
        return {
            **super()._extra_state(),
            "n_told": self.n_told,
            "best_at_adapt": float(self.best_at_adapt),
            "adaptations": [a[:3] for a in self.adaptations],
            "source": self.source_name,
        }


def from_config(config: LaptConfig, parts: StrategyParts) -> LAPT:
    """Registry factory: ``strategy.lapt`` plus the run's parts (the source task, the
    space, and for ``learner=llm`` the run's LLM client)."""
    from nas.strategies.principles import LLMPrincipleLearner

    if parts.source is None:
        raise StrategyError(
            "strategy.name=lapt learns principles from a source task: set "
            "strategy.lapt.source_table (or space.table) to a benchmark table"
        )
    stats = StatisticalPrincipleLearner(min_lift=config.min_lift, max_ops=config.max_ops,
                                        keep_ratio=config.keep_ratio, widen_ops=config.widen_ops)  # fmt: skip
    learner: PrincipleLearner = stats
    if config.learner == "llm":
        from nas.strategies.llm import LLMCompletion

        client = parts.llm()
        if client is None:
            raise StrategyError(
                "strategy.lapt.learner=llm needs an LLM: set llm.base_url (an OpenAI-compatible "
                "endpoint) or llm.mode=replay with llm.cassette; or use "
                "strategy.lapt.learner=statistical (offline)"
            )
        learner = LLMPrincipleLearner(
            LLMCompletion(client, "lapt"), fallback=stats, evidence_floor=config.evidence_floor
        )
    elif config.learner != "statistical":
        raise StrategyError(
            f"strategy.lapt.learner={config.learner!r}: choose statistical (offline) or llm"
        )
    from nas.strategies.registry import searched_space

    space = searched_space(parts, "LAPT")
    if not isinstance(space, CategoricalSpace):
        raise StrategyError(f"LAPT needs a categorical space; got {type(space).__name__}")
    return LAPT(
        source=parts.source(),
        space=space,
        learner=learner,
        top_k=config.top_k,
        adapt_every=config.adapt_every,
        top_r=config.top_r,
        population_size=config.population_size,
        sample_size=config.sample_size,
        rng=parts.rng,
        recipe=parts.recipe,
        seed=parts.seed,
    )
