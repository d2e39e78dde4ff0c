"""Slurm arrays: one ``sbatch`` per batch (split at MaxArraySize), batched polling.

>>> ex = SlurmExecutor("runs/x/jobs", site=SiteParams(time="00:30:00"))   # doctest: +SKIP
>>> handles = ex.submit([Call(operator.add, (i, 1)) for i in range(500)])  # 1 sbatch
>>> for h in ex.as_completed(handles): print(h.key, h.outcome.state, h.outcome.value)
"""

from __future__ import annotations

import math
import re
import secrets
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from submitit.core.utils import DelayedSubmission, JobPaths

from slurm.backend import Backoff, BatchExecutor, Task, chunks, listdir, outcome_for_state
from slurm.cluster import TERMINAL_STATES, JobInfo, SlurmClient
from slurm.environment import job_env
from slurm.executor import Call, Handle, lost
from slurm.faults import fault_point
from slurm.runner import sidecar_path
from slurm.sbatch import render_task_script
from slurm.site import SiteParams

__all__ = ["SlurmExecutor"]

_JOB_ID = re.compile(r"^\d+(_\d+)?$")
# A re-attached job id whose Slurm submission time is this much older than the one we
# recorded is another (earlier) job with the same id: ids restart after a cluster reset.
# (Slurm moves a requeued job's submission time forward, never back.)
_SUBMIT_SLACK_S = 600.0
# Terminal states that running the call again would reproduce: kept as the outcome.
_FINAL_WITHOUT_RESULT = frozenset({"TIMEOUT", "DEADLINE", "OUT_OF_MEMORY"})


def _staged_pickle(folder: Path, tag: str, index: int) -> Path:
    """Where task ``index`` of the submission ``tag`` waits until ``sbatch`` named it."""
    return folder / f"staged-{tag}-{index}.pkl"


def _place_pickle(folder: Path, job_id: str, staged: Path) -> None:
    """Put a staged task pickle where submitit's worker looks for ``job_id``."""
    paths = JobPaths(folder, job_id=job_id)
    # a reused job id (cluster reset) must not hand back an old result
    paths.result_pickle.unlink(missing_ok=True)
    sidecar_path(folder, job_id).unlink(missing_ok=True)
    staged.rename(paths.submitted_pickle)


