"""ArchSpec: a whole network as plain data (base block + stem + downsample + macro skeleton).

Two macro skeletons (see :mod:`nas.graph.macro`):

* ``nb201``: stem, then three stages of ``cells`` base blocks at widths ``width``, ``2*width``,
  ``4*width`` joined by downsample blocks, then BN-ReLU, global average pool and a linear
  classifier (NAS-Bench-201's network).
* ``stages``: stem, then one stage per entry of ``widths``/``depths`` (a downsample block
  between consecutive stages), then global average pool and a linear classifier (NADER's
  ResNet-style macro). Empty ``widths`` means ``(width, 2w, 4w, 8w)``; empty ``depths``
  means 2 blocks per stage.

``stem``/``downsample`` None means the skeleton's default block.

    >>> from nas.graph.seeds import seed_block
    >>> spec = ArchSpec(base=seed_block("resnet_basic"), kind="stages", width=32)
    >>> ArchSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from nas.graph.block import BlockGraph, BlockRole
from nas.graph.hashing import HASH_LENGTH, canonical_hash
from nas.graph.text import parse_blocks, serialize

__all__ = ["MACRO_KINDS", "ArchSpec", "arch_hash", "spec_from_blocks"]

MACRO_KINDS: tuple[str, ...] = ("nb201", "stages")


@dataclass(frozen=True)
class ArchSpec:
    base: BlockGraph  # the searched block, (B, C, H, W) -> (B, C, H, W)
    stem: BlockGraph | None = None  # image -> first stage; None = the skeleton's default
    downsample: BlockGraph | None = None  # stage i -> stage i+1 (C -> dim, H/2); None = default
    kind: str = "nb201"  # macro skeleton: "nb201" | "stages"
    width: int = 16  # first-stage width (channels)
    cells: int = 5  # nb201: base blocks per stage
    widths: tuple[int, ...] = ()  # stages: width per stage; () = (w, 2w, 4w, 8w)
    depths: tuple[int, ...] = ()  # stages: base blocks per stage; () = 2 each
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (3, 32, 32)  # (channels, H, W) of one image

    def stage_widths(self) -> tuple[int, ...]:
        if self.kind == "nb201":
            return (self.width, 2 * self.width, 4 * self.width)
        if self.widths:
            return tuple(self.widths)
        return (self.width, 2 * self.width, 4 * self.width, 8 * self.width)

    def stage_depths(self) -> tuple[int, ...]:
        n = len(self.stage_widths())
        if self.kind == "nb201":
            return (self.cells,) * n
        return tuple(self.depths) if self.depths else (2,) * n

    def with_width(self, width: int) -> ArchSpec:
        """The same network with first-stage width ``width`` (other stages scale with it)."""
        if self.kind == "stages" and self.widths:
            w0 = self.widths[0]
            return replace(
                self, width=width, widths=tuple(max(1, round(width * w / w0)) for w in self.widths)
            )
        return replace(self, width=width)

    def to_dict(self) -> dict[str, Any]:
        def text(g: BlockGraph | None) -> str | None:
            return None if g is None else serialize(g)

        return {
            "base": text(self.base),
            "stem": text(self.stem),
            "downsample": text(self.downsample),
            "kind": self.kind,
            "width": self.width,
            "cells": self.cells,
            "widths": list(self.widths),
            "depths": list(self.depths),
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArchSpec:
        def graph(t: str | None) -> BlockGraph | None:
            if not t:
                return None
            return next(iter(parse_blocks(t).values()))

        base = graph(d["base"])
        if base is None:
            raise ValueError("ArchSpec dict needs a 'base' block text")
        shape = tuple(int(x) for x in d.get("input_shape", (3, 32, 32)))
        if len(shape) != 3:
            raise ValueError(f"input_shape {shape} must be (channels, H, W)")
        return cls(
            base=base,
            stem=graph(d.get("stem")),
            downsample=graph(d.get("downsample")),
            kind=str(d.get("kind", "nb201")),
            width=int(d.get("width", 16)),
            cells=int(d.get("cells", 5)),
            widths=tuple(int(x) for x in d.get("widths", ())),
            depths=tuple(int(x) for x in d.get("depths", ())),
            num_classes=int(d.get("num_classes", 10)),
            input_shape=(shape[0], shape[1], shape[2]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def spec_from_blocks(blocks: Mapping[str, BlockGraph], **macro: Any) -> ArchSpec:
    """An ArchSpec from a parsed block file: the first base-role block is the base, blocks
    named ``*_stem``/``*_downsample`` (or ``stem_*``/``downsample_*``) fill those slots."""
    base = stem = down = None
    for g in blocks.values():
        if g.role is BlockRole.STEM and stem is None:
            stem = g
        elif g.role is BlockRole.DOWNSAMPLE and down is None:
            down = g
        elif g.role is BlockRole.BASE and base is None:
            base = g
    if base is None:
        raise ValueError(
            f"no base block among {list(blocks)}: name the searched block without a "
            "_stem/_downsample suffix"
        )
    return ArchSpec(base=base, stem=stem, downsample=down, **macro)


def arch_hash(spec: ArchSpec) -> str:
    """Hash of the whole network: canonical hashes of its blocks plus the macro parameters
    (equal for isomorphic blocks, whatever their names and numbering)."""
    parts = {
        "base": canonical_hash(spec.base),
        "stem": canonical_hash(spec.stem) if spec.stem else None,
        "downsample": canonical_hash(spec.downsample) if spec.downsample else None,
        "kind": spec.kind,
        "widths": list(spec.stage_widths()),
        "depths": list(spec.stage_depths()),
        "num_classes": spec.num_classes,
        "input_shape": list(spec.input_shape),
    }
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:HASH_LENGTH]
