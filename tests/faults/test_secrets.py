"""Drill: a run started with OPENAI_API_KEY and AWS secrets in the environment (the run uses
neither: no LLM, a local store) leaves no trace of them in Slurm's state directory — neither
in the controller job's saved environment nor in its array tasks'."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from tests.faults.helpers import cancel_jobs_named, launch_on_slurm, make_run, need_slurm, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]


def _slurm_dirs() -> list[Path]:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    conf = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition("=") for line in out.splitlines())
    )
    return [Path(conf[k]) for k in ("StateSaveLocation", "SlurmdSpoolDir") if conf.get(k)]


def _grep(needle: str, dirs: list[Path]) -> list[str]:
    out = subprocess.run(["grep", "-rl", needle, *map(str, dirs)], capture_output=True, text=True)
    return out.stdout.split()


def test_secrets_do_not_reach_slurms_state_directory(tmp_path):
    need_slurm()
    key = f"sk-SECRET-{secrets.token_hex(4)}"
    aws = f"aws-SECRET-{secrets.token_hex(4)}"
    run = make_run(tmp_path, "secrets", 3, 15.0)
    run.env.update(OPENAI_API_KEY=key, AWS_SECRET_ACCESS_KEY=aws, HF_TOKEN=key)
    dirs = _slurm_dirs()
    try:
        launch_on_slurm(run)
        wait_for(lambda: len(run.starts_per_candidate()) >= 3, 120, "3 running array tasks")
        # the jobs' saved environments are there (the grep can see them) ...
        assert _grep(str(run.work), dirs), f"no job environment with the run's work dir in {dirs}"
        # ... and hold no secret
        assert _grep(key, dirs) == [] and _grep(aws, dirs) == []
        wait_for(lambda: run.stops() == ["done"], 180, "the run to finish")
        assert _grep(key, dirs) == [] and _grep(aws, dirs) == []
    finally:
        cancel_jobs_named(f"archlab-ctl-{run.paths.run_id}")
        cancel_jobs_named(f"archlab-{run.paths.run_id}")
    assert not run.trained_twice()
