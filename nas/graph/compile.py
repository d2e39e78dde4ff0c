"""The compiler: BlockGraph / ArchSpec -> ``torch.nn.Module`` (imports torch; import lazily).

Modules are built directly from the analysed graph: no generated code, no ``exec``. A block
module registers one submodule per parametrised node as ``n<index>`` and runs the nodes in
topological order; the network is ``stem`` -> ``cells`` (base and downsample blocks in
order) -> ``lastact`` (NB201 only: BN + ReLU) -> global average pool -> ``classifier``.
:func:`nas.graph.export.export_source` writes the same structure (same state-dict keys) as
plain PyTorch source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nas.graph.block import BlockGraph, BlockRole
from nas.graph.cost import GraphInvalid, validate
from nas.graph.expr import evaluate, parse_expr
from nas.graph.macro import Head, analyze_layer, plan
from nas.graph.ops import Shape
from nas.graph.spec import ArchSpec
from nas.graph.validate import Analysis, ResolvedNode, analyze

__all__ = ["BlockModule", "DropPath", "Network", "Zero", "build_block", "build_model"]


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a whole sample with probability ``prob`` and scale
    the rest by ``1/(1-prob)``; ``prob=None`` reads ``drop_prob`` (0 unless a trainer sets it)."""

    def __init__(self, prob: float | None = None) -> None:
        super().__init__()
        self.drop_prob = 0.0 if prob is None else float(prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob <= 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _module(n: ResolvedNode) -> nn.Module | None:
    a, k = n.args, n.key
    x = n.in_shapes[0] if n.in_shapes else ()
    if k == "conv2d":
        kk, d = a["kernel_size"], a["dilation"]
        pad = d * (kk - 1) // 2 if a["padding"] is None else a["padding"]
        return nn.Conv2d(
            x[1], a["out_channels"], kk, a["stride"], pad, d, a["groups"], bias=a["bias"]
        )
    if k == "linear":
        return nn.Linear(x[-1], a["out_channels"], bias=a["bias"])
    if k in ("avgpool2d", "maxpool2d"):
        kk = a["kernel_size"]
        s = a["stride"] if a["stride"] is not None else kk
        p = (kk - 1) // 2 if a["padding"] is None else a["padding"]
        if k == "avgpool2d":
            return nn.AvgPool2d(kk, s, p, count_include_pad=False)
        return nn.MaxPool2d(kk, s, p)
    if k == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(a["output_size"])
    if k == "adaptivemaxpool2d":
        return nn.AdaptiveMaxPool2d(a["output_size"])
    if k == "bn":
        return nn.BatchNorm2d(x[1]) if len(x) == 4 else nn.BatchNorm1d(x[1])
    if k == "ln":
        return nn.LayerNorm(x[-1])
    simple: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid,
        "silu": nn.SiLU,
        "tanh": nn.Tanh,
        "identity": nn.Identity,
        "zero": Zero,
    }
    if k in simple:
        return simple[k]()
    if k == "droppath":
        return DropPath(a["prob"])
    if k == "dropout":
        return nn.Dropout(a["prob"])
    return None


class BlockModule(nn.Module):
    """One block instance (fixed channel and spatial sizes). ``forward(*inputs)`` takes one
    tensor per input node (``input``, or ``input1`` and ``input2``)."""

    def __init__(self, an: Analysis) -> None:
        super().__init__()
        if an.errors:
            raise GraphInvalid(an.errors)
        self.block_name = an.graph.name
        self._binding = dict(an.binding)
        self._steps: list[tuple[int, str, tuple[int, ...], dict[str, Any]]] = []
        self._inputs = [n.index for n in an.graph.input_nodes]
        for n in an.nodes:
            if n.key in ("input", "input1", "input2"):
                continue
            m = _module(n)
            if m is not None:
                self.add_module(f"n{n.index}", m)
            extra = dict(n.args)
            if n.key in ("reshape", "repeat"):
                node = an.graph.node(n.index)
                extra["exprs"] = [parse_expr(v) for _, v in node.args]
            self._steps.append((n.index, n.key, n.inputs, extra))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        vals: dict[int, torch.Tensor] = dict(zip(self._inputs, xs, strict=False))
        out: torch.Tensor | None = None
        for idx, key, ins, a in self._steps:
            v = [vals[i] for i in ins]
            if key == "output":
                out = v[0]
                continue
            mod = getattr(self, f"n{idx}", None)
            if mod is not None:
                y = mod(v[0])
            elif key == "add":
                y = v[0]
                for t in v[1:]:
                    y = y + t
            elif key == "mul":
                y = v[0]
                for t in v[1:]:
                    y = y * t
            elif key == "concat":
                y = torch.cat(v, dim=a["dim"])
            elif key in ("mean", "sum", "max"):
                d, kd = a["dim"], a["keepdim"]
                if key == "mean":
                    y = torch.mean(v[0], dim=d, keepdim=kd)
                elif key == "sum":
                    y = torch.sum(v[0], dim=d, keepdim=kd)
                else:
                    y = torch.amax(v[0], dim=d, keepdim=kd)
            elif key == "softmax":
                y = torch.softmax(v[0], dim=a["dim"])
            elif key == "flatten":
                y = torch.flatten(v[0], a["start_dim"])
            elif key == "permute":
                y = v[0].permute(*a["*"])
            elif key in ("reshape", "repeat"):
                binding = dict(self._binding, B=xs[0].shape[0])
                sizes = [int(evaluate(e, binding) // 1) for e in a["exprs"]]
                y = v[0].reshape(*sizes) if key == "reshape" else v[0].repeat(*sizes)
            else:  # pragma: no cover - the validator rejects unknown ops
                raise RuntimeError(f"no implementation for {key}")
            vals[idx] = y
        assert out is not None
        return out


class Network(nn.Module):
    def __init__(self, stem: nn.Module, cells: Sequence[nn.Module], head: Head) -> None:
        super().__init__()
        self.stem = stem
        self.cells = nn.Sequential(*cells)
        c = head.in_channels
        self.lastact = (
            nn.Sequential(nn.BatchNorm2d(c), nn.ReLU()) if head.pre_act else nn.Identity()
        )
        self.classifier = nn.Linear(c, head.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        y: torch.Tensor = self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return y


def build_block(
    g: BlockGraph,
    input_shapes: Sequence[Shape] | None = None,
    dim: int | None = None,
    role: BlockRole | None = None,
    **kwargs: Any,
) -> BlockModule:
    """One block as a module (arguments as :func:`nas.graph.validate.analyze`)."""
    return BlockModule(analyze(g, input_shapes, dim, role, **kwargs))


def build_model(spec: ArchSpec) -> Network:
    """The network of ``spec``; raises :class:`nas.graph.cost.GraphInvalid` when invalid.

    >>> from nas.graph.nb201 import nb201_spec
    >>> m = build_model(nb201_spec("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"))
    >>> m(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    errors = validate(spec)
    if errors:
        raise GraphInvalid(errors)
    p = plan(spec)
    cache: dict[tuple[int, tuple[Shape, ...], int], Analysis] = {}
    mods: list[nn.Module] = []
    for layer in p.layers:
        key = (id(layer.graph), layer.input_shapes, layer.dim)
        if key not in cache:
            cache[key] = analyze_layer(layer.graph, layer.input_shapes, layer.dim, layer.role)
        mods.append(BlockModule(cache[key]))
    return Network(mods[0], mods[1:], p.head)
