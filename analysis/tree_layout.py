"""Where each node of a modification tree sits: x = depth, y = leaf order (pure)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from analysis.data import TreeNode

__all__ = ["tree_layout"]


def tree_layout(nodes: Sequence[TreeNode]) -> dict[str, tuple[float, float]]:
    """x = depth, y = leaf order (parents centred over their children); orphans are roots."""
    ids = {n.candidate_id for n in nodes}
    children: dict[str | None, list[str]] = {}
    for n in nodes:
        parent = n.parent_id if n.parent_id in ids else None
        children.setdefault(parent, []).append(n.candidate_id)
    pos: dict[str, tuple[float, float]] = {}
    next_y = [0.0]

    visiting: set[str] = set()

    def place(cid: str, depth: int) -> float:
        visiting.add(cid)
        kids = children.get(cid, [])
        stack_ys = [place(k, depth + 1) for k in kids if k not in pos and k not in visiting]
        if stack_ys:
            y = sum(stack_ys) / len(stack_ys)
        else:
            y = next_y[0]
            next_y[0] += 1
        pos[cid] = (float(depth), y)
        return y

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(nodes) + 100))
    try:
        for root in children.get(None, []):
            place(root, 0)
        for n in nodes:  # cycles or unreachable nodes: place them as roots
            if n.candidate_id not in pos:
                place(n.candidate_id, 0)
    finally:
        sys.setrecursionlimit(limit)
    return pos
