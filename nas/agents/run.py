"""A NADER run in one call, through the :class:`~nas.controller.Controller` (the only loop).

:func:`run_nader` is what scripts and tests use to run a NaderStrategy with an in-process
executor: the controller stores and tells the strategy's decided (INVALID/DUPLICATE)
designs, stores its tree events, journals and restores it like any other run — calling it
again on the same ``run_dir`` resumes (or, for a finished run, changes nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from nas.agents.nader_strategy import NaderStrategy
from nas.controller import Budget, Controller, RunSummary
from nas.records import Candidate, TrialRecord
from slurm.executor import InProcessExecutor
from store.result_store import ResultStore

__all__ = ["run_nader"]


def run_nader(
    strategy: NaderStrategy,
    evaluate: Callable[[Candidate], TrialRecord],
    store: ResultStore,
    run_id: str,
    budget: int,
    run_dir: str | os.PathLike[str],
    max_in_flight: int = 2,
) -> RunSummary:
    """``budget`` evaluated candidates of a fresh ``strategy`` in ``run_dir`` (journal)."""
    ctl = Controller(run_dir, run_id, strategy, evaluate, InProcessExecutor(), store,
                     Budget(budget), max_in_flight=max_in_flight, poll_interval_s=0.01)  # fmt: skip
    return ctl.run()