class SlurmExecutor(BatchExecutor):
    """Runs calls as Slurm array tasks through submitit's worker.

    * **Submission**: all calls of one ``submit`` go out as one array per
      ``MaxArraySize`` tasks (read once from ``scontrol show config``), ``pack`` calls per
      task, throttled by ``site.array_throttle``; the script comes from
      :func:`slurm.sbatch.render_task_script`; the tasks get an allow-listed environment
      (:func:`slurm.environment.job_env`: no ``OPENAI_API_KEY``, no ``AWS_*`` unless
      ``worker_aws``, no inherited ``SLURM_*`` of a submitting job).
    * **Polling**: results are files (one directory listing per tick, no slurmctld query);
      the cluster is asked only every ``poll_interval_s`` (backing off ×1.5 up to ×6 while
      nothing changes, ±10 % jitter), with one ``sacct`` for all jobs of the executor
      (``squeue`` where accounting is off). ``client.queries`` counts them.
    * **Outcomes**: a result pickle gives per-call DONE/FAILED/TIMEOUT; a job that ended
      without one is classified from its Slurm state (TIMEOUT, CANCELLED, NODE_FAIL,
      PREEMPTED, OUT_OF_MEMORY -> FAILED); infrastructure failures are resubmitted up to
      ``max_retries`` times.
    * **Re-attach** (:meth:`attach`, a restarted controller): the job's result pickle in its
      recorded folder is read without asking the cluster; otherwise the next status query
      (one for all attached jobs) decides: pending/running -> followed; ended without a
      result, unknown, or a job id that now belongs to another job (other name, or submitted
      before ours: a cluster reset reuses ids) -> ``LOST``. A ``TIMEOUT``/``OUT_OF_MEMORY``
      end is kept as the call's outcome (running it again would end the same way).
    """

    name = "slurm"

    def __init__(
        self,
        folder: str | Path,
        *,
        site: SiteParams | None = None,
        pack: int = 1,
        max_retries: int = 2,
        retry_user_errors: bool = False,
        poll_interval_s: float = 10.0,
        max_requeues: int = 3,
        result_grace_s: float = 10.0,
        python: str | None = None,
        job_name: str = "archlab-task",
        client: SlurmClient | None = None,
        seed: int | None = None,
        worker_aws: bool = False,
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
        self.python = python or shlex.quote(sys.executable)
        self.job_name = job_name
        self.worker_aws = worker_aws  # tasks get AWS_* (they read or write s3:// themselves)
        self.client = client or SlurmClient()
        import random

        self._backoff = Backoff(poll_interval_s, rng=random.Random(seed))
        self._next_query = time.monotonic() + poll_interval_s
        self._last_states: dict[str, str] = {}
        self._planned = ""  # the tag plan_submission announced for the next submit
        self._tag = ""  # the tag of the submit in progress

    # ------------------------------------------------------------------ submission
    def plan_submission(self) -> dict[str, Any]:
        """What the next :meth:`submit` will be on the cluster, for a caller's intent record
        written *before* it (see :meth:`find_submission`): the job name every array of that
        submit gets (unique: ``<job_name>-<tag>``), the folder, pack and array size."""
        self._planned = self._planned or secrets.token_hex(4)
        return {
            "kind": self.name,
            "name": f"{self.job_name}-{self._planned}",
            "tag": self._planned,
            "dir": str(self.folder),
            "pack": self.pack,
            "max_array": max(1, self.client.facts().max_array_size),
        }

    def submit(self, calls: Sequence[Call]) -> list[Handle]:
        self._tag, self._planned = self._planned or secrets.token_hex(4), ""
        try:
            return super().submit(calls)
        finally:
            self._tag = ""

    def _launch(self, tasks: list[Task]) -> None:
        size = max(1, self.client.facts().max_array_size)
        tag = self._tag or secrets.token_hex(4)  # executor retries get a name of their own
        for k, batch in enumerate(chunks(tasks, size)):
            self._submit_array(batch, tag, k * size)
        # first status query one interval after the newest submission
        self._next_query = time.monotonic() + self.poll_interval_s

    def _submit_array(self, tasks: list[Task], tag: str, offset: int) -> None:
        limit_min = max(1, self.site.time_limit_s() // 60)
        name = f"{self.job_name}-{tag}"
        staged = []
        for i, task in enumerate(tasks):
            ds = DelayedSubmission(self._runner(task))
            ds.set_timeout(limit_min, self.max_requeues)
            path = _staged_pickle(self.folder, tag, offset + i)
            ds.dump(path)
            staged.append(path)
        command = f"{self.python} -u -m slurm.worker {shlex.quote(str(self.folder))}"
        script = render_task_script(
            self.site, command, folder=self.folder, array_size=len(tasks), job_name=name
        )
        script_path = self.folder / f"staged-{uuid.uuid4().hex}.sh"
        script_path.write_text(script)
        fault_point("sbatch")
        try:
            env = job_env(aws=self.worker_aws, extra=self.site.env_passthrough)
            array_id = self.client.sbatch(str(script_path), env=env)
        except Exception:
            for p in staged:
                p.unlink(missing_ok=True)
            raise
        fault_point("sbatched")
        script_path.rename(self.folder / f"{array_id}_submission.sh")
        now, at = time.monotonic(), time.time()
        for i, (task, path) in enumerate(zip(tasks, staged, strict=True)):
            task.job_id = task.sid = f"{array_id}_{i}"
            task.submitted_at = now
            task.name = name
            for pos, h in enumerate(task.handles):
                h.job_id = task.job_id
                h.ref = self._ref(task, pos, at)
            _place_pickle(self.folder, task.job_id, path)

    def _ref(self, task: Task, pos: int, at: float) -> dict[str, Any]:
        return {**super()._ref(task, pos, at), "name": task.name or self.job_name}

    # ------------------------------------------------------------------ submit window
    def find_submission(
        self, plan: dict[str, Any], keys: Sequence[str], since: float
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """After a crash inside the submit window: the jobs an earlier :meth:`submit` (of
        ``keys``, announced as ``plan`` at unix time ``since``) created on the cluster.

        Finds its arrays by their unique job name (``sacct --name``, and ``squeue``); a task
        whose pickle was not yet in place (the crash came between ``sbatch`` and the rename)
        gets it now if it still waits for it. Returns ``{key: (job_id, ref)}`` for
        ``attach``; tasks that cannot be completed are ``scancel``ed (they would only wait
        and fail) and their keys left out (the caller submits them again).
        """
        name, tag = str(plan.get("name", "")), str(plan.get("tag", ""))
        folder, pack = Path(str(plan.get("dir", ""))), max(1, int(plan.get("pack", 1)))
        size = max(1, int(plan.get("max_array", 1001)))
        if not name or not tag or not folder.is_dir():
            return {}
        infos = self.client.find_jobs(name, since - 3600)
        arrays = sorted({j.split("_")[0] for j in infos}, key=int)
        ntasks = math.ceil(len(keys) / pack)
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        orphans: list[str] = []
        for k, array_id in enumerate(arrays):
            for i in range(min(size, ntasks - k * size)):
                t = k * size + i
                job = f"{array_id}_{i}"
                calls = list(keys[t * pack : (t + 1) * pack])
                submitted = JobPaths(folder, job_id=job).submitted_pickle
                staged = _staged_pickle(folder, tag, t)
                info = infos.get(job) or infos.get(array_id)
                alive = info is not None and info.state not in TERMINAL_STATES
                if not submitted.exists() and staged.exists() and alive:
                    _place_pickle(folder, job, staged)  # finish the interrupted submission
                if not submitted.exists():
                    orphans.append(job)
                    continue
                for pos, key in enumerate(calls):
                    ref = {"dir": str(folder), "pos": pos, "n": len(calls),
                           "at": round(since, 3), "name": name}  # fmt: skip
                    found[key] = (job, ref)
        if orphans:
            self.client.cancel(orphans)
        return found

    # ------------------------------------------------------------------ re-attach
    def _sid(self, job_id: str) -> str:
        return job_id if _JOB_ID.match(job_id) else ""

    def _adopt(self, task: Task) -> None:
        if self._result_path(task).exists():
            self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
            return
        at = float(task.ident.get("at") or time.time())
        task.submitted_at = time.monotonic() - max(0.0, time.time() - at)
        self._tasks.append(task)
        self._next_query = time.monotonic()  # the next poll asks the cluster about it

    def _stranger(self, task: Task, info: JobInfo) -> str:
        """Why the job the cluster reports under ``task.job_id`` is not ours ("" if it is)."""
        name = str(task.ident.get("name") or "")
        if name and info.name and info.name != name:
            return f"job {task.job_id} is now {info.name!r}, not {name!r}"
        at = task.ident.get("at")
        if at and info.submit is not None and info.submit < float(at) - _SUBMIT_SLACK_S:
            return f"job {task.job_id} was submitted before ours (job id reused)"
        return ""

    # ------------------------------------------------------------------ polling
    def _listing(self, tasks: list[Task]) -> dict[Path, set[str]]:
        """One directory listing per job folder (this executor's, and re-attached ones)."""
        return {f: listdir(f) for f in {t.folder or self.folder for t in tasks}}

    def _poll(self) -> None:
        active = [t for t in self._tasks if not t.done]
        if active:
            names = self._listing(active)
            for t in active:
                if f"{t.job_id}_0_result.pkl" in names[t.folder or self.folder]:
                    self._finish(t, self._records_from_pickle(t), outcome_for_state("FAILED"))
            active = [t for t in active if not t.done]
        now = time.monotonic()
        if active and now >= self._next_query:
            infos = self.client.jobs_info(t.job_id for t in active)
            seen = {t.job_id: infos.get(t.job_id) for t in active}
            states = {k: (v.state if v else "") for k, v in seen.items()}
            changed = any(self._last_states.get(k) != v for k, v in states.items())
            self._last_states.update(states)
            self._next_query = now + self._backoff.next(changed)
            names = self._listing(active)  # results written just before the job ended
            for t in active:
                self._judge(t, seen[t.job_id], names[t.folder or self.folder], now)
        self._resubmit()

    def _judge(self, task: Task, info: JobInfo | None, names: set[str], now: float) -> None:
        if f"{task.job_id}_0_result.pkl" in names:
            self._finish(task, self._records_from_pickle(task), outcome_for_state("FAILED"))
            return
        state = info.state if info else ""
        if task.attached and info is not None:
            why = self._stranger(task, info)
            if why:
                self._finish(task, None, lost(why))
                return
            if state not in TERMINAL_STATES:
                task.attached = ""  # seen alive: from now on followed like our own
        if not state:
            # not (yet) known to sacct/squeue: accounting lags a little behind submission
            if now - task.submitted_at > max(300.0, 10 * self.poll_interval_s):
                if task.attached:
                    self._forget(task)
                else:
                    why = "the cluster lost the job"
                    self._finish(task, None, outcome_for_state("UNKNOWN", why))
            return
        if state not in TERMINAL_STATES:
            task.terminal_since = None
            return
        if state in ("COMPLETED", "FAILED"):
            # a result pickle is expected: give a slow shared filesystem time to show it
            if task.terminal_since is None:
                task.terminal_since = now
            if now - task.terminal_since < self.result_grace_s:
                return
        if task.attached and state not in _FINAL_WITHOUT_RESULT:
            self._finish(task, None, lost(f"job {task.job_id} ended {state} without a result"))
            return
        self._finish(task, None, outcome_for_state(state, self._tail(task)))

    def _tail(self, task: Task) -> str:
        from slurm.backend import _tail

        text = _tail(self._log_path(task))
        return f"last lines of {self._log_path(task)}:\n{text}" if text else ""

    def _cancel_tasks(self, tasks: list[Task]) -> None:
        self.client.cancel(t.job_id for t in tasks if t.job_id)

    def stats(self) -> dict[str, object]:
        out = dict(super().stats())
        out.update(sbatch_calls=self.client.sbatch_calls, queries=self.client.queries)
        return out
