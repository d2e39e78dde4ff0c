"""Section ``llm``: the run's LLM client settings (declared once; the launcher's schema
composes it, :meth:`nas.llm.client.LLMClient.from_config` and
:func:`nas.llm.run_client.run_llm_client` read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Formatter

from nas.config_checks import at_least, between, fail, one_of, positive
from nas.llm.prices import Price, price_for
from nas.llm.structured import STRUCTURED_MODES
from slurm.site import SiteParams

__all__ = ["BINDS", "COMMAND_FIELDS", "MODES", "SERVE_KINDS", "LLMConfig", "ServeConfig"]

MODES = ("live", "record", "replay")  # llm.mode: the client's modes
SERVE_KINDS = ("", "llama_cpp", "vllm", "command")  # llm.serve.kind ("" = off)
BINDS = ("node", "loopback")  # llm.serve.bind
# the fields llm.serve.command may name; the server job fills them in
COMMAND_FIELDS = ("host", "port", "model", "name", "threads", "python")


@dataclass(frozen=True)
class ServeConfig:
    """Section ``llm.serve``: the LLM server the run starts as a Slurm job of its own
    (:mod:`nas.llm.serve`; docs/llm-serve.md). Off by default (``kind=""``: the run uses
    ``llm.base_url``). The server answers to ``llm.model``."""

    kind: str = ""  # "" = off | llama_cpp (the project's own model) | vllm | command
    # llama_cpp: a GGUF path ("" = the model scripts/llm-up.sh installs under llama_dir);
    # vllm: a Hugging Face name or a local path; command: what {model} becomes
    model: str = ""
    command: str = ""  # kind=command: a shell command serving /v1 on {host}:{port}
    # llama_cpp: scripts/llm-up.sh's directory (venv/, model/); "" = <checkout>/.work/llm
    llama_dir: str = ""
    port: int = 0  # 0 = a free port the server job picks on its node
    # node: listen on the node's hostname (the controller may run on another node);
    # loopback: 127.0.0.1 (only when the controller runs on the same node)
    bind: str = "node"
    threads: int = 1  # CPU threads of the server (llama_cpp --n_threads)
    context_tokens: int = 8192  # served context (llama_cpp --n_ctx, vllm --max-model-len)
    # section llm.serve.site: the server job's placement (its GPUs: gres or gpus_per_task,
    # = vllm --tensor-parallel-size); "" partition/account = executor.site's, and
    # executor.site's setup lines and environment run first
    site: SiteParams = field(default_factory=lambda: SiteParams(
        time="24:00:00", mem="8G", cpus_per_task=1))  # fmt: skip
    ready_timeout_s: float = 900.0  # how long the controller waits for GET /v1/models
    watch_interval_s: float = 10.0  # the server job checks its controller job this often
    heartbeat_stale_s: float = 45.0  # no controller job id: stop when its heartbeat is older
    max_restarts: int = 3  # new server jobs per controller start after one died; then it stops
    # a run directory whose llm.serve server this run uses instead of starting one (that run
    # starts, replaces and stops it; this one follows it); "" = none
    reuse: str = ""

    @property
    def enabled(self) -> bool:
        """A served model: started by this run (``kind``) or by another (``reuse``)."""
        return bool(self.kind or self.reuse)

    def validate(self, where: str = "llm.serve.") -> None:
        one_of(where, "kind", self.kind, SERVE_KINDS)
        if self.reuse and self.kind:
            fail(where + "reuse", self.reuse, f"uses another run's server, but {where}kind="
                 f"{self.kind} starts one of this run's", f"clear {where}kind or {where}reuse")  # fmt: skip
        if not self.kind:
            positive(where, "ready_timeout_s", self.ready_timeout_s, "seconds")
            return
        one_of(where, "bind", self.bind, BINDS)
        if self.port and not 1024 <= self.port <= 65535:
            between(where, "port", self.port, 1024, 65535)
        at_least(where, "threads", self.threads, 1)
        at_least(where, "context_tokens", self.context_tokens, 0)
        positive(where, "ready_timeout_s", self.ready_timeout_s, "seconds")
        positive(where, "watch_interval_s", self.watch_interval_s, "seconds")
        if self.heartbeat_stale_s < 3 * self.watch_interval_s:
            fail(where + "heartbeat_stale_s", self.heartbeat_stale_s,
                 f"must be >= 3 x {where}watch_interval_s ({3 * self.watch_interval_s:g})",
                 f"e.g. {where}heartbeat_stale_s={3 * self.watch_interval_s:g}")  # fmt: skip
        at_least(where, "max_restarts", self.max_restarts, 0)
        self.site.validate(where + "site.")
        if self.kind == "vllm" and not self.model:
            fail(where + "model", "", "kind=vllm serves a model: name it",
                 f"e.g. {where}model=Qwen/Qwen2.5-7B-Instruct (or a local path)")  # fmt: skip
        if self.kind == "command":
            self._check_command(where)
        elif self.command:
            fail(where + "command", self.command[:60], f"is read only with {where}kind=command",
                 f"clear it, or set {where}kind=command")  # fmt: skip

    def _check_command(self, where: str) -> None:
        key = where + "command"
        if not self.command.strip():
            fail(key, "", "kind=command runs a command serving /v1 on {host}:{port}",
                 f"e.g. {key}='python -m my_server --host {{host}} --port {{port}}'")  # fmt: skip
        try:
            names = {f for _, f, _, _ in Formatter().parse(self.command) if f is not None}
        except ValueError as e:
            fail(key, self.command[:60], f"is not a template ({e})",
                 "write literal braces as {{ and }}")  # fmt: skip
        unknown = sorted(n for n in names if n not in COMMAND_FIELDS)
        if unknown:
            fail(key, self.command[:60], f"names unknown field(s) {', '.join(unknown)}",
                 f"use only {{{'}, {'.join(COMMAND_FIELDS)}}}")  # fmt: skip
        if "port" not in names:
            fail(key, self.command[:60], "must name {port}: the server job picks the port "
                 "and must know the server listens there", f"add --port {{port}} to {key}")  # fmt: skip
        if len(self.command.splitlines()) > 1:
            fail(key, self.command[:60], "must be one line", "join the lines with && or ;")


@dataclass(frozen=True)
class LLMConfig:
    """Section ``llm``."""

    base_url: str = ""  # OpenAI-compatible endpoint; "" = offline rule-based designer
    model: str = "gpt-4o-mini"  # model name sent to the endpoint
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key (never stored)
    mode: str = "live"  # live | record | replay
    cassette: str = ""  # record/replay cassette file
    temperature: float = 0.7  # sampling temperature (really sent)
    seed: int | None = None  # sampling seed sent to the endpoint, when it supports one
    timeout_s: float = 60.0  # per-request timeout
    max_tokens: int = 0  # answer cap per call (0 = none); a local CPU model needs one
    context_tokens: int = 0  # the model's context window; prompts are fitted by rule (0 = none)
    max_retries: int = 4  # retries on 429/5xx/timeouts, honouring Retry-After
    # this many LLM calls in a row that the endpoint did not answer (connection failed, timed
    # out after the retries, key refused, model unknown: nas.llm.reach) stop the run as
    # llm_unreachable, resumable with `archlab resume` (0 = never stop: each call falls back)
    unreachable_stop_after: int = 3
    max_concurrency: int = 4  # calls in flight at once
    budget_tokens: int = 0  # hard cap on tokens (0 = none); the run stops cleanly at it
    budget_usd: float = 0.0  # hard cap on dollars (0 = none)
    embed_model: str = ""  # embeddings: "" = hashing embedder; "local" = bundled MiniLM; or a model
    # constrained answers (nas.llm.structured): auto (probe the server once, recorded) |
    # grammar (GBNF) | json_schema | off (every answer form sent unconstrained)
    structured: str = "auto"
    serve: ServeConfig = field(default_factory=ServeConfig)  # section llm.serve

    def validate(self, where: str = "llm.") -> None:
        one_of(where, "mode", self.mode, MODES)
        one_of(where, "structured", self.structured, STRUCTURED_MODES)
        at_least(where, "temperature", self.temperature, 0)
        positive(where, "timeout_s", self.timeout_s, "seconds")
        at_least(where, "max_tokens", self.max_tokens, 0, "0 = none")
        at_least(where, "context_tokens", self.context_tokens, 0, "0 = no fitting")
        at_least(where, "max_retries", self.max_retries, 0)
        at_least(where, "unreachable_stop_after", self.unreachable_stop_after, 0, "0 = never")
        at_least(where, "max_concurrency", self.max_concurrency, 1)
        at_least(where, "budget_tokens", self.budget_tokens, 0, "0 = none")
        at_least(where, "budget_usd", self.budget_usd, 0, "0 = none")
        self.serve.validate(where + "serve.")
        if self.serve.enabled and self.base_url:
            fail(where + "base_url", self.base_url, f"is set together with {where}serve.kind="
                 f"{self.serve.kind}: the server job's endpoint becomes the base URL",
                 f"clear {where}base_url, or {where}serve.kind")  # fmt: skip
        if self.serve.enabled and price_for(self.model) != Price(0.0, 0.0):
            fail(where + "model", self.model, f"names a hosted model with a price, but "
                 f"{where}serve.kind={self.serve.kind} serves its own under this name (its "
                 "calls would be charged at that price)",
                 f"name the served model, e.g. {where}model=qwen2.5-coder-1.5b-instruct-q4_k_m")  # fmt: skip
        if self.serve.enabled and self.mode == "replay":
            fail(where + "serve.kind", self.serve.kind, f"{where}mode=replay sends no request",
                 f"clear {where}serve.kind, or use {where}mode=live")  # fmt: skip

    @property
    def offline(self) -> bool:
        """No endpoint: empty ``base_url``, no ``serve.kind`` and not a replay of a cassette."""
        if self.serve.enabled:
            return False
        return not self.base_url and not (self.mode == "replay" and self.cassette)
