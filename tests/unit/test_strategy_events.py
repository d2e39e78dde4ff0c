"""LAPT/LLMatic events (``pop_events``), prompt templates and parsers, the LLM adapter and
budget stops, and the strategy part of ``launcher/build.py``."""

from __future__ import annotations

import json
import pickle
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from launcher.build import build_strategy, strategy_llm
from launcher.config import ConfigError, load_config
from nas.llm import BudgetExceeded, LLMError
from nas.prompts import PromptParseError, load_prompt
from nas.prompts.strategy_parsers import (
    NetworkParseError,
    PrincipleParseError,
    parse_network_answer,
    parse_principles_answer,
    split_statements,
)
from nas.records import TrialRecord, TrialState
from nas.spaces import NB201Space
from nas.spaces.nb201 import from_ops, to_ops
from nas.strategies.base import EventSource
from nas.strategies.lapt import LAPT
from nas.strategies.llm import (
    CompletionBudgetExceeded,
    CompletionError,
    LLMCompletion,
    PromptText,
    render_prompt,
)
from nas.strategies.llmatic import LLMatic
from nas.strategies.operators import LLMOperators, RuleBasedOperators
from nas.strategies.principles import (
    LLMPrincipleLearner,
    SourceTask,
    StatisticalPrincipleLearner,
)

SPACE = NB201Space()
NAMES = [p.name for p in SPACE.positions]


def _source() -> SourceTask:
    rng = np.random.default_rng(3)
    good = []
    for _ in range(20):
        ops = list(to_ops(SPACE.sample(rng)))
        ops[0] = ops[2] = "nor_conv_3x3"
        good.append(from_ops(ops))
    archs = tuple(good) + tuple(SPACE.sample(rng) for _ in range(100))
    return SourceTask("imagenet16", archs, tuple([1.0] * 20 + [0.0] * 100))


def _score(arch: str) -> float:
    return 0.5 + 0.05 * to_ops(arch).count("nor_conv_3x3")


def _drive(s: Any, n: int) -> None:
    for _ in range(n):
        got = s.ask(1)
        if not got:
            return
        [c] = got
        s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": _score(c.arch)}))])


ANSWER = """**PATTERNS:**
- The best cells put 3x3 convolutions on the edges from the input node.
- Pooling rarely appears on the main path.

**PRINCIPLES:**
1. Use nor_conv_3x3 on edges leaving node 0.
2. Keep a cheap 1x1 alternative where the receptive field is already large.

**CANDIDATES:**
```json
%s
```
"""


def _answer(bad: dict[str, Any] | None = None) -> str:
    cand: dict[str, Any] = {n: ["nor_conv_3x3", "nor_conv_1x1"] for n in NAMES}
    cand.update(bad or {})
    return ANSWER % json.dumps(cand, indent=2)


# ----------------------------------------------------------------------------- events


def test_lapt_emits_a_principles_event_per_learning_and_adaptation() -> None:
    s = LAPT(source=_source(), top_k=20, adapt_every=5, rng=np.random.default_rng(0))
    assert isinstance(s, EventSource)
    [(kind, first)] = s.pop_events()
    assert kind == "principles" and first["iteration"] == 0 and first["source"] == "imagenet16"
    assert first["space_size"] == s.principles.size() < SPACE.size
    assert first["learner"] == "statistical-principle-learner"
    assert any(p.startswith("edge 1<-0: prefer nor_conv_3x3") for p in first["principles"])
    assert s.pop_events() == []
    _drive(s, 10)
    events = s.pop_events()
    assert [(k, e["iteration"], e["source"]) for k, e in events] == [
        ("principles", 5, "updated"),
        ("principles", 10, events[1][1]["source"]),
    ]
    assert events[1][1]["source"] in ("updated", "widened")
    assert all(isinstance(p, str) for _, e in events for p in e["principles"])
    json.dumps(events)  # plain JSON data
    # Origin.agent names the (offline) learner that defined the space
    agents = {c.origin.agent for c, _ in s.history}
    assert "statistical-principle-learner:random-init" in agents
    assert s.pop_events(final=True) == []  # nothing periodic to flush


