"""``llm.serve``: the run's LLM server as a job of the run (docs/llm-serve.md).

Two halves:

* **Rendering** (pure, golden-file tested): :func:`server_script` is the bash script that
  starts the server of ``llm.serve.kind`` on ``$ARCHLAB_SERVE_HOST:$ARCHLAB_SERVE_PORT`` —
  ``llama_cpp`` (the project's own model, the facts of ``scripts/llm-up.sh``:
  :data:`LLAMA_CPP`), ``vllm`` (``vllm serve`` with the flags the client relies on) or
  ``command`` (the user's template). :func:`server_site` is the server job's placement
  (``executor.site`` with ``llm.serve``'s resources).
* **Management** (:class:`LLMServer`, used by the controller): submits the server job
  through the run's executor layer (:func:`slurm.make_executor`, one call of
  :func:`slurm.service.run_service`), journals it (``llm_server`` events: ``submit``,
  ``ready``, ``attach``, ``end``, ``cancel``), re-attaches to it after a requeue, waits for
  it to answer (bounded, with progress lines), starts a new one when it died (noticed on a
  failed connection or from the job's state) and cancels it when the run stops for good.

The server job stops by itself when the controller is gone (its Slurm job ended, or — a
controller outside Slurm — its heartbeat file went stale): see :mod:`slurm.service`.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from nas.llm.config import ServeConfig
from slurm.site import SiteParams

if TYPE_CHECKING:
    from slurm.executor import Executor, Handle

__all__ = [
    "EVENT",
    "LLAMA_CPP",
    "SERVE_DIR",
    "LLMServer",
    "LLMServerError",
    "LlamaCppFacts",
    "ServedEndpoint",
    "ServerView",
    "SharedServer",
    "default_llama_dir",
    "server_job_sbatch",
    "server_jobs",
    "server_script",
    "server_site",
    "tokens_per_s",
]

log = logging.getLogger("archlab.llm.serve")

EVENT = "llm_server"  # the journal event name
SERVE_DIR = "llm_server"  # under the run directory: scripts, endpoint files, job folders
HEARTBEAT = "heartbeat"

Emit = Callable[..., None]


@dataclass(frozen=True)
class LlamaCppFacts:
    """The project's own model as ``scripts/llm-up.sh`` installs and starts it (that script
    holds the same values; ``tests/unit/test_llm_serve.py`` checks they agree)."""

    alias: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"  # llm-up.sh's model alias
    chat_format: str = "chatml"
    llama_version: str = "0.3.36"  # llama-cpp-python[server]
    sha256: str = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

    def gguf(self, llama_dir: str | Path) -> Path:
        return Path(llama_dir) / "model" / f"{self.alias}.gguf"

    def python(self, llama_dir: str | Path) -> Path:
        return Path(llama_dir) / "venv" / "bin" / "python"


LLAMA_CPP = LlamaCppFacts()


def default_llama_dir() -> Path:
    """``<checkout>/.work/llm``: where ``scripts/llm-up.sh`` installs by default."""
    return Path(__file__).resolve().parents[2] / ".work" / "llm"


class LLMServerError(RuntimeError):
    """The run's server cannot be started or reached; the message names the job and its log."""


# --------------------------------------------------------------------------- rendering
_HOST, _PORT = '"$ARCHLAB_SERVE_HOST"', '"$ARCHLAB_SERVE_PORT"'


