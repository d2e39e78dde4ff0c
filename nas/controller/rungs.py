"""The controller's side of a fidelity schedule (issue 25): rung tasks, decision rows.

A candidate is submitted as a *rung task* — ``RungTask(evaluator, epochs, from_epochs, full)``
called with the candidate — that trains it to its rung (resuming from the checkpoint of the
previous rung, never from scratch). When the rung's result arrives the controller asks the
pure rule (:class:`nas.controller.fidelity.Asha`) and records the decision **before** it acts:

==========  ======================================  =====================================
where       key                                     what
==========  ======================================  =====================================
events      ``rung-<n>-<candidate>-<epochs>``        kind ``rung``: the decision payload
                                                    (value, rank, competitors, promote,
                                                    next rung, GPU-seconds of the rung, n)
journal     event ``rung``                          the same, after the store row
==========  ======================================  =====================================

``n`` is the decision's ordinal (decisions made before it), so a restart rebuilds the rung
tables from the store in decision order (:func:`stored_decisions`); a rung result that comes
back again after a restart (a finished job re-attached) finds its decision already taken and
re-decides nothing. A promoted candidate goes back to the executor as a new task at its next
rung; a stopped one becomes a ``PRUNED`` trial (its last rung's metrics, the GPU-seconds of
all its rungs); the final rung's trial carries the sum of every rung's GPU-seconds too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from nas.controller.fidelity import Asha, RungDecision, rung_key
from nas.records import Candidate, TrialRecord, canonical_json
from store.result_store import ResultStore

__all__ = [
    "RUNG_EVENT",
    "Fidelity",
    "RungEvaluator",
    "RungTask",
    "rung_row",
    "stored_decisions",
]

RUNG_EVENT = "rung"
_PREFIX = "rung-"


class RungEvaluator(Protocol):
    """An evaluator that can stop at a rung and resume (TableEvaluator, TrainEvaluator)."""

    def evaluate_at(self, candidate: Candidate, epochs: int, from_epochs: int = 0,
                    full: int = 0) -> TrialRecord: ...  # fmt: skip


@dataclass(frozen=True)
class RungTask:
    """A picklable ``Candidate -> TrialRecord``: train to ``epochs``, resuming at
    ``from_epochs`` (what an array task runs for a rung)."""

    evaluator: RungEvaluator
    epochs: int
    from_epochs: int
    full: int

    def __call__(self, candidate: Candidate) -> TrialRecord:
        return self.evaluator.evaluate_at(candidate, self.epochs, self.from_epochs, self.full)


@dataclass
class Fidelity:
    """What the controller holds of a fidelity schedule: the rule and the evaluator."""

    asha: Asha
    evaluator: RungEvaluator
    decisions: int = 0  # decisions recorded (the next one's ordinal)
    gpu_s: dict[str, float] | None = None  # candidate -> GPU-seconds of its decided rungs

    def task(self, cid: str) -> RungTask:
        """The task that trains ``cid`` to its next rung (its first one when undecided)."""
        last = self.last_promotion(cid)
        if last is None:
            return RungTask(self.evaluator, self.asha.assign(cid), 0, self.asha.full)
        return RungTask(self.evaluator, last.next_epochs, last.epochs, self.asha.full)

    def last_promotion(self, cid: str) -> RungDecision | None:
        """The promotion of ``cid`` at its highest decided rung (None: none yet); O(rungs)."""
        for e in reversed(self.asha.ladder):
            d = self.asha.decided.get(rung_key(cid, e))
            if d is not None and d.promote:
                return d
        return None

    def spent(self, cid: str) -> float:
        return (self.gpu_s or {}).get(cid, 0.0)

    def restore(self, rows: list[tuple[RungDecision, float]]) -> None:
        self.asha.restore(d for d, _ in rows)
        self.gpu_s = {}
        for d, gpu in rows:
            self.gpu_s[d.candidate_id] = self.gpu_s.get(d.candidate_id, 0.0) + gpu
        self.decisions = len(rows)

    def add_spent(self, cid: str, gpu: float) -> None:
        if self.gpu_s is None:
            self.gpu_s = {}
        self.gpu_s[cid] = self.gpu_s.get(cid, 0.0) + gpu


def rung_row(d: RungDecision, n: int, gpu_s: float, now: float) -> dict[str, Any]:
    """The ``events`` row of decision number ``n`` (its key is its ``event_id``)."""
    payload = {**d.to_payload(), "n": n, "gpu_s": gpu_s}
    return {"event_id": f"{_PREFIX}{n:08d}-{d.candidate_id}-{d.epochs}", "kind": RUNG_EVENT,
            "payload": canonical_json(payload), "created_at": now}  # fmt: skip


def _decision(payload: Mapping[str, Any]) -> tuple[RungDecision, float]:
    return RungDecision.from_payload(payload), float(payload.get("gpu_s") or 0.0)


def stored_decisions(store: ResultStore, run_id: str) -> list[tuple[RungDecision, float]]:
    """Every stored rung decision with its rung's GPU-seconds, in decision order (one per
    candidate and rung: a row written twice by a repeated step counts once)."""
    rows = store.read("events", run_id, columns=["event_id", "kind", "payload"]).to_pylist()
    mine = sorted((r for r in rows if str(r["event_id"]).startswith(_PREFIX)),
                  key=lambda r: str(r["event_id"]))  # fmt: skip
    out: list[tuple[RungDecision, float]] = []
    seen: set[tuple[str, int]] = set()
    for r in mine:
        d, gpu = _decision(json.loads(r["payload"]))
        if (d.candidate_id, d.epochs) in seen:
            continue
        seen.add((d.candidate_id, d.epochs))
        out.append((d, gpu))
    return out
