"""The run's LLM call memo through the real client and the test server: a call the run
already made is answered from the memo (no request, no new row, no budget charge), ids are
deterministic per (request, occurrence), failures are remembered too, a torn line is
ignored.

Why the scripted stand-in server: the test counts the requests the server received across
restarts and injects failures (what a restart must not send again), not what a model answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nas.llm.client import LLMClient, LLMError
from nas.llm.memo import CallMemo
from nas.llm.testing_server import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.integration

MSG = [{"role": "user", "content": "Task: test\nsay hi"}]


def _client(srv: ScriptedOpenAIServer, memo: Path, rows: list[dict[str, Any]]) -> LLMClient:
    c = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test", max_retries=0,
                  sink=rows.extend)  # fmt: skip
    c.memo = CallMemo(memo)
    return c


def test_a_restarted_run_asks_nothing_twice(tmp_path: Path) -> None:
    memo = tmp_path / "llm_memo.jsonl"
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer(responder=lambda req: f"answer {len(req['messages'])}") as srv:
        first = _client(srv, memo, rows)
        a = first.chat(MSG, agent="t")
        b = first.chat(MSG, agent="t")  # the same request again: a second occurrence
        assert len(srv.requests) == 2 and a.call_id != b.call_id and len(rows) == 2
        again_rows: list[dict[str, Any]] = []
        again = _client(srv, memo, again_rows)  # a restarted process
        a2, b2 = again.chat(MSG, agent="t"), again.chat(MSG, agent="t")
        assert len(srv.requests) == 2 and again_rows == []
        assert (a2.call_id, a2.text, b2.call_id) == (a.call_id, a.text, b.call_id)
        assert again.usage.calls == 0  # not charged again (the stored rows were)
        c3 = again.chat(MSG, agent="t")  # a third occurrence is new: it goes out
        assert len(srv.requests) == 3 and c3.call_id not in (a.call_id, b.call_id)


def test_failures_are_remembered_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    memo = tmp_path / "llm_memo.jsonl"
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer([Reply(status=400, raw_body='{"error": {"message": "bad"}}')]) as srv:
        with pytest.raises(LLMError):
            _client(srv, memo, rows).chat(MSG, agent="t")
        with memo.open("a") as fh:
            fh.write('{"key": "x", "n": 0, "resp')  # a kill while writing
        with pytest.raises(LLMError, match="restored"):
            _client(srv, memo, rows).chat(MSG, agent="t")
        assert len(srv.requests) == 1


def test_a_redone_step_gets_its_own_answers_whatever_the_process(tmp_path: Path) -> None:
    """Occurrences count per controller step (memo_scope), not per process: a step made
    again after a kill gets that step's answers, and a later step's identical request is new."""
    from nas.llm.memo import memo_scope

    memo = tmp_path / "llm_memo.jsonl"
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer(responder=lambda req: "answer") as srv:
        first = _client(srv, memo, rows)
        with memo_scope("op0"):
            a = first.chat(MSG, agent="t")
        with memo_scope("op1"):
            b = first.chat(MSG, agent="t")  # killed before op1 was journaled
        again = _client(srv, memo, [])
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
    memo = tmp_path / "llm_memo.jsonl"
    rows: list[dict[str, Any]] = []
    script = [Reply.rate_limited("0.01"), Reply.text("hi")]
    with ScriptedOpenAIServer(script, responder=lambda req: "hi") as srv:
        first = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test",
                          max_retries=2, sink=rows.extend)  # fmt: skip
        first.sleep = lambda s: None
        first.memo = CallMemo(memo)
        with first.scope("step-1") as att:
            reply = first.chat(MSG, agent="t")
            att.candidate_id = "cand-1"
        assert len(srv.requests) == 2
        assert [r["call_id"] for r in rows] == [f"{reply.call_id}-a1", reply.call_id]
        assert [(r["attempt"], r["retried"], r["step"]) for r in rows] == [
            (1, True, "step-1"), (2, False, "step-1")
        ]  # fmt: skip
        again_rows: list[dict[str, Any]] = []
        again = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test",
                          max_retries=2, sink=again_rows.extend)  # fmt: skip
        again.memo = CallMemo(memo)
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
