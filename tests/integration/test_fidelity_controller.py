"""ASHA in the controller (issue 25): rung tasks, keyed decisions, PRUNED trials, and a
restart mid-run that re-decides nothing, loses nothing and retrains nothing from scratch.

In-process, on the real NB201 table (two rungs: 12 and 200 epochs)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nas.controller import Budget, Controller, read_events
from nas.controller.fidelity import Asha, FidelityConfig
from nas.controller.rungs import RUNG_EVENT, Fidelity, stored_decisions
from nas.evaluators import TableEvaluator, load_table
from nas.evaluators.table import RecordedTimes
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies import RandomSearch
from slurm.executor import InProcessExecutor
from store.result_store import LocalResultStore
from tests.conftest import shared_path

CFG = FidelityConfig(kind="asha", min_epochs=12, max_epochs=200, eta=3)
N = 24


@pytest.fixture(scope="module")
def table_ev() -> TableEvaluator:
    return TableEvaluator(load_table(shared_path("data", "nb201.parquet")), "cifar10", 200,
                          cost_model=RecordedTimes())  # fmt: skip


@dataclass(frozen=True)
class Logged:
    """The table evaluator, logging every training start: candidate, to, from."""

    inner: TableEvaluator
    log: str

    def evaluate_at(self, candidate: Candidate, epochs: int, from_epochs: int = 0,
                    full: int = 0) -> TrialRecord:  # fmt: skip
        with open(self.log, "a") as f:
            f.write(f"{candidate.id} {epochs} {from_epochs}\n")
        return self.inner.evaluate_at(candidate, epochs, from_epochs, full)


def _ctl(root: Path, ev: TableEvaluator, **kw: object) -> Controller:
    fid = Fidelity(Asha.of(CFG, (12, 200)), Logged(ev, str(root / "starts.log")))
    return Controller(root / "run", "r1", RandomSearch({"epochs": 200}, rng=np.random.default_rng(5)),
                      ev, InProcessExecutor(), LocalResultStore(root / "tables"), Budget(N),
                      max_in_flight=1, fidelity=fid, **kw)  # type: ignore[arg-type]  # fmt: skip


def _starts(root: Path) -> list[tuple[str, int, int]]:
    lines = (root / "starts.log").read_text().split("\n")
    return [(a, int(b), int(c)) for a, b, c in (ln.split() for ln in lines if ln)]


def _decisions(root: Path) -> list[tuple[str, int, bool, int]]:
    store = LocalResultStore(root / "tables")
    return [(d.candidate_id, d.epochs, d.promote, d.rank) for d, _ in stored_decisions(store, "r1")]


def _trials(root: Path) -> list[dict[str, object]]:
    return LocalResultStore(root / "tables").read("trials", "r1").to_pylist()


def test_asha_in_the_controller(tmp_path: Path, table_ev: TableEvaluator) -> None:
    s = _ctl(tmp_path, table_ev).run()
    assert s.reason == "done"
    trials = _trials(tmp_path)
    assert len(trials) == N == len({t["candidate_id"] for t in trials})
    states = Counter(str(t["state"]) for t in trials)
    assert states["PRUNED"] > 0 and states["COMPLETE"] > 0 and set(states) == {"PRUNED", "COMPLETE"}
    for t in trials:
        rec = TrialRecord.from_row(t)
        if rec.state is TrialState.PRUNED:
            assert rec.fidelity_epochs == 12 and "rank" in rec.error
        else:
            assert (rec.fidelity_epochs, rec.fidelity_max) == (200, 200)
    decisions = _decisions(tmp_path)
    assert len(decisions) == N  # every candidate decided once at rung 12
    promoted = {cid for cid, _, up, _ in decisions if up}
    assert promoted == {t["candidate_id"] for t in trials if t["state"] == "COMPLETE"}
    starts = _starts(tmp_path)
    # each candidate starts from scratch once; a promoted one resumes at 12, never at 0
    assert Counter(c for c, _, f in starts if f == 0) == Counter({c: 1 for c, *_ in decisions})
    assert sorted(c for c, to, f in starts if to == 200) == sorted(promoted)
    assert all(f == 12 for _, to, f in starts if to == 200)
    # GPU-seconds: a pruned trial paid 12 recorded epochs; a promoted one 12 + 188 = 200
    cands = {r["candidate_id"]: r for r in
             LocalResultStore(tmp_path / "tables").read("candidates", "r1").to_pylist()}  # fmt: skip
    for t in trials:
        c = Candidate.from_row(cands[str(t["candidate_id"])])
        per_epoch = table_ev(c).cost.gpu_seconds / 200
        epochs = 12 if t["state"] == "PRUNED" else 200
        assert float(t["gpu_seconds"]) == pytest.approx(epochs * per_epoch)
    ev = read_events(tmp_path / "run" / "journal.jsonl")
    assert sum(e["ev"] == RUNG_EVENT for e in ev) == N
    assert s.state.rungs == N and s.state.promoted == len(promoted) and s.state.saved_s > 0


class _Crash(Exception):
    """The controller dies here (a kill between two writes)."""


def test_a_restart_mid_run_re_decides_nothing_and_loses_nothing(
    tmp_path: Path, table_ev: TableEvaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = tmp_path / "ref"
    _ctl(ref, table_ev).run()
    # 1. a crash after the 5th recorded trial; 2. a crash after the 12th decision was stored
    # but before it was journaled (the kill window between store and journal)
    root = tmp_path / "cut"
    seen = Counter[str]()

    def on_result(c: Candidate, r: TrialRecord) -> None:
        seen["results"] += 1
        if seen["results"] == 5:
            raise _Crash

    with pytest.raises(_Crash):
        _ctl(root, table_ev, on_result=on_result).run()
    emit = Controller._emit

    def crash_at_rung(self: Controller, ev: str, **kw: object) -> None:
        if ev == RUNG_EVENT and len(_decisions(root)) == 12 and not seen["cut"]:
            seen["cut"] += 1
            raise _Crash
        emit(self, ev, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Controller, "_emit", crash_at_rung)
    with pytest.raises(_Crash):
        _ctl(root, table_ev).run()
    monkeypatch.setattr(Controller, "_emit", emit)
    s = _ctl(root, table_ev).run()
    assert s.reason == "done" and seen["cut"] == 1 and seen["results"] == 5
    evs = read_events(root / "run" / "journal.jsonl")
    assert sum(e["ev"] == "start" for e in evs) == 3
    # the same decisions, in the same order, each stored once; the same trials
    assert _decisions(root) == _decisions(ref)
    key = lambda t: (t["candidate_id"], t["state"], t["val_acc"], t["gpu_seconds"])  # noqa: E731
    assert sorted(map(key, _trials(root))) == sorted(map(key, _trials(ref)))
    assert s.state.rungs == N  # a decision re-journaled after the restart counts once
    # training starts: the crashed run's starts plus at most the one lost in-flight rung task
    # (in-process tasks die with the controller); never a promoted candidate from scratch
    starts, ref_starts = _starts(root), _starts(ref)
    assert Counter(starts) - Counter(ref_starts) <= Counter({s: 1 for s in starts})
    assert len(starts) - len(ref_starts) == 1  # the rung task in flight at the 2nd crash
    promoted = {c for c, _, up, _ in _decisions(ref) if up}
    assert all(f == 12 for c, to, f in starts if to == 200)
    assert Counter(c for c, _, f in starts if f == 0) <= Counter(
        {c: 2 for c, *_ in _decisions(ref)}
    )
    assert {c for c, to, _ in starts if to == 200} == promoted


def test_archlab_launch_with_fidelity_asha(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The section reaches the controller through the one builder (launcher/build.py); a
    resume of the finished run adds nothing."""
    from launcher.cli import main
    from tests.conftest import REPO

    table = shared_path("data", "nb201.parquet")
    rc = main(["launch", str(REPO / "configs" / "llmatic_nb201.yaml"), f"space.table={table}",
               f"experiment.run_root={tmp_path / 'runs'}", "budget.candidates=30",
               "fidelity.kind=asha", "fidelity.eta=3", "--cluster", "inprocess"])  # fmt: skip
    assert rc == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    store = LocalResultStore(run_dir / "tables")
    (run_id,) = {p.name.split("=", 1)[1] for p in (run_dir / "tables" / "trials").iterdir()}
    trials = store.read("trials", run_id).to_pylist()
    states = Counter(str(t["state"]) for t in trials)
    assert len(trials) == 30 and states["PRUNED"] > 0 and states["COMPLETE"] > 0
    assert len(stored_decisions(store, run_id)) == 30
    capsys.readouterr()
    assert main(["status", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "fidelity:   30 rung decisions:" in out and "GPU-hours saved vs full training" in out
    assert main(["sql", str(run_dir), "--query", "fidelity", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 30 and sum(r["pruned"] for r in rows) == states["PRUNED"]
    assert all((r["gpu_seconds_saved"] > 0) == r["pruned"] for r in rows)
    assert {r["fidelity_epochs"] for r in rows} == {12, 200}
    assert main(["resume", str(run_dir), "--cluster", "inprocess"]) == 0
    assert len(store.read("trials", run_id).to_pylist()) == 30
    assert len(stored_decisions(store, run_id)) == 30
    # the report's promotion plot: every candidate once, the pruned ones greyed at 12 epochs
    assert main(["report", str(run_dir), "-o", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    assert '<section id="fidelity"' in html and 'id="plot-promotions"' in html
    m = re.search(r'<script type="application/json" id="fig-data">(.*?)</script>', html, re.S)
    assert m
    (spec,) = [f for f in json.loads(m.group(1)) if f["id"] == "promotions"]
    names = {t["name"]: t for t in spec["data"]}
    stopped = next(t for n, t in names.items() if n.startswith("stopped at a rung"))
    assert stopped["name"] == f"stopped at a rung ({states['PRUNED']})"
    assert {x for x in stopped["x"] if x is not None} == {12}
    full = next(t for n, t in names.items() if n.startswith("trained to full fidelity"))
    assert full["name"] == f"trained to full fidelity ({states['COMPLETE']})"
    assert {x for x in full["x"] if x is not None} == {12, 200}
