"""Hyperband through the controller (issue 25) and rung GPU-seconds in the budget.

In-process, on synthetic learning curves (no table has four training lengths): a
candidate's quality comes from its id, its value at ``e`` epochs is ``q * e / (e + 3)``, and a
rung task costs 100 GPU-seconds per epoch it trains (from its resume point)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nas.controller import Budget, Controller, read_events
from nas.controller.fidelity import Asha, FidelityConfig
from nas.controller.rungs import Fidelity, stored_decisions
from nas.records import Candidate, TrialCost, TrialRecord, TrialState
from nas.strategies import RandomSearch
from slurm.executor import Call, Handle, InProcessExecutor, Outcome, OutcomeState
from store.result_store import LocalResultStore

HB = FidelityConfig(kind="hyperband", min_epochs=1, max_epochs=27, eta=3, brackets=3)
N = 30
PER_EPOCH = 100.0


@dataclass(frozen=True)
class Curves:
    """A rung evaluator on synthetic curves, logging every training start: id, to, from."""

    log: str

    def evaluate_at(self, candidate: Candidate, epochs: int, from_epochs: int = 0,
                    full: int = 0) -> TrialRecord:  # fmt: skip
        with open(self.log, "a") as f:
            f.write(f"{candidate.id} {epochs} {from_epochs}\n")
        q = int(candidate.id[:8], 16) / 16**8
        return TrialRecord(candidate.id, TrialState.COMPLETE,
                           metrics={"val_acc": q * epochs / (epochs + 3)},
                           cost=TrialCost(gpu_seconds=PER_EPOCH * (epochs - from_epochs)),
                           fidelity_epochs=epochs, fidelity_max=full)  # fmt: skip

    def __call__(self, candidate: Candidate) -> TrialRecord:
        return self.evaluate_at(candidate, HB.max_epochs, 0, HB.max_epochs)


class Reversed(InProcessExecutor):
    """Runs a call when it is waited for, the last submitted first (an array's tasks finish
    in any order): a candidate asked later is decided before one asked earlier."""

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[str, Call] = {}

    def submit(self, calls: Sequence[Call]) -> list[Handle]:
        handles = []
        for call in calls:
            h = Handle(key=call.key, job_id=f"reversed-{self._count}")
            self._count += 1
            self._calls[h.job_id] = call
            handles.append(h)
        return handles

    def as_completed(self, handles: Sequence[Handle],
                     timeout_s: float | None = None) -> Iterator[Handle]:  # fmt: skip
        for h in reversed(list(handles)):
            if h.outcome is None:
                call = self._calls.pop(h.job_id)
                h.outcome = Outcome(OutcomeState.DONE, value=call.fn(*call.args, **call.kwargs))
            yield h


def _ctl(root: Path, cfg: FidelityConfig = HB, budget: Budget | None = None,
         executor: InProcessExecutor | None = None, **kw: object) -> Controller:  # fmt: skip
    ev = Curves(str(root / "starts.log"))
    return Controller(root / "run", "r1", RandomSearch({"epochs": 27}, rng=np.random.default_rng(3)),
                      ev, executor or InProcessExecutor(), LocalResultStore(root / "tables"),
                      budget or Budget(N), max_in_flight=2, fidelity=Fidelity(Asha.of(cfg), ev),
                      **kw)  # type: ignore[arg-type]  # fmt: skip


def _starts(root: Path) -> list[tuple[str, int, int]]:
    lines = (root / "starts.log").read_text().split("\n")
    return [(a, int(b), int(c)) for a, b, c in (ln.split() for ln in lines if ln)]


def _asked(root: Path) -> list[str]:
    """Candidate ids in ask order (from the journal)."""
    out: list[str] = []
    for e in read_events(root / "run" / "journal.jsonl"):
        if e["ev"] == "ask":
            out += [c for c in e["cands"] if c not in out]
    return out


def _decisions(root: Path) -> list[tuple[str, int, int, bool, int, int]]:
    store = LocalResultStore(root / "tables")
    return [(d.candidate_id, d.bracket, d.epochs, d.promote, d.rank, d.competitors)
            for d, _ in stored_decisions(store, "r1")]  # fmt: skip


def _trials(root: Path) -> list[dict[str, object]]:
    return LocalResultStore(root / "tables").read("trials", "r1").to_pylist()


def test_hyperband_brackets_through_the_controller(tmp_path: Path) -> None:
    """Candidate i starts at bracket i % 3's first rung (1, 3 or 9 epochs); each bracket
    ranks only its own results; promotions resume from the rung; every trial is paid for the
    epochs it trained, once."""
    s = _ctl(tmp_path).run()
    assert s.reason == "done"
    order = _asked(tmp_path)
    assert len(order) == N
    ladder = (1, 3, 9, 27)
    starts = _starts(tmp_path)
    first = {}
    for cid, to, frm in starts:
        first.setdefault(cid, (to, frm))
    assert all(first[c] == (ladder[i % 3], 0) for i, c in enumerate(order))
    assert Counter(c for c, _, frm in starts if frm == 0) == Counter(order)  # once from scratch
    decisions = _decisions(tmp_path)
    bracket = {c: i % 3 for i, c in enumerate(order)}
    assert all(b == bracket[c] for c, b, *_ in decisions)
    assert {b for _, b, *_ in decisions} == {0, 1, 2}
    # each (bracket, rung) table counts its own results 1, 2, 3, ... in decision order
    seen = Counter[tuple[int, int]]()
    for _, b, e, _, rank, n in decisions:
        seen[(b, e)] += 1
        assert n == seen[(b, e)] and 1 <= rank <= n and e in ladder[b:-1]
    # a promotion resumes at its rung, to the next rung of its bracket
    for c, _, e, up, *_ in decisions:
        if up:
            assert (c, ladder[ladder.index(e) + 1], e) in starts
    trials = {str(t["candidate_id"]): t for t in _trials(tmp_path)}
    assert len(trials) == N
    states = Counter(str(t["state"]) for t in trials.values())
    assert states["PRUNED"] > 0 and states["COMPLETE"] > 0
    for c, t in trials.items():
        top = max(to for cc, to, _ in starts if cc == c)
        assert t["fidelity_epochs"] == top  # pruned at its last rung, or full
        assert float(t["gpu_seconds"]) == pytest.approx(PER_EPOCH * top)  # no epoch paid twice
    assert s.state.gpu_seconds() == pytest.approx(
        sum(float(t["gpu_seconds"]) for t in trials.values())
    )


class _Crash(Exception):
    """The controller dies here."""


def test_hyperband_restart_assigns_brackets_in_ask_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks finish out of order and the controller dies right after the first decision:
    the restarted one gives every candidate the bracket of its place in the ask order, not
    of the order decisions were stored in."""
    emit = Controller._emit

    def crash_after_first_rung(self: Controller, ev: str, **kw: object) -> None:
        emit(self, ev, **kw)  # type: ignore[arg-type]
        if ev == "rung":
            raise _Crash

    monkeypatch.setattr(Controller, "_emit", crash_after_first_rung)
    with pytest.raises(_Crash):
        _ctl(tmp_path, executor=Reversed()).run()
    monkeypatch.setattr(Controller, "_emit", emit)
    assert len(_decisions(tmp_path)) == 1
    assert _ctl(tmp_path, executor=Reversed()).run().reason == "done"
    order = _asked(tmp_path)
    assert _decisions(tmp_path)[0][0] != order[0]  # the first decision was not the first ask
    assert all(b == order.index(c) % 3 for c, b, *_ in _decisions(tmp_path))
    assert {b for _, b, *_ in _decisions(tmp_path)} == {0, 1, 2}


