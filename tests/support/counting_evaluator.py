"""Test helpers for the controller: a cheap, picklable evaluator that counts training starts.

:class:`CountingEvaluator` behaves like a checkpointing trainer: it claims a candidate
before training (``claims/<id>``, holding its pid), writes a "done" marker with the record
when training finished (``done/<id>.json``, atomic), and appends one line per event to
``events.log`` (``start``, ``done``, ``cached``, ``wait``). A re-submitted candidate whose
training already finished returns the stored record without training (``cached``); one
whose training is still running in a live process waits for it (``wait``) instead of
training a second time; one whose trainer died is trained again (a new ``start``, not a
second ``done``). So "no candidate trained twice" is checkable: at most one ``done`` line
per candidate.

Not a benchmark model: ``val_acc`` is a deterministic function of the candidate id.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from nas.records import Candidate, TrialCost, TrialRecord, TrialState

__all__ = ["CountingEvaluator", "read_events_log"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of a killed controller counts as dead
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class CountingEvaluator:
    """``work_dir`` collects claims, done markers and ``events.log``; ``seconds`` per training."""

    work_dir: str
    seconds: float = 0.0
    gpu_seconds: float = 0.0  # reported per trial (for GPU-hour budgets)
    fail_every: int = 0  # every k-th candidate (by id hash) FAILS (0 = never)
    name: str = "counting"

    def _log(self, kind: str, cid: str) -> None:
        line = f"{kind} {cid} {os.getpid()} {time.time():.6f}\n".encode()
        fd = os.open(Path(self.work_dir) / "events.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def __call__(self, cand: Candidate) -> TrialRecord:
        root = Path(self.work_dir)
        (root / "done").mkdir(parents=True, exist_ok=True)
        (root / "claims").mkdir(parents=True, exist_ok=True)
        cid = cand.id
        done = root / "done" / f"{cid}.json"
        claim = root / "claims" / cid
        while True:
            if done.exists():
                self._log("cached", cid)
                return TrialRecord.from_row(json.loads(done.read_text()))
            try:
                fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                try:
                    owner = int(claim.read_text() or "0")
                except (OSError, ValueError):
                    owner = 0
                if owner and _alive(owner):
                    self._log("wait", cid)
                    while _alive(owner) and not done.exists():
                        time.sleep(0.02)
                    continue
                claim.unlink(missing_ok=True)  # its trainer died: take over
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            break
        self._log("start", cid)
        started = time.time()
        if self.seconds:
            time.sleep(self.seconds)
        h = int(cid[:8], 16)
        if self.fail_every and h % self.fail_every == 0:
            rec = TrialRecord(cid, TrialState.FAILED, error="CountingEvaluator: planned failure")
        else:
            rec = TrialRecord(
                cid,
                TrialState.COMPLETE,
                metrics={"val_acc": 0.5 + 0.4 * (h / 2**32), "test_acc": 0.5},
                cost=TrialCost(wall_seconds=self.seconds, gpu_seconds=self.gpu_seconds),
                evaluator=self.name,
            )
        rec = rec.with_(started_at=started, finished_at=time.time())
        tmp = done.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(rec.to_row()))
        os.replace(tmp, done)
        self._log("done", cid)
        return rec


def read_events_log(work_dir: str | Path) -> list[tuple[str, str]]:
    """``[(kind, candidate_id), ...]`` from ``events.log`` (torn last line ignored)."""
    p = Path(work_dir) / "events.log"
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out
