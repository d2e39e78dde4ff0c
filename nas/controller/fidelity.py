"""Fidelity schedules: train a candidate to a rung, then promote it or stop it (issue 25).

A controller capability, not a strategy: the strategy proposes architectures; the schedule
decides how many epochs each one is trained before it is compared with the others that
reached the same rung. Section ``fidelity`` of a run (:class:`FidelityConfig`).

Rungs are ``min_epochs * eta**k`` below ``max_epochs``, then ``max_epochs`` itself
(``min_epochs=12, max_epochs=200, eta=4`` -> 12, 48, 192 -> ``(12, 48, 200)``; a table that
holds only some training lengths gives its own rungs, e.g. NB201's ``(12, 200)``).

The rung rule is asynchronous successive halving as Optuna's ``SuccessiveHalvingPruner``
applies it: when a candidate's result at a rung arrives, it is compared with every result
that reached that rung so far (its own included) and promoted when it is within the top
``max(n // eta, 1)`` of them; otherwise it is stopped. The decision is taken at once and is
final — nobody waits for a full bracket, and a decision is a plain record
(:class:`RungDecision`, keyed ``rung-<candidate>-<epochs>``) from which :meth:`Asha.restore`
rebuilds the rung tables exactly (resume = replay the stored decisions in order).

Hyperband (``kind=hyperband``) runs ``brackets`` such ladders side by side: bracket ``b``
starts at rung ``b`` (``min_epochs * eta**b`` epochs), so later brackets prune less
aggressively; candidate number ``i`` goes to bracket ``i % brackets``, each bracket with its
own rung tables (as Optuna's ``HyperbandPruner`` does with ASHA brackets).

    >>> a = Asha.of(FidelityConfig(kind="asha", min_epochs=12, max_epochs=200, eta=2))
    >>> a.rungs(0)
    (12, 24, 48, 96, 192, 200)
    >>> [a.decide(f"c{i}", 12, v).promote for i, v in enumerate([0.5, 0.4, 0.9, 0.1])]
    [True, False, True, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nas.config_checks import at_least, fail, one_of

__all__ = ["KINDS", "Asha", "FidelityConfig", "RungDecision", "geometric_rungs", "rung_key"]

KINDS = ("none", "asha", "hyperband")


def rung_key(candidate_id: str, epochs: int) -> str:
    """The key of ``candidate_id``'s decision at rung ``epochs``."""
    return f"rung-{candidate_id}-{epochs}"


def geometric_rungs(min_epochs: int, max_epochs: int, eta: int) -> tuple[int, ...]:
    """``min_epochs * eta**k`` below ``max_epochs``, then ``max_epochs``."""
    out: list[int] = []
    e = min_epochs
    while e < max_epochs:
        out.append(e)
        e *= eta
    out.append(max_epochs)
    return tuple(out)


@dataclass(frozen=True)
class FidelityConfig:
    """Section ``fidelity``: how long a candidate trains before it must beat its peers."""

    kind: str = "none"  # none (every candidate trains the full recipe) | asha | hyperband
    min_epochs: int = 12  # epochs of the first rung (NB201 table: 12)
    max_epochs: int = 200  # epochs of the last rung = full fidelity (the recipe's length)
    eta: int = 3  # reduction factor: the top 1/eta of a rung are promoted
    brackets: int = 1  # hyperband only: ladders started at rungs 0..brackets-1

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    def rungs(self) -> tuple[int, ...]:
        return geometric_rungs(self.min_epochs, self.max_epochs, self.eta)

    def rungs_within(self, available: Iterable[int], where: str = "fidelity.") -> tuple[int, ...]:
        """The rungs a table can serve: its training lengths in ``[min_epochs, max_epochs]``
        (NB201: 12 and 200), which must include both ends."""
        have = sorted(set(available))
        lad = tuple(f for f in have if self.min_epochs <= f <= self.max_epochs)
        if len(lad) < 2 or lad[0] != self.min_epochs or lad[-1] != self.max_epochs:
            fail(where + "min_epochs", self.min_epochs,
                 f"with {where}max_epochs={self.max_epochs} both must be training lengths the "
                 f"table holds ({have})", f"e.g. {where}min_epochs={have[0]} "
                 f"{where}max_epochs={have[-1]}")  # fmt: skip
        return lad

    def validate(self, where: str = "fidelity.") -> None:
        one_of(where, "kind", self.kind, KINDS)
        at_least(where, "min_epochs", self.min_epochs, 1, "epochs of the first rung")
        at_least(where, "eta", self.eta, 2, "a rung keeps 1/eta of its candidates")
        at_least(where, "brackets", self.brackets, 1)
        if self.max_epochs <= self.min_epochs:
            fail(where + "max_epochs", self.max_epochs,
                 f"must be > {where}min_epochs ({self.min_epochs}) so that there is a rung "
                 "to promote to", f"e.g. {where}max_epochs={self.min_epochs * self.eta}")  # fmt: skip
        n = len(self.rungs())
        if self.kind == "hyperband" and self.brackets > n - 1:
            fail(where + "brackets", self.brackets,
                 f"must be <= {n - 1} (the rungs {list(self.rungs())} leave {n - 1} "
                 "brackets that still prune)", f"e.g. {where}brackets={n - 1}")  # fmt: skip
        if self.kind != "hyperband" and self.brackets != 1:
            fail(where + "brackets", self.brackets, "is a hyperband setting",
                 f"set {where}kind=hyperband or leave {where}brackets=1")  # fmt: skip