def test_hyperband_restart_keeps_brackets_and_decisions(tmp_path: Path) -> None:
    """A crash mid-run: the restarted controller decides exactly what the uninterrupted run
    decided, and trains no promoted candidate from scratch again."""
    ref = tmp_path / "ref"
    _ctl(ref).run()
    root = tmp_path / "cut"
    seen = Counter[str]()

    def on_result(c: Candidate, r: TrialRecord) -> None:
        seen["results"] += 1
        if seen["results"] == 7:
            raise _Crash

    with pytest.raises(_Crash):
        _ctl(root, on_result=on_result).run()
    s = _ctl(root).run()
    assert s.reason == "done"
    assert _decisions(root) == _decisions(ref)
    key = lambda t: (t["candidate_id"], t["state"], t["fidelity_epochs"])  # noqa: E731
    assert sorted(map(key, _trials(root))) == sorted(map(key, _trials(ref)))
    # no promoted candidate trained from scratch again: its later starts resume at a rung
    assert {frm for _, _, frm in _starts(root)} <= {0, 1, 3, 9}
    assert Counter(c for c, _, f in _starts(root) if f == 0) <= Counter({c: 2 for c in _asked(ref)})


def test_rung_gpu_seconds_count_against_the_budget_before_the_trial_lands(
    tmp_path: Path,
) -> None:
    """budget.gpu_hours is reached by rungs of candidates still training: the run stops
    asking, holds its promoted candidates (journal ``hold``) instead of training them on,
    and ends ``budget:gpu_hours`` before any trial reached full fidelity; a resume with a
    larger budget trains the held ones on from their rung."""
    cfg = FidelityConfig(kind="asha", min_epochs=1, max_epochs=27, eta=3)
    limit_s = 5 * PER_EPOCH  # five epochs' worth
    ctl = _ctl(tmp_path, cfg, Budget(N, gpu_hours=limit_s / 3600))
    s = ctl.run()
    assert s.reason.startswith("budget:gpu_hours")
    trials = _trials(tmp_path)
    assert not [t for t in trials if t["state"] == "COMPLETE"]  # no trial reached 27 epochs
    # spent = every rung decided so far, counted while their candidates were in flight
    rung_gpu = sum(g for _, g in stored_decisions(LocalResultStore(tmp_path / "tables"), "r1"))
    assert s.state.gpu_seconds() == pytest.approx(rung_gpu) and rung_gpu >= limit_s
    assert rung_gpu < 27 * PER_EPOCH  # stopped well before one full training was paid
    evs = read_events(tmp_path / "run" / "journal.jsonl")
    held = [c for e in evs if e["ev"] == "hold" for c in e["ids"]]
    assert held and all(e["why"].startswith("budget:gpu_hours") for e in evs if e["ev"] == "hold")
    starts_before = _starts(tmp_path)
    # resume with a larger budget: the held candidates train on from their rung
    s2 = _ctl(tmp_path, cfg, Budget(N, gpu_hours=1000.0)).run()
    assert s2.reason == "done"
    later = _starts(tmp_path)[len(starts_before) :]
    for c in held:
        assert any(cc == c and frm > 0 for cc, _, frm in later)  # resumed, not from scratch
    assert not any(cc in held and frm == 0 for cc, _, frm in later)


