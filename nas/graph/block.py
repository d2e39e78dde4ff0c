"""Plain data for one block: :class:`Node` and :class:`BlockGraph`.

A block is a DAG whose nodes are operations written ``index:Op(args)`` and whose edges are
``a->b`` lines. The order of edges into a node is its input order (it matters for ordered
operations such as ``concat`` feeding a ``reshape``); everything else about line order and
node numbering is irrelevant to the network, which is what :func:`nas.graph.canonical_hash`
captures.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["INPUT_OPS", "OUTPUT_OP", "BlockGraph", "BlockRole", "Node", "block_role"]

INPUT_OPS: tuple[str, ...] = ("input", "input1", "input2")
OUTPUT_OP = "output"


class BlockRole(str, enum.Enum):
    """What a block is for in a macro skeleton; decides its shape contract."""

    BASE = "base"  # (B, C, H, W) -> (B, dim, H, W) with dim == C
    STEM = "stem"  # image (B, 3, H, W) -> (B, dim, H/s, W/s)
    DOWNSAMPLE = "downsample"  # (B, C, H, W) -> (B, dim, H/2, W/2)


def block_role(name: str) -> BlockRole:
    """Role from a block name: ``X_stem``/``stem_X`` is a stem, ``X_downsample``/``downsample_X``
    a downsample block, anything else a base block."""
    low = name.lower()
    for role in (BlockRole.STEM, BlockRole.DOWNSAMPLE):
        if low == role.value or low.endswith("_" + role.value) or low.startswith(role.value + "_"):
            return role
    return BlockRole.BASE


@dataclass(frozen=True)
class Node:
    """One line ``index:op(args)``. ``args`` keep the text as written: ``(key, value)`` with
    ``key=None`` for a positional argument (``permute(0,2,3,1)``)."""

    index: int
    op: str
    args: tuple[tuple[str | None, str], ...] = ()
    has_parens: bool = False  # ``BN`` vs ``BN()``: kept for an exact round trip

    @property
    def text(self) -> str:
        if not self.args and not self.has_parens:
            return self.op
        inner = ",".join(v if k is None else f"{k}={v}" for k, v in self.args)
        return f"{self.op}({inner})"

    @property
    def kind(self) -> str:
        """Lower-cased op name (``Concat`` and ``concat`` are one op)."""
        return self.op.lower()


@dataclass(frozen=True)
class BlockGraph:
    """A named block: nodes in file order and edges ``(src, dst)`` in file order."""

    name: str
    nodes: tuple[Node, ...]
    edges: tuple[tuple[int, int], ...]
    _by_index: dict[int, Node] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._by_index.update({n.index: n for n in self.nodes})

    @property
    def role(self) -> BlockRole:
        return block_role(self.name)

    def node(self, index: int) -> Node:
        return self._by_index[index]

    def has_node(self, index: int) -> bool:
        return index in self._by_index

    def inputs_of(self, index: int) -> list[int]:
        """Sources of ``index`` in edge order (its input ports)."""
        return [a for a, b in self.edges if b == index]

    def consumers_of(self, index: int) -> list[int]:
        return [b for a, b in self.edges if a == index]

    @property
    def input_nodes(self) -> list[Node]:
        """The graph inputs in port order (``input`` or ``input1``, ``input2``)."""
        found = [n for n in self.nodes if n.kind in INPUT_OPS]
        return sorted(found, key=lambda n: INPUT_OPS.index(n.kind))

    @property
    def output_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == OUTPUT_OP]

    @property
    def num_inputs(self) -> int:
        return len(self.input_nodes)

    def renamed(self, name: str) -> BlockGraph:
        return BlockGraph(name, self.nodes, self.edges)
