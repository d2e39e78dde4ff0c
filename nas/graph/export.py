"""Readable PyTorch source for an ArchSpec (pure: builds text, imports no torch).

The source defines one class per distinct block instance (block x input shape x width),
and ``Network`` with the compiler's structure and state-dict keys, so weights trained with
archlab load into it::

    net = Network(); net.load_state_dict(torch.load("weights.pt"))
"""

from __future__ import annotations

import ast
import re

from nas.graph.expr import Expr, Neg, Num, Sym, parse_expr
from nas.graph.macro import analyze_layer, plan
from nas.graph.spec import ArchSpec
from nas.graph.validate import Analysis, ResolvedNode

__all__ = ["export_source"]

_PRELUDE = '''{docstring}

import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: zero a whole sample with probability drop_prob while training."""

    def __init__(self, prob=None):
        super().__init__()
        self.drop_prob = 0.0 if prob is None else float(prob)

    def forward(self, x):
        if not self.training or self.drop_prob <= 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)
'''


def _comment(text: str) -> str:
    """``text`` safe inside a ``#`` comment: printable ASCII only (no line break can end it)."""
    return text.encode("unicode_escape").decode("ascii")


def _class_name(name: str, serial: int) -> str:
    """A Python identifier for a block name, by a strict mapping: ASCII letters, digits and
    ``_`` are kept, anything else becomes ``_``; a name that does not start with a letter
    gets the prefix ``Block_``; ``serial`` keeps two blocks' classes apart."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60]
    if not base[:1].isalpha():
        base = "Block_" + base
    return f"{base[0].upper()}{base[1:]}_{serial}"


def _checked(source: str) -> str:
    """``source`` if it parses as Python; a generator bug is an error here, never a file."""
    try:
        ast.parse(source)
    except SyntaxError as e:  # pragma: no cover - names reach the text only via repr/_comment
        raise ValueError(f"export_source produced invalid Python ({e})") from e
    return source


def _py(e: Expr, an: Analysis) -> str:
    """Python text of a size expression: B stays symbolic (runtime batch), others are ints."""
    if isinstance(e, Num):
        return str(int(e.value)) if e.value.denominator == 1 else str(float(e.value))
    if isinstance(e, Sym):
        return "B" if e.name == "B" else str(an.binding[e.name])
    if isinstance(e, Neg):
        return f"-({_py(e.operand, an)})"
    op = "//" if e.op == "/" else e.op
    return f"({_py(e.left, an)} {op} {_py(e.right, an)})"


def _ctor(n: ResolvedNode) -> str | None:
    a, k = n.args, n.key
    x = n.in_shapes[0] if n.in_shapes else ()
    if k == "conv2d":
        kk, d = a["kernel_size"], a["dilation"]
        pad = d * (kk - 1) // 2 if a["padding"] is None else a["padding"]
        return (
            f"nn.Conv2d({x[1]}, {a['out_channels']}, {kk}, stride={a['stride']}, padding={pad}, "
            f"dilation={d}, groups={a['groups']}, bias={a['bias']})"
        )
    if k == "linear":
        return f"nn.Linear({x[-1]}, {a['out_channels']}, bias={a['bias']})"
    if k in ("avgpool2d", "maxpool2d"):
        kk = a["kernel_size"]
        s = a["stride"] if a["stride"] is not None else kk
        p = (kk - 1) // 2 if a["padding"] is None else a["padding"]
        if k == "avgpool2d":
            return f"nn.AvgPool2d({kk}, {s}, {p}, count_include_pad=False)"
        return f"nn.MaxPool2d({kk}, {s}, {p})"
    if k == "adaptiveavgpool2d":
        return f"nn.AdaptiveAvgPool2d({a['output_size']})"
    if k == "adaptivemaxpool2d":
        return f"nn.AdaptiveMaxPool2d({a['output_size']})"
    if k == "bn":
        return f"nn.BatchNorm2d({x[1]})" if len(x) == 4 else f"nn.BatchNorm1d({x[1]})"
    if k == "ln":
        return f"nn.LayerNorm({x[-1]})"
    simple = {"relu": "nn.ReLU()", "gelu": "nn.GELU()", "sigmoid": "nn.Sigmoid()",
              "silu": "nn.SiLU()", "tanh": "nn.Tanh()", "identity": "nn.Identity()",
              "zero": "Zero()"}  # fmt: skip
    if k in simple:
        return simple[k]
    if k == "droppath":
        return f"DropPath({a['prob']})"
    if k == "dropout":
        return f"nn.Dropout({a['prob']})"
    return None


def _class(name: str, an: Analysis, doc: str) -> str:
    init: list[str] = []
    body: list[str] = []
    ins = [f"x{n.index}" for n in an.graph.input_nodes]
    uses_b = False
    for n in an.nodes:
        if n.key in ("input", "input1", "input2"):
            continue
        v = [f"x{i}" for i in n.inputs]
        ctor = _ctor(n)
        node = an.graph.node(n.index)
        if ctor is not None:
            init.append(f"        self.n{n.index} = {ctor}  # {node.index}:{_comment(node.text)}")
            body.append(f"        x{n.index} = self.n{n.index}({v[0]})")
            continue
        k, a = n.key, n.args
        if k == "output":
            body.append(f"        return {v[0]}")
            continue
        if k == "add":
            expr = " + ".join(v)
        elif k == "mul":
            expr = " * ".join(v)
        elif k == "concat":
            expr = f"torch.cat([{', '.join(v)}], dim={a['dim']})"
        elif k in ("mean", "sum", "max"):
            fn = {"mean": "torch.mean", "sum": "torch.sum", "max": "torch.amax"}[k]
            expr = f"{fn}({v[0]}, dim={a['dim']}, keepdim={a['keepdim']})"
        elif k == "softmax":
            expr = f"torch.softmax({v[0]}, dim={a['dim']})"
        elif k == "flatten":
            expr = f"torch.flatten({v[0]}, {a['start_dim']})"
        elif k == "permute":
            expr = f"{v[0]}.permute({', '.join(map(str, a['*']))})"
        else:  # reshape / repeat
            sizes = [_py(parse_expr(raw), an) for _, raw in node.args]
            uses_b = uses_b or any(re.search(r"\bB\b", s) for s in sizes)
            method = "reshape" if k == "reshape" else "repeat"
            expr = f"{v[0]}.{method}({', '.join(sizes)})"
        body.append(f"        x{n.index} = {expr}  # {node.index}:{_comment(node.text)}")
    if uses_b:
        body.insert(0, f"        B = {ins[0]}.shape[0]")
    lines = [
        f"class {name}(nn.Module):",
        f"    {doc!r}",
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *(init or ["        pass"]),
        "",
        f"    def forward(self, {', '.join(ins)}):",
        *body,
    ]
    return "\n".join(lines)


def export_source(spec: ArchSpec) -> str:
    """Python source defining ``Network``, equivalent to ``build_model(spec)`` (same
    modules, same state-dict keys). Raises GraphInvalid when the spec is invalid."""
    from nas.graph.cost import GraphInvalid, validate

    errors = validate(spec)
    if errors:
        raise GraphInvalid(errors)
    p = plan(spec)
    classes: dict[tuple[int, tuple[tuple[int, ...], ...], int], str] = {}
    parts: list[str] = []
    instances: list[str] = []
    for layer in p.layers:
        key = (id(layer.graph), layer.input_shapes, layer.dim)
        if key not in classes:
            an = analyze_layer(layer.graph, layer.input_shapes, layer.dim, layer.role)
            cname = _class_name(layer.graph.name, len(classes))
            x = layer.input_shapes[0]
            doc = (
                f"{layer.graph.name} ({layer.role.value}): input (B, {x[1]}, {x[2]}, {x[3]}), "
                f"dim={layer.dim}."
            )
            parts.append(_class(cname, an, doc))
            classes[key] = cname
        instances.append(f"{classes[key]}()")
    c, k = p.head.in_channels, p.head.num_classes
    lastact = (
        f"nn.Sequential(nn.BatchNorm2d({c}), nn.ReLU())" if p.head.pre_act else "nn.Identity()"
    )
    cells = ",\n            ".join(instances[1:])
    net_doc = (
        f"{spec.kind} skeleton, widths {list(spec.stage_widths())}, depths "
        f"{list(spec.stage_depths())}, {k} classes, input {tuple(spec.input_shape)}."
    )
    net = f"""class Network(nn.Module):
    {net_doc!r}

    def __init__(self):
        super().__init__()
        self.stem = {instances[0]}
        self.cells = nn.Sequential(
            {cells}
        )
        self.lastact = {lastact}
        self.classifier = nn.Linear({c}, {k})

    def forward(self, x):
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


if __name__ == "__main__":
    net = Network()
    print(net(torch.zeros(2, {", ".join(map(str, spec.input_shape))})).shape)
"""
    docstring = repr(
        f"Network for block {spec.base.name!r}\n\n"
        "Generated by archlab (nas.graph.export_source). Needs only PyTorch.\n"
    )
    source = _PRELUDE.format(docstring=docstring) + "\n\n" + "\n\n\n".join(parts)
    return _checked(source + "\n\n\n" + net)
