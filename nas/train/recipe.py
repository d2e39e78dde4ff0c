"""The training recipe: what the trainer does with a model and a data set (plain data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Recipe"]


@dataclass(frozen=True)
class Recipe:
    """Defaults are the NAS-Bench-201 recipe (SGD Nesterov, lr 0.1 cosine to 0, wd 5e-4,
    batch 256, 200 epochs, random crop + flip). Fidelity knobs: epochs, data_fraction,
    image_size."""

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1  # initial learning rate, cosine-annealed to 0 over ``epochs``
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    augment: bool = True  # random crop (pad = side/8) + horizontal flip
    data_fraction: float = 1.0  # share of the training split used
    image_size: int = 0  # resize side (0 = native)
    divergence_loss: float = 10.0  # train loss above this (or non-finite) in the first epochs
    divergence_epochs: int = 3
    time_budget_s: float = 0.0  # 0 = no budget
    threads: int = 0  # torch CPU threads (0 = leave torch's default)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
