"""Generic fan-out of picklable Python calls: in-process, local processes, Slurm arrays.

Never imports ``nas``.
"""

from slurm.executor import Call, Executor, Handle, InProcessExecutor, Outcome, OutcomeState

__all__ = ["Call", "Executor", "Handle", "InProcessExecutor", "Outcome", "OutcomeState"]
