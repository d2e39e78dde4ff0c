"""Talking to slurmctld: the submission environment, cluster facts, batched status queries.

Every command that reaches slurmctld goes through :class:`SlurmClient`, which counts them
(``client.queries``, ``client.sbatch_calls``) so a run can prove how little it polls.
Status queries are batched: one ``sacct`` (or ``squeue`` where accounting is off) for all
jobs of a run.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "TERMINAL_STATES",
    "ClusterFacts",
    "JobInfo",
    "SlurmClient",
    "expand_job_ids",
    "parse_job_info",
    "parse_states",
    "slurm_env",
]

# Slurm job states after which a job will not run again by itself.
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "TIMEOUT",
    }
)

_KEEP = frozenset({"SLURM_CONF"})


def slurm_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for ``sbatch``/``sacct``: inherited ``SLURM_*`` variables removed.

    A job submitted from inside a job (the controller submitting arrays) would otherwise
    inherit ``SLURM_MEM_PER_NODE``, ``SLURM_CPUS_PER_TASK``, ``SLURM_JOB_ID`` ... and
    sbatch reads several of them as its own options. ``SLURM_CONF`` is kept; submitit's
    per-job variables go too (``SUBMITIT_PREEMPT_SIGNAL`` is kept).
    """
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key in _KEEP or key == "SUBMITIT_PREEMPT_SIGNAL":
            continue
        if key.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SUBMITIT_")):
            del env[key]
    return env


_ID = re.compile(r"^(?P<main>\d+)(?:_(?P<rest>.+))?$")


def expand_job_ids(job_id: str) -> list[str]:
    """``"12_[0-3,7%2]"`` -> ``["12_0", ..., "12_3", "12_7"]``; ``"12_4"`` -> ``["12_4"]``."""
    match = _ID.match(job_id.strip())
    if not match:
        return []
    main, rest = match.group("main"), match.group("rest")
    if rest is None:
        return [main]
    if rest.startswith("["):
        body = rest.strip("[]").split("%")[0]
        out = []
        for part in body.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                out += [f"{main}_{i}" for i in range(int(lo), int(hi) + 1)]
            elif part:
                out.append(f"{main}_{int(part)}")
        return out
    if rest.isdigit():
        return [f"{main}_{rest}"]
    return []


def parse_states(text: str) -> dict[str, str]:
    """``JobID|State`` lines (sacct ``-P -n`` or squeue ``%i|%T``) -> ``{"12_3": "RUNNING"}``.

    ``"CANCELLED by 0"`` becomes ``"CANCELLED"``; steps (``12_3.batch``) are skipped; when a
    job appears twice (requeued), the last line wins.
    """
    states: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0] or "." in parts[0]:
            continue
        state = parts[1].split()[0].rstrip("+") if parts[1].strip() else "UNKNOWN"
        for jid in expand_job_ids(parts[0]):
            states[jid] = state
    return states


@dataclass(frozen=True)
class JobInfo:
    """What one status query says about a job: its state, submission time and name."""

    state: str
    submit: float | None = None  # unix seconds (Slurm prints local time), None if unknown
    name: str = ""


def _submit_time(text: str) -> float | None:
    import time

    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def parse_job_info(text: str) -> dict[str, JobInfo]:
    """``JobID|State[|Submit|JobName]`` lines (sacct ``-P -n``, squeue ``%i|%T|%V|%j``).

    Like :func:`parse_states` (steps skipped, ``CANCELLED by 0`` -> ``CANCELLED``, the last
    line of a requeued job wins), with the submission time and job name when present.
    """
    out: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0] or "." in parts[0]:
            continue
        state = parts[1].split()[0].rstrip("+") if parts[1].strip() else "UNKNOWN"
        submit = _submit_time(parts[2]) if len(parts) > 2 else None
        name = "|".join(parts[3:]) if len(parts) > 3 else ""
        for jid in expand_job_ids(parts[0]):
            out[jid] = JobInfo(state, submit, name)
    return out


@dataclass(frozen=True)
class ClusterFacts:
    """What ``scontrol show config`` says about limits that shape submission."""

    max_array_size: int = 1001  # largest array index + 1 (Slurm's default)
    accounting: bool = True  # slurmdbd is configured, so ``sacct`` knows finished jobs


Runner = Callable[[list[str]], str]


