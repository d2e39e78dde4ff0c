"""Canonical hash of a block: equal exactly for isomorphic blocks.

Two blocks are the same network when a renumbering of nodes maps one onto the other,
keeping each node's operation and arguments (compared in a normal form: aliases resolved,
defaults filled, ``2*C`` == ``C*2``) and each node's input order — except where input order
does not matter: ``Add`` and ``Mul`` always, and ``concat`` along channels when every path
from it meets a dense convolution (``groups=1``) before anything that mixes channel order
(the convolution absorbs a channel permutation into its weights; see docs/graph.md).

The hash is a canonical labelling: colour refinement (1-WL over port-labelled in- and
out-edges, colours re-ranked from sorted signatures so they never depend on numbering),
then individualisation-refinement on ties, keeping the smallest certificate over all leaves
(exact; the search stops after ``MAX_LEAVES`` leaves, which symmetric real blocks never
reach). The certificate lists every node's label and its input ports in canonical order, and
its SHA-256 prefix is the hash.

    >>> from nas.graph.text import parse_block
    >>> a = parse_block("##a##\\n0:input\\n1:output\\n2:ReLU\\n3:BN\\n4:Add\\n0->2\\n0->3\\n2->4\\n3->4\\n4->1")
    >>> b = parse_block("##b##\\n9:output\\n5:input\\n7:Add\\n1:BN\\n2:ReLU\\n5->1\\n1->7\\n5->2\\n2->7\\n7->9")
    >>> canonical_hash(a) == canonical_hash(b)
    True
"""

from __future__ import annotations

import hashlib

from nas.graph.block import BlockGraph
from nas.graph.ops import canonical_args, lookup_op

__all__ = ["MAX_LEAVES", "canonical_form", "canonical_hash", "node_label"]

MAX_LEAVES = 4096
HASH_LENGTH = 16

# per-channel ops a channel permutation passes through unchanged (up to permuted parameters)
_CHANNELWISE = {
    "bn", "relu", "gelu", "sigmoid", "silu", "tanh", "droppath", "dropout", "identity",
    "avgpool2d", "maxpool2d", "zero",
}  # fmt: skip


def node_label(op: str, args: tuple[tuple[str | None, str], ...]) -> str:
    """``op(args)`` in normal form: the part of a node that isomorphism must preserve."""
    spec = lookup_op(op)
    if spec is None:
        return f"?{op}(" + ",".join(f"{k}={v}" if k else v for k, v in args) + ")"
    return f"{spec.name.lower()}({canonical_args(spec, args)})"


def _groups_is_one(label: str) -> bool:
    return "groups=1," in label or label.endswith("groups=1)")


def _unordered_inputs(g: BlockGraph, labels: dict[int, str]) -> set[int]:
    """Nodes whose input order does not change the network (see the module docstring)."""
    out: set[int] = set()
    for n in g.nodes:
        spec = lookup_op(n.op)
        if spec is None:
            continue
        if spec.commutative:
            out.add(n.index)
        elif spec.name == "concat" and labels[n.index] == "concat(dim=1)":
            stack, seen, ok = list(g.consumers_of(n.index)), set(), True
            while stack and ok:
                c = stack.pop()
                if c in seen:
                    continue
                seen.add(c)
                lab = labels.get(c, "")
                kind = lab.split("(", 1)[0]
                if kind == "conv2d" and _groups_is_one(lab):
                    continue
                if kind in _CHANNELWISE:
                    stack.extend(g.consumers_of(c))
                else:
                    ok = False
            if ok and seen:
                out.add(n.index)
    return out


def _rank(sigs: list[tuple[object, ...]]) -> list[int]:
    order = {s: i for i, s in enumerate(sorted(set(sigs)))}
    return [order[s] for s in sigs]


def canonical_form(g: BlockGraph) -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
    """The canonical certificate: per node in canonical order, its label and sorted
    ``(port, canonical source)`` inputs (port 0 for every input of an unordered node)."""
    idx = [n.index for n in g.nodes]
    pos = {k: i for i, k in enumerate(idx)}
    labels = {n.index: node_label(n.op, n.args) for n in g.nodes}
    unordered = _unordered_inputs(g, labels)
    n = len(idx)
    ins: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # (port, src position)
    outs: list[list[tuple[int, int]]] = [[] for _ in range(n)]  # (port at dst, dst position)
    port_count: dict[int, int] = {}
    for a, b in g.edges:
        if a not in pos or b not in pos:
            continue
        p = 0 if b in unordered else port_count.get(b, 0)
        port_count[b] = port_count.get(b, 0) + 1
        ins[pos[b]].append((p, pos[a]))
        outs[pos[a]].append((p, pos[b]))
    lab = [labels[k] for k in idx]
    init = _rank([(x,) for x in lab])

    def refine(colors: list[int]) -> list[int]:
        while True:
            sigs: list[tuple[object, ...]] = [
                (
                    colors[v],
                    tuple(sorted((p, colors[u]) for p, u in ins[v])),
                    tuple(sorted((p, colors[w]) for p, w in outs[v])),
                )
                for v in range(n)
            ]
            new = _rank(sigs)
            if len(set(new)) == len(set(colors)):
                return new
            colors = new

    best: list[tuple[tuple[str, tuple[tuple[int, int], ...]], ...]] = []
    leaves = 0

    def search(colors: list[int]) -> None:
        nonlocal leaves
        if leaves >= MAX_LEAVES:
            return
        classes: dict[int, list[int]] = {}
        for v, c in enumerate(colors):
            classes.setdefault(c, []).append(v)
        ties = [c for c, members in classes.items() if len(members) > 1]
        if not ties:
            leaves += 1
            order = sorted(range(n), key=lambda v: colors[v])
            cert = tuple((lab[v], tuple(sorted((p, colors[u]) for p, u in ins[v]))) for v in order)
            if not best or cert < best[0]:
                best[:] = [cert]
            return
        target = min(ties)
        for v in classes[target]:
            split = _rank([(c, 0 if (u == v) else 1) for u, c in enumerate(colors)])
            search(refine(split))

    search(refine(init))
    return best[0]


def canonical_hash(g: BlockGraph) -> str:
    """Hex hash (16 chars) of ``g`` up to isomorphism; the block name is not part of it."""
    cert = canonical_form(g)
    return hashlib.sha256(repr(cert).encode("utf-8")).hexdigest()[:HASH_LENGTH]
