"""Faults at the endpoint, injected by the scripted OpenAI-compatible stand-in server (429 with
Retry-After, 500s, timeouts, a full concurrency slot, the budget, record/replay, embeddings)
through the real openai client: each is a record with the right status, never a crash."""

from __future__ import annotations

import threading
import time

import pytest

from nas.llm import BudgetExceeded, Cassette, CassetteMiss, LLMBudget, LLMClient, LLMError
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

MSG = [{"role": "user", "content": "Modify the block, please."}]


def client(srv: ScriptedOpenAIServer, rows: list, **kw) -> LLMClient:
    kw.setdefault("timeout_s", 0.5)
    kw.setdefault("max_retries", 2)
    return LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test", sink=rows.extend,
                     **kw)  # fmt: skip


def test_failures_are_records_and_accounting_matches_server() -> None:
    script = [
        Reply.rate_limited("0.05"), Reply.text("after 429"),
        Reply.server_error(500), Reply.text("after 500"),
        Reply.slow(1.0, "too late"), Reply.text("after timeout"),
        Reply.text("I would add attention here."),  # prose instead of a block
        Reply.text("```\n##b##\n0:input\n2:Re LU\n```"),  # malformed block
        Reply.empty(),
        Reply.wrong_format(),
        Reply.server_error(500), Reply.server_error(500), Reply.server_error(500),
        Reply.bad_request(),
    ]  # fmt: skip
    rows: list = []
    with ScriptedOpenAIServer(script) as srv:
        llm = client(srv, rows, temperature=0.3, seed=11)
        texts, errors = [], []
        for _ in range(9):
            try:
                texts.append(llm.chat(MSG, agent="modifier", prompt_id="modifier@1").text)
            except LLMError as e:
                errors.append(e.kind)
        assert texts[:3] == ["after 429", "after 500", "after timeout"]
        assert "" in texts  # the empty reply is returned and recorded as status 'empty'
        assert errors == ["bad_response", "server_error", "bad_request"]
        # every request carried the sampling parameters
        assert {(r["temperature"], r["seed"]) for r in srv.requests} == {(0.3, 11)}
        # the client's accounting equals what the server reported in the replies it got;
        # the reply that came after the client's timeout was counted (billed) by the server
        # once its handler woke up (wait for it: on a busy machine it may still be asleep)
        deadline = time.monotonic() + 30
        while "slow" not in srv.state.tokens_by_label and time.monotonic() < deadline:
            time.sleep(0.05)
        late_in, late_out = srv.state.tokens_by_label["slow"]
        assert late_in > 0
        assert llm.usage.tokens_in == srv.prompt_tokens - late_in
        assert llm.usage.tokens_out == srv.completion_tokens - late_out
        assert sum(r["tokens_in"] for r in rows) == llm.usage.tokens_in
        assert sum(r["tokens_out"] for r in rows) == llm.usage.tokens_out
    statuses = [r["status"] for r in rows]
    assert statuses.count("ok") == 5 and "empty" in statuses
    assert {"bad_response", "server_error", "bad_request"} <= set(statuses)
    assert all(r["error"] for r in rows if r["status"] != "ok")


def test_concurrency_cap_is_enforced() -> None:
    rows: list = []
    with ScriptedOpenAIServer([Reply.slow(0.15, "x")] * 8) as srv:
        llm = client(srv, rows, max_concurrency=2, timeout_s=5)
        ts = [threading.Thread(target=llm.chat, args=(MSG,)) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert srv.state.max_in_flight <= 2
        assert llm.max_in_flight_seen == 2


def test_budget_stops_before_the_call() -> None:
    rows: list = []
    with ScriptedOpenAIServer(responder=lambda req: "a b c d e f g h") as srv:
        llm = client(srv, rows, budget=LLMBudget(max_tokens=30))
        n = 0
        with pytest.raises(BudgetExceeded, match="budget"):
            for _ in range(100):
                llm.chat(MSG)
                n += 1
        assert len(srv.requests) == n and 2 <= n < 10
        assert llm.usage.tokens >= 30


def test_record_then_replay(tmp_path) -> None:
    path = tmp_path / "c.json"
    rows: list = []
    with ScriptedOpenAIServer([Reply.text("one"), Reply.text("two")]) as srv:
        rec = client(srv, rows, mode="record", cassette=path)
        a = rec.chat(MSG, temperature=0.0)
        b = rec.chat(MSG, temperature=0.5)
    replay = LLMClient("gpt-4o-mini", mode="replay", cassette=path, sink=rows.extend)
    assert replay.chat(MSG, temperature=0.0).text == a.text == "one"
    r2 = replay.chat(MSG, temperature=0.5)
    assert r2.text == b.text == "two" and r2.cache_hit and r2.tokens_in == b.tokens_in
    with pytest.raises(CassetteMiss, match="replay miss"):
        replay.chat(MSG, temperature=0.9)  # a changed sampling parameter is another key
    assert rows[-1]["status"] == "cassette_miss"
    assert len(Cassette(path)) == 2


def test_embeddings_through_the_server() -> None:
    rows: list = []
    with ScriptedOpenAIServer() as srv:
        llm = client(srv, rows)
        vecs = llm.embed(["residual path", "channel attention"])
        assert len(vecs) == 2 and len(vecs[0]) == 16
        assert llm.usage.tokens_in == srv.prompt_tokens
