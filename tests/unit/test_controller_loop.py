"""The controller loop in-process: budget, resume = fresh start, dedupe, barrier, cancel,
pre-decided results, and records recognised from the store."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from nas.controller import CANCEL_FILE, Budget, Controller, read_events
from nas.records import Candidate, TrialRecord, TrialState
from nas.strategies import RandomSearch
from slurm.executor import Handle, InProcessExecutor, Outcome, OutcomeState
from store.result_store import LocalResultStore
from tests.support.counting_evaluator import CountingEvaluator, read_events_log

pytestmark = pytest.mark.unit


def _ctl(tmp_path, budget=10, strategy=None, **kw):
    return Controller(
        tmp_path / "run",
        "r1",
        strategy or RandomSearch({"epochs": 1}, rng=np.random.default_rng(0)),
        CountingEvaluator(str(tmp_path / "work")),
        InProcessExecutor(),
        LocalResultStore(tmp_path / "tables"),
        Budget(budget),
        **kw,
    )


def _trial_ids(tmp_path):
    return Counter(
        r["candidate_id"]
        for r in LocalResultStore(tmp_path / "tables").read("trials", "r1").to_pylist()
    )


def test_runs_to_budget_and_a_restart_is_a_no_op(tmp_path):
    s = _ctl(tmp_path, 10, max_in_flight=3, snapshot_every=4).run()
    assert s.reason == "done" and len(s.state.with_result()) == 10
    s2 = _ctl(tmp_path, 10).run()
    assert s2.reason == "done" and len(s2.state.with_result()) == 10
    ids = _trial_ids(tmp_path)
    assert len(ids) == 10 and set(ids.values()) == {1}
    assert Counter(k for k, _ in read_events_log(tmp_path / "work"))["done"] == 10


def test_raising_the_budget_continues_with_the_same_strategy_state(tmp_path):
    _ctl(tmp_path, 6, max_in_flight=2, snapshot_every=100).run()  # no mid-run snapshot
    c = _ctl(tmp_path, 9, max_in_flight=2)
    s = c.run()
    assert len(s.state.with_result()) == 9
    # the same 9 as a single uninterrupted run with the same seed
    ref = RandomSearch({"epochs": 1}, rng=np.random.default_rng(0))
    expected = [x.id for _ in range(5) for x in ref.ask(2)][:9]
    assert set(_trial_ids(tmp_path)) == set(expected)


def test_result_in_store_but_not_in_journal_is_recognised(tmp_path):
    c = _ctl(tmp_path, 4, max_in_flight=4)
    c.run()
    # forget the last results in the journal, as if the controller died after store.append
    j = tmp_path / "run" / "journal.jsonl"
    lines = j.read_bytes().splitlines(keepends=True)
    keep = [ln for ln in lines if b'"ev":"stop"' not in ln]
    cut = max(i for i, ln in enumerate(keep) if b'"ev":"submit"' in ln) + 1
    j.write_bytes(b"".join(keep[:cut]))
    for snap in (tmp_path / "run" / "state").glob("*.json"):
        snap.unlink()
    s = _ctl(tmp_path, 4).run()
    assert s.reason == "done"
    evs = read_events(j)
    assert any(e["ev"] == "result" and e.get("recognised") for e in evs)
    assert Counter(k for k, _ in read_events_log(tmp_path / "work"))["done"] == 4
    assert set(_trial_ids(tmp_path).values()) == {1}


class _Repeating(RandomSearch):
    """Proposes one candidate twice (a duplicate id) and decides one INVALID itself."""

    name = "repeating"

    def __init__(self) -> None:
        super().__init__({"epochs": 1}, rng=np.random.default_rng(1))
        self.first: Candidate | None = None
        self.decided: list[tuple[Candidate, TrialRecord]] = []
        self.batch_synchronous = True
        self.batch_size = 3

    def ask(self, n):
        out = super().ask(n)
        if self.first is None:
            self.first = out[0]
            bad = Candidate("nb201", "not-a-cell", "bad", {"epochs": 1}, 0)
            self.decided.append((bad, TrialRecord(bad.id, TrialState.INVALID, error="no")))
        else:
            out.append(self.first)
        return out

    def pop_decided(self):
        out, self.decided = self.decided, []
        return out

    def tell(self, results):
        for c, _ in results:
            self.pending.setdefault(c.id, c)
        super().tell(results)


def test_duplicates_are_not_evaluated_and_decided_results_are_stored(tmp_path):
    s = _ctl(tmp_path, 7, strategy=_Repeating(), max_in_flight=2).run()
    assert s.reason == "done"
    assert len(s.state.evaluated()) == 7 and s.state.duplicates >= 1
    ids = _trial_ids(tmp_path)
    assert len(ids) == 8 and set(ids.values()) == {1}  # 7 evaluated + 1 INVALID decided
    assert Counter(k for k, _ in read_events_log(tmp_path / "work"))["done"] == 7
    asks = [e for e in read_events(tmp_path / "run" / "journal.jsonl") if e["ev"] == "ask"]
    assert [e["n"] for e in asks][:2] == [3, 3]  # barrier: whole batches


def test_cancel_file_stops_the_loop(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / CANCEL_FILE).write_text("x")
    s = _ctl(tmp_path, 5).run()
    assert s.reason == "cancelled" and not s.state.with_result()


def test_budget_limits_other_than_candidates():
    b = Budget(10, gpu_hours=1.0)
    assert b.exhausted_by(wall_s=0, gpu_s=3600, llm_usd=0).startswith("gpu_hours")
    assert b.exhausted_by(wall_s=1e9, gpu_s=0, llm_usd=1e9) == ""
    with pytest.raises(ValueError):
        Budget(0)


class _Deferred:
    """A fake cluster: calls run only when ``as_completed`` asks; ``jobs`` (shared between
    executor instances) outlives the controller, ``gone`` are jobs that died meanwhile."""

    name = "deferred"

    def __init__(self, jobs, gone=()):
        self.jobs, self.gone = jobs, set(gone)

    def submit(self, calls):
        handles = []
        for c in calls:
            job = f"d{len(self.jobs)}"
            self.jobs[job] = c
            handles.append(Handle(key=c.key, job_id=job, ref={"dir": "jobs/x", "pos": 0, "n": 1}))
        return handles

    def as_completed(self, handles, timeout_s=None):
        for h in handles:
            if h.outcome is None:
                c = self.jobs[h.job_id]
                h.outcome = Outcome(OutcomeState.DONE, value=c.fn(*c.args))
            yield h

    def cancel(self, handles):
        pass

    def attach(self, key, job_id, ref=None, call=None):
        assert ref == {"dir": str(self.run_dir / "jobs/x"), "pos": 0, "n": 1}
        h = Handle(key=key, job_id=job_id, ref=ref)
        if job_id not in self.jobs or job_id in self.gone:
            h.outcome = Outcome(OutcomeState.LOST, error="gone")
        return h


def test_restart_reattaches_live_jobs_and_resubmits_lost_ones(tmp_path):
    jobs: dict = {}
    ex = _Deferred(jobs)
    ex.run_dir = tmp_path / "run"
    c = _ctl(tmp_path, 6, max_in_flight=3)
    c.executor = ex
    c.on_result = lambda cand, rec: c.request_stop("test")
    s = c.run()
    assert s.reason == "interrupted:test" and len(s.state.with_result()) == 1
    in_flight = [cid for cid, e in s.state.cands.items() if e.result is None]
    assert len(in_flight) == 2
    dead = s.state.cands[in_flight[0]].jobs[-1]

    ex2 = _Deferred(jobs, gone={dead})
    ex2.run_dir = tmp_path / "run"
    c2 = _ctl(tmp_path, 6, max_in_flight=3)
    c2.executor = ex2
    s2 = c2.run()
    assert s2.reason == "done" and len(s2.state.with_result()) == 6
    evs = read_events(tmp_path / "run" / "journal.jsonl")
    (att,) = [e for e in evs if e["ev"] == "attach"]
    (res,) = [e for e in evs if e["ev"] == "resubmit"]
    assert att["ids"] == in_flight[1:] and res["ids"] == in_flight[:1]
    assert res["why"][0].startswith("lost: gone")
    assert (s2.state.attached, s2.state.resubmitted) == (1, 1)
    # the resubmitted candidate got a new job; the attached one kept its job: each ran once
    assert len(s2.state.cands[in_flight[0]].jobs) == 2
    assert s2.state.cands[in_flight[1]].jobs == [s.state.cands[in_flight[1]].jobs[-1]]
    assert Counter(k for k, _ in read_events_log(tmp_path / "work"))["start"] == 6
    sub = next(e for e in evs if e["ev"] == "submit")
    assert sub["refs"][0]["dir"] == "jobs/x"  # relative to the run directory as given
