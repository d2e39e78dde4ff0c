"""Tensor layout: which axis holds the batch, the channels and the positions (pure Python).

Shapes alone cannot tell ``(B, C, H, W)`` from ``(B, H, W, C)`` when ``C == W``, and they say
nothing about *which* axis ``LN`` or ``Linear`` touch: both act on the last axis, which on a
``(B, C, H, W)`` feature map is the width, not the channels. This module follows every axis
through the block as a product of **factors** ``(label, size)`` with labels ``B`` (batch),
``C`` (channels), ``H``, ``W`` (positions) and ``?`` (unknown): ``permute`` reorders axes,
``flatten`` and ``reshape`` merge and split factors in row-major order (so ``reshape(B,-1,C)``
of ``(B,C,H,W)`` without a permute leaves *positions* on the last axis), and layer ops write
fresh axes. The validator reads an axis' :func:`kind`:

* ``B`` batch only, ``C`` channels only, ``H``/``W``/``S`` positions only (``S``: both),
  ``F`` channels merged with positions (a flattened feature vector), ``X`` the batch merged
  with something else, ``?`` unknown (no layout rule applies).

    >>> lay = input_layout((2, 64, 32, 32))
    >>> [kind(a) for a in permute(lay, (0, 2, 3, 1))]
    ['B', 'H', 'W', 'C']
    >>> [kind(a) for a in reshape(lay, (2, 1024, 64))]  # reshape(B,-1,C) without a permute
    ['B', 'F', 'S']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CHANNEL_KINDS",
    "SPATIAL_KINDS",
    "Axis",
    "Layout",
    "describe",
    "family",
    "fresh",
    "input_layout",
    "kind",
    "merge",
    "permute",
    "reshape",
    "resize",
]

Factor = tuple[str, int]
Axis = tuple[Factor, ...]
Layout = tuple[Axis, ...]

CHANNEL_KINDS = frozenset({"C", "F", "?"})
SPATIAL_KINDS = frozenset({"H", "W", "S", "?"})

_NAMES = {
    "B": "the batch",
    "C": "the channels",
    "H": "the height",
    "W": "the width",
    "S": "positions (H*W)",
    "F": "channels merged with positions",
    "X": "the batch merged with other dims",
    "?": "an unknown axis",
}


def fresh(label: str, size: int) -> Axis:
    return ((label, size),)


def input_layout(shape: Sequence[int]) -> Layout:
    """``(B, C, H, W)`` for a 4-D block input, ``(B, C)`` for 2-D, unknown otherwise."""
    if len(shape) == 4:
        return tuple(fresh(lb, n) for lb, n in zip("BCHW", shape, strict=True))
    if len(shape) == 2:
        return (fresh("B", shape[0]), fresh("C", shape[1]))
    return tuple(fresh("?", n) for n in shape)


def kind(axis: Axis) -> str:
    """The axis' kind (see the module docstring)."""
    big = {lb for lb, n in axis if n != 1}
    labels = big or {lb for lb, _ in axis}
    if not labels or "?" in labels:
        return "?"
    if "B" in labels:
        return "B" if labels == {"B"} else "X"
    if labels <= {"H", "W"}:
        return labels.pop() if len(labels) == 1 else "S"
    if labels == {"C"}:
        return "C"
    return "F"


def family(k: str) -> str:
    """``channel``, ``spatial``, ``batch``, ``mixed`` or ``?``: kinds in one family may meet
    in an elementwise op (an ``H`` axis may be added to a ``W`` axis of a square map)."""
    if k in ("C", "F"):
        return "channel"
    if k in ("H", "W", "S"):
        return "spatial"
    if k == "B":
        return "batch"
    return "mixed" if k == "X" else "?"


def describe(k: str) -> str:
    return _NAMES.get(k, k)


def _norm(axis: Axis) -> Axis:
    """Drop size-1 factors of a larger axis and join neighbours with the same label."""
    total = 1
    for _, n in axis:
        total *= n
    if total == 1:
        return fresh(axis[0][0] if axis else "?", 1)
    out: list[Factor] = []
    for lb, n in axis:
        if n == 1:
            continue
        if out and out[-1][0] == lb:
            out[-1] = (lb, out[-1][1] * n)
        else:
            out.append((lb, n))
    return tuple(out)


def merge(axes: Sequence[Axis]) -> Axis:
    """One axis holding ``axes`` in row-major order (``flatten``)."""
    return _norm(tuple(f for a in axes for f in a))


def permute(layout: Layout, perm: Sequence[int]) -> Layout:
    return tuple(layout[i] for i in perm)


