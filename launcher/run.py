"""Run lifecycle: create a run directory (id, resolved config, manifest) and find runs."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from launcher import __version__
from launcher.config import ConfigError, RunConfig, config_hash, save_config
from nas.records import content_hash

__all__ = [
    "CLUSTERS",
    "RunPaths",
    "cancel_run",
    "check_run_name",
    "controller_command",
    "controller_info",
    "controller_script",
    "controller_state",
    "create_run",
    "find_run",
    "journal_locked",
    "new_run_id",
    "start_controller",
]


@dataclass(frozen=True)
class RunPaths:
    run_id: str
    run_dir: Path

    @property
    def tables(self) -> Path:
        return self.run_dir / "tables"

    @property
    def config(self) -> Path:
        return self.run_dir / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.run_dir / "manifest.json"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"


def _git_version() -> str:
    try:
        here = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# A run name (``experiment.name``): the first part of the run id and of its directory name.
_RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


def check_run_name(name: str) -> str:
    """``name`` if it is a valid run name: 1-64 characters of letters, digits, ``.``, ``_``
    and ``-``, not starting with ``.`` (so never a path, ``..``, a hidden file or a line
    break); else ConfigError, before anything is created."""
    if not _RUN_NAME.fullmatch(name):
        raise ConfigError(
            f"experiment.name={name[:80]!r} is not a run name: use 1-64 letters, digits, "
            "'.', '_' or '-', not starting with '.' (e.g. experiment.name=cifar-rea)"
        )
    return name


def new_run_id(cfg: RunConfig) -> str:
    """``<name>-<YYYYmmdd-HHMMSS>-<hash6>`` (unique: the hash covers the config and the time)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{cfg.experiment.name}-{stamp}-{content_hash(config_hash(cfg), str(time.time_ns()), length=6)}"


