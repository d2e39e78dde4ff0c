"""Section ``space``: what a run searches over (declared once; the launcher's schema
composes it, the composition root turns it into a space, a NADER skeleton and a recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nas.config_checks import at_least, fail, one_of

__all__ = ["KINDS", "MACROS", "SpaceConfig"]

KINDS = ("nb201", "block", "macro", "channel")  # space.kind
MACROS = ("nb201", "stages")  # space.macro (block spaces)


@dataclass(frozen=True)
class SpaceConfig:
    """Section ``space``."""

    kind: str = "nb201"  # nb201 | block | macro | channel (what the strategy searches over)
    nb201_channels: int = 8  # NB201 skeleton: channels C of the first stage (paper: 16)
    nb201_cells: int = 1  # NB201 skeleton: cells N per stage (paper: 5)
    base_block: str = "resnet_basic"  # block space: built-in seed block name or a block file path
    macro: str = "nb201"  # block space skeleton: nb201 | stages
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # stage widths (stages)
    depths: list[int] = field(default_factory=lambda: [1, 1, 1])  # blocks per stage (stages)
    table: str = ""  # path of a tabular benchmark (e.g. nb201.parquet) for table evaluation

    def validate(self, where: str = "space.") -> None:
        one_of(where, "kind", self.kind, KINDS)
        one_of(where, "macro", self.macro, MACROS)
        at_least(where, "nb201_channels", self.nb201_channels, 1)
        at_least(where, "nb201_cells", self.nb201_cells, 1)
        if self.macro == "stages" and self.kind == "block":
            if not self.widths or len(self.widths) != len(self.depths):
                fail(where + "widths", self.widths, "needs one width per stage of "
                     f"{where}depths ({len(self.depths)} stages)", "give lists of equal length")  # fmt: skip
            if min(self.widths) < 1 or min(self.depths) < 1:
                fail(where + "widths", self.widths, "widths and depths must be >= 1")
