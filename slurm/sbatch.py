"""sbatch scripts as text: a pure builder, snapshot-tested (``tests/golden/``).

Every script archlab submits — the array tasks of :class:`slurm.SlurmExecutor` and the
controller job of ``archlab sbatch`` — comes from :func:`render_sbatch`. Nothing here runs
a subprocess except :func:`dry_run`, which asks ``sbatch --test-only`` about a script.

>>> text = render_controller_script(SiteParams(partition="gpu"), "archlab controller runs/x",
...                                 run_dir="runs/x", job_name="archlab-x")
>>> "#SBATCH --partition=gpu" in text
True
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slurm.cluster import slurm_env
from slurm.site import SiteParams, parse_slurm_time

__all__ = [
    "DryRun",
    "controller_script_from_profile",
    "dry_run",
    "render_controller_script",
    "render_sbatch",
    "render_task_script",
]


def _single_line(what: str, text: str) -> str:
    """``text`` if it holds no line break or control character (one line of the script);
    else ValueError: a value must never start a line of its own (a directive, a command)."""
    if len(text.splitlines()) > 1 or any(
        (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text
    ):
        raise ValueError(
            f"sbatch {what}: {text[:80]!r} holds a line break or control character; "
            "give it on one line"
        )
    return text


def _line(option: str, value: object = None) -> str:
    if value is None:
        return f"#SBATCH --{option}"
    text = _single_line(f"--{option}", str(value))
    if any(c.isspace() for c in text) or any(c in text for c in "'\"\\$`"):
        text = shlex.quote(text)
    return f"#SBATCH --{option}={text}"


def _extra_line(line: str) -> str:
    """An extra site line, verbatim; a bare option gets its ``#SBATCH`` prefix."""
    text = _single_line("extra_sbatch line", line.strip())
    if text.startswith("#SBATCH"):
        return text
    return f"#SBATCH {text}"


def render_sbatch(
    *,
    command: str,
    job_name: str,
    output: str,
    time: str,
    partition: str = "",
    account: str = "",
    qos: str = "",
    cpus_per_task: int = 0,
    mem: str = "",
    gres: str = "",
    gpus_per_task: int = 0,
    array: str = "",
    signal: str = "",
    requeue: bool = True,
    open_mode: str = "append",
    extra_sbatch: Sequence[str] = (),
    setup: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    header: str = "",
) -> str:
    """A complete, readable sbatch script; pure (same arguments, same text).

    ``command`` is a shell command line run with ``exec`` as the batch shell itself, so that
    ``--signal=B:USR2@N`` reaches it; ``time`` uses Slurm syntax and is required (a missing
    limit silently becomes the cluster default). ``gres`` and ``extra_sbatch`` lines are
    passed verbatim; ``setup`` lines run first (module load, venv/conda activation).
    """
    parse_slurm_time(time)  # fail here, with the accepted forms, not at sbatch time
    if not command.strip():
        raise ValueError("render_sbatch: empty command")
    lines = ["#!/bin/bash"]
    if header:
        lines += [f"# {h}" if h else "#" for h in header.splitlines()]
    lines.append(_line("job-name", job_name))
    if partition:
        lines.append(_line("partition", partition))
    if account:
        lines.append(_line("account", account))
    if qos:
        lines.append(_line("qos", qos))
    lines.append(_line("time", time))
    lines.append(_line("nodes", 1))
    lines.append(_line("ntasks", 1))
    if cpus_per_task:
        lines.append(_line("cpus-per-task", cpus_per_task))
    if mem:
        lines.append(_line("mem", mem))
    if gres:
        lines.append(_line("gres", gres))
    if gpus_per_task:
        lines.append(_line("gpus-per-task", gpus_per_task))
    if array:
        lines.append(_line("array", array))
    lines.append(_line("output", output))
    lines.append(_line("open-mode", open_mode))
    if signal:
        lines.append(_line("signal", signal))
    if requeue:
        lines.append(_line("requeue"))
    lines += [_extra_line(x) for x in extra_sbatch if x.strip()]
    lines.append("")
    lines.append("set -e")
    if setup:
        lines.append("# site setup")
        lines += [_single_line("setup line", s.rstrip()) for s in setup]
    for key, value in sorted((env or {}).items()):
        if not key.isidentifier() or not key.isascii():
            raise ValueError(f"sbatch env: {key[:80]!r} is not a variable name")
        lines.append(f"export {key}={shlex.quote(value)}")
    lines.append(f"exec {_single_line('command', command)}")
    return "\n".join(lines) + "\n"


