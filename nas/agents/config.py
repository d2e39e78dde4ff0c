"""Section ``strategy.nader``: NADER's settings (declared once; the launcher's schema
composes it, :func:`nas.agents.factory.from_config` maps it onto the strategy)."""

from __future__ import annotations

from dataclasses import dataclass

from nas.config_checks import at_least, between

__all__ = ["NaderConfig"]


@dataclass(frozen=True)
class NaderConfig:
    """Section ``strategy.nader``."""

    dfs_ratio: float = 0.5  # share of proposals that deepen the best path (rest: breadth)
    modifier_retries: int = 3  # repair turns on validator feedback
    experiences_k: int = 5  # experiences retrieved per suggestion
    knowledge: str = ""  # knowledge pool path (JSON/JSONL); empty = built-in pool
    repair_temperature: float | None = None  # repair turns' temperature; None = llm.temperature
    # (a greedy model, temperature 0, answers a repair turn with its first answer again)

    def validate(self, where: str = "strategy.nader.") -> None:
        between(where, "dfs_ratio", self.dfs_ratio, 0, 1)
        at_least(where, "modifier_retries", self.modifier_retries, 0)
        at_least(where, "experiences_k", self.experiences_k, 0)
        if self.repair_temperature is not None:
            at_least(where, "repair_temperature", self.repair_temperature, 0)
