"""Repairs that change something and a bounded cost per design (nas.agents.modifier): a
repeated answer is never sent back, a design stops at its call and token caps with the
reason, the edit form is held to its grammar and repaired against the original block, and
think-then-answer puts a bounded plan line before the constrained answer."""

from __future__ import annotations

from typing import Any

import pytest

from launcher.build import build_strategy
from launcher.config import load_config
from launcher.llm_local import LOCAL_LLM_OVERRIDES
from nas.agents.config import NaderConfig
from nas.agents.modifier import Modifier, base_checker
from nas.agents.nader_strategy import NaderStrategy
from nas.config_checks import SettingError
from nas.grammar import Constraint
from nas.graph.edits import edit_example
from nas.graph.limits import AnswerLimits
from nas.graph.seeds import seed_blocks
from nas.graph.text import serialize
from nas.llm.client import ChatReply
from nas.prompts.templates import load_prompt

pytestmark = pytest.mark.unit

TASK = "Add a squeeze-and-excitation gate on the residual branch."
BLOCKS = seed_blocks("resnet_basic")
BASE = BLOCKS["ResNetBasic"]
DANGLING = "```\n" + serialize(BASE).replace("##\n", "##\n99:ReLU\n", 1) + "```"
CHANGED = "```\n" + serialize(BASE).replace("8:ReLU", "8:GELU") + "```"
FILE = "```\n" + serialize(list(BLOCKS.values())[1:]) + "```"  # the derive turn's answer


class _Scripted:
    """Answers each call with the next text (the last repeats); records what was sent."""

    def __init__(self, *answers: str, tokens: int = 10) -> None:
        self.answers = list(answers)
        self.tokens = tokens
        self.sent: list[list[dict[str, str]]] = []
        self.kw: list[dict[str, Any]] = []

    def chat(self, msgs: list[dict[str, str]], **kw: Any) -> ChatReply:
        self.sent.append(list(msgs))
        self.kw.append(kw)
        text = self.answers[min(len(self.sent) - 1, len(self.answers) - 1)]
        c: Constraint | None = kw.get("constraint")
        obeyed = None if c is None or c.grammar is None else c.grammar.accepts(text)
        return ChatReply(text, f"c{len(self.sent)}", "m", self.tokens, self.tokens, 0.0, 0.0,
                         False, "stop", 0, c.name if c else "", obeyed)  # fmt: skip

    def mark_fallback(self, call_id: str, what: str) -> None:
        self.fallback = (call_id, what)


def _mod(llm: Any, retries: int = 2, **kw: Any) -> Modifier:
    return Modifier(llm, base_checker({"kind": "stages", "width": 16}), lambda b: [],
                    retries=retries, repair_temperature=1.0, **kw)  # fmt: skip


def test_a_repeated_answer_is_never_sent_back_but_re_asked_hotter() -> None:
    llm = _Scripted(DANGLING, DANGLING, CHANGED, FILE)
    res = _mod(llm, reask_temperature=1.3).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 4  # base x3, derive x1
    reask = llm.sent[2]
    assert reask[-1]["content"].startswith("Task: modifier_reask")
    assert "99:ReLU" not in "".join(m["content"] for m in reask)  # the answer is not resent
    assert len(reask) == 3  # system, the first prompt, the re-ask: no repeated exchange
    assert [k.get("temperature") for k in llm.kw[:3]] == [None, 1.0, 1.3]
    assert llm.kw[2]["prompt_id"] == "modifier_reask@1"
    assert res.notes == [
        "base: call 2 repeated an earlier answer; re-asked with modifier_reask@1 at temperature 1.3"
    ]


def test_a_repeated_edit_answer_is_never_sent_back_but_re_asked_hotter() -> None:
    # the after run's case: a repair answering "replace 4 Add" again (now refused up front)
    bad = "replace 4 Add\n"
    llm = _Scripted(bad, " replace 4  Add\n", "set 2 kernel_size=5\n")
    res = _mod(llm, answer="edits", reask_temperature=1.3).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 3
    reask = llm.sent[2]
    assert reask[-1]["content"].startswith("Task: modifier_reask")
    assert "the edits, one per line" in reask[-1]["content"]
    assert len(reask) == 3 and not any(m["role"] == "assistant" for m in reask)  # not resent
    assert [k.get("temperature") for k in llm.kw] == [None, 1.0, 1.3]
    assert "Add merges two or more" in reask[-1]["content"]


