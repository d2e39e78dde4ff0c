"""Training and evaluation of candidates (torch imported lazily)."""

from nas.train.evaluator import TrainEvaluator
from nas.train.recipe import Recipe

__all__ = ["Recipe", "TrainEvaluator"]
