"""Store writes that ride out an outage: capped exponential back-off with jitter.

Object stores on clusters blip (a restarted MinIO, a load balancer failing over, an NFS
server that stalls). :func:`call_with_retry` runs one write again after a *transient*
failure — connection refused or reset, a timeout, an HTTP 5xx or throttling answer, an NFS
``EIO``/``ESTALE`` — waiting ``base_s``, ``2 * base_s``, ... up to ``max_wait_s`` between
tries (each wait drawn uniformly from ``[(1 - jitter) * w, w]`` so that many writers do not
retry in lockstep), until ``deadline_s`` seconds have passed since the first failure; then
the last error is raised. Anything else (a schema error, a missing bucket, credentials
refused, a read-only directory) is raised at once: waiting does not fix it.

Retrying is safe because a write is one whole object under a fixed name (see
:mod:`store.result_store`): a retried ``PUT`` replaces what a lost-response try may have
stored, and a reader sees the old object or the whole new one, never part of it.

Who waits can say so: a :class:`OutageListener` (e.g. :class:`OutageFile`, which the
controller points at ``<run_dir>/store_status.json`` for ``archlab status``) hears when an
outage starts, at every failed try, and when the store answers again.

>>> policy = WriteRetry(base_s=0.5, max_wait_s=30, deadline_s=600)
>>> [round(policy.wait_s(i, rand=1.0), 1) for i in range(1, 9)]
[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = [
    "STATUS_FILE",
    "OutageFile",
    "OutageListener",
    "StoreOutage",
    "WriteRetry",
    "call_with_retry",
    "is_transient",
    "read_outage",
]

log = logging.getLogger("archlab.store")

T = TypeVar("T")

#: The file (in a run directory) where the controller's store writes report an outage.
STATUS_FILE = "store_status.json"
#: Default total time a write is retried: rides out an outage of 10 minutes.
DEFAULT_DEADLINE_S = 600.0

# errno values of a filesystem or network that is away for a while (NFS/Lustre blips).
_TRANSIENT_ERRNO = frozenset(
    {
        errno.EIO,
        errno.ESTALE,
        errno.ETIMEDOUT,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EPIPE,
    }
)
# botocore exception class names that mean "the service did not answer (properly)".
_TRANSIENT_BOTO = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionError",
        "HTTPClientError",
        "ProxyConnectionError",
        "ResponseStreamingError",
        "IncompleteReadError",
    }
)
# S3 error codes that a later try can succeed with.
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
        "503",
        "500",
        "502",
        "504",
    }
)


@dataclass(frozen=True)
class WriteRetry:
    """How long and how often a store write is tried again after a transient failure.

    ``deadline_s`` (default 600 s) bounds the whole outage a write rides out; 0 disables
    retrying (the first failure is raised).
    """

    base_s: float = 0.5
    max_wait_s: float = 30.0
    deadline_s: float = DEFAULT_DEADLINE_S
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_wait_s < self.base_s:
            raise ValueError("WriteRetry: need 0 < base_s <= max_wait_s")
        if self.deadline_s < 0:
            raise ValueError("WriteRetry: deadline_s must be >= 0 (store.retry_s)")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("WriteRetry: jitter is a share in [0, 1]")

    def wait_s(self, failures: int, rand: float) -> float:
        """The wait after the ``failures``-th failure (1-based); ``rand`` in [0, 1]."""
        w = min(self.max_wait_s, self.base_s * 2.0 ** max(0, failures - 1))
        return float(w * (1.0 - self.jitter * (1.0 - rand)))


@dataclass(frozen=True)
class StoreOutage:
    """What a listener hears: the outage so far."""

    since: float  # unix time of the first failed try
    failures: int  # failed tries so far
    error: str  # the last error, one line
    next_wait_s: float  # seconds until the next try (0 once recovered or given up)
    what: str  # the write being retried (e.g. the object key)


class OutageListener(Protocol):
    def failed(self, outage: StoreOutage) -> None: ...

    def recovered(self, outage: StoreOutage) -> None: ...

    def gave_up(self, outage: StoreOutage) -> None: ...


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """True for failures a later try may not have: network, timeouts, 5xx, NFS blips."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:  # also look at what it was raised from
        seen.add(id(cur))
        names = {c.__name__ for c in type(cur).__mro__}
        if names & _TRANSIENT_BOTO:
            return True
        if "ClientError" in names:
            response = getattr(cur, "response", None) or {}
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return code in _TRANSIENT_CODES or status >= 500
        if isinstance(cur, (socket.timeout, TimeoutError, ConnectionError)):
            return True
        if isinstance(cur, OSError) and _errno_of(cur) in _TRANSIENT_ERRNO:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]