def test_llmatic_emits_archive_snapshots_every_k_and_at_the_end() -> None:
    s = LLMatic(rng=np.random.default_rng(0), niches=10, init_size=4, archive_every=5)
    _drive(s, 12)
    popped = s.pop_events()
    variation = [e for k, e in popped if k == "variation"]
    assert [e["iteration"] for e in variation] == [5, 10]
    assert sum(variation[-1]["counts"].values()) == 10 and variation[-1]["network_niches"] == 10
    events = [(k, e) for k, e in popped if k == "archive"]
    assert [(k, e["archive"], e["iteration"]) for k, e in events] == [
        ("archive", "network", 5),
        ("archive", "prompt", 5),
        ("archive", "network", 10),
        ("archive", "prompt", 10),
    ]
    net = events[2][1]
    assert net["ranges"] == [[0.0, 1.0], [0.0, 1.0]] and net["niches"] == 10
    assert net["labels"][0].startswith("width/depth") and "FLOPs" in net["labels"][1]
    ids = {c.id for c, _ in s.history}
    assert net["cells"] and all(c["candidate_id"] in ids for c in net["cells"])
    assert all(0 <= x <= 1 for c in net["cells"] for x in c["descriptor"])
    assert [c["fitness"] for c in net["cells"]] == [e.fitness for e in s.networks.members()]
    prompts = events[3][1]["cells"]
    assert prompts and all(
        c["candidate_id"] in ids and c["prompt"].startswith("p") for c in prompts
    )
    final = [e for k, e in s.pop_events(final=True) if k == "archive"]
    assert [(e["archive"], e["iteration"]) for e in final] == [("network", 12), ("prompt", 12)]
    assert s.pop_events(final=True) == []  # already snapshotted at 12
    # rebuild from history reproduces the state (events are not part of it)
    r = LLMatic(rng=np.random.default_rng(0), niches=10, init_size=4, archive_every=5)
    r.rebuild(s.history)
    assert r.state_summary() == s.state_summary()


# ----------------------------------------------------------------------------- prompts/parsers


def test_templates_render_with_ref_and_messages() -> None:
    learner = LLMPrincipleLearner(lambda p, t: _answer())
    p = learner.learn_prompt(SPACE, _source().top(3))
    assert isinstance(p, PromptText) and p.ref == "lapt_principles@2"
    assert [m["role"] for m in p.messages] == ["system", "user"]
    assert "self.layer5(x2)" in p and p.count("# source score") == 3
    assert '{"layer0": [4], "layer1": [0, 4], ...}' in p
    assert pickle.loads(pickle.dumps(p)).ref == "lapt_principles@2"
    for tid, parser in [
        ("lapt_update", "lapt_candidates"),
        ("lapt_widen", "lapt_candidates"),
        ("llmatic_mutate", "llmatic_network"),
        ("llmatic_crossover", "llmatic_network"),
    ]:
        assert load_prompt(tid).parser == parser
    ops = LLMOperators(lambda p, t: "")
    m = ops.mutate_prompt(SPACE, from_ops(["none"] * 6), 1)
    assert m.ref == "llmatic_mutate@2" and "Instruction: Add a convolutional layer" in m
    c = ops.crossover_prompt(SPACE, from_ops(["none"] * 6), from_ops(["skip_connect"] * 6))
    assert c.ref == "llmatic_crossover@2" and "Network B:\nedge 1<-0: skip_connect" in c


def test_principles_parser_reads_markdown_parts() -> None:
    a = parse_principles_answer(_answer(), SPACE)
    assert a.patterns[0].startswith("The best cells put 3x3") and len(a.patterns) == 2
    assert a.principles == (
        "Use nor_conv_3x3 on edges leaving node 0.",
        "Keep a cheap 1x1 alternative where the receptive field is already large.",
    )
    assert all(c == {"nor_conv_3x3", "nor_conv_1x1"} for c in a.candidates)
    assert split_statements("One idea. Another idea; and more. Last") == (
        "One idea.",
        "Another idea; and more.",
        "Last",
    )