def server_script(serve: ServeConfig, model_name: str, *, python: str = "python3",
                  llama_dir: str | Path = "") -> str:  # fmt: skip
    """The bash script the server job runs (pure: same arguments, same text).

    ``model_name`` is ``llm.model``: the name the server answers to. ``python`` fills
    ``{python}`` of a command template; ``llama_dir`` is where ``scripts/llm-up.sh``
    installed (default :func:`default_llama_dir`)."""
    q = shlex.quote
    head = [
        "#!/bin/bash",
        f"# archlab LLM server (llm.serve.kind={serve.kind}), rendered by nas/llm/serve.py.",
        "# Run by the server job (slurm/service.py): it sets ARCHLAB_SERVE_HOST/PORT, waits",
        "# for GET /v1/models, writes the endpoint file the controller reads, and stops this",
        "# process group when the run's controller is gone.",
        "set -e",
    ]
    if serve.kind == "llama_cpp":
        ldir = Path(llama_dir or serve.llama_dir or default_llama_dir())
        gguf = serve.model or str(LLAMA_CPP.gguf(ldir))
        body = [
            f"# the project's own model: llama-cpp-python[server]=={LLAMA_CPP.llama_version} "
            "and the GGUF installed by",
            f"# scripts/llm-up.sh --install-only (ARCHLAB_LLM_DIR={ldir})",
            f"exec {q(str(LLAMA_CPP.python(ldir)))} -m llama_cpp.server --model {q(gguf)} \\",
            f"  --model_alias {q(model_name)} --host {_HOST} --port {_PORT} \\",
            f"  --n_ctx {serve.context_tokens} --n_threads {serve.threads} "
            f"--n_threads_batch {serve.threads} --chat_format {LLAMA_CPP.chat_format}",
        ]
    elif serve.kind == "vllm":
        body = [
            "# vLLM >= 0.12: structured outputs are on by default; the client sends them as",
            '# extra_body={"structured_outputs": {"grammar"|"json": ...}} (nas/llm/structured.py).',
            "# --generation-config vllm: the client's temperature/seed hold, not the model",
            "# repository's generation_config.json.",
            f"exec vllm serve {q(serve.model)} --served-model-name {q(model_name)} \\",
            f"  --host {_HOST} --port {_PORT} \\",
            f"  --tensor-parallel-size {_gpus(serve)}"
            + (f" --max-model-len {serve.context_tokens}" if serve.context_tokens else "")
            + " --generation-config vllm",
        ]
    elif serve.kind == "command":
        values = {"host": _HOST, "port": _PORT, "model": q(serve.model), "name": q(model_name),
                  "threads": str(serve.threads), "python": q(python)}  # fmt: skip
        body = ["# llm.serve.command, its {fields} filled in", serve.command.format(**values)]
    else:
        raise ValueError(f"llm.serve.kind={serve.kind!r}: nothing to render")
    return "\n".join(head + body) + "\n"


def server_site(serve: ServeConfig, site: SiteParams) -> SiteParams:
    """The server job's placement: ``llm.serve.site``, with ``executor.site``'s partition
    and account where it names none, and ``executor.site``'s setup lines and environment
    first (the job runs archlab's worker too)."""
    own = serve.site
    return replace(
        own,
        partition=own.partition or site.partition,
        account=own.account or site.account,
        array_throttle=0,
        setup=(*site.setup, *own.setup),
        env_passthrough=(*site.env_passthrough, *own.env_passthrough),
    )


def _gpus(serve: ServeConfig) -> int:
    """The server job's GPUs (vLLM's tensor-parallel size): ``gpus_per_task``, else the
    count at the end of a ``gres`` such as ``gpu:a100:2``, else 1."""
    site = serve.site
    if site.gpus_per_task:
        return site.gpus_per_task
    last = site.gres.rsplit(":", 1)[-1]
    return int(last) if site.gres.startswith("gpu") and last.isdigit() else 1


def server_job_sbatch(serve: ServeConfig, site: SiteParams, *, folder: str | Path,
                      job_name: str, python: str) -> str:  # fmt: skip
    """The sbatch script of a server job (what the run's Slurm executor submits for it):
    the executor's task script, placed by :func:`server_site`."""
    from slurm.sbatch import render_task_script

    command = f"{shlex.quote(python)} -u -m slurm.worker {shlex.quote(str(folder))}"
    return render_task_script(server_site(serve, site), command, folder=folder, array_size=1,
                              job_name=job_name)  # fmt: skip


