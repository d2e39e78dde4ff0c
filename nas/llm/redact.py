"""Secrets out of error text: what an endpoint echoes back (some proxies and self-hosted
servers put the request's ``Authorization`` header in their error body) never reaches a
row, a memo line, a journal event or a log.

:func:`redact` replaces the run's own key wherever it appears, and anything shaped like a
key: ``sk-...`` tokens, ``Bearer ...`` credentials and ``api_key=...``/``"authorization":
"..."`` values.

    >>> redact('401: invalid header "Authorization: Bearer sk-abcdef1234567890"')
    '401: invalid header "Authorization: Bearer [redacted]"'
    >>> redact("key hunter2hunter2 refused", ["hunter2hunter2"])
    'key [redacted] refused'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "redact"]

REDACTED = "[redacted]"

# shortest known secret replaced verbatim (shorter strings would blank ordinary words)
_MIN_SECRET = 6

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]{6,}"), rf"\1\2{REDACTED}"),
    (re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_-]{6,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|x-api-key|authorization|access[_-]?token|secret[_-]?key)"
            r"([\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b)[^\s\"',;}]{6,}"
        ),
        rf"\1\2{REDACTED}",
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` (6+ characters) and every key-shaped token replaced
    by ``[redacted]``."""
    for s in secrets:
        if s and len(s) >= _MIN_SECRET:
            text = text.replace(s, REDACTED)
    for pattern, repl in _SHAPES:
        text = pattern.sub(repl, text)
    return text
