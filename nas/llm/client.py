"""``LLMClient``: chat and embeddings on any OpenAI-compatible endpoint, with accounting.

Built on the official ``openai`` package (3.x, on ``httpx2``): ``base_url`` selects OpenAI,
vLLM (``http://host:8000/v1``), Ollama (``http://host:11434/v1``) or a llama.cpp server.
What it adds around the SDK:

* explicit timeouts (connect 5 s, read ``timeout_s``) and retries (``max_retries``) with
  exponential backoff that honours ``Retry-After``/``retry-after-ms`` on 408/409/429/5xx,
  timeouts and connection errors — done by this client (the SDK's hidden retry loop is off:
  ``max_retries=0``), so **every HTTP request is one ``llm_calls`` row** (``attempt``
  1, 2, ...; ``retried`` on the attempts that were followed by another);
* a concurrency cap (a semaphore: at most ``max_concurrency`` calls in flight);
* per-call accounting — tokens in/out as the endpoint reports them, dollars from the price
  table, latency, status — as a row of the store's ``llm_calls`` table (``sink``), for
  successes *and* failures;
* a hard budget (:class:`~nas.llm.budget.LLMBudget`): :class:`BudgetExceeded` is raised
  *before* a call once the cap is spent, so the caller stops cleanly;
* three modes: ``live``; ``record`` (live, and every final response is written to the
  cassette with the failed attempts before it); ``replay`` (responses come from the cassette
  only — the recorded failed attempts are replayed as rows, without waiting — a miss raises
  :class:`~nas.llm.cassette.CassetteMiss`; no network);
* attribution (:meth:`LLMClient.scope`): the rows of one proposal step are held until the
  step knows which candidate it produced, then written naming it (``candidate_id``) and the
  step (``step``); :meth:`LLMClient.mark_fallback` notes on a call's row that its answer was
  unusable and what was done instead (``fallback``).

The parts live beside it: :mod:`nas.llm.transport` (errors, their kinds, retry waits, the
parse of a response body), :mod:`nas.llm.accounting` (the ``llm_calls`` row, attribution,
:class:`ChatReply`), :mod:`nas.llm.memo` (the run's answers kept in the store),
:mod:`nas.llm.structured` (constrained decoding) and :mod:`nas.llm.cassette`.

Temperature and seed are really sent (``seed=None`` is omitted: not every server has it).

Example (against a local server; see :mod:`tests.support.scripted_openai_server`)::

    >>> llm = LLMClient(model="gpt-4o-mini", base_url="http://127.0.0.1:8000/v1",
    ...                 api_key="sk-local", temperature=0.2, seed=7)      # doctest: +SKIP
    >>> reply = llm.chat([{"role": "user", "content": "hi"}], agent="modifier")  # doctest: +SKIP
    >>> reply.text, reply.tokens_in, reply.cost_usd                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from nas.grammar import Constraint
from nas.llm.accounting import Attribution, ChatReply, call_row
from nas.llm.budget import BudgetExceeded, LLMBudget, Usage
from nas.llm.cassette import Cassette, CassetteMiss, request_key
from nas.llm.config import MODES, LLMConfig
from nas.llm.memo import CallMemo, Known
from nas.llm.prices import Price, cost_usd
from nas.llm.reach import Reach
from nas.llm.redact import redact
from nas.llm.structured import (
    REJECT_STATUSES,
    STRUCTURED_MODES,
    Sent,
    ServerProfile,
    form_of,
    none,
    obeys,
    send_for,
)
from nas.llm.transport import (
    ConstraintRejected,
    LLMError,
    chat_body,
    error_kind,
    with_retries,
)

__all__ = [
    "MODES",
    "Attribution",
    "ChatReply",
    "ConstraintRejected",
    "LLMClient",
    "LLMError",
    "Message",
]

log = logging.getLogger(__name__)

# INFO: one line when a chat call starts and one per finished call (progress of slow models)
_log = logging.getLogger(__name__)
Message = Mapping[str, str]
RowSink = Callable[[list[dict[str, Any]]], Any]


def _obedience(constraint: Constraint | None, text: str, sent: Sent) -> tuple[str, bool | None]:
    """``(name, obeyed)`` of an answer under ``constraint`` (checked in the form sent), since
    a server may accept a constraint and not apply it."""
    if constraint is None:
        return "", None
    return constraint.name, obeys(constraint, text, sent)


def _constrained(
    row: dict[str, Any], constraint: Constraint | None, sent: Sent, obeyed: bool | None
) -> None:
    """Note on a call's row which constraint it was asked for, what was sent, and whether
    the answer obeyed it."""
    if constraint is not None:
        row.update(constraint_name=constraint.name, constraint_mode=sent.mode, obeyed=obeyed)


class LLMClient:
    """Chat/embeddings with retries, timeouts, concurrency cap, accounting, budget, cassettes.

    ``sink(rows)`` receives ``llm_calls`` rows (use :meth:`to_store`). ``api_key`` defaults
    to ``$OPENAI_API_KEY`` (a placeholder is sent to servers that need none). ``base_url``
    defaults to ``$OPENAI_BASE_URL`` then OpenAI.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: str = "live",
        cassette: str | os.PathLike[str] | Cassette | None = None,
        temperature: float = 0.7,
        seed: int | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 4,
        max_concurrency: int = 4,
        budget: LLMBudget | None = None,
        sink: RowSink | None = None,
        prices: Mapping[str, Price] | None = None,
        embed_model: str = "text-embedding-3-small",
        max_tokens: int | None = None,
        structured: str = "auto",
        reach: Reach | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"llm mode {mode!r} is not one of {', '.join(MODES)}")
        if mode in ("record", "replay") and cassette is None:
            raise ValueError(f"llm mode {mode!r} needs a cassette file (llm.cassette=PATH)")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if structured not in STRUCTURED_MODES:
            raise ValueError(f"llm.structured={structured!r}: one of {', '.join(STRUCTURED_MODES)}")
        self.model = model
        self.mode = mode
        self.temperature = float(temperature)
        self.seed = seed
        self.timeout_s = float(timeout_s)
        self.max_tokens = max_tokens  # default answer cap per call (slow local models); None = none
        self.max_retries = int(max_retries)
        self.budget = budget or LLMBudget()
        self.reach = reach or Reach()  # consecutive unanswered calls stop the run (nas.llm.reach)
        self.sink = sink
        self.prices = prices
        self.embed_model = embed_model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or ""
        self.cassette: Cassette | None = (
            cassette if isinstance(cassette, Cassette) or cassette is None else Cassette(cassette)
        )
        self._sem = threading.BoundedSemaphore(max_concurrency)
        self._in_flight = 0
        self.max_in_flight_seen = 0  # observability: the cap is really enforced
        self._lock = threading.Lock()
        self._sdk: Any = None
        self._api_key = api_key
        self._connect_timeout_s = float(connect_timeout_s)
        self.memo: CallMemo | None = None  # a run's memo of answered calls (nas.llm.memo)
        self._local = threading.local()  # the open attribution scopes of this thread
        self.unscoped_fallbacks: list[tuple[str, str]] = []  # marked after the row was written
        self.sleep: Callable[[float], None] = time.sleep  # backoff waits (tests may shorten)
        # constrained decoding (nas.llm.structured): the endpoint's profile, probed on the
        # first constrained call; on_probe(profile) is told once (a run writes an event)
        self.structured = ServerProfile(structured)
        self._profiled = structured == "off"
        self._probe_lock = threading.Lock()
        self.on_probe: Callable[[ServerProfile], None] | None = None
        # llm.serve (nas.llm.serve.LLMServer.endpoint): the base URL, resolved when the SDK
        # client is made and after a request that could not connect (True: a server job
        # that died is replaced; a changed URL is retried once more)
        self.endpoint: Callable[[bool], str] | None = None

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_config(
        cls, cfg: LLMConfig, *, sink: RowSink | None = None, budget: LLMBudget | None = None
    ) -> LLMClient:
        """From the ``llm`` section (:class:`nas.llm.config.LLMConfig`); the key is read from
        the environment variable ``cfg.api_key_env``."""
        return cls(
            model=cfg.model,
            base_url=cfg.base_url or None,
            api_key=os.environ.get(cfg.api_key_env) or None,
            mode=cfg.mode,
            cassette=cfg.cassette or None,
            temperature=cfg.temperature,
            seed=cfg.seed,
            timeout_s=cfg.timeout_s,
            max_tokens=cfg.max_tokens or None,
            max_retries=cfg.max_retries,
            max_concurrency=cfg.max_concurrency,
            structured=cfg.structured,
            budget=budget or LLMBudget(cfg.budget_tokens, cfg.budget_usd),
            sink=sink,
            reach=Reach(cfg.unreachable_stop_after),
        )

    @staticmethod
    def store_sink(store: Any, run_id: str) -> RowSink:
        """A sink appending rows to ``store``'s ``llm_calls`` table of ``run_id``."""

        def sink(rows: list[dict[str, Any]]) -> None:
            store.append("llm_calls", run_id, rows)

        return sink

    @property
    def usage(self) -> Usage:
        """Totals of every call of this client (shared with other clients of the budget)."""
        return self.budget.usage

    def _client(self) -> Any:
        if self._sdk is None:
            if self.endpoint is not None:
                self.base_url = self.endpoint(False)
            import httpx2
            import openai

            key = self._api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key-needed"
            self._sdk = openai.OpenAI(
                api_key=key,
                base_url=self.base_url or None,
                timeout=httpx2.Timeout(self.timeout_s, connect=self._connect_timeout_s),
                max_retries=0,  # retries are ours: every attempt is one llm_calls row
            )
        return self._sdk

    # ----------------------------------------------------------------- accounting
    def _scopes(self) -> list[Attribution]:
        stack: list[Attribution] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextlib.contextmanager
    def scope(self, step: str, candidate_id: str = "") -> Iterator[Attribution]:
        """Attribute every request made inside (this thread) to ``step``; rows are written
        when the scope closes, with ``candidate_id`` as set on the yielded
        :class:`Attribution` by then (a call's own ``candidate_id`` argument wins). Nested
        scopes pass their rows to the enclosing one.

            with llm.scope("nader-step-3") as att:
                ...                      # proposer, modifier, embedding calls
                att.candidate_id = cand.id
        """
        att = Attribution(step, candidate_id)
        stack = self._scopes()
        stack.append(att)
        try:
            yield att
        finally:
            stack.pop()
            for r in att.rows:
                r["candidate_id"] = r["candidate_id"] or att.candidate_id or None
            if stack:
                stack[-1].rows.extend(att.rows)
            elif att.rows and self.sink is not None:
                self.sink(list(att.rows))

    def mark_fallback(self, call_id: str, what: str) -> None:
        """Note on call ``call_id``'s row that its answer was unusable and ``what`` was done
        instead (e.g. ``random ranking (missing)``). The row must still be held by an open
        :meth:`scope`; otherwise the note is kept in ``unscoped_fallbacks`` and logged."""
        for att in reversed(self._scopes()):
            for r in att.rows:
                if r["call_id"] == call_id:
                    r["fallback"] = what
                    return
        self.unscoped_fallbacks.append((call_id, what))
        log.warning("LLM call %s: fallback %r noted outside a scope (row already written)",
                    call_id, what)  # fmt: skip

    def _emit(self, row: dict[str, Any]) -> None:
        _log.info(
            "llm %s %s/%s: %s in %.1f s, %d in + %d out tokens%s", row["call_id"], row["agent"],
            row["prompt_id"], row["status"], row["latency_s"], row["tokens_in"],
            row["tokens_out"], f" ({row['error'][:120]})" if row["error"] else "",
        )  # fmt: skip
        stack = self._scopes()
        if stack:
            row["step"] = row.get("step") or stack[-1].step
            stack[-1].rows.append(row)
        elif self.sink is not None:
            self.sink([row])

    def _attempt_row(
        self,
        a: Mapping[str, Any],
        call_id: str,
        attempt: int,
        agent: str,
        prompt_id: str,
        candidate_id: str,
        model: str,
        cache_hit: bool,
    ) -> dict[str, Any]:
        """The row of a failed attempt that was retried (no tokens: nothing was returned),
        emitted now. Its id, ``<call_id>-a<attempt>``, derives from the call's (deterministic
        with a memo), so a restarted run writes it under the same key."""
        row = call_row(
            f"{call_id}-a{attempt}", agent, prompt_id, candidate_id, model, 0, 0, 0.0,
            float(a.get("latency_s", 0.0)), cache_hit, str(a["kind"]),
            f"attempt {attempt}, retried after {float(a.get('wait_s', 0.0)):.2f}s: "
            f"{self._redact(str(a.get('message', '')))}"[:2000],
            attempt=attempt, retried=True,
        )  # fmt: skip
        self._emit(row)
        return row

    # ----------------------------------------------------------------- chat
    def chat(
        self,
        messages: Sequence[Message],
        *,
        agent: str = "",
        prompt_id: str = "",
        candidate_id: str = "",
        temperature: float | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        constraint: Constraint | None = None,
    ) -> ChatReply:
        """One chat completion. ``constraint`` is the answer form the caller parses: the
        reply says whether the text obeyed it (servers may ignore a constraint). Raises :class:`BudgetExceeded` before the call when the budget
        is spent and :class:`LLMError` when it failed after retries (the failure is accounted
        and written to ``llm_calls`` first)."""
        self.budget.check()
        self.reach.check()
        msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
        params: dict[str, Any] = {
            "temperature": self.temperature if temperature is None else float(temperature),
            "seed": self.seed if seed is None else seed,
            "max_tokens": self.max_tokens if max_tokens is None else max_tokens,
        }
        sent = self._sent_for(constraint)
        key = request_key("chat", self.model, msgs, {**params, "constraint": sent.key() or None})
        call_id, memo_n = uuid.uuid4().hex[:16], 0
        known: Known | None = None
        memo_key = self._memo_key(key)
        if self.memo is not None:  # a restored run: answered calls are not made again
            call_id, memo_n, known = self.memo.next(memo_key)
            if known is not None:
                return self._from_memo(known, call_id, agent, prompt_id, constraint, sent)
        _log.info("llm %s %s/%s: calling %s", call_id, agent, prompt_id, self.model)
        t0 = time.perf_counter()
        cache_hit = False
        tries = {"n": 1}  # the attempt number of the final request
        made: list[dict[str, Any]] = []  # the rows of the retried attempts, for the memo

        def retried(a: dict[str, Any]) -> None:
            made.append(self._attempt_row(a, call_id, tries["n"], agent, prompt_id, candidate_id,
                                          self.model, cache_hit))  # fmt: skip

        with self._sem:
            with self._lock:
                self._in_flight += 1
                self.max_in_flight_seen = max(self.max_in_flight_seen, self._in_flight)
            try:
                if self.mode == "replay":
                    assert self.cassette is not None
                    exchange = self.cassette.lookup(key, f"chat {agent}/{prompt_id}")
                    cache_hit = True
                    for a in exchange.get("attempts", []):
                        retried(a)
                        tries["n"] += 1
                        if a.get("kind") == "constraint_rejected":
                            sent = self._rejected(sent, self._redact(str(a.get("message", ""))))
                    if exchange.get("error"):
                        e = exchange["error"]
                        raise LLMError(
                            e.get("kind", "error"),
                            f"(replayed) {self._redact(str(e.get('message', '')))}",
                        )
                    body = exchange["response"]
                else:
                    body, sent = self._live_chat(msgs, params, key, retried, tries, sent)
                text, finish, tin, tout, model = chat_body(body)
            except CassetteMiss as err:
                self._fail(call_id, agent, prompt_id, candidate_id, t0, "cassette_miss", err, True)
                raise
            except LLMError as err:
                err.call_id = call_id
                row = self._fail(call_id, agent, prompt_id, candidate_id, t0, err.kind, err,
                                 cache_hit, tries["n"], emit=False)  # fmt: skip
                _constrained(row, constraint, sent, None)
                if self.memo is not None:  # the run's store keeps the failure too
                    self.memo.record(memo_key, memo_n, row, attempts=made, error={
                        "kind": err.kind, "message": self._redact(str(err))})  # fmt: skip
                self._emit(row)
                self.reach.failed(err.kind, self._redact(str(err)), self.base_url)
                raise
            except Exception as err:  # the SDK's errors, decoding errors
                kind, _ = error_kind(err)
                if not isinstance(err, LLMError) and kind == "error":
                    kind = "bad_response" if isinstance(err, ValueError) else "error"
                row = self._fail(call_id, agent, prompt_id, candidate_id, t0, kind, err,
                                 cache_hit, tries["n"], emit=False)  # fmt: skip
                _constrained(row, constraint, sent, None)
                if self.memo is not None:
                    self.memo.record(memo_key, memo_n, row, attempts=made, error={
                        "kind": kind, "message": self._redact(str(err))})  # fmt: skip
                self._emit(row)
                self.reach.failed(kind, self._redact(str(err)), self.base_url)
                raise LLMError(kind, self._redact(str(err)) or type(err).__name__, call_id) from err
            finally:
                with self._lock:
                    self._in_flight -= 1
        latency = time.perf_counter() - t0
        model = model or self.model
        cost = cost_usd(self.model, tin, tout, self.prices)
        self.budget.charge(tin, tout, cost)
        self.reach.answered()
        status = "ok" if text.strip() else "empty"
        row = call_row(
            call_id,
            agent,
            prompt_id,
            candidate_id,
            model,
            tin,
            tout,
            cost,
            latency,
            cache_hit,
            status,
            "" if status == "ok" else "the reply has no content",
            attempt=tries["n"],
        )
        name, obeyed = _obedience(constraint, text, sent)
        _constrained(row, constraint, sent, obeyed)
        self._check_obeyed(sent, name, obeyed, finish)
        if self.memo is not None:  # stored before the answer is used (a kill after keeps it)
            self.memo.record(memo_key, memo_n, row, attempts=made, response=body)
        self._emit(row)
        return ChatReply(
            text, call_id, model, tin, tout, cost, latency, cache_hit, finish, tries["n"] - 1,
            name, obeyed, sent.mode if constraint is not None else "",
        )  # fmt: skip

    def _memo_key(self, key: str) -> str:
        """The memo's key of a request: inside an attribution :meth:`scope` it names the
        scope's step too, so occurrences are counted per step (a step made again after a
        restart meets its own answers; a later step sending the same request is a new call,
        even though the process's counts started again), else the request key alone."""
        stack = self._scopes()
        return f"{stack[-1].step}\x1f{key}" if stack else key

    def _from_memo(
        self, known: Known, call_id: str, agent: str, prompt_id: str,
        constraint: Constraint | None = None, sent: Sent = Sent(""),
    ) -> ChatReply:  # fmt: skip
        """A call this run already made, answered from the run's store (the ``answer`` of its
        ``llm_calls`` row; :mod:`nas.llm.memo`): no request, no new row.

        Inside an attribution :meth:`scope` the call's rows (its retried attempts and its
        final request, as recorded) are emitted again under their own call ids: a step cut
        short by a kill held them unattributed, and the step made again needs them to
        attribute its cost. Their keys (``llm-<call_id>``) replace the copy already stored,
        so a restart adds no row."""
        _log.info("llm %s %s/%s: answered from the run's store (memo, no request)", call_id,
                  agent, prompt_id)  # fmt: skip
        if self._scopes():
            for r in known.rows:
                self._emit({**r, "step": None})
        if known.error is not None or known.response is None:
            e = known.error or {}
            raise LLMError(
                str(e.get("kind", "error")), f"(restored) {e.get('message', '')}", call_id
            )
        text, finish, tin, tout, model = chat_body(known.response)
        cost = cost_usd(self.model, tin, tout, self.prices)
        name, obeyed = _obedience(constraint, text, sent)
        self._check_obeyed(sent, name, obeyed, finish)
        return ChatReply(text, call_id, model or self.model, tin, tout, cost, 0.0, True, finish, 0,
                         name, obeyed, sent.mode if constraint is not None else "")  # fmt: skip

    # ----------------------------------------------------------------- constrained decoding
    def _sent_for(self, constraint: Constraint | None) -> Sent:
        """What a request carries for ``constraint`` (probing the endpoint first, once)."""
        if constraint is None:
            return Sent("")
        return send_for(self._profile(), constraint)

    def probe(self) -> ServerProfile:
        """The endpoint's structured-output profile, probing it now if not done yet (else on
        the first constrained call); see :mod:`nas.llm.structured`."""
        return self._profile()

    def _profile(self) -> ServerProfile:
        from nas.llm.probe import probe_endpoint

        with self._probe_lock:  # other threads wait for the probe, not send unprobed
            if not self._profiled:
                self.structured = probe_endpoint(self)
                self._profiled = True
        return self.structured

    def _rejected(self, sent: Sent, why: str) -> Sent:
        if sent.sent:
            self.structured.reject(form_of(sent), why)
            return none(f"rejected by the server ({why[:120]})")
        return sent

    def _check_obeyed(self, sent: Sent, name: str, obeyed: bool | None, finish: str) -> None:
        """A sent constraint the answer does not obey, though the model stopped on its own:
        the server ignores that form (fails open)."""
        if sent.sent and obeyed is False and finish != "length":
            self.structured.disobeyed(form_of(sent), name)

    def _redact(self, text: str) -> str:
        """Error text without the key (``nas.llm.redact``): echoed by some endpoints."""
        return redact(text, [self._api_key or os.environ.get("OPENAI_API_KEY") or ""])

    def _fail(
        self,
        call_id: str,
        agent: str,
        prompt_id: str,
        candidate_id: str,
        t0: float,
        kind: str,
        err: BaseException,
        cache_hit: bool,
        attempt: int = 1,
        *,
        emit: bool = True,
    ) -> dict[str, Any]:
        """Charge a failed call and make its row (emitted unless ``emit=False``)."""
        self.budget.charge_failure()
        latency = time.perf_counter() - t0
        msg = self._redact(str(err))[:2000]
        row = call_row(
            call_id, agent, prompt_id, candidate_id, self.model, 0, 0, 0.0, latency,
            cache_hit, kind, msg, attempt=attempt,
        )  # fmt: skip
        if emit:
            self._emit(row)
        return row

    def _with_retries(
        self,
        send: Callable[[], Any],
        retried: Callable[[dict[str, Any]], None],
        tries: dict[str, int],
    ) -> tuple[Any, list[dict[str, Any]]]:
        """:func:`nas.llm.transport.with_retries` with this client's retries, redaction and
        sleep; a failed connection first asks ``llm.serve`` whether the endpoint moved."""
        return with_retries(send, retried, tries, self.max_retries, self._redact, self.sleep,
                            self._endpoint_moved)  # fmt: skip

    def _endpoint_moved(self) -> bool:
        """After a failed connection: ask :attr:`endpoint` (a served model's job may have
        died and been replaced); True when the base URL changed (the SDK client is remade)."""
        if self.endpoint is None:
            return False
        url = self.endpoint(True)
        if url == self.base_url:
            return False
        with self._lock:
            self.base_url, self._sdk = url, None
        return True

    def _live_chat(
        self, msgs: list[dict[str, str]], params: dict[str, Any], key: str,
        retried: Callable[[dict[str, Any]], None], tries: dict[str, int], sent: Sent,
    ) -> tuple[Any, Sent]:  # fmt: skip
        """The response body of one chat request (with retries) and what it carried for its
        constraint: a constrained request the server turns down is recorded as a failed
        attempt (``constraint_rejected``, not retried) and sent again without it."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": msgs}
        kwargs.update({k: v for k, v in params.items() if v is not None})
        request = {"model": self.model, "messages": msgs, **params, **sent.fields()}
        attempts: list[dict[str, Any]] = []

        def failed(a: dict[str, Any]) -> None:
            attempts.append(a)
            retried(a)

        def send() -> Any:
            t = time.perf_counter()
            try:
                sdk = self._client()  # per attempt: llm.serve may have moved the endpoint
                return sdk.chat.completions.with_raw_response.create(**kwargs, **sent.fields())
            except Exception as err:
                status = error_kind(err)[1]
                if not sent.sent or status not in REJECT_STATUSES:
                    raise
                why = self._redact(str(err))  # a rejection may quote the request's headers
                failed({"kind": "constraint_rejected", "status": status,
                        "message": f"{sent.mode} constraint: {why[:400]}",
                        "latency_s": time.perf_counter() - t, "wait_s": 0.0})  # fmt: skip
                tries["n"] += 1
                raise ConstraintRejected(status, why[:200]) from err

        try:
            try:
                raw, _ = self._with_retries(send, failed, tries)
            except ConstraintRejected as rej:
                sent = self._rejected(sent, str(rej))
                raw, _ = self._with_retries(send, failed, tries)
        except Exception as err:
            kind, status = error_kind(err)
            if self.mode == "record" and self.cassette is not None and kind != "error":
                self.cassette.add(
                    key,
                    {
                        "request": request,
                        "attempts": _portable(attempts),
                        "error": {
                            "kind": kind,
                            "status": status,
                            "message": self._redact(str(err))[:500],
                        },
                    },
                )
                self.cassette.save()
            raise
        try:
            body = json.loads(raw.http_response.text)
        except ValueError as err:
            snippet = raw.http_response.text[:200]
            raise LLMError("bad_response", f"response is not JSON: {snippet!r}") from err
        if self.mode == "record" and self.cassette is not None:
            self.cassette.add(
                key, {"request": request, "attempts": _portable(attempts), "response": body}
            )
            self.cassette.save()
        return body, sent

    # ----------------------------------------------------------------- embeddings
    def embed(
        self, texts: Sequence[str], *, agent: str = "embedder", candidate_id: str = ""
    ) -> list[list[float]]:
        """Embedding vectors of ``texts`` (same modes, retries, accounting, attribution and
        budget as chat; each request is one ``llm_calls`` row with prompt id ``embeddings``)."""
        self.budget.check()
        key = request_key("embeddings", self.embed_model, list(texts), {})
        call_id = uuid.uuid4().hex[:16]
        if self.memo is not None:  # not answered from the memo, but the same id on a restart
            call_id = self.memo.next(self._memo_key(key))[0]
        t0 = time.perf_counter()
        cache_hit = self.mode == "replay"
        tries = {"n": 1}

        def retried(a: dict[str, Any]) -> None:
            self._attempt_row(a, call_id, tries["n"], agent, "embeddings", candidate_id,
                              self.embed_model, cache_hit)  # fmt: skip

        with self._sem:
            try:
                if self.mode == "replay":
                    assert self.cassette is not None
                    exchange = self.cassette.lookup(key, "embeddings")
                    for a in exchange.get("attempts", []):
                        retried(a)
                        tries["n"] += 1
                    if exchange.get("error"):
                        raise LLMError(exchange["error"].get("kind", "error"), "(replayed)")
                    body = exchange["response"]
                else:
                    sdk = self._client()
                    attempts: list[dict[str, Any]] = []

                    def failed(a: dict[str, Any]) -> None:
                        attempts.append(a)
                        retried(a)

                    raw, _ = self._with_retries(
                        lambda: sdk.embeddings.with_raw_response.create(
                            model=self.embed_model, input=list(texts)
                        ),
                        failed,
                        tries,
                    )
                    body = json.loads(raw.http_response.text)
                    if self.mode == "record" and self.cassette is not None:
                        self.cassette.add(
                            key,
                            {"request": {"model": self.embed_model, "input": list(texts)},
                             "attempts": _portable(attempts), "response": body},
                        )  # fmt: skip
                        self.cassette.save()
                data = sorted(body["data"], key=lambda d: int(d.get("index", 0)))
                vectors = [[float(x) for x in d["embedding"]] for d in data]
            except Exception as err:
                kind = err.kind if isinstance(err, LLMError) else error_kind(err)[0]
                if isinstance(err, CassetteMiss):
                    kind = "cassette_miss"
                self._fail(call_id, agent, "embeddings", candidate_id, t0, kind, err, cache_hit,
                           tries["n"])  # fmt: skip
                if isinstance(err, LLMError | CassetteMiss):
                    raise
                raise LLMError(kind, self._redact(str(err)), call_id) from err
        tin = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        cost = cost_usd(self.embed_model, tin, 0, self.prices)
        self.budget.charge(tin, 0, cost)
        latency = time.perf_counter() - t0
        row = call_row(
            call_id, agent, "embeddings", candidate_id, self.embed_model, tin, 0, cost, latency,
            cache_hit, "ok", "", attempt=tries["n"],
        )  # fmt: skip
        self._emit(row)
        return vectors


def _portable(attempts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Failed attempts as stored in a cassette (no timings: replay does not wait)."""
    return [{"kind": a["kind"], "status": a["status"], "message": a["message"]} for a in attempts]


__all__ += ["BudgetExceeded", "CassetteMiss"]
