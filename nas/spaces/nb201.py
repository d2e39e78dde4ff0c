"""The NAS-Bench-201 cell space: 6 edges, 5 operations, 15,625 cells.

Arch strings look like ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|``:
node 1 <- edge from node 0; node 2 <- edges from 0, 1; node 3 <- edges from 0, 1, 2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGES", "OPS", "from_ops", "parse_arch", "random_arch", "to_ops"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (target node, source node) of each of the 6 edges, in arch-string order (op0..op5).
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def parse_arch(arch: str) -> list[list[tuple[str, int]]]:
    """``arch`` -> per node 1..3 the list of (op, source node); raises ValueError with the fix."""
    nodes = [n for n in arch.strip().split("+")]
    if len(nodes) != 3:
        raise ValueError(
            f"NB201 arch string {arch!r} needs 3 '+'-separated nodes, got {len(nodes)}"
        )
    out: list[list[tuple[str, int]]] = []
    for i, node in enumerate(nodes, start=1):
        items = [t for t in node.strip("|").split("|") if t]
        if len(items) != i:
            raise ValueError(f"NB201 node {i} in {arch!r} needs {i} inputs, got {len(items)}")
        ops = []
        for item in items:
            op, _, src = item.partition("~")
            if op not in OPS:
                raise ValueError(f"unknown NB201 op {op!r} in {arch!r}; ops are: {', '.join(OPS)}")
            if not src.isdigit() or int(src) >= i:
                raise ValueError(f"NB201 edge {item!r} of node {i} must come from a node < {i}")
            ops.append((op, int(src)))
        out.append(ops)
    return out


def to_ops(arch: str) -> tuple[str, ...]:
    """The 6 edge operations in EDGES order."""
    nodes = parse_arch(arch)
    by_edge = {(i + 1, src): op for i, node in enumerate(nodes) for op, src in node}
    return tuple(by_edge[e] for e in EDGES)


def from_ops(ops: tuple[str, ...] | list[str]) -> str:
    if len(ops) != 6:
        raise ValueError(f"an NB201 cell has 6 edges, got {len(ops)} ops")
    parts = []
    k = 0
    for node in (1, 2, 3):
        items = []
        for src in range(node):
            items.append(f"{ops[k]}~{src}")
            k += 1
        parts.append("|" + "|".join(items) + "|")
    return "+".join(parts)


def random_arch(rng: np.random.Generator) -> str:
    return from_ops([OPS[int(i)] for i in rng.integers(0, len(OPS), size=6)])
