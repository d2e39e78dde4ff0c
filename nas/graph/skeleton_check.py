"""Checking blocks the way a skeleton runs them (pure Python).

A lone block checked at one width can pass and still fail in the network: ``C/16`` is 4 at
64 channels but 0 at 8, and a /4 stem is fine for ImageNet but not inside NAS-Bench-201's
skeleton. :func:`check_in_skeleton` checks a base block (with the skeleton's default or given
stem and downsample) at every width and resolution the skeleton runs; :func:`check_file_blocks`
is what ``archlab graph validate --skeleton`` prints.

    >>> from nas.graph.text import parse_block
    >>> se = parse_block("##SE##\\n0:input\\n1:output\\n2:AdaptiveAvgPool2d(output_size=1)\\n"
    ...     "3:Conv2d(out_channels=C/16,kernel_size=1)\\n4:ReLU\\n5:Conv2d(out_channels=C,kernel_size=1)\\n"
    ...     "6:Sigmoid\\n7:Mul\\n0->2\\n2->3\\n3->4\\n4->5\\n5->6\\n6->7\\n0->7\\n7->1")
    >>> check_in_skeleton(se, kind="nb201", width=16) == []
    True
    >>> [e.rule for e in check_in_skeleton(se, kind="nb201", width=8)][:1]
    ['bad-arg']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from nas.graph.block import BlockGraph, BlockRole
from nas.graph.cost import validate
from nas.graph.skeleton import CONTRACTS, contract_for
from nas.graph.spec import MACRO_KINDS, ArchSpec, spec_from_blocks
from nas.graph.validate import GraphError, analyze

__all__ = ["DEFAULT_WIDTH", "check_file_blocks", "check_in_skeleton"]

DEFAULT_WIDTH = {"nb201": 16, "stages": 64}


def check_in_skeleton(
    base: BlockGraph,
    kind: str = "nb201",
    width: int | None = None,
    *,
    spec: ArchSpec | None = None,
    stem: BlockGraph | None = None,
    downsample: BlockGraph | None = None,
) -> list[GraphError]:
    """Errors of ``base`` run in skeleton ``kind`` at first-stage ``width`` (or in ``spec``'s
    skeleton and widths, with ``base`` replacing its block): every width and resolution of
    every stage, each message naming the layer (``[as stage2.block0: input (2, 32, 16, 16),
    dim=32]``). Empty when valid."""
    if spec is None:
        spec = ArchSpec(base=base, kind=kind, width=width or DEFAULT_WIDTH.get(kind, 16))
    spec = replace(
        spec, base=base, stem=stem or spec.stem, downsample=downsample or spec.downsample
    )
    return validate(spec)


def check_file_blocks(
    blocks: Mapping[str, BlockGraph], skeleton: str = "", channels: int = 64
) -> list[GraphError]:
    """Every block of a file checked alone at ``channels`` (with ``skeleton``'s spatial
    contract when given) and, when ``skeleton`` is a macro kind and the file has a base
    block, the whole network at the skeleton's default widths; duplicates dropped."""
    contract = contract_for(skeleton) if skeleton else None
    errors: list[GraphError] = []
    seen: set[tuple[str, int | None, str]] = set()

    def add(errs: list[GraphError]) -> None:
        for e in errs:
            key = (e.block, e.node, e.rule)
            if key not in seen:
                seen.add(key)
                errors.append(e)

    for g in blocks.values():
        add(analyze(g, channels=channels, contract=contract).errors)
    if skeleton in MACRO_KINDS and any(g.role is BlockRole.BASE for g in blocks.values()):
        spec = spec_from_blocks(blocks, kind=skeleton, width=DEFAULT_WIDTH[skeleton])
        add(validate(spec))
    return errors


assert set(DEFAULT_WIDTH) <= set(CONTRACTS)
