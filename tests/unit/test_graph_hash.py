"""Canonical hash: invariant under renumbering/reordering, different for different networks."""

from __future__ import annotations

import numpy as np
import pytest

from nas.graph import (
    SEED_BLOCKS,
    BlockGraph,
    Node,
    canonical_hash,
    nb201_to_graph,
    parse_block,
    seed_blocks,
    serialize,
)
from nas.graph.ops import lookup_op
from nas.spaces.nb201 import random_arch

pytestmark = pytest.mark.unit


def scramble(g: BlockGraph, rng: np.random.Generator) -> BlockGraph:
    """Random renumbering, node-line order and edge-line order; edges into a node whose
    input order matters (concat, ...) keep their relative order, Add/Mul inputs are shuffled."""
    new_ids = rng.choice(1000, size=len(g.nodes), replace=False)
    m = {n.index: int(i) for n, i in zip(g.nodes, new_ids, strict=True)}
    nodes = [Node(m[n.index], n.op, n.args, n.has_parens) for n in g.nodes]
    nodes = [nodes[i] for i in rng.permutation(len(nodes))]
    keys = rng.random(len(g.edges))
    for b in {b for _, b in g.edges}:
        spec = lookup_op(g.node(b).op)
        if spec is not None and not spec.commutative:
            pos = [i for i, (_, bb) in enumerate(g.edges) if bb == b]
            for i, k in zip(pos, sorted(keys[pos]), strict=True):
                keys[i] = k
    edges = [(m[a], m[b]) for a, b in (g.edges[i] for i in np.argsort(keys))]
    return BlockGraph("scrambled", tuple(nodes), tuple(edges))


def corpus(rng: np.random.Generator) -> list[BlockGraph]:
    graphs = [g for name in SEED_BLOCKS for g in seed_blocks(name).values()]
    graphs += [nb201_to_graph(random_arch(rng)) for _ in range(1000 - len(graphs))]
    return graphs


def test_hash_invariant_under_1000_random_scrambles() -> None:
    rng = np.random.default_rng(0)
    graphs = corpus(rng)
    assert len(graphs) == 1000
    for g in graphs:
        s = scramble(g, rng)
        assert canonical_hash(s) == canonical_hash(g), serialize(g)
        assert canonical_hash(parse_block(serialize(s))) == canonical_hash(g)


def test_shared_vs_duplicated_subgraph_differ() -> None:
    shared = parse_block(
        "##a##\n0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3)\n3:ReLU\n4:GELU\n"
        "5:Add\n0->2\n2->3\n2->4\n3->5\n4->5\n5->1\n"
    )
    dup = parse_block(
        "##b##\n0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3)\n3:ReLU\n4:GELU\n"
        "6:Conv2d(out_channels=C,kernel_size=3)\n5:Add\n0->2\n2->3\n0->6\n6->4\n3->5\n4->5\n5->1\n"
    )
    assert canonical_hash(shared) != canonical_hash(dup)


def test_arguments_are_normalised() -> None:
    a = "##a##\n0:input\n1:output\n2:Conv2d(out_channels=2*C,kernel_size=3,stride=1)\n0->2\n2->1\n"
    b = "##b##\n0:input\n1:output\n2:conv2d(kernel_size=3,out_channels=C*2)\n0->2\n2->1\n"
    c = "##c##\n0:input\n1:output\n2:Conv2d(out_channels=2*C,kernel_size=3,stride=2)\n0->2\n2->1\n"
    ha, hb, hc = (canonical_hash(parse_block(t)) for t in (a, b, c))
    assert ha == hb != hc


CONCAT = (
    "##c##\n0:input\n1:output\n2:Conv2d(out_channels=C/2,kernel_size=1)\n"
    "3:Conv2d(out_channels=C/2,kernel_size=3)\n4:concat(dim=1)\n{tail}"
    "0->2\n0->3\n{e1}\n{e2}\n{tail_edges}"
)


def _concat(order: tuple[int, int], tail: str, tail_edges: str) -> BlockGraph:
    e = [f"{order[0]}->4", f"{order[1]}->4"]
    return parse_block(CONCAT.format(tail=tail, e1=e[0], e2=e[1], tail_edges=tail_edges))


def test_concat_order_matters_unless_a_dense_conv_absorbs_it() -> None:
    to_out = ("", "4->1\n")
    absorbed = ("5:ReLU\n6:Conv2d(out_channels=C,kernel_size=1)\n", "4->5\n5->6\n6->1\n")
    h = canonical_hash
    assert h(_concat((2, 3), *to_out)) != h(_concat((3, 2), *to_out))
    assert h(_concat((2, 3), *absorbed)) == h(_concat((3, 2), *absorbed))


def test_hash_ignores_block_name() -> None:
    g = seed_blocks("resnet_basic")["ResNetBasic"]
    assert canonical_hash(g) == canonical_hash(g.renamed("Other"))
