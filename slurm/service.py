"""A long-running service as a job of a run: start a server, say where it is, stop with
its owner.

:func:`run_service` is the call a service job runs (submitted through the executor layer
like any call: :func:`slurm.make_executor` -> ``submit([Call(run_service, (spec,))])``). On
its node it

1. picks the address: the node's hostname (``bind="node"``: reachable from the controller
   on another node) or ``127.0.0.1`` (``bind="loopback"``), and the port (``spec.port``, or
   a free one when 0);
2. starts ``bash spec.script`` with ``ARCHLAB_SERVE_HOST`` and ``ARCHLAB_SERVE_PORT`` set,
   in its own process group, its output in the job's log;
3. waits until ``GET http://host:port<ready_path>`` answers 200 (bounded by
   ``ready_timeout_s``; the server exiting first is a failure naming its exit status);
4. writes the endpoint file ``spec.endpoint`` (JSON: host, port, base_url, node, pid,
   job id, ready time) atomically — the controller reads it to find the server;
5. watches, every ``watch_interval_s``: the server process (its exit ends the job with a
   failure), and its *owner*: with ``spec.owner_job`` the controller's Slurm job (ended,
   or unknown to the cluster three checks running -> stop; pending/requeued -> keep
   serving, a requeued controller re-attaches), else the owner's heartbeat file (older than
   ``heartbeat_stale_s`` -> stop). This works when the controller was killed with -9.
6. stops the server on SIGTERM (``scancel``), on its owner's end, or on its own limit:
   SIGTERM to the process group, SIGKILL after 10 s; the endpoint file says ``stopped``.

Knows nothing about LLMs (the script and the readiness path come in ``spec``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["ServiceSpec", "endpoint_of", "job_state", "run_service", "service_job_id"]

_MISSING_LIMIT = 3  # owner unknown to the cluster this many checks running: it is gone


@dataclass(frozen=True)
class ServiceSpec:
    """What a service job runs and where it reports (picklable plain data)."""

    script: str  # bash script starting the server on $ARCHLAB_SERVE_HOST:$ARCHLAB_SERVE_PORT
    endpoint: str  # the endpoint file this job writes (JSON)
    port: int = 0  # 0 = a free port on the node
    bind: str = "node"  # node | loopback
    ready_path: str = "/v1/models"  # GET here answers 200 when the server is ready
    ready_timeout_s: float = 900.0
    owner_job: str = ""  # the controller's Slurm job id ("" = watch the heartbeat file)
    heartbeat: str = ""  # the owner's heartbeat file (its mtime)
    heartbeat_stale_s: float = 45.0
    watch_interval_s: float = 10.0


def service_job_id() -> str:
    """This job's id as the executor names it (``<array>_<index>``, or the plain id)."""
    arr, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if arr and task:
        return f"{arr}_{task}"
    return os.environ.get("SLURM_JOB_ID", "") or f"pid-{os.getpid()}"


def endpoint_of(path: str | os.PathLike[str]) -> dict[str, object]:
    """The endpoint file at ``path`` (``{}`` when absent or unreadable; bounded read)."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(4096))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_endpoint(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({**data, "time": time.time()}) + "\n")
    os.replace(tmp, path)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(url: str, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return int(r.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def job_state(job: str) -> str:
    """A job's Slurm state, "" when the cluster does not know it: ``squeue`` first (it
    knows a job the moment it exists; ``sacct`` may lag behind slurmdbd by seconds), then
    ``sacct`` (a job that ended before ``MinJobAge``)."""
    from slurm.cluster import SlurmClient, parse_states

    client = SlurmClient(timeout_s=20)
    try:
        out = client.run(["squeue", "-h", "-r", "--states=all", "-o", "%i|%T", "-j",
                          job.split("_")[0]])  # fmt: skip
        state = parse_states(out).get(job, "")
        return state or client.states([job]).get(job, "")
    except Exception:  # a slurmctld hiccup (or an id squeue no longer knows): unknown
        try:
            return client.states([job]).get(job, "")
        except Exception:
            return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(5)


class _Stop(Exception):
    """SIGTERM reached the service job (scancel, or the end of its time)."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run_service(spec: ServiceSpec) -> dict[str, object]:
    """Run the service of ``spec`` until its owner is gone or it is stopped (see the module
    doc). Returns why it stopped; raises ``RuntimeError`` when the server failed to start or
    died (the job's outcome is then FAILED with that message)."""
    from slurm.cluster import TERMINAL_STATES

    endpoint = Path(spec.endpoint)
    endpoint.parent.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname()
    host = node if spec.bind == "node" else "127.0.0.1"
    port = spec.port or _free_port(host)
    job = service_job_id()
    base = f"http://{host}:{port}"
    env = {**os.environ, "ARCHLAB_SERVE_HOST": host, "ARCHLAB_SERVE_PORT": str(port)}
    print(f"service: starting {spec.script} on {host}:{port} (job {job})", flush=True)
    signal.signal(signal.SIGTERM, _on_term)
    proc = subprocess.Popen(["bash", spec.script], env=env, start_new_session=True)
    info: dict[str, object] = {"job_id": job, "node": node, "host": host, "port": port,
                               "base_url": f"{base}/v1", "pid": proc.pid}  # fmt: skip
    try:
        t0 = time.monotonic()
        while not _answers(base + spec.ready_path):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {proc.returncode} before "
                                   f"it answered GET {spec.ready_path} (its output is above)")  # fmt: skip
            if time.monotonic() - t0 > spec.ready_timeout_s:
                raise RuntimeError(f"the server did not answer GET {base}{spec.ready_path} "
                                   f"within {spec.ready_timeout_s:g} s")  # fmt: skip
            time.sleep(1.0)
        _write_endpoint(endpoint, {**info, "state": "ready", "ready_s": time.monotonic() - t0})
        print(f"service: ready at {base}/v1 after {time.monotonic() - t0:.1f} s", flush=True)
        why = _watch(spec, proc, TERMINAL_STATES)
    except _Stop as e:
        why = f"stopped by {e}"
    except BaseException as e:  # failed to start: the endpoint file says why, then re-raise
        _write_endpoint(endpoint, {**info, "state": "stopped", "why": f"failed: {e}"})
        _stop(proc)
        raise
    # said before the server goes: a client that cannot connect any more reads why
    _write_endpoint(endpoint, {**info, "state": "stopped", "why": why})
    _stop(proc)
    print(f"service: {why}", flush=True)
    if why.startswith("server exited"):
        raise RuntimeError(why)
    return {"stopped": why, **info}


def _watch(spec: ServiceSpec, proc: subprocess.Popen[bytes], terminal: frozenset[str]) -> str:
    missing = 0
    while True:
        time.sleep(spec.watch_interval_s)
        if proc.poll() is not None:
            return f"server exited with status {proc.returncode}"
        if spec.owner_job:
            state = job_state(spec.owner_job)
            missing = missing + 1 if not state else 0
            if state in terminal:
                return f"owner job {spec.owner_job} ended ({state})"
            if missing >= _MISSING_LIMIT:
                return f"owner job {spec.owner_job} unknown to the cluster ({missing} checks)"
        elif spec.heartbeat:
            try:
                age = time.time() - os.stat(spec.heartbeat).st_mtime
            except OSError:
                age = float("inf")
            if age > spec.heartbeat_stale_s:
                return f"owner heartbeat {spec.heartbeat} is {age:.0f} s old"
