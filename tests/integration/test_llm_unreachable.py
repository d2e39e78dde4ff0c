"""The LLM endpoint dies in the middle of a run (a local server killed by the OOM killer):
``llm.unreachable_stop_after`` calls in a row without an answer stop the run as
``llm_unreachable`` — resumable, no design recorded for a transport failure — and, once the
server is back, ``archlab resume`` finishes it without asking an answered call again and
without training a candidate twice.

Why the scripted stand-in server: the test kills it after a chosen number of answered
requests, restarts it on the same port and counts the requests it received; what a real
model answers is not the point."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.build import TEST_EVALUATOR_ENV, build_controller
from launcher.config import load_config
from launcher.run import RunPaths, create_run
from nas.controller.controller import RunSummary
from nas.records import canonical_json
from store.result_store import LocalResultStore
from tests.integration.test_restore_from_store import RESPONDERS, _config
from tests.support.counting_evaluator import read_events_log
from tests.support.scripted_openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

STOP_AFTER = 3


def _key(req: dict[str, Any]) -> str:
    fields = ("model", "messages", "temperature", "seed", "max_tokens")
    return canonical_json({k: req.get(k) for k in fields})


class Dying:
    """Answers like ``inner`` for ``k`` requests; from the next one on the server is dead:
    the request in progress gets no response (the connection drops) and the server stops
    listening (later requests: connection refused)."""

    def __init__(self, inner: Callable[[dict[str, Any]], str], k: int) -> None:
        self.inner, self.k = inner, k
        self.answered: list[str] = []
        self.srv: ScriptedOpenAIServer | None = None

    def __call__(self, req: dict[str, Any]) -> str:
        if len(self.answered) >= self.k:
            assert self.srv is not None
            srv, self.srv = self.srv, None
            if srv is not None:
                threading.Thread(target=srv.stop, daemon=True).start()
            raise ConnectionAbortedError("the server died (test)")
        self.answered.append(_key(req))
        return self.inner(req)


def _start(cfg: Any, paths: RunPaths) -> RunSummary:
    return build_controller(cfg, paths).run()


def _run(method: str, root: Path, base_url: str, *extra: str) -> tuple[Any, RunPaths]:
    args = _config(method, root, base_url)
    cfg = load_config([args[0]], [*args[1:], f"llm.unreachable_stop_after={STOP_AFTER}", *extra])
    return cfg, create_run(cfg, cluster="inprocess")


def _rows(paths: RunPaths, table: str) -> list[dict[str, Any]]:
    return LocalResultStore(paths.tables).read(table, paths.run_id).to_pylist()


def _starts(work: Path) -> Counter[str]:
    return Counter(cid for kind, cid in read_events_log(work) if kind == "start")


def _reference(
    method: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], set[str]]:
    """An uninterrupted run: its requests in order and its trial ids."""
    monkeypatch.setenv(TEST_EVALUATOR_ENV, str(root / "work"))
    with ScriptedOpenAIServer(responder=RESPONDERS[method]()) as srv:
        cfg, paths = _run(method, root, srv.base_url)
        assert _start(cfg, paths).reason == "done"
        reqs = [_key(r) for r in srv.requests if r["path"].endswith("/chat/completions")]
    return reqs, {r["candidate_id"] for r in _rows(paths, "trials")}


def _dead_then_resumed(
    method: str, root: Path, k: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Dying, list[str], RunPaths, RunSummary]:
    work = root / "work"
    monkeypatch.setenv(TEST_EVALUATOR_ENV, str(work))
    dying = Dying(RESPONDERS[method](), k)
    srv = ScriptedOpenAIServer(responder=dying)
    dying.srv = srv
    srv.start()
    port = int(srv.base_url.rsplit(":", 1)[1].split("/")[0])
    cfg, paths = _run(method, root, srv.base_url)
    stopped = _start(cfg, paths)
    assert stopped.reason.startswith("llm_unreachable:"), stopped.reason
    assert not stopped.finished
    assert "did not answer" in stopped.reason and srv.base_url in stopped.reason
    assert f"archlab resume {paths.run_id}" in stopped.reason
    assert "scripts/llm-up.sh" in stopped.reason
    failed = [r for r in _rows(paths, "llm_calls") if r["status"] == "connection"]
    assert len(failed) == STOP_AFTER  # no call after the stop
    # no design was recorded for a transport failure; every trial row is a trained
    # candidate or a design decided from a real answer
    trials = _rows(paths, "trials")
    assert not [r for r in trials if "onnection" in str(r["error"] or "")]
    assert not [r for r in trials if "(no block produced)" in str(r.get("error") or "")]
    trained = {c for c, n in _starts(work).items() if n}
    decided = {r["candidate_id"] for r in trials if r["evaluator"] == "nader:pre-decided"}
    assert {r["candidate_id"] for r in trials} == trained | decided
    assert {r["candidate_id"] for r in _rows(paths, "candidates")} >= trained
    # the server is back (same port): resume
    with ScriptedOpenAIServer(responder=RESPONDERS[method](), port=port) as again:
        done = _start(cfg, paths)
        second = [_key(r) for r in again.requests if r["path"].endswith("/chat/completions")]
    assert done.reason == "done", done.reason
    starts = _starts(work)
    assert starts and max(starts.values()) == 1, "a candidate was trained twice"
    return dying, second, paths, done


def test_nader_stops_when_the_server_dies_and_resumes_without_asking_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, ref_trials = _reference("nader", tmp_path / "a", monkeypatch)
    # the server dies at the 3rd step's Proposer call: every later call of that step fails
    proposer = [i for i, r in enumerate(ref) if "Task: proposer" in r]
    assert len(proposer) >= 3
    k = proposer[2]
    dying, second, paths, _ = _dead_then_resumed("nader", tmp_path / "b", k, monkeypatch)
    assert dying.answered == ref[:k]
    # no answered request was sent again: the two servers together got the requests of the
    # uninterrupted run, once each
    assert Counter(dying.answered) + Counter(second) == Counter(ref)
    assert {r["candidate_id"] for r in _rows(paths, "trials")} == ref_trials
    assert not [r for r in _rows(paths, "trials") if "onnection" in str(r["error"] or "")]


def test_llmatic_falls_back_then_stops_after_consecutive_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, _ = _reference("llmatic", tmp_path / "a", monkeypatch)
    k = len(ref) // 2
    dying, second, paths, _ = _dead_then_resumed("llmatic", tmp_path / "b", k, monkeypatch)
    assert dying.answered == ref[:k]
    # each failed call before the stop fell back to the rule operator, recorded as before
    failed = [r for r in _rows(paths, "llm_calls") if r["status"] == "connection"]
    # (the call that made the count was in the ask the stop cut short: made again, answered)
    assert len(failed) == STOP_AFTER - 1
    fell_back = [c for c in _rows(paths, "candidates") if c["origin_agent"].endswith("(fallback)")]
    assert len(fell_back) >= STOP_AFTER - 1
    assert not Counter(dying.answered) & Counter(second), "an answered request was sent again"


def test_lapt_keeps_its_principles_then_stops_and_resumes_without_asking_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, _ = _reference("lapt", tmp_path / "a", monkeypatch)
    assert len(ref) >= STOP_AFTER + 1, ref  # the first principles and the adaptations
    k = 1  # the server dies after the first principles were learned
    dying, second, paths, _ = _dead_then_resumed("lapt", tmp_path / "b", k, monkeypatch)
    assert dying.answered == ref[:k]
    assert not Counter(dying.answered) & Counter(second), "an answered request was sent again"
    # the failed adaptations before the stop kept the principles (recorded on the call rows)
    failed = [r for r in _rows(paths, "llm_calls") if r["status"] == "connection"]
    assert {r["agent"] for r in failed} <= {"lapt-update", "lapt-widen", "lapt"}, failed
    assert not [r for r in _rows(paths, "trials") if "onnection" in str(r["error"] or "")]
