"""Architecture graphs: the block DAG format NADER's agents read and write.

Pure Python except :func:`build_model` (imports torch when called).

    >>> from nas.graph import nb201_spec, cost
    >>> cost(nb201_spec("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")).params
    1531546
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.graph.block import BlockGraph, BlockRole, Node, block_role
from nas.graph.cost import Cost, GraphInvalid, block_cost, cost, fit_width, validate
from nas.graph.export import export_source
from nas.graph.hashing import canonical_form, canonical_hash
from nas.graph.nb201 import dead_edges, graph_to_nb201, nb201_spec, nb201_to_graph
from nas.graph.seeds import SEED_BLOCKS, seed_block, seed_blocks
from nas.graph.spec import ArchSpec, arch_hash, spec_from_blocks
from nas.graph.text import ParseError, parse_block, parse_blocks, serialize
from nas.graph.validate import GraphError, analyze

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "SEED_BLOCKS",
    "ArchSpec",
    "BlockGraph",
    "BlockRole",
    "Cost",
    "GraphError",
    "GraphInvalid",
    "Node",
    "ParseError",
    "analyze",
    "arch_hash",
    "block_cost",
    "block_role",
    "build_model",
    "canonical_form",
    "canonical_hash",
    "cost",
    "dead_edges",
    "export_source",
    "fit_width",
    "graph_to_nb201",
    "nb201_spec",
    "nb201_to_graph",
    "parse_block",
    "parse_blocks",
    "seed_block",
    "seed_blocks",
    "serialize",
    "spec_from_blocks",
    "validate",
]


def build_model(spec: ArchSpec) -> nn.Module:
    """``torch.nn.Module`` of ``spec`` (imports torch lazily); see nas.graph.compile."""
    from nas.graph.compile import build_model as _build

    return _build(spec)
