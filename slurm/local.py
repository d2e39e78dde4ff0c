"""Local processes through submitit's ``LocalExecutor``: the Slurm code path without Slurm.

Each task runs in its own process (submitit's worker, same pickles, same
:class:`~slurm.runner.TaskRunner`), at most ``max_workers`` at once; a task over its time
limit gets USR2 ``signal_delay_s`` before it and is killed at it, like on a cluster.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path

from slurm.backend import BatchExecutor, Task, _tail, listdir, outcome_for_state
from slurm.executor import Outcome, OutcomeState
from slurm.site import SiteParams

__all__ = ["LocalExecutor"]


class LocalExecutor(BatchExecutor):
    name = "local"

    def __init__(
        self,
        folder: str | Path,
        *,
        site: SiteParams | None = None,
        pack: int = 1,
        max_retries: int = 2,
        retry_user_errors: bool = False,
        poll_interval_s: float = 1.0,
        max_requeues: int = 3,
        max_workers: int | None = None,
        result_grace_s: float = 2.0,
    ) -> None:
        super().__init__(
            folder,
            site=site,
            pack=pack,
            max_retries=max_retries,
            retry_user_errors=retry_user_errors,
            poll_interval_s=poll_interval_s,
            max_requeues=max_requeues,
            result_grace_s=result_grace_s,
        )
        import submitit

        self.max_workers = max_workers or max(1, os.cpu_count() or 1)
        self._ex = submitit.LocalExecutor(folder=self.folder, max_num_timeout=max_requeues)
        self._ex.update_parameters(
            timeout_min=self.site.time_limit_s() / 60, signal_delay_s=self.site.signal_delay_s
        )
        self._queue: collections.deque[Task] = collections.deque()
        self._running: list[Task] = []
        self._tick_s = min(0.2, poll_interval_s)

    def _launch(self, tasks: list[Task]) -> None:
        self._queue.extend(tasks)
        self._start_queued()

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.max_workers:
            task = self._queue.popleft()
            if task.done:
                continue
            job = self._ex.submit(self._runner(task))
            task.job = job
            task.sid = str(job.job_id)
            task.job_id = f"local-{job.job_id}"
            task.submitted_at = time.monotonic()
            at = time.time()
            for pos, h in enumerate(task.handles):
                h.job_id = task.job_id
                h.ref = self._ref(task, pos, at)
            self._running.append(task)

    def _log_path(self, task: Task) -> Path:
        return self._folder(task) / f"{task.sid}_0_log.err"

    # ------------------------------------------------------------------ re-attach
    def _sid(self, job_id: str) -> str:
        pid = job_id.removeprefix("local-")
        return pid if job_id.startswith("local-") and pid.isdigit() else ""

    def _adopt(self, task: Task) -> None:
        if self._result_path(task).exists():
            self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
        elif _ours(int(task.sid), self._folder(task)):
            task.submitted_at = time.monotonic()
            task.attached = ""  # alive: from now on followed like our own
            self._running.append(task)
        else:
            self._forget(task)

    def _poll(self) -> None:
        names = listdir(self.folder)
        for task in list(self._running):
            if task.done:
                self._running.remove(task)
                continue
            listing = listdir(task.folder) if task.folder else names
            if self._result_path(task).name in listing:
                self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
            elif task.job is None:  # re-attached: not our child, watch its pid
                if _ours(int(task.sid), self._folder(task)):
                    continue
                if self._result_path(task).exists():
                    self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
                elif task.attached:
                    self._forget(task)
                else:
                    log = _tail(self._log_path(task))
                    why = f"process {task.sid} exited without a result\n{log}"
                    self._finish(task, None, Outcome(OutcomeState.FAILED, error=why))
            else:
                process = task.job._process
                if process is None or process.poll() is None:
                    continue
                if self._result_path(task).exists():
                    self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
                else:
                    elapsed = time.monotonic() - task.submitted_at
                    log = _tail(self._log_path(task))
                    if elapsed >= self.site.time_limit_s():
                        fallback = Outcome(OutcomeState.TIMEOUT, error=f"time limit reached\n{log}")
                    else:
                        fallback = Outcome(
                            OutcomeState.FAILED,
                            error=f"process exited ({process.returncode}) without a result\n{log}",
                        )
                    self._finish(task, None, fallback)
            self._running.remove(task)
        self._resubmit()
        self._start_queued()

    def _cancel_tasks(self, tasks: list[Task]) -> None:
        for task in tasks:
            if task.job is not None:
                task.job.cancel()
            elif task.sid and _ours(int(task.sid), self._folder(task)):
                try:
                    os.kill(int(task.sid), signal.SIGINT)  # what submitit's cancel sends
                except OSError:
                    pass
            if task in self._running:
                self._running.remove(task)


def _ours(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is alive (not a zombie) and is submitit's local job for ``folder``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not ours
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no /proc (macOS): trust the pid
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return str(folder).encode() in cmdline
