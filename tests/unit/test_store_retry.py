"""Store writes ride out transient failures: capped exponential back-off with jitter, a
deadline, non-transient errors raised at once, a status file while the outage lasts."""

from __future__ import annotations

import errno
import json
import random

import pytest

from store.result_store import LocalResultStore
from store.retry import (
    OutageFile,
    WriteRetry,
    call_with_retry,
    is_transient,
    read_outage,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.t += s


def test_waits_double_up_to_the_cap_with_jitter_below_the_nominal_wait():
    p = WriteRetry(base_s=1, max_wait_s=8, deadline_s=1000, jitter=0.5)
    assert [p.wait_s(i, 1.0) for i in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert [p.wait_s(i, 0.0) for i in range(1, 5)] == [0.5, 1, 2, 4]
    rng = random.Random(3)
    assert all(0.5 * 8 <= p.wait_s(6, rng.random()) <= 8 for _ in range(100))


def test_default_policy_rides_out_five_minutes():
    clock, calls = Clock(), []

    def put() -> str:
        calls.append(clock.t)
        if clock.t - 1000.0 < 300.0:  # the service is away for 5 minutes
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return "ok"

    out = call_with_retry(put, WriteRetry(), sleep=clock.sleep, clock=clock.time)
    assert out == "ok" and len(calls) > 5
    assert max(clock.waits) <= WriteRetry().max_wait_s


def test_gives_up_after_the_deadline_and_says_so(tmp_path):
    clock = Clock()
    status = OutageFile(tmp_path / "store_status.json")

    def put() -> None:
        raise TimeoutError("read timed out")

    with pytest.raises(TimeoutError):
        call_with_retry(put, WriteRetry(base_s=1, max_wait_s=4, deadline_s=20), listener=status,
                        sleep=clock.sleep, clock=clock.time)  # fmt: skip
    assert sum(clock.waits) <= 20
    assert json.loads(status.path.read_text())["state"] == "gave_up"
    assert read_outage(status.path).startswith("unreachable since ")


def test_non_transient_errors_are_raised_at_once():
    clock, calls = Clock(), []

    def put() -> None:
        calls.append(1)
        raise PermissionError(errno.EROFS, "Read-only file system")

    with pytest.raises(PermissionError):
        call_with_retry(put, WriteRetry(), sleep=clock.sleep, clock=clock.time)
    assert calls == [1] and clock.waits == []
    assert not is_transient(ValueError("schema"))
    assert is_transient(OSError(errno.ESTALE, "Stale file handle"))


def test_botocore_errors_are_classified():
    from botocore.exceptions import ClientError, EndpointConnectionError

    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    slow = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {}}, "PutObject")
    assert is_transient(slow)
    denied = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "PutObject",
    )
    assert not is_transient(denied)
    five = ClientError({"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Put")
    assert is_transient(five)


def test_status_file_while_unreachable_then_ok(tmp_path):
    clock = Clock()
    status = OutageFile(tmp_path / "store_status.json")
    seen: list[str] = []

    def put() -> str:
        if clock.t - 1000.0 < 10:
            raise ConnectionResetError(errno.ECONNRESET, "reset")
        return "ok"

    def sleep(s: float) -> None:
        seen.append(read_outage(status.path))
        clock.sleep(s)

    call_with_retry(put, WriteRetry(base_s=1), listener=status, sleep=sleep, clock=clock.time)
    assert seen and all("retrying" in s for s in seen)
    assert read_outage(status.path).startswith("ok (last outage")


def test_local_store_append_retries_the_same_file_and_writes_it_once(tmp_path, monkeypatch):
    store = LocalResultStore(tmp_path / "tables")
    store.write_retry = WriteRetry(base_s=0.01, max_wait_s=0.02, deadline_s=5)
    real_put, tries = store._put, []

    def flaky_put(key: str, data: bytes) -> None:
        tries.append(key)
        if len(tries) < 3:
            raise OSError(errno.EIO, "Input/output error")
        real_put(key, data)

    monkeypatch.setattr(store, "_put", flaky_put)
    row = {"candidate_id": "c1", "state": "COMPLETE"}
    store.append("trials", "r1", [row], key="trial-c1")
    assert len(tries) == 3 and len(set(tries)) == 1  # one object name, tried three times
    assert store.read("trials", "r1").num_rows == 1
    assert not list((tmp_path / "tables").rglob(".*.tmp"))  # nothing partial left behind