def create_run(
    cfg: RunConfig, cluster: str = "inprocess", run_dir: str | Path | None = None
) -> RunPaths:
    """Make ``<run_root>/<run_id>/`` (or ``run_dir``) with ``config.yaml`` and ``manifest.json``."""
    check_run_name(cfg.experiment.name)
    chash = config_hash(cfg)
    if run_dir is not None:
        rd = Path(run_dir).resolve()
        paths = RunPaths(rd.name, rd)
    else:
        run_id = new_run_id(cfg)
        paths = RunPaths(run_id, Path(cfg.experiment.run_root).resolve() / run_id)
    run_id = paths.run_id
    paths.run_dir.mkdir(parents=True, exist_ok=False)
    paths.logs.mkdir()
    save_config(cfg, paths.config)
    manifest = {
        "run_id": run_id,
        "archlab_version": __version__,
        "code_version": _git_version(),
        "config_hash": chash,
        "cluster": cluster,
        "created": time.time(),
        "host": platform.node(),
        "python": platform.python_version(),
        "pid": os.getpid(),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def find_run(run: str, run_root: str = "runs") -> RunPaths:
    """A run by directory path or by id under ``run_root``."""
    p = Path(run)
    if (p / "manifest.json").is_file():
        return RunPaths(p.resolve().name, p.resolve())
    q = Path(run_root) / run
    if (q / "manifest.json").is_file():
        return RunPaths(run, q.resolve())
    known = sorted(d.name for d in Path(run_root).glob("*") if (d / "manifest.json").is_file())
    hint = (
        f" Runs under {run_root}/: {', '.join(known[-10:])}"
        if known
        else f" No runs under {Path(run_root).resolve()}."
    )
    raise ConfigError(
        f"run '{run}' not found (looked for {p}/manifest.json and {q}/manifest.json).{hint}"
    )


# --------------------------------------------------------------------------- controller
# How the controller of a run was started: <run_dir>/controller.json, rewritten per start.
CONTROLLER_FILE = "controller.json"
CLUSTERS = ("slurm", "local", "inprocess")


def controller_command(paths: RunPaths, python: str | None = None) -> str:
    """The shell command a controller job runs (also what a user's own script may call)."""
    import shlex
    import sys

    return f"{shlex.quote(python or sys.executable)} -m launcher controller {shlex.quote(str(paths.run_dir))}"


def controller_script(cfg: RunConfig, paths: RunPaths) -> str:
    """The controller job's sbatch script (``slurm/sbatch.py``): requeueable, USR2 before the limit."""
    from slurm.sbatch import render_controller_script

    return render_controller_script(
        cfg.executor.site,
        controller_command(paths),
        run_dir=str(paths.run_dir),
        job_name=f"archlab-ctl-{paths.run_id}"[:64],
    )


def _write_controller_info(paths: RunPaths, info: dict[str, object]) -> None:
    tmp = paths.run_dir / f".{CONTROLLER_FILE}.tmp"
    tmp.write_text(json.dumps({**info, "time": time.time()}, indent=2) + "\n")
    os.replace(tmp, paths.run_dir / CONTROLLER_FILE)


def controller_info(paths: RunPaths) -> dict[str, object]:
    try:
        data = json.loads((paths.run_dir / CONTROLLER_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def start_controller(cfg: RunConfig, paths: RunPaths, cluster: str) -> dict[str, object]:
    """Start the controller of ``paths`` and return at once (``inprocess`` is not handled here).

    ``local``: a detached process (own session) logging to ``logs/controller.out``;
    ``slurm``: ``sbatch`` of :func:`controller_script` (saved as ``controller.sbatch``).
    """
    if cluster == "local":
        log_path = paths.logs / "controller.out"
        paths.logs.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out, open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(
                controller_command(paths),
                shell=True,
                stdin=devnull,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=os.getcwd(),
            )
        info: dict[str, object] = {
            "cluster": "local",
            "pid": proc.pid,
            "host": platform.node(),
            "log": str(log_path),
        }
    elif cluster == "slurm":
        from slurm.cluster import SlurmClient

        script = paths.run_dir / "controller.sbatch"
        script.write_text(controller_script(cfg, paths))
        try:
            job_id = SlurmClient().sbatch(
                str(script), cwd=str(paths.run_dir), env=controller_job_env(cfg)
            )
        except (RuntimeError, OSError) as e:
            raise ConfigError(
                f"could not submit the controller job ({e}); is Slurm reachable "
                "(sbatch on PATH, SLURM_CONF set)? Or launch with --cluster local"
            ) from None
        info = {
            "cluster": "slurm",
            "job_id": job_id,
            "log": str(paths.logs / f"{job_id}_0.out"),
            "script": str(script),
        }
    else:
        raise ConfigError(f"cluster {cluster!r}: use one of {', '.join(CLUSTERS)}")
    _write_controller_info(paths, info)
    return info


def controller_job_env(cfg: RunConfig) -> dict[str, str]:
    """[issue 18] The controller job's environment: the allow-list plus the secrets it uses
    (the LLM key when ``llm.base_url`` is set; ``AWS_*`` with an ``s3://`` store or table)."""
    from slurm.environment import job_env

    uris = (cfg.store.uri, cfg.space.table, cfg.train.data_dir)
    llm = [cfg.llm.api_key_env] if cfg.llm.base_url and cfg.llm.api_key_env else []
    return job_env(
        aws=any(str(u).startswith("s3://") for u in uris),
        extra=[*cfg.executor.site.env_passthrough, *llm],
    )


def record_inprocess_controller(paths: RunPaths) -> None:
    _write_controller_info(
        paths, {"cluster": "inprocess", "pid": os.getpid(), "host": platform.node()}
    )


def journal_locked(paths: RunPaths) -> bool:
    """True while a controller holds the run's journal lock (one on this host, or any on a
    filesystem whose ``flock`` is cluster-wide)."""
    import fcntl

    lock = paths.run_dir / "journal.jsonl.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)  # [issue 18] flock needs no write access: works read-only
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def controller_state(paths: RunPaths) -> str:
    """``running`` | ``queued`` | ``not running`` (one squeue/sacct query for Slurm runs)."""
    if journal_locked(paths):
        return "running"
    info = controller_info(paths)
    if info.get("cluster") == "slurm" and info.get("job_id"):
        from slurm.cluster import SlurmClient

        states = SlurmClient().states([str(info["job_id"])])
        live = {
            s
            for s in states.values()
            if s
            in (
                "PENDING",
                "RUNNING",
                "REQUEUED",
                "CONFIGURING",
                "COMPLETING",
                "REQUEUE_HOLD",
                "RESIZING",
                "SUSPENDED",
            )
        }
        if "RUNNING" in live or "COMPLETING" in live:
            return "running"
        if live:
            return "queued"
    elif info.get("cluster") == "local" and info.get("host") == platform.node():
        pid = int(str(info.get("pid") or 0))
        if pid and _pid_alive(pid) and time.time() - float(str(info.get("time") or 0)) < 60:
            return "running"  # started a moment ago, not yet holding the lock
    return "not running"


def cancel_run(paths: RunPaths, wait_s: float = 30.0) -> list[str]:
    """Stop a run: write ``CANCEL`` (the controller cancels its tasks and its LLM server job,
    and exits), then make sure: ``scancel`` the controller job, every array job and every
    ``llm.serve`` server job of the journal (Slurm), or terminate the controller and its task
    processes (local). Returns what was done."""
    import signal as _signal

    from nas.controller import CANCEL_FILE, read_events
    from nas.llm.serve import server_jobs

    done = []
    (paths.run_dir / CANCEL_FILE).write_text(f"cancelled at {time.time()}\n")
    done.append(f"wrote {paths.run_dir / CANCEL_FILE}")
    info = controller_info(paths)
    events = read_events(paths.run_dir / "journal.jsonl")
    jobs = [str(j) for ev in events if ev["ev"] == "submit" for j in ev.get("jobs", [])]
    jobs += server_jobs(events)  # llm.serve: the run's LLM server job(s)
    if info.get("cluster") == "slurm":
        from slurm.cluster import SlurmClient

        ids = sorted({j.split("_")[0] for j in jobs if j and j.split("_")[0].isdigit()})
        ctl = str(info.get("job_id") or "")
        client = SlurmClient()
        if ctl:
            client.cancel([ctl])
        if ids:
            client.cancel(ids)
        done.append(f"scancel {' '.join([ctl, *ids]).strip()}")
        return done
    deadline = time.monotonic() + wait_s
    while journal_locked(paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    pid = int(str(info.get("pid") or 0))
    if journal_locked(paths) and pid and info.get("host") == platform.node():
        try:
            os.killpg(pid, _signal.SIGTERM)
            done.append(f"terminated controller process group {pid}")
        except (ProcessLookupError, PermissionError):
            pass
    for j in jobs:  # local task processes left by a controller that died
        if j.startswith("local-") and j[6:].isdigit() and _pid_alive(int(j[6:])):
            try:
                os.kill(int(j[6:]), _signal.SIGTERM)
                done.append(f"terminated task {j}")
            except (ProcessLookupError, PermissionError):
                pass
    return done
