"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests, recording and replay.

It serves ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` in the real OpenAI JSON
format (``id, object, created, model, choices[{index, message{role, content},
finish_reason}], usage{prompt_tokens, completion_tokens, total_tokens}``) from a *script*:
a list of :class:`Reply` consumed in order, then a *responder* (a function of the request
JSON returning the reply text) when the script is empty. Script items model what real
endpoints do: 429 with ``Retry-After``, 500, slow replies (client timeouts), malformed
blocks, prose instead of a block, empty replies, and a body in the wrong format.

It can play a server kind for constrained decoding (:mod:`nas.llm.structured`):
``owned_by`` is what ``GET /v1/models`` says (``"me"``: llama-cpp-python, ``"vllm"``,
``"openai"``; the default names no kind); ``rejects`` lists constraint fields it turns
down with HTTP 500 before generating, as llama-cpp-python 0.3.36 does with an OpenAI
``json_schema`` (``"grammar"``, ``"json_object"``, ``"json_schema"``,
``"structured_outputs"``; the script is not consumed). Whether it *obeys* a constraint is
up to the script: a reply that is not a sentence of the grammar plays a server that
accepts the constraint and ignores it (fails open).

It counts the tokens it reports (:attr:`ScriptedOpenAIServer.prompt_tokens`,
:attr:`completion_tokens`) so a test can compare the client's accounting with the server's,
and keeps every request (:attr:`requests`) so a test can check that temperature and seed
were really sent.

    >>> with ScriptedOpenAIServer([Reply.text("hello")]) as srv:       # doctest: +SKIP
    ...     client = LLMClient("m", base_url=srv.base_url, api_key="x")
    ...     client.chat([{"role": "user", "content": "hi"}]).text
    'hello'
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Responder", "ScriptedOpenAIServer", "count_tokens"]

Responder = Callable[[dict[str, Any]], str]

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """The server's tokenizer: words and punctuation marks (a stand-in for BPE)."""
    return len(_TOKEN.findall(text or ""))


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP reply. Build with the class methods."""

    status: int = 200
    content: str | None = ""  # chat message content (None -> JSON null)
    delay_s: float = 0.0  # sleep before answering (a client read timeout < delay -> timeout)
    headers: tuple[tuple[str, str], ...] = ()
    raw_body: str | None = None  # sent verbatim instead of a completion (wrong format)
    finish_reason: str = "stop"
    label: str = ""  # what this reply models, for test messages
    echo_auth: bool = False  # raw_body's "{authorization}" becomes the request's header

    @classmethod
    def text(cls, content: str, label: str = "text") -> Reply:
        return cls(content=content, label=label)

    @classmethod
    def empty(cls) -> Reply:
        return cls(content="", label="empty")

    @classmethod
    def null_content(cls) -> Reply:
        return cls(content=None, label="null-content")

    @classmethod
    def rate_limited(cls, retry_after: str = "0.05") -> Reply:
        return cls(
            status=429,
            headers=(("Retry-After", retry_after),),
            raw_body=json.dumps(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}
            ),
            label="429",
        )

    @classmethod
    def server_error(cls, status: int = 500, retry_after_ms: int = 10) -> Reply:
        return cls(
            status=status,
            headers=(("retry-after-ms", str(retry_after_ms)),),
            raw_body=json.dumps({"error": {"message": "internal error", "type": "server_error"}}),
            label=str(status),
        )

    @classmethod
    def echo_auth_error(cls, status: int = 401) -> Reply:
        """An error whose text quotes the request's Authorization header (some proxies and
        self-hosted servers do): what the client's redaction must catch."""
        body = {"error": {"message": "invalid credentials in header Authorization: "
                          "{authorization}", "type": "invalid_request_error"}}  # fmt: skip
        return cls(status=status, raw_body=json.dumps(body), label=f"echo-{status}",
                   echo_auth=True, headers=(("retry-after-ms", "5"),))  # fmt: skip

    @classmethod
    def slow(cls, delay_s: float, content: str = "late") -> Reply:
        return cls(content=content, delay_s=delay_s, label="slow")

    @classmethod
    def wrong_format(cls, body: str | None = None) -> Reply:
        """A 200 whose body is not a chat completion (default: a legacy completions body)."""
        default = {"id": "x", "object": "text_completion", "text": "##b##", "usage": {}}
        return cls(raw_body=body if body is not None else json.dumps(default), label="wrong")

    @classmethod
    def bad_request(cls, message: str = "bad request") -> Reply:
        return cls(
            status=400,
            raw_body=json.dumps({"error": {"message": message, "type": "invalid_request_error"}}),
            label="400",
        )


@dataclass
class _State:
    script: list[Reply]
    responder: Responder | None
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: list[str] = field(default_factory=list)  # label of each reply sent
    prompt_tokens: int = 0  # reported in 200 chat/embedding replies
    completion_tokens: int = 0
    # (prompt, completion) per reply label: a "slow" reply the client abandoned is still
    # counted here, as a real endpoint still bills a request whose client timed out
    tokens_by_label: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    owned_by: str = "archlab-scripted"  # GET /v1/models' owned_by (the server kind it plays)
    rejects: frozenset[str] = frozenset()  # constraint fields answered with HTTP 500
    refusal_echoes_auth: bool = False  # a refusal's text quotes the Authorization header
    rejected: int = 0  # constrained requests turned down
    in_flight: int = 0
    max_in_flight: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one round trip per reply (no 40 ms delayed-ACK stalls)

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def _send(self, status: int, body: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def do_GET(self) -> None:
        st = self.server.state
        if self.path.rstrip("/").endswith("/models"):
            entry = {"id": "scripted", "object": "model", "owned_by": st.owned_by}
            self._send(200, json.dumps({"object": "list", "data": [entry]}))
            return
        self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))

    def _refused(self, req: dict[str, Any]) -> str:
        """The constraint field of ``req`` this server turns down ("" = none)."""
        fmt = req.get("response_format")
        sent: set[str] = {k for k in ("grammar", "structured_outputs") if k in req}
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            sent.add(str(fmt["type"]))
        hit = sorted(sent & self.server.state.rejects)
        return hit[0] if hit else ""

    def do_POST(self) -> None:
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, json.dumps({"error": {"message": "body is not JSON"}}))
            return
        path = self.path.rstrip("/")
        refused = self._refused(req)
        with st.lock:
            st.requests.append({"path": path, **req})
            st.rejected += bool(refused)
            reply = st.script.pop(0) if st.script and not refused else None
            st.in_flight += not refused
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        if refused:
            msg = f"{refused} is not supported by this server"
            if st.refusal_echoes_auth:
                msg += f" (request header Authorization: {self.headers.get('Authorization', '')})"
            self._send(500, json.dumps({"error": {"message": msg, "type": "server_error"}}))
            return
        try:
            self._answer(path, req, reply)
        finally:
            with st.lock:
                st.in_flight -= 1

    def _answer(self, path: str, req: dict[str, Any], reply: Reply | None) -> None:
        st = self.server.state
        if reply is None:
            if path.endswith("/embeddings"):
                reply = Reply(label="embeddings")
            elif st.responder is None:
                reply = Reply.server_error(503)
            else:
                reply = Reply.text(st.responder(req), label="responder")
        if reply.delay_s:
            time.sleep(reply.delay_s)
        with st.lock:
            st.served.append(reply.label)
        if reply.raw_body is not None:
            raw = reply.raw_body
            if reply.echo_auth:
                auth = json.dumps(self.headers.get("Authorization", ""))[1:-1]
                raw = raw.replace("{authorization}", auth)
            self._send(reply.status, raw, reply.headers)
            return
        if path.endswith("/embeddings"):
            self._send(200, json.dumps(self._embeddings(req)), reply.headers)
            return
        if not path.endswith("/chat/completions"):
            self._send(404, json.dumps({"error": {"message": f"no route {path}"}}))
            return
        prompt = sum(count_tokens(str(m.get("content", ""))) for m in req.get("messages", []))
        completion = count_tokens(reply.content or "")
        with st.lock:
            st.prompt_tokens += prompt
            st.completion_tokens += completion
            acc = st.tokens_by_label.setdefault(reply.label, [0, 0])
            acc[0] += prompt
            acc[1] += completion
        body = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(req.get("model", "")),
            "system_fingerprint": "fp_archlab_scripted",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
        self._send(reply.status, json.dumps(body), reply.headers)

    def _embeddings(self, req: dict[str, Any]) -> dict[str, Any]:
        import hashlib

        inputs = req.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        data = []
        total = 0
        for i, text in enumerate(inputs):
            total += count_tokens(str(text))
            vec = [0.0] * 16
            for tok in _TOKEN.findall(str(text).lower()):
                h = int(hashlib.md5(tok.encode()).hexdigest()[:8], 16)
                vec[h % 16] += 1.0
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            data.append({"object": "embedding", "index": i, "embedding": [v / norm for v in vec]})
        with self.server.state.lock:
            self.server.state.prompt_tokens += total
        return {
            "object": "list",
            "data": data,
            "model": str(req.get("model", "")),
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class ScriptedOpenAIServer:
    """Context manager running the server in a thread; ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        responder: Responder | None = None,
        *,
        owned_by: str = "archlab-scripted",
        rejects: Iterable[str] = (),
        refusal_echoes_auth: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._srv = _Server((host, port), _Handler)
        self._srv.state = _State(list(script), responder, owned_by=owned_by,
                                 rejects=frozenset(rejects),
                                 refusal_echoes_auth=refusal_echoes_auth)  # fmt: skip
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> _State:
        return self._srv.state

    @property
    def base_url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def prompt_tokens(self) -> int:
        return self.state.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self.state.completion_tokens

    def push(self, *replies: Reply) -> None:
        with self.state.lock:
            self.state.script.extend(replies)

    def start(self) -> ScriptedOpenAIServer:
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