@dataclass(frozen=True)
class RungDecision:
    """One rung decision: a candidate's value at ``epochs`` and whether it trains on."""

    candidate_id: str
    bracket: int  # hyperband bracket (0 for asha)
    epochs: int  # the rung it was compared at
    value: float  # its validation accuracy there (what it was compared on)
    promote: bool  # True: resume training to ``next_epochs``; False: stopped (PRUNED)
    next_epochs: int  # the next rung's epochs (0 when stopped)
    rank: int  # 1-based rank among ``competitors`` (ties: the earlier result ranks first)
    competitors: int  # results at this rung when it was decided (its own included)

    @property
    def key(self) -> str:
        return rung_key(self.candidate_id, self.epochs)

    def to_payload(self) -> dict[str, Any]:
        return {
            "candidate_id": self.candidate_id, "bracket": self.bracket, "epochs": self.epochs,
            "value": self.value, "promote": self.promote, "next_epochs": self.next_epochs,
            "rank": self.rank, "competitors": self.competitors,
        }  # fmt: skip

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> RungDecision:
        return cls(str(p["candidate_id"]), int(p["bracket"]), int(p["epochs"]),
                   float(p["value"]), bool(p["promote"]), int(p["next_epochs"]),
                   int(p["rank"]), int(p["competitors"]))  # fmt: skip


@dataclass
class Asha:
    """The rung tables of one run (pure: no I/O, no clock; decisions depend only on the
    order results arrive in, which the controller journals)."""

    ladder: tuple[int, ...]  # every rung's epochs, the last = full fidelity
    eta: int
    brackets: int = 1
    # (bracket, epochs) -> values that reached that rung, in arrival order
    tables: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    decided: dict[str, RungDecision] = field(default_factory=dict)  # by RungDecision.key
    assigned: dict[str, int] = field(default_factory=dict)  # candidate id -> bracket

    @classmethod
    def of(cls, cfg: FidelityConfig, ladder: tuple[int, ...] | None = None) -> Asha:
        """The schedule of ``cfg``; ``ladder`` overrides its rungs (a table's fidelities)."""
        lad = ladder if ladder is not None else cfg.rungs()
        if len(lad) < 2 or list(lad) != sorted(set(lad)):
            raise ValueError(f"rungs {list(lad)}: need >= 2 increasing training lengths")
        return cls(lad, cfg.eta, cfg.brackets if cfg.kind == "hyperband" else 1)

    @property
    def full(self) -> int:
        return self.ladder[-1]

    def rungs(self, bracket: int) -> tuple[int, ...]:
        return self.ladder[bracket:]

    def assign(self, candidate_id: str) -> int:
        """The epochs ``candidate_id`` is first trained to (its bracket's first rung).
        Brackets go round-robin in the order candidates are first assigned."""
        b = self.assigned.get(candidate_id)
        if b is None:
            b = len(self.assigned) % self.brackets
            self.assigned[candidate_id] = b
        return self.rungs(b)[0]

    def decide(self, candidate_id: str, epochs: int, value: float) -> RungDecision:
        """Record ``value`` at rung ``epochs`` and decide. A rung decided before (a
        repeated result after a restart) returns the same decision and records nothing."""
        b = self.assigned.get(candidate_id)
        if b is None:
            self.assign(candidate_id)
            b = self.assigned[candidate_id]
        key = rung_key(candidate_id, epochs)
        if key in self.decided:
            return self.decided[key]
        rungs = self.rungs(b)
        if epochs not in rungs:
            raise ValueError(f"{epochs} epochs is not a rung of bracket {b}: {list(rungs)}")
        if epochs == rungs[-1]:
            raise ValueError(f"{epochs} epochs is full fidelity: nothing to decide")
        table = self.tables.setdefault((b, epochs), [])
        table.append(value)
        # rank: 1 + results strictly better, + equal ones that arrived earlier
        earlier = table[:-1]
        rank = 1 + sum(v > value for v in earlier) + sum(v == value for v in earlier)
        keep = max(len(table) // self.eta, 1)
        promote = rank <= keep
        nxt = rungs[rungs.index(epochs) + 1] if promote else 0
        d = RungDecision(candidate_id, b, epochs, value, promote, nxt, rank, len(table))
        self.decided[key] = d
        return d

    def restore(self, decisions: Iterable[RungDecision]) -> None:
        """Rebuild the tables from stored decisions, in the order they were taken."""
        for d in decisions:
            if d.key in self.decided:
                continue
            self.assigned.setdefault(d.candidate_id, d.bracket)
            self.tables.setdefault((d.bracket, d.epochs), []).append(d.value)
            self.decided[d.key] = d
