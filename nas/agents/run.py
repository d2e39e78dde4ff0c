"""A small driver: NADER with pre-decided results, on ``run_search``.

:func:`run_nader` is what the controller will do once it integrates pre-decided results:
after each ``ask`` it stores and tells ``strategy.pop_decided()`` without evaluating them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from nas.agents.nader_strategy import NaderStrategy
from nas.records import Candidate, TrialRecord
from nas.strategies.base import Result

__all__ = ["DecidingStrategy", "run_nader"]


class DecidingStrategy:
    """Wraps a NaderStrategy so that pre-decided records are stored and told on each ask."""

    def __init__(self, inner: NaderStrategy, store: Any, run_id: str) -> None:
        self.inner, self.store, self.run_id = inner, store, run_id
        self.name = inner.name
        self.decided: list[tuple[Candidate, TrialRecord]] = []

    def ask(self, n: int) -> list[Candidate]:
        out = self.inner.ask(n)
        dec = self.inner.pop_decided()
        if dec:
            self.store.append("candidates", self.run_id, [c.to_row() for c, _ in dec])
            self.store.append("trials", self.run_id, [r.to_row() for _, r in dec])
            self.inner.tell(dec)
            self.decided.extend(dec)
        return out

    def tell(self, results: Sequence[Result | TrialRecord]) -> None:
        self.inner.tell(results)

    def rebuild(
        self,
        history: Sequence[Result],
        *,
        tree_events: Iterable[Mapping[str, Any]] = (),
        pending: Sequence[Candidate] = (),
    ) -> None:
        self.inner.rebuild(history, tree_events=tree_events, pending=pending)

    def state_summary(self) -> dict[str, Any]:
        return self.inner.state_summary()


def run_nader(
    strategy: NaderStrategy,
    evaluate: Callable[[Candidate], TrialRecord],
    store: Any,
    run_id: str,
    budget: int,
    max_in_flight: int = 2,
) -> tuple[Any, DecidingStrategy]:
    """``budget`` evaluated candidates through ``run_search`` with an in-process executor."""
    from nas.controller.loop import run_search
    from slurm.executor import InProcessExecutor

    wrapped = DecidingStrategy(strategy, store, run_id)
    strategy.sink = lambda table, rows: store.append(table, run_id, rows)

    def evaluate_with_llm_cost(cand: Candidate) -> TrialRecord:
        rec = evaluate(cand)
        tin, tout, usd = strategy.llm_cost_of(cand.id)
        cost = replace(rec.cost, llm_tokens_in=tin, llm_tokens_out=tout, llm_cost_usd=usd)
        return replace(rec, cost=cost)

    result = run_search(wrapped, evaluate_with_llm_cost, InProcessExecutor(), store, run_id,
                        budget, max_in_flight=max_in_flight)  # fmt: skip
    return result, wrapped