def test_the_same_graph_in_other_words_is_a_repeat_too() -> None:
    renumbered = DANGLING.replace("99:ReLU", "77:ReLU")  # same canonical graph, other text
    llm = _Scripted(DANGLING, renumbered, CHANGED, FILE)
    res = _mod(llm).modify(BLOCKS, TASK)
    assert res.status == "ok" and llm.kw[2]["prompt_id"] == "modifier_reask@1"


def test_a_design_stops_at_its_call_cap_with_the_reason() -> None:
    llm = _Scripted("no block", "still none", "nothing")
    res = _mod(llm, retries=5, max_calls=2).modify(BLOCKS, TASK)
    assert res.status == "invalid" and res.turns == 2 and len(llm.sent) == 2
    assert res.errors[0].startswith("design cap reached: 2 calls made; the cap is 2 per design")
    assert "strategy.nader.max_calls_per_design" in res.capped


def test_a_design_stops_before_a_call_that_would_pass_its_token_cap() -> None:
    llm = _Scripted("no block", "still none", tokens=2000)
    res = _mod(llm, retries=5, max_design_tokens=6000).modify(BLOCKS, TASK)
    assert res.status == "invalid" and res.tokens_in + res.tokens_out <= 6000
    assert "strategy.nader.max_tokens_per_design" in res.errors[0]


def test_edits_are_held_to_the_parents_grammar_and_repaired_against_the_original() -> None:
    llm = _Scripted("```\ninsert 98->99 ReLU\n```", "```\nset 2 kernel_size=5\n```")
    res = _mod(llm, answer="edits").modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 2  # no derive call: the parent's blocks fit
    c = llm.kw[0]["constraint"]
    assert c.name == "edits@2" and not c.grammar.accepts("insert 98->99 ReLU\n")
    assert llm.kw[0]["prompt_id"] == "modifier_edits@3"
    repair = llm.sent[1][-1]["content"]
    assert repair.startswith("Task: modifier_edits_repair") and "node 98 does not exist" in repair
    assert res.blocks is not None and "kernel_size=5" in serialize(res.blocks["ResNetBasic"])


def test_edit_form_edits2_holds_three_edits_and_names_where_each_op_is() -> None:
    """edits@2 (the default): at most 3 lines; a gate is one `branch N->N mul ...` line;
    the prompt (modifier_edits@3) says which nodes hold which operation and the edit count."""
    se = ("branch 8->8 mul AdaptiveAvgPool2d(output_size=1) Conv2d(out_channels=C/4,"
          "kernel_size=1) ReLU Conv2d(out_channels=C,kernel_size=1) Sigmoid\n")  # fmt: skip
    llm = _Scripted(se)
    res = _mod(llm, answer="edits").modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 1 and res.blocks is not None
    kinds = [n.kind for n in res.blocks["ResNetBasic"].nodes]
    assert kinds.count("mul") == 1 and kinds.count("sigmoid") == 1
    g = llm.kw[0]["constraint"].grammar
    assert g.accepts(se) and g.accepts("replace 4 GELU\n") and g.accepts("replace 7 Mul\n")
    assert not g.accepts("set 2 k=5\n" * 4)
    user = llm.sent[0][-1]["content"]
    assert "Nodes by operation: Conv2d 2, 5; BN 3, 6; ReLU 4, 8; Add 7." in user
    assert "At most 3 edits" in llm.sent[0][0]["content"]


def test_edit_form_edits1_keeps_its_grammar_and_prompt() -> None:
    """edits@1 (strategy.nader.answer_version=1) is the form the recorded after-2
    cassettes used: 6 edits, add/concat, its prompt modifier_edits@2; a mul branch is not
    in it and the parser refuses one."""
    llm = _Scripted("branch 8->8 mul Sigmoid\n", "replace 4 ReLU\nset 2 kernel_size=5\n")
    res = _mod(llm, answer="edits", answer_version=1).modify(BLOCKS, TASK)
    c = llm.kw[0]["constraint"]
    assert c.name == "edits@1" and llm.kw[0]["prompt_id"] == "modifier_edits@2"
    assert c.grammar.accepts("replace 4 ReLU\n") and not c.grammar.accepts("branch 8->8 mul ReLU\n")
    assert "a branch merges by add or concat, not 'mul'" in llm.sent[1][-1]["content"]
    assert res.status == "ok" and res.turns == 2


