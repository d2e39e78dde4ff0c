"""Chance accuracy of a dataset: one over its number of classes (what a uniform guess
scores), shown beside leaderboards and drawn in the report's best-so-far plot.

>>> chance_accuracy("cifar100")
0.01
>>> chance_accuracy("imagefolder") is None
True
"""

from __future__ import annotations

__all__ = ["CLASSES", "chance_accuracy"]

# classes of the built-in datasets (imagefolder: as many as the folder has, unknown here)
CLASSES: dict[str, int] = {"demo": 10, "cifar10": 10, "cifar100": 100, "imagenet16": 120}


def chance_accuracy(dataset: str) -> float | None:
    """1 / classes of ``dataset`` (aliases as in :mod:`nas.data`), None when unknown."""
    key = dataset.strip().lower().replace("-", "").replace("_", "")
    key = {"digits": "demo", "imagenet16120": "imagenet16"}.get(key, key)
    n = CLASSES.get(key)
    return 1.0 / n if n else None
