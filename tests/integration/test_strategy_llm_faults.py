"""Faults in LAPT's LLM principle learner and LLMatic's LLM operators, injected by the scripted
OpenAI-compatible stand-in server (``tests.support.scripted_openai_server``) through the real ``openai``
client: an update naming an op NAS-Bench-201 does not have (a real GPT failure mode:
DARTS-space names), prose instead of a cell, HTTP 500s retried then failed, the LLM budget
running out, a malformed update inside a controller run, and the wiring of the client into
a LAPT built from a config (what the endpoint received). Each fault is a recorded
fallback, never a crash; every request is an ``llm_calls`` row with agent and prompt id.
What the real local model answers is replayed in ``test_bench_llm_replay.py``
(``bench/results/real_llm_*cassette.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.build import build_strategy
from launcher.config import load_config
from nas.llm import LLMBudget, LLMClient
from nas.records import TrialRecord, TrialState
from nas.spaces import NB201Space
from nas.spaces.nb201 import from_ops, to_ops
from nas.strategies.lapt import LAPT
from nas.strategies.llm import LLMCompletion
from nas.strategies.llmatic import LLMatic
from nas.strategies.operators import LLMOperators
from nas.strategies.principles import LLMPrincipleLearner, SourceTask
from tests.conftest import shared_path
from tests.integration.test_lapt_llmatic_run import _events, _launch
from tests.support.scripted_openai_server import Reply, ScriptedOpenAIServer

SPACE = NB201Space()
NAMES = [p.name for p in SPACE.positions]


def _client(srv: ScriptedOpenAIServer, rows: list[dict[str, Any]], **kw: Any) -> LLMClient:
    kw.setdefault("max_retries", 1)
    return LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test", timeout_s=5,
                     sink=rows.extend, **kw)  # fmt: skip


def _user(req: dict[str, Any]) -> str:
    return str(req["messages"][-1]["content"])


def _task(req: dict[str, Any]) -> str:
    m = re.search(r"^Task: (\w+)", _user(req), re.M)
    return m.group(1) if m else ""


def _source() -> SourceTask:
    rng = np.random.default_rng(3)
    archs = tuple(SPACE.sample(rng) for _ in range(200))
    return SourceTask(
        "imagenet16", archs, tuple(to_ops(a).count("nor_conv_3x3") / 6 for a in archs)
    )


LEARN = """Looking at the 10 best cells, a few regularities stand out.

**PATTERNS:**
- Almost every top cell uses nor_conv_3x3 on the edges leaving the input node (edge 1<-0, edge 2<-0, edge 3<-0).
- Pooling and zero edges are rare on the main path.

**PRINCIPLES:**
1. Prefer 3x3 convolutions on edges that feed deeper nodes.
2. Keep 1x1 convolutions as a cheaper alternative on intermediate edges.
3. Avoid avg_pool_3x3 on the main path.