def test_edits_that_need_a_projection_are_fixed_and_said() -> None:
    llm = _Scripted("branch 0->8 concat Conv2d(out_channels=C,kernel_size=1) BN\n")
    res = _mod(llm, answer="edits").modify(BLOCKS, TASK)
    assert res.status == "ok" and res.fixes == [
        "1x1 Conv2d to C channels (node 12) between node 11 (128 channels) and node 1"
    ]


def test_the_edits_prompt_shows_the_form_not_edits_to_copy() -> None:
    """modifier_edits@1 showed edits valid on the parent ("set 2 kernel_size=5", "branch
    0->8 add ...") and the real model answered with them; @2 shows placeholders only."""
    llm = _Scripted("set 2 kernel_size=5\n")
    _mod(llm, answer="edits").modify(BLOCKS, TASK)
    sent = "\n".join(m["content"] for m in llm.sent[0])
    assert "insert A->B Op(args)" in sent and "Example" not in sent and "{{" not in sent
    for line in sent.splitlines():  # no line of the prompt is an edit the grammar accepts
        assert not llm.kw[0]["constraint"].grammar.accepts(line.strip() + "\n"), line


def test_the_recorded_edits_prompt_v1_still_renders_its_example() -> None:
    """Runs recorded with modifier_edits@1 keep their prompt (example slot and all)."""
    v1 = load_prompt("modifier_edits", 1)
    slots = {s: "x" for s in v1.slots if s != "example"}
    text = v1.render(example=edit_example(BASE), **slots)[-1]["content"]
    assert "set 2 kernel_size=5" in text and "example" not in load_prompt("modifier_edits").slots


def test_a_set_dropped_after_a_replace_is_recorded_with_the_fixes() -> None:
    llm = _Scripted("replace 2 Conv2d(out_channels=C,kernel_size=5,groups=C)\n"
                    "replace 4 GELU\nset 4 kernel_size=5\n")  # fmt: skip
    res = _mod(llm, answer="edits").modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 1
    assert res.fixes == ["edit 3 (set 4 kernel_size=5) dropped: edit 2 replaced node 4 by "
                         "GELU, which has no argument 'kernel_size' (it has: none)"]  # fmt: skip


def test_edit_answers_are_held_to_the_answer_limits() -> None:
    """strategy.nader.answer_limits bounds an edit answer as it bounds a block answer: an
    over-long answer is refused before it is read and sent back cut; an over-long value too."""
    limits = AnswerLimits(max_answer_bytes=200, max_expr_length=8)
    huge = "set 2 kernel_size=5\n" + "# " + "x" * 5000 + "\n"
    llm = _Scripted(huge, "set 2 kernel_size=" + "3" * 9 + "\n", "set 2 kernel_size=5\n")
    res = _mod(llm, answer="edits", answer_limits=limits).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.turns == 3
    first_repair, second_repair = llm.sent[1], llm.sent[2]
    assert "answer_limits.max_answer_bytes" in first_repair[-1]["content"]
    resent = first_repair[-2]["content"]  # the answer as sent back: cut to the limit
    assert len(resent) < 400 and "cut at 200 bytes" in resent
    assert "answer_limits.max_expr_length" in second_repair[-1]["content"]
    assert len(res.first_invalid) < 400


def test_think_puts_a_bounded_plan_before_the_constrained_answer() -> None:
    llm = _Scripted("Plan: a wider kernel on node 2.\nset 2 kernel_size=5\n")
    res = _mod(llm, answer="edits", think=True).modify(BLOCKS, TASK)
    assert res.status == "ok"
    c = llm.kw[0]["constraint"]
    assert c.name == "plan+edits@2" and c.grammar.accepts(llm.answers[0])
    assert not c.grammar.accepts("Plan: " + "x" * 400 + "\nset 2 kernel_size=5\n")
    assert 'starts with "Plan: "' in llm.sent[0][-1]["content"]


def test_block_answers_carry_the_block_grammar() -> None:
    llm = _Scripted(CHANGED, FILE)
    res = _mod(llm).modify(BLOCKS, TASK)
    assert res.status == "ok" and not res.fallback
    names = [k["constraint"].name for k in llm.kw]
    assert names == ["block@1", "block@1"]  # base, derive
    assert llm.kw[0]["prompt_id"] == "modifier@3"


