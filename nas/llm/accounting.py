"""Accounting of LLM calls: the ``llm_calls`` row of a request, the rows one proposal step
made (:class:`Attribution`, see :meth:`nas.llm.client.LLMClient.scope`) and what a chat call
returns (:class:`ChatReply`).

Split from :mod:`nas.llm.client` (issue 22); the client re-exports the public names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attribution", "ChatReply", "call_row"]


@dataclass
class Attribution:
    """The LLM requests of one step (see :meth:`LLMClient.scope`): set ``candidate_id`` once
    the step knows the candidate they served; the rows are written when the scope closes.
    ``tokens_in``/``tokens_out``/``cost_usd`` sum every request of the step (retried
    attempts and embeddings included) — what the candidate's trial record should carry."""

    step: str
    candidate_id: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens_in(self) -> int:
        return sum(int(r["tokens_in"] or 0) for r in self.rows)

    @property
    def tokens_out(self) -> int:
        return sum(int(r["tokens_out"] or 0) for r in self.rows)

    @property
    def cost_usd(self) -> float:
        return sum(float(r["cost_usd"] or 0.0) for r in self.rows)

    @property
    def fallbacks(self) -> list[str]:
        return [str(r["fallback"]) for r in self.rows if r.get("fallback")]


@dataclass(frozen=True)
class ChatReply:
    """One successful chat call. ``text`` may be empty (status ``empty``): the parser of the
    prompt then reports it as a parse error."""

    text: str
    call_id: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float  # wall seconds including the retries and backoff
    cache_hit: bool  # served from a replay cassette
    finish_reason: str
    retries: int  # HTTP retries this client made (429/5xx/timeouts), each one its own row
    constraint: str = ""  # Constraint.name the caller asked for ("" = none)
    obeyed: bool | None = None  # whether the text is a sentence of it (None: no constraint)
    constraint_mode: str = ""  # what was sent for it (gbnf, json_schema, ..., "none: <why>")

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def call_row(
    call_id: str,
    agent: str,
    prompt_id: str,
    candidate_id: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    cost: float,
    latency: float,
    cache_hit: bool,
    status: str,
    error: str,
    attempt: int = 1,
    retried: bool = False,
) -> dict[str, Any]:
    """The ``llm_calls`` row of one HTTP request (``step``/``fallback`` are set by the
    attribution scope, the constraint columns by the client, the memo columns by
    :class:`nas.llm.memo.CallMemo`)."""
    return {
        "call_id": call_id,
        "agent": agent,
        "model": model,
        "prompt_id": prompt_id,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": cost,
        "latency_s": latency,
        "cache_hit": cache_hit,
        "status": status,
        "error": error,
        "candidate_id": candidate_id or None,
        "step": None,
        "attempt": attempt,
        "retried": retried,
        "fallback": None,
        "created_at": time.time(),
        "constraint_name": None,  # the Constraint.name the caller asked for (SQL-safe name)
        "constraint_mode": None,  # what was sent (gbnf, json_object, ..., "none: <why>")
        "obeyed": None,  # whether the answer is a sentence of the constraint
    }