@pytest.mark.parametrize(
    "answer,reason,message",
    [
        ("", "empty", "the answer is empty"),
        ("Use 3x3 convolutions everywhere.", "missing", "no JSON object"),
        ('```json\n{"edge 1<-0": ["nor_conv_3x3"],}\n```', "syntax", "does not parse"),
        (_answer({"edge 2<-1": ["conv_3x3"]}), "choice", "'edge 2<-1': 'conv_3x3' is not a choice"),
        (_answer({"edge 4<-0": ["none"]}), "unknown", "unknown position 'edge 4<-0'"),
        ('{"edge 1<-0": ["none"]}', "missing", "position 'edge 2<-0' is missing"),
    ],
)
def test_principles_parser_errors_are_precise(answer: str, reason: str, message: str) -> None:
    with pytest.raises(PrincipleParseError, match=message) as e:
        parse_principles_answer(answer, SPACE)
    assert e.value.reason == reason and isinstance(e.value, PromptParseError)


def test_network_parser_tolerates_markdown_and_names_errors() -> None:
    arch = from_ops(
        ["nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1", "avg_pool_3x3", "none"]
    )
    text = "Sure! The new cell:\n```\n" + "\n".join(
        f"- `{line.split(': ')[0]}`: **{line.split(': ')[1]}**," for line in SPACE.describe(arch).splitlines()
    ) + "\n```\nIt adds a skip."  # fmt: skip
    assert parse_network_answer(text, SPACE) == arch
    cases = [
        ("", "empty", "the answer is empty"),
        ("edge 1<-0: sep_conv_3x3", "choice", "'edge 1<-0': 'sep_conv_3x3' is not a choice"),
        ("edge 1<-0: none\nedge 1<-0: skip_connect", "conflict", "given twice"),
        ("edge 1<-0: none", "missing", "lacks lines for edge 2<-0, edge 2<-1"),
    ]
    for answer, reason, message in cases:
        with pytest.raises(NetworkParseError, match=message) as e:
            parse_network_answer(answer, SPACE)
        assert e.value.reason == reason


# ----------------------------------------------------------------------------- adapter


class _FakeClient:
    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.calls: list[dict[str, Any]] = []
        self.usage = SimpleNamespace(cost_usd=0.25)

    def chat(self, messages: Any, **kw: Any) -> Any:
        self.calls.append({"messages": messages, **kw})
        r = self.replies.pop(0)
        if isinstance(r, Exception):
            raise r
        return SimpleNamespace(text=r)


def test_adapter_sends_messages_with_prompt_id_and_maps_errors() -> None:
    client = _FakeClient(["ok", LLMError("server_error", "boom"), BudgetExceeded("spent"), "x"])
    complete = LLMCompletion(client, "lapt")
    p = render_prompt("llmatic_mutate", space="s", network="n", instruction="i", rules="r")
    assert complete(p, 0.3) == "ok"
    call = client.calls[0]
    assert call["agent"] == "lapt" and call["prompt_id"] == "llmatic_mutate@2"
    assert call["temperature"] == 0.3 and call["messages"][0]["role"] == "system"
    with pytest.raises(CompletionError, match="boom") as e:
        complete(p, 0.3)
    assert e.value.kind == "server_error"
    with pytest.raises(CompletionBudgetExceeded):
        complete(p, 0.3)
    assert complete("plain", 0.1) == "x" and client.calls[-1]["prompt_id"] == "lapt@inline"
    assert complete.calls == 4 and complete.failures == 2 and complete.cost_usd == 0.25
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(complete)


