"""Whether the LLM endpoint still answers: consecutive calls that got no answer stop the run.

A call that failed because the server did not answer (:data:`UNREACHABLE` kinds: the
connection failed or timed out, or the endpoint refused the key or does not know the model,
which no retry fixes) is not an answer of the model: a strategy falls back once as before
(recorded), but ``llm.unreachable_stop_after`` such calls in a row raise
:class:`LLMUnreachable` from the call that made the count. Nothing in the agents or the
strategies catches it: the controller stops the run with the stop reason ``llm_unreachable``
(docs/controller.md), and ``archlab resume`` makes the cut-short step again. Any answer (an
HTTP error the server sent counts too) starts the count again. Once raised, every later call
raises it at once, without a request (the run is stopping).

    >>> r = Reach(2)
    >>> r.failed("connection", "Connection error.", "http://x/v1")
    >>> r.failed("connection", "Connection error.", "http://x/v1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nas.llm.reach.LLMUnreachable: the LLM endpoint http://x/v1 did not answer ...
"""

from __future__ import annotations

import threading

__all__ = ["UNREACHABLE", "LLMUnreachable", "Reach"]

# LLMError kinds (nas.llm.transport) where the endpoint gave no answer a retry could change
UNREACHABLE = ("connection", "timeout", "auth", "not_found")


class LLMUnreachable(RuntimeError):
    """``calls`` consecutive LLM calls got no answer from ``endpoint`` (last: ``kind``): the
    run must stop (resumable), not record the failures as designs."""

    def __init__(self, endpoint: str, kind: str, message: str, calls: int) -> None:
        self.endpoint = endpoint
        self.kind = kind
        self.calls = calls
        super().__init__(
            f"the LLM endpoint {endpoint or '(llm.serve server)'} did not answer ({kind}: "
            f"{message[:200]}) on {calls} consecutive call(s) (llm.unreachable_stop_after="
            f"{calls})"
        )


class Reach:
    """The count of consecutive unanswered calls of a run's client (thread-safe).
    ``stop_after``: how many raise :class:`LLMUnreachable` (0 = never)."""

    def __init__(self, stop_after: int = 0) -> None:
        if stop_after < 0:
            raise ValueError("llm.unreachable_stop_after must be >= 0 (0 = never stop)")
        self.stop_after = int(stop_after)
        self.consecutive = 0
        self.stopped: LLMUnreachable | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Before a call: raise the :class:`LLMUnreachable` already raised, if any."""
        if self.stopped is not None:
            raise self.stopped

    def answered(self) -> None:
        with self._lock:
            self.consecutive = 0

    def failed(self, kind: str, message: str, endpoint: str) -> None:
        """A call failed with ``kind``: count it when the endpoint gave no answer, and raise
        :class:`LLMUnreachable` at the ``stop_after``-th in a row."""
        with self._lock:
            if kind not in UNREACHABLE:
                self.consecutive = 0
                return
            self.consecutive += 1
            if self.stop_after and self.consecutive >= self.stop_after:
                self.stopped = LLMUnreachable(endpoint, kind, message, self.consecutive)
        self.check()
