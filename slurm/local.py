"""Local processes through submitit's ``LocalExecutor``: the Slurm code path without Slurm.

Each task runs in its own process (submitit's worker, same pickles, same
:class:`~slurm.runner.TaskRunner`), at most ``max_workers`` at once; a task over its time
limit gets USR2 ``signal_delay_s`` before it and is killed at it, like on a cluster.
"""

from __future__ import annotations

import collections
import os
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
            task.job_id = f"local-{job.job_id}"
            task.submitted_at = time.monotonic()
            for h in task.handles:
                h.job_id = task.job_id
            self._running.append(task)

    def _result_path(self, task: Task) -> Path:
        return Path(task.job.paths.result_pickle)

    def _log_path(self, task: Task) -> Path:
        return Path(task.job.paths.stderr)

    def _records_from_pickle(self, task: Task) -> list[dict[str, object]]:
        from slurm.runner import sidecar_path

        side = sidecar_path(self.folder, task.job.job_id)
        if side.exists():  # the base class looks it up by our prefixed id
            from submitit.core.utils import pickle_load

            kind, _ = pickle_load(self._result_path(task))
            if kind != "success":
                records: list[dict[str, object]] = pickle_load(side)
                return records
        return super()._records_from_pickle(task)

    def _poll(self) -> None:
        names = listdir(self.folder)
        for task in list(self._running):
            if task.done:
                self._running.remove(task)
                continue
            if self._result_path(task).name in names:
                self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
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
            if task in self._running:
                self._running.remove(task)
