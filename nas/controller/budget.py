"""Budgets that stop a run: candidates, wall time, GPU-hours, LLM dollars (0 = no limit)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    """When to stop asking for candidates. In-flight candidates are always finished."""

    candidates: int  # candidates evaluated (trained or looked up); duplicates do not count
    wall_hours: float = 0.0  # since the run's first controller start, over all requeues
    gpu_hours: float = 0.0  # sum of the trials' gpu_seconds / 3600
    llm_usd: float = 0.0  # LLM dollars (trials' llm_cost_usd + the strategy's own spend)

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"Budget.candidates={self.candidates}: evaluate at least 1")
        for name in ("wall_hours", "gpu_hours", "llm_usd"):
            if getattr(self, name) < 0:
                raise ValueError(f"Budget.{name} is negative: use 0 for no limit")

    def exhausted_by(self, *, wall_s: float, gpu_s: float, llm_usd: float) -> str:
        """The name of the first limit reached (``""`` when none is)."""
        if self.wall_hours and wall_s >= self.wall_hours * 3600:
            return f"wall_hours ({wall_s / 3600:.2f} h >= {self.wall_hours:g} h)"
        if self.gpu_hours and gpu_s >= self.gpu_hours * 3600:
            return f"gpu_hours ({gpu_s / 3600:.2f} h >= {self.gpu_hours:g} h)"
        if self.llm_usd and llm_usd >= self.llm_usd:
            return f"llm_usd (${llm_usd:.2f} >= ${self.llm_usd:g})"
        return ""
