"""Macro (layer-wise) benchmark spaces: NAS-Bench-Macro and Channel-Bench-Macro.

* NAS-Bench-Macro (Su et al., 2021): 8 searchable layers, each ``0`` = Identity,
  ``1`` = MobileNetV2 block with expansion 3 and kernel 3, ``2`` = expansion 6, kernel 5;
  arch text is the 8-digit code (``"02012100"``), 3^8 = 6,561 networks on CIFAR-10.
* Channel-Bench-Macro (Su et al., 2021, BCNet): 7 layers of a ResNet or MobileNet base,
  each with a width of ``1..4`` quarters of the layer's maximum; arch text is the 7-digit
  code (``"4432214"``), 4^7 = 16,384 networks per base.

Per-position values are readable names (``"mb6_k5"``, ``"0.75x"``) so that principle
learners and prompts can talk about them; the text encoding stays the benchmark's code.

    >>> s = NASBenchMacroSpace()
    >>> s.decode("02012100")[:3]
    ('identity', 'mb6_k5', 'identity')
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from nas.spaces.base import CategoricalSpace, Position, SpaceError

__all__ = ["ChannelBenchMacroSpace", "NASBenchMacroSpace"]

_MACRO_BLOCKS = ("identity", "mb3_k3", "mb6_k5")
_MACRO_EXPANSION = {"identity": 0.0, "mb3_k3": 3.0, "mb6_k5": 6.0}
# FLOPs of the all-identity network and the extra FLOPs of (mb3_k3, mb6_k5) per layer:
# exact for the CIFAR-10 benchmark networks (FLOPs are additive over layers).
_MACRO_BASE_FLOPS = 7_713_280
_MACRO_LAYER_FLOPS = (
    (4_415_488, 10_141_696),
    (6_733_824, 15_040_512),
    (4_304_896, 9_527_296),
    (6_512_640, 13_811_712),
    (6_512_640, 13_811_712),
    (4_249_600, 9_220_096),
    (6_402_048, 13_197_312),
    (6_402_048, 13_197_312),
)


def _code(arch: str, length: int, digits: str, what: str) -> str:
    code = arch.strip()
    if len(code) != length or any(ch not in digits for ch in code):
        raise SpaceError(
            f"{what} arch {arch!r} must be {length} digits from {{{','.join(digits)}}}, "
            f"e.g. {digits[-1] * length!r}"
        )
    return code


class NASBenchMacroSpace(CategoricalSpace):
    """NAS-Bench-Macro: 8 layers x {identity, mb3_k3, mb6_k5}.

    Descriptors: width/depth = mean expansion ratio of the non-identity layers divided by
    their count (0 when all are identity; bounds [0, 6]); FLOPs in MFLOPs (exact, additive).
    """

    kind = "nb-macro"
    positions = tuple(Position(name=f"layer {i}", choices=_MACRO_BLOCKS) for i in range(8))
    feature_bounds = (
        (0.0, 6.0),
        (
            _MACRO_BASE_FLOPS / 1e6,
            (_MACRO_BASE_FLOPS + sum(hi for _, hi in _MACRO_LAYER_FLOPS)) / 1e6,
        ),
    )

    def encode(self, values: Sequence[str]) -> str:
        return "".join(str(_MACRO_BLOCKS.index(v)) for v in values)

    def decode(self, arch: str) -> tuple[str, ...]:
        code = _code(arch, 8, "012", "NAS-Bench-Macro")
        return tuple(_MACRO_BLOCKS[int(ch)] for ch in code)

    def flops(self, arch: str) -> int:
        code = _code(arch, 8, "012", "NAS-Bench-Macro")
        extra = (_MACRO_LAYER_FLOPS[i][int(ch) - 1] for i, ch in enumerate(code) if ch != "0")
        return _MACRO_BASE_FLOPS + sum(extra)

    def features(self, arch: str) -> tuple[float, float]:
        vals = self.decode(arch)
        active = [_MACRO_EXPANSION[v] for v in vals if v != "identity"]
        ratio = (sum(active) / len(active)) / len(active) if active else 0.0
        return (ratio, self.flops(arch) / 1e6)


_WIDTHS = ("0.25x", "0.50x", "0.75x", "1.00x")


class ChannelBenchMacroSpace(CategoricalSpace):
    """Channel-Bench-Macro: 7 layers x width {0.25, 0.5, 0.75, 1.0} of the maximum.

    ``base`` is ``"resnet"`` or ``"mobilenet"`` (two benchmarks over the same codes).
    Descriptors: width/depth = mean width multiplier / 7 layers (bounds [0.25/7, 1/7]) and a
    FLOPs proxy, the sum over adjacent layers of the product of their multipliers (a
    convolution's cost scales with in x out channels; bounds [6/16, 6]). The proxy orders
    networks like the real FLOPs without reading the benchmark.
    """

    positions = tuple(Position(name=f"layer {i}", choices=_WIDTHS) for i in range(7))
    feature_bounds = ((0.25 / 7, 1.0 / 7), (6 / 16, 6.0))

    def __init__(self, base: str = "resnet") -> None:
        if base not in ("resnet", "mobilenet"):
            raise SpaceError(f"Channel-Bench-Macro base {base!r}: use 'resnet' or 'mobilenet'")
        self.base = base
        self.kind = f"channel-{base}"

    def encode(self, values: Sequence[str]) -> str:
        return "".join(str(_WIDTHS.index(v) + 1) for v in values)

    def decode(self, arch: str) -> tuple[str, ...]:
        code = _code(arch, 7, "1234", "Channel-Bench-Macro")
        return tuple(_WIDTHS[int(ch) - 1] for ch in code)

    def features(self, arch: str) -> tuple[float, float]:
        m = [int(ch) / 4 for ch in _code(arch, 7, "1234", "Channel-Bench-Macro")]
        return (sum(m) / len(m) / 7, sum(a * b for a, b in itertools.pairwise(m)))