def server_jobs(events: list[dict[str, Any]]) -> list[str]:
    """Every server job id the journal ``events`` name (``archlab cancel`` stops them)."""
    return [str(e["job_id"]) for e in events
            if e.get("ev") == EVENT and e.get("action") == "submit" and e.get("job_id")]  # fmt: skip


@dataclass(frozen=True)
class ServerView:
    """What the journal says of the run's server job (``archlab status``, the report)."""

    job_id: str  # the latest server job ("" = the run never started one)
    kind: str
    base_url: str  # where it answered ("" = not ready yet)
    node: str
    jobs: int  # server jobs the run started (1 + restarts)
    ended: str  # "cancelled: <why>" | "ended: <state>" | "" while it should be running
    shared: str = ""  # llm.serve.reuse: the run whose server this run uses

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> ServerView | None:
        job = kind = url = node = ended = shared = ""
        jobs = 0
        for e in events:
            if e.get("ev") != EVENT:
                continue
            act, jid = e.get("action"), str(e.get("job_id", ""))
            if act == "reuse":
                shared, job, kind = str(e.get("run", "")), jid, "reuse"
                url, node = str(e.get("base_url", "")), str(e.get("node", ""))
            elif act == "submit":
                job, kind, url, node, ended = jid, str(e.get("kind", "")), "", "", ""
                jobs += 1
            elif act == "ready" and jid == job:
                url, node = str(e.get("base_url", "")), str(e.get("node", ""))
            elif act == "cancel" and jid == job:
                ended = f"cancelled: {e.get('why', '')}"
            elif act == "end" and jid == job:
                ended = f"ended: {e.get('state', '')}"
        return cls(job, kind, url, node, jobs, ended, shared) if jobs or shared else None

    def line(self, state: str = "") -> str:
        """``job 17_0 RUNNING on vm at http://vm:41215/v1 (command; 2 jobs, 1 restart)``."""
        where = f" on {self.node} at {self.base_url}" if self.base_url else " (not ready yet)"
        if self.shared:
            return (f"job {self.job_id} {state or 'as journaled'}{where}, the server of run "
                    f"{self.shared} (llm.serve.reuse)")  # fmt: skip
        now = state or self.ended or "as journaled"
        restarts = self.jobs - 1
        more = f"; {self.jobs} jobs, {restarts} restart{'s' * (restarts != 1)}" if restarts else ""
        return f"job {self.job_id} {now}{where} ({self.kind}{more})"


def tokens_per_s(rows: list[dict[str, Any]]) -> float | None:
    """Output tokens per second of answered calls (``llm_calls`` rows: ``status``,
    ``tokens_out``, ``latency_s``), measured from the calls; None without any."""
    ok = [r for r in rows if r.get("status") == "ok" and not r.get("cache_hit")]
    secs = sum(float(r.get("latency_s") or 0.0) for r in ok)
    return sum(int(r.get("tokens_out") or 0) for r in ok) / secs if ok and secs > 0 else None


