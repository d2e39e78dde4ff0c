"""Generic fan-out of picklable Python calls: in-process, local processes, Slurm arrays.

Never imports ``nas`` or ``launcher``. The backends (and submitit) load lazily: importing
``slurm`` for :class:`Call`/:class:`Outcome` costs nothing.

>>> from slurm import Call, make_executor
>>> ex = make_executor("inprocess", "runs/x/jobs")
>>> [h] = ex.submit([Call(divmod, (7, 2))])
>>> h.outcome.value
(3, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slurm.executor import Call, Executor, Handle, InProcessExecutor, Outcome, OutcomeState
from slurm.factory import make_executor
from slurm.site import SiteParams

if TYPE_CHECKING:
    from slurm.local import LocalExecutor
    from slurm.slurm_executor import SlurmExecutor

__all__ = [
    "Call",
    "Executor",
    "Handle",
    "InProcessExecutor",
    "LocalExecutor",
    "Outcome",
    "OutcomeState",
    "SiteParams",
    "SlurmExecutor",
    "make_executor",
]


def __getattr__(name: str) -> Any:
    if name == "LocalExecutor":
        from slurm.local import LocalExecutor

        return LocalExecutor
    if name == "SlurmExecutor":
        from slurm.slurm_executor import SlurmExecutor

        return SlurmExecutor
    raise AttributeError(f"module 'slurm' has no attribute {name!r}")
