"""The controller's state as a pure fold over journal events (also what ``status`` reads).

Per candidate the phase moves ``asked -> submitted -> stored -> told``; ``decided``
candidates (INVALID/DUPLICATE decided by the strategy itself, never trained) and
``duplicate`` proposals (an id already known) are recorded but not evaluated. Events:

=============  ==============================================================
``start``      a controller process started (pid, host, Slurm job id)
``ask``        the strategy's ``ask(n)`` returned ``ids``; ``cands`` holds the rows of new ids,
               ``decided`` the ``{id: {cand, rec}}`` the strategy decided without evaluation
               (told to it in the same step), ``rng`` the generator's state after the step
``decided``    (older journals) one decided result (``cand``, ``rec`` rows)
``submit``     ``ids`` were handed to the executor as ``jobs`` (same order) with ``refs``
               (job folder, position in the pack, submission time: what re-attach needs);
               ``update: true`` when the executor moved a running candidate to a new job
               (it started a queued task, or retried one)
``intent``     ``ids`` are about to be submitted as the executor's ``plan`` (fsynced before
               ``executor.submit``; ``since``: when planned); the next ``submit`` ends it, an
               empty ``ids`` ends it too (nas.controller.submit_intent)
``attach``     a restarted controller re-attached ``ids`` to their running/finished ``jobs``
``resubmit``   ``ids`` go to the executor again (``why``: never submitted, lost, ...)
``result``     the trial of ``id`` is in the store (``state``, ``val_acc``, costs)
``tell``       ``ids`` were told to the strategy (``rng``: the generator's state after it)
``rung``       a fidelity rung decision of ``candidate_id`` at ``epochs``: ``promote`` (back to
               ``asked`` until the next rung's ``submit``) or stopped (a PRUNED ``result``
               follows); ``saved_s``: GPU-seconds a stopped one did not spend; ``gpu_s``:
               the rung's own GPU-seconds, in ``gpu_seconds()`` from the decision on (the
               candidate's trial, which carries all its rungs, replaces them)
``hold``       a budget is spent: promoted ``ids`` are not trained on to their ``rungs`` (they
               stay asked; a resume with a larger budget submits them)
``stop``       the loop ended (``reason``: done, budget, cancelled, interrupted, exhausted)
=============  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CandEntry", "RunState", "fold"]

ASKED, SUBMITTED, STORED, TOLD = "asked", "submitted", "stored", "told"
DECIDED, DUPLICATE = "decided", "duplicate"


@dataclass
class CandEntry:
    row: dict[str, Any]  # Candidate.to_row()
    phase: str = ASKED
    jobs: list[str] = field(default_factory=list)  # job id per submission
    refs: list[dict[str, Any]] = field(default_factory=list)  # executor ref per submission
    result: dict[str, Any] | None = None  # summary of the stored trial
    told: int = -1  # seq of the event that told it to the strategy (-1: not yet)
    rung: int = 0  # epochs of the rung it was last promoted to (0: none)
    decided: list[int] = field(default_factory=list)  # epochs of its journaled rung decisions
    rung_gpu_s: float = 0.0  # GPU-seconds of its decided rungs (in the budget before its trial)


@dataclass
class RunState:
    seq: int = -1  # last event folded in
    cands: dict[str, CandEntry] = field(default_factory=dict)  # insertion order = ask order
    duplicates: int = 0  # proposals whose id was already known (not evaluated again)
    starts: list[dict[str, Any]] = field(default_factory=list)  # start events
    stop: dict[str, Any] | None = None  # last stop event (None while running or after a crash)
    asks: int = 0
    tells: int = 0
    rng: dict[str, Any] | None = None  # the strategy's generator after the last ask/tell
    # the last ``intent`` event's fields while no ``submit`` followed it (a submission the
    # journal may not name: nas.controller.submit_intent); None otherwise
    intent: dict[str, Any] | None = None
    attached: int = 0  # candidates re-attached to their jobs by a restarted controller
    resubmitted: int = 0  # candidates submitted again (job lost, never journaled, ...)
    rungs: int = 0  # fidelity rung decisions
    promoted: int = 0  # of those: promotions
    saved_s: float = 0.0  # GPU-seconds the stopped candidates would have spent to the end
    first_t: float = 0.0
    last_t: float = 0.0
    # running totals (the loop reads them every turn: no pass over all candidates)
    n_evaluated: int = 0  # candidates meant for evaluation (not decided)
    gpu_s: float = 0.0
    llm_usd_total: float = 0.0

    # ---------------------------------------------------------------- fold
    def apply(self, ev: dict[str, Any]) -> None:
        kind = ev["ev"]
        self.seq = int(ev["seq"])
        t = float(ev.get("t", 0.0))
        self.first_t = self.first_t or t
        self.last_t = t
        if kind == "start":
            self.starts.append({k: ev.get(k) for k in ("t", "pid", "host", "slurm_job_id")})
            self.stop = None
        elif kind == "ask":
            self.asks += 1
            for cid, row in ev.get("cands", {}).items():
                if cid not in self.cands:
                    self.cands[cid] = CandEntry(row)
                    self.n_evaluated += 1
            for cid, d in ev.get("decided", {}).items():
                if cid not in self.cands:
                    self.cands[cid] = CandEntry(d["cand"], DECIDED, result=_summary(d["rec"]),
                                                told=self.seq)  # fmt: skip
                    self._count(None, self.cands[cid].result)
            self.duplicates += len(ev.get("dups", []))
            if ev.get("rng") is not None:
                self.rng = ev["rng"]
        elif kind == "decided":
            cid = ev["cand"]["candidate_id"]
            if cid not in self.cands:
                self.cands[cid] = CandEntry(ev["cand"], DECIDED, result=_summary(ev["rec"]),
                                            told=self.seq)  # fmt: skip
                self._count(None, self.cands[cid].result)
        elif kind == "intent":
            self.intent = (
                {k: ev.get(k) for k in ("ids", "plan", "since")} if ev.get("ids") else None
            )
        elif kind == "submit":
            self.intent = None
            refs = ev.get("refs") or [{}] * len(ev["ids"])
            for cid, job, ref in zip(ev["ids"], ev["jobs"], refs, strict=True):
                e = self.cands[cid]
                if len(e.refs) < len(e.jobs):  # an entry from before refs were journaled
                    e.refs += [{}] * (len(e.jobs) - len(e.refs))
                e.jobs.append(str(job))
                e.refs.append(dict(ref or {}))
                if e.phase == ASKED:
                    e.phase = SUBMITTED
        elif kind == "attach":
            self.attached += len(ev.get("ids", []))
        elif kind == "resubmit":
            self.resubmitted += len(ev.get("ids", []))
        elif kind == "result":
            e = self.cands[ev["id"]]
            old, e.result = e.result, {k: ev.get(k) for k in _SUMMARY_KEYS}
            self._count(old, e.result, gpu=e.phase != DECIDED)
            if old is None and e.phase != DECIDED:  # its trial carries its rungs' GPU-seconds
                self.gpu_s -= e.rung_gpu_s
            if e.phase in (ASKED, SUBMITTED):
                e.phase = STORED
        elif kind == "tell":
            self.tells += 1
            for cid in ev["ids"]:
                e = self.cands[cid]
                if e.phase == STORED:
                    e.phase = TOLD
                    e.told = self.seq
            if ev.get("rng") is not None:
                self.rng = ev["rng"]
        elif kind == "rung":
            e = self.cands[ev["candidate_id"]]
            new = int(ev["epochs"]) not in e.decided  # else re-journaled after a restart
            if new:
                e.decided.append(int(ev["epochs"]))
                # a rung's GPU-seconds count against the budget when it is decided, not only
                # when the candidate's trial lands (a result arriving later subtracts them)
                gpu = float(ev.get("gpu_s") or 0.0)
                e.rung_gpu_s += gpu
                if e.result is None:
                    self.gpu_s += gpu
            self.rungs += new
            if ev.get("promote"):
                self.promoted += new
                e.rung = int(ev.get("next_epochs") or 0)
                if e.phase == SUBMITTED:
                    e.phase = ASKED  # the next rung is a new task (its own submit)
            elif new:
                self.saved_s += float(ev.get("saved_s") or 0.0)
        elif kind == "stop":
            self.stop = {k: v for k, v in ev.items() if k not in ("seq",)}

    # ---------------------------------------------------------------- views
    def _count(
        self, old: dict[str, Any] | None, new: dict[str, Any] | None, gpu: bool = False
    ) -> None:
        for sign, r in ((-1.0, old), (1.0, new)):
            if r:
                self.llm_usd_total += sign * float(r.get("llm_usd") or 0.0)
                if gpu:
                    self.gpu_s += sign * float(r.get("gpu_s") or 0.0)

    @property
    def ops(self) -> int:
        """Journaled strategy steps (asks and tells): the key of the next step's writes."""
        return self.asks + self.tells

    def evaluated(self) -> list[CandEntry]:
        """Candidates meant for evaluation (not decided by the strategy)."""
        return [e for e in self.cands.values() if e.phase != DECIDED]

    def with_result(self) -> list[CandEntry]:
        return [e for e in self.evaluated() if e.result is not None]

    def in_flight(self) -> list[CandEntry]:
        return [e for e in self.evaluated() if e.result is None]

    def gpu_seconds(self) -> float:
        return self.gpu_s

    def llm_usd(self) -> float:
        return self.llm_usd_total

    def best(self) -> tuple[str, dict[str, Any]] | None:
        done = [
            (cid, e.result)
            for cid, e in self.cands.items()
            if e.result
            and e.result.get("state") == "COMPLETE"
            and e.result.get("val_acc") is not None
        ]
        return max(done, key=lambda x: float(x[1]["val_acc"])) if done else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able view, serialised at once (shares the rows; no deep copy: a deep
        ``asdict`` of 500 candidates cost ~1 s per snapshot on a busy 2-core machine)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cands"}
        out["cands"] = {cid: vars(e) for cid, e in self.cands.items()}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        s = cls(**{k: v for k, v in data.items() if k != "cands"})
        s.cands = {cid: CandEntry(**e) for cid, e in data.get("cands", {}).items()}
        if "n_evaluated" not in data:  # a snapshot from before the running totals
            s.n_evaluated = len(s.evaluated())
            for e in s.cands.values():
                s._count(None, e.result, gpu=e.phase != DECIDED)
        return s


_SUMMARY_KEYS = ("state", "val_acc", "gpu_s", "llm_usd", "wall_s", "finished_at", "recognised")


def summary_of(rec_row: dict[str, Any]) -> dict[str, Any]:
    """The result summary kept in the journal for a trials row."""
    return _summary(rec_row)


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": row.get("state"),
        "val_acc": row.get("val_acc"),
        "gpu_s": row.get("gpu_seconds") or 0.0,
        "llm_usd": row.get("llm_cost_usd") or 0.0,
        "wall_s": row.get("wall_seconds") or 0.0,
        "finished_at": row.get("finished_at") or 0.0,
        "recognised": False,
    }


def fold(events: Iterable[dict[str, Any]], state: RunState | None = None) -> RunState:
    """Apply ``events`` (those after ``state.seq``) to ``state`` (or a fresh one)."""
    s = state or RunState()
    for ev in events:
        if int(ev["seq"]) > s.seq:
            s.apply(ev)
    return s