# --------------------------------------------------------------------------- management
class LLMServer:
    """The run's server job, managed by its controller (see the module doc).

    Lifecycle: :meth:`start` (the controller, after its ``start`` event: attach to the
    journaled job or submit one; no waiting), :meth:`endpoint` (the client's hook: waits for
    readiness; after a failed connection finds out whether the job died and starts a new
    one), :meth:`stop` (cancels the job unless the controller was interrupted — a requeued
    controller re-attaches to it).
    """

    def __init__(
        self,
        serve: ServeConfig,
        model_name: str,
        run_dir: str | Path,
        run_id: str,
        make_executor: Callable[[Path], Executor],
        *,
        owner_job: str = "",
        python: str = "python3",
        llama_dir: str | Path = "",
        poll_s: float = 1.0,
    ) -> None:
        self.serve = serve
        self.model_name = model_name
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.dir = self.run_dir / SERVE_DIR
        self._make_executor = make_executor
        self.owner_job = owner_job
        self.python = python
        self.llama_dir = llama_dir
        self.poll_s = poll_s
        self.handle: Handle | None = None
        self.token = ""
        self.url = ""
        self.restarts = 0
        self._executor: Executor | None = None
        self._emit: Emit | None = None
        self._lock = threading.RLock()
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = self._make_executor(self.dir / "jobs")
        return self._executor

    def start(self, emit: Emit) -> None:
        """Attach to the server job the journal names (still pending/running), else submit
        one. ``emit(ev, **fields)`` appends to the run's journal."""
        from nas.controller.journal import read_events

        self._emit = emit
        self.dir.mkdir(parents=True, exist_ok=True)
        self._start_heartbeat()
        last = _last_job(read_events(self.run_dir / "journal.jsonl"))
        with self._lock:
            if last is not None:
                h = self.executor.attach(f"llm-server-{last['token']}", str(last["job_id"]),
                                         dict(last.get("ref") or {}))  # fmt: skip
                self._poll(h)
                if h.outcome is None:
                    self.handle, self.token = h, str(last["token"])
                    emit(EVENT, action="attach", job_id=h.job_id, token=self.token)
                    log.info("LLM server: re-attached to job %s", h.job_id)
                    return
                emit(EVENT, action="end", job_id=h.job_id, state=h.outcome.state.value,
                     why=h.outcome.error[-300:])  # fmt: skip
            self._submit("first start" if last is None else f"job {last['job_id']} is gone")

    def stop(self, reason: str) -> None:
        """The controller stops (``reason`` as its ``stop`` event): cancel the server job,
        except when interrupted (a requeue or a time-limit signal: the next start
        re-attaches). Safe to call twice."""
        self._beat_stop.set()
        with self._lock:
            h = self.handle
            if h is None:
                return
            if reason.startswith("interrupted"):
                log.info("LLM server: job %s left running for the next start (%s)",
                         h.job_id, reason)  # fmt: skip
                return
            self.executor.cancel([h])
            self.handle = None
            if self._emit is not None:
                self._emit(EVENT, action="cancel", job_id=h.job_id, why=reason)
            log.info("LLM server: cancelled job %s (run stopped: %s)", h.job_id, reason)

    # ------------------------------------------------------------------ the client's hook
    def endpoint(self, failed: bool = False) -> str:
        """The base URL to send requests to, waiting (bounded) until the server answers.
        ``failed=True``: a request could not connect — if the job died (or the server in it
        stopped), a new job is started and its URL returned; else the same URL."""
        with self._lock:
            if failed and self.url and self._dead_after_failure():
                self._restart("a request could not connect and the job is gone")
            if not self.url:
                self.url = self._wait_ready()
            return self.url

    # ------------------------------------------------------------------ internals
    def _submit(self, why: str) -> None:
        from slurm.executor import Call
        from slurm.service import ServiceSpec, run_service

        token = secrets.token_hex(4)
        script = self.dir / f"server-{token}.sh"
        script.write_text(server_script(self.serve, self.model_name, python=self.python,
                                        llama_dir=self.llama_dir))  # fmt: skip
        s = self.serve
        spec = ServiceSpec(
            script=str(script),
            endpoint=str(self._endpoint_file(token)),
            port=s.port,
            bind=s.bind,
            ready_timeout_s=s.ready_timeout_s,
            owner_job=self.owner_job,
            heartbeat=str(self.dir / HEARTBEAT),
            heartbeat_stale_s=s.heartbeat_stale_s,
            watch_interval_s=s.watch_interval_s,
        )
        [h] = self.executor.submit([Call(run_service, (spec,), key=f"llm-server-{token}")])
        self.handle, self.token, self.url = h, token, ""
        assert self._emit is not None
        self._emit(EVENT, action="submit", job_id=h.job_id, ref=h.ref, token=token,
                   kind=s.kind, why=why)  # fmt: skip
        log.info("LLM server: submitted job %s (%s; %s)", h.job_id, s.kind, why)

    def _restart(self, why: str) -> None:
        from slurm.service import endpoint_of

        h = self.handle
        said = str(endpoint_of(self._endpoint_file(self.token)).get("why") or "")
        from nas.controller.controller import CANCEL_FILE

        if (self.run_dir / CANCEL_FILE).exists():  # archlab cancel stops the server too
            raise LLMServerError(f"the run is being cancelled ({CANCEL_FILE}): no new LLM "
                                 "server job")  # fmt: skip
        mine = f"owner job {self.owner_job} "
        if self.owner_job and said.startswith(mine):  # it saw this controller end: so will we
            raise LLMServerError(f"the LLM server job stopped because {said}: this "
                                 "controller is ending, no new server job")  # fmt: skip
        if h is not None:
            if h.outcome is None:
                self.executor.cancel([h])
            state = h.outcome.state.value if h.outcome is not None else "CANCELLED"
            error = h.outcome.error[-300:] if h.outcome is not None else ""
            assert self._emit is not None
            self._emit(EVENT, action="end", job_id=h.job_id, state=state, why=why,
                       error=error)  # fmt: skip
            log.warning("LLM server: job %s is gone (%s): starting a new one", h.job_id, why)
        if self.restarts >= self.serve.max_restarts:
            raise LLMServerError(
                f"the LLM server job died {self.restarts + 1} times (last: {why}); "
                f"llm.serve.max_restarts={self.serve.max_restarts}. See its log under "
                f"{self.dir / 'jobs'}"
            )
        self.restarts += 1
        self._submit(why)

    def _endpoint_file(self, token: str) -> Path:
        return self.dir / f"endpoint-{token}.json"

    def _poll(self, h: Handle) -> None:
        for _ in self.executor.as_completed([h], timeout_s=0):
            pass

    def _log_hint(self) -> str:
        h = self.handle
        if h is None:
            return str(self.dir / "jobs")
        folder = Path(str(h.ref.get("dir", self.dir / "jobs")))
        logs = sorted(folder.glob(f"{h.job_id}*.out")) if folder.is_dir() else []
        return str(logs[0] if logs else folder)

    def _wait_ready(self) -> str:
        """Wait for the current job's endpoint file and a 200 from ``GET /v1/models``."""
        from slurm.service import endpoint_of

        t0 = time.monotonic()
        next_note = t0 + 15.0
        while True:
            h = self.handle
            assert h is not None
            self._poll(h)
            if h.outcome is not None:
                self._restart(f"job {h.job_id} ended before it was ready "
                              f"({h.outcome.state.value})")  # fmt: skip
                continue
            info = endpoint_of(self._endpoint_file(self.token))
            url = str(info.get("base_url") or "")
            if info.get("state") == "ready" and url and _models_answer(url):
                assert self._emit is not None
                self._emit(EVENT, action="ready", job_id=h.job_id, base_url=url,
                           node=str(info.get("node", "")), waited_s=time.monotonic() - t0)  # fmt: skip
                log.info("LLM server: job %s ready at %s (waited %.0f s)", h.job_id, url,
                         time.monotonic() - t0)  # fmt: skip
                return url
            now = time.monotonic()
            if now - t0 > self.serve.ready_timeout_s:
                raise LLMServerError(
                    f"the LLM server job {h.job_id} did not answer GET /v1/models within "
                    f"{self.serve.ready_timeout_s:g} s (llm.serve.ready_timeout_s); its log: "
                    f"{self._log_hint()}"
                )
            if now >= next_note:
                log.info("LLM server: waiting for job %s (%.0f s; endpoint file %s; log %s)",
                         h.job_id, now - t0, "written" if info else "not yet written",
                         self._log_hint())  # fmt: skip
                next_note = now + 15.0
            time.sleep(self.poll_s)

    def _dead_after_failure(self) -> bool:
        """After a failed connection: True when the job ended or its server stopped; False
        when the server accepts connections again (bounded by ``ready_timeout_s``)."""
        from slurm.service import endpoint_of

        h = self.handle
        if h is None:
            return True
        deadline = time.monotonic() + self.serve.ready_timeout_s
        while time.monotonic() < deadline:
            self._poll(h)
            if h.outcome is not None:
                return True
            if endpoint_of(self._endpoint_file(self.token)).get("state") == "stopped":
                return True
            if _connects(self.url):
                return False
            time.sleep(self.poll_s)
        return True

    def _start_heartbeat(self) -> None:
        beat = self.dir / HEARTBEAT
        beat.touch()
        every = max(1.0, self.serve.watch_interval_s / 2)

        def loop() -> None:
            while not self._beat_stop.wait(every):
                try:
                    beat.touch()
                except OSError:
                    pass

        self._beat_stop.clear()
        self._beat = threading.Thread(target=loop, name="llm-server-heartbeat", daemon=True)
        self._beat.start()


