"""What the fault drills share: a run on the real Slurm cluster whose evaluator counts training
starts, a controller started as a real process (or a Slurm job), an S3 server this test owns
(so it can kill it), and the counts every drill asserts.

Counting: :class:`tests.support.counting_evaluator.CountingEvaluator` appends ``start``/``done``/
``cached``/``wait`` lines to ``events.log`` in the work directory. A candidate *trained twice*
has two ``start`` lines, or a ``cached``/``wait`` line (a second task was started for it and
found the first one's training). Trial rows are not counted: keys deduplicate them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from launcher.config import load_config
from launcher.run import RunPaths, create_run
from nas.controller import read_events
from tests.conftest import REPO
from tests.support import cluster_calls as T
from tests.support.counting_evaluator import read_events_log

SITE = [
    "executor.site.time=00:05:00",
    "executor.site.cpus_per_task=1",
    "executor.site.mem=200M",
    "executor.site.signal_delay_s=30",
    "executor.site.controller_time=00:10:00",
    "executor.poll_interval_s=1",
]


def need_slurm() -> None:
    why = T.cluster_skip_reason()
    if why:
        pytest.skip(why)


@dataclass
class Run:
    paths: RunPaths
    work: Path
    env: dict[str, str]

    @property
    def run_dir(self) -> Path:
        return self.paths.run_dir

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.run_dir / "journal.jsonl")

    def log(self) -> list[tuple[str, str]]:
        return read_events_log(self.work)

    def counts(self) -> Counter[str]:
        return Counter(k for k, _ in self.log())

    def starts_per_candidate(self) -> Counter[str]:
        return Counter(c for k, c in self.log() if k == "start")

    def trained_twice(self) -> list[str]:
        """Candidates with a second training start, or a second task that found the first."""
        log = self.log()
        starts = Counter(c for k, c in log if k == "start")
        again = {c for k, c in log if k in ("cached", "wait")}
        return sorted({c for c, n in starts.items() if n > 1} | again)

    def controller_starts(self) -> int:
        return sum(1 for e in self.events() if e["ev"] == "start")

    def stops(self) -> list[str]:
        return [str(e["reason"]) for e in self.events() if e["ev"] == "stop"]

    def results(self) -> dict[str, str]:
        """candidate -> state of its journaled result."""
        return {str(e["id"]): str(e["state"]) for e in self.events() if e["ev"] == "result"}

    def submitted_jobs(self) -> set[str]:
        return {str(j) for e in self.events() if e["ev"] == "submit" for j in e["jobs"]}


def make_run(tmp_path: Path, name: str, n: int, seconds: float, *overrides: str) -> Run:
    work = tmp_path / f"work-{name}"
    work.mkdir()
    cfg = load_config(
        overrides=[
            f"experiment.run_root={tmp_path / 'runs'}",
            f"experiment.name={name}",
            f"budget.candidates={n}",
            "executor.kind=slurm",
            "executor.max_in_flight=4",
            *SITE,
            *overrides,
        ]
    )
    paths = create_run(cfg, cluster="slurm")
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": f"{work}:{seconds}", "PYTHONPATH": str(REPO)}
    return Run(paths, work, env)


def controller_process(run: Run, *extra_env: tuple[str, str]) -> subprocess.Popen[str]:
    """The run's controller as a process on this machine (its tasks go to Slurm)."""
    env = dict(run.env)
    env.update(dict(extra_env))
    log = open(run.run_dir / "logs" / "controller-test.out", "a")
    return subprocess.Popen(
        [sys.executable, "-m", "launcher", "controller", str(run.run_dir)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def launch_on_slurm(run: Run) -> str:
    """Start the run's controller as a Slurm job (``archlab resume --cluster slurm``)."""
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "resume", str(run.run_dir), "--cluster", "slurm"],
        cwd=REPO, env=run.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    info = json.loads((run.run_dir / "controller.json").read_text())
    return str(info["job_id"])


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.5)


def sacct(*args: str) -> list[list[str]]:
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", *args], capture_output=True, text=True, timeout=30
    )
    return [line.split("|") for line in out.stdout.splitlines() if line.strip()]


def job_states(job: str) -> list[str]:
    """Every accounting record of ``job`` (requeues show as REQUEUED lines with -D)."""
    return [r[1].split()[0] for r in sacct("-D", "-o", "JobID,State", "-j", job) if r[0] == job]


def cancel_jobs_named(prefix: str) -> None:
    """Clean-up: scancel this test's own jobs (names start with the run's job name)."""
    q = subprocess.run(["squeue", "-h", "-o", "%i|%j"], capture_output=True, text=True)
    ids = [
        line.split("|")[0]
        for line in q.stdout.splitlines()
        if "|" in line and line.split("|", 1)[1].startswith(prefix[:60])
    ]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)


# ----------------------------------------------------------------------------- S3 server
def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class OwnS3:
    """A nanio server this test starts, kills and restarts (same port, same data)."""

    def __init__(self, data_dir: Path, bucket: str = "faults") -> None:
        self.nanio = shutil.which("nanio") or str(Path(sys.executable).parent / "nanio")
        if not Path(self.nanio).exists():
            pytest.skip("nanio (the local S3 server, archlab's [dev] extra) is not installed")
        self.data_dir = data_dir
        self.port = free_port()
        self.bucket = bucket
        self.access = os.environ.get("AWS_ACCESS_KEY_ID", "archlab-dev")
        self.secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "archlab-dev-secret-key")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NANIO_ACCESS_KEY": self.access, "NANIO_SECRET_KEY": self.secret}
        self.proc = subprocess.Popen(
            [self.nanio, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--no-access-log", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import boto3
        from botocore.config import Config

        s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.access, aws_secret_access_key=self.secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=1, read_timeout=5),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
                if self.bucket not in names:
                    s3.create_bucket(Bucket=self.bucket)
                return
            except Exception:
                assert self.proc.poll() is None, "nanio exited during start-up"
                assert time.monotonic() < deadline, "nanio did not answer within 30 s"
                time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
