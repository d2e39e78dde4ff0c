"""Run lifecycle: create a run directory (id, resolved config, manifest) and find runs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from launcher import __version__
from launcher.config import ConfigError, RunConfig, config_hash, save_config
from nas.records import content_hash

__all__ = ["RunPaths", "create_run", "find_run"]


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


def create_run(cfg: RunConfig, cluster: str = "inprocess") -> RunPaths:
    """Make ``<run_root>/<run_id>/`` with ``config.yaml`` and ``manifest.json``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    chash = config_hash(cfg)
    run_id = f"{cfg.experiment.name}-{stamp}-{content_hash(chash, str(time.time_ns()), length=6)}"
    paths = RunPaths(run_id, Path(cfg.experiment.run_root).resolve() / run_id)
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
