"""Each macro skeleton's spatial contract: what its stem and downsample blocks must do to the
feature-map size (pure data, read by the validator and by the derive prompts).

* ``nb201`` (NAS-Bench-201's network): the stem keeps the image size (32x32 stays 32x32);
  each of the two downsample blocks halves it. An ImageNet-style /4 stem is wrong here.
* ``stages`` (NADER's ResNet-style macro on CIFAR): the stem may keep or reduce the size;
  downsample halves it.
* ``imagenet`` (NADER's ImageNet setting, its ``stem_down_scale=4``): the stem reduces by
  exactly 4 (224 -> 56); downsample halves.

    >>> contract_for("nb201").stem_factor
    1
    >>> print(contract_for("nb201").rules(32)[0])
    The stem block's output must have the same height and width as its input (32x32 stays 32x32): use stride=1 everywhere in the stem.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTRACTS", "SpatialContract", "contract_for"]


@dataclass(frozen=True)
class SpatialContract:
    name: str
    stem_factor: int | None  # the stem divides H and W by exactly this; None: any reduction
    downsample_factor: int = 2

    def stem_size(self, h: int) -> int | None:
        return None if self.stem_factor is None else h // self.stem_factor

    def rules(self, spatial: int = 32) -> list[str]:
        """The contract as numbered-prompt sentences at input size ``spatial``."""
        if self.stem_factor == 1:
            stem = (
                "The stem block's output must have the same height and width as its input "
                f"({spatial}x{spatial} stays {spatial}x{spatial}): use stride=1 everywhere in "
                "the stem."
            )
        elif self.stem_factor is None:
            stem = (
                "The stem block's output may keep or reduce the input's height and width, "
                "never enlarge them."
            )
        else:
            s = spatial // self.stem_factor
            stem = (
                f"The height and width of the stem block's output must be 1/{self.stem_factor} "
                f"of the input ({spatial}x{spatial} becomes {s}x{s})."
            )
        down = (
            f"The height and width of the downsample block's output must be "
            f"1/{self.downsample_factor} of its input, and its channels must be dim (= 2*C)."
        )
        base = "The base block keeps (B,C,H,W): same channels C, same height and width."
        return [stem, down, base]


CONTRACTS: dict[str, SpatialContract] = {
    "nb201": SpatialContract("nb201", 1),
    "stages": SpatialContract("stages", None),
    "imagenet": SpatialContract("imagenet", 4),
}


def contract_for(kind: str) -> SpatialContract:
    """The contract of skeleton ``kind``; raises ``KeyError`` naming the valid kinds."""
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise KeyError(f"unknown skeleton {kind!r}; valid: {', '.join(CONTRACTS)}") from None
