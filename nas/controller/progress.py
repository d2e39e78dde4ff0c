"""What ``archlab status`` shows: a run's progress from its journal (no lock, no store scan).

>>> p = progress(run_dir, budget_candidates=500, max_in_flight=8)     # doctest: +SKIP
>>> print("\\n".join(p.lines()))                                      # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.controller.journal import read_events
from nas.controller.state import DECIDED, RunState, fold

__all__ = ["Progress", "progress"]


@dataclass(frozen=True)
class Progress:
    budget: int  # candidates to evaluate
    evaluated: int  # with a stored result
    in_flight: int  # asked, no result yet
    states: dict[str, int] = field(default_factory=dict)  # result state -> count
    decided: int = 0  # INVALID/DUPLICATE decided by the strategy (not evaluated)
    duplicates: int = 0  # proposals of known ids
    best: tuple[str, float] | None = None  # (candidate id, val_acc)
    gpu_hours: float = 0.0
    llm_usd: float = 0.0
    elapsed_s: float = 0.0  # since the first controller start
    eta_s: float | None = None
    starts: int = 0  # controller (re)starts
    stop: str = ""  # last stop reason ("" while running or after a crash)

    @property
    def finished(self) -> bool:
        return bool(self.stop) and not self.stop.startswith(("interrupted", "cancelled"))

    def lines(self, modelled_cost: bool = False) -> list[str]:
        """The status lines; ``modelled_cost``: the GPU-hours come from a cost model (table
        lookups train nothing), so they are labelled as such."""
        pct = 100.0 * self.evaluated / self.budget if self.budget else 0.0
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "none yet"
        best = f"{self.best[1]:.4f} ({self.best[0]})" if self.best else "none yet"
        eta = _hms(self.eta_s) if self.eta_s is not None else "unknown"
        return [
            f"progress:   {self.evaluated}/{self.budget} evaluated ({pct:.0f}%), "
            f"{self.in_flight} in flight",
            f"states:     {states}"
            + (f"; {self.decided} rejected before training" if self.decided else "")
            + (f"; {self.duplicates} duplicate proposals" if self.duplicates else ""),
            f"best val:   {best}",
            f"GPU-hours:  {self.gpu_hours:.2f}"
            + (
                " (modelled: FLOPs cost model of table lookups, nothing trained)"
                if modelled_cost
                else ""
            )
            + f"    LLM spend: ${self.llm_usd:.2f}",
            f"elapsed:    {_hms(self.elapsed_s)}    ETA: {eta}    controller starts: {self.starts}",
        ]

    def bar(self, width: int = 40) -> str:
        filled = int(width * self.evaluated / self.budget) if self.budget else 0
        return "[" + "#" * filled + "." * (width - filled) + "]"


def _hms(s: float) -> str:
    s = int(max(0.0, s))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def progress(
    run_dir: str | Path,
    budget_candidates: int,
    max_in_flight: int = 1,
    events: list[dict[str, Any]] | None = None,
    now: float | None = None,
) -> Progress:
    evs = read_events(Path(run_dir) / "journal.jsonl") if events is None else events
    st: RunState = fold(evs)
    now = time.time() if now is None else now
    done = st.with_result()
    states = Counter(str(e.result["state"]) for e in done if e.result)
    best = st.best()
    first = float(st.starts[0]["t"]) if st.starts else (st.first_t or now)
    end = float(st.stop["t"]) if st.stop and "t" in st.stop else now
    elapsed = end - first
    remaining = max(0, budget_candidates - len(done))
    eta: float | None = None
    if done and remaining and not st.stop:
        # the slower of two rates: trainings (mean wall time per slot) and the run's observed
        # throughput, which also counts the strategy's own time — an LLM designer on a CPU
        # spends minutes per proposal against seconds of training
        walls = [float(e.result.get("wall_s") or 0.0) for e in done if e.result]
        training = sum(walls) / len(walls) * remaining / max(1, max_in_flight)
        observed = elapsed / len(done) * remaining
        eta = max(training, observed)
    elif not remaining:
        eta = 0.0
    return Progress(
        budget=budget_candidates,
        evaluated=len(done),
        in_flight=len(st.in_flight()),
        states=dict(states),
        decided=sum(1 for e in st.cands.values() if e.phase == DECIDED),
        duplicates=st.duplicates,
        best=(best[0], float(best[1]["val_acc"])) if best else None,
        gpu_hours=st.gpu_seconds() / 3600,
        llm_usd=st.llm_usd(),
        elapsed_s=elapsed,
        eta_s=eta,
        starts=len(st.starts),
        stop=str(st.stop.get("reason", "")) if st.stop else "",
    )
