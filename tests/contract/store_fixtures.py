"""Store test helpers shared by the contract and integration suites.

The S3 backend is tested against the project's own local S3 server (``scripts/s3-up.sh``:
nanio on 127.0.0.1). ``make test`` starts it and exports its environment; a plain
``pytest`` run starts it here (and stops it at the end if it started it). Tests skip with
the reason only when the server cannot start on this machine.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from store import ResultStore, open_store

REPO = Path(__file__).resolve().parents[2]
ENDPOINT_VAR = "ARCHLAB_TEST_S3_ENDPOINT"
BUCKET_VAR = "ARCHLAB_TEST_S3_BUCKET"
DOWN_VAR = "ARCHLAB_S3_DOWN_REASON"


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)
    started_here: bool = False


def start_s3_server() -> S3Server | str:
    """The running test server (from the environment), or one started by scripts/s3-up.sh;
    a string says why none is available."""
    if os.environ.get(ENDPOINT_VAR):
        return S3Server(os.environ[ENDPOINT_VAR], os.environ.get(BUCKET_VAR, "archlab-test"))
    if os.environ.get(DOWN_VAR):
        return f"the local S3 server could not start: {os.environ[DOWN_VAR]}"
    script = REPO / "scripts" / "s3-up.sh"
    pid_file = REPO / ".work" / "s3" / "nanio.pid"
    was_running = pid_file.exists()
    try:
        out = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=60, cwd=REPO
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"scripts/s3-up.sh failed: {e}"
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        return f"scripts/s3-up.sh could not start the local S3 server: {tail[0]}"
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    os.environ.update(env)
    return S3Server(env[ENDPOINT_VAR], env.get(BUCKET_VAR, "archlab-test"), env, not was_running)


def stop_s3_server(server: S3Server) -> None:
    if server.started_here:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "s3-down.sh")], capture_output=True, timeout=60
        )
        for k in server.env:
            os.environ.pop(k, None)


@dataclass(frozen=True)
class StoreSpec:
    """How to open one test store, also in a child process (``uri`` + ``endpoint``)."""

    backend: str
    uri: str
    endpoint: str | None = None

    def open(self) -> ResultStore:
        return open_store(self.uri, endpoint=self.endpoint)

    def as_args(self) -> list[str]:
        return [self.uri, self.endpoint or ""]


def make_spec(backend: str, tmp_path: Path, s3: S3Server | str | None) -> StoreSpec:
    if backend == "local":
        return StoreSpec("local", str(tmp_path / "tables"))
    if not isinstance(s3, S3Server):
        pytest.skip(str(s3))
    return StoreSpec("s3", f"s3://{s3.bucket}/t-{uuid.uuid4().hex[:12]}", s3.endpoint)


def s3_only(spec: StoreSpec) -> None:
    if spec.backend != "s3":
        pytest.skip("S3-specific")


def child_env(**extra: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env
