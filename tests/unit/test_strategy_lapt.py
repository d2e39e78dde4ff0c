from __future__ import annotations

import json

import numpy as np
import pytest

from nas.records import TrialRecord, TrialState
from nas.spaces import NASBenchMacroSpace, NB201Space
from nas.spaces.nb201 import from_ops, to_ops
from nas.strategies.lapt import LAPT
from nas.strategies.principles import (
    LLMPrincipleLearner,
    PrincipleParseError,
    SourceTask,
    StatisticalPrincipleLearner,
    parse_candidates,
)

SPACE = NB201Space()
NAMES = [p.name for p in SPACE.positions]


def _source(n: int = 200) -> SourceTask:
    """The 30 best source cells have 3x3 convs on edges 0, 2, 4 and a skip on edge 3."""
    rng = np.random.default_rng(5)
    good = []
    for _ in range(30):
        ops = list(to_ops(SPACE.sample(rng)))
        ops[0] = ops[2] = ops[4] = "nor_conv_3x3"
        ops[3] = "skip_connect"
        good.append(from_ops(ops))
    archs = tuple(good) + tuple(SPACE.sample(rng) for _ in range(n))
    return SourceTask("source", archs, tuple([1.0] * 30 + [0.0] * n))


def test_statistical_learner_keeps_the_lifted_operators() -> None:
    p = StatisticalPrincipleLearner(min_lift=1.5).learn(SPACE, _source().top(20))
    assert p.allowed[0] == {"nor_conv_3x3"} and p.allowed[3] == {"skip_connect"}
    assert p.lifts[0]["nor_conv_3x3"] == pytest.approx(5.0)
    assert "edge 1<-0: prefer nor_conv_3x3 (5.00)" in p.text
    assert p.learner == "statistical-principle-learner"
    wide = StatisticalPrincipleLearner().widen(SPACE, p)
    assert all(a <= b for a, b in zip(p.allowed, wide.allowed, strict=True))
    # one operator at a time: the unexplored (position, op) with the highest source lift
    assert sum(len(b) - len(a) for a, b in zip(p.allowed, wide.allowed, strict=True)) == 1
    wide3 = StatisticalPrincipleLearner(widen_ops=3).widen(SPACE, p)
    assert sum(len(b) - len(a) for a, b in zip(p.allowed, wide3.allowed, strict=True)) == 3
    top = [(from_ops(["nor_conv_1x1"] * 6), 0.9)]
    upd = StatisticalPrincipleLearner().update(SPACE, p, top)
    assert upd.allowed[0] == {"nor_conv_1x1", "nor_conv_3x3"} and upd.version == 1


ANSWER = """PATTERNS: The best cells stack 3x3 convolutions on the main path and keep a skip \
from the input to the output node.
PRINCIPLES: Use nor_conv_3x3 on edges that feed deeper nodes; keep one identity shortcut; \
avoid pooling and zero edges on the main path.
CANDIDATES:
```json
%s
```
"""


def _answer(**override: list[str]) -> str:
    cand = {n: ["nor_conv_3x3", "nor_conv_1x1"] for n in NAMES}
    cand["edge 3<-0"] = ["skip_connect"]
    cand.update({k.replace("_", " ").replace("e ", "e", 0): v for k, v in override.items()})
    return ANSWER % json.dumps(cand, indent=1)


def test_code_form_answers_with_layer_ids_parse() -> None:
    ans = (
        "CANDIDATES:\n```json\n"
        + json.dumps(
            {
                "layer0": [3],
                "layer1": [3, 2],
                "2": [3],
                "layer3": [1],
                "layer4": [3],
                "layer5": [3, "nor_conv_1x1"],
            }
        )
        + "\n```"
    )
    cands = parse_candidates(ans, SPACE)
    assert cands[1] == {"nor_conv_3x3", "nor_conv_1x1"} and cands[3] == {"skip_connect"}
    assert cands[5] == {"nor_conv_3x3", "nor_conv_1x1"}


def test_llm_learner_formats_the_prompt_and_parses_the_answer() -> None:
    seen: list[tuple[str, float]] = []

    def complete(prompt: str, temperature: float) -> str:
        seen.append((prompt, temperature))
        return _answer()

    learner = LLMPrincipleLearner(complete, temperature=0.3, evidence_floor=False)
    p = learner.learn(SPACE, _source().top(5))
    prompt, temp = seen[0]
    assert (
        temp == 0.3 and "PATTERNS" in prompt and "PRINCIPLES" in prompt and "CANDIDATES" in prompt
    )
    # LAPT's code form: the cell as a module over a layer list, the rule, IDs in the answer
    assert "x3 = self.layer3(x0) + self.layer4(x1) + self.layer5(x2)" in prompt
    assert prompt.count("# source score") == 5 and "no more than 2 operations per layer" in prompt
    assert "layer_list = [" in prompt and '"layer0": [4]' in prompt
    assert p.learner == "llm-principle-learner" and not learner.failures
    assert p.allowed[3] == {"skip_connect"} and p.size() == 2**5
    assert (
        p.text.startswith("PATTERNS: The best cells") and "PRINCIPLES: Use nor_conv_3x3" in p.text
    )


