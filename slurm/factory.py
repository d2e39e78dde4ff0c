"""Section ``executor`` (:class:`ExecutorConfig`) and :func:`make_executor`, which builds an
executor by name from plain parameters (the launcher passes that section's values here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slurm.executor import Executor, InProcessExecutor
from slurm.site import SiteParams

__all__ = ["KINDS", "ExecutorConfig", "make_executor"]

KINDS = ("inprocess", "local", "slurm")


@dataclass(frozen=True)
class ExecutorConfig:
    """Section ``executor``."""

    kind: str = "inprocess"  # inprocess | local | slurm
    max_in_flight: int = 4  # candidates submitted but not finished, at most (the controller's)
    pack: int = 1  # calls packed into one array task (for very short calls)
    poll_interval_s: float = 10.0  # status polling interval (>= 10 s on a production cluster)
    max_retries: int = 2  # retries of infrastructure failures (NODE_FAIL, PREEMPTED)
    retry_user_errors: bool = False  # also retry calls that raised
    snapshot_every: int = 50  # controller snapshot every N results (and at every stop)
    site: SiteParams = field(default_factory=SiteParams)  # section executor.site

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key (``executor.<field>``) and the fix."""
        if self.kind not in KINDS:
            raise ValueError(f"'executor.kind' is {self.kind!r}: choose one of {', '.join(KINDS)}")
        for name, value, low in (("max_in_flight", self.max_in_flight, 1), ("pack", self.pack, 1),
                                 ("max_retries", self.max_retries, 0),
                                 ("snapshot_every", self.snapshot_every, 1)):  # fmt: skip
            if value < low:
                raise ValueError(f"'executor.{name}' is {value!r}: must be >= {low}; "
                                 f"e.g. executor.{name}={low}")  # fmt: skip
        if not self.poll_interval_s > 0:
            raise ValueError(f"'executor.poll_interval_s' is {self.poll_interval_s!r}: "
                             "must be > 0 seconds")  # fmt: skip
        self.site.validate()


def make_executor(
    kind: str,
    folder: str | Path,
    site: SiteParams | None = None,
    *,
    pack: int = 1,
    poll_interval_s: float = 10.0,
    max_retries: int = 2,
    retry_user_errors: bool = False,
    **options: Any,
) -> Executor:
    """An executor of ``kind`` (``inprocess`` | ``local`` | ``slurm``) writing under ``folder``.

    ``site`` is section ``executor.site`` (:class:`SiteParams`); ``options`` go to the backend: ``result_grace_s``, ``max_requeues``;
    Slurm: ``job_name``, ``python``, ``client``, ``seed``, ``worker_aws``; local: ``max_workers``. Options
    the chosen backend does not take are dropped (``job_name`` for local). Each executor
    writes to a fresh subfolder of ``folder``.
    """
    params = site if site is not None else SiteParams()
    params.validate()
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "local":
        from slurm.local import LocalExecutor

        for name in ("job_name", "python", "client", "seed", "worker_aws"):
            options.pop(name, None)
        return LocalExecutor(
            folder,
            site=params,
            pack=pack,
            max_retries=max_retries,
            retry_user_errors=retry_user_errors,
            poll_interval_s=min(poll_interval_s, 1.0),
            **options,
        )
    if kind == "slurm":
        from slurm.slurm_executor import SlurmExecutor

        options.pop("max_workers", None)
        return SlurmExecutor(
            folder,
            site=params,
            pack=pack,
            max_retries=max_retries,
            retry_user_errors=retry_user_errors,
            poll_interval_s=poll_interval_s,
            **options,
        )
    raise ValueError(f"unknown executor kind {kind!r}: valid kinds are {', '.join(KINDS)}")
