"""The NAS-Bench-201 cell space: 6 edges, 5 operations, 15,625 cells.

Arch strings look like ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|``:
node 1 <- edge from node 0; node 2 <- edges from 0, 1; node 3 <- edges from 0, 1, 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.spaces.base import CategoricalSpace, Position, SpaceError

__all__ = [
    "EDGES",
    "OPS",
    "NB201Space",
    "cell_flops_m",
    "from_ops",
    "parse_arch",
    "random_arch",
    "to_ops",
    "unique_str",
]

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


def unique_str(arch: str) -> str:
    """NAS-Bench-201's isomorphism-class string (``to_unique_str(consider_zero=True)``).

    ``none`` edges and edges from dead nodes are zero, ``skip_connect`` passes its input
    through, and the inputs of a node are summed (order-free). Equal exactly for the cells
    that compute the same function; over the 15,625 cells it yields the table's 6,466
    ``unique_str`` classes (checked in ``tests/unit/test_space_nb201.py``).
    """
    nodes = {0: "0"}
    for i, node in enumerate(parse_arch(arch), start=1):
        terms = []
        for op, src in node:
            if op == "none" or nodes[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes[i] = "+".join(sorted(terms))
    return nodes[3]


# MFLOPs of the NB201 skeleton (C=16, N=5, 32x32 input, 10 classes): exact and linear in the
# number of 1x1 and 3x3 convolution edges (pooling and skips are free in NB201's count).
_FLOPS_BASE_M = 7.78305
_FLOPS_CONV1_M = 3.93216
_FLOPS_CONV3_M = 35.38944


def cell_flops_m(ops: Sequence[str]) -> float:
    """Forward MFLOPs of the 32x32 NB201 network whose cell has these 6 edge ops."""
    return (
        _FLOPS_BASE_M
        + _FLOPS_CONV1_M * sum(o == "nor_conv_1x1" for o in ops)
        + _FLOPS_CONV3_M * sum(o == "nor_conv_3x3" for o in ops)
    )


def _paths_and_depth(ops: Sequence[str]) -> tuple[int, int]:
    """(number of live input->output paths, longest live path in edges)."""
    alive = {e: op != "none" for e, op in zip(EDGES, ops, strict=True)}
    paths = {0: 1}
    depth = {0: 0}
    for node in (1, 2, 3):
        ins = [src for (dst, src), ok in alive.items() if dst == node and ok and paths[src] > 0]
        paths[node] = sum(paths[s] for s in ins)
        depth[node] = max((depth[s] + 1 for s in ins), default=0)
    return paths[3], depth[3]


class NB201Space(CategoricalSpace):
    """NAS-Bench-201 cells as a categorical space: 6 edges (``EDGES``) x 5 ops (``OPS``).

    ``arch_hash`` is isomorphism-invariant: the content hash of :func:`unique_str`, so two
    cells that compute the same function (e.g. differing only on a dead edge) share it.
    Hashes are cached per arch string (the fast path used by benchmark runs).

    Descriptors (LLMatic): width/depth = live paths / longest live path (0 for a cell with
    no live path; over the 15,625 cells it takes the values 0, 1/3, 1/2, 2/3, 1, 4/3 and 3/2,
    so the bounds are [0, 1.5]) and the 32x32 network's MFLOPs (bounds [7.78, 220.12]: no
    convolution to six 3x3 convolutions).
    """

    kind = "nb201"
    positions = tuple(
        Position(name=f"edge {dst}<-{src}", choices=OPS, source=f"node {src}") for dst, src in EDGES
    )
    feature_bounds = (
        (0.0, 1.5),
        (_FLOPS_BASE_M, _FLOPS_BASE_M + 6 * _FLOPS_CONV3_M),
    )

    def __init__(self) -> None:
        # memo tables (at most 15,625 entries each): benchmark runs encode/decode a lot
        self._dec: dict[str, tuple[str, ...]] = {}
        self._enc: dict[tuple[str, ...], str] = {}

    def encode(self, values: Sequence[str]) -> str:
        key = tuple(values)
        arch = self._enc.get(key)
        if arch is None:
            arch = self._enc[key] = from_ops(key)
        return arch

    def decode(self, arch: str) -> tuple[str, ...]:
        ops = self._dec.get(arch)
        if ops is None:
            try:
                ops = to_ops(arch)
            except (ValueError, KeyError) as e:
                raise SpaceError(str(e)) from None
            self._dec[arch] = ops
        return ops

    def canonical(self, arch: str) -> str:
        return unique_str(self.validate(arch))

    def features(self, arch: str) -> tuple[float, float]:
        ops = self.decode(arch)
        paths, depth = _paths_and_depth(ops)
        return (paths / depth if depth else 0.0, cell_flops_m(ops))

    def describe(self, arch: str) -> str:
        ops = self.decode(arch)
        return "\n".join(f"edge {d}<-{s}: {o}" for (d, s), o in zip(EDGES, ops, strict=True))
