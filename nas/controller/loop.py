"""A minimal in-memory search loop (no journal, no resume) for scripts and tests that drive a
strategy directly; runs use :class:`nas.controller.controller.Controller`. Keeps up to
``max_in_flight`` candidates running; as each result arrives, store it, tell, ask again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nas.controller.controller import record_from_outcome
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies.base import Strategy
from slurm.executor import Call, Executor, Handle

__all__ = ["SearchResult", "run_search"]


@dataclass
class SearchResult:
    records: list[tuple[Candidate, TrialRecord]] = field(default_factory=list)

    @property
    def best(self) -> tuple[Candidate, TrialRecord] | None:
        done = [(c, r) for c, r in self.records if r.state is TrialState.COMPLETE]
        return max(done, key=lambda cr: cr[1].metrics["val_acc"]) if done else None


def run_search(
    strategy: Strategy,
    evaluate: Callable[[Candidate], TrialRecord],
    executor: Executor,
    store: Any,
    run_id: str,
    budget: int,
    max_in_flight: int = 4,
    on_result: Callable[[Candidate, TrialRecord], None] | None = None,
) -> SearchResult:
    """Evaluate up to ``budget`` candidates. ``store`` needs ``append(table, run_id, rows)``."""
    result = SearchResult()
    in_flight: dict[str, tuple[Candidate, Handle]] = {}
    asked = 0
    while asked < budget or in_flight:
        want = min(max_in_flight - len(in_flight), budget - asked)
        if want > 0:
            cands = strategy.ask(want)
            if not cands and not in_flight:
                break  # space exhausted
            asked += len(cands)
            if cands:
                store.append("candidates", run_id, [c.to_row() for c in cands])
                handles = executor.submit([Call(evaluate, (c,), key=c.id) for c in cands])
                for c, h in zip(cands, handles, strict=False):
                    in_flight[c.id] = (c, h)
        for h in executor.as_completed([h for _, h in in_flight.values()]):
            cand, _ = in_flight.pop(h.key)
            rec = record_from_outcome(h, cand)
            store.append("trials", run_id, [rec.to_row()])
            store.append("epochs", run_id, rec.epoch_rows())
            strategy.tell([(cand, rec)])
            result.records.append((cand, rec))
            if on_result:
                on_result(cand, rec)
            break  # steady state: refill after each result
    return result
