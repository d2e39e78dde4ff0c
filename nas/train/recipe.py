"""The training recipe: what the trainer does with a model and a data set (plain data).

A recipe is science — every field can change the result, so the fields a strategy puts in
``Candidate.recipe`` override the evaluator's defaults (:meth:`Recipe.merged`) and enter the
candidate's id. How fast it runs (device, precision, threads, engine) is
:class:`nas.train.runtime.Runtime`'s business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from nas.config_checks import at_least, between, positive

__all__ = ["Recipe", "cosine_lr"]


def cosine_lr(lr0: float, progress: float) -> float:
    """Cosine annealing from ``lr0`` at ``progress`` 0 to 0 at ``progress`` 1."""
    return 0.5 * lr0 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


@dataclass(frozen=True)
class Recipe:
    """Defaults are the NAS-Bench-201 recipe: SGD with Nesterov momentum 0.9, lr 0.1
    cosine-annealed to 0 per step over ``epochs``, weight decay 5e-4, batch 256, 200 epochs,
    random crop (pad = side/8, i.e. 4 px at 32x32) + horizontal flip, per-channel
    normalization. Fidelity knobs: ``epochs``, ``data_fraction``, ``image_size``.

    >>> Recipe(epochs=3).merged({"epochs": 12, "skeleton": {"cells": 1}}).epochs
    12
    """

    epochs: int = 200
    batch_size: int = 256  # images per optimizer step (global, over all GPUs of an engine)
    lr: float = 0.1  # initial learning rate, cosine-annealed to 0 over ``epochs``
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # L2, applied to every parameter (as NB201 does)
    augment: bool = True  # random crop (zero pad = side/8) + horizontal flip
    data_fraction: float = 1.0  # fidelity: seeded share of the training split used
    image_size: int = 0  # fidelity: resize side in pixels (0 = native)
    divergence_loss: float = 10.0  # mean train loss above this in the first epochs = DIVERGED
    divergence_epochs: int = 3  # epochs in which the threshold is checked (NaN/inf: always)
    time_budget_s: float = 0.0  # training wall budget over all attempts; 0 = none -> TIMEOUT

    def validate(self, where: str = "") -> Recipe:
        """Raise :class:`~nas.config_checks.SettingError` at the first field out of range;
        ``where`` is the key prefix in messages (``"train."`` for a run's config)."""
        at_least(where, "epochs", self.epochs, 1, "epochs trained per candidate")
        at_least(where, "batch_size", self.batch_size, 1)
        positive(where, "lr", self.lr, "initial learning rate")
        between(where, "momentum", self.momentum, 0, 1, open_high=True)
        at_least(where, "weight_decay", self.weight_decay, 0)
        between(where, "data_fraction", self.data_fraction, 0, 1, open_low=True)
        at_least(where, "image_size", self.image_size, 0, "0 = native size")
        positive(where, "divergence_loss", self.divergence_loss)
        at_least(where, "divergence_epochs", self.divergence_epochs, 0)
        at_least(where, "time_budget_s", self.time_budget_s, 0, "0 = none")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        """A recipe from a mapping; keys that are not recipe fields are ignored."""
        return cls().merged(d)

    def merged(self, overrides: Mapping[str, Any]) -> Recipe:
        """This recipe with the recipe fields present in ``overrides`` replaced (other keys,
        e.g. ``dataset`` or ``skeleton`` in a candidate's recipe, are ignored)."""
        kinds = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        changes = {k: kinds[k](v) for k, v in overrides.items() if k in kinds}
        return replace(self, **changes) if changes else self
