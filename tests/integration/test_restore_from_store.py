"""Resume restores, never replays: NADER, LAPT (LLM learner) and LLMatic (LLM operators)
through the controller against the OpenAI-compatible test server.

For each method:

* an uninterrupted run A (controller subprocess), then two more starts of the finished run:
  no table gains a row and the server receives no request;
* a run B of the same configuration (same seed) SIGKILLed at 5 points and resumed each time:
  no table has a duplicate key, the server received exactly the requests of run A (as a
  multiset), the candidate and LLM-call ids equal run A's, and the strategy restored from
  the store has run A's ``state_summary()``;
* the processes run with different ``PYTHONHASHSEED`` values, so equal candidate id sets
  also show that no id depends on ``hash()``.

And an endpoint that always answers prose: N modifier attempts give N INVALID rows.

Counts are of what matters: requests the server received, rows in the tables.

Why the scripted stand-in server: kills at chosen points, request counts at the server and
an always-prose endpoint; what the real model answers is replayed elsewhere
(tests/fixtures/llm/README.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.build import TEST_EVALUATOR_ENV, build_controller
from launcher.config import load_config
from launcher.run import RunPaths, create_run
from nas.controller import read_events
from nas.records import canonical_json, content_hash
from nas.spaces import NB201Space
from store.result_store import LocalResultStore
from store.schemas import TABLES
from tests.conftest import REPO, shared_path
from tests.integration.test_strategy_llm_faults import LEARN, UPDATE_BAD, WIDEN, _task
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

KEYS = {
    "candidates": ("candidate_id",),
    "trials": ("candidate_id",),
    "epochs": ("candidate_id", "attempt", "epoch"),
    "llm_calls": ("call_id",),
    "experiences": ("experience_id",),
    "events": ("event_id",),
}
KILLS = ["ask:2", "append:1", "tell:2", "journal:5", "submitted:2"]
SPACE = NB201Space()


def _lapt_reply(req: dict[str, Any]) -> str:
    return {"lapt_principles": LEARN, "lapt_update": UPDATE_BAD, "lapt_widen": WIDEN}.get(
        _task(req), "?"
    )


def _llmatic_reply(req: dict[str, Any]) -> str:
    if _task(req) not in ("llmatic_mutate", "llmatic_crossover"):
        return "?"
    # a deterministic answer per request (the run's requests decide the answers)
    rng = np.random.default_rng(int(content_hash(canonical_json(req["messages"]))[:8], 16))
    lines = SPACE.describe(SPACE.sample(rng))
    return f"Here is the modified cell:\n```\n{lines}\n```"


def _config(method: str, root: Path, base_url: str) -> list[str]:
    common = [f"experiment.run_root={root}", "experiment.seed=3", f"llm.base_url={base_url}",
              "llm.max_retries=0", "executor.kind=inprocess", "executor.max_in_flight=2",
              "executor.snapshot_every=3"]  # fmt: skip
    if method == "nader":
        return [str(REPO / "configs" / "demo.yaml"), *common, "budget.candidates=10",
                "strategy.nader.modifier_retries=1"]  # fmt: skip
    if method == "lapt":
        table = shared_path("data", "nb201.parquet")
        return [str(REPO / "configs" / "lapt_nb201.yaml"), *common, "budget.candidates=24",
                f"space.table={table}", f"strategy.lapt.source_table={table}",
                "strategy.lapt.learner=llm", "strategy.lapt.adapt_every=5"]  # fmt: skip
    return [str(REPO / "configs" / "llmatic_nb201.yaml"), *common, "budget.candidates=24",
            "strategy.llmatic.init_size=4", "strategy.llmatic.niches=8"]  # fmt: skip


RESPONDERS: dict[str, Callable[[], Callable[[dict[str, Any]], str]]] = {
    "nader": ScriptedDesignerLLM,
    "lapt": lambda: _lapt_reply,
    "llmatic": lambda: _llmatic_reply,
}


def _create(method: str, root: Path, base_url: str) -> tuple[RunPaths, Any]:
    args = _config(method, root, base_url)
    cfg = load_config([args[0]], args[1:])
    return create_run(cfg, cluster="inprocess"), cfg


def _controller(paths: RunPaths, work: Path, hashseed: int, fault: str = "") -> int:
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": str(work), "PYTHONPATH": str(REPO),
           "PYTHONHASHSEED": str(hashseed)}  # fmt: skip
    env.pop("ARCHLAB_FAULT", None)
    if fault:
        env["ARCHLAB_FAULT"] = fault
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "controller", str(paths.run_dir), "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode in (0, -signal.SIGKILL), out.stderr[-3000:]
    return out.returncode


def _rows(paths: RunPaths) -> dict[str, list[dict[str, Any]]]:
    store = LocalResultStore(paths.tables)
    return {t: store.read(t, paths.run_id).to_pylist() for t in TABLES}


def _names(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.iterdir()}


def _keys(rows: list[dict[str, Any]], table: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in KEYS[table]) for r in rows]


def _requests(srv: ScriptedOpenAIServer) -> Counter[str]:
    fields = ("model", "messages", "temperature", "seed", "max_tokens")
    return Counter(canonical_json({k: r.get(k) for k in fields}) for r in srv.requests)


def _summary(cfg: Any, paths: RunPaths, work: Path) -> dict[str, Any]:
    """A start of the finished run in this process: the restored strategy's state."""
    old = os.environ.get(TEST_EVALUATOR_ENV)
    os.environ[TEST_EVALUATOR_ENV] = str(work)
    try:
        ctl = build_controller(cfg, paths)
        assert ctl.run().reason == "done"
    finally:
        if old is None:
            os.environ.pop(TEST_EVALUATOR_ENV)
        else:
            os.environ[TEST_EVALUATOR_ENV] = old
    return ctl.strategy.state_summary()


