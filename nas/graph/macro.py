"""Macro skeletons: an :class:`ArchSpec` unrolled into the list of block instances it runs.

Every consumer (validator, cost model, compiler, exporter) walks the same :func:`plan`, so
they agree by construction. Default blocks are written in the block format too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from nas.graph.block import BlockGraph, BlockRole
from nas.graph.ops import Shape
from nas.graph.skeleton import CONTRACTS, SpatialContract
from nas.graph.spec import MACRO_KINDS, ArchSpec
from nas.graph.text import parse_block
from nas.graph.validate import Analysis, analyze

__all__ = [
    "Head",
    "Layer",
    "Plan",
    "analyze_layer",
    "default_downsample",
    "default_stem",
    "plan",
]

NB201_STEM = """##nb201_stem##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=3,stride=1,bias=False)
3:BN
0->2
2->3
3->1
"""

# NAS-Bench-201's ResNetBasicblock(C, 2C, stride=2): ReLUConvBN x2 + AvgPool-Conv1x1 shortcut.
NB201_DOWNSAMPLE = """##nb201_downsample##
0:input
1:output
2:ReLU
3:Conv2d(out_channels=dim,kernel_size=3,stride=2,bias=False)
4:BN
5:ReLU
6:Conv2d(out_channels=dim,kernel_size=3,stride=1,bias=False)
7:BN
8:AvgPool2d(kernel_size=2,stride=2)
9:Conv2d(out_channels=dim,kernel_size=1,stride=1,bias=False)
10:Add
0->2
2->3
3->4
4->5
5->6
6->7
0->8
8->9
7->10
9->10
10->1
"""

STAGES_STEM = """##stages_stem##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=3,stride=1)
3:BN
4:ReLU
0->2
2->3
3->4
4->1
"""

STAGES_DOWNSAMPLE = """##stages_downsample##
0:input
1:output
2:Conv2d(out_channels=dim,kernel_size=2,stride=2)
3:BN
4:ReLU
0->2
2->3
3->4
4->1
"""


@cache
def _block(text: str) -> BlockGraph:
    return parse_block(text)


def default_stem(kind: str) -> BlockGraph:
    return _block(NB201_STEM if kind == "nb201" else STAGES_STEM)


def default_downsample(kind: str) -> BlockGraph:
    return _block(NB201_DOWNSAMPLE if kind == "nb201" else STAGES_DOWNSAMPLE)


@lru_cache(maxsize=4096)
def analyze_layer(
    graph: BlockGraph,
    input_shapes: tuple[Shape, ...],
    dim: int,
    role: BlockRole,
    contract: SpatialContract | None = None,
) -> Analysis:
    """:func:`analyze`, memoised (a network repeats each block at a few widths); treat the
    result as read-only. ``contract``: the skeleton's spatial contract."""
    return analyze(graph, input_shapes, dim, role, contract=contract)


@dataclass(frozen=True)
class Layer:
    """One block instance: ``graph`` run on ``input_shapes`` with output width ``dim``."""

    name: str  # e.g. "stem", "stage1.block0", "down1"
    graph: BlockGraph
    role: BlockRole
    input_shapes: tuple[Shape, ...]
    dim: int


@dataclass(frozen=True)
class Head:
    """Classifier after the last stage: ``[BN, ReLU] -> global average pool -> Linear``."""

    pre_act: bool  # NAS-Bench-201's lastact BN + ReLU
    in_channels: int
    num_classes: int


@dataclass(frozen=True)
class Plan:
    layers: tuple[Layer, ...]
    head: Head
    problems: tuple[tuple[str, str], ...]  # (message, hint) of macro-level errors


def plan(spec: ArchSpec, batch: int = 2, input_shape: tuple[int, ...] | None = None) -> Plan:
    """Unroll ``spec``; shapes of later layers assume earlier layers produce their contract
    shape (stem: per its own inference, so the caller re-plans after a failed stem)."""
    problems: list[tuple[str, str]] = []
    if spec.kind not in MACRO_KINDS:
        problems.append(
            (f"unknown macro kind {spec.kind!r}", f"use one of: {', '.join(MACRO_KINDS)}")
        )
    widths, depths = spec.stage_widths(), spec.stage_depths()
    if len(widths) != len(depths) or not widths:
        problems.append(
            (f"widths {list(widths)} and depths {list(depths)} differ in length",
             "give one depth per stage width")
        )  # fmt: skip
    if any(w < 1 for w in widths) or any(d < 0 for d in depths) or spec.num_classes < 1:
        problems.append(
            ("widths, depths and num_classes must be positive", "use e.g. width=16, cells=5")
        )
    for g in (spec.base, spec.stem, spec.downsample):
        if g is not None and len([n for n in g.nodes if n.kind in ("input1", "input2")]):
            problems.append(
                (f"block {g.name!r} is a two-input (DARTS-style) cell",
                 "the nb201 and stages skeletons chain one-input blocks; use a one-input block")
            )  # fmt: skip
    shape_in = tuple(input_shape) if input_shape else spec.input_shape
    c_img, h, w = ((*shape_in, 1, 1, 1))[:3]
    if problems:
        return Plan(
            (),
            Head(spec.kind == "nb201", widths[-1] if widths else 1, spec.num_classes),
            tuple(problems),
        )
    stem = spec.stem or default_stem(spec.kind)
    down = spec.downsample or default_downsample(spec.kind)
    layers: list[Layer] = []
    x: Shape = (batch, c_img, h, w)
    layers.append(Layer("stem", stem, BlockRole.STEM, (x,), widths[0]))
    an = analyze_layer(stem, (x,), widths[0], BlockRole.STEM, CONTRACTS.get(spec.kind))
    out = an.output_shape
    x = out if (an.ok and out is not None) else (batch, widths[0], h, w)
    for s, (width, depth) in enumerate(zip(widths, depths, strict=False), start=1):
        if s > 1:
            layers.append(Layer(f"down{s - 1}", down, BlockRole.DOWNSAMPLE, (x,), width))
            an = analyze_layer(down, (x,), width, BlockRole.DOWNSAMPLE)
            out = an.output_shape
            x = (
                out
                if (an.ok and out is not None)
                else (batch, width, (x[2] + 1) // 2, (x[3] + 1) // 2)
            )
        for i in range(depth):
            layers.append(Layer(f"stage{s}.block{i}", spec.base, BlockRole.BASE, (x,), width))
    return Plan(tuple(layers), Head(spec.kind == "nb201", widths[-1], spec.num_classes), ())
