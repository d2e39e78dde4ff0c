"""The ``llm_live`` group: calls to the real local model that ``scripts/llm-up.sh`` starts.

The tests read ``ARCHLAB_LLM_BASE_URL`` / ``ARCHLAB_LLM_MODEL`` (what ``llm-up.sh`` prints;
``scripts/test.sh`` exports them) and skip, with the reason, when the server is not up.
At the end of the session the terminal summary says how many live tests ran, how long they
took, and what the model did in each (calls, tokens, outcome).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from nas.llm import LLMClient

# On one CPU thread the 1.5B model reads a prompt at ~7-25 tokens/s and writes ~4-10
# tokens/s (measured here with other jobs on both cores). The timeout must let the longest
# capped answer (<= 400 tokens after a ~1K-token prompt) finish even then: a request the
# client gives up on keeps the single-slot server busy, and the next call queues behind it.
LIVE_TIMEOUT_S = float(os.environ.get("ARCHLAB_LLM_LIVE_TIMEOUT_S", "420"))


@dataclass
class LiveModel:
    base_url: str
    model: str
    outcomes: list[str] = field(default_factory=list)  # one line per test, for the summary
    probe_rows: list[dict[str, Any]] = field(default_factory=list)  # structured-output probes

    def client(self, rows: list[dict[str, Any]], **kw: Any) -> LLMClient:
        """The real openai-based client on the local server; ``llm_calls`` rows go to ``rows``
        (the structured-output probe's rows, agent ``structured-probe``, to ``probe_rows``).
        No HTTP retries: a timed-out request would still be running on the single-slot
        server, and a retry would queue behind it. No fixed seed: with one, a repeated
        request (LLMatic asking again after a duplicate child) gets the same answer."""
        kw.setdefault("timeout_s", LIVE_TIMEOUT_S)
        kw.setdefault("max_retries", 0)

        def sink(new: list[dict[str, Any]]) -> None:
            for r in new:
                (self.probe_rows if r["agent"] == "structured-probe" else rows).append(r)

        return LLMClient(self.model, base_url=self.base_url, api_key="sk-local",
                         sink=sink, **kw)  # fmt: skip


_RESULTS: dict[str, tuple[str, float]] = {}  # nodeid -> (outcome, seconds)
_LIVE: list[LiveModel] = []


@pytest.fixture(scope="session")
def live_model() -> Iterator[LiveModel]:
    base_url = os.environ.get("ARCHLAB_LLM_BASE_URL", "")
    model = os.environ.get("ARCHLAB_LLM_MODEL", "")
    if not base_url or not model:
        why = os.environ.get("ARCHLAB_LLM_DOWN_REASON", "")
        pytest.skip(
            "the local model server is not up (ARCHLAB_LLM_BASE_URL/ARCHLAB_LLM_MODEL unset): "
            + (why or 'eval "$(bash scripts/llm-up.sh | sed s/^/export\\ /)"')
        )
    live = LiveModel(base_url, model)
    _LIVE.append(live)
    yield live


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if item.get_closest_marker("llm_live") and (rep.when == "call" or rep.skipped):
        _RESULTS[item.nodeid] = (rep.outcome, rep.duration)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    t = terminalreporter
    counts: dict[str, int] = {}
    for outcome, _ in _RESULTS.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    seconds = sum(s for _, s in _RESULTS.values())
    where = f" against {_LIVE[0].model} at {_LIVE[0].base_url}" if _LIVE else ""
    t.write_sep("=", "llm_live (real local model)")
    t.write_line(
        f"llm_live: {len(_RESULTS)} tests ("
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + f") in {seconds:.0f} s{where}"
    )
    for live in _LIVE:
        for line in live.outcomes:
            t.write_line(f"  {line}")


def elapsed_since(t0: float) -> float:
    return time.perf_counter() - t0
