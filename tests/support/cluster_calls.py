"""Small importable callables for tests, benchmarks and smoke checks of a cluster.

Submitted functions must be importable by the worker's Python. These live in the test tree,
not in the product: the test session puts the repository on ``PYTHONPATH``
(``tests/conftest.py``), which the Slurm job environment passes through
(:data:`slurm.environment.WORKER_NAMES`), so workers import them. They do nothing with
architectures.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

__all__ = [
    "Countdown",
    "add",
    "boom",
    "cluster_skip_reason",
    "counted_sleep",
    "env_value",
    "nested_submit",
    "noop",
    "sleep_for",
    "sleep_ignoring_signals",
]


def noop(*args: Any, **kwargs: Any) -> None:
    """Returns None at once (benchmarks)."""


def add(a: float, b: float) -> float:
    return a + b


def boom(message: str = "boom") -> None:
    """Raises ``ValueError(message)``."""
    raise ValueError(message)


def sleep_for(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def counted_sleep(counter: str, seconds: float, value: Any = None) -> Any:
    """Appends one line to the file ``counter`` (a start), sleeps, returns ``value``."""
    with open(counter, "a") as f:
        f.write(f"{value} {os.getpid()}\n")
    time.sleep(seconds)
    return value


def env_value(name: str) -> str | None:
    """The worker's value of an environment variable."""
    return os.environ.get(name)


def sleep_ignoring_signals(seconds: float) -> None:
    """Sleeps ignoring USR2/TERM: only a hard kill (SIGKILL at the time limit) ends it early."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)


class Countdown:
    """A checkpointable call: counts ``steps`` steps of ``step_s`` seconds each.

    ``checkpoint`` (called by submitit on USR2/TERM) returns the call with its progress, so a
    requeued task resumes where it stopped. ``marker`` is a file touched when the call is
    running (tests wait for it before sending a signal). Returns ``(steps_done, starts)``.
    """

    def __init__(self, steps: int, step_s: float = 0.5, marker: str = "") -> None:
        self.steps = steps
        self.step_s = step_s
        self.marker = marker
        self.done = 0
        self.starts = 0

    def __call__(self) -> tuple[int, int]:
        self.starts += 1
        if self.marker:
            Path(self.marker).write_text(f"{self.starts}\n")
        while self.done < self.steps:
            time.sleep(self.step_s)
            self.done += 1
        return self.done, self.starts

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.core.utils import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def cluster_skip_reason() -> str:
    """Why tests that need the local cluster cannot run here ("" when they can).

    ``scripts/test.sh`` exports ``SLURM_CONF`` from ``scripts/slurm-up.sh``, or
    ``ARCHLAB_SLURM_DOWN_REASON`` when the cluster could not start.
    """
    import shutil

    down = os.environ.get("ARCHLAB_SLURM_DOWN_REASON", "")
    if down:
        return f"local Slurm could not start: {down}"
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH (run scripts/slurm-up.sh, or `make test`)"
    if not os.environ.get("SLURM_CONF"):
        return "SLURM_CONF is not set (run scripts/slurm-up.sh and export what it prints)"
    return ""


def nested_submit(folder: str) -> dict[str, Any]:
    """Run inside a job: submit one call from here and report what the inner job saw.

    Sets ``SLURM_ARCHLAB_PROBE`` in this (outer) job first: a clean submission must not
    pass it (nor any inherited ``SLURM_*``) on.
    """
    from slurm.executor import Call
    from slurm.site import SiteParams
    from slurm.slurm_executor import SlurmExecutor

    os.environ["SLURM_ARCHLAB_PROBE"] = "leaked"
    ex = SlurmExecutor(
        folder,
        site=SiteParams(time="5", cpus_per_task=1, mem="100M"),
        poll_interval_s=1.0,
        result_grace_s=2.0,
    )
    [h] = ex.submit([Call(_env_pair, ("SLURM_ARCHLAB_PROBE", "SLURM_CONF"))])
    for _ in ex.as_completed([h], timeout_s=120):
        pass
    inner = h.outcome
    probe, conf = inner.value if inner is not None and inner.ok else (None, None)
    return {
        "outer_job_id": os.environ.get("SLURM_JOB_ID"),
        "outer_conf": os.environ.get("SLURM_CONF"),
        "inner_state": inner.state.value if inner is not None else "none",
        "inner_error": inner.error if inner is not None else "",
        "inner_probe": probe,
        "inner_conf": conf,
    }


def _env_pair(a: str, b: str) -> tuple[str | None, str | None]:
    return os.environ.get(a), os.environ.get(b)
