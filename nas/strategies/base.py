"""The strategy protocol: propose (``ask``) and learn (``tell``), never evaluate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nas.records import Candidate, TrialRecord

__all__ = ["CallOrderError", "Strategy"]


class CallOrderError(RuntimeError):
    """``tell`` was called for a candidate that was never asked."""


class Strategy(Protocol):
    name: str

    def ask(self, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates (fewer when the space is exhausted)."""
        ...

    def tell(self, results: Sequence[tuple[Candidate, TrialRecord]]) -> None:
        """Learn from finished evaluations of previously asked candidates."""
        ...