def test_the_settings_reach_the_modifier_and_llm_local_sets_a_budget() -> None:
    cfg = load_config(overrides=["strategy.name=nader", "strategy.nader.answer=edits",
                                 "strategy.nader.max_calls_per_design=5",
                                 "strategy.nader.max_tokens_per_design=9000",
                                 "strategy.nader.reask_temperature=1.2",
                                 "strategy.nader.think=true"])  # fmt: skip
    strategy = build_strategy(cfg)  # the launch path: registry factory from strategy.nader
    assert isinstance(strategy, NaderStrategy)
    m = strategy.modifier
    assert (m.answer, m.max_calls, m.max_design_tokens, m.reask_temperature, m.think) == (
        "edits",
        5,
        9000,
        1.2,
        True,
    )
    default = load_config(overrides=["strategy.name=nader"]).strategy.nader
    assert (default.answer, default.max_calls_per_design, default.think) == ("block", 0, False)
    local = load_config(overrides=["strategy.name=nader", *LOCAL_LLM_OVERRIDES])
    assert local.strategy.nader.max_tokens_per_design > 0
    assert local.strategy.nader.repair_temperature != local.llm.temperature
    # the measured form for the local model (BENCHMARKS.md, issue 24 after 2)
    assert (local.strategy.nader.answer, local.strategy.nader.modifier_retries) == ("edits", 2)
    assert local.strategy.nader.answer_version == default.answer_version == 2
    with pytest.raises(ValueError, match="one of block, edits"):
        _mod(_Scripted("x"), answer="diff")
    with pytest.raises(ValueError, match="strategy.nader.answer"):
        load_config(overrides=["strategy.name=nader", "strategy.nader.answer=diff"])


def test_change_first_names_the_change_then_holds_the_edits_to_it() -> None:
    """strategy.nader.change_first: the answer's first line names the kind of change
    (`Change: replace GELU`), and the grammar allows only edits of that kind after it."""
    llm = _Scripted("Change: replace GELU\nreplace 4 GELU\nreplace 8 GELU\n")
    res = _mod(llm, answer="edits", change_first=True).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.blocks is not None
    kinds = [n.kind for n in res.blocks["ResNetBasic"].nodes]
    assert kinds.count("gelu") == 2 and "relu" not in kinds
    c = llm.kw[0]["constraint"]
    assert c.name == "change+edits@2" and c.grammar.accepts(llm.answers[0])
    assert not c.grammar.accepts("Change: replace GELU\nreplace 4 ReLU\n")
    assert not c.grammar.accepts("Change: set kernel_size\nreplace 4 GELU\n")
    assert 'ONE line "Change: VERB WHAT"' in llm.sent[0][-1]["content"]
    with pytest.raises(SettingError, match="change_first and strategy.nader.think"):
        NaderConfig(change_first=True, think=True).validate()


def test_answer_version_3_names_the_change_in_plain_words_first() -> None:
    """strategy.nader.answer_version=3: prompt modifier_edits@4 and grammar edits@3, whose
    first line names the change (`Change: swap ReLU for GELU`): the op that goes, then the one
    that comes; the edits after it are of that kind only."""
    llm = _Scripted("```\nChange: swap ReLU for GELU\nreplace 4 GELU\nreplace 8 GELU\n```")
    mod = _mod(llm, answer="edits", answer_version=3)
    res = mod.modify(BLOCKS, TASK)
    assert res.status == "ok" and res.blocks is not None
    kinds = [n.kind for n in res.blocks["ResNetBasic"].nodes]
    assert kinds.count("gelu") == 2 and "relu" not in kinds
    c = llm.kw[0]["constraint"]
    assert c.name == "edits@3" and c.grammar.accepts(llm.answers[0])
    assert not c.grammar.accepts("Change: swap ReLU for ReLU\nreplace 4 ReLU\n")
    assert mod.prompt_version == 4 and "Change: swap OLD for NEW" in llm.sent[0][0]["content"]
    for first, think in ((True, False), (False, True)):
        with pytest.raises(ValueError, match="own first line"):
            _mod(_Scripted("x"), answer="edits", answer_version=3, change_first=first, think=think)
        key = "change_first" if first else "think"
        with pytest.raises(SettingError, match=f"answer_version=3 .*strategy.nader.{key}=false"):
            NaderConfig(
                answer="edits", answer_version=3, change_first=first, think=think
            ).validate()


