"""Section ``train``: the training recipe, the runtime and the data (declared once).

:class:`TrainConfig` is a :class:`~nas.train.recipe.Recipe` (science: it enters every
candidate's id) and a :class:`~nas.train.runtime.Runtime` (speed knobs) plus the data
set and the evaluator choice: each field is defined once, in the class that uses it, and
the user types ``train.<field>`` for all of them. :meth:`TrainConfig.recipe` and
:meth:`TrainConfig.runtime` hand each part to the trainer.

    >>> TrainConfig(epochs=3, device="cpu").recipe().epochs
    3
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from nas.config_checks import at_least, between, one_of
from nas.train.recipe import Recipe
from nas.train.runtime import Runtime

__all__ = ["DATASETS", "EVALUATORS", "TrainConfig"]

DATASETS = ("demo", "cifar10", "cifar100", "imagenet16", "imagefolder", "fashion-mnist")
EVALUATORS = ("train", "table")


@dataclass(frozen=True)
class TrainConfig(Recipe, Runtime):
    """Section ``train`` (the ``Recipe`` and ``Runtime`` fields, then these)."""

    evaluator: str = "train"  # train (real torch training) | table (benchmark lookup)
    dataset: str = "demo"  # demo | cifar10 | cifar100 | imagenet16 | imagefolder | fashion-mnist
    data_dir: str = ""  # where the dataset files are (not needed for demo)
    split_file: str = ""  # optional NB201 split file for the validation split
    val_fraction: float = 0.2  # share of the training set held out for validation
    checkpoint_dir: str = ""  # per-epoch checkpoints; "" = <run_dir>/checkpoints when run
    keep_checkpoints: bool = False  # keep a candidate's checkpoint after its final outcome
    table_fidelity: int = 200  # table evaluator: 12 or 200 epochs

    def validate(self, where: str = "train.") -> TrainConfig:
        """Ranges of the recipe, the runtime and the data fields (keys named ``where<field>``)."""
        self.recipe().validate(where)
        self.runtime().validate(where)
        one_of(where, "evaluator", self.evaluator, EVALUATORS)
        one_of(where, "dataset", self.dataset, DATASETS)
        between(where, "val_fraction", self.val_fraction, 0, 1, open_low=True, open_high=True)
        at_least(where, "table_fidelity", self.table_fidelity, 1)
        return self

    def recipe(self) -> Recipe:
        """The training recipe (what is hashed into every candidate id)."""
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})

    def runtime(self) -> Runtime:
        """How the recipe runs (device, precision, threads, engine)."""
        return Runtime(**{f.name: getattr(self, f.name) for f in fields(Runtime)})
