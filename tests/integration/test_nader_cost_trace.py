"""NADER against the scripted OpenAI-compatible server (live HTTP, the real ``openai``
client): every request is one ``llm_calls`` row naming the candidate it served, retries
included; the trials carry the tokens of the steps that made them; Modifier prompts hold
no repeated tip; fallbacks are recorded on the call row and the candidate; the tree events
say DFS or BFS and how the ranking went; the per-architecture cost query adds up.

Why the scripted stand-in server: it injects a 429 and a non-ranking answer at a chosen
request and counts the requests it received (one llm_calls row each)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb

from analysis import queries
from nas.agents.tree import TREE_EVENT
from nas.llm import LLMClient
from tests.support.nader_scenario import run_scenario
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

RUN = "nader-test"


def _tips(prompt: str, section: str) -> list[str]:
    m = re.search(rf"###{section}###\n[^\n]*\n(.*?)(?:\n\n|\Z)", prompt, re.S)
    assert m, section
    return [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("- ") and "(none" not in ln]


def _run(tmp_path: Path, script: list[Reply], budget: int = 8) -> tuple[Any, Any, list[Any]]:
    with ScriptedOpenAIServer(script, responder=ScriptedDesignerLLM()) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        temperature=0.0, seed=0, max_retries=2)  # fmt: skip
        llm.sleep = lambda s: None  # no real backoff waits in a test
        _summary, strategy, store = run_scenario(tmp_path, llm, budget=budget)
        requests = list(srv.requests)
    return store, strategy, requests


def test_cost_trace_tips_fallbacks_and_tree_events(tmp_path: Path) -> None:
    # the first request (the Proposer's ranking of the root) meets a 429, then an answer
    # that is no ranking: retried, then replaced by a random pick -- both recorded
    store, _strategy, requests = _run(
        tmp_path, [Reply.rate_limited("0.01"), Reply.text("These ideas all look useful.")]
    )
    # rows are keyed by their deterministic call ids (files read in key order): the order of
    # the requests is the rows' creation order
    calls = sorted(store.read("llm_calls", RUN).to_pylist(), key=lambda c: c["created_at"])
    # every HTTP request the server received is exactly one row
    assert len(calls) == len(requests)
    tasks = [re.search(r"^Task: (\w+)", str(r["messages"][-1]["content"]), re.M) for r in requests]
    n_mod = sum(1 for t in tasks if t and t.group(1).startswith("modifier"))
    assert n_mod == sum(1 for c in calls if c["agent"] == "modifier") > 0
    # ... and names the candidate it served (the step's candidate, INVALID/DUPLICATE included)
    assert all(c["candidate_id"] and c["step"] for c in calls), [
        c for c in calls if not c["candidate_id"]
    ]
    first = calls[0]
    assert (first["status"], first["attempt"], first["retried"]) == ("rate_limit", 1, True)
    assert calls[1]["attempt"] == 2 and calls[1]["fallback"].startswith("random inspiration")
    # the candidate made in that step says so too
    cands = {c["candidate_id"]: c for c in store.read("candidates", RUN).to_pylist()}
    assert cands[calls[1]["candidate_id"]]["origin_fallback"].startswith("random (rank failed")
    # trials carry the tokens of the steps that made them (a result's research reflection
    # runs at the start of the next step): the sums are equal
    trials = store.read("trials", RUN).to_pylist()
    trial_tokens = sum(t["llm_tokens_in"] + t["llm_tokens_out"] for t in trials)
    assert trial_tokens == sum(c["tokens_in"] + c["tokens_out"] for c in calls) > 0
    assert trial_tokens == sum(t["llm_tokens_in"] for t in trials) + sum(
        t["llm_tokens_out"] for t in trials
    )
    assert any(c["agent"] == "reflector" and c["prompt_id"].startswith("reflector_degrade")
               for c in calls)  # fmt: skip
    # a Modifier prompt never holds the same tip twice (the scripted Reflector repeats itself)
    seen_tips = 0
    for r in requests:
        content = str(r["messages"][-1]["content"])
        if content.startswith("Task: modifier\n"):
            for section in ("Correctness experience", "Performance experience"):
                tips = _tips(content, section)
                seen_tips += len(tips)
                assert len(tips) == len({" ".join(t.lower().split()) for t in tips}), tips
    assert seen_tips > 0
    # the tree events say how each parent was picked and how the ranking went
    events = [json.loads(e["payload"]) for e in store.read("events", RUN).to_pylist()
              if e["kind"] == TREE_EVENT]  # fmt: skip
    kids = [p for p in events if p["parent_id"]]
    assert kids and {p["how"] for p in kids} <= {"dfs", "bfs"}
    assert {p["ranking"].split(" ")[0] for p in kids} <= {"llm", "random"}
    assert any(p["ranking"].startswith("random (rank failed") for p in kids)
    # the per-architecture cost query: per trained candidate and the run's average
    con = duckdb.connect()
    for table in ("candidates", "trials", "llm_calls", "epochs", "events", "experiences"):
        t = store.read(table, RUN)
        con.register(f"_{table}", t)
        con.execute(f"CREATE VIEW {table} AS SELECT *, '{RUN}' AS run_id FROM _{table}")
    queries.install_views(con)
    rows = queries.fetch(con, "llm_cost_per_architecture")
    assert rows and rows[0]["architectures"] == len(rows)
    assert rows[0]["run_tokens"] == sum(c["tokens_in"] + c["tokens_out"] for c in calls)
    assert rows[0]["unattributed_requests"] == 0
    assert abs(rows[0]["tokens_per_architecture"] - rows[0]["run_tokens"] / len(rows)) < 0.1
    assert sum(r["trial_tokens"] for r in rows) == sum(
        r["tokens_in"] + r["tokens_out"] for r in rows
    )