def test_block_reask_edits_asks_again_in_the_edit_form_after_an_invalid_block() -> None:
    """strategy.nader.block_reask=edits: one whole block (NADER's answer, block@1); when it
    is not valid, no block repair: the proposal again in the edit form of the answer
    version (its prompt and grammar against the parent), and the design says so."""
    swap = "```\nChange: swap ReLU for GELU\nreplace 4 GELU\n```"
    llm = _Scripted(DANGLING, "swap", swap)
    mod = _mod(llm, answer="block", answer_version=4, block_reask="edits")
    res = mod.modify(BLOCKS, TASK)
    assert res.status == "ok" and res.blocks is not None and res.turns == 3  # no derive call
    assert [k["constraint"].name for k in llm.kw] == ["block@1", "kind@1", "edits@4"]
    assert [k["prompt_id"] for k in llm.kw] == ["modifier@3", "modifier_kind@1",
                                                "modifier_edits@5"]  # fmt: skip
    assert len(llm.sent[2]) == 2 and "99:ReLU" not in llm.sent[2][-1]["content"]  # a fresh ask
    assert res.prompt == "modifier_edits@5" and res.repaired and "99" in res.errors[0]
    assert res.notes and "asked again in the edit form (modifier_edits@5, edits@4)" in res.notes[0]
    assert (
        res.kind == "swap" and [n.kind for n in res.blocks["ResNetBasic"].nodes].count("gelu") == 1
    )
    # a valid block is taken as it is; the setting is refused with edit answers
    llm = _Scripted(CHANGED, FILE)
    res = _mod(llm, answer="block", block_reask="edits").modify(BLOCKS, TASK)
    assert res.status == "ok" and res.prompt == "" and not res.repaired
    assert [k["constraint"].name for k in llm.kw] == ["block@1", "block@1"]  # base, derive
    with pytest.raises(ValueError, match="block answers only"):
        _mod(llm, answer="edits", block_reask="edits")
    with pytest.raises(SettingError, match="strategy.nader.block_reask=block"):
        NaderConfig(answer="edits", block_reask="edits").validate()
    cfg = load_config(overrides=["strategy.name=nader", "strategy.nader.block_reask=edits",
                                 "strategy.nader.answer_version=4"])  # fmt: skip
    strategy = build_strategy(cfg)  # config -> object: the launch path
    assert isinstance(strategy, NaderStrategy)
    m = strategy.modifier
    assert (m.answer, m.block_reask, m.edit_form.name) == ("block", "edits", "edits@4")


def test_answer_version_4_asks_the_kind_first_and_holds_the_answer_to_it() -> None:
    """answer_version=4: a short kind call (modifier_kind@1, grammar kind@1: one of eight
    words) before the edits; the edit grammar then has that kind's heads only. A kind call
    that names no kind falls back to all heads, and the design's notes say so."""
    gate = ("```\nChange: channel attention\nbranch 7->7 mul AdaptiveAvgPool2d(output_size=1) "
            "Conv2d(out_channels=C,kernel_size=1) Sigmoid\n```")  # fmt: skip
    llm = _Scripted("channel attention", gate)
    res = _mod(llm, answer="edits", answer_version=4).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.kind == "channel attention" and res.turns == 2
    kind_c, edit_c = (k["constraint"] for k in llm.kw)
    assert kind_c.name == "kind@1" and kind_c.grammar.accepts("skip connection")
    assert not kind_c.grammar.accepts("swap ReLU")
    assert llm.sent[0][-1]["content"] == f"Proposal: {TASK}\nKind:"
    assert edit_c.name == "edits@4" and edit_c.grammar.accepts(gate)
    assert not edit_c.grammar.accepts("Change: swap ReLU for GELU\nreplace 4 GELU\n")
    assert res.notes == []
    llm = _Scripted("I think a gate", gate)  # a server that ignored the grammar
    res = _mod(llm, answer="edits", answer_version=4).modify(BLOCKS, TASK)
    assert res.status == "ok" and res.kind == ""
    assert res.notes == ["base: the kind call (modifier_kind@1) gave 'I think a gate': the "
                         "edit answer chose among all kinds"]  # fmt: skip
    assert llm.kw[1]["constraint"].grammar.accepts("Change: swap ReLU for GELU\nreplace 4 GELU\n")