def render_task_script(
    site: SiteParams,
    command: str,
    *,
    folder: str | Path,
    array_size: int,
    job_name: str = "archlab-task",
) -> str:
    """The script of one array of ``array_size`` tasks running submitit's worker in ``folder``."""
    if array_size < 1:
        raise ValueError("array_size must be >= 1")
    array = f"0-{array_size - 1}"
    if site.array_throttle:
        array += f"%{site.array_throttle}"
    return render_sbatch(
        command=command,
        job_name=job_name,
        output=f"{folder}/%A_%a_0_log.out",
        time=site.time,
        partition=site.partition,
        account=site.account,
        qos=site.qos,
        cpus_per_task=site.cpus_per_task,
        mem=site.mem,
        gres=site.gres,
        gpus_per_task=site.gpus_per_task,
        array=array,
        signal=f"B:USR2@{site.signal_delay_s}",
        requeue=True,
        extra_sbatch=site.extra_sbatch,
        setup=site.setup,
        env={"SUBMITIT_EXECUTOR": "slurm"},
        header="archlab array task (slurm/sbatch.py): submitit worker, one call pack per index",
    )


def render_controller_script(
    site: SiteParams,
    command: str,
    *,
    run_dir: str | Path,
    job_name: str,
    cpus_per_task: int = 2,
    mem: str = "4G",
) -> str:
    """The controller job's script for users who drive runs with ``sbatch`` themselves.

    The controller is an array of one (``--array=0``) so its log is ``logs/%A_%a.out`` like
    every task's, it gets USR2 ``signal_delay_s`` before its limit and requeues itself
    (``--requeue``, ``--open-mode=append`` keeps one log over attempts). It needs no GPU: the
    site's gres/gpus apply to the array tasks it submits, not to it.
    """
    return render_sbatch(
        command=command,
        job_name=job_name,
        output=f"{run_dir}/logs/%A_%a.out",
        time=site.controller_time,
        partition=site.partition,
        account=site.account,
        qos=site.qos,
        cpus_per_task=cpus_per_task,
        mem=mem,
        array="0",
        signal=f"B:USR2@{site.signal_delay_s}",
        requeue=True,
        extra_sbatch=site.extra_sbatch,
        setup=site.setup,
        header=(
            f"archlab controller for {run_dir}\n"
            "Generated by `archlab sbatch` (slurm/sbatch.py); submit with: sbatch THIS_FILE\n"
            "It runs the agent loop and submits the candidate trainings as array jobs."
        ),
    )


def controller_script_from_profile(
    profile: object,
    run_dir: str | Path,
    *,
    command: str = "",
    job_name: str = "",
) -> str:
    """:func:`render_controller_script` from any site-profile-like object (the launcher's
    ``SiteProfile``); the command defaults to ``archlab controller RUN_DIR``."""
    site = SiteParams.from_profile(profile)
    run = str(run_dir)
    return render_controller_script(
        site,
        command or f"archlab controller {shlex.quote(run)}",
        run_dir=run,
        job_name=job_name or f"archlab-{Path(run).name}",
    )


@dataclass(frozen=True)
class DryRun:
    """What ``sbatch --test-only`` said about a script (``checked`` is False without Slurm)."""

    script: str
    checked: bool
    ok: bool
    message: str


def dry_run(script: str, *, workdir: str | Path | None = None, timeout_s: float = 30.0) -> DryRun:
    """Ask ``sbatch --test-only`` whether ``script`` would be accepted; submits nothing.

    Where no ``sbatch`` exists, returns ``checked=False`` and says so.
    """
    if shutil.which("sbatch") is None:
        return DryRun(script, False, True, "sbatch not found: script rendered, not checked")
    proc = subprocess.run(
        ["sbatch", "--test-only"],
        input=script,
        capture_output=True,
        text=True,
        cwd=str(workdir) if workdir else os.getcwd(),
        env=slurm_env(),
        timeout=timeout_s,
        check=False,
    )
    message = (proc.stdout + proc.stderr).strip()
    return DryRun(script, True, proc.returncode == 0, message)
