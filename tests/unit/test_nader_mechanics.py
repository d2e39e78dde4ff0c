"""NADER's mechanics as its authors' code has them: the op catalogue from the validator's
table in the prompts, the authors' answer formats, the DFS over improving edges."""

from __future__ import annotations

import random
from typing import Any

import pytest

from nas.agents.modifier import Modifier, base_checker
from nas.agents.tree import ModificationTree, TreeNode
from nas.graph.catalogue import op_catalogue
from nas.graph.ops import op_specs
from nas.graph.seeds import seed_blocks
from nas.prompts import PromptParseError, parse_ranking, parse_tips

pytestmark = pytest.mark.unit


class _Recorder:
    """Captures the messages the Modifier sends; answers with a fixed text."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.sent: list[list[dict[str, str]]] = []

    def chat(self, msgs: list[dict[str, str]], **_: Any) -> Any:
        from nas.llm.client import ChatReply

        self.sent.append(msgs)
        return ChatReply(self.answer, f"c{len(self.sent)}", "m", 1, 1, 0.0, 0.0, False, "stop", 0)

    def mark_fallback(self, call_id: str, what: str) -> None:
        self.fallback = (call_id, what)


def test_modifier_prompt_carries_the_validators_op_table_and_rules() -> None:
    blocks = seed_blocks("resnet_basic")
    llm = _Recorder("no block here")
    mod = Modifier(llm, base_checker({"kind": "nb201", "width": 16}), lambda b: [], retries=0,
                   skeleton="nb201")  # fmt: skip
    tips = ["Keep the identity path.", "keep the  identity path.", "Use BN after convs."]
    res = mod.modify(blocks, "add a squeeze-and-excitation gate", tips, research=["Avoid 7x7."])
    assert res.status == "invalid"
    system, user = (m["content"] for m in llm.sent[0])
    for spec in op_specs():  # every op the validator accepts, with its signature
        if spec.name not in ("input", "input1", "input2", "output"):
            assert f"- {spec.name}" in system, spec.name
    for needle in ("softmax(dim)", "sum(dim, keepdim=False)", "reshape(*sizes)", "repeat(*counts)",
                   "Conv2d(out_channels, kernel_size, stride=1, padding=auto, dilation=1, "
                   "groups=1, bias=True)", "It needs channels last",
                   "unrelated to the proposal are kept as original as possible"):  # fmt: skip
        assert needle in " ".join(system.split()), needle
    assert op_catalogue() in system
    # correctness and performance experience, each tip once
    assert user.count("Keep the identity path.") == 1 and "keep the  identity" not in user
    assert "###Performance experience###" in user and "Avoid 7x7." in user


def test_derive_prompt_has_examples_and_the_skeletons_spatial_contract() -> None:
    blocks = seed_blocks("resnet_basic")
    base = next(iter(blocks.values()))
    llm = _Recorder("```\n" + "\n".join(str(base).splitlines()) + "\n```")
    from nas.graph.text import serialize

    llm.answer = "```\n" + serialize(base).replace("ReLU", "GELU") + "```"  # valid, changed
    mod = Modifier(llm, lambda g: [], lambda b: [], retries=0, skeleton="nb201")
    res = mod.modify(blocks, "use GELU")
    assert len(llm.sent) == 2  # modify, then derive (which fails: the blocks are kept)
    system = llm.sent[1][0]["content"]
    assert system.count("Example ") == 3 and "ConvNeXt_stem" in system
    assert "32x32 stays 32x32" in system and "1/2 of its input" in system
    assert res.status == "ok" and "kept the parent's stem/downsample" in res.fallback
    assert llm.fallback == ("c2", res.fallback)  # noted on the derive call's row


def test_parsers_read_the_authors_tag_format_and_real_model_chatter() -> None:
    assert parse_ranking("Thinking...\n<response>3, 1,2</response>", 3) == [2, 0, 1]
    assert parse_ranking("**RANKING:** 2, 1", 2) == [1, 0]
    with pytest.raises(PromptParseError) as e:
        parse_ranking("<response>the first one</response>", 3)
    assert e.value.reason == "missing"
    assert parse_tips("Because ...\n<tip>Permute before LN.</tip>") == [("", "Permute before LN.")]
    assert parse_tips("<suggestion>Keep the skip path.</suggestion>") == [
        ("", "Keep the skip path.")
    ]
    assert parse_tips("- **TIP [syntax]:** close every fence") == [("syntax", "close every fence")]


def _node(tree: ModificationTree, nid: str, parent: str | None, acc: float | None,
          state: str = "COMPLETE") -> TreeNode:  # fmt: skip
    return tree.add(TreeNode(nid, parent, "s", state, acc))


def test_dfs_walks_improving_edges_to_an_unexpanded_leaf_as_the_authors_do() -> None:
    t = ModificationTree()
    _node(t, "root", None, 0.50)
    _node(t, "a", "root", 0.60)  # best child, but its only trained child is worse: dead end
    _node(t, "b", "root", 0.55)  # improving and not expanded yet: the authors' pick
    _node(t, "c", "a", 0.58)
    _node(t, "p", "b", None, "PENDING")  # pending children do not count as expansion
    assert t.dfs_pick().id == "b"  # a greedy "best improving node" would pick "a"
    _node(t, "d", "b", 0.57)  # b -> d improves and d is a leaf: go deeper
    assert t.dfs_pick().id == "d"
    _node(t, "e", "d", 0.40)  # d's only trained child is worse; a and b dead-end: the root
    assert t.dfs_pick().id == "root"
    node, how = t.select(random.Random(0), dfs_ratio=1.0)
    assert (node.id, how) == ("root", "dfs")
    assert t.select(random.Random(0), dfs_ratio=0.0)[1] == "bfs"


def test_block_answers_as_real_models_write_them() -> None:
    from nas.prompts import parse_block_answer

    answer = (
        "Here is the modified block with an SE gate:\n\n```python\n"
        "###B###\n0: input\n1: output\n2:Conv2d(out_channels=C,kernel_size=3)  # 3x3 conv\n"
        "3:ReLU // activation\n0 -> 2 -> 3\n3->1\n```\n\nThis keeps the identity path."
    )
    ans = parse_block_answer(answer)
    assert ans.names == ["B"] and ans.text.endswith("0->2\n2->3\n3->1\n")
    two = "```\n##B_stem##\n0:input\n1:output\n0->1\n##B_downsample##\n0:input\n1:output\n0->1\n```"
    assert parse_block_answer(two).names == ["B_stem", "B_downsample"]  # headers survive


def test_se_block_with_c_over_16_is_repaired_before_any_derive_call() -> None:
    se = (
        "```\n##ResNetBasic##\n0:input\n1:output\n2:AdaptiveAvgPool2d(output_size=1)\n"
        "3:Conv2d(out_channels=C/16,kernel_size=1)\n4:ReLU\n5:Conv2d(out_channels=C,kernel_size=1)\n"
        "6:Sigmoid\n7:Mul\n0->2\n2->3\n3->4\n4->5\n5->6\n6->7\n0->7\n7->1\n```"
    )
    llm = _Recorder(se)
    mod = Modifier(llm, base_checker({"kind": "nb201", "width": 8}), lambda b: [], retries=1,
                   skeleton="nb201")  # fmt: skip
    res = mod.modify(seed_blocks("resnet_basic"), "add a squeeze-and-excitation gate")
    tasks = [m[-1]["content"].split("\n", 1)[0] for m in llm.sent]
    assert tasks == ["Task: modifier", "Task: modifier_repair"]  # no modifier_derive
    assert res.status == "invalid" and "C=8" in llm.sent[1][-1]["content"]