def call_with_retry(
    fn: Callable[[], T],
    policy: WriteRetry,
    *,
    what: str = "",
    listener: OutageListener | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> T:
    """``fn()``, tried again after transient failures as ``policy`` says (see module doc)."""
    rand = rng or random.Random()
    failures = 0
    since = 0.0
    while True:
        try:
            out = fn()
        except Exception as exc:
            if not transient(exc):
                raise
            now = clock()
            if failures == 0:
                since = now
            failures += 1
            wait = policy.wait_s(failures, rand.random())
            outage = StoreOutage(since, failures, _one_line(exc), wait, what)
            if now + wait - since > policy.deadline_s:
                log.error(
                    "store unreachable for %.0f s (%d tries), giving up on %s: %s",
                    now - since,
                    failures,
                    what or "a write",
                    outage.error,
                )
                if listener is not None:
                    listener.gave_up(StoreOutage(since, failures, outage.error, 0.0, what))
                raise
            log.warning(
                "store unreachable since %s (try %d failed: %s); retrying %s in %.1f s",
                time.strftime("%H:%M:%S", time.localtime(since)),
                failures,
                outage.error,
                what or "the write",
                wait,
            )
            if listener is not None:
                listener.failed(outage)
            sleep(wait)
            continue
        if failures:
            log.warning(
                "store reachable again after %.0f s (%d failed tries)", clock() - since, failures
            )
            if listener is not None:
                listener.recovered(StoreOutage(since, failures, "", 0.0, what))
        return out


@dataclass
class OutageFile:
    """An :class:`OutageListener` that keeps a small JSON file up to date for ``status``.

    While an outage lasts the file says ``{"state": "unreachable", "since": ..., ...}``;
    after the store answered again ``"state": "ok"`` with the outage's length (kept so that
    ``status`` can say there was one); ``"gave_up"`` when the deadline passed. Writing the
    file never raises (a status hint must not turn into a second failure).
    """

    path: Path
    _last_write: float = field(default=0.0, repr=False)

    def _write(self, data: dict[str, object]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps({**data, "pid": os.getpid(), "t": time.time()}) + "\n")
            os.replace(tmp, self.path)
        except OSError:
            pass

    def failed(self, outage: StoreOutage) -> None:
        self._write({"state": "unreachable", **_fields(outage)})

    def recovered(self, outage: StoreOutage) -> None:
        self._write({"state": "ok", "outage_s": round(time.time() - outage.since, 1),
                     **_fields(outage)})  # fmt: skip

    def gave_up(self, outage: StoreOutage) -> None:
        self._write({"state": "gave_up", **_fields(outage)})


def _fields(o: StoreOutage) -> dict[str, object]:
    return {"since": o.since, "failures": o.failures, "error": o.error,
            "next_wait_s": round(o.next_wait_s, 2), "what": o.what}  # fmt: skip


def read_outage(path: str | os.PathLike[str]) -> str:
    """One status line about the store from an :class:`OutageFile` ("" when all is well)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data.get("since") or 0)))
    n = int(data.get("failures") or 0)
    if data.get("state") == "unreachable":
        return f"unreachable since {since}, retrying ({n} failed tries; last: {data.get('error')})"
    if data.get("state") == "gave_up":
        return f"unreachable since {since}: gave up after {n} tries ({data.get('error')})"
    if data.get("state") == "ok":
        return f"ok (last outage {since}, {float(data.get('outage_s') or 0):.0f} s, ridden out)"
    return ""
