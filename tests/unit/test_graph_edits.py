"""Edits against a parent block (nas.graph.edits): read, applied, fixed, and held to a
grammar that names only what the parent has."""

from __future__ import annotations

import pytest

from nas.graph.block import BlockGraph
from nas.graph.edits import (
    EDIT_FORMS,
    KINDS,
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
    headed_constraint,
    kind_constraint,
    node_guide,
    parse_edits,
    parse_kind,
)
from nas.graph.hashing import canonical_hash
from nas.graph.seeds import SEED_BLOCKS, seed_block
from nas.graph.text import parse_blocks
from nas.graph.validate import analyze

G = seed_block("resnet_basic")  # 0 in, 2 conv, 3 BN, 4 ReLU, 5 conv, 6 BN, 7 Add(6, 0), 8 ReLU


def _apply(text: str) -> tuple[BlockGraph, set[int]]:
    new, ids, notes = apply_edits(G, parse_edits(text, G))
    assert notes == []  # nothing dropped
    return new, ids


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


def test_a_gate_map_with_other_channels_is_projected_before_its_sigmoid() -> None:
    """edits@4 (``fix_gates``): the real model wrote an SE gate whose map kept C/4 channels
    (``branch 10->10 mul AdaptiveAvgPool2d(...) Conv2d(out_channels=C/4,...) Sigmoid``, DEV2);
    the fix projects the map to the channels it weighs before the Sigmoid, so the gate stays
    in (0, 1). Without the flag (edits@1-3, whose recorded answers replay) nothing is fixed."""
    b = seed_block("resnet_bottleneck")
    answer = ("Change: channel attention\nbranch 10->10 mul AdaptiveAvgPool2d(output_size=1) "
              "Conv2d(out_channels=C/4,kernel_size=1) Sigmoid\n")  # fmt: skip
    new, ids, _ = apply_edits(b, parse_edits(answer, b, form=EDIT_FORMS["edits@4"]))
    assert analyze(new).errors and fix_shapes(new, ids)[1] == []
    fixed, fixes = fix_shapes(new, ids, gates=True)
    assert not analyze(fixed).errors and len(fixes) == 1 and "gate map had 16 channels" in fixes[0]
    sig = next(n.index for n in fixed.nodes if n.kind == "sigmoid")
    (proj,) = fixed.inputs_of(sig)
    assert fixed.node(proj).text.startswith("Conv2d(out_channels=C,kernel_size=1")


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
    new, ids, _ = apply_edits(g, parse_edits(ex, g))
    assert not analyze(fix_shapes(new, ids)[0]).errors


def test_chatter_around_a_fenced_list_is_read_past() -> None:
    text = "Plan: wider kernel.\nHere are the edits:\n```text\nset 2 kernel_size=5\n```\nDone."
    assert parse_edits(text, G) == [SetArg(2, "kernel_size", "5")]
    with pytest.raises(EditError, match="is not an edit"):
        parse_edits("Here are the edits:\nset 2 kernel_size=5", G)


def test_a_set_on_a_node_replaced_earlier_is_dropped_and_said() -> None:
    # the real model's answer (bench/results/after/nader_edits_cassette.json): each line is
    # fine against the parent alone, the set was written for node 2's old op
    new, ids, notes = apply_edits(
        G, parse_edits("replace 2 ReLU\ninsert 4->5 GELU\nset 2 kernel_size=5", G)
    )
    assert new.node(2).op == "ReLU" and dict(new.node(2).args) == {}
    assert new.node(9).op == "GELU" and ids == {2, 9}
    assert notes == ["edit 3 (set 2 kernel_size=5) dropped: edit 1 replaced node 2 by ReLU, "
                     "which has no argument 'kernel_size' (it has: none)"]  # fmt: skip


def test_a_set_the_new_op_has_applies_to_the_new_op() -> None:
    new, _, notes = apply_edits(
        G, parse_edits("replace 2 Conv2d(out_channels=C,kernel_size=3)\nset 2 kernel_size=7", G)
    )
    assert notes == [] and dict(new.node(2).args) == {"out_channels": "C", "kernel_size": "7"}


