"""Edits against a parent block (nas.graph.edits): read, applied, fixed, and held to a
grammar that names only what the parent has."""

from __future__ import annotations

import pytest

from nas.graph.block import BlockGraph
from nas.graph.edits import (
    MAX_EDITS,
    Branch,
    EditError,
    Insert,
    Remove,
    Replace,
    SetArg,
    apply_edits,
    edit_example,
    edits_constraint,
    fix_shapes,
    parse_edits,
)
from nas.graph.hashing import canonical_hash
from nas.graph.seeds import SEED_BLOCKS, seed_block
from nas.graph.validate import analyze

G = seed_block("resnet_basic")  # 0 in, 2 conv, 3 BN, 4 ReLU, 5 conv, 6 BN, 7 Add(6, 0), 8 ReLU


def _apply(text: str) -> tuple[BlockGraph, set[int]]:
    return apply_edits(G, parse_edits(text, G))


def test_each_edit_kind_is_read() -> None:
    got = parse_edits(
        "```\ninsert 4->5 Dropout(p=0.1)\nreplace 5 Conv2d(out_channels=C,kernel_size=5)\n"
        "set 2 kernel_size=7\nbranch 0->6 concat Conv2d(out_channels=C, kernel_size=1) BN\n"
        "remove 4\n```",
        G,
    )
    assert [type(e) for e in got] == [Insert, Replace, SetArg, Branch, Remove]
    br = got[3]
    assert (
        isinstance(br, Branch)
        and br.merge == "concat"
        and [n.op for n in br.ops]
        == [
            "Conv2d",
            "BN",
        ]
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("insert 4->6 ReLU", "no edge 4->6"),
        ("replace 42 ReLU", "node 42 does not exist"),
        ("insert 4->5 Swish9", "unknown operation"),
        ("insert 4->5 output", "cannot be added"),
        ("insert 4->5 Add", "merges several inputs"),
        ("branch 0->6 add ReLU concat(dim=1)", "merges several inputs"),
        ("Here is my edit: add a ReLU", "is not an edit"),
        ("branch 0->6 mul ReLU", "merges by add or concat"),
        ("set 2 kernel_size", "key=value"),
        ("remove 4 5", "only a node"),
        ("\n".join(["set 2 kernel_size=3"] * (MAX_EDITS + 1)), "at most"),
        ("", "no edits"),
    ],
)
def test_unreadable_edits_are_errors_naming_the_line(text: str, says: str) -> None:
    with pytest.raises(EditError, match=says):
        parse_edits(text, G)


def test_apply_is_pure_and_keeps_input_positions() -> None:
    new, ids = _apply("insert 6->7 ReLU")
    assert G.inputs_of(7) == [6, 0]  # parent untouched
    assert new.inputs_of(7) == [9, 0] and ids == {9}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("remove 7", "has 2 inputs"),
        ("replace 0 ReLU", "keep it"),
        ("branch 8->6 add ReLU", "cycle"),
        ("set 3 kernel_size=3", "no argument 'kernel_size'"),
        ("remove 4\nset 4 kernel_size=3", "removed by an earlier edit"),
        ("insert 4->5 ReLU\ninsert 4->5 BN", "no edge 4->5 any more"),
    ],
)
def test_edits_the_graph_cannot_take(text: str, says: str) -> None:
    with pytest.raises(EditError, match=says):
        _apply(text)


def test_a_branch_merges_with_the_target_and_takes_its_consumers() -> None:
    new, ids = _apply("branch 0->6 add Conv2d(out_channels=C,kernel_size=1,bias=False) BN")
    g = new
    assert ids == {9, 10, 11}
    assert g.node(11).op == "Add" and g.inputs_of(11) == [6, 10]
    assert g.inputs_of(7) == [11, 0] and not analyze(g).errors
    res, _ = _apply("branch 6->6 add ReLU")  # a residual around new ops
    assert not analyze(res).errors


def test_set_replaces_an_argument_written_by_its_alias() -> None:
    new, _ = _apply("set 2 k=5")
    args = dict(new.node(2).args)
    assert args.get("k") == "5" and "kernel_size" not in args


def test_channel_and_stride_mismatches_are_fixed_and_said() -> None:
    new, ids = _apply("branch 0->8 concat Conv2d(out_channels=C,kernel_size=1) BN")
    assert analyze(new).errors
    fixed, fixes = fix_shapes(new, ids)
    assert not analyze(fixed).errors
    assert fixes == ["1x1 Conv2d to C channels (node 12) between node 11 (128 channels) and node 1"]
    new, ids = _apply("branch 0->6 add Conv2d(out_channels=C/2,kernel_size=3,stride=2)")
    fixed, fixes = fix_shapes(new, ids)
    assert not analyze(fixed).errors
    assert fixes[0].startswith("stride=1 on node 9") and "1x1 Conv2d to C channels" in fixes[1]


def test_what_cannot_be_fixed_is_left_to_the_validator() -> None:
    new, ids = _apply("insert 3->4 LN")  # LN over the width of a (B,C,H,W) map
    fixed, fixes = fix_shapes(new, ids)
    assert fixes == [] and canonical_hash(fixed) == canonical_hash(new)
    assert analyze(fixed).errors


def test_the_grammar_names_only_what_the_parent_has() -> None:
    c = edits_constraint(G).grammar
    assert c is not None
    ok = ["insert 4->5 Dropout(p=0.1)", "set 2 kernel_size=5", "remove 4",
          "branch 0->6 add Conv2d(out_channels=C,kernel_size=1) BN", "replace 5 GELU"]  # fmt: skip
    for line in ok:
        assert c.accepts(line + "\n"), line
    assert c.accepts("".join(f"{x}\n" for x in ok))
    bad = ["insert 4->6 ReLU",  # no such edge
           "replace 42 ReLU", "replace 0 ReLU",  # no such node; the input
           "set 3 kernel_size=5",  # BN has no kernel_size
           "remove 7",  # a merge
           "branch 8->6 add ReLU",  # a cycle
           "insert 4->5 Swish9", "insert 4->5 output", "insert 4->5 Add",
           "# a comment", "I would add a ReLU"]  # fmt: skip
    for line in bad:
        assert not c.accepts(line + "\n"), line
    assert not c.accepts("set 2 kernel_size=5\n" * (MAX_EDITS + 1))


@pytest.mark.parametrize("name", sorted(SEED_BLOCKS))
def test_the_prompt_example_is_a_sentence_and_valid(name: str) -> None:
    g = seed_block(name)
    ex = edit_example(g)
    assert ex.count("\n") >= 1  # at least two kinds shown
    c = edits_constraint(g).grammar
    assert c is not None and c.accepts(ex + "\n")
    new, ids = apply_edits(g, parse_edits(ex, g))
    assert not analyze(fix_shapes(new, ids)[0]).errors


def test_chatter_around_a_fenced_list_is_read_past() -> None:
    text = "Plan: wider kernel.\nHere are the edits:\n```text\nset 2 kernel_size=5\n```\nDone."
    assert parse_edits(text, G) == [SetArg(2, "kernel_size", "5")]
    with pytest.raises(EditError, match="is not an edit"):
        parse_edits("Here are the edits:\nset 2 kernel_size=5", G)
