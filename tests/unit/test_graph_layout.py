"""Layout-aware checks, skeleton spatial contracts and the base check at the run's widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.cli import main
from nas.agents.modifier import base_checker
from nas.graph import ParseError, parse_block, parse_blocks, seed_blocks, validate
from nas.graph.skeleton_check import check_file_blocks, check_in_skeleton

pytestmark = pytest.mark.unit


def block(body: str, name: str = "B") -> str:
    return f"##{name}##\n0:input\n1:output\n" + body


def errors(body: str, **kw: object):  # type: ignore[no-untyped-def]
    return validate(parse_block(block(body)), **kw)  # type: ignore[arg-type]


SE_C16 = (
    "2:AdaptiveAvgPool2d(output_size=1)\n3:Conv2d(out_channels=C/16,kernel_size=1)\n4:ReLU\n"
    "5:Conv2d(out_channels=C,kernel_size=1)\n6:Sigmoid\n7:Mul\n"
    "0->2\n2->3\n3->4\n4->5\n5->6\n6->7\n0->7\n7->1\n"
)


def test_ln_and_linear_on_nchw_are_layout_errors_naming_node_rule_and_fix() -> None:
    (e,) = errors("2:Conv2d(out_channels=C,kernel_size=3)\n3:LN\n0->2\n2->3\n3->1\n")
    assert (e.node, e.rule) == (3, "layout")
    assert "the width" in e.message and "permute(0,2,3,1)" in e.hint
    (e,) = errors("2:Linear(out_channels=C)\n0->2\n2->1\n", channels=32)
    assert (e.node, e.rule) == (2, "layout") and "kernel_size=1" in e.hint
    # the ConvNeXt way is valid: permute -> LN -> Linear -> permute back
    ok = (
        "2:permute(0,2,3,1)\n3:LN\n4:Linear(out_channels=4*C)\n5:GELU\n6:Linear(out_channels=C)\n"
        "7:permute(0,3,1,2)\n8:Add\n0->2\n2->3\n3->4\n4->5\n5->6\n6->7\n7->8\n0->8\n8->1\n"
    )
    assert errors(ok) == []
    # channels-last output of the right size at C=H=W=32 is still wrong
    (e,) = errors("2:permute(0,2,3,1)\n0->2\n2->1\n", channels=32)
    assert e.rule == "layout"


def test_reshape_without_permute_and_batch_merges() -> None:
    # (B,C,H,W) -> (B,H*W,C) by reshape alone leaves positions on the last axis
    (e,) = errors(
        "2:reshape(B,-1,C)\n3:Linear(out_channels=C)\n4:reshape(B,C,H,W)\n0->2\n2->3\n3->4\n4->1\n"
    )
    assert (e.node, e.rule) == (3, "layout") and "permute(0,2,3,1) before reshape" in e.hint
    # the same with the permute is fine, and reshape back round-trips
    ok = (
        "2:permute(0,2,3,1)\n3:reshape(B,H*W,C)\n4:LN\n5:reshape(B,H,W,C)\n6:permute(0,3,1,2)\n"
        "0->2\n2->3\n3->4\n4->5\n5->6\n6->1\n"
    )
    assert errors(ok) == []
    (e,) = [x for x in errors("2:permute(0,2,3,1)\n3:reshape(B*H*W,C)\n4:reshape(B,H,W,C)\n"
                              "5:permute(0,3,1,2)\n0->2\n2->3\n3->4\n4->5\n5->1\n")
            if x.rule == "batch"]  # fmt: skip
    assert e.node == 3 and "keep B" in e.hint
    assert [
        x.rule for x in errors("2:mean(dim=0,keepdim=True)\n3:Add\n0->2\n2->3\n0->3\n3->1\n")
    ] == ["batch"]


def test_size_symbols_in_layer_args_get_their_own_rule() -> None:
    (e,) = errors("2:Conv2d(out_channels=C,kernel_size=W)\n0->2\n2->1\n")
    assert (e.node, e.rule) == (2, "symbol") and "stride" not in e.hint
    # a stride-2 conv in a base block: the hint names the node that shrinks the map
    (e,) = errors("2:Conv2d(out_channels=C,kernel_size=3,stride=2)\n0->2\n2->1\n")
    assert e.rule == "contract" and "node 2" in e.hint and "32x32 into 16x16" in e.hint


def test_stem_contract_of_each_skeleton() -> None:
    blocks = seed_blocks("resnet_basic")
    base = next(iter(blocks))
    stem4 = parse_block(
        "##S_stem##\n0:input\n1:output\n2:Conv2d(out_channels=dim,kernel_size=4,stride=4)\n3:BN\n"
        "0->2\n2->3\n3->1\n"
    )
    f = {base: blocks[base], "S_stem": stem4}
    errs = [e for e in check_file_blocks(f, skeleton="nb201") if e.block == "S_stem"]
    assert errs and all(e.rule == "contract" and e.node == 1 for e in errs)
    assert "nb201" in errs[0].message and "node 2" in errs[0].message and "stride=1" in errs[0].hint
    assert [e for e in check_file_blocks(f, skeleton="imagenet") if e.block == "S_stem"] == []
    assert [e for e in check_file_blocks(f) if e.block == "S_stem"] == []  # lone: only <= H


def test_base_block_checked_at_every_width_before_derive() -> None:
    se = parse_block(block(SE_C16, "SE"))
    assert validate(se) == []  # alone at 64 channels C/16 = 4
    errs = check_in_skeleton(se, kind="nb201", width=8)
    assert errs and "[as stage1.block0" in errs[0].message
    assert errs[0].rule == "bad-arg" and "smaller divisor" in errs[0].hint
    check = base_checker({"kind": "nb201", "width": 8})
    assert check(se) and not base_checker({"kind": "nb201", "width": 16})(se)


def test_parse_errors_name_file_block_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "##Good##\n0:input\n1:output\n0->1\n##Bad##\n0:input\n1:output\n2:Conv2d(k=3\n"
    with pytest.raises(ParseError) as ei:
        parse_blocks(text, source="x.txt")
    assert ei.value.block == "Bad" and ei.value.line == 8
    assert str(ei.value).startswith("x.txt: block 'Bad', line 8")
    f = tmp_path / "bad.txt"
    f.write_text(text)
    assert main(["graph", "validate", str(f)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Bad: [parse]") and str(f) in out and "line 8" in out


def test_cli_validate_skeleton_names_node_rule_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "ln.txt"
    f.write_text(
        block("2:Conv2d(out_channels=C,kernel_size=3)\n3:LN\n0->2\n2->3\n3->1\n", "LNB")
        + "##LNB_stem##\n0:input\n1:output\n2:Conv2d(out_channels=dim,kernel_size=4,stride=4)\n"
        "0->2\n2->1\n"
    )
    assert main(["graph", "validate", str(f), "--skeleton", "nb201"]) == 1
    out = capsys.readouterr().out
    assert "LNB node 3: [layout]" in out and "LNB_stem node 1: [contract]" in out
    assert out.count("fix:") >= 2