def test_a_set_on_a_node_not_replaced_still_fails_loudly() -> None:
    with pytest.raises(EditError, match="node 3 has no argument 'kernel_size'"):
        apply_edits(G, parse_edits("replace 2 ReLU\nset 3 kernel_size=5", G))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("replace 2 Add", "node 2 has 1 input; Add merges two or more"),
        ("replace 4 concat(dim=1)", "concat merges two or more"),
        ("replace 7 ReLU", "node 7 merges 2 inputs; ReLU takes one"),
    ],
)
def test_a_replace_keeps_the_node_s_arity(text: str, says: str) -> None:
    with pytest.raises(EditError, match=says):
        apply_edits(G, parse_edits(text, G))
    c = edits_constraint(G).grammar
    assert c is not None and not c.accepts(text + "\n")


def test_a_merge_may_become_another_merge() -> None:
    c = edits_constraint(G).grammar
    assert c is not None and c.accepts("replace 7 Mul\n")
    new, _ = _apply("replace 7 Mul")
    assert new.node(7).op == "Mul" and not analyze(new).errors


# 0 in; 2 ReLU reads 0; 3 Add(2, 0); removing 2 would make the Add read node 0 twice
_TWO = parse_blocks(
    "##B##\n0:input\n1:output\n2:ReLU\n3:Add\n4:BN\n0->2\n2->3\n0->3\n3->4\n4->1\n"
)["B"]


def test_a_remove_that_leaves_a_merge_one_input_is_refused() -> None:
    with pytest.raises(EditError, match="leaves merge node 3 .Add. with 1 distinct input"):
        apply_edits(_TWO, parse_edits("remove 2", _TWO))
    c = edits_constraint(_TWO).grammar
    assert c is not None and not c.accepts("remove 2\n") and c.accepts("remove 4\n")


E2 = EDIT_FORMS["edits@2"]


def test_edits2_holds_three_edits_and_a_gate_of_five_ops() -> None:
    se = ("branch 8->8 mul AdaptiveAvgPool2d(output_size=1) Conv2d(out_channels=C/4,"
          "kernel_size=1) ReLU Conv2d(out_channels=C,kernel_size=1) Sigmoid")  # fmt: skip
    c = edits_constraint(G, E2).grammar
    assert c.accepts(se + "\n") and c.accepts("set 2 kernel_size=5\n" * 3)
    assert not c.accepts("set 2 kernel_size=5\n" * 4)
    assert not edits_constraint(G).grammar.accepts(se + "\n")  # edits@1: add/concat, 4 ops
    (b,) = parse_edits(se, G, form=E2)
    assert isinstance(b, Branch) and b.merge == "mul" and len(b.ops) == 5
    new, _, _ = apply_edits(G, [b])
    assert not analyze(new).errors  # the gate broadcasts over H and W
    with pytest.raises(EditError, match="at most 3"):
        parse_edits("set 2 kernel_size=5\n" * 4, G, form=E2)
    with pytest.raises(EditError, match="merges by add or concat"):
        parse_edits(se, G)


def test_the_node_guide_says_where_each_op_is() -> None:
    assert node_guide(G) == (
        "Node 0 is the block input, node 1 the output (it reads node 8). "
        "Nodes by operation: Conv2d 2, 5; BN 3, 6; ReLU 4, 8; Add 7."
    )


def test_a_change_line_is_hostile_input_like_the_rest() -> None:
    """A `Change:` first line is skipped as a header, never interpreted; the answer's size
    is checked before anything reads it, and an answer of only a header is an EditError
    (the only error parse_edits raises), so a stored crafted answer cannot stop a resume."""
    from nas.graph.limits import AnswerLimits

    form = EDIT_FORMS["edits@2"]
    assert parse_edits("Change: $(rm -rf /) {{x}}\nset 2 kernel_size=5\n", G, form=form) == [
        SetArg(2, "kernel_size", "5")
    ]
    small = AnswerLimits(max_answer_bytes=200)
    with pytest.raises(EditError, match="too long"):
        parse_edits("Change: " + "x" * 100_000 + "\nset 2 kernel_size=5\n", G, small, form)
    with pytest.raises(EditError, match="no edits"):
        parse_edits("```\nChange: replace GELU\n```", G, form=form)
    with pytest.raises(EditError, match="at most 3"):
        parse_edits("Change: set kernel_size\n" + "set 2 kernel_size=5\n" * 4, G, form=form)


E3 = EDIT_FORMS["edits@3"]


