"""The operation vocabulary: arguments, shape rules and cost of every op (pure Python).

Shapes are tuples of ints with the batch first: ``(B, C, H, W)`` for feature maps,
``(B, H, W, C)`` after ``permute(0,2,3,1)``, ``(B, C)`` after ``reshape(B,C)``.
Convolutions and pools pad to keep the size at stride 1: ``padding = dilation*(k-1)//2``
unless ``padding=`` is given. Conv2d and Linear have a bias unless ``bias=False`` (as in
PyTorch and NADER). A whole-number argument written as a fraction is floored (``C/4`` at
``C=247`` is 61, as NADER does); shape inference then catches any inconsistency.

A rule violation raises :class:`OpError` with the validator's ``rule``, a message and a hint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from nas.graph.expr import ExprError, evaluate, normal_form, parse_expr

__all__ = [
    "OPS",
    "ArgSpec",
    "OpError",
    "OpSpec",
    "Shape",
    "canonical_args",
    "lookup_op",
    "node_cost",
    "resolve_args",
]

Shape = tuple[int, ...]


class OpError(ValueError):
    def __init__(self, rule: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.hint = hint


_REQUIRED = object()
_SIZE_SYMBOL = re.compile(r"(?<![A-Za-z_])[HW](?![A-Za-z_0-9])")


@dataclass(frozen=True)
class ArgSpec:
    """``kind``: ``expr`` (whole number, symbols allowed), ``float``, ``bool``, ``dims`` (an int
    or a tuple of ints), ``size`` (int or ``(h,w)``)."""

    name: str
    kind: str
    default: Any = _REQUIRED
    aliases: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclass(frozen=True)
class OpSpec:
    name: str  # canonical spelling (used by docs, export and error messages)
    arity: int | None  # inputs: 1, or None for n-ary (>= 2)
    args: tuple[ArgSpec, ...] = ()
    varargs: str = ""  # kind of positional list (permute/reshape/repeat): "expr"
    commutative: bool = False
    doc: str = ""
    aliases: tuple[str, ...] = ()
    shape: str = ""  # semantics and shape rule, for the prompts' op catalogue


# What every op means and does to shapes: the op catalogue of the agents' prompts is generated
# from this table and the argument specs below (nas.graph.catalogue), so the validator and
# the prompts cannot disagree.
_SHAPES: dict[str, str] = {
    "Conv2d": "2-D convolution. (B,C,H,W) -> (B,out_channels,H/stride,W/stride) with 'same' "
    "padding dilation*(kernel_size-1)//2; groups must divide C and out_channels (groups=C: "
    "depthwise); needs channels at dim 1",
    "Linear": "fully connected layer over the LAST dim: (...,D) -> (...,out_channels). On a "
    "(B,C,H,W) map the last dim is W, so write permute(0,2,3,1) -> Linear -> permute(0,3,1,2) "
    "or use a 1x1 Conv2d; after a global pool, reshape(B,C) first",
    "AvgPool2d": "average pooling: (B,C,H,W) -> (B,C,H/stride,W/stride); stride defaults to "
    "kernel_size; padding at most kernel_size/2 (not counted in the average)",
    "MaxPool2d": "max pooling: (B,C,H,W) -> (B,C,H/stride,W/stride); stride defaults to "
    "kernel_size",
    "AdaptiveAvgPool2d": "average-pools to a fixed size: (B,C,H,W) -> (B,C,output_size,"
    "output_size); output_size=1 is global pooling",
    "AdaptiveMaxPool2d": "max-pools to a fixed size: (B,C,H,W) -> (B,C,output_size,output_size)",
    "BN": "batch normalization over dim 1 (channels) of (B,C) or (B,C,H,W); shape unchanged",
    "LN": "layer normalization over the LAST dim; shape unchanged. It needs channels last: "
    "permute(0,2,3,1) -> LN -> permute(0,3,1,2) (as ConvNeXt does); LN directly on (B,C,H,W) "
    "normalises the width and is rejected",
    "ReLU": "activation; shape unchanged",
    "GELU": "activation; shape unchanged",
    "Sigmoid": "activation (gates in attention); shape unchanged",
    "SiLU": "activation (swish); shape unchanged",
    "Tanh": "activation; shape unchanged",
    "DropPath": "stochastic depth on a residual branch (prob default: the trainer's rate); "
    "shape unchanged",
    "Dropout": "dropout; shape unchanged",
    "Identity": "passes its input on; shape unchanged",
    "Zero": "all zeros of the input's shape",
    "Add": "elementwise sum of 2 or more inputs with PyTorch broadcasting ((B,C,H,W) + "
    "(B,C,1,1) is fine); equal channels and spatial size otherwise",
    "Mul": "elementwise product of 2 or more inputs with broadcasting (attention gates: "
    "(B,C,H,W) * (B,C,1,1) or (B,1,H,W))",
    "concat": "joins 2 or more inputs along dim (default 1, channels): all other dims equal; "
    "the channel counts add up (C/2 + C/2 = C)",
    "mean": "average over dim (an int or a tuple, e.g. (2,3)); keepdim=True keeps size-1 dims "
    "for broadcasting; never dim 0 (the batch)",
    "max": "maximum over dim (an int or a tuple); keepdim as for mean",
    "sum": "sum over dim (an int or a tuple); keepdim as for mean",
    "softmax": "softmax along dim; shape unchanged",
    "flatten": "merges dims start_dim..last into one: (B,C,H,W) -> (B,C*H*W) at start_dim=1",
    "permute": "reorders all dims, keeping 0 (the batch) first: permute(0,2,3,1) turns "
    "(B,C,H,W) into (B,H,W,C), permute(0,3,1,2) back",
    "reshape": "new sizes with the same element count, B first, at most one -1; it never "
    "moves data between axes: (B,C,H,W) -> (B,H*W,C) needs permute(0,2,3,1) before "
    "reshape(B,H*W,C)",
    "repeat": "tiles the tensor: one count per dim, e.g. repeat(1,1,H,W) on (B,C,1,1)",
}


def _a(name: str, kind: str, default: Any = _REQUIRED, *aliases: str) -> ArgSpec:
    return ArgSpec(name, kind, default, tuple(aliases))


_CONV_ARGS = (
    _a("out_channels", "expr", _REQUIRED, "out_planes", "planes"),
    _a("kernel_size", "expr", _REQUIRED, "k", "kernel"),
    _a("stride", "expr", 1),
    _a("padding", "expr", None),
    _a("dilation", "expr", 1),
    _a("groups", "expr", 1),
    _a("bias", "bool", True),
)
_POOL_ARGS = (
    _a("kernel_size", "expr", _REQUIRED, "k", "kernel"),
    _a("stride", "expr", None),
    _a("padding", "expr", None),
)

_SPECS: tuple[OpSpec, ...] = (
    OpSpec("input", 0, doc="block input (B, C, H, W)"),
    OpSpec("input1", 0, doc="first input of a two-input (DARTS-style) cell"),
    OpSpec("input2", 0, doc="second input of a two-input cell"),
    OpSpec("output", 1, doc="block output; exactly one incoming edge"),
    OpSpec("Conv2d", 1, _CONV_ARGS, doc="2-D convolution on (B, C, H, W)", aliases=("conv",)),
    OpSpec(
        "Linear",
        1,
        (_a("out_channels", "expr", _REQUIRED, "out_features"), _a("bias", "bool", True)),
        doc="dense layer over the last dimension",
        aliases=("fc",),
    ),
    OpSpec("AvgPool2d", 1, _POOL_ARGS, doc="average pool (padding not counted)"),
    OpSpec("MaxPool2d", 1, _POOL_ARGS, doc="max pool"),
    OpSpec("AdaptiveAvgPool2d", 1, (_a("output_size", "expr", 1),), doc="-> (B, C, s, s)"),
    OpSpec("AdaptiveMaxPool2d", 1, (_a("output_size", "expr", 1),), doc="-> (B, C, s, s)"),
    OpSpec("BN", 1, doc="batch norm over dim 1", aliases=("batchnorm", "batchnorm2d", "bn2d")),
    OpSpec("LN", 1, doc="layer norm over the last dim", aliases=("layernorm",)),
    OpSpec("ReLU", 1),
    OpSpec("GELU", 1),
    OpSpec("Sigmoid", 1),
    OpSpec("SiLU", 1, aliases=("swish",)),
    OpSpec("Tanh", 1),
    OpSpec("DropPath", 1, (_a("prob", "float", None, "p", "drop_prob"),), doc="stochastic depth"),
    OpSpec("Dropout", 1, (_a("prob", "float", 0.5, "p"),)),
    OpSpec("Identity", 1),
    OpSpec("Zero", 1, doc="all zeros of the input's shape (an NB201 'none' cell output)"),
    OpSpec("Add", None, commutative=True, doc="elementwise sum with broadcasting"),
    OpSpec("Mul", None, commutative=True, doc="elementwise product with broadcasting"),
    OpSpec("concat", None, (_a("dim", "expr", 1),), doc="join along dim", aliases=("cat",)),
    OpSpec("mean", 1, (_a("dim", "dims"), _a("keepdim", "bool", False))),
    OpSpec("max", 1, (_a("dim", "dims"), _a("keepdim", "bool", False))),
    OpSpec("sum", 1, (_a("dim", "dims"), _a("keepdim", "bool", False))),
    OpSpec("softmax", 1, (_a("dim", "expr"),)),
    OpSpec("flatten", 1, (_a("start_dim", "expr", 1),)),
    OpSpec("permute", 1, varargs="expr", doc="permute(0,2,3,1)"),
    OpSpec("reshape", 1, varargs="expr", doc="reshape(B,C/4,4,H,W)", aliases=("view",)),
    OpSpec("repeat", 1, varargs="expr", doc="repeat(1,1,2,2)"),
)

_SPECS = tuple(
    OpSpec(s.name, s.arity, s.args, s.varargs, s.commutative, s.doc, s.aliases,
           _SHAPES.get(s.name, s.doc))
    for s in _SPECS
)  # fmt: skip

OPS: dict[str, OpSpec] = {}
for _s in _SPECS:
    OPS[_s.name.lower()] = _s
    for _al in _s.aliases:
        OPS[_al] = _s


def lookup_op(name: str) -> OpSpec | None:
    """The op named ``name`` (case-insensitive, aliases accepted) or None."""
    return OPS.get(name.lower())


def known_op_names() -> list[str]:
    return [s.name for s in _SPECS]


def op_specs() -> tuple[OpSpec, ...]:
    """Every op in table order (``input``/``output`` first)."""
    return _SPECS


# --- argument resolution -----------------------------------------------------------------


def _whole(raw: str, binding: Mapping[str, int], what: str) -> int:
    try:
        v = evaluate(parse_expr(raw), binding)
    except ExprError as e:
        raise OpError(
            "bad-arg", f"{what}={raw!r}: {e}", "use numbers, B, C, dim, H, W and + - * / //"
        ) from e
    return math.floor(v)  # NADER semantics: C/4 at C=247 is 61


def _dims(raw: str, binding: Mapping[str, int], what: str) -> tuple[int, ...]:
    s = raw.strip()
    if s.startswith(("(", "[")) and s.endswith((")", "]")):
        parts = [p for p in s[1:-1].split(",") if p.strip()]
        return tuple(_whole(p, binding, what) for p in parts)
    return (_whole(s, binding, what),)


def _bool(raw: str, what: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise OpError(
        "bad-arg", f"{what}={raw!r} is not a boolean", f"write {what}=True or {what}=False"
    )


def _float(raw: str, what: str) -> float:
    try:
        return float(raw)
    except ValueError as e:
        raise OpError("bad-arg", f"{what}={raw!r} is not a number", f"write e.g. {what}=0.2") from e


def _match_args(
    spec: OpSpec, args: Sequence[tuple[str | None, str]]
) -> tuple[dict[str, str], list[str]]:
    """Raw values by canonical argument name, and the positional list for varargs ops."""
    by_name: dict[str, str] = {}
    positional: list[str] = []
    alias = {al: a.name for a in spec.args for al in (a.name, *a.aliases)}
    pos_i = 0
    for key, value in args:
        if key is None:
            if spec.varargs:
                positional.append(value)
                continue
            if pos_i >= len(spec.args):
                raise OpError(
                    "bad-arg",
                    f"{spec.name} takes {len(spec.args)} positional argument(s), got more",
                    f"name the arguments: {', '.join(a.name for a in spec.args) or 'none'}",
                )
            by_name[spec.args[pos_i].name] = value
            pos_i += 1
            continue
        canon = alias.get(key)
        if canon is None:
            valid = ", ".join(a.name for a in spec.args) or "none"
            raise OpError(
                "unknown-arg",
                f"{spec.name} has no argument {key!r}",
                f"valid arguments of {spec.name}: {valid}",
            )
        if canon in by_name:
            raise OpError("bad-arg", f"argument {canon!r} given twice", "keep one of them")
        by_name[canon] = value
    for a in spec.args:
        if a.required and a.name not in by_name:
            raise OpError(
                "missing-arg",
                f"{spec.name} needs {a.name}=",
                f"e.g. {spec.name}({', '.join(f'{x.name}=...' for x in spec.args if x.required)})",
            )
    if spec.varargs and not positional:
        raise OpError("missing-arg", f"{spec.name} needs its positional list", f"e.g. {spec.doc}")
    return by_name, positional


def resolve_args(
    spec: OpSpec, args: Sequence[tuple[str | None, str]], binding: Mapping[str, int]
) -> dict[str, Any]:
    """Concrete argument values (defaults filled); varargs land under ``"*"``."""
    by_name, positional = _match_args(spec, args)
    out: dict[str, Any] = {}
    for a in spec.args:
        raw = by_name.get(a.name)
        if raw is not None and _SIZE_SYMBOL.search(raw):
            raise OpError(
                "symbol",
                f"{spec.name}({a.name}={raw}) depends on the feature-map size; the block runs "
                "at several resolutions (32x32, 16x16, 8x8), so this layer would change with it",
                "H and W may only appear in reshape/repeat sizes: use a fixed kernel_size "
                "(3, 5, 7), AdaptiveAvgPool2d(output_size=1) or mean(dim=(2,3)) for a global view",
            )
        if raw is None:
            out[a.name] = a.default
        elif a.kind == "expr":
            out[a.name] = _whole(raw, binding, a.name)
        elif a.kind == "dims":
            out[a.name] = _dims(raw, binding, a.name)
        elif a.kind == "bool":
            out[a.name] = _bool(raw, a.name)
        else:
            out[a.name] = _float(raw, a.name)
    if spec.varargs:
        out["*"] = tuple(_whole(p, binding, f"{spec.name} entry") for p in positional)
    return out


def canonical_args(spec: OpSpec, args: Sequence[tuple[str | None, str]]) -> str:
    """Argument text independent of spelling: aliases resolved, defaults filled, expressions
    normalised (``C*2`` == ``2*C``), keys sorted. Falls back to the raw text on a bad arg."""
    try:
        by_name, positional = _match_args(spec, args)
    except OpError:
        return ",".join(f"{k}={v}" if k else v for k, v in args)
    parts = []
    for a in sorted(spec.args, key=lambda x: x.name):
        raw = by_name.get(a.name)
        if raw is None:
            parts.append(f"{a.name}={a.default!r}")
            continue
        try:
            if a.kind == "expr":
                val = normal_form(parse_expr(raw))
            elif a.kind == "float":
                val = repr(float(raw))
            elif a.kind == "bool":
                val = repr(_bool(raw, a.name))
            else:
                val = raw.replace(" ", "")
        except (ExprError, OpError, ValueError):
            val = raw
        parts.append(f"{a.name}={val}")
    for p in positional:
        try:
            parts.append(normal_form(parse_expr(p)))
        except ExprError:
            parts.append(p)
    return ",".join(parts)


# --- shape rules ---------------------------------------------------------------------------


def _fmt(s: Shape) -> str:
    return "(" + ",".join(map(str, s)) + ")"


def _need_rank(name: str, s: Shape, ranks: tuple[int, ...], hint: str = "") -> None:
    if len(s) not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise OpError(
            "rank",
            f"{name} needs a {want} input, got {len(s)}-D {_fmt(s)}",
            hint or "reshape or permute the tensor back to (B, C, H, W) first",
        )


def _auto_pad(k: int, d: int, padding: int | None) -> int:
    return d * (k - 1) // 2 if padding is None else padding


def _spatial(name: str, size: int, k: int, s: int, p: int, d: int) -> int:
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise OpError(
            "spatial",
            f"{name} with kernel_size={k}, stride={s} turns size {size} into {out}",
            "use a smaller kernel or stride, or downsample less before this node",
        )
    return out


def _norm_dim(name: str, d: int, rank: int) -> int:
    if not -rank <= d < rank:
        raise OpError(
            "dim",
            f"{name} dim={d} is out of range for a {rank}-D tensor",
            f"use a dim in 0..{rank - 1}",
        )
    return d % rank


def _broadcast(name: str, shapes: Sequence[Shape]) -> Shape:
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        big = {x for x in sizes if x != 1}
        if len(big) > 1:
            shown = " and ".join(_fmt(s) for s in shapes)
            raise OpError(
                "broadcast",
                f"{name} inputs {shown} do not broadcast (dim {i}: {sorted(big)})",
                "make the inputs the same shape (same out_channels, same stride) or size 1 "
                "in the dimension to broadcast",
            )
        out.append(max(sizes))
    return tuple(out)


def infer_shape(key: str, a: Mapping[str, Any], ins: Sequence[Shape]) -> Shape:
    """Output shape of op ``key`` (lower-case canonical name) with resolved args ``a``."""
    x = ins[0] if ins else ()
    if key == "conv2d":
        _need_rank("Conv2d", x, (4,))
        cin, cout, k, g = x[1], a["out_channels"], a["kernel_size"], a["groups"]
        s, d = a["stride"], a["dilation"]
        if cout < 1 or k < 1 or s < 1 or d < 1 or g < 1:
            small = cout < 1 or g < 1
            raise OpError(
                "bad-arg",
                f"Conv2d needs positive out_channels, kernel_size, stride, dilation, groups; "
                f"got {cout}, {k}, {s}, {d}, {g} at C={cin}",
                f"a fraction of C (e.g. C/16) is 0 at C={cin}, and the network runs this block "
                "at its smallest width too: use a smaller divisor (C/4) or a fixed count"
                if small
                else "check the expressions against the channel count",
            )
        if cin % g or cout % g:
            raise OpError(
                "groups",
                f"Conv2d groups={g} must divide in_channels={cin} and out_channels={cout}",
                "use groups=C for depthwise, groups=1 for dense, or a width divisible by groups",
            )
        p = _auto_pad(k, d, a["padding"])
        return (
            x[0],
            cout,
            _spatial("Conv2d", x[2], k, s, p, d),
            _spatial("Conv2d", x[3], k, s, p, d),
        )
    if key == "linear":
        _need_rank(
            "Linear", x, (2, 3, 4), "Linear works on the last dim; give it (B, C) or (B, H, W, C)"
        )
        if a["out_channels"] < 1:
            raise OpError("bad-arg", f"Linear out_channels={a['out_channels']} < 1", "use >= 1")
        return (*x[:-1], a["out_channels"])
    if key in ("avgpool2d", "maxpool2d"):
        name = "AvgPool2d" if key == "avgpool2d" else "MaxPool2d"
        _need_rank(name, x, (4,))
        k = a["kernel_size"]
        s = a["stride"] if a["stride"] is not None else k
        p = _auto_pad(k, 1, a["padding"])
        if k < 1 or s < 1 or p < 0 or 2 * p > k:
            raise OpError(
                "bad-arg",
                f"{name}(kernel_size={k}, stride={s}, padding={p}) is not a legal pool",
                "padding may be at most kernel_size/2; kernel_size and stride >= 1",
            )
        return (x[0], x[1], _spatial(name, x[2], k, s, p, 1), _spatial(name, x[3], k, s, p, 1))
    if key in ("adaptiveavgpool2d", "adaptivemaxpool2d"):
        _need_rank("AdaptiveAvgPool2d", x, (4,))
        o = a["output_size"]
        if o < 1:
            raise OpError("bad-arg", f"output_size={o} < 1", "use output_size=1 for global pooling")
        return (x[0], x[1], o, o)
    if key == "bn":
        _need_rank(
            "BN", x, (2, 4), "BN normalises dim 1 of (B, C) or (B, C, H, W); use LN on (B, H, W, C)"
        )
        return x
    if key == "ln":
        _need_rank("LN", x, (2, 3, 4))
        return x
    if key in ("add", "mul"):
        return _broadcast("Add" if key == "add" else "Mul", ins)
    if key == "concat":
        rank = len(x)
        if any(len(s) != rank for s in ins):
            raise OpError(
                "concat",
                f"concat inputs have different ranks: {' '.join(_fmt(s) for s in ins)}",
                "reshape the inputs to the same rank first",
            )
        d = _norm_dim("concat", a["dim"], rank)
        for s in ins[1:]:
            for i in range(rank):
                if i != d and s[i] != x[i]:
                    raise OpError(
                        "concat",
                        f"concat(dim={a['dim']}) inputs {_fmt(x)} and {_fmt(s)} differ in dim {i}",
                        "all inputs must match except in the concat dim (same stride, same size)",
                    )
        return (*x[:d], sum(s[d] for s in ins), *x[d + 1 :])
    if key in ("mean", "max", "sum"):
        dims = {_norm_dim(key, d, len(x)) for d in a["dim"]}
        if a["keepdim"]:
            return tuple(1 if i in dims else n for i, n in enumerate(x))
        return tuple(n for i, n in enumerate(x) if i not in dims)
    if key == "softmax":
        _norm_dim("softmax", a["dim"], len(x))
        return x
    if key == "flatten":
        d = _norm_dim("flatten", a["start_dim"], len(x))
        return (*x[:d], math.prod(x[d:]))
    if key == "permute":
        perm = a["*"]
        if sorted(perm) != list(range(len(x))):
            raise OpError(
                "permute",
                f"permute{tuple(perm)} is not a permutation of the {len(x)} dims of {_fmt(x)}",
                f"list each of 0..{len(x) - 1} once, e.g. permute(0,2,3,1) for (B,C,H,W)->(B,H,W,C)",
            )
        return tuple(x[i] for i in perm)
    if key == "reshape":
        target = list(a["*"])
        n = math.prod(x)
        if target.count(-1) > 1 or any(t < 1 and t != -1 for t in target):
            raise OpError(
                "reshape",
                f"reshape{tuple(target)} has a bad size",
                "use positive sizes and at most one -1",
            )
        known = math.prod(t for t in target if t != -1)
        if -1 in target:
            if n % known:
                raise OpError(
                    "reshape", f"reshape{tuple(target)} cannot hold {n} elements", "fix the sizes"
                )
            target[target.index(-1)] = n // known
        if math.prod(target) != n:
            raise OpError(
                "reshape",
                f"reshape to {_fmt(tuple(target))} ({math.prod(target)} elements) from {_fmt(x)} "
                f"({n} elements)",
                "the product of the new sizes must equal the input's element count",
            )
        return tuple(target)
    if key == "repeat":
        reps = a["*"]
        if len(reps) < len(x) or any(r < 1 for r in reps):
            raise OpError(
                "repeat",
                f"repeat{tuple(reps)} needs >= {len(x)} positive counts for {_fmt(x)}",
                "give one count per dim, e.g. repeat(1,1,2,2)",
            )
        xx = (1,) * (len(reps) - len(x)) + x
        return tuple(n * r for n, r in zip(xx, reps, strict=False))
    if key in ("dropout", "droppath"):
        p = a["prob"]
        if p is not None and not 0.0 <= p < 1.0:
            raise OpError("bad-arg", f"prob={p} is outside [0, 1)", "use e.g. prob=0.2")
        return x
    return x  # activations, identity, zero, output


# --- cost ----------------------------------------------------------------------------------

_ELEMENT_FLOPS = {"relu": 1, "gelu": 8, "sigmoid": 4, "silu": 5, "tanh": 5, "bn": 2, "ln": 5}


def node_cost(
    key: str, a: Mapping[str, Any], ins: Sequence[Shape], out: Shape
) -> tuple[int, int, int]:
    """``(params, macs, flops)`` of one node. MACs count conv and linear multiply-adds plus one
    per bias add (the NAS-Bench-201 convention); FLOPs are 2 per multiply-add plus bias adds,
    elementwise and pooling work (see docs/graph.md for the per-op table)."""
    n_out = math.prod(out) if out else 0
    if key == "conv2d":
        cin, k, g = ins[0][1], a["kernel_size"], a["groups"]
        per = cin // g * k * k
        bias = a["bias"]
        params = out[1] * per + (out[1] if bias else 0)
        macs = n_out * per + (n_out if bias else 0)
        return params, macs, 2 * n_out * per + (n_out if bias else 0)
    if key == "linear":
        cin = ins[0][-1]
        bias = a["bias"]
        params = cin * out[-1] + (out[-1] if bias else 0)
        macs = n_out * cin + (n_out if bias else 0)
        return params, macs, 2 * n_out * cin + (n_out if bias else 0)
    if key == "bn":
        return 2 * out[1], 0, 2 * n_out
    if key == "ln":
        return 2 * out[-1], 0, 5 * n_out
    if key in _ELEMENT_FLOPS:
        return 0, 0, _ELEMENT_FLOPS[key] * n_out
    if key in ("add", "mul"):
        return 0, 0, (len(ins) - 1) * n_out
    if key in ("avgpool2d", "maxpool2d"):
        return 0, 0, a["kernel_size"] ** 2 * n_out
    if key in ("adaptiveavgpool2d", "adaptivemaxpool2d", "mean", "max", "sum"):
        return 0, 0, math.prod(ins[0])
    if key == "softmax":
        return 0, 0, 3 * n_out
    return 0, 0, 0


def fraction_text(v: Fraction) -> str:  # pragma: no cover - tiny helper for messages
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


ShapeFn = Callable[[str, Mapping[str, Any], Sequence[Shape]], Shape]