@dataclass
class SlurmClient:
    """Runs Slurm client commands with a clean environment and counts them.

    ``runner`` (for tests) takes argv and returns stdout or raises ``RuntimeError``.
    """

    runner: Runner | None = None
    timeout_s: float = 60.0
    queries: int = 0  # commands that asked slurmctld/slurmdbd something (sacct, squeue, scontrol)
    sbatch_calls: int = 0
    _facts: ClusterFacts | None = field(default=None, repr=False)

    def run(
        self, argv: list[str], *, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """``argv``'s stdout; ``env`` (default: this process's) loses inherited ``SLURM_*``."""
        if self.runner is not None:
            return self.runner(argv)
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env=slurm_env(env),
            timeout=self.timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc.stdout

    def facts(self) -> ClusterFacts:
        """Read once per client (one ``scontrol show config``)."""
        if self._facts is None:
            self.queries += 1
            try:
                text = self.run(["scontrol", "show", "config"])
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self._facts = ClusterFacts()
            else:
                conf = {}
                for line in text.splitlines():
                    if "=" in line:
                        key, _, value = line.partition("=")
                        conf[key.strip()] = value.strip()
                size = conf.get("MaxArraySize", "1001")
                self._facts = ClusterFacts(
                    max_array_size=int(size) if size.isdigit() else 1001,
                    accounting=conf.get("AccountingStorageType", "")
                    not in ("", "accounting_storage/none"),
                )
        return self._facts

    def sbatch(
        self, script_path: str, *, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """Submit a script; returns the job id (``--parsable``). The job inherits ``env``
        (build it with :func:`slurm.environment.job_env`: an allow-list without secrets)."""
        self.sbatch_calls += 1
        out = self.run(["sbatch", "--parsable", script_path], env=env)
        job_id = out.strip().split(";")[0]
        if not job_id.isdigit():
            raise RuntimeError(f"sbatch returned no job id: {out!r}")
        return job_id

    def states(self, job_ids: Iterable[str]) -> dict[str, str]:
        """One query for all ``job_ids`` (array ids): ``sacct``, else ``squeue``.

        Returns ``{"12_3": "RUNNING", ...}``; jobs the cluster does not know are absent.
        """
        return {k: v.state for k, v in self.jobs_info(job_ids).items()}

    def jobs_info(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """Like :meth:`states` (one query), with each job's submission time and name."""
        ids = sorted({j.split("_")[0] for j in job_ids}, key=int)
        if not ids:
            return {}
        self.queries += 1
        joined = ",".join(ids)
        if self.facts().accounting:
            try:
                out = self.run(
                    ["sacct", "-X", "-n", "-P", "-o", "JobID,State,Submit,JobName", "-j", joined]
                )
                return parse_job_info(out)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.queries += 1  # fall through to squeue
        try:
            out = self.run(
                ["squeue", "-h", "-r", "--states=all", "-o", "%i|%T|%V|%j", "-j", joined]
            )
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            return {}
        return parse_job_info(out)

    def find_jobs(self, name: str, since: float) -> dict[str, JobInfo]:
        """Every job (array task) named ``name`` submitted after unix time ``since``:
        ``sacct --name`` (finished ones too) and ``squeue --name`` (what accounting has not
        seen yet), merged; ``{"12_3": JobInfo, ...}``."""
        import time as _time

        out: dict[str, JobInfo] = {}
        start = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.localtime(since))
        if self.facts().accounting:
            self.queries += 1
            try:
                text = self.run(["sacct", "-X", "-n", "-P", f"--name={name}", "-S", start,
                                 "-o", "JobID,State,Submit,JobName"])  # fmt: skip
                out.update(parse_job_info(text))
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                pass
        self.queries += 1
        try:
            text = self.run(["squeue", "-h", "-r", "--states=all", f"--name={name}",
                             "-o", "%i|%T|%V|%j"])  # fmt: skip
            for jid, info in parse_job_info(text).items():
                out.setdefault(jid, info)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            pass
        return {j: i for j, i in out.items() if not i.name or i.name == name}

    def cancel(self, job_ids: Iterable[str], *, signal: str = "") -> None:
        ids = sorted(set(job_ids))
        if not ids:
            return
        argv = ["scancel", *([f"--signal={signal}", "--batch"] if signal else []), *ids]
        self.queries += 1
        try:
            self.run(argv)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            pass  # already gone
