"""The strategy protocol: propose (``ask``) and learn (``tell``), never evaluate.

Contract (checked for every registered strategy by ``tests/contract/test_strategy_contract.py``):

* ``ask(n)`` returns up to ``n`` new, validated candidates (fewer only when the space has no
  unseen member left); no two proposals of one strategy share an ``arch_hash``.
* ``tell(results)`` takes ``(Candidate, TrialRecord)`` pairs (or bare records of pending
  candidates) of previously asked candidates, in any order; a record for a candidate that
  was never asked raises :class:`CallOrderError` (pyribs-style call-order guard). Failed
  records (FAILED, DIVERGED, INVALID, ...) are data: they are learned from, not raised.
* ``rebuild(history, pending=(), events=())`` on a fresh strategy restores it from the
  store (Optuna-style): ``history`` are the stored ``(Candidate, TrialRecord)`` pairs in the
  order the strategy learned them (told results and its own decided ones), ``pending`` the
  candidates it asked that have no result yet, ``events`` the ``(kind, payload)`` events it
  emitted before (stored order). The learned state afterwards equals the state of the
  strategy that made them (``state_summary()`` compares equal); it never asks, and whatever
  it emits while rebuilding is already stored (the controller drops it). The controller
  calls it on every start: a restart never re-asks.
* Randomness comes only from the explicit ``numpy.random.Generator``; the same generator
  seed and the same results give the same proposals. ``random_state()`` /
  ``set_random_state(state)`` read and restore it (plain JSON data): the controller journals
  it with each ask and tell, so a restored strategy continues the exact sequence.
* ``pop_events(final=False)`` returns, and forgets, the ``(kind, payload)`` events produced
  since the last call — e.g. LAPT's ``principles``, LLMatic's ``archive`` snapshots,
  NADER's ``tree_node`` changes (payloads: docs/analysis.md). Strategies stay pure: the
  controller calls it after each ``ask``/``tell`` (``final=True`` when the run stops) and
  appends the rows to the store's ``events`` table under a deterministic key.
* ``pop_decided()`` returns, and forgets, the candidates the strategy decided without
  training (NADER's INVALID/DUPLICATE designs) as ``(Candidate, TrialRecord)`` pairs; the
  controller stores them and tells them back (the strategy ignores its own decisions).
* ``llm_cost_usd``: dollars the strategy's LLM calls cost in the run (0 offline; a client
  built for the run resumes its budget from ``llm_calls``); the controller's
  ``budget.llm_usd`` reads it.

Example::

    >>> import numpy as np
    >>> from nas.strategies import create
    >>> s = create("rea", rng=np.random.default_rng(0), population_size=4, sample_size=2)
    >>> [c] = s.ask(1)
    >>> s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5}))])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nas.records import Candidate, Origin, TrialRecord, TrialState
from nas.spaces.base import SearchSpace
from nas.spaces.nb201 import NB201Space

__all__ = [
    "BaseStrategy",
    "CallOrderError",
    "Event",
    "EventSource",
    "Result",
    "Strategy",
    "StrategyError",
    "as_generator",
]

Result = tuple[Candidate, TrialRecord]
Event = tuple[str, dict[str, Any]]  # (events.kind, payload as plain JSON data)


class CallOrderError(RuntimeError):
    """``tell`` was called for a candidate that was never asked (or rebuild on a used one)."""


class StrategyError(ValueError):
    """A strategy was configured wrongly; the message names the argument and the fix."""


@runtime_checkable
class Strategy(Protocol):
    """What the controller uses of a strategy — nothing else (see the module doc)."""

    name: str
    #: barrier semantics: ask a batch of ``batch_size``, wait for all of it, tell it at once
    batch_synchronous: bool
    batch_size: int

    @property
    def llm_cost_usd(self) -> float:
        """Dollars spent by the strategy's LLM calls in the run (0 offline)."""
        ...

    def ask(self, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates (fewer when the space is exhausted)."""
        ...

    def tell(self, results: Sequence[Result | TrialRecord]) -> None:
        """Learn from finished evaluations of previously asked candidates."""
        ...

    def rebuild(
        self,
        history: Sequence[Result],
        pending: Sequence[Candidate] = (),
        events: Sequence[Event] = (),
    ) -> None:
        """Restore a fresh strategy from the store (resume); never asks."""
        ...

    def state_summary(self) -> dict[str, Any]:
        """The learned state as plain data (equal after ``rebuild`` of the same history)."""
        ...

    def pop_events(self, final: bool = False) -> list[Event]:
        """Events since the last call, oldest first; ``final``: the run is stopping (flush
        any periodic snapshot now)."""
        ...

    def pop_decided(self) -> list[Result]:
        """Candidates decided without training (INVALID, DUPLICATE) since the last call."""
        ...

    def llm_cost_of(self, candidate_id: str) -> tuple[int, int, float]:
        """``(tokens_in, tokens_out, usd)`` of the LLM requests that produced asked
        candidate ``candidate_id``: the controller adds them to its trial record (so the
        trials' sums equal ``llm_calls``' for strategies that attribute their calls)."""
        ...

    def random_state(self) -> dict[str, Any]:
        """The generator's state as plain JSON data."""
        ...

    def set_random_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a state :meth:`random_state` returned."""
        ...


#: kept for callers that typed against the former optional part; every Strategy is one
EventSource = Strategy


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A generator from a generator (used as is), a seed, or None (seed 0, stated)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else int(rng))


class BaseStrategy:
    """Shared bookkeeping: pending candidates, seen hashes, history and the call-order guard.

    Subclasses implement :meth:`_propose` (make candidates with :meth:`_make`) and
    :meth:`_learn` (update on one result); both the live ``tell`` path and ``rebuild`` go
    through :meth:`_on_asked` and :meth:`_learn`, so replay reproduces the state.
    """

    name = "base"
    allow_duplicates = False  # True: _make proposes isomorphs again (paper protocol)
    batch_synchronous = False
    batch_size = 0  # 0: as many as there are free slots
    # False: a pruned or partial (low-fidelity) result is told as PRUNED without metrics
    # (TrialRecord.for_strategy) and never learned as the architecture's result
    learns_low_fidelity = False

    def __init__(
        self,
        space: SearchSpace | None = None,
        rng: np.random.Generator | int | None = None,
        recipe: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.space: SearchSpace = space if space is not None else NB201Space()
        self.rng = as_generator(rng)
        self.recipe = dict(recipe or {})
        self.seed = int(seed)
        self.seen: set[str] = set()  # arch hashes ever proposed (or replayed)
        self.pending: dict[str, Candidate] = {}  # asked, not yet told
        self.history: list[Result] = []  # told, in tell order
        self._events: list[Event] = []  # produced, not yet popped (see pop_events)
        self._decided: list[Result] = []  # decided without training, not yet popped

    # -- to implement --------------------------------------------------------------------

    def _propose(self, n: int) -> list[Candidate]:
        raise NotImplementedError

    def _on_asked(self, cand: Candidate) -> None:
        """Hook: a candidate was handed out (live) or replayed (rebuild)."""

    def _learn(self, cand: Candidate, rec: TrialRecord) -> None:
        """Hook: one result arrived (live) or was replayed (rebuild)."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _final_events(self) -> None:
        """Hook: the run is stopping; emit what a periodic snapshot has not covered yet."""

    # -- events --------------------------------------------------------------------------

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        self._events.append((kind, payload))

    def pop_events(self, final: bool = False) -> list[Event]:
        """The ``(kind, payload)`` events produced since the last call (see the module doc)."""
        if final:
            self._final_events()
        out, self._events = self._events, []
        return out

    def pop_decided(self) -> list[Result]:
        """Candidates decided without training since the last call (none by default)."""
        out, self._decided = self._decided, []
        return out

    @property
    def llm_cost_usd(self) -> float:
        """Dollars of this strategy's LLM calls (0: no LLM)."""
        return 0.0

    def llm_cost_of(self, candidate_id: str) -> tuple[int, int, float]:
        """No LLM cost attributed to single candidates (strategies that attribute override)."""
        return (0, 0, 0.0)

    def random_state(self) -> dict[str, Any]:
        return dict(self.rng.bit_generator.state)

    def set_random_state(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = dict(state)

    # -- shared --------------------------------------------------------------------------

    def _make(
        self,
        arch: str,
        parents: Sequence[str] = (),
        agent: str = "",
        suggestion: str = "",
        prompt: str = "",
    ) -> Candidate | None:
        """A candidate for ``arch``, or None when its hash was already proposed (unless
        ``allow_duplicates``: the NB201 paper's protocol proposes and counts duplicates)."""
        arch = self.space.validate(arch)
        h = self.space.arch_hash(arch)
        if h in self.seen and not self.allow_duplicates:
            return None
        self.seen.add(h)
        return Candidate(
            self.space.kind,
            arch,
            h,
            self.recipe,
            self.seed,
            parents=tuple(parents),
            origin=Origin(strategy=self.name, agent=agent, suggestion=suggestion, prompt=prompt),
        )

    def _sample_unseen(self, sampler: Any, tries: int = 200) -> str | None:
        """Draw from ``sampler()`` until an unseen hash comes up (None after ``tries``)."""
        for _ in range(tries):
            arch = sampler()
            if self.space.arch_hash(arch) not in self.seen:
                return str(arch)
        return None

    def ask(self, n: int) -> list[Candidate]:
        if n < 0:
            raise StrategyError(f"ask(n={n}): n must be >= 0")
        out = self._propose(n) if n else []
        for c in out:
            self.pending[c.id] = c
            self._on_asked(c)
        return out

    def tell(self, results: Sequence[Result | TrialRecord]) -> None:
        for item in results:
            if isinstance(item, TrialRecord):
                rec = item
                cand = self.pending.get(rec.candidate_id)
                if cand is None:
                    raise CallOrderError(
                        f"tell() for candidate {rec.candidate_id} that was never asked "
                        f"({self.name}: call ask() first, or rebuild() to resume from history)"
                    )
            else:
                cand, rec = item
                if cand.id not in self.pending:
                    raise CallOrderError(
                        f"tell() for candidate {cand.id} that was never asked "
                        f"({self.name}: call ask() first, or rebuild() to resume from history)"
                    )
                if rec.candidate_id != cand.id:
                    raise CallOrderError(
                        f"tell(): record for {rec.candidate_id} paired with candidate {cand.id}"
                    )
            del self.pending[cand.id]
            rec = self._view(rec)
            self.history.append((cand, rec))
            self._learn(cand, rec)

    def _view(self, rec: TrialRecord) -> TrialRecord:
        """The record as this strategy may see it (full fidelity only, unless it asks)."""
        return rec if self.learns_low_fidelity else rec.for_strategy()

    def rebuild(
        self,
        history: Sequence[Result],
        pending: Sequence[Candidate] = (),
        events: Sequence[Event] = (),
    ) -> None:
        """Restore this fresh strategy: replay stored results (in the order they were
        learned), then re-admit the ``pending`` candidates so their results can be told.
        ``events``: not needed here (everything is derived from the results)."""
        if self.history or self.pending:
            raise CallOrderError(
                f"rebuild() needs a fresh {self.name} strategy; this one has already been used"
            )
        for cand, stored in history:
            rec = self._view(stored)
            self.seen.add(cand.arch_hash)
            self._on_asked(cand)
            self.history.append((cand, rec))
            self._learn(cand, rec)
        for cand in pending:
            self.seen.add(cand.arch_hash)
            self.pending[cand.id] = cand
            self._on_asked(cand)

    @classmethod
    def from_history(cls, history: Sequence[Result], **kwargs: Any) -> BaseStrategy:
        """``cls(**kwargs)`` with ``history`` replayed."""
        s = cls(**kwargs)
        s.rebuild(history)
        return s

    def best(self) -> Result | None:
        """The told result with the highest validation accuracy (None if none completed)."""
        done = [(c, r) for c, r in self.history if r.state is TrialState.COMPLETE]
        return max(done, key=lambda cr: float(cr[1].metrics["val_acc"])) if done else None

    def state_summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seen": sorted(self.seen),
            "told": [(c.id, r.state.value, r.val_acc) for c, r in self.history],
            **self._extra_state(),
        }
