"""The Modifier on answers a real local model wrote (Qwen2.5-Coder-1.5B-Instruct Q4_K_M,
llama-cpp-python server, temperature 0): the literal strings below are recorded model output
from ``archlab bench nad --mode record`` (bench/results/nad_real.md), and what a small model
needs said outright on a repair turn; prompts that outgrow an 8K window are reduced by rule."""

from __future__ import annotations

from typing import Any

import pytest

from nas.agents.modifier import Modifier, base_checker
from nas.graph.catalogue import block_definition
from nas.graph.seeds import seed_blocks
from nas.llm.client import ChatReply
from nas.prompts.fit import compact_definition, estimate_tokens, fits, trim_conversation

pytestmark = pytest.mark.unit

SE_TASK = (
    "Add a squeeze-and-excitation module (global average pool, 1x1 conv to C/4, ReLU, 1x1 conv "
    "to C, Sigmoid) and multiply the block output by its gate."
)

# resnet_basic + se_attention (micro), turn 1: the base block unchanged and the new module as
# a block of its own (recorded 2026-12-02, 157 output tokens, finish "stop")
REAL_SPLIT_MODULE = """```
##ResNetBasic##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
3:BN
4:ReLU
5:Conv2d(out_channels=C,kernel_size=3,stride=1,bias=False)
6:BN
7:Add
8:ReLU
0->2
2->3
3->4
4->5
5->6
6->7
0->7
7->8
8->1

##GlobalAveragePool##
0:input
1:output
2:AvgPool2d(kernel_size=1)
3:Identity
4:ReLU
0->2
2->3
3->4
```"""


class _Scripted:
    """Answers each call with the next text (the last repeats); records what was sent."""

    def __init__(self, *answers: str, finish: str = "stop") -> None:
        self.answers = list(answers)
        self.finish = finish
        self.sent: list[list[dict[str, str]]] = []
        self.opts: list[dict[str, Any]] = []

    def chat(self, msgs: list[dict[str, str]], **kw: Any) -> ChatReply:
        self.sent.append(list(msgs))
        self.opts.append({k: v for k, v in kw.items() if k in ("temperature", "max_tokens")})
        text = self.answers[min(len(self.sent) - 1, len(self.answers) - 1)]
        return ChatReply(text, f"c{len(self.sent)}", "m", 10, 10, 0.0, 0.0, False, self.finish, 0)

    def mark_fallback(self, call_id: str, what: str) -> None:
        self.fallback = (call_id, what)


def _modifier(llm: Any, retries: int = 1, **kw: Any) -> Modifier:
    return Modifier(llm, base_checker({"kind": "stages", "width": 16}), lambda b: [],
                    retries=retries, **kw)  # fmt: skip


def test_a_module_written_as_a_second_block_goes_back_for_repair() -> None:
    llm = _Scripted(REAL_SPLIT_MODULE)
    res = _modifier(llm).modify(seed_blocks("resnet_basic"), SE_TASK)
    assert res.status == "invalid" and res.turns == 2
    repair = llm.sent[1][-1]["content"]
    assert "2 blocks (ResNetBasic, GlobalAveragePool)" in repair
    assert "ONE block ##ResNetBasic##" in repair
    # the same answer twice: said outright
    assert "the same as your previous one" in res.errors[0]


def test_an_unchanged_block_is_not_a_modification() -> None:
    base_only = REAL_SPLIT_MODULE.split("\n\n##GlobalAveragePool##")[0] + "\n```"
    llm = _Scripted(base_only)
    res = _modifier(llm, retries=0).modify(seed_blocks("resnet_basic"), SE_TASK)
    assert res.status == "invalid"
    assert res.errors[0].startswith("the block is unchanged: apply the proposal to ##ResNetBasic##")
    assert "squeeze-and-excitation" in res.errors[0]


def test_repair_turns_use_the_repair_temperature_and_every_call_the_answer_cap() -> None:
    llm = _Scripted("no block", "still none")
    _modifier(llm, retries=2, max_tokens=900, repair_temperature=0.7).modify(
        seed_blocks("resnet_basic"), SE_TASK
    )
    assert llm.opts == [
        {"max_tokens": 900},
        {"max_tokens": 900, "temperature": 0.7},
        {"max_tokens": 900, "temperature": 0.7},
    ]


def test_an_answer_cut_at_the_cap_is_named_on_the_repair_turn() -> None:
    cut = "```\n##ResNetBasic##\n0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3,str"
    llm = _Scripted(cut, finish="length")
    res = _modifier(llm, retries=0, max_tokens=1024).modify(seed_blocks("resnet_basic"), SE_TASK)
    assert res.errors[0].startswith("your answer was cut off at the 1024-token limit")
    assert any("does not parse" in e for e in res.errors)


