"""Validator rules: every error is structured and says how to fix it."""

from __future__ import annotations

import pytest

from nas.graph import SEED_BLOCKS, ArchSpec, parse_block, seed_block, seed_blocks, validate
from nas.graph.validate import analyze

pytestmark = pytest.mark.unit


def block(body: str, name: str = "B") -> str:
    return f"##{name}##\n0:input\n1:output\n" + body


def rules(text: str, **kw: object) -> list[str]:
    errs = validate(parse_block(text), **kw)  # type: ignore[arg-type]
    for e in errs:
        assert e.message and e.hint and e.rule and e.block
    return [e.rule for e in errs]


@pytest.mark.parametrize("name", sorted(SEED_BLOCKS))
def test_seed_blocks_are_valid(name: str) -> None:
    for g in seed_blocks(name).values():
        assert validate(g) == []


@pytest.mark.parametrize(
    ("body", "rule", "node"),
    [
        ("2:ReLU\n3:ReLU\n0->2\n2->3\n3->2\n3->1\n", "cycle", 2),
        ("2:ReLU\n3:ReLU\n0->2\n0->3\n2->1\n", "unused-node", 3),
        ("2:ReLU\n3:ReLU\n0->2\n3->2\n2->1\n", "dangling-node", 3),
        ("2:Relu6\n0->2\n2->1\n", "unknown-op", 2),
        ("2:ReLU\n0->2\n2->9\n", "unknown-node", 9),
        ("2:ReLU\n3:ReLU\n0->2\n0->3\n2->1\n3->1\n", "arity", 1),
        ("2:Add\n0->2\n2->1\n", "arity", 2),
        ("2:Conv2d(out_channels=C,kernel=3,pad=1)\n0->2\n2->1\n", "unknown-arg", 2),
        ("2:Conv2d(out_channels=C)\n0->2\n2->1\n", "missing-arg", 2),
        ("2:Conv2d(out_channels=C,kernel_size=3,groups=5)\n0->2\n2->1\n", "groups", 2),
        (
            "2:Conv2d(out_channels=2*C,kernel_size=1)\n3:Add\n0->2\n2->3\n0->3\n3->1\n",
            "broadcast",
            3,
        ),
        ("2:MaxPool2d(kernel_size=2)\n3:concat(dim=1)\n0->2\n0->3\n2->3\n3->1\n", "concat", 3),
        ("2:reshape(B,C,H)\n0->2\n2->1\n", "reshape", 2),
        ("2:permute(0,2,1)\n0->2\n2->1\n", "permute", 2),
        (
            "2:reshape(B,C,H*W)\n3:Conv2d(out_channels=C,kernel_size=1)\n0->2\n2->3\n3->1\n",
            "rank",
            3,
        ),
        ("2:Conv2d(out_channels=C,kernel_size=3,stride=2)\n0->2\n2->1\n", "contract", 1),
        ("2:Conv2d(out_channels=C/2,kernel_size=3)\n0->2\n2->1\n", "contract", 1),
        ("2:mean(dim=5)\n0->2\n2->1\n", "dim", 2),
        ("2:Conv2d(out_channels=Q,kernel_size=3)\n0->2\n2->1\n", "bad-arg", 2),
    ],
)
def test_each_rule(body: str, rule: str, node: int) -> None:
    errs = validate(parse_block(block(body)))
    assert rule in [e.rule for e in errs], errs
    e = next(e for e in errs if e.rule == rule)
    assert e.node == node
    assert e.hint


def test_io_count_and_io_edges() -> None:
    assert "io-count" in rules("##B##\n0:input\n2:ReLU\n0->2\n")
    assert "io-count" in rules("##B##\n0:input\n5:input\n1:output\n0->1\n5->1\n")
    assert "io-count" in rules("##B##\n0:input1\n1:output\n0->1\n")
    assert "io-edges" in rules("##B##\n0:input\n1:output\n2:ReLU\n0->2\n2->1\n1->2\n") or (
        "cycle" in rules("##B##\n0:input\n1:output\n2:ReLU\n0->2\n2->1\n1->2\n")
    )


def test_unknown_op_suggests_close_names() -> None:
    (e,) = validate(parse_block(block("2:Conv2dd(out_channels=C,kernel_size=3)\n0->2\n2->1\n")))
    assert e.rule == "unknown-op" and "did you mean Conv2d" in e.hint
    # op names are case-insensitive
    assert (
        validate(parse_block(block("2:conv2D(out_channels=C,kernel_size=3)\n0->2\n2->1\n"))) == []
    )


def test_ln_broadcast_and_reshape_shapes() -> None:
    # SE with reshape + Linear + broadcast Mul; LN over the last dim after permute
    g = parse_block(
        block(
            "2:AdaptiveAvgPool2d(output_size=1)\n3:reshape(B,C)\n4:Linear(out_channels=C/4)\n"
            "5:ReLU\n6:Linear(out_channels=C)\n7:Sigmoid\n8:reshape(B,C,1,1)\n9:Mul\n"
            "10:permute(0,2,3,1)\n11:LN\n12:permute(0,3,1,2)\n"
            "0->2\n2->3\n3->4\n4->5\n5->6\n6->7\n7->8\n8->9\n0->9\n9->10\n10->11\n11->12\n12->1\n"
        )
    )
    an = analyze(g, channels=32, spatial=8)
    assert an.ok, an.errors
    s = an.shapes
    assert s[3] == (2, 32) and s[4] == (2, 8) and s[8] == (2, 32, 1, 1)
    assert s[9] == (2, 32, 8, 8) and s[10] == (2, 8, 8, 32) and s[12] == (2, 32, 8, 8)


def test_errors_continue_past_independent_problems() -> None:
    g = parse_block(
        block(
            "2:Conv2d(out_channels=C,kernel_size=3,groups=5)\n3:Conv2d(out_channels=C,kernel_size=3,groups=7)\n"
            "4:Add\n0->2\n0->3\n2->4\n3->4\n4->1\n"
        )
    )
    assert [(e.node, e.rule) for e in validate(g)] == [(2, "groups"), (3, "groups")]


def test_block_contracts_by_role() -> None:
    stem_ok = "##X_stem##\n0:input\n1:output\n2:Conv2d(out_channels=dim,kernel_size=4,stride=4)\n0->2\n2->1\n"
    assert validate(parse_block(stem_ok)) == []
    down_bad = "##X_downsample##\n0:input\n1:output\n2:Conv2d(out_channels=dim,kernel_size=3)\n0->2\n2->1\n"
    assert [e.rule for e in validate(parse_block(down_bad))] == ["contract"]


def test_spec_validation_reports_width_context() -> None:
    text = block("2:Conv2d(out_channels=C,kernel_size=3,groups=32)\n0->2\n2->1\n")
    spec = ArchSpec(parse_block(text), kind="nb201", width=16)
    errs = validate(spec)
    assert errs and errs[0].rule == "groups" and "stage1" in errs[0].message
    assert validate(ArchSpec(parse_block(text), kind="nb201", width=32)) == []


def test_spec_macro_errors() -> None:
    base = seed_block("resnet_basic")
    assert [e.rule for e in validate(ArchSpec(base, kind="darts"))] == ["macro"]
    two = parse_block("##T##\n0:input1\n1:input2\n2:output\n3:Add\n0->3\n1->3\n3->2\n")
    assert validate(two) == []
    assert "macro" in [e.rule for e in validate(ArchSpec(two))]
