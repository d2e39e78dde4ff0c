"""The rendered controller script under plain ``sbatch`` on the local cluster."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm import SiteParams
from slurm.cluster import SlurmClient, slurm_env
from slurm.sbatch import dry_run, render_controller_script
from tests.support import cluster_calls as T

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slurm,
    pytest.mark.skipif(bool(T.cluster_skip_reason()), reason=T.cluster_skip_reason() or "-"),
    pytest.mark.timeout(180),
]


def _script(run_dir: Path) -> str:
    site = SiteParams(
        time="5",
        controller_time="00:05:00",
        cpus_per_task=1,
        mem="100M",
        signal_delay_s=60,
        extra_sbatch=("--comment=archlab-test",),
        setup=("export ARCHLAB_SETUP_RAN=yes",),
    )
    command = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
        "import os; print(42, os.environ.get('ARCHLAB_SETUP_RAN'))"
    )
    return render_controller_script(site, command, run_dir=run_dir, job_name="archlab-ctl-test")


def test_rendered_script_runs_under_plain_sbatch(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    path = tmp_path / "run.sbatch"
    path.write_text(_script(run_dir))
    out = subprocess.run(
        ["sbatch", "--parsable", str(path)],
        capture_output=True,
        text=True,
        env=slurm_env(),
        cwd=tmp_path,
        check=True,
    ).stdout
    job = out.strip().split(";")[0]
    client = SlurmClient()
    deadline = time.monotonic() + 120
    state = ""
    while time.monotonic() < deadline:
        state = client.states([f"{job}_0"]).get(f"{job}_0", "")
        if state == "COMPLETED":
            break
        time.sleep(1)
    assert state == "COMPLETED"
    log = run_dir / "logs" / f"{job}_0.out"
    assert log.read_text().split() == ["42", "yes"]


def test_dry_run_accepts_the_script(tmp_path: Path) -> None:
    (tmp_path / "run" / "logs").mkdir(parents=True)
    result = dry_run(_script(tmp_path / "run"), workdir=tmp_path)
    assert result.checked and result.ok, result.message
    assert "to start at" in result.message  # what sbatch --test-only prints


def test_dry_run_reports_a_bad_partition(tmp_path: Path) -> None:
    site = SiteParams(partition="no-such-partition")
    text = render_controller_script(site, "true", run_dir=tmp_path, job_name="x")
    result = dry_run(text, workdir=tmp_path)
    assert result.checked and not result.ok
    assert "partition" in result.message.lower()
