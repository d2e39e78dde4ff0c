"""What a signal to the controller means: stop for good, or stop and come back (requeue).

Slurm sends the controller job's batch shell (the controller itself: it is ``exec``'d)

* **USR2** ``signal_delay_s`` before the time limit (``--signal=B:USR2@N``), or when a user
  types ``scancel --batch --signal=USR2 JOB``: a *warning*. The controller checkpoints and
  requeues itself.
* **TERM** in three situations that must end differently:

  - ``scancel JOB`` (what every Slurm user types to stop a job): **stop**, record
    ``cancelled``, do not requeue;
  - ``scontrol requeue JOB`` or a preemption with ``PreemptMode=REQUEUE``: Slurm requeues
    the job itself (``scontrol show job`` already counts one more ``Restarts`` than the
    running attempt's ``SLURM_RESTART_COUNT``): stop, come back;
  - the time limit after the USR2 warning, or a preemption (``PreemptTime`` set): stop and
    requeue.

  A TERM after a USR2, or with a pending preemption or requeue, is therefore a requeue; a
  bare TERM is a cancel. ``archlab cancel`` writes ``RUN/CANCEL`` before it scancels, so
  its TERM is recorded ``cancelled`` too.

:class:`SignalPolicy` holds that decision logic (pure but for one ``scontrol show job``
per TERM, which tests replace); the controller process calls :meth:`SignalPolicy.on_signal`
from its handler and asks :meth:`SignalPolicy.should_requeue` when the loop has stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CANCELLED",
    "JobView",
    "SignalDecision",
    "SignalPolicy",
    "loop_stop_reason",
    "parse_job_view",
    "query_job",
]

#: The stop request (and journaled stop reason) of a run that was cancelled.
CANCELLED = "cancelled"


@dataclass(frozen=True)
class JobView:
    """What ``scontrol show job`` says about the controller's own job at a TERM."""

    state: str = ""
    restarts: int = 0
    preempt_time: str = ""  # "" when none pending


@dataclass(frozen=True)
class SignalDecision:
    why: str  # what the loop is asked to stop with: CANCELLED, or the interruption's name
    requeue: bool  # the controller must ``scontrol requeue`` its job after stopping
    detail: str = ""  # for the log: what the decision rests on


_FIELD = re.compile(r"(\w+)=(\S*)")


def parse_job_view(text: str) -> JobView:
    """``scontrol show job`` output -> :class:`JobView` (missing fields stay empty)."""
    fields = dict(_FIELD.findall(text))
    preempt = fields.get("PreemptTime", "")
    if preempt in ("None", "Unknown", "0", "N/A"):
        preempt = ""
    restarts = fields.get("Restarts", "0")
    return JobView(
        state=fields.get("JobState", ""),
        restarts=int(restarts) if restarts.isdigit() else 0,
        preempt_time=preempt,
    )


def query_job(job_id: str, timeout_s: float = 3.0) -> JobView | None:
    """The controller job as slurmctld sees it now (None when it cannot be asked)."""
    from slurm.cluster import slurm_env

    try:
        out = subprocess.run(
            ["scontrol", "show", "job", job_id],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=slurm_env(),
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_job_view(out.stdout) if out.returncode == 0 and out.stdout else None


class SignalPolicy:
    """Turns the signals a controller process receives into stop/requeue decisions.

    ``job_id``: the process's own Slurm job ("" outside Slurm: nothing to requeue, no query);
    ``restart_count``: ``SLURM_RESTART_COUNT`` of this attempt; ``cancel_file``: the run's
    ``CANCEL`` marker; ``probe`` replaces :func:`query_job` in tests.
    """

    def __init__(
        self,
        *,
        job_id: str = "",
        restart_count: int = 0,
        cancel_file: Path | None = None,
        probe: Callable[[str], JobView | None] = query_job,
    ) -> None:
        self.job_id = job_id
        self.restart_count = restart_count
        self.cancel_file = cancel_file
        self.probe = probe
        self.warned = False  # a USR2 arrived
        self.decision: SignalDecision | None = None

    @classmethod
    def from_env(
        cls, cancel_file: Path, env: Mapping[str, str] | None = None, job_id: str = ""
    ) -> SignalPolicy:
        e = os.environ if env is None else env
        restarts = str(e.get("SLURM_RESTART_COUNT", "0") or "0")
        return cls(
            job_id=job_id or str(e.get("SLURM_JOB_ID", "")),
            restart_count=int(restarts) if restarts.isdigit() else 0,
            cancel_file=cancel_file,
        )

    def _cancel_requested(self) -> bool:
        return self.cancel_file is not None and self.cancel_file.exists()

    def on_signal(self, signum: int) -> SignalDecision:
        """The decision for one received signal (kept; a later signal may only strengthen a
        requeue, never turn a cancel into a requeue)."""
        name = signal.Signals(signum).name
        if self._cancel_requested():
            d = SignalDecision(CANCELLED, False, f"{name} with {self.cancel_file} present")
        elif signum == signal.SIGUSR2:
            self.warned = True
            d = SignalDecision(name, True, "USR2: time-limit warning or a requested checkpoint")
        elif signum == signal.SIGTERM:
            d = self._on_term(name)
        else:
            d = SignalDecision(CANCELLED, False, f"{name}: stop")
        if self.decision is not None and self.decision.why == CANCELLED:
            d = self.decision  # once cancelled, stays cancelled
        elif self.decision is not None and self.decision.requeue and not d.requeue:
            d = self.decision
        self.decision = d
        return d

    def _on_term(self, name: str) -> SignalDecision:
        view = self.probe(self.job_id) if self.job_id else None
        if view is not None and view.restarts > self.restart_count:
            # scontrol requeue / preemption with PreemptMode=REQUEUE: Slurm brings it back
            return SignalDecision(name, False, f"TERM while Slurm requeues the job ({view})")
        if view is not None and view.preempt_time:
            return SignalDecision(name, True, f"TERM with a pending preemption ({view})")
        if self.warned:
            return SignalDecision(name, True, "TERM after the USR2 warning (time limit)")
        return SignalDecision(CANCELLED, False, f"bare TERM (scancel or kill): stop ({view})")

    def should_requeue(self, stop_reason: str) -> bool:
        """After the loop stopped with ``stop_reason``: must the job requeue itself?"""
        if self._cancel_requested() or self.decision is None:
            return False
        return self.decision.requeue and stop_reason.startswith("interrupted")


def loop_stop_reason(request: str, cancel_file_exists: bool) -> str:
    """[hook] What the controller loop stops with for a stop ``request`` ("" = go on).

    A cancel with ``RUN/CANCEL`` present returns "" so that the loop's own CANCEL handling
    (cancelling the in-flight tasks, journaling them) runs next; a cancel without it (a bare
    ``scancel`` of the controller) stops as ``cancelled`` and leaves in-flight tasks for a
    later ``archlab resume`` to re-attach.
    """
    if not request:
        return ""
    if request != CANCELLED:
        return f"interrupted:{request}"
    return "" if cancel_file_exists else CANCELLED
