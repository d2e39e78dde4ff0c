"""The NAD bench's stricter check (nas.agents.nad_bench.done_as_asked): a design counts as
done as asked only when the change its task names is there, not when the task's op kinds
are merely present somewhere (the reference check a real-model answer passed by rewriting an
unrelated node of a block that already held them)."""

from __future__ import annotations

import pytest

from nas.agents.designer import CATALOGUE
from nas.agents.nad_bench import _quality, done_as_asked, run_bench
from nas.graph.edits import EDIT_FORMS, apply_edits, parse_edits
from nas.graph.seeds import seed_block

E2 = EDIT_FORMS["edits@2"]
SE = ("branch {n}->{n} mul AdaptiveAvgPool2d(output_size=1) Conv2d(out_channels=C/4,"
      "kernel_size=1) ReLU Conv2d(out_channels=C,kernel_size=1) Sigmoid")  # fmt: skip


def _after(seed: str, edits: str):  # type: ignore[no-untyped-def]
    g = seed_block(seed)
    return g, apply_edits(g, parse_edits(edits, g, form=E2))[0]


@pytest.mark.parametrize(
    ("seed", "transform", "edits", "asked"),
    [
        ("resnet_bottleneck", "gelu", "replace 4 GELU\nreplace 7 GELU", True),
        ("resnet_bottleneck", "gelu", "insert 4->5 GELU", False),  # the ReLUs all stay
        ("resnet_bottleneck", "gelu", "set 2 bias=True", False),
        ("resnet_basic", "se_attention", SE.format(n=8), True),
        ("se_resnet", "se_attention", "set 2 kernel_size=5", False),  # had pool/Sigmoid/Mul
        ("convnext", "large_kernel", "set 2 kernel_size=9", True),
        ("convnext", "large_kernel", "insert 10->1 Identity", False),
        ("inception", "residual", "branch 0->24 add Identity", True),
        ("inception", "residual", "branch 24->24 add Identity", False),  # not from the input
        (
            "se_resnet",
            "parallel_branch",
            "branch 0->13 add Conv2d(out_channels=C,kernel_size=1,bias=False) BN",
            True,
        ),
        ("se_resnet", "parallel_branch", "insert 4->5 ReLU", False),
    ],
)
def test_done_as_asked(seed: str, transform: str, edits: str, asked: bool) -> None:
    base, new = _after(seed, edits)
    assert done_as_asked(base, new, CATALOGUE[transform]) is asked


def test_stricter_than_the_reference_check() -> None:
    """An SE task on a block that already has an SE gate passes the reference check with
    any change; done_as_asked wants a new gate."""
    base, new = _after("se_resnet", "set 2 kernel_size=5")
    t = CATALOGUE["se_attention"]
    assert _quality(base, new, t) and not done_as_asked(base, new, t)
    assert not done_as_asked(base, base, t) and not done_as_asked(base, None, t)


def test_the_offline_designers_fallbacks_do_not_count() -> None:
    """The rule-based designer applies another transformation when the asked one does not
    apply (convnext has no plain 3x3 conv to enlarge): executable, not done as asked."""
    r = run_bench(None)
    assert all(t.executable for t in r.results)
    missed = {(t.seed, t.transform) for t in r.results if not t.asked}
    assert ("convnext", "large_kernel") in missed and ("resnet_basic", "gelu") not in missed
    assert sum(t.asked for t in r.results) == 99  # of 120 (BENCHMARKS.md, NAD benchmark)
