"""NAS-Bench-201 cells as block graphs, and back.

A cell has nodes 0..3; edge ``j -> i`` carries one of ``none``, ``skip_connect``,
``nor_conv_1x1``, ``nor_conv_3x3`` (ReLU-Conv-BN, no conv bias) or ``avg_pool_3x3``; node ``i``
sums its incoming edges. As a block: ``input`` is cell node 0, ``output`` takes node 3,
``skip_connect`` is a plain edge, a node with several live inputs is an ``Add``.

An edge is *dead* when its source is always zero (every path to it starts with ``none``) or
its target never reaches node 3. NAS-Bench-201 still builds (and counts) dead modules; a
valid block has no unused nodes, so :func:`nb201_to_graph` prunes them, and
:func:`dead_edges` lists what was pruned. A cell whose output is always zero becomes
``input -> Zero -> output``.

    >>> g = nb201_to_graph("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    >>> [n.op for n in g.nodes], g.edges
    (['input', 'output'], ((0, 1),))
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

from nas.graph.block import BlockGraph, Node
from nas.graph.hashing import canonical_hash
from nas.graph.spec import ArchSpec
from nas.spaces.nb201 import EDGES, OPS, from_ops, to_ops

__all__ = [
    "dead_edges",
    "graph_to_nb201",
    "live_edges",
    "nb201_op_params",
    "nb201_spec",
    "nb201_to_graph",
]

_CONV_K = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def live_edges(ops: tuple[str, ...]) -> list[bool]:
    """Per edge (EDGES order): True when its op is not ``none`` and it lies on a path from
    a non-zero source to node 3."""
    nonzero = {0}
    for t in (1, 2, 3):
        if any(
            o != "none" and tt == t and s in nonzero for (tt, s), o in zip(EDGES, ops, strict=False)
        ):
            nonzero.add(t)
    reaches = {3}
    for t in (2, 1, 0):
        if any(
            o != "none" and s == t and tt in reaches for (tt, s), o in zip(EDGES, ops, strict=False)
        ):
            reaches.add(t)
    return [
        o != "none" and s in nonzero and t in reaches for (t, s), o in zip(EDGES, ops, strict=False)
    ]


def dead_edges(arch: str) -> list[tuple[tuple[int, int], str]]:
    """``((target, source), op)`` of every non-``none`` edge that :func:`nb201_to_graph` prunes."""
    ops = to_ops(arch)
    live = live_edges(ops)
    return [(e, o) for e, o, ok in zip(EDGES, ops, live, strict=False) if o != "none" and not ok]


def nb201_op_params(op: str, channels: int) -> int:
    """Parameters of one NB201 edge op at ``channels`` (conv weights + BN affine)."""
    k = _CONV_K.get(op)
    return 0 if k is None else channels * channels * k * k + 2 * channels


def nb201_to_graph(arch: str, name: str = "nb201_cell") -> BlockGraph:
    """The block graph of an NB201 arch string (dead edges pruned); raises ValueError on a
    malformed string."""
    ops = to_ops(arch)
    live = live_edges(ops)
    nodes = [Node(0, "input"), Node(1, "output")]
    edges: list[tuple[int, int]] = []
    nxt = 2

    def add(op: str, args: tuple[tuple[str | None, str], ...] = ()) -> int:
        nonlocal nxt
        nodes.append(Node(nxt, op, args, bool(args)))
        nxt += 1
        return nxt - 1

    value: dict[int, int] = {0: 0}  # cell node -> graph node holding its value
    for t in (1, 2, 3):
        parts: list[int] = []
        for (tt, s), o, ok in zip(EDGES, ops, live, strict=False):
            if tt != t or not ok:
                continue
            src = value[s]
            if o == "skip_connect":
                parts.append(src)
            elif o == "avg_pool_3x3":
                p = add("AvgPool2d", (("kernel_size", "3"), ("stride", "1")))
                edges.append((src, p))
                parts.append(p)
            else:
                r = add("ReLU")
                c = add(
                    "Conv2d",
                    (
                        ("out_channels", "C"),
                        ("kernel_size", str(_CONV_K[o])),
                        ("stride", "1"),
                        ("bias", "False"),
                    ),
                )
                b = add("BN")
                edges += [(src, r), (r, c), (c, b)]
                parts.append(b)
        if len(parts) == 1:
            value[t] = parts[0]
        elif parts:
            a = add("Add")
            edges += [(p, a) for p in parts]
            value[t] = a
    if 3 in value:
        edges.append((value[3], 1))
    else:
        z = add("Zero")
        edges += [(0, z), (z, 1)]
    return BlockGraph(name, tuple(nodes), tuple(edges))


@lru_cache(maxsize=1)
def _cells_by_counts() -> dict[tuple[int, int, int], list[tuple[int, tuple[int, ...], str]]]:
    """All 15,625 cells grouped by the live (conv3x3, conv1x1, pool) counts of their graph,
    each as ``(dead edge count, op indices, arch)`` in preference order."""
    groups: dict[tuple[int, int, int], list[tuple[int, tuple[int, ...], str]]] = {}
    for idx in product(range(len(OPS)), repeat=len(EDGES)):
        ops = tuple(OPS[i] for i in idx)
        live = live_edges(ops)
        used = [o for o, ok in zip(ops, live, strict=True) if ok]
        key = (used.count("nor_conv_3x3"), used.count("nor_conv_1x1"), used.count("avg_pool_3x3"))
        n_dead = sum(o != "none" for o in ops) - len(used)
        groups.setdefault(key, []).append((n_dead, idx, from_ops(ops)))
    for cells in groups.values():
        cells.sort()
    return groups


_NB201_LABELS = {"input", "output", "relu", "bn", "add", "zero"}


def graph_to_nb201(graph: BlockGraph) -> str | None:
    """An NB201 arch string whose cell is isomorphic to ``graph`` (preferring one without
    dead edges, then the smallest op tuple), or None when no NB201 cell is. Only cells with
    the same numbers of convolutions and pools are hashed."""
    from nas.graph.hashing import node_label

    k3 = k1 = pools = 0
    for n in graph.nodes:
        label = node_label(n.op, n.args)
        kind = label.split("(", 1)[0]
        if kind == "conv2d":
            if "kernel_size=3," in label:
                k3 += 1
            elif "kernel_size=1," in label:
                k1 += 1
            else:
                return None
        elif kind == "avgpool2d":
            pools += 1
        elif kind not in _NB201_LABELS:
            return None
    want = canonical_hash(graph)
    for _, _, arch in _cells_by_counts().get((k3, k1, pools), []):
        if canonical_hash(nb201_to_graph(arch)) == want:
            return arch
    return None


def nb201_spec(arch: str, channels: int = 16, cells: int = 5, num_classes: int = 10) -> ArchSpec:
    """NAS-Bench-201's network for ``arch``: C=``channels``, N=``cells``, 32x32 inputs."""
    return ArchSpec(
        base=nb201_to_graph(arch),
        kind="nb201",
        width=channels,
        cells=cells,
        num_classes=num_classes,
        input_shape=(3, 32, 32),
    )
