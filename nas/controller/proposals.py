"""What an ask returned, sorted (pure): new candidates to evaluate, duplicates of known ids,
and the results decided without training — the strategy's own (``pop_decided``) plus
proposals that fail ``Candidate.validate`` (INVALID data points, never evaluated)."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from nas.records import Candidate, RecordError, TrialRecord, TrialState
from nas.strategies.base import Result

__all__ = ["Proposals", "sort_proposals"]


@dataclass(frozen=True)
class Proposals:
    new: list[Candidate]  # to evaluate, in proposal order
    dups: list[str]  # ids already known (earlier, or twice in this ask)
    decided: list[Result]  # not evaluated: stored and told as they are


def sort_proposals(
    cands: Sequence[Candidate], decided: Sequence[Result], known: Container[str]
) -> Proposals:
    """Sort one ask's ``cands`` and the strategy's ``decided`` against the ``known`` ids."""
    new: list[Candidate] = []
    seen: set[str] = set()
    dups: list[str] = []
    out_decided = list(decided)
    for c in cands:
        if c.id in known or c.id in seen:
            dups.append(c.id)
            continue
        try:
            c.validate()
        except RecordError as e:
            out_decided.append((c, TrialRecord(c.id, TrialState.INVALID, error=str(e))))
            continue
        seen.add(c.id)
        new.append(c)
    kept = [(c, r) for c, r in out_decided if c.id not in known and c.id not in seen]
    return Proposals(new, dups, kept)
