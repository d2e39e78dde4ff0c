"""Small, pure edits of a :class:`~nas.graph.block.BlockGraph` (new graphs, never in place).

The rule-based designer's transformations are written with these; each returns a new
graph whose validity is checked by the caller with the real validator.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.graph.block import BlockGraph, Node

__all__ = [
    "arg",
    "in_channels_expr",
    "insert_after",
    "make_node",
    "next_index",
    "out_source",
    "replace_node",
]

Spec = tuple[str, dict[str, object]]  # (op, args) of a new node


def make_node(index: int, op: str, args: dict[str, object] | None = None) -> Node:
    items = tuple((k, str(v)) for k, v in (args or {}).items())
    return Node(index, op, items, bool(items))


def arg(node: Node, name: str, default: str | None = None) -> str | None:
    for k, v in node.args:
        if k == name:
            return v
    return default


def next_index(g: BlockGraph) -> int:
    return max(n.index for n in g.nodes) + 1


def out_source(g: BlockGraph) -> int:
    """The node feeding the block output."""
    out = g.output_nodes[0].index
    return g.inputs_of(out)[0]


def in_channels_expr(g: BlockGraph, index: int) -> str | None:
    """Symbolic channel count entering node ``index`` (walking back through shape-keeping
    ops to a conv's ``out_channels`` or the input's ``C``); None when it cannot be told."""
    seen: set[int] = set()
    srcs = g.inputs_of(index)
    cur = srcs[0] if srcs else None
    while cur is not None and cur not in seen:
        seen.add(cur)
        node = g.node(cur)
        if node.kind in ("input", "input1"):
            return "C"
        if node.kind in ("conv2d", "conv", "linear"):
            return arg(node, "out_channels")
        if node.kind in ("concat", "cat", "permute", "reshape", "view", "flatten", "mean", "max"):
            return None
        prev = g.inputs_of(cur)
        cur = prev[0] if prev else None
    return None


def insert_after(g: BlockGraph, src: int, chain: Sequence[Spec]) -> tuple[BlockGraph, list[int]]:
    """Insert ``src -> n1 -> ... -> nk`` and move every consumer of ``src`` onto ``nk``
    (keeping each consumer's input position). Returns the graph and the new indices."""
    start = next_index(g)
    new_nodes = [make_node(start + i, op, a) for i, (op, a) in enumerate(chain)]
    ids = [n.index for n in new_nodes]
    edges = [(ids[-1] if a == src else a, b) for a, b in g.edges]
    edges += [(src, ids[0])] + [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    return BlockGraph(g.name, g.nodes + tuple(new_nodes), tuple(edges)), ids


def replace_node(g: BlockGraph, index: int, chain: Sequence[Spec]) -> BlockGraph:
    """Replace node ``index`` (one input) by a chain: its input feeds the chain's first node,
    the chain's last node feeds its consumers."""
    start = next_index(g)
    new_nodes = [make_node(start + i, op, a) for i, (op, a) in enumerate(chain)]
    ids = [n.index for n in new_nodes]
    nodes = tuple(n for n in g.nodes if n.index != index) + tuple(new_nodes)
    edges: list[tuple[int, int]] = []
    for a, b in g.edges:
        if b == index:
            edges.append((a, ids[0]))
        elif a == index:
            edges.append((ids[-1], b))
        else:
            edges.append((a, b))
    edges += [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    return BlockGraph(g.name, nodes, tuple(edges))
