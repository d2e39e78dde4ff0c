"""Validation and symbolic shape inference of a block.

:func:`analyze` binds the symbols (``B``, ``C``, ``dim``, ``H``, ``W``) from the block's input
shape and output width, checks the structure (one input or ``input1``/``input2``, one output,
acyclic, every node on an input-to-output path, arities), resolves every argument, infers
every node's shape and checks the block contract of its role. Each problem is a
:class:`GraphError` naming the block, node and rule, with a message and a fix; the analysis
goes on past an error where it can, so one pass reports all independent problems.

    >>> from nas.graph.text import parse_block
    >>> g = parse_block("##b##\\n0:input\\n1:output\\n2:Conv2d(out_channels=C,kernel_size=3,groups=5)\\n0->2\\n2->1")
    >>> [e.rule for e in analyze(g).errors]
    ['groups']
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nas.graph import layout as lay
from nas.graph.block import INPUT_OPS, OUTPUT_OP, BlockGraph, BlockRole
from nas.graph.ops import OpError, Shape, infer_shape, known_op_names, lookup_op, resolve_args
from nas.graph.skeleton import SpatialContract

__all__ = [
    "Analysis",
    "GraphError",
    "ResolvedNode",
    "analyze",
    "block_input_shapes",
    "validate_block",
]

DEFAULT_CHANNELS = 64
DEFAULT_SPATIAL = 32
DEFAULT_BATCH = 2


@dataclass(frozen=True)
class GraphError:
    """One problem: ``node`` is the node index (None for the whole block or spec)."""

    block: str
    node: int | None
    rule: str
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.block}" + (f" node {self.node}" if self.node is not None else "")
        return f"{where}: [{self.rule}] {self.message} -- {self.hint}"


@dataclass(frozen=True)
class ResolvedNode:
    """A node with concrete arguments and shapes (what the cost model and compiler read)."""

    index: int
    key: str  # canonical lower-case op name, e.g. "conv2d"
    args: Mapping[str, Any]
    inputs: tuple[int, ...]
    in_shapes: tuple[Shape, ...]
    shape: Shape


@dataclass
class Analysis:
    graph: BlockGraph
    binding: dict[str, int]
    input_shapes: tuple[Shape, ...]
    nodes: list[ResolvedNode] = field(default_factory=list)  # topological order
    errors: list[GraphError] = field(default_factory=list)
    layouts: dict[int, lay.Layout] = field(default_factory=dict)  # per node, see nas.graph.layout

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def output_shape(self) -> Shape | None:
        for n in self.nodes:
            if n.key == OUTPUT_OP:
                return n.shape
        return None

    @property
    def shapes(self) -> dict[int, Shape]:
        return {n.index: n.shape for n in self.nodes}


def block_input_shapes(
    role: BlockRole,
    num_inputs: int,
    channels: int = DEFAULT_CHANNELS,
    spatial: int = DEFAULT_SPATIAL,
    batch: int = DEFAULT_BATCH,
    in_channels: int = 3,
) -> tuple[tuple[Shape, ...], int]:
    """Default input shapes and output width (``dim``) for validating a lone block:
    base ``(B, channels, H, W) -> channels``; stem ``(B, in_channels, H, W) -> channels``;
    downsample ``(B, channels, H, W) -> 2*channels``. Two-input cells get both inputs at
    ``dim`` channels (DARTS preprocesses them to the cell width)."""
    if role is BlockRole.STEM:
        return ((batch, in_channels, spatial, spatial),), channels
    dim = 2 * channels if role is BlockRole.DOWNSAMPLE else channels
    if num_inputs == 2:
        return ((batch, dim, spatial, spatial),) * 2, dim
    return ((batch, channels, spatial, spatial),), dim


def _err(g: BlockGraph, node: int | None, rule: str, message: str, hint: str) -> GraphError:
    return GraphError(g.name, node, rule, message, hint)


def _structure(g: BlockGraph) -> tuple[list[GraphError], list[int]]:
    """Structural errors, and a topological order when the structure allows one."""
    errors: list[GraphError] = []
    seen: set[int] = set()
    for n in g.nodes:
        if n.index in seen:
            errors.append(
                _err(
                    g,
                    n.index,
                    "duplicate-node",
                    f"node {n.index} is defined twice",
                    "give every node its own index",
                )
            )
        seen.add(n.index)
        if lookup_op(n.op) is None:
            close = difflib.get_close_matches(n.op, known_op_names(), n=3, cutoff=0.5)
            hint = (f"did you mean {' or '.join(close)}? " if close else "") + (
                "known ops: " + ", ".join(known_op_names())
            )
            errors.append(_err(g, n.index, "unknown-op", f"unknown operation {n.op!r}", hint))
    for a, b in g.edges:
        for end in (a, b):
            if end not in seen:
                errors.append(
                    _err(
                        g,
                        end,
                        "unknown-node",
                        f"edge {a}->{b} uses node {end}, which is not defined",
                        f"add a line '{end}:Op(...)' or fix the edge",
                    )
                )
        if a == b:
            errors.append(_err(g, a, "cycle", f"edge {a}->{a} is a self-loop", "remove the edge"))
    kinds = [n.kind for n in g.nodes]
    single, pair = kinds.count("input"), (kinds.count("input1"), kinds.count("input2"))
    if not ((single == 1 and pair == (0, 0)) or (single == 0 and pair == (1, 1))):
        errors.append(
            _err(
                g,
                None,
                "io-count",
                f"the block has {single} 'input', {pair[0]} 'input1' and {pair[1]} 'input2' nodes",
                "use exactly one 'input' node, or exactly one 'input1' and one 'input2' (a two-input cell)",
            )
        )
    if kinds.count(OUTPUT_OP) != 1:
        errors.append(
            _err(
                g,
                None,
                "io-count",
                f"the block has {kinds.count(OUTPUT_OP)} 'output' nodes",
                "use exactly one 'output' node and join branches with Add or concat before it",
            )
        )
    if errors:
        return errors, []
    ins: dict[int, list[int]] = {n.index: [] for n in g.nodes}
    outs: dict[int, list[int]] = {n.index: [] for n in g.nodes}
    for a, b in g.edges:
        ins[b].append(a)
        outs[a].append(b)
    for n in g.nodes:
        if n.kind in INPUT_OPS and ins[n.index]:
            errors.append(
                _err(
                    g,
                    n.index,
                    "io-edges",
                    f"input node {n.index} has incoming edges {ins[n.index]}",
                    "nothing may feed an input node; remove those edges",
                )
            )
        if n.kind == OUTPUT_OP and outs[n.index]:
            errors.append(
                _err(
                    g,
                    n.index,
                    "io-edges",
                    f"output node {n.index} feeds nodes {outs[n.index]}",
                    "the output node must be last; take the value from the node before it",
                )
            )
    # Kahn's algorithm in file order
    indeg = {k: len(v) for k, v in ins.items()}
    order: list[int] = []
    ready = [n.index for n in g.nodes if indeg[n.index] == 0]
    while ready:
        k = ready.pop(0)
        order.append(k)
        for c in outs[k]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    if len(order) < len(g.nodes):
        rest = {k for k, d in indeg.items() if d > 0}
        while True:  # drop nodes downstream of the cycle: keep those that feed back into it
            drop = {k for k in rest if not any(c in rest for c in outs[k])}
            if not drop:
                break
            rest -= drop
        cyc = sorted(rest)
        errors.append(
            _err(
                g,
                cyc[0],
                "cycle",
                f"nodes {cyc} form a cycle",
                "a block is a DAG: remove the edge that points back to an earlier node",
            )
        )
        return errors, []
    # reachability
    fwd: set[int] = set()
    for k in order:
        if g.node(k).kind in INPUT_OPS or any(a in fwd for a in ins[k]):
            fwd.add(k)
    bwd: set[int] = set()
    for k in reversed(order):
        if g.node(k).kind == OUTPUT_OP or any(c in bwd for c in outs[k]):
            bwd.add(k)
    for n in g.nodes:
        if n.index not in fwd:
            errors.append(
                _err(
                    g,
                    n.index,
                    "dangling-node",
                    f"node {n.index} ({n.text}) has no path from the block input",
                    f"connect it, e.g. add 'SRC->{n.index}', or delete the node",
                )
            )
        elif n.index not in bwd:
            errors.append(
                _err(
                    g,
                    n.index,
                    "unused-node",
                    f"node {n.index} ({n.text}) never reaches the output",
                    f"feed it forward, e.g. add '{n.index}->DST' into an Add/concat, or delete it",
                )
            )
    # arity
    for n in g.nodes:
        spec = lookup_op(n.op)
        assert spec is not None
        k = len(ins[n.index])
        if spec.arity == 0:
            continue
        if spec.arity == 1 and k != 1 and n.index in fwd:
            if k == 0:
                msg, hint = f"{n.op} node {n.index} has no input", f"add an edge 'SRC->{n.index}'"
            else:
                msg = f"{n.op} node {n.index} has {k} inputs {ins[n.index]} but takes one"
                hint = f"join them first with an Add or concat node, then feed that into {n.index}"
            errors.append(_err(g, n.index, "arity", msg, hint))
        elif spec.arity is None and k < 2:
            errors.append(
                _err(
                    g,
                    n.index,
                    "arity",
                    f"{n.op} node {n.index} has {k} input(s); it joins two or more",
                    f"add another edge into {n.index} or remove the {n.op}",
                )
            )
    return errors, order


def analyze(
    g: BlockGraph,
    input_shapes: Sequence[Shape] | None = None,
    dim: int | None = None,
    role: BlockRole | None = None,
    *,
    channels: int = DEFAULT_CHANNELS,
    spatial: int = DEFAULT_SPATIAL,
    contract: SpatialContract | None = None,
) -> Analysis:
    """Check ``g`` and infer its shapes.

    ``input_shapes``: one ``(B, C, H, W)`` per input node (``input``, or ``input1``,
    ``input2``); ``dim``: the block's output width. Both default from the role
    (:func:`block_input_shapes` with ``channels`` and ``spatial``). ``contract``: the
    skeleton's spatial contract (:mod:`nas.graph.skeleton`); None checks a stem only for
    not enlarging the image.
    """
    role = role or g.role
    errors, order = _structure(g)
    if input_shapes is None or dim is None:
        n_in = max(1, len([n for n in g.nodes if n.kind in INPUT_OPS]))
        d_shapes, d_dim = block_input_shapes(role, n_in, channels, spatial)
        input_shapes = input_shapes if input_shapes is not None else d_shapes
        dim = dim if dim is not None else d_dim
    x0 = input_shapes[0]
    binding = {
        "B": x0[0],
        "C": x0[1],
        "H": x0[2] if len(x0) > 2 else 1,
        "W": x0[3] if len(x0) > 3 else 1,
        "dim": dim,
    }
    an = Analysis(g, binding, tuple(input_shapes), errors=errors)
    if errors:
        return an
    shapes: dict[int, Shape] = {}
    for k in order:
        node = g.node(k)
        spec = lookup_op(node.op)
        assert spec is not None
        srcs = tuple(g.inputs_of(k))
        if spec.arity == 0:
            pos = 0 if node.kind == "input" else INPUT_OPS.index(node.kind) - 1
            if pos >= len(input_shapes):
                an.errors.append(
                    _err(
                        g,
                        k,
                        "io-count",
                        f"{node.kind} has no input shape",
                        "pass one shape per input",
                    )
                )
                continue
            shapes[k] = tuple(input_shapes[pos])
            an.layouts[k] = lay.input_layout(shapes[k])
            an.nodes.append(ResolvedNode(k, node.kind, {}, (), (), shapes[k]))
            continue
        if any(s not in shapes for s in srcs):
            continue  # an upstream node failed; its error is already reported
        in_shapes = tuple(shapes[s] for s in srcs)
        key = spec.name.lower()
        try:
            args = resolve_args(spec, node.args, binding)
            out = infer_shape(key, args, in_shapes)
            an.layouts[k] = lay.step(key, args, [an.layouts[s] for s in srcs], in_shapes, out)
        except OpError as e:
            an.errors.append(_err(g, k, e.rule, f"{node.text}: {e.message}", e.hint))
            continue
        shapes[k] = out
        an.nodes.append(ResolvedNode(k, key, args, srcs, in_shapes, out))
    out_shape = an.output_shape
    if out_shape is not None:
        _contract(an, role, out_shape, contract)
    return an


def _resizers(an: Analysis) -> str:
    """The nodes that change the feature-map size, e.g. "node 3 Conv2d(...) 32x32->16x16"."""
    parts = []
    for n in an.nodes:
        if not n.in_shapes or len(n.shape) != 4 or any(len(s) != 4 for s in n.in_shapes):
            continue
        x = n.in_shapes[0]
        if n.shape[2:] != x[2:]:
            text = an.graph.node(n.index).text
            parts.append(
                f"node {n.index} {text} turns {x[2]}x{x[3]} into {n.shape[2]}x{n.shape[3]}"
            )
    return "; ".join(parts[:3])


def _contract(
    an: Analysis, role: BlockRole, out: Shape, contract: SpatialContract | None = None
) -> None:
    g, b = an.graph, an.binding
    out_node = g.output_nodes[0].index
    B, C, H, W, dim = b["B"], b["C"], b["H"], b["W"], b["dim"]

    def fail(want: str, hint: str) -> None:
        an.errors.append(
            _err(
                g,
                out_node,
                "contract",
                f"a {role.value} block must output {want}; this one outputs "
                f"({','.join(map(str, out))}) for input ({B},{C},{H},{W}) and dim={dim}",
                hint,
            )
        )

    if len(out) != 4 or out[0] != B:
        fail("a 4-D (B, dim, H, W) tensor", "end with a (B, C, H, W) tensor: permute/reshape back")
        return
    if out[1] != dim:
        fail(
            f"dim={dim} channels",
            "set the last layer's out_channels to dim (or C for a base block)",
        )
        return
    out_layout = an.layouts.get(out_node)
    if out_layout is not None and len(out_layout) == 4:
        kinds = [lay.kind(a) for a in out_layout]
        if kinds[1] not in lay.CHANNEL_KINDS or not all(k in lay.SPATIAL_KINDS for k in kinds[2:]):
            an.errors.append(
                _err(
                    g,
                    out_node,
                    "layout",
                    f"the {role.value} block's output has the right size but is laid out "
                    f"({','.join(kinds)}), not (B,C,H,W)",
                    "permute(0,3,1,2) a channels-last tensor back to (B,C,H,W) before the output",
                )
            )
            return
    where = _resizers(an)
    if role is BlockRole.BASE and out[2:] != (H, W):
        fail(
            f"the input's spatial size {H}x{W}",
            (f"{where}. " if where else "")
            + "A base block keeps H and W: stride=1 everywhere, kernel_size fixed (3, 5, 7, "
            "never H or W), pools with stride=1; downsampling belongs to the downsample block",
        )
    elif role is BlockRole.DOWNSAMPLE and (
        out[2] not in (H // 2, (H + 1) // 2) or out[3] not in (W // 2, (W + 1) // 2)
    ):
        fail(
            f"half the spatial size ({H // 2}x{W // 2})",
            "downsample exactly once by 2, e.g. one stride=2 conv or a 2x2 pool on every path",
        )
    elif role is BlockRole.STEM and contract is not None and contract.stem_factor is not None:
        want = contract.stem_size(H)
        if out[2] != want or out[3] != contract.stem_size(W):
            f = contract.stem_factor
            what = "the image size" if f == 1 else f"1/{f} of the image size"
            fix = (
                "use stride=1 everywhere in the stem: this skeleton downsamples only in its "
                "downsample blocks (an ImageNet-style /4 stem loses 15/16 of a 32x32 image)"
                if f == 1
                else f"reduce by exactly {f}, e.g. Conv2d(out_channels=dim,kernel_size={f},stride={f})"
            )
            an.errors.append(
                _err(
                    g,
                    out_node,
                    "contract",
                    f"in the {contract.name} skeleton a stem block must output {what} "
                    f"({want}x{contract.stem_size(W)} for a {H}x{W} image); this one outputs "
                    f"{out[2]}x{out[3]}" + (f" ({where})" if where else ""),
                    fix,
                )
            )
    elif role is BlockRole.STEM and (out[2] > H or out[3] > W):
        fail(f"at most the image size {H}x{W}", "a stem keeps or reduces the spatial size")


def validate_block(g: BlockGraph, **kwargs: Any) -> list[GraphError]:
    """Errors of a lone block (empty when valid); see :func:`analyze` for the arguments."""
    return analyze(g, **kwargs).errors
