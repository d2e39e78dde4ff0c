"""``archlab graph`` subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.cli import main
from nas.graph import SEED_BLOCKS

pytestmark = pytest.mark.unit

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(["graph", *argv])
    return rc, capsys.readouterr().out


def test_validate_hash_compile_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.txt"
    f.write_text(SEED_BLOCKS["resnet_basic"])
    rc, out = run(capsys, "validate", str(f), "--json")
    assert rc == 0 and json.loads(out) == {"valid": True, "errors": []}
    rc, out = run(capsys, "hash", str(f), "--json")
    assert rc == 0 and set(json.loads(out)) == {
        "ResNetBasic",
        "ResNetBasic_stem",
        "ResNetBasic_downsample",
    }
    rc, out = run(
        capsys,
        "compile",
        str(f),
        "--macro",
        "stages",
        "--widths",
        "16,32",
        "--depths",
        "1,1",
        "--json",
    )
    d = json.loads(out)
    assert rc == 0 and d["output_shape"] == [1, 10] and d["params"] > 0
    rc, out = run(
        capsys,
        "fit",
        str(f),
        "--macro",
        "stages",
        "--max-params",
        "1.5e6",
        "--max-flops",
        "2e8",
        "--json",
    )
    d = json.loads(out)
    assert rc == 0 and d["params"] <= 1.5e6 and d["macs"] <= 2e8 and d["width"] > 0


def test_validate_reports_structured_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.txt"
    f.write_text("##B##\n0:input\n1:output\n2:ReLU\n3:GELU\n0->2\n0->3\n2->1\n")
    rc, out = run(capsys, "validate", str(f), "--json")
    d = json.loads(out)
    assert rc == 1 and d["valid"] is False
    assert d["errors"][0] == {
        "block": "B", "node": 3, "rule": "unused-node",
        "message": "node 3 (GELU) never reaches the output",
        "hint": "feed it forward, e.g. add '3->DST' into an Add/concat, or delete it",
    }  # fmt: skip
    f.write_text("##B##\n0:input\n1 output\n")
    rc, out = run(capsys, "validate", str(f), "--json")
    assert rc == 1 and json.loads(out)["errors"][0]["rule"] == "parse"


def test_from_nb201_compile_and_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "from-nb201", ARCH)
    assert rc == 0 and out.startswith("##nb201_cell##")
    f = tmp_path / "cell.txt"
    f.write_text(out)
    rc, out = run(capsys, "compile", str(f), "--json")
    assert rc == 0 and json.loads(out)["params"] == 344346
    for ext in ("svg", "png"):
        rc, _ = run(capsys, "draw", str(f), "-o", str(tmp_path / f"x.{ext}"))
        assert rc == 0 and (tmp_path / f"x.{ext}").stat().st_size > 100
    assert (tmp_path / "x.svg").read_text().startswith("<svg")
