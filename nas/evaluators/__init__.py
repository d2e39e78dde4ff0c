"""Evaluators that need no training: tabular benchmark lookups (``TableEvaluator``).

The torch ``TrainEvaluator`` lives in ``nas.train``; both turn a Candidate into a TrialRecord.
"""

from nas.evaluators.table import (
    NB201_DATASETS,
    BenchmarkTable,
    FlopsCostModel,
    TableEntry,
    TableError,
    TableEvaluator,
    load_table,
)

__all__ = [
    "NB201_DATASETS",
    "BenchmarkTable",
    "FlopsCostModel",
    "TableEntry",
    "TableError",
    "TableEvaluator",
    "load_table",
]