def test_llm_learner_records_call_failures_and_lapt_stops_on_budget() -> None:
    replies: list[Any] = [_answer(), CompletionError("timeout", "timeout")]

    def complete(prompt: str, t: float) -> str:
        r = replies.pop(0) if replies else CompletionBudgetExceeded("LLM budget spent")
        if isinstance(r, Exception):
            raise r
        return str(r)

    learner = LLMPrincipleLearner(complete)
    s = LAPT(source=_source(), learner=learner, top_k=10, adapt_every=3, rng=0)
    assert s.principles.learner == "llm-principle-learner"
    _drive(s, 3)  # update: the call fails -> statistical fallback, recorded
    assert "LLM call failed (timeout)" in learner.failures[0]
    assert s.principles.learner == "statistical-principle-learner" and s.principles.note
    _drive(s, 3)  # next adaptation: budget spent -> fallback and stop
    assert learner.budget_exhausted and "LLM budget spent" in learner.failures[1]
    assert s.ask(1) == [] and len(s.history) == 6
    ev = [e for _, e in s.pop_events()]
    assert [e["learner"] for e in ev] == ["llm-principle-learner"] + [
        "statistical-principle-learner"
    ] * 2
    assert "fell back" in ev[1]["note"]


def test_llmatic_falls_back_on_failed_calls_and_stops_on_budget() -> None:
    answers: list[Any] = [CompletionError("boom", "server_error")]

    def complete(prompt: str, t: float) -> str:
        if answers:
            raise answers.pop(0)
        raise CompletionBudgetExceeded("LLM budget spent")

    s = LLMatic(operators=LLMOperators(complete), rng=np.random.default_rng(0), init_size=2)
    _drive(s, 3)  # 2 random, then a failed call -> rule-based fallback
    assert s.history[2][0].origin.agent.endswith("(fallback)")
    assert "LLM call failed" in s.operator_failures[0]
    assert s.ask(2) == [] and s.stopped and "budget" in s.operator_failures[-1]


# ----------------------------------------------------------------------------- build.py


def _cfg(*overrides: str) -> Any:
    return load_config(overrides=["space.kind=nb201", *overrides])


def test_build_refuses_a_source_equal_to_the_target_and_a_missing_llm() -> None:
    with pytest.raises(ConfigError, match="must not learn its principles from the target"):
        build_strategy(
            _cfg(
                "strategy.name=lapt",
                "train.dataset=cifar10",
                "strategy.lapt.source_dataset=cifar10",
                "space.table=x.parquet",
            )
        )
    with pytest.raises(ConfigError, match="set strategy.lapt.source_table"):
        build_strategy(_cfg("strategy.name=lapt", "train.dataset=cifar10"))
    with pytest.raises(ConfigError, match="valid values: statistical, llm"):
        _cfg("strategy.name=lapt", "strategy.lapt.learner=gpt")
    with pytest.raises(ConfigError, match="learner=llm needs an LLM"):
        build_strategy(
            _cfg("strategy.name=lapt", "strategy.lapt.learner=llm", "space.table=x.parquet")
        )
    with pytest.raises(ConfigError, match="needs a categorical space"):
        build_strategy(_cfg("strategy.name=llmatic", "space.kind=block"))


def test_build_llmatic_picks_offline_or_llm_operators(tmp_path: Any) -> None:
    s = build_strategy(_cfg("strategy.name=llmatic", "strategy.llmatic.niches=8"))
    assert isinstance(s.operators, RuleBasedOperators) and s.networks.centroids.shape[0] == 8
    assert strategy_llm(_cfg()) is None
    live = build_strategy(
        _cfg("strategy.name=llmatic", "llm.base_url=http://127.0.0.1:9/v1", "llm.model=m")
    )
    assert isinstance(live.operators, LLMOperators)
    assert isinstance(live.operators.complete, LLMCompletion)
    assert live.operators.complete.agent == "llmatic"
    cassette = tmp_path / "c.json"
    cassette.write_text("{}")
    replay = build_strategy(
        _cfg("strategy.name=llmatic", "llm.mode=replay", f"llm.cassette={cassette}")
    )
    assert isinstance(replay.operators, LLMOperators)
    assert StatisticalPrincipleLearner.name == "statistical-principle-learner"
