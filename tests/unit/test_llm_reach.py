"""``llm.unreachable_stop_after`` (nas.llm.config) and its counter (nas.llm.reach): only calls
the endpoint did not answer count, any answer starts the count again, the N-th in a row
raises :class:`LLMUnreachable` naming the endpoint, and every later call raises it at once."""

from __future__ import annotations

import pytest

from nas.config_checks import SettingError
from nas.llm.config import LLMConfig
from nas.llm.reach import UNREACHABLE, LLMUnreachable, Reach


def test_the_setting_is_validated_in_its_dataclass() -> None:
    assert LLMConfig().unreachable_stop_after == 3
    LLMConfig(unreachable_stop_after=0).validate()  # 0 = never stop
    with pytest.raises(SettingError, match="llm.unreachable_stop_after"):
        LLMConfig(unreachable_stop_after=-1).validate()
    with pytest.raises(ValueError, match="unreachable_stop_after"):
        Reach(-1)


def test_consecutive_unanswered_calls_stop_and_an_answer_resets_the_count() -> None:
    assert set(UNREACHABLE) == {"connection", "timeout", "auth", "not_found"}
    r = Reach(2)
    r.failed("connection", "Connection error.", "http://h:1/v1")
    r.answered()
    r.failed("timeout", "timed out", "http://h:1/v1")
    r.failed("server_error", "HTTP 500", "http://h:1/v1")  # the server answered: not counted
    r.failed("bad_request", "HTTP 400", "http://h:1/v1")
    r.failed("not_found", "no such model", "http://h:1/v1")
    with pytest.raises(LLMUnreachable) as e:
        r.failed("connection", "Connection error.", "http://h:1/v1")
    assert (e.value.endpoint, e.value.kind, e.value.calls) == ("http://h:1/v1", "connection", 2)
    assert "http://h:1/v1 did not answer" in str(e.value)
    with pytest.raises(LLMUnreachable):  # sticky: the run is stopping
        r.check()


def test_zero_never_stops() -> None:
    r = Reach(0)
    for _ in range(50):
        r.failed("connection", "Connection error.", "")
    r.check()
    assert r.consecutive == 50
