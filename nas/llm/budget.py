"""A hard LLM budget in tokens and/or dollars, shared by every call of a run (thread-safe).

The check happens *before* a call: once spent >= cap, :meth:`LLMBudget.check` raises
:class:`BudgetExceeded` and the caller (a strategy) stops proposing, so the run ends cleanly
with what it has. A call that started under the cap is still accounted in full (the
overshoot is at most one call per concurrent worker).

    >>> b = LLMBudget(max_tokens=100)
    >>> b.charge(60, 50, 0.0)
    >>> b.exhausted
    True
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["BudgetExceeded", "LLMBudget", "Usage"]


class BudgetExceeded(RuntimeError):
    """The run's LLM budget is spent: stop asking the LLM (not an error of the call)."""


@dataclass
class Usage:
    calls: int = 0  # calls that reached the endpoint (or the cassette) and returned
    failed_calls: int = 0  # calls that ended in an error after retries
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class LLMBudget:
    """Caps: ``max_tokens`` (prompt + completion) and ``max_usd``; 0 means no cap."""

    def __init__(self, max_tokens: int = 0, max_usd: float = 0.0) -> None:
        if max_tokens < 0 or max_usd < 0:
            raise ValueError("budget caps must be >= 0 (0 = no cap)")
        self.max_tokens = int(max_tokens)
        self.max_usd = float(max_usd)
        self.usage = Usage()
        self._lock = threading.Lock()

    def charge(self, tokens_in: int, tokens_out: int, cost: float) -> None:
        with self._lock:
            self.usage.calls += 1
            self.usage.tokens_in += int(tokens_in)
            self.usage.tokens_out += int(tokens_out)
            self.usage.cost_usd += float(cost)

    def charge_failure(self) -> None:
        with self._lock:
            self.usage.failed_calls += 1

    @property
    def exhausted(self) -> bool:
        u = self.usage
        if self.max_tokens and u.tokens >= self.max_tokens:
            return True
        return bool(self.max_usd and u.cost_usd >= self.max_usd)

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` when a cap is reached."""
        if self.exhausted:
            u = self.usage
            raise BudgetExceeded(
                f"LLM budget spent: {u.tokens} tokens (cap {self.max_tokens or 'none'}), "
                f"${u.cost_usd:.4f} (cap {self.max_usd or 'none'}); raise llm.budget_tokens / "
                "llm.budget_usd to continue"
            )