@pytest.mark.parametrize(
    "answer",
    [
        "Change: swap ReLU for GELU\nreplace 4 GELU\nreplace 8 GELU\n",
        "Change: argument kernel_size of Conv2d\nset 2 kernel_size=5\n",
        "Change: insert Dropout\ninsert 4->5 Dropout(p=0.1)\n",
        "Change: spatial attention\nbranch 6->6 mul Conv2d(out_channels=1,kernel_size=7) Sigmoid\n",
        "Change: channel attention\nbranch 6->6 mul AdaptiveAvgPool2d(output_size=1) "
        "Conv2d(out_channels=C/4,kernel_size=1) ReLU Conv2d(out_channels=C,kernel_size=1) "
        "Sigmoid\n",
        "Change: skip connection\nbranch 0->6 add Identity\n",
        "Change: parallel branch\nbranch 2->6 concat Conv2d(out_channels=C,kernel_size=1)\n",
        "Change: remove ReLU\nremove 4\n",
        "```\nChange: swap Add for Mul\nreplace 7 Mul\n```\n",
    ],
)
def test_edits3_names_the_change_then_holds_to_it(answer: str) -> None:
    """edits@3: each kind of first line, with edits of that kind, is in the grammar and
    reads and applies to the parent like any edit list (the header is skipped)."""
    c = headed_constraint(G, E3)
    assert c.name == "edits@3" and c.grammar is not None and c.grammar.accepts(answer)
    new, _, _ = apply_edits(G, parse_edits(answer, G, form=E3))
    assert canonical_hash(new) != canonical_hash(G)


@pytest.mark.parametrize(
    "answer",
    [
        "Change: swap ReLU for ReLU\nreplace 4 ReLU\n",  # the same op after `becomes`
        "Change: swap ReLU for GELU\nreplace 2 GELU\n",  # node 2 is a Conv2d, not a ReLU
        "Change: swap ReLU for Add\nreplace 4 Add\n",  # a one-input node stays one-input
        "Change: swap ReLU for GELU\nset 2 kernel_size=5\n",  # an edit of another kind
        "Change: spatial attention\nbranch 6->6 mul ReLU\n",  # a gate ends in a Sigmoid
        "Change: spatial attention\nbranch 6->6 mul Sigmoid\n",  # its map is computed
        "Change: channel attention\nbranch 6->6 mul ReLU Sigmoid\n",  # it starts by a squeeze
        "Change: spatial attention\nbranch 6->6 mul AdaptiveAvgPool2d(output_size=1) Sigmoid\n",
        "Change: channel attention\nbranch 2->6 mul AdaptiveAvgPool2d(output_size=1) Sigmoid\n",
        "Change: parallel branch\nbranch 0->7 add Identity\n",  # a path of Identity is a skip
        "Change: skip connection\nbranch 2->6 add Identity\n",  # from the block input
        "Change: argument kernel_size of BN\nset 3 kernel_size=5\n",  # BN has no kernel_size
        "Change: remove Conv2d\nremove 9\n",  # no node 9
        "replace 4 GELU\n",  # no first line
        "Change: swap ReLU for GELU\n" + "replace 4 GELU\n" * 4,  # at most 3 edits
    ],
)
def test_edits3_refuses_a_change_it_does_not_name(answer: str) -> None:
    grammar = headed_constraint(G, E3).grammar
    assert grammar is not None and not grammar.accepts(answer)


def test_only_a_headed_form_has_a_headed_grammar() -> None:
    with pytest.raises(ValueError, match="no first line"):
        headed_constraint(G, E2)
    for name in SEED_BLOCKS:
        for g in parse_blocks(SEED_BLOCKS[name]).values():
            if g.edges:  # every seed block has a headed grammar
                grammar = headed_constraint(g, E3).grammar
                assert grammar is not None and grammar.gbnf()


@pytest.mark.parametrize(("version", "form", "end"), [(4, "edits@3", "At most"),
                                                     (5, "edits@4", "Insert, channel")])  # fmt: skip
def test_the_headed_prompt_examples_are_sentences_of_their_grammar_and_valid(
    version: int, form: str, end: str
) -> None:
    """modifier_edits@4 (edits@3) and @5 (edits@4) show one answer per kind of change on a
    toy block: each is in its form's grammar of that block, applies, and gives a block the
    validator accepts (an example the code could not take would teach the model a wrong
    form)."""
    from nas.prompts.templates import load_prompt

    system = load_prompt("modifier_edits", version).system
    toy_line = system[system.index("(Toy: ") :].splitlines()[0]
    assert "0 input, 2 Conv2d" in toy_line
    toy = parse_blocks(
        "##Toy##\n0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3,bias=False)\n3:BN\n"
        "4:ReLU\n5:Conv2d(out_channels=C,kernel_size=3,bias=False)\n6:BN\n7:ReLU\n"
        "0->2\n2->3\n3->4\n4->5\n5->6\n6->7\n7->1\n"
    )["Toy"]
    examples = system[system.index("one per kind:\n") : system.index(end)]
    answers = ["\n".join(p.splitlines()[1:]) + "\n" for p in examples.split("Proposal: ")[1:]]
    grammar = headed_constraint(toy, EDIT_FORMS[form]).grammar
    assert grammar is not None and len(answers) == 8
    heads = {a.splitlines()[0].split()[1] for a in answers}
    assert heads == {"swap", "argument", "insert", "channel", "spatial", "skip", "parallel",
                     "remove"}  # fmt: skip
    for answer in answers:
        assert grammar.accepts(answer), answer
        new, _, _ = apply_edits(toy, parse_edits(answer, toy, form=EDIT_FORMS[form]))
        assert not analyze(new).errors, answer


