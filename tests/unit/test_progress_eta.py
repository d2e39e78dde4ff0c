"""``archlab status``'s ETA counts the strategy's own time: an LLM designer on a CPU spends
minutes per proposal against seconds of training (a real NADER run with the local model
showed "ETA 0:01:21" with 11 of 14 candidates, ~60 minutes, still to go)."""

from __future__ import annotations

from typing import Any

import pytest

from nas.controller.progress import progress
from nas.records import Candidate


def _journal(n_done: int, design_s: float, train_s: float) -> tuple[list[dict[str, Any]], float]:
    evs: list[dict[str, Any]] = [{"seq": 0, "t": 0.0, "ev": "start", "pid": 1, "host": "h",
                                  "slurm_job_id": "", "resumed": False}]  # fmt: skip
    t = 0.0
    for i in range(n_done):
        c = Candidate("nb201", f"arch-{i}", f"h{i}")
        t += design_s
        evs.append({"seq": len(evs), "t": t, "ev": "ask", "n": 1, "ids": [c.id],
                    "cands": {c.id: c.to_row()}, "dups": [], "decided": {}})  # fmt: skip
        t += train_s
        evs.append({"seq": len(evs), "t": t, "ev": "result", "id": c.id, "state": "COMPLETE",
                    "val_acc": 0.9, "gpu_s": 0.0, "llm_usd": 0.0, "wall_s": train_s})  # fmt: skip
    return evs, t


def test_eta_of_a_run_whose_proposals_take_longer_than_its_trainings() -> None:
    evs, now = _journal(3, design_s=300.0, train_s=20.0)
    p = progress("unused", 14, events=evs, now=now)
    assert p.evaluated == 3
    assert p.eta_s == pytest.approx(11 * 320.0)  # the observed rate, not 11 x 20 s


def test_eta_of_parallel_trainings_comes_from_their_wall_time() -> None:
    evs, now = _journal(4, design_s=0.0, train_s=100.0)  # one at a time so far
    p = progress("unused", 12, max_in_flight=1, events=evs, now=now)
    assert p.eta_s == pytest.approx(8 * 100.0)