def _last_job(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last submitted server job, unless the journal says it ended or was cancelled."""
    last: dict[str, Any] | None = None
    for e in events:
        if e.get("ev") != EVENT:
            continue
        if e.get("action") == "submit":
            last = e
        elif e.get("action") in ("end", "cancel") and last and e.get("job_id") == last["job_id"]:
            last = None
    return last


def _models_answer(base_url: str, timeout_s: float = 5.0) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout_s) as r:
            return int(r.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _connects(base_url: str, timeout_s: float = 3.0) -> bool:
    parts = urlsplit(base_url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout_s):
            return True
    except OSError:
        return False


class ServedEndpoint(Protocol):
    """What the controller (a run service) and the client (its endpoint hook) need of a
    served model: :class:`LLMServer` (this run's job) or :class:`SharedServer`."""

    def start(self, emit: Emit) -> None: ...

    def stop(self, reason: str) -> None: ...

    def endpoint(self, failed: bool = False) -> str: ...


class SharedServer:
    """``llm.serve.reuse``: the server job of another run (``other``), followed through that
    run's journal and endpoint files. This run never submits, replaces or cancels it; when
    it is gone, this run waits (``ready_timeout_s``) for the other run to replace it, then
    fails with an error naming that run."""

    def __init__(self, other: str | Path, ready_timeout_s: float, poll_s: float = 1.0) -> None:
        self.other = Path(other)
        self.ready_timeout_s = ready_timeout_s
        self.poll_s = poll_s
        self.url = ""
        self._lock = threading.Lock()

    def start(self, emit: Emit) -> None:
        job, info = self._current()
        emit(EVENT, action="reuse", run=str(self.other), job_id=job,
             base_url=str(info.get("base_url") or ""), node=str(info.get("node") or ""))  # fmt: skip

    def stop(self, reason: str) -> None:
        """Nothing to stop: the server is the other run's."""

    def endpoint(self, failed: bool = False) -> str:
        with self._lock:
            if failed and self.url and _connects(self.url):
                return self.url
            if failed or not self.url:
                self.url = self._wait(self.url if failed else "")
            return self.url

    def _current(self) -> tuple[str, dict[str, object]]:
        from nas.controller.journal import read_events
        from slurm.service import endpoint_of

        last = _last_job(read_events(self.other / "journal.jsonl"))
        if last is None:
            return "", {}
        return str(last["job_id"]), endpoint_of(self.other / SERVE_DIR /
                                                f"endpoint-{last['token']}.json")  # fmt: skip

    def _wait(self, dead: str) -> str:
        t0 = time.monotonic()
        while True:
            job, info = self._current()
            url = str(info.get("base_url") or "")
            if info.get("state") == "ready" and url and url != dead and _models_answer(url):
                log.info("LLM server: using job %s of run %s at %s", job, self.other.name, url)
                return url
            if time.monotonic() - t0 > self.ready_timeout_s:
                raise LLMServerError(
                    f"llm.serve.reuse={self.other}: that run has no server answering "
                    f"(last job {job or 'none'}) after {self.ready_timeout_s:g} s; is it "
                    f"still running (`archlab status {self.other}`)?"
                )
            time.sleep(self.poll_s)
