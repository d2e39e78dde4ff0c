"""The offline, rule-based designer: a catalogue of real graph transformations.

When no LLM endpoint is configured, NADER still runs: the designer stands in for the
Modifier and applies one :class:`Transformation` per suggestion (add SE attention, a
residual path, depthwise-separable convs, an inverted bottleneck, a dilated branch,
activation/normalization swaps, ...). Every candidate and record it makes says
``agent="rule-based-designer"``. :data:`BUILTIN_KNOWLEDGE` — written for archlab, not
extracted from papers — pairs each transformation with its idea (the "inspiration") and a
micro-level instruction, so the offline loop has a knowledge pool.

    >>> from nas.graph.seeds import seed_block
    >>> g = CATALOGUE["se_attention"].apply(seed_block("resnet_basic"), 0)
    >>> sorted({n.kind for n in g.nodes} - {n.kind for n in seed_block("resnet_basic").nodes})
    ['adaptiveavgpool2d', 'mul', 'sigmoid']
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from nas.agents.graph_edit import (
    arg,
    in_channels_expr,
    insert_after,
    make_node,
    next_index,
    out_source,
    replace_node,
)
from nas.graph.block import BlockGraph, Node

__all__ = [
    "BUILTIN_KNOWLEDGE",
    "CATALOGUE",
    "DESIGNER_NAME",
    "RuleBasedDesigner",
    "Transformation",
    "match_transformation",
]

DESIGNER_NAME = "rule-based-designer"
Apply = Callable[[BlockGraph, int], BlockGraph | None]


@dataclass(frozen=True)
class Transformation:
    name: str
    idea: str  # macro-level inspiration (why)
    instruction: str  # micro-level suggestion (what to do to the graph)
    keywords: tuple[str, ...]  # words that map a free-text suggestion to this rule
    adds: tuple[str, ...]  # op kinds the result must contain (NAD bench quality check)
    apply: Apply  # (base block, choice seed) -> new block, or None when not applicable


def _convs(g: BlockGraph, min_k: int = 2, plain: bool = True) -> list[int]:
    out = []
    for n in g.nodes:
        if n.kind != "conv2d":
            continue
        k = arg(n, "kernel_size", "1") or "1"
        groups = arg(n, "groups", "1")
        if k.isdigit() and int(k) >= min_k and (not plain or groups in ("1", None)):
            out.append(n.index)
    return out


def _pick(items: list[int], choice: int) -> int | None:
    return items[choice % len(items)] if items else None


def _conv_with_inputs(g: BlockGraph, choice: int) -> tuple[int, Node, str] | None:
    """A plain spatial conv picked by ``choice``, its node and its input-channel expression
    (None when the block has no such conv or its input channels cannot be named)."""
    idx = _pick(_convs(g), choice)
    if idx is None:
        return None
    cin = in_channels_expr(g, idx)
    return None if cin is None else (idx, g.node(idx), cin)


def _se(g: BlockGraph, choice: int) -> BlockGraph | None:
    x = out_source(g)
    g2, ids = insert_after(
        g,
        x,
        [
            ("AdaptiveAvgPool2d", {"output_size": 1}),
            ("Conv2d", {"out_channels": "C/4", "kernel_size": 1}),
            ("ReLU", {}),
            ("Conv2d", {"out_channels": "C", "kernel_size": 1}),
            ("Sigmoid", {}),
            ("Mul", {}),
        ],
    )
    return BlockGraph(g2.name, g2.nodes, (*g2.edges, (x, ids[-1])))


def _residual(g: BlockGraph, choice: int) -> BlockGraph | None:
    x = out_source(g)
    g2, ids = insert_after(g, x, [("Add", {})])
    return BlockGraph(g2.name, g2.nodes, (*g2.edges, (g.input_nodes[0].index, ids[-1])))


def _depthwise(g: BlockGraph, choice: int) -> BlockGraph | None:
    picked = _conv_with_inputs(g, choice)
    if picked is None:
        return None
    idx, n, cin = picked
    k = arg(n, "kernel_size", "3")
    return replace_node(
        g,
        idx,
        [
            ("Conv2d", {"out_channels": cin, "kernel_size": k, "groups": cin, "bias": "False"}),
            ("Conv2d", {"out_channels": arg(n, "out_channels"), "kernel_size": 1, "bias": "False"}),
        ],
    )


def _inverted(g: BlockGraph, choice: int) -> BlockGraph | None:
    picked = _conv_with_inputs(g, choice)
    if picked is None:
        return None
    idx, n, cin = picked
    wide = f"({cin})*4"
    k = arg(n, "kernel_size", "3")
    return replace_node(
        g,
        idx,
        [
            ("Conv2d", {"out_channels": wide, "kernel_size": 1, "bias": "False"}),
            ("BN", {}),
            ("ReLU", {}),
            ("Conv2d", {"out_channels": wide, "kernel_size": k, "groups": wide, "bias": "False"}),
            ("BN", {}),
            ("ReLU", {}),
            ("Conv2d", {"out_channels": arg(n, "out_channels"), "kernel_size": 1, "bias": "False"}),
        ],
    )


def _dilated(g: BlockGraph, choice: int) -> BlockGraph | None:
    idx = _pick(_convs(g), choice)
    if idx is None:
        return None
    n = g.node(idx)
    src = g.inputs_of(idx)[0]
    g2, ids = insert_after(g, idx, [("Add", {})])
    d = next_index(g2)
    dil = make_node(
        d,
        "Conv2d",
        {"out_channels": arg(n, "out_channels"), "kernel_size": 3, "dilation": 2, "bias": "False"},
    )
    return BlockGraph(g2.name, (*g2.nodes, dil), (*g2.edges, (src, d), (d, ids[0])))


def _large_kernel(g: BlockGraph, choice: int) -> BlockGraph | None:
    idx = _pick([i for i in _convs(g, plain=False) if arg(g.node(i), "kernel_size") == "3"], choice)
    if idx is None:
        return None
    n = g.node(idx)
    args = tuple((k, "5" if k == "kernel_size" else v) for k, v in n.args)
    nodes = tuple(type(n)(n.index, n.op, args, True) if m is n else m for m in g.nodes)
    return BlockGraph(g.name, nodes, g.edges)


def _swap_act(new: str) -> Apply:
    def apply(g: BlockGraph, choice: int) -> BlockGraph | None:
        if not any(n.kind == "relu" for n in g.nodes):
            return None
        nodes = tuple(make_node(n.index, new) if n.kind == "relu" else n for n in g.nodes)
        return BlockGraph(g.name, nodes, g.edges)

    return apply


def _add_bn(g: BlockGraph, choice: int) -> BlockGraph | None:
    bare = [
        n.index
        for n in g.nodes
        if n.kind == "conv2d" and all(g.node(c).kind != "bn" for c in g.consumers_of(n.index))
    ]
    idx = _pick(bare, choice)
    if idx is None:
        return None
    return insert_after(g, idx, [("BN", {})])[0]


def _spatial_attention(g: BlockGraph, choice: int) -> BlockGraph | None:
    x = out_source(g)
    base = next_index(g)
    mean = make_node(base, "mean", {"dim": 1, "keepdim": "True"})
    mx = make_node(base + 1, "max", {"dim": 1, "keepdim": "True"})
    cat = make_node(base + 2, "concat", {"dim": 1})
    conv = make_node(base + 3, "Conv2d", {"out_channels": 1, "kernel_size": 7})
    sig = make_node(base + 4, "Sigmoid")
    mul = make_node(base + 5, "Mul")
    out = g.output_nodes[0].index
    edges = [(a, b) for a, b in g.edges if not (a == x and b == out)]
    edges += [
        (x, mean.index),
        (x, mx.index),
        (mean.index, cat.index),
        (mx.index, cat.index),
        (cat.index, conv.index),
        (conv.index, sig.index),
        (x, mul.index),
        (sig.index, mul.index),
        (mul.index, out),
    ]
    return BlockGraph(g.name, (*g.nodes, mean, mx, cat, conv, sig, mul), tuple(edges))


def _parallel_branch(g: BlockGraph, choice: int) -> BlockGraph | None:
    x = out_source(g)
    g2, ids = insert_after(g, x, [("Add", {})])
    b = next_index(g2)
    conv = make_node(b, "Conv2d", {"out_channels": "C", "kernel_size": 1, "bias": "False"})
    bn = make_node(b + 1, "BN")
    i0 = g.input_nodes[0].index
    edges = (*g2.edges, (i0, b), (b, b + 1), (b + 1, ids[0]))
    return BlockGraph(g2.name, (*g2.nodes, conv, bn), edges)


def _drop_path(g: BlockGraph, choice: int) -> BlockGraph | None:
    i0 = g.input_nodes[0].index
    for n in g.nodes:
        if n.kind != "add":
            continue
        srcs = g.inputs_of(n.index)
        if i0 in srcs:
            other = [s for s in srcs if s != i0]
            if other and g.node(other[0]).kind != "droppath":
                y = other[0]
                d = next_index(g)
                node = make_node(d, "DropPath", {"prob": 0.1})
                edges = [((d if (a, b) == (y, n.index) else a), b) for a, b in g.edges]
                edges.append((y, d))
                return BlockGraph(g.name, (*g.nodes, node), tuple(edges))
    return None


_T = Transformation
CATALOGUE: dict[str, Transformation] = {
    t.name: t
    for t in [
        _T(
            "se_attention",
            "Recalibrate channel responses with a squeeze-and-excitation gate so the block "
            "emphasizes informative channels at negligible cost.",
            "Add a squeeze-and-excitation module (global average pool, 1x1 conv to C/4, ReLU, "
            "1x1 conv to C, Sigmoid) that multiplies the block output channel-wise.",
            ("squeeze", "excitation", "channel attention", "se ", "recalibrat", "channel-wise"),
            ("adaptiveavgpool2d", "sigmoid", "mul"),
            _se,
        ),
        _T(
            "residual",
            "Give the block an identity shortcut so gradients flow directly and deeper stacks "
            "stay trainable.",
            "Add a residual connection: sum the block input with the block output (Add).",
            ("residual", "shortcut", "skip connection", "identity"),
            ("add",),
            _residual,
        ),
        _T(
            "depthwise_separable",
            "Factorize spatial and channel mixing with depthwise-separable convolutions to cut "
            "parameters and FLOPs while keeping the receptive field.",
            "Replace a 3x3 convolution by a depthwise 3x3 convolution (groups = input "
            "channels) followed by a pointwise 1x1 convolution.",
            ("depthwise", "separable", "factoriz", "mobilenet", "xception"),
            ("conv2d",),
            _depthwise,
        ),
        _T(
            "inverted_bottleneck",
            "Expand channels before a cheap depthwise convolution and project back, as in an "
            "inverted residual, for a richer representation per FLOP.",
            "Replace a 3x3 convolution by an inverted bottleneck: 1x1 expansion to 4x channels, "
            "BN, ReLU, depthwise 3x3, BN, ReLU, 1x1 projection.",
            ("inverted", "expansion", "expand", "mbconv", "bottleneck"),
            ("conv2d", "bn"),
            _inverted,
        ),
        _T(
            "dilated_branch",
            "Enlarge the receptive field without extra resolution loss by adding a dilated "
            "convolution path beside a regular one.",
            "Add a parallel 3x3 convolution with dilation=2 beside a 3x3 convolution and sum "
            "the two outputs.",
            ("dilat", "atrous", "receptive field", "context"),
            ("conv2d", "add"),
            _dilated,
        ),
        _T(
            "large_kernel",
            "Use larger convolution kernels to capture wider spatial context in one layer.",
            "Change a 3x3 convolution's kernel_size to 5.",
            ("large kernel", "larger kernel", "kernel size", "wide kernel", "5x5", "7x7"),
            ("conv2d",),
            _large_kernel,
        ),
        _T(
            "gelu",
            "Use a smooth activation (GELU) instead of ReLU for better-behaved gradients.",
            "Replace every ReLU in the block by GELU.",
            ("gelu", "smooth activation", "gaussian error"),
            ("gelu",),
            _swap_act("GELU"),
        ),
        _T(
            "silu",
            "Use the self-gated SiLU (swish) activation instead of ReLU.",
            "Replace every ReLU in the block by SiLU.",
            ("silu", "swish", "self-gated", "gated activation"),
            ("silu",),
            _swap_act("SiLU"),
        ),
        _T(
            "add_normalization",
            "Normalize every convolution's output so activations keep a stable scale.",
            "Insert a BN after a convolution that is not followed by a normalization.",
            ("normaliz", "batch norm", "batchnorm"),
            ("bn",),
            _add_bn,
        ),
        _T(
            "spatial_attention",
            "Weight spatial positions by an attention map computed from channel statistics "
            "(CBAM-style spatial attention).",
            "Add a spatial attention gate: channel mean and max (keepdim), concat, 7x7 conv to "
            "1 channel, Sigmoid, multiply with the block output.",
            ("spatial attention", "attention map", "cbam", "spatial gate", "saliency"),
            ("mean", "max", "sigmoid", "mul"),
            _spatial_attention,
        ),
        _T(
            "parallel_branch",
            "Aggregate multiple paths: add a cheap parallel projection branch whose output is "
            "summed with the main path (multi-branch design).",
            "Add a parallel branch from the block input (1x1 conv to C, BN) and sum it with "
            "the block output.",
            ("multi-branch", "parallel", "multi-path", "branch", "inception", "aggregat"),
            ("conv2d", "bn", "add"),
            _parallel_branch,
        ),
        _T(
            "drop_path",
            "Regularize the residual branch with stochastic depth so the block generalizes better.",
            "Insert DropPath(prob=0.1) on the residual branch just before the Add.",
            ("stochastic depth", "drop path", "droppath", "regulariz"),
            ("droppath",),
            _drop_path,
        ),
    ]
}

BUILTIN_KNOWLEDGE: list[dict[str, str]] = [
    {"id": f"builtin-{i + 1}", "paper_id": "archlab-builtin", "text": t.idea, "transform": name}
    for i, (name, t) in enumerate(CATALOGUE.items())
]


def match_transformation(text: str) -> Transformation | None:
    """The catalogue entry whose keywords best match a free-text suggestion."""
    low = " " + re.sub(r"\s+", " ", text.lower()) + " "
    best, score = None, 0
    for t in CATALOGUE.values():
        s = sum(low.count(k) for k in t.keywords) + (3 if t.name.replace("_", " ") in low else 0)
        if s > score:
            best, score = t, s
    return best


class RuleBasedDesigner:
    """Apply a transformation to a base block; ``validate(g) -> errors`` decides validity.

    ``design(block, suggestion, rng)`` tries the transformation matched to the suggestion
    (or named by ``transform``), then the others in random order, and returns the first
    valid result as ``(new block, transformation name)`` or None when nothing applies.
    """

    name = DESIGNER_NAME

    def __init__(self, validate: Callable[[BlockGraph], list[object]]) -> None:
        self.validate = validate

    def design(
        self, block: BlockGraph, suggestion: str, rng: random.Random, transform: str = ""
    ) -> tuple[BlockGraph, str] | None:
        first = CATALOGUE.get(transform) or match_transformation(suggestion)
        rest = [t for t in CATALOGUE.values() if t is not first]
        rng.shuffle(rest)
        for t in [first, *rest] if first else rest:
            choices = list(range(4))
            rng.shuffle(choices)
            for c in choices:
                try:
                    g = t.apply(block, c)
                except (KeyError, IndexError, ValueError):
                    g = None
                if g is not None and not self.validate(g):
                    return g, t.name
        return None
