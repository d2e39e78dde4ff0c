"""The NAD benchmark in offline and replay mode."""

from __future__ import annotations

from pathlib import Path

from nas.agents.nad_bench import run_bench
from nas.llm import LLMClient

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def test_nad_bench_offline() -> None:
    r = run_bench(None, seeds=("resnet_basic", "convnext"))
    s = r.summary()
    assert s["tasks"] == 48 and s["all"]["executable"] == 1.0 and s["all"]["tokens_per_task"] == 0


def test_nad_bench_replay_first_seed() -> None:
    llm = LLMClient("gpt-4o-mini", mode="replay", cassette=CASSETTES / "nad_bench.json",
                    temperature=0.0, seed=0)  # fmt: skip
    r = run_bench(llm, seeds=("resnet_basic",))
    s = r.summary()
    assert s["tasks"] == 24
    assert 0.5 <= s["all"]["executable"] <= 1.0 and s["all"]["tokens_per_task"] > 0
    assert "| macro |" in r.to_markdown()
