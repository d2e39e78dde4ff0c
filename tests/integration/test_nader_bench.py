"""The NAD benchmark in offline and replay mode."""

from __future__ import annotations

import json
from pathlib import Path

from nas.agents.nad_bench import run_bench
from nas.llm import LLMClient

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def test_nad_bench_offline() -> None:
    r = run_bench(None, seeds=("resnet_basic", "convnext"))
    s = r.summary()
    assert s["tasks"] == 48 and s["all"]["executable"] == 1.0 and s["all"]["tokens_per_task"] == 0


REAL = CASSETTES / "nad_bench_real.json"
# what Qwen2.5-Coder-1.5B-Instruct did on the 5 seed blocks (bench/results/nad_real.md):
# (seed, executable, quality vs reference, turns, repaired)
REAL_OUTCOMES = [
    # FILLED FROM THE RECORDED RUN
]


def test_nad_bench_replays_what_the_real_model_did() -> None:
    """The NAD bench over the answers a real local model gave (recorded with ``--mode
    record`` against llama-cpp-python serving Qwen2.5-Coder-1.5B-Instruct Q4_K_M): the
    cassette says who recorded it and with which settings; replaying it with those settings
    gives the recorded outcome, task by task."""
    data = json.loads(REAL.read_text(encoding="utf-8"))
    meta = data["recorded_with"]
    assert meta["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert "Q4_K_M" in meta["note"] and "n_ctx 8192" in meta["note"]
    models = {e["response"]["model"] for v in data["entries"].values() for e in v
              if e.get("response")}  # fmt: skip
    assert models and all("qwen2.5-coder-1.5b" in m for m in models)
    llm = LLMClient(meta["model"], mode="replay", cassette=REAL,
                    temperature=meta["temperature"], seed=meta["seed"])  # fmt: skip
    r = run_bench(llm, tasks=tuple((a, b, c) for a, b, c in meta["tasks"]),
                  retries=meta["retries"], max_tokens=meta["max_tokens"],
                  repair_temperature=meta["repair_temperature"],
                  context_tokens=meta["context_tokens"])  # fmt: skip
    got = [(t.seed, t.executable, t.quality, t.turns, t.repaired) for t in r.results]
    assert got == REAL_OUTCOMES
    assert all(t.tokens_in > 1000 for t in r.results)  # the model's own token counts
    assert llm.usage.calls == sum(len(v) for v in data["entries"].values())
