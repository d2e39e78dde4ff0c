"""The LLM seam of LAPT and LLMatic: ``complete(prompt, temperature) -> str``.

LAPT's :class:`~nas.strategies.principles.LLMPrincipleLearner` and LLMatic's
:class:`~nas.strategies.operators.LLMOperators` take an injected callable
``complete(prompt, temperature) -> str``. Tests pass a lambda; a run passes
:class:`LLMCompletion`, which wraps a :class:`nas.llm.LLMClient` so that every call is one
``llm_calls`` row (agent ``"lapt"``/``"llmatic"``, prompt id ``<template>@<version>``).

Prompts are rendered from versioned templates (``nas/prompts/lapt_*.v1.txt``,
``llmatic_*.v1.txt``) by :func:`render_prompt` into a :class:`PromptText`: a ``str`` (system
and user text, so a plain callable sees the whole prompt) that also carries the chat
``messages`` and the template ``ref`` for the adapter.

Failures a ``complete`` may raise: :class:`CompletionError` (the call failed after the
client's retries, or a replay cassette missed) — learners and operators fall back to their
offline counterpart and record it; :class:`CompletionBudgetExceeded` (the LLM budget is
spent) — additionally, the strategy stops proposing, so the run ends cleanly.

    >>> p = render_prompt("llmatic_mutate", space="- a: x, y", network="a: x",
    ...                   instruction="Change one layer.", rules="Rules: write a.")
    >>> p.ref, p.messages[0]["role"], "Change one layer." in p
    ('llmatic_mutate@2', 'system', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nas.grammar import Constraint

__all__ = [
    "Complete",
    "CompletionBudgetExceeded",
    "CompletionError",
    "LLMCompletion",
    "PromptText",
    "render_prompt",
]

Complete = Callable[[str, float], str]


class CompletionError(RuntimeError):
    """An LLM call failed (after the client's retries); ``kind`` is the client's status."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class CompletionBudgetExceeded(CompletionError):
    """The LLM budget is spent: no call was made; the strategy stops proposing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "budget")


class PromptText(str):
    """A rendered prompt: the text (all messages, blank-line separated) as a ``str``, plus
    ``messages`` (chat messages to send), ``ref`` (``id@version`` of the template) and
    ``constraint`` (the answer form its parser reads, sent to servers that take one: see
    :mod:`nas.llm.structured`; None = none)."""

    messages: tuple[dict[str, str], ...]
    ref: str
    constraint: Constraint | None

    def __new__(
        cls,
        text: str = "",
        messages: Sequence[Mapping[str, str]] = (),
        ref: str = "",
        constraint: Constraint | None = None,
    ) -> PromptText:
        obj = super().__new__(cls, text)
        obj.messages = tuple({"role": m["role"], "content": m["content"]} for m in messages)
        obj.ref = ref
        obj.constraint = constraint
        return obj

    def constrained(self, constraint: Constraint) -> PromptText:
        """The same prompt whose answer is held to ``constraint``."""
        return PromptText(str(self), self.messages, self.ref, constraint)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PromptText, (str(self), self.messages, self.ref, self.constraint))


def render_prompt(template_id: str, **slots: object) -> PromptText:
    """Render the bundled template ``template_id`` (newest version) with ``slots``."""
    from nas.prompts.templates import load_prompt

    t = load_prompt(template_id)
    messages = t.render(**slots)
    return PromptText("\n\n".join(m["content"] for m in messages), messages, t.ref)


class LLMCompletion:
    """``complete(prompt, temperature)`` over an :class:`nas.llm.LLMClient`.

    Each call is ``client.chat(messages, agent=agent, prompt_id=prompt.ref,
    temperature=temperature, constraint=prompt.constraint)`` — the client writes the ``llm_calls`` row (tokens, cost,
    latency, status) through its sink, for failures too. A plain ``str`` prompt is sent as
    one user message with prompt id ``"<agent>@inline"``. ``calls``/``failures`` count this
    adapter's calls; ``cost_usd`` is the client budget's total (including calls charged
    before a resume), which the controller's ``budget.llm_usd`` reads.

    Not picklable (an HTTP client): a controller snapshot of a strategy holding one falls
    back to replaying the journal.
    """

    def __init__(self, client: Any, agent: str, max_tokens: int | None = None) -> None:
        self.client = client
        self.agent = agent
        self.max_tokens = max_tokens
        self.calls = 0
        self.failures = 0

    def __call__(self, prompt: str, temperature: float) -> str:
        from nas.llm.budget import BudgetExceeded
        from nas.llm.cassette import CassetteMiss
        from nas.llm.client import LLMError

        messages = list(getattr(prompt, "messages", ()) or [])
        if not messages:
            messages = [{"role": "user", "content": str(prompt)}]
        ref = str(getattr(prompt, "ref", "") or f"{self.agent}@inline")
        self.calls += 1
        try:
            reply = self.client.chat(
                messages,
                agent=self.agent,
                prompt_id=ref,
                temperature=float(temperature),
                max_tokens=self.max_tokens,
                constraint=prompt.constraint if isinstance(prompt, PromptText) else None,
            )
        except BudgetExceeded as e:
            self.failures += 1
            raise CompletionBudgetExceeded(str(e)) from e
        except LLMError as e:
            self.failures += 1
            raise CompletionError(f"LLM call {ref} failed: {e}", e.kind) from e
        except CassetteMiss as e:
            self.failures += 1
            raise CompletionError(f"LLM call {ref}: {e}", "cassette_miss") from e
        return str(reply.text)

    @property
    def cost_usd(self) -> float:
        usage = getattr(self.client, "usage", None)
        return float(getattr(usage, "cost_usd", 0.0) or 0.0)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("LLMCompletion holds an HTTP client and cannot be pickled")