def test_prompts_are_reduced_by_rule_to_fit_the_window_never_cut() -> None:
    blocks = seed_blocks("inception")
    tips = [f"Tip number {i}: " + "keep the channel count equal on both Add inputs " * 8
            for i in range(12)]  # fmt: skip
    llm = _Scripted(REAL_SPLIT_MODULE)
    res = _modifier(llm, retries=0, max_tokens=1024, context_tokens=3000).modify(
        blocks, SE_TASK, tips, research=tips
    )
    sent = llm.sent[0]
    assert res.trimmed[:2] == ["base: research tips", "base: correctness tips"]
    assert "Tip number" not in sent[1]["content"]
    assert "##Inception##" in sent[1]["content"]  # the block is sent whole
    body = sent[1]["content"].split("```")[1]
    assert body.strip().endswith(body.strip().splitlines()[-1]) and "->1" in body
    assert fits(sent, 3000, 1024) or "base: op explanations" in res.trimmed
    # without a window nothing is reduced
    llm2 = _Scripted(REAL_SPLIT_MODULE)
    assert not _modifier(llm2, retries=0).modify(blocks, SE_TASK, tips).trimmed


def test_compact_definition_keeps_every_signature() -> None:
    full = block_definition()
    small = compact_definition(full)
    assert len(small) < len(full) / 2
    for sig in ("Conv2d(out_channels, kernel_size", "concat(dim=1) [2+ inputs]", "- LN [1 input]"):
        assert sig in small
    assert "It needs channels last" not in small and '"##BlockName##"' in small


def test_a_long_repair_conversation_drops_its_oldest_failed_turns() -> None:
    msgs = [{"role": "system", "content": "s" * 4000}, {"role": "user", "content": "task"}]
    for i in range(4):
        msgs += [{"role": "assistant", "content": f"answer {i} " + "x" * 4000},
                 {"role": "user", "content": f"errors {i}"}]  # fmt: skip
    assert estimate_tokens(msgs) > 8000
    out = trim_conversation(msgs, 8192, 1024)
    assert out[:2] == msgs[:2] and out[-2:] == msgs[-2:]
    assert fits(out, 8192, 1024) and len(out) < len(msgs)
    assert trim_conversation(msgs, None, 1024) == msgs


def test_ranking_and_tips_as_small_models_number_and_bold_them() -> None:
    from nas.prompts import parse_ranking, parse_tips

    assert parse_ranking("**RANKING:** [3, 1, 2]", 3) == [2, 0, 1]
    assert parse_ranking("Ranking: #2 > #1", 2) == [1, 0]
    assert parse_tips("1. TIP [invalid connection]: Keep edges.\n2. **TIP [shape]:** Use C.") == [
        ("invalid connection", "Keep edges."),
        ("shape", "Use C."),
    ]


# resnet_basic + se_attention, repair turn 1 (temperature 0.7) after the two-block error: the
# module alone, with an op name the validator does not know (recorded, 42 output tokens)
REAL_MODULE_ONLY = """```
##ResNetBasic##
0:input
1:output
2:GlobalAveragePool
3:Identity
4:ReLU
0->2
2->3
3->4
```"""

# the Reflector's answer on that failure (recorded, 135 output tokens): categories without
# the brackets the prompt asks for
REAL_TIPS = """TIP invalid connection: ResNetBasic node 0 (input) never reaches the output -- feed \
it forward, e.g. add '0->DST' into an Add/concat, or delete it

TIP unknown operation: ResNetBasic node 2 (AvgPool2d(kernel_size=1)) never reaches the output \
-- feed it forward, e.g. add '2->DST' into an Add/concat, or delete it"""


def test_an_answer_that_lost_the_block_gets_the_original_restated() -> None:
    llm = _Scripted(REAL_SPLIT_MODULE, REAL_MODULE_ONLY)
    res = _modifier(llm).modify(seed_blocks("resnet_basic"), SE_TASK)
    assert res.status == "invalid" and res.turns == 2
    err = res.errors[0]
    assert err.startswith("the answer lost most of the original ##ResNetBasic## (it has 5 nodes")
    assert "7:Add" in err and "0->7" in err  # the original block, whole


def test_a_real_models_tips_without_brackets_are_read() -> None:
    from nas.prompts import parse_tips

    tips = parse_tips(REAL_TIPS)
    assert [c for c, _ in tips] == ["invalid connection", "unknown operation"]
    assert tips[0][1].startswith("ResNetBasic node 0 (input) never reaches the output")
