"""Build an executor by name from plain parameters (the launcher passes its config here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slurm.executor import Executor, InProcessExecutor
from slurm.site import SiteParams

__all__ = ["KINDS", "make_executor"]

KINDS = ("inprocess", "local", "slurm")


def make_executor(
    kind: str,
    folder: str | Path,
    site: Any = None,
    *,
    pack: int = 1,
    poll_interval_s: float = 10.0,
    max_retries: int = 2,
    retry_user_errors: bool = False,
    **options: Any,
) -> Executor:
    """An executor of ``kind`` (``inprocess`` | ``local`` | ``slurm``) writing under ``folder``.

    ``site`` is a :class:`SiteParams` or anything with the same attributes (the launcher's
    ``SiteProfile``); ``options`` go to the backend: ``result_grace_s``, ``max_requeues``;
    Slurm: ``job_name``, ``python``, ``client``, ``seed``, ``worker_aws``; local: ``max_workers``. Options
    the chosen backend does not take are dropped (``job_name`` for local). Each executor
    writes to a fresh subfolder of ``folder``.
    """
    params = SiteParams.from_profile(site) if site is not None else SiteParams()
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
