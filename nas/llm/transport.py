"""What comes back over the wire, and how a failure is classified: the errors a call raises,
the kind of an SDK exception (retryable or not), how long to wait before a retry
(``Retry-After`` honoured), and the parse of a chat response body.

Split from :mod:`nas.llm.client` (issue 22); the client re-exports the public names.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from nas.llm.redact import redact

__all__ = [
    "MAX_BACKOFF_S",
    "RETRYABLE",
    "ConstraintRejected",
    "LLMError",
    "chat_body",
    "error_kind",
    "wait_s",
    "with_retries",
]

RETRYABLE = ("rate_limit", "server_error", "timeout", "connection", "http_408", "http_409")
MAX_BACKOFF_S = 120.0
MAX_MOVES = 3  # llm.serve: a call follows a replaced server at most this often


class ConstraintRejected(RuntimeError):
    """A constrained request the server turned down (HTTP 400/422/500): not a transport
    error, so it is not retried; the request goes again without the constraint."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class LLMError(RuntimeError):
    """A call that failed after retries. ``kind``: rate_limit, server_error, timeout,
    connection, bad_request, auth, not_found, bad_response, cassette_miss, http_<status>."""

    def __init__(self, kind: str, message: str, call_id: str = "") -> None:
        super().__init__(f"[{kind}] {redact(message)}")
        self.kind = kind
        self.call_id = call_id


def error_kind(err: BaseException) -> tuple[str, int]:
    import openai

    status = int(getattr(err, "status_code", 0) or 0)
    if isinstance(err, openai.APITimeoutError):
        return "timeout", 0
    if isinstance(err, openai.APIConnectionError):
        return "connection", 0
    if isinstance(err, openai.RateLimitError):
        return "rate_limit", status
    if isinstance(err, openai.InternalServerError) or status >= 500:
        return "server_error", status
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return "auth", status
    if isinstance(err, openai.NotFoundError):
        return "not_found", status
    if isinstance(err, openai.BadRequestError):
        return "bad_request", status
    if status:
        return f"http_{status}", status
    return "error", 0


def wait_s(err: BaseException, attempt: int) -> float:
    """Seconds before the next attempt: ``retry-after-ms`` / ``Retry-After`` when the server
    sent one (at most MAX_BACKOFF_S), else exponential backoff 0.5 s * 2^attempt with jitter."""
    headers: Any = getattr(getattr(err, "response", None), "headers", None) or {}
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return min(MAX_BACKOFF_S, float(ms) / 1000.0)
        sec = headers.get("retry-after")
        if sec is not None:
            return min(MAX_BACKOFF_S, float(sec))
    except (TypeError, ValueError):
        pass
    return min(8.0, 0.5 * 2.0**attempt) * (0.75 + 0.5 * random.random())


def chat_body(body: Any) -> tuple[str, str, int, int, str]:
    """(text, finish_reason, prompt_tokens, completion_tokens, model) of a chat response
    JSON; raises ``LLMError('bad_response')`` naming what is missing."""
    if not isinstance(body, dict):
        raise LLMError("bad_response", f"response is {type(body).__name__}, not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise LLMError(
            "bad_response",
            f"response has no 'choices' list (keys: {sorted(body)}); is base_url an "
            "OpenAI-compatible /v1 endpoint?",
        )
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message")
    if not isinstance(message, dict):
        raise LLMError("bad_response", "choices[0] has no 'message' object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise LLMError("bad_response", f"choices[0].message.content is {type(content).__name__}")
    raw_usage = body.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    return (
        content or "",
        str(first.get("finish_reason") or ""),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        str(body.get("model") or ""),
    )


def with_retries(
    send: Callable[[], Any],
    retried: Callable[[dict[str, Any]], None],
    tries: dict[str, int],
    max_retries: int,
    redact_text: Callable[[str], str],
    sleep: Callable[[float], None],
    moved: Callable[[], bool] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """``send()`` up to ``1 + max_retries`` times; each failed attempt that is retried is
    reported to ``retried`` (one row) after its backoff wait (``sleep``), and counted in
    ``tries["n"]``. Returns the result and the failed attempts; raises the last error (an
    :class:`LLMError` or :class:`ConstraintRejected` at once). ``moved`` (``llm.serve``): asked
    after a failed connection whether the endpoint moved (a replaced server job); a move is
    retried at once, up to :data:`MAX_MOVES` times per call, whatever ``max_retries``."""
    attempts: list[dict[str, Any]] = []
    while True:
        t = time.perf_counter()
        try:
            return send(), attempts
        except (LLMError, ConstraintRejected):
            raise
        except Exception as err:
            kind, status = error_kind(err)
            moves = sum(1 for a in attempts if a.get("moved"))
            went = kind == "connection" and moves < MAX_MOVES and moved is not None and moved()
            if not went and (kind not in RETRYABLE or len(attempts) >= max_retries):
                raise
            wait = 0.0 if went else wait_s(err, len(attempts))
            a = {"kind": kind, "status": status, "message": redact_text(str(err))[:500],
                 "latency_s": time.perf_counter() - t, "wait_s": wait}  # fmt: skip
            if went:
                a["moved"] = True
            attempts.append(a)
            retried(a)
            tries["n"] += 1
            sleep(wait)