E4 = EDIT_FORMS["edits@4"]


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [
        ("Change: swap ReLU for GELU\nreplace 4 GELU\nreplace 8 GELU\n", True),
        ("Change: argument kernel_size of Conv2d\nset 2 kernel_size=5\nset 5 kernel_size=5\n",
         True),
        ("Change: argument kernel_size of Conv2d\nset 2 kernel_size=15\n", True),
        ("Change: argument kernel_size of Conv2d\nset 2 kernel_size=4\n", False),  # even
        ("Change: argument kernel_size of Conv2d\nset 2 kernel_size=16\n", False),
        ("Change: argument dilation of Conv2d\nset 2 dilation=2\n", True),  # only kernels odd
        ("Change: insert Dropout\ninsert 4->5 Dropout(p=0.1)\n", True),
        ("Change: insert BN\ninsert 3->4 BN\ninsert 4->5 BN\n", False),  # one module
        ("Change: channel attention\nbranch 6->6 mul AdaptiveAvgPool2d(output_size=1) "
         "Sigmoid\nbranch 7->7 mul AdaptiveAvgPool2d(output_size=1) Sigmoid\n", False),
        ("Change: skip connection\nbranch 0->6 add Identity\n", True),
        ("Change: skip connection\nbranch 0->6 add Identity\nbranch 0->7 add Identity\n",
         False),
        ("Change: parallel branch\nbranch 0->7 add Conv2d(out_channels=C,kernel_size=1) BN\n",
         True),
        ("Change: remove ReLU\nremove 4\n", True),
        ("Change: remove ReLU\nremove 4\nremove 4\n", False),  # the filler a model writes
    ],
)  # fmt: skip
def test_edits4_one_line_per_module_and_odd_kernels(answer: str, accepted: bool) -> None:
    """edits@4: a kind that adds or removes one module is one line (the real model filled
    three slots with copies: ``remove 10`` thrice, ``insert 3->4 BN`` twice, which then no
    longer applies); a kernel_size is odd (``set 2 kernel_size=16`` broke the map size of
    ConvNeXt's residual sum); the rest as edits@3. What the grammar accepts applies."""
    grammar = headed_constraint(G, E4).grammar
    assert grammar is not None and grammar.accepts(answer) is accepted
    if accepted:
        new, _, _ = apply_edits(G, parse_edits(answer, G, form=E4))
        assert canonical_hash(new) != canonical_hash(G) and not analyze(new).errors


def test_a_kind_holds_the_headed_grammar_to_its_heads() -> None:
    """headed_constraint(kind=...): only the heads of that kind; every kind has heads on
    resnet_basic; a kind a block cannot take, or no kind at all, is refused; parse_kind reads
    the kind call's answer (a ``Kind:`` prefix and case aside) and nothing else."""
    for kind in KINDS:
        grammar = headed_constraint(G, E4, kind).grammar
        assert grammar is not None
        assert grammar.accepts("Change: swap ReLU for GELU\nreplace 4 GELU\n") is (kind == "swap")
        assert grammar.accepts("Change: remove ReLU\nremove 4\n") is (kind == "remove")
    with pytest.raises(ValueError, match="one of"):
        headed_constraint(G, E4, "rewrite")
    bare = parse_blocks("##B##\n0:input\n1:output\n2:Add\n0->2\n0->2\n2->1\n")["B"]
    with pytest.raises(ValueError, match="no change of kind 'remove'"):
        headed_constraint(bare, E4, "remove")
    assert [parse_kind(t) for t in ("Kind: Swap\n", " parallel branch.", "swap ReLU", "")] == [
        "swap", "parallel branch", None, None]  # fmt: skip
    assert kind_constraint().grammar.accepts("skip connection")