def resize(axis: Axis, size: int) -> Axis:
    """The axis with a new size and the same kind (pooling, repeat, concat)."""
    k = kind(axis)
    label = k if k in ("B", "C", "H", "W") else ("?" if k in ("?", "X", "F") else "H")
    if k == "S":
        label = "H"
    return fresh(label, size)


def reshape(layout: Layout, out_shape: Sequence[int]) -> Layout:
    """Row-major regrouping of the factors of ``layout`` into ``out_shape``; an axis whose
    size cuts a factor unevenly makes the whole result unknown."""
    stream: list[Factor] = [f for a in layout for f in a if f[1] != 1]
    out: list[Axis] = []
    for size in out_shape:
        if size == 1:
            out.append(fresh("?", 1))
            continue
        need, parts = size, []
        while need > 1:
            if not stream:
                return tuple(fresh("?", n) for n in out_shape)
            lb, n = stream[0]
            if need % n == 0:
                parts.append((lb, n))
                stream.pop(0)
                need //= n
            elif n % need == 0:
                parts.append((lb, need))
                stream[0] = (lb, n // need)
                need = 1
            else:
                return tuple(fresh("?", n) for n in out_shape)
        out.append(_norm(tuple(parts)))
    return tuple(out)


# --- the layout rules of each op ------------------------------------------------------------


def _fmt(shape: Sequence[int]) -> str:
    return "(" + ",".join(map(str, shape)) + ")"


def _names(layout: Layout) -> str:
    letters = {"B": "B", "C": "C", "H": "H", "W": "W", "S": "H*W", "F": "C*H*W", "X": "B*.."}
    return "(" + ",".join(letters.get(kind(a), "?") for a in layout) + ")"


def step(
    key: str,
    args: Mapping[str, Any],
    ins: Sequence[Layout],
    in_shapes: Sequence[Sequence[int]],
    out_shape: Sequence[int],
) -> Layout:
    """Layout of op ``key``'s output; raises :class:`nas.graph.ops.OpError` (rule ``layout``
    or ``batch``) when the op acts on the wrong axis."""
    from nas.graph.ops import OpError

    x = ins[0] if ins else ()
    xs = in_shapes[0] if in_shapes else ()

    def wrong(rule: str, message: str, hint: str) -> OpError:
        return OpError(rule, message, hint)

    if key in ("conv2d", "avgpool2d", "maxpool2d", "adaptiveavgpool2d", "adaptivemaxpool2d", "bn"):
        name = {
            "conv2d": "Conv2d",
            "bn": "BN",
            "avgpool2d": "AvgPool2d",
            "maxpool2d": "MaxPool2d",
            "adaptiveavgpool2d": "AdaptiveAvgPool2d",
            "adaptivemaxpool2d": "AdaptiveMaxPool2d",
        }[key]
        k1 = kind(x[1]) if len(x) > 1 else "?"
        spatial_bad = [i for i in range(2, len(x)) if kind(x[i]) not in SPATIAL_KINDS]
        if k1 not in CHANNEL_KINDS or (key != "bn" and spatial_bad):
            last = kind(x[-1])
            fix = (
                "permute(0,3,1,2) back to (B,C,H,W) before it"
                if last in ("C", "F") and len(x) == 4
                else "bring the tensor back to (B,C,H,W) (permute/reshape) before it"
            )
            what = "normalises dim 1 as channels" if key == "bn" else "reads (B,C,H,W)"
            raise wrong(
                "layout",
                f"{name} {what}, but its input {_fmt(xs)} is laid out {_names(x)}: dim 1 is "
                f"{describe(k1)}",
                f"{fix}; use LN (after permute(0,2,3,1)) to normalise channels-last tensors"
                if key == "bn"
                else fix,
            )
        if key == "bn":
            return x
        return (x[0], fresh("C", out_shape[1]), fresh("H", out_shape[2]), fresh("W", out_shape[3]))
    if key in ("linear", "ln"):
        name = "Linear" if key == "linear" else "LN"
        k = kind(x[-1])
        if k not in CHANNEL_KINDS:
            if key == "linear":
                fix = (
                    "for a per-position layer over channels write permute(0,2,3,1) -> "
                    "Linear(out_channels=...) -> permute(0,3,1,2), or use "
                    "Conv2d(out_channels=...,kernel_size=1); after a global pool, "
                    "reshape(B,C) first"
                )
            else:
                fix = (
                    "to normalise channels write permute(0,2,3,1) -> LN -> permute(0,3,1,2) "
                    "(as ConvNeXt does), or use BN on (B,C,H,W)"
                )
            if k in ("S", "H", "W") and any(kind(a) in ("C", "F") for a in x[1:-1]):
                if len(x) == 3:
                    fix += (
                        "; a reshape never moves channels: (B,C,H,W) -> (B,H*W,C) needs "
                        "permute(0,2,3,1) before reshape(B,H*W,C)"
                    )
            raise wrong(
                "batch" if k == "X" else "layout",
                f"{name} acts on the last dim, which in this {_fmt(xs)} tensor laid out "
                f"{_names(x)} is {describe(k)} (size {xs[-1]}), not the channels",
                fix,
            )
        if key == "ln":
            return x
        return (*x[:-1], fresh("C", out_shape[-1]))
    if key in ("mean", "max", "sum", "softmax", "concat"):
        dims = args.get("dim")
        dl = dims if isinstance(dims, tuple) else (dims,)
        norm = {int(d) % len(x) for d in dl if isinstance(d, int)} if x else set()
        if 0 in norm and kind(x[0]) == "B":
            raise wrong(
                "batch",
                f"{key}(dim={dims}) works across dim 0, the batch: it mixes different images",
                "use dims 1..; e.g. mean(dim=(2,3)) pools positions, mean(dim=1) channels",
            )
        if key in ("softmax",):
            return x
        if key == "concat":
            d = next(iter(norm))
            ks = {kind(lay[d]) for lay in ins}
            ax = resize(x[d], out_shape[d]) if len(ks) == 1 else fresh("?", out_shape[d])
            return (*x[:d], ax, *x[d + 1 :])
        keep = bool(args.get("keepdim"))
        if keep:
            return tuple(resize(a, 1) if i in norm else a for i, a in enumerate(x))
        return tuple(a for i, a in enumerate(x) if i not in norm)
    if key == "flatten":
        start = int(args.get("start_dim", 1)) % max(1, len(x))
        if start == 0 and len(x) > 1 and kind(x[0]) == "B":
            raise wrong(
                "batch",
                "flatten(start_dim=0) merges the batch with the other dims",
                "use flatten(start_dim=1) (the default) to keep B first",
            )
        return (*x[:start], merge(x[start:]))
    if key == "permute":
        perm: tuple[int, ...] = tuple(args["*"])
        if perm and perm[0] != 0 and kind(x[0]) == "B":
            raise wrong(
                "batch",
                f"permute{perm} moves the batch away from dim 0",
                "keep 0 first, e.g. permute(0,2,3,1) for (B,C,H,W)->(B,H,W,C)",
            )
        return permute(x, perm)
    if key == "reshape":
        out = reshape(x, out_shape)
        if out and kind(x[0]) == "B" and kind(out[0]) not in ("B", "?"):
            raise wrong(
                "batch",
                f"reshape to {_fmt(out_shape)} merges the batch with other dims "
                f"(dim 0 is now {describe(kind(out[0]))})",
                "keep B as the first size, e.g. permute(0,2,3,1) then reshape(B,H*W,C); "
                "the block runs at every batch size",
            )
        return out
    if key == "repeat":
        reps: tuple[int, ...] = tuple(args["*"])
        xx = tuple(fresh("?", 1) for _ in range(len(reps) - len(x))) + tuple(x)
        return tuple(
            a if r == 1 else resize(a, n) for a, r, n in zip(xx, reps, out_shape, strict=False)
        )
    if key in ("add", "mul"):
        rank = len(out_shape)
        res: list[Axis] = []
        for i in range(rank):
            cands = [
                (lay[len(lay) - rank + i], s[len(s) - rank + i])
                for lay, s in zip(ins, in_shapes, strict=True)
                if len(lay) - rank + i >= 0
            ]
            big = [(a, n) for a, n in cands if n != 1]
            fams = {family(kind(a)) for a, _ in big} - {"?"}
            if len(fams) > 1:
                shown = " and ".join(_names(lay) for lay in ins)
                raise wrong(
                    "layout",
                    f"{'Add' if key == 'add' else 'Mul'} joins tensors laid out {shown}: dim {i} "
                    f"is {' in one, '.join(describe(kind(a)) for a, _ in big)} in the other",
                    "permute the inputs to the same layout first, e.g. permute(0,3,1,2) a "
                    "channels-last branch back to (B,C,H,W)",
                )
            res.append(big[0][0] if big else cands[0][0])
        return tuple(res)
    return tuple(x)  # activations, dropout, identity, zero, output
