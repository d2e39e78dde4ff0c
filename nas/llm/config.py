"""Section ``llm``: the run's LLM client settings (declared once; the launcher's schema
composes it, :meth:`nas.llm.client.LLMClient.from_config` and
:func:`nas.llm.run_client.run_llm_client` read it)."""

from __future__ import annotations

from dataclasses import dataclass

from nas.config_checks import at_least, one_of, positive
from nas.llm.structured import STRUCTURED_MODES

__all__ = ["MODES", "LLMConfig"]

MODES = ("live", "record", "replay")  # llm.mode: the client's modes


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
    max_concurrency: int = 4  # calls in flight at once
    budget_tokens: int = 0  # hard cap on tokens (0 = none); the run stops cleanly at it
    budget_usd: float = 0.0  # hard cap on dollars (0 = none)
    embed_model: str = ""  # embeddings: "" = hashing embedder; "local" = bundled MiniLM; or a model
    # constrained answers (nas.llm.structured): auto (probe the server once, recorded) |
    # grammar (GBNF) | json_schema | off (every answer form sent unconstrained)
    structured: str = "auto"

    def validate(self, where: str = "llm.") -> None:
        one_of(where, "mode", self.mode, MODES)
        one_of(where, "structured", self.structured, STRUCTURED_MODES)
        at_least(where, "temperature", self.temperature, 0)
        positive(where, "timeout_s", self.timeout_s, "seconds")
        at_least(where, "max_tokens", self.max_tokens, 0, "0 = none")
        at_least(where, "context_tokens", self.context_tokens, 0, "0 = no fitting")
        at_least(where, "max_retries", self.max_retries, 0)
        at_least(where, "max_concurrency", self.max_concurrency, 1)
        at_least(where, "budget_tokens", self.budget_tokens, 0, "0 = none")
        at_least(where, "budget_usd", self.budget_usd, 0, "0 = none")

    @property
    def offline(self) -> bool:
        """No endpoint: empty ``base_url`` and not a replay of a cassette."""
        return not self.base_url and not (self.mode == "replay" and self.cassette)
