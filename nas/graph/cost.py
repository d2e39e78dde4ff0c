"""Validation of whole specs, the cost model and the width search (pure Python, no torch).

Parameter counts are exact (they equal ``sum(p.numel())`` of the compiled module). ``macs``
counts multiply-adds of convolutions and linear layers plus one per bias add, the
NAS-Bench-201 ``flops`` convention; ``flops`` is total floating-point work: 2 per multiply-add
plus normalisation, activation, pooling and elementwise work (per-op table in docs/graph.md).

    >>> from nas.graph.nb201 import nb201_spec
    >>> c = cost(nb201_spec("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    >>> c.params, c.macs, c.output_shape
    (1531546, 220119690, (1, 10))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas.graph.block import BlockGraph
from nas.graph.macro import Head, Plan, analyze_layer, plan
from nas.graph.ops import Shape, node_cost
from nas.graph.skeleton import CONTRACTS
from nas.graph.spec import ArchSpec
from nas.graph.validate import Analysis, GraphError, analyze

__all__ = [
    "Cost",
    "GraphInvalid",
    "block_cost",
    "cost",
    "fit_width",
    "head_cost",
    "validate",
]


class GraphInvalid(ValueError):
    """Raised by cost/compile on an invalid graph or spec; ``errors`` says what to fix."""

    def __init__(self, errors: list[GraphError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} graph error(s):\n{lines}{more}")


@dataclass(frozen=True)
class Cost:
    params: int  # learnable parameters (BN running stats are buffers, not counted)
    macs: int  # conv + linear multiply-adds (+ bias adds), NAS-Bench-201 "flops"
    flops: int  # total floating-point operations
    output_shape: Shape

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "output_shape": list(self.output_shape),
        }

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.macs + other.macs,
            self.flops + other.flops,
            other.output_shape,
        )


def _plan_errors(spec: ArchSpec, p: Plan) -> list[GraphError]:
    errors = [GraphError("spec", None, "macro", m, h) for m, h in p.problems]
    seen: set[tuple[str, int | None, str, str]] = set()
    contract = CONTRACTS.get(spec.kind)
    for layer in p.layers:
        an = analyze_layer(layer.graph, layer.input_shapes, layer.dim, layer.role, contract)
        for e in an.errors:
            key = (e.block, e.node, e.rule, e.message)
            if key not in seen:
                seen.add(key)
                x = layer.input_shapes[0]
                errors.append(
                    GraphError(
                        e.block,
                        e.node,
                        e.rule,
                        f"{e.message} [as {layer.name}: input {x}, dim={layer.dim}]",
                        e.hint,
                    )
                )
    return errors


def validate(obj: BlockGraph | ArchSpec, **kwargs: Any) -> list[GraphError]:
    """All errors of a block (see :func:`nas.graph.validate.analyze` for ``kwargs``: input
    shapes, ``dim``, ``channels``, ``spatial``) or of a spec at every width it runs; empty
    when valid."""
    if isinstance(obj, ArchSpec):
        return _plan_errors(obj, plan(obj, **kwargs))
    return analyze(obj, **kwargs).errors


def _analysis_cost(an: Analysis) -> Cost:
    params = macs = flops = 0
    for n in an.nodes:
        p, m, f = node_cost(n.key, n.args, n.in_shapes, n.shape)
        params += p
        macs += m
        flops += f
    out = an.output_shape
    return Cost(params, macs, flops, out if out is not None else ())


def block_cost(g: BlockGraph, **kwargs: Any) -> Cost:
    """Cost of one block (arguments as :func:`nas.graph.validate.analyze`)."""
    an = analyze(g, **kwargs)
    if an.errors:
        raise GraphInvalid(an.errors)
    return _analysis_cost(an)


def head_cost(head: Head, x: Shape) -> Cost:
    b, c, h, w = x
    params = macs = flops = 0
    if head.pre_act:  # BN + ReLU
        params += 2 * c
        flops += 3 * b * c * h * w
    flops += b * c * h * w  # global average pool
    k = head.num_classes
    params += c * k + k
    macs += b * (c * k + k)
    flops += b * (2 * c * k + k)
    return Cost(params, macs, flops, (b, k))


def cost(spec: ArchSpec, input_shape: tuple[int, ...] | None = None) -> Cost:
    """Params, MACs and FLOPs of ``spec`` for one image of ``input_shape`` (``(C, H, W)``,
    default ``spec.input_shape``); ``output_shape`` is ``(1, num_classes)``. Raises
    :class:`GraphInvalid` when the spec is invalid at its widths."""
    p = plan(spec, batch=1, input_shape=input_shape)
    errors = _plan_errors(spec, p)
    if errors:
        raise GraphInvalid(errors)
    total = Cost(0, 0, 0, ())
    x: Shape = ()
    for layer in p.layers:
        c = _analysis_cost(analyze_layer(layer.graph, layer.input_shapes, layer.dim, layer.role))
        total = total + c
        x = c.output_shape
    return total + head_cost(p.head, x)


def _fits(c: Cost, max_params: float | None, max_flops: float | None, flops_kind: str) -> bool:
    f = c.macs if flops_kind == "macs" else c.flops
    return (max_params is None or c.params <= max_params) and (max_flops is None or f <= max_flops)


def fit_width(
    spec: ArchSpec,
    max_params: float | None = None,
    max_flops: float | None = None,
    *,
    flops_kind: str = "macs",
    multiple_of: int = 1,
    max_width: int = 4096,
) -> tuple[int, Cost]:
    """The largest first-stage width (a multiple of ``multiple_of``, other stages scaled
    alike) at which ``spec`` is valid and within ``max_params`` parameters and ``max_flops``
    (compared with ``macs`` by default, the NAS-Bench-201/NADER meaning of FLOPs; pass
    ``flops_kind="flops"`` for total FLOPs). Cost grows with width, so this is a binary
    search; widths where the block is invalid (e.g. ``groups`` does not divide) are skipped
    downwards. Raises ValueError when no width fits.

    >>> from nas.graph.seeds import seed_block
    >>> w, c = fit_width(ArchSpec(seed_block("resnet_basic"), kind="stages"), 1.5e6, 2e8)
    >>> c.params <= 1.5e6 and c.macs <= 2e8
    True
    """
    if flops_kind not in ("macs", "flops"):
        raise ValueError(f"flops_kind={flops_kind!r}: use 'macs' or 'flops'")
    step = max(1, multiple_of)

    def nearest_valid(k: int, floor: int) -> tuple[int, Cost] | None:
        """The valid width nearest below k*step (down to floor, at most 64 steps)."""
        for j in range(k, max(floor, k - 64), -1):
            try:
                return j, cost(spec.with_width(j * step))
            except (ValueError, ZeroDivisionError):
                continue
        return None

    # invariant: every valid width >= hi*step is over budget; best is the widest fit <= lo
    lo, hi = 0, max(1, max_width // step) + 1
    best: tuple[int, Cost] | None = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = nearest_valid(mid, lo)
        if got is None:
            lo = mid
            continue
        j, c = got
        if _fits(c, max_params, max_flops, flops_kind):
            best = (j, c)
            lo = mid
        else:
            hi = j
    if best is None:
        raise ValueError(
            f"no width up to {max_width} fits params <= {max_params} and "
            f"{flops_kind} <= {max_flops}: shrink the block or relax the budget"
        )
    return best[0] * step, best[1]
