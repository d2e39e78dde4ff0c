"""``TrainEvaluator``: Candidate -> TrialRecord by really training the model (torch).

The evaluator is a small picklable object (it crosses into Slurm array tasks); the data set
is loaded lazily once per process. Any failure becomes a record, never an exception.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from nas.records import Candidate, TrialCost, TrialRecord, TrialState
from nas.train.recipe import Recipe

__all__ = ["TrainEvaluator", "build_model"]

_DATA_CACHE: dict[tuple[Any, ...], Any] = {}


def build_model(candidate: Candidate, num_classes: int, in_channels: int) -> Any:
    """The torch module of a candidate, dispatched on ``arch_kind``."""
    skeleton = dict(candidate.recipe.get("skeleton", {}))
    if candidate.arch_kind == "nb201":
        from nas.models.nb201 import NB201Network

        return NB201Network(
            candidate.arch,
            channels=int(skeleton.get("channels", 16)),
            cells=int(skeleton.get("cells", 5)),
            num_classes=num_classes,
            in_channels=in_channels,
        )
    raise ValueError(f"no model builder for arch_kind {candidate.arch_kind!r}")


@dataclass(frozen=True)
class TrainEvaluator:
    """Train each candidate with ``recipe`` on ``dataset`` (``demo`` needs no ``data_dir``)."""

    dataset: str = "demo"
    data_dir: str = ""
    val_fraction: float = 0.2
    recipe: Recipe = field(default_factory=Recipe)
    name: str = "train"

    def load_data(self, seed: int) -> Any:
        key = (self.dataset, self.data_dir, self.val_fraction, self.recipe.image_size, seed)
        if key not in _DATA_CACHE:
            if self.dataset != "demo":
                raise ValueError(f"dataset {self.dataset!r} is not supported yet; use 'demo'")
            from nas.data.demo import load_demo

            _DATA_CACHE[key] = load_demo(
                self.val_fraction, seed=seed, image_size=self.recipe.image_size or 16
            )
        return _DATA_CACHE[key]

    def __call__(self, candidate: Candidate) -> TrialRecord:
        started = time.time()
        try:
            import torch

            from nas.train.loop import train

            data = self.load_data(candidate.seed)
            torch.manual_seed(candidate.seed)
            model = build_model(candidate, data.num_classes, data.input_shape[0])
            params = sum(p.numel() for p in model.parameters() if p.requires_grad)
            outcome = train(model, data, self.recipe, seed=candidate.seed)
        except Exception as e:  # a failure is data, never an exception into the caller
            return TrialRecord(
                candidate_id=candidate.id,
                state=TrialState.FAILED,
                error=f"{type(e).__name__}: {e}\n{traceback.format_exc()}",
                evaluator=self.name,
                started_at=started,
                finished_at=time.time(),
                cost=TrialCost(wall_seconds=time.time() - started),
            )
        metrics: dict[str, float] = {}
        if outcome.curve:
            last = outcome.curve[-1]
            metrics.update(
                val_acc=last.val_acc,
                val_loss=last.val_loss,
                train_acc=last.train_acc,
                train_loss=last.train_loss,
            )
            metrics = {k: v for k, v in metrics.items() if v == v and abs(v) != float("inf")}
        if outcome.test_acc is not None:
            metrics["test_acc"] = outcome.test_acc
        if outcome.state is TrialState.COMPLETE and "val_acc" not in metrics:
            metrics["val_acc"] = 0.0
        finished = time.time()
        return TrialRecord(
            candidate_id=candidate.id,
            state=outcome.state,
            metrics=metrics,
            cost=TrialCost(params=params, wall_seconds=finished - started),
            curve=tuple(outcome.curve),
            error=outcome.error,
            evaluator=self.name,
            started_at=started,
            finished_at=finished,
        )