@pytest.fixture(params=["nader", "lapt", "llmatic"])
def method(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def test_restart_adds_nothing_and_a_killed_run_resumes_exactly(method: str, tmp_path: Path) -> None:
    # ---- run A, uninterrupted
    with ScriptedOpenAIServer(responder=RESPONDERS[method]()) as srv:
        paths_a, cfg_a = _create(method, tmp_path / "a", srv.base_url)
        assert _controller(paths_a, tmp_path / "work-a", hashseed=1) == 0
        requests_a = _requests(srv)
        assert requests_a, "the run made no LLM request"
        rows_a = _rows(paths_a)
        assert rows_a["llm_calls"] and rows_a["events"]
        # run state in two places (#22): the answers a restart is served are on the
        # llm_calls rows, the submit intent is a journal event: no file beside the journal
        answered = [r for r in rows_a["llm_calls"] if r["answer"]]
        assert answered and all(r["memo_key"] is not None for r in answered)
        assert not {"llm_memo.jsonl", "submit_intent.json"} & _names(paths_a.run_dir)
        if method == "nader":  # decided designs too: their ids must not depend on hash()
            assert {"INVALID", "COMPLETE"} <= {r["state"] for r in rows_a["trials"]}
        # (a) two more starts of the finished run: no row, no request
        n_req = len(srv.requests)
        for hashseed in (2, 3):
            assert _controller(paths_a, tmp_path / "work-a", hashseed) == 0
        summary_a = _summary(cfg_a, paths_a, tmp_path / "work-a")
        assert len(srv.requests) == n_req, "a restart of a finished run sent LLM requests"
        again = _rows(paths_a)
        for t in TABLES:
            assert len(again[t]) == len(rows_a[t]), f"{t} gained rows on restart"
    stops = [e for e in read_events(paths_a.run_dir / "journal.jsonl") if e["ev"] == "stop"]
    assert [e["reason"] for e in stops] == ["done"] * 4

    # ---- run B, same config and seed, SIGKILLed at 5 points
    with ScriptedOpenAIServer(responder=RESPONDERS[method]()) as srv:
        paths_b, cfg_b = _create(method, tmp_path / "b", srv.base_url)
        kills = 0
        for i, fault in enumerate(KILLS):
            kills += _controller(paths_b, tmp_path / "work-b", 10 + i, fault) == -signal.SIGKILL
        assert kills == len(KILLS), f"only {kills} of {len(KILLS)} kills happened"
        assert _controller(paths_b, tmp_path / "work-b", hashseed=20) == 0
        rows_b = _rows(paths_b)
        assert not {"llm_memo.jsonl", "submit_intent.json"} & _names(paths_b.run_dir)
        requests_b = _requests(srv)
        summary_b = _summary(cfg_b, paths_b, tmp_path / "work-b")
    for t in TABLES:
        keys = _keys(rows_b[t], t)
        dup = [k for k, n in Counter(keys).items() if n > 1]
        assert not dup, f"{t} has duplicate keys after kills: {dup[:3]}"
    assert requests_b == requests_a, (
        f"requests differ: {sum((requests_b - requests_a).values())} extra, "
        f"{sum((requests_a - requests_b).values())} missing"
    )
    for t in ("candidates", "trials", "llm_calls"):
        assert set(_keys(rows_b[t], t)) == set(_keys(rows_a[t], t)), t
    assert summary_b == summary_a


def test_an_always_prose_endpoint_gives_one_invalid_row_per_modifier_attempt(
    tmp_path: Path,
) -> None:
    prose = "I would add a squeeze-and-excitation gate after the second convolution."
    with ScriptedOpenAIServer(responder=lambda req: prose) as srv:
        args = _config("nader", tmp_path, srv.base_url)
        cfg = load_config([args[0]], [*args[1:], "strategy.nader.modifier_retries=0",
                                      "llm.budget_tokens=20000"])  # fmt: skip
        paths = create_run(cfg, cluster="inprocess")
        assert _controller(paths, tmp_path / "work", hashseed=5) == 0
        attempts = sum(1 for r in srv.requests if _task(r) == "modifier")
    trials = _rows(paths)["trials"]
    invalid = [r for r in trials if r["state"] == "INVALID"]
    assert attempts >= 3
    assert len(invalid) == attempts
    assert len({r["candidate_id"] for r in invalid}) == attempts