@pytest.mark.parametrize(
    "answer,message",
    [
        ("I think 3x3 convs are good.", "no JSON object"),
        ('```json\n{"edge 1<-0": ["nor_conv_3x3"],}\n```', "does not parse"),
        ('{"edge 1<-0": ["conv_5x5"]}', "position 'edge 1<-0': 'conv_5x5' is not a choice"),
        ('{"edge 9<-0": ["none"]}', "unknown position 'edge 9<-0'"),
        ('{"edge 1<-0": ["none"]}', "position 'edge 2<-0' is missing"),
        ('{"edge 1<-0": []}', "non-empty list"),
        ('{"layer0": [7]}', "position 'edge 1<-0': 7 is not a choice"),
        ('{"layer0": [3], "edge 1<-0": [3]}', "given twice"),
    ],
)
def test_parse_errors_are_precise(answer: str, message: str) -> None:
    with pytest.raises(PrincipleParseError, match=message):
        parse_candidates(answer, SPACE)


def test_llm_learner_falls_back_on_parse_failure_and_records_it() -> None:
    learner = LLMPrincipleLearner(lambda p, t: '{"edge 1<-0": ["conv_5x5"]}')
    p = learner.learn(SPACE, _source().top(20))
    assert p.learner == "statistical-principle-learner"
    assert "fell back to statistical-principle-learner" in p.note and "conv_5x5" in p.note
    assert len(learner.failures) == 1


def _drive(s: LAPT, n: int, score) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        [c] = s.ask(1)
        s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": score(c.arch)}))])


def test_lapt_searches_the_refined_space_and_adapts() -> None:
    s = LAPT(source=_source(), top_k=20, adapt_every=5, rng=np.random.default_rng(0),
             learner=StatisticalPrincipleLearner(min_lift=1.5, max_ops=None),
             widen_when_exhausted=False)  # fmt: skip
    assert s.principles.size() < SPACE.size
    first = s.ask(3)
    for c in first:
        ops = to_ops(c.arch)
        assert ops[0] == "nor_conv_3x3" and ops[3] == "skip_connect"
        assert c.origin.suggestion == "statistical-principle-learner v0"
    s.tell([(c, TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5})) for c in first])
    _drive(s, 2, lambda a: 0.6)  # 5 told, improved -> update
    _drive(s, 5, lambda a: 0.1)  # 10 told, no improvement -> widen
    assert [a[1] for a in s.adaptations] == ["learn", "update", "widen"]
    assert s.adaptations[2][2] >= s.adaptations[1][2]


def test_an_exhausted_refined_space_is_widened_at_once() -> None:
    s = LAPT(source=_source(), top_k=20, adapt_every=50, rng=np.random.default_rng(0))
    size = s.principles.size()
    distinct = len({SPACE.arch_hash(a) for a in SPACE.enumerate(s.allowed)})  # isomorphs count once
    _drive(s, distinct, lambda a: 0.5)  # every member of the refined space told
    assert [a[1] for a in s.adaptations][:2] == ["learn", "widen"]
    assert s.adaptations[1][0] == distinct and s.principles.size() > size
    r = LAPT(source=_source(), top_k=20, adapt_every=50, rng=np.random.default_rng(0))
    r.rebuild(s.history)  # replay reproduces the widening
    assert r.state_summary() == s.state_summary()
    [c] = s.ask(1)
    assert c.origin.agent.startswith("statistical-principle-learner:")  # inside, not outside


def test_lapt_on_a_macro_space_and_llm_learner_end_to_end() -> None:
    space = NASBenchMacroSpace()
    rng = np.random.default_rng(0)
    archs = tuple(space.sample(rng) for _ in range(100))
    src = SourceTask("macro-src", archs, tuple(a.count("2") / 8 for a in archs))
    answer = json.dumps({p.name: ["mb6_k5", "mb3_k3"] for p in space.positions})
    learner = LLMPrincipleLearner(lambda p, t: answer, evidence_floor=False)  # the answer as is
    s = LAPT(source=src, space=space, learner=learner, top_k=10, adapt_every=3, rng=rng)
    _drive(s, 12, lambda a: a.count("2") / 8)
    assert all("0" not in c.arch for c, _ in s.history[:6])