def test_hyperband_section_reaches_the_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fidelity.kind=hyperband through the one builder: brackets over the recipe's rungs for
    a trainer; refused (one line naming the key) where a table's rungs leave fewer brackets."""
    from launcher.build import build_fidelity, train_evaluator
    from launcher.cli import main
    from launcher.config import load_config
    from tests.conftest import REPO, shared_path

    cfg = load_config([REPO / "configs" / "demo.yaml"],
                      ["fidelity.kind=hyperband", "fidelity.min_epochs=1", "fidelity.max_epochs=9",
                       "fidelity.brackets=2", "train.epochs=9"], check=True)  # fmt: skip
    fid = build_fidelity(cfg, train_evaluator(cfg.train, 0, str(tmp_path)))
    assert fid is not None and fid.asha.brackets == 2 and fid.asha.ladder == (1, 3, 9)
    assert [fid.task(c).epochs for c in ("a", "b", "c")] == [1, 3, 1]
    table = shared_path("data", "nb201.parquet")
    rc = main(["launch", str(REPO / "configs" / "llmatic_nb201.yaml"), f"space.table={table}",
               f"experiment.run_root={tmp_path / 'runs'}", "fidelity.kind=hyperband",
               "fidelity.brackets=2", "--cluster", "inprocess"])  # fmt: skip
    assert rc != 0
    err = capsys.readouterr().err
    assert "'fidelity.brackets' is 2: the table's rungs [12, 200] leave 1 bracket" in err
