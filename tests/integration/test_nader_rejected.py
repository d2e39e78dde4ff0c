"""The blocks NADER's own checker rejected (../shared/fixtures/nader/experiences, the base and
stem failures of the develop logs: 111 blocks), judged by our parser and validator.

A block counts as rejected here when it does not parse, or the validator finds an error alone
at 64 channels (stems with NADER's ImageNet contract, ``stem_down_scale=4``, which their logs
were checked with), or at some width in 8..256 that a params/FLOPs width fit may pick (NADER
checked blocks inside its network, at its own widths). The few blocks accepted here are
listed with the reason (NADER's symbolic checker is stricter than PyTorch there).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from nas.graph import ParseError, parse_blocks
from nas.graph.skeleton import contract_for
from nas.graph.validate import analyze
from tests.conftest import shared_path

# where -> why PyTorch (and we) accept what NADER's symbolic checker rejected
ACCEPTED = {
    "allfailed/base/convnext_macro7/0": "Mul of (B,C,H,W) by reshape(-1,1,1,1) of (B,1): a "
    "per-image gate that broadcasts in PyTorch; NADER's checker does not resolve -1",
    "allfailed/base/resnet_bottle_micro3/1": "reshape(-1,H*W,C/4) after permute, LN, reshape "
    "back: PyTorch runs it; NADER's checker cannot place the -1 batch",
    "allfailed/base/resnet_bottle_micro10/2": "reshape(-1,H*W,C/4) -> Linear over channels -> "
    "reshape back: valid; NADER's checker cannot place the -1 batch",
}
WIDTHS = range(8, 257, 4)


def _rejected_blocks() -> Iterator[tuple[str, str, str, str]]:
    """(where, role, block text, NADER's error) of every base/stem failure in both logs."""
    d = shared_path("fixtures", "nader", "experiences")
    allfailed = json.loads((d / "develop_allfailed_240709_log.json").read_text())
    f2s = json.loads((d / "develop_fail2success_240709_log.json").read_text())
    for part in ("base", "stem"):
        for model, v in allfailed.get(part, {}).items():
            for i, e in enumerate(v["errors"]):
                yield (
                    f"allfailed/{part}/{model}/{i}",
                    part,
                    e["fail_block"][f"{part}_block"],
                    e["error"],
                )
        for model, lst in f2s.get(part, {}).items():
            for i, e in enumerate(lst):
                yield f"f2s/{part}/{model}/{i}", part, e["fail_block"][f"{part}_block"], e["error"]


def _verdict(role: str, text: str) -> str:
    """``parse``, ``alone`` (invalid at 64 channels), ``width`` (only at another width) or
    ``valid``."""
    try:
        g = next(iter(parse_blocks(text.replace("###", "##")).values()))
    except ParseError:
        return "parse"
    contract = contract_for("imagenet") if role == "stem" else None
    if analyze(g, contract=contract).errors:
        return "alone"
    if any(analyze(g, channels=c, contract=contract).errors for c in WIDTHS):
        return "width"
    return "valid"


def test_nader_rejected_designs_are_rejected_here() -> None:
    verdicts = {w: (_verdict(role, text), err) for w, role, text, err in _rejected_blocks()}
    counts: dict[str, int] = {}
    for v, _ in verdicts.values():
        counts[v] = counts.get(v, 0) + 1
    accepted = {w for w, (v, _) in verdicts.items() if v == "valid"}
    assert len(verdicts) == 111
    assert accepted == set(ACCEPTED), sorted(accepted ^ set(ACCEPTED))
    # the figures in docs/agents.md
    assert counts == {"parse": 6, "alone": 95, "width": 7, "valid": 3}, counts
    # every layout rejection of NADER ("the last dimension must be the channel dimension")
    layout = [w for w, (v, e) in verdicts.items() if "last dimension must be" in e]
    assert len(layout) >= 6 and all(verdicts[w][0] != "valid" for w in layout)
