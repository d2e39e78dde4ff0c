"""Fitting prompts into a model's context window by rule, never by cutting text mid-block.

A local model has a small window (8K tokens for the project's own Qwen2.5-Coder server); a
prompt plus the answer cap must fit in it. The NADER prompts are rendered at successive
*reduction levels* until the estimate fits: drop the experience tips first, then the example
blocks, then the op catalogue's explanations (the signatures stay). A repair conversation
that outgrows the window drops its oldest failed turns (answer + repair message pairs), keeping
the task and the latest answer with its errors. Blocks are always sent whole.

The estimate is conservative: :data:`CHARS_PER_TOKEN` characters per token (measured with
the Qwen2.5 tokenizer on the v2 modifier prompts: 3.35 chars/token on ``modifier``, 2.83 on
``modifier_derive``, whose example blocks are digit-heavy).

    >>> estimate_tokens([{"role": "user", "content": "x" * 250}])
    104
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "CHARS_PER_TOKEN",
    "compact_definition",
    "estimate_tokens",
    "fits",
    "trim_conversation",
]

CHARS_PER_TOKEN = 2.5
_PER_MESSAGE = 4  # chat-template tokens around each message

Messages = Sequence[dict[str, str]]


def estimate_tokens(msgs: Messages) -> int:
    """An upper estimate of the prompt tokens of ``msgs``."""
    return sum(int(len(m["content"]) / CHARS_PER_TOKEN) + _PER_MESSAGE for m in msgs)


def fits(msgs: Messages, context_tokens: int | None, answer_tokens: int | None) -> bool:
    """True when the prompt and the answer cap fit (always, with no window given)."""
    if context_tokens is None:
        return True
    return estimate_tokens(msgs) + (answer_tokens or 1024) <= context_tokens


_OP_LINE = re.compile(r"^(- [^\n]*?\[\d\+? inputs?\])[^\n]*$", re.M)


def compact_definition(definition: str) -> str:
    """The block definition with each op reduced to its signature and input count (the
    format rules and symbols stay): the last reduction before a prompt does not fit."""
    head, sep, ops = definition.partition("Operations (")
    if not sep:
        return definition
    ops = _OP_LINE.sub(r"\1", ops).replace(
        "signature [inputs]: meaning and shape rule", "signature [inputs]"
    )
    return head + sep + ops


def trim_conversation(
    msgs: Sequence[dict[str, str]], context_tokens: int | None, answer_tokens: int | None
) -> list[dict[str, str]]:
    """Drop the oldest (answer, repair) pairs after the first user message until the
    conversation fits; the last pair always stays (the model must see its answer and the
    errors). Returns the messages unchanged when they fit or nothing can be dropped."""
    out = list(msgs)
    first_user = next((i for i, m in enumerate(out) if m["role"] == "user"), 0)
    while not fits(out, context_tokens, answer_tokens) and len(out) - (first_user + 1) > 2:
        del out[first_user + 1 : first_user + 3]
    return out
