"""The run's LLM call memo through the real client and the test server: a call the run
already made is answered from the store's ``llm_calls`` (the answer kept on its row: no
request, no new row, no budget charge), ids are deterministic per (request, occurrence),
failures are remembered too, and an old run's ``llm_memo.jsonl`` is moved into the store
once (a torn line ignored).

Why the scripted stand-in server: the test counts the requests the server received across
restarts and injects failures (what a restart must not send again), not what a model answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas.llm.client import LLMClient, LLMError
from nas.llm.config import LLMConfig
from nas.llm.memo import LEGACY_MEMO_FILE, CallMemo, import_memo_file
from nas.llm.run_client import budget_from_store
from store.result_store import LocalResultStore
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.integration

MSG = [{"role": "user", "content": "Task: test\nsay hi"}]


def _client(srv: ScriptedOpenAIServer, store: LocalResultStore, rows: list[dict[str, Any]],
            max_retries: int = 0) -> LLMClient:  # fmt: skip
    c = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test",
                  max_retries=max_retries, sink=rows.extend)  # fmt: skip
    c.memo = CallMemo(store, "r1")
    return c


def test_a_restarted_run_asks_nothing_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalResultStore(tmp_path / "tables")
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer(responder=lambda req: f"answer {len(req['messages'])}") as srv:
        first = _client(srv, store, rows)
        a = first.chat(MSG, agent="t")
        b = first.chat(MSG, agent="t")  # the same request again: a second occurrence
        assert len(srv.requests) == 2 and a.call_id != b.call_id and len(rows) == 2
        stored = store.read("llm_calls", "r1").to_pylist()
        assert len(stored) == 2 and all(r["answer"] and r["memo_key"] for r in stored)
        again_rows: list[dict[str, Any]] = []
        again = _client(srv, store, again_rows)  # a restarted process: reopens the store
        with caplog.at_level("INFO", logger="nas.llm.client"):
            a2, b2 = again.chat(MSG, agent="t"), again.chat(MSG, agent="t")
        assert len(srv.requests) == 2 and again_rows == []
        assert (a2.call_id, a2.text, b2.call_id) == (a.call_id, a.text, b.call_id)
        assert again.usage.calls == 0  # not charged again (the stored rows were)
        said = [r.getMessage() for r in caplog.records]
        assert sum("answered from the run's store" in m for m in said) == 2, said
        c3 = again.chat(MSG, agent="t")  # a third occurrence is new: it goes out
        assert len(srv.requests) == 3 and c3.call_id not in (a.call_id, b.call_id)
        assert store.read("llm_calls", "r1").num_rows == 3


def test_failures_are_remembered(tmp_path: Path) -> None:
    store = LocalResultStore(tmp_path / "tables")
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer([Reply(status=400, raw_body='{"error": {"message": "bad"}}')]) as srv:
        with pytest.raises(LLMError):
            _client(srv, store, rows).chat(MSG, agent="t")
        with pytest.raises(LLMError, match="restored"):
            _client(srv, store, rows).chat(MSG, agent="t")
        assert len(srv.requests) == 1


def test_an_old_runs_memo_file_moves_into_the_store_once(tmp_path: Path) -> None:
    """A run from before schema v5 kept its answers in RUN/llm_memo.jsonl: its first restart
    moves them onto the llm_calls rows (a torn last line skipped), so it asks nothing again;
    the budget read from the store counts each call once."""
    store = LocalResultStore(tmp_path / "tables")
    row = {"call_id": "c1", "agent": "t", "model": "gpt-4o-mini", "prompt_id": "", "tokens_in": 3,
           "tokens_out": 2, "cost_usd": 0.0, "latency_s": 0.1, "cache_hit": False,
           "status": "ok", "error": "", "candidate_id": None, "step": None, "attempt": 1,
           "retried": False, "fallback": None, "created_at": 1.0}  # fmt: skip
    store.append("llm_calls", "r1", [row], key="llm-c1")  # what the old run's sink wrote
    with ScriptedOpenAIServer(responder=lambda req: "live") as srv:
        probe = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test")
        key = probe._memo_key(_request_key(probe))
    body = {
        "choices": [{"message": {"content": "old answer"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        "model": "gpt-4o-mini",
    }
    (tmp_path / LEGACY_MEMO_FILE).write_text(
        json.dumps({"scope": "", "key": key, "n": 0, "response": body, "rows": [row]}) + "\n"
        + '{"key": "x", "n": 0, "resp'  # a kill while writing
    )  # fmt: skip
    assert import_memo_file(tmp_path, store, "r1") == 1
    assert not (tmp_path / LEGACY_MEMO_FILE).exists()
    assert import_memo_file(tmp_path, store, "r1") == 0  # once
    assert store.read("llm_calls", "r1").num_rows == 1  # the row gained its answer
    with ScriptedOpenAIServer(responder=lambda req: "live") as srv:
        reply = _client(srv, store, []).chat(MSG, agent="t")
        assert (reply.text, len(srv.requests)) == ("old answer", 0)
    assert budget_from_store(LLMConfig(), store, "r1").usage.calls == 1


def _request_key(c: LLMClient) -> str:
    from nas.llm.cassette import request_key

    params = {"temperature": c.temperature, "seed": c.seed, "max_tokens": c.max_tokens}
    return request_key("chat", c.model, MSG, {**params, "constraint": None})


def test_a_redone_step_gets_its_own_answers_whatever_the_process(tmp_path: Path) -> None:
    """Occurrences count per controller step (memo_scope), not per process: a step made
    again after a kill gets that step's answers, and a later step's identical request is new."""
    from nas.llm.memo import memo_scope

    store = LocalResultStore(tmp_path / "tables")
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer(responder=lambda req: "answer") as srv:
        first = _client(srv, store, rows)
        with memo_scope("op0"):
            a = first.chat(MSG, agent="t")
        with memo_scope("op1"):
            b = first.chat(MSG, agent="t")  # killed before op1 was journaled
        again = _client(srv, store, [])
        with memo_scope("op1"):  # op1 made again in a new process: op1's answer, no request
            b2 = again.chat(MSG, agent="t")
        with memo_scope("op2"):  # the next step's identical request goes out
            c = again.chat(MSG, agent="t")
        assert (b2.call_id, len(srv.requests)) == (b.call_id, 3)
        assert len({a.call_id, b.call_id, c.call_id}) == 3


def test_retried_attempts_have_derived_ids_and_a_step_made_again_rewrites_its_rows(
    tmp_path: Path,
) -> None:
    # a 429 then an answer: two rows, the attempt's id derived from the call's (memo) id; the
    # same step made again after a restart sends nothing and emits the same rows (same keys)
    store = LocalResultStore(tmp_path / "tables")
    rows: list[dict[str, Any]] = []
    script = [Reply.rate_limited("0.01"), Reply.text("hi")]
    with ScriptedOpenAIServer(script, responder=lambda req: "hi") as srv:
        first = _client(srv, store, rows, max_retries=2)
        first.sleep = lambda s: None
        with first.scope("step-1") as att:
            reply = first.chat(MSG, agent="t")
            att.candidate_id = "cand-1"
        assert len(srv.requests) == 2
        assert [r["call_id"] for r in rows] == [f"{reply.call_id}-a1", reply.call_id]
        assert [(r["attempt"], r["retried"], r["step"]) for r in rows] == [
            (1, True, "step-1"), (2, False, "step-1")
        ]  # fmt: skip
        again_rows: list[dict[str, Any]] = []
        again = _client(srv, store, again_rows, max_retries=2)
        with again.scope("step-1") as att2:
            assert again.chat(MSG, agent="t").call_id == reply.call_id
            att2.candidate_id = "cand-1"
        assert len(srv.requests) == 2  # nothing sent again
        strip = ("created_at", "latency_s")
        assert [{k: v for k, v in r.items() if k not in strip} for r in again_rows] == [
            {k: v for k, v in r.items() if k not in strip} for r in rows
        ]
        assert att2.tokens_in == att.tokens_in > 0  # the step's cost is the same
        with again.scope("step-2"):  # a later step sending the same request: a new call
            assert again.chat(MSG, agent="t").call_id != reply.call_id
        assert len(srv.requests) == 3
