"""Training and evaluation of candidates (torch imported lazily by the evaluator).

``TrainEvaluator`` (Candidate -> TrialRecord), the NB201 ``Recipe`` (science) and the
``Runtime`` (speed knobs) are the public names; the loop lives in ``nas.train.loop``.
"""

from nas.train.evaluator import TrainEvaluator, build_model, candidate_spec
from nas.train.recipe import Recipe
from nas.train.runtime import Runtime

__all__ = ["Recipe", "Runtime", "TrainEvaluator", "build_model", "candidate_spec"]