**CANDIDATES:**
```json
{
  "edge 1<-0": ["nor_conv_3x3", "nor_conv_1x1"],
  "edge 2<-0": ["nor_conv_3x3"],
  "edge 2<-1": ["nor_conv_3x3", "nor_conv_1x1"],
  "edge 3<-0": ["nor_conv_3x3", "skip_connect"],
  "edge 3<-1": ["nor_conv_3x3", "nor_conv_1x1"],
  "edge 3<-2": ["nor_conv_3x3", "skip_connect"]
}
```"""

# an op that is not in NAS-Bench-201 (a real GPT failure mode: DARTS-space names)
UPDATE_BAD = LEARN.replace('"edge 2<-1": ["nor_conv_3x3", "nor_conv_1x1"]',
                           '"edge 2<-1": ["sep_conv_3x3"]')  # fmt: skip

WIDEN = """PATTERNS: skip connections on the last node could ease optimisation.
PRINCIPLES: Keep the 3x3 convolutions. Allow identity shortcuts into the output node.
CANDIDATES:
```json
{"edge 1<-0": ["nor_conv_3x3", "nor_conv_1x1"], "edge 2<-0": ["nor_conv_3x3", "nor_conv_1x1"],
 "edge 2<-1": ["nor_conv_3x3", "nor_conv_1x1"], "edge 3<-0": ["nor_conv_3x3", "skip_connect"],
 "edge 3<-1": ["nor_conv_3x3", "skip_connect", "nor_conv_1x1"],
 "edge 3<-2": ["nor_conv_3x3", "skip_connect", "nor_conv_1x1"]}
```"""


def _lapt_responder(req: dict[str, Any]) -> str:
    task = _task(req)
    if task == "lapt_principles":
        return LEARN
    if task == "lapt_update":
        return UPDATE_BAD
    if task == "lapt_widen":
        return WIDEN
    return "I cannot help with that."


def _tell(s: Any, n: int, score: Any) -> None:
    for _ in range(n):
        got = s.ask(1)
        if not got:
            return
        [c] = got
        s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": score(c.arch)}))])


def test_lapt_llm_learner_through_the_real_client() -> None:
    rows: list[dict[str, Any]] = []
    with ScriptedOpenAIServer(responder=_lapt_responder) as srv:
        learner = LLMPrincipleLearner(LLMCompletion(_client(srv, rows), "lapt"), temperature=0.2,
                                      evidence_floor=False)  # the answers as given  # fmt: skip
        s = LAPT(source=_source(), learner=learner, top_k=10, adapt_every=4, rng=0)
        assert s.principles.learner == "llm-principle-learner"
        assert s.principles.allowed[1] == {"nor_conv_3x3"} and s.principles.size() == 32
        _tell(s, 4, lambda a: 0.6)  # update -> malformed answer -> statistical fallback
        _tell(s, 4, lambda a: 0.1)  # no improvement -> widen (valid answer)
        reqs = list(srv.requests)
    assert [_task(r) for r in reqs] == ["lapt_principles", "lapt_update", "lapt_widen"]
    assert {(r["temperature"], r["messages"][0]["role"]) for r in reqs} == {(0.2, "system")}
    assert _user(reqs[0]).count("# source score") == 10 and "self.layer5(x2)" in _user(reqs[0])
    assert [(r["agent"], r["prompt_id"], r["status"]) for r in rows] == [
        ("lapt", "lapt_principles@2", "ok"),
        ("lapt", "lapt_update@2", "ok"),
        ("lapt", "lapt_widen@2", "ok"),
    ]
    assert all(r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in rows)
    # the malformed update is recorded, with the precise reason, and the fallback was used
    [failure] = learner.failures
    assert "'edge 2<-1': 'sep_conv_3x3' is not a choice" in failure
    assert "fell back to statistical-principle-learner" in failure
    events = [e for _, e in s.pop_events()]
    assert [(e["iteration"], e["source"], e["learner"]) for e in events] == [
        (0, "imagenet16", "llm-principle-learner"),
        (4, "updated", "statistical-principle-learner"),
        (8, "widened", "llm-principle-learner"),
    ]
    assert events[0]["principles"] == [
        "Prefer 3x3 convolutions on edges that feed deeper nodes.",
        "Keep 1x1 convolutions as a cheaper alternative on intermediate edges.",
        "Avoid avg_pool_3x3 on the main path.",
    ]
    assert "sep_conv_3x3" in events[1]["note"]
    assert events[2]["principles"][-1] == "Allow identity shortcuts into the output node."
    agents = {c.origin.agent.split(":")[0] for c, _ in s.history}
    assert agents <= {"llm-principle-learner", "statistical-principle-learner"}


def _network_reply(rng: np.random.Generator, req: dict[str, Any]) -> str:
    if _task(req) not in ("llmatic_mutate", "llmatic_crossover"):
        return "?"
    arch = SPACE.sample(rng)
    lines = "\n".join(SPACE.describe(arch).splitlines())
    return f"Here is the modified cell. I replaced one pooling edge:\n```\n{lines}\n```"


def test_llmatic_llm_operators_through_the_real_client() -> None:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(11)
    script = [
        Reply.text("I would replace the average pooling with a 3x3 convolution.", "prose"),
        Reply.server_error(500), Reply.server_error(500),  # one call, retried once, fails
    ]  # fmt: skip
    with ScriptedOpenAIServer(script, responder=lambda r: _network_reply(rng, r)) as srv:
        ops = LLMOperators(LLMCompletion(_client(srv, rows), "llmatic"))
        s = LLMatic(operators=ops, rng=np.random.default_rng(0), niches=10, init_size=3,
                    mutation_prob=0.5, archive_every=4)  # fmt: skip
        _tell(s, 12, lambda a: 0.5 + 0.05 * to_ops(a).count("nor_conv_3x3"))
        reqs = list(srv.requests)
    assert len(s.history) == 12
    assert {_task(r) for r in reqs} <= {"llmatic_mutate", "llmatic_crossover"}
    assert {r["agent"] for r in rows} == {"llmatic"}
    assert {r["prompt_id"] for r in rows} <= {"llmatic_mutate@2", "llmatic_crossover@2"}
    statuses = [r["status"] for r in rows]
    # every HTTP request is a row: the retried 500 (attempt 1) and the final one (attempt 2)
    assert statuses[:3] == ["ok", "server_error", "server_error"]
    assert statuses.count("ok") == len(rows) - 2
    assert [(r["attempt"], r["retried"]) for r in rows[1:3]] == [(1, True), (2, False)]
    # prose and the failed call were recorded and replaced by the rule-based operator
    assert "lacks lines for edge 1<-0" in s.operator_failures[0]
    assert "LLM call failed" in s.operator_failures[1]
    agents = [c.origin.agent for c, _ in s.history[3:]]
    assert sum(a.endswith("(fallback)") for a in agents) == 2
    assert any(a.startswith("llm-operators:") for a in agents)
    # the temperature sent is the prompt individual's (mutated), not a constant
    temps = {float(c.origin.prompt.split("@T")[1]) for c, _ in s.history[3:]}
    sent = {round(float(r["temperature"]), 4) for r in reqs}
    assert sent <= temps | {0.7} and len(sent) > 1
    archive = [
        e for k, e in s.pop_events(final=True) if k == "archive" and e["archive"] == "network"
    ]
    assert [e["iteration"] for e in archive] == [4, 8, 12]


def test_llmatic_stops_when_the_llm_budget_is_spent() -> None:
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(2)
    with ScriptedOpenAIServer(responder=lambda r: _network_reply(rng, r)) as srv:
        client = _client(srv, rows, budget=LLMBudget(max_tokens=600))
        s = LLMatic(operators=LLMOperators(LLMCompletion(client, "llmatic")),
                    rng=np.random.default_rng(0), niches=10, init_size=2)  # fmt: skip
        _tell(s, 50, lambda a: 0.5)
    assert s.stopped and 2 < len(s.history) < 50
    assert "LLM budget spent" in s.operator_failures[-1]
    assert client.usage.tokens >= 600 and len(rows) == len(s.history) - 2


def test_build_strategy_wires_the_client_into_lapt_with_store_accounting(tmp_path: Any) -> None:
    table = shared_path("data", "nb201.parquet")
    from store.open import open_store

    store = open_store(str(tmp_path / "tables"))
    with ScriptedOpenAIServer(responder=_lapt_responder) as srv:
        cfg = load_config(overrides=[
            "strategy.name=lapt", "strategy.lapt.learner=llm", "strategy.lapt.top_k=5",
            "strategy.lapt.source_dataset=imagenet16", f"space.table={table}",
            "train.evaluator=table", "train.dataset=cifar100",
            f"llm.base_url={srv.base_url}", "llm.max_retries=0",
        ])  # fmt: skip
        s = build_strategy(cfg, store, "run-1")
    assert s.principles.learner == "llm-principle-learner" and s.source_name == "imagenet16"
    [row] = store.read("llm_calls", "run-1").to_pylist()
    assert (row["agent"], row["prompt_id"], row["status"]) == ("lapt", "lapt_principles@2", "ok")
    assert row["model"] and row["tokens_in"] > 0
    prompt = json.dumps(srv.requests[0]["messages"])
    assert prompt.count("# source score") == 5
    with pytest.raises(Exception, match="must not learn its principles"):
        build_strategy(load_config(overrides=[
            "strategy.name=lapt", f"space.table={table}", "train.dataset=imagenet16",
        ]))  # fmt: skip
    src_only = build_strategy(load_config(overrides=[
        "strategy.name=lapt", f"strategy.lapt.source_table={table}", "train.dataset=cifar10",
        "strategy.lapt.source_dataset=cifar100",
    ]))  # fmt: skip
    assert src_only.source_name == "cifar100" and src_only.principles.size() < SPACE.size
    assert from_ops(["none"] * 6)  # the space's text form is what the prompts show


@pytest.mark.parametrize("floor", [True, False])
def test_lapt_evidence_floor_and_llm_structured_reach_the_learner_from_the_config(
    floor: bool,
) -> None:
    """strategy.lapt.evidence_floor (LaptConfig) and llm.structured (LLMConfig) go through
    the composition root to the LLM learner and its client."""
    table = shared_path("data", "nb201.parquet")
    with ScriptedOpenAIServer(responder=_lapt_responder) as srv:
        cfg = load_config(overrides=[
            "strategy.name=lapt", "strategy.lapt.learner=llm", "strategy.lapt.top_k=5",
            f"strategy.lapt.evidence_floor={str(floor).lower()}", f"space.table={table}",
            "train.evaluator=table", "train.dataset=cifar100", "llm.structured=off",
            f"llm.base_url={srv.base_url}", "llm.max_retries=0",
        ], check=True)  # fmt: skip
        s = build_strategy(cfg)
    assert cfg.strategy.lapt.evidence_floor is floor and cfg.llm.structured == "off"
    learner = s.learner
    assert isinstance(learner, LLMPrincipleLearner) and learner.evidence_floor is floor
    assert isinstance(learner.complete, LLMCompletion)
    assert learner.complete.client.structured.setting == "off"
    assert "grammar" not in srv.requests[0] and "response_format" not in srv.requests[0]


def test_a_malformed_update_in_a_lapt_run_is_recorded_and_every_call_accounted(
    tmp_path: Path,
) -> None:
    def reply(req: dict[str, Any]) -> str:
        return {"lapt_principles": LEARN, "lapt_update": UPDATE_BAD, "lapt_widen": WIDEN}.get(
            _task(req), "?"
        )

    table = shared_path("data", "nb201.parquet")
    with ScriptedOpenAIServer(responder=reply) as srv:
        run_dir = _launch("lapt_nb201.yaml", tmp_path / "runs", f"strategy.lapt.source_table={table}",
                          "strategy.lapt.learner=llm", f"llm.base_url={srv.base_url}",
                          "llm.max_retries=0")  # fmt: skip
    from store.open import open_store

    store = open_store(str(run_dir / "tables"))
    calls = sorted(store.read("llm_calls", run_dir.name).to_pylist(), key=lambda r: r["created_at"])
    assert calls[0]["prompt_id"] == "lapt_principles@2" and len(calls) == 4
    assert {r["agent"] for r in calls} == {"lapt"} and {r["status"] for r in calls} == {"ok"}
    events = _events(run_dir, "principles")
    assert events[0]["learner"] == "llm-principle-learner"
    assert any("sep_conv_3x3" in e["note"] for e in events)  # the malformed update, recorded
