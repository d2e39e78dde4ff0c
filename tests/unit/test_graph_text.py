"""Parse/serialize of the block format."""

from __future__ import annotations

import pytest

from nas.graph import SEED_BLOCKS, ParseError, parse_block, parse_blocks, serialize

pytestmark = pytest.mark.unit

BASIC = """##B##
0:input
1:output
2:Conv2d(out_channels=C,kernel_size=3,stride=1)
3:BN
4:ReLU
5:reshape(B,C/4,4,H,W)
6:reshape(B,C,H,W)
7:BN()
0->2
2->3
3->4
4->5
5->6
6->7
7->1
"""


def test_round_trip_is_exact() -> None:
    assert serialize(parse_blocks(BASIC)) == BASIC
    for text in SEED_BLOCKS.values():
        assert serialize(parse_blocks(text)) == text


def test_round_trip_normalises_whitespace_and_blank_lines() -> None:
    messy = "\n  ##B##  \n0:input\n\n1:output\n# a comment\n2:ReLU \n 0->2\n2 -> 1\n\n\n"
    assert serialize(parse_blocks(messy)) == "##B##\n0:input\n1:output\n2:ReLU\n0->2\n2->1\n"


def test_nodes_keep_args_as_written() -> None:
    g = parse_block(BASIC)
    assert g.node(2).args == (("out_channels", "C"), ("kernel_size", "3"), ("stride", "1"))
    assert g.node(5).args == ((None, "B"), (None, "C/4"), (None, "4"), (None, "H"), (None, "W"))
    assert g.node(7).text == "BN()" and g.node(3).text == "BN"
    assert g.inputs_of(1) == [7]


def test_several_blocks_and_roles() -> None:
    blocks = parse_blocks(SEED_BLOCKS["resnet_basic"])
    assert [g.role.value for g in blocks.values()] == ["base", "stem", "downsample"]


@pytest.mark.parametrize(
    ("text", "line", "col", "needle"),
    [
        ("0:input\n", 1, 1, "before the first block header"),
        ("##B##\n0:input\n1 output\n", 3, 1, "cannot read node"),
        ("##B##\n0:input\nx:ReLU\n", 3, 1, "cannot read node"),
        ("##B##\n0:input\n2:Conv2d(out_channels=C\n", 3, 24, "not closed"),
        ("##B##\n0:input\n2:Conv2d(out_channels=C,,k=3)\n", 3, 25, "empty argument"),
        ("##B##\n0:input\n0->x\n", 3, 4, "cannot read edge"),
        ("##B##\n0:input\n2:ReLU junk\n", 3, 8, "unexpected"),
        ("##B\n", 1, 1, "bad block header"),
    ],
)
def test_parse_errors_name_line_and_column(text: str, line: int, col: int, needle: str) -> None:
    with pytest.raises(ParseError) as ei:
        parse_blocks(text)
    assert (ei.value.line, ei.value.col) == (line, col)
    assert needle in str(ei.value)
    assert ei.value.hint
