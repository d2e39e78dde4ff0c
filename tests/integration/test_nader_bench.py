"""The NAD benchmark in offline and replay mode."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nas.agents.nad_bench import run_bench
from nas.llm import LLMClient

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def test_nad_bench_offline() -> None:
    r = run_bench(None, seeds=("resnet_basic", "convnext"))
    s = r.summary()
    assert s["tasks"] == 48 and s["all"]["executable"] == 1.0 and s["all"]["tokens_per_task"] == 0


REAL = CASSETTES / "nad_bench_real.json"  # recorded with modifier@3 (this code)
REAL_V2 = CASSETTES / "nad_bench_real_v2.json"  # the first run, modifier@2 (commit ade0dc0)
# what Qwen2.5-Coder-1.5B-Instruct did (bench/results/nad_real.md), task by task:
# (seed, executable, quality vs reference, turns, repaired)
REAL_OUTCOMES = [
    ("resnet_basic", False, False, 4, False),
    ("resnet_bottleneck", True, True, 2, False),
]


def _meta(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    meta: dict[str, Any] = data["recorded_with"]
    assert meta["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert "Q4_K_M" in meta["note"] and "n_ctx 8192" in meta["note"]
    models = {e["response"]["model"] for v in data["entries"].values() for e in v
              if e.get("response")}  # fmt: skip
    assert models and all("qwen2.5-coder-1.5b" in m for m in models)  # the server said so
    return meta


def test_nad_bench_replays_what_the_real_model_did() -> None:
    """The NAD bench over the answers a real local model gave (``--mode record`` against
    llama-cpp-python serving Qwen2.5-Coder-1.5B-Instruct Q4_K_M): the cassette says who
    recorded it with which settings; replaying it with them gives the recorded outcome."""
    meta = _meta(REAL)
    llm = LLMClient(meta["model"], mode="replay", cassette=REAL,
                    temperature=meta["temperature"], seed=meta["seed"])  # fmt: skip
    r = run_bench(llm, tasks=tuple((a, b, c) for a, b, c in meta["tasks"]),
                  retries=meta["retries"], max_tokens=meta["max_tokens"],
                  repair_temperature=meta["repair_temperature"],
                  context_tokens=meta["context_tokens"], answer_version=_version(meta))  # fmt: skip
    got = [(t.seed, t.executable, t.quality, t.turns, t.repaired) for t in r.results]
    assert got == REAL_OUTCOMES
    assert all(t.tokens_in > 1000 and not t.call_errors for t in r.results)  # model's counts


def test_the_real_models_first_answers_judged_by_todays_checks() -> None:
    """Each base-block answer of the first real run (modifier@2 prompts), parsed and checked
    as the Modifier does now: what a 1.5B model writes when asked to modify a block."""
    meta = _meta(REAL_V2)
    data = json.loads(REAL_V2.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    for v in data["entries"].values():
        for e in v:
            first = e["request"]["messages"][1]["content"]
            if not first.startswith("Task: modifier\n"):
                continue  # derive and reflector conversations
            seen[_judge(first, e["response"]["choices"][0]["message"]["content"])] += 1
    assert len(meta["tasks"]) == 5
    assert seen == REAL_V2_BASE_ANSWERS


def _judge(task: str, answer: str) -> str:
    from nas.agents.nader_strategy import _validate_base
    from nas.graph.block import BlockRole
    from nas.graph.hashing import canonical_hash
    from nas.prompts import PromptParseError, parse_block_answer

    orig = next(g for g in parse_block_answer(task).blocks.values() if g.role is BlockRole.BASE)
    try:
        ans = parse_block_answer(answer)
    except PromptParseError as e:
        return f"parse: {e.reason}"
    bases = [g for g in ans.blocks.values() if g.role is BlockRole.BASE]
    if len(bases) != 1:
        return "several blocks"
    if canonical_hash(bases[0].renamed(orig.name)) == canonical_hash(orig):
        return "unchanged"
    return "validator errors" if _validate_base(bases[0].renamed(orig.name)) else "valid"


REAL_V2_BASE_ANSWERS = Counter(
    {"validator errors": 6, "unchanged": 5, "valid": 2, "several blocks": 1}
)


RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def _version(meta: dict[str, Any]) -> int:
    """The answer version a cassette was recorded with: cassettes from before the setting
    used version 1; the first edits@2 runs wrote it as edit_form."""
    if "answer_version" in meta:
        return int(meta["answer_version"])
    return 2 if meta.get("edit_form") == "edits@2" else 1


def _replay_recorded(
    name: str, folder: str = "after2"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Replay ``<folder>/<name>_cassette.json`` with the settings it was recorded with; (the
    recorded task rows, the replayed ones)."""
    path = RESULTS / folder / f"{name}_cassette.json"
    meta = json.loads(path.read_text(encoding="utf-8"))["recorded_with"]
    assert meta["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    llm = LLMClient(meta["model"], mode="replay", cassette=path,
                    temperature=meta["temperature"], seed=meta["seed"])  # fmt: skip
    r = run_bench(llm, tasks=tuple((a, b, c) for a, b, c in meta["tasks"]),
                  retries=meta["retries"], max_tokens=meta["max_tokens"],
                  repair_temperature=meta["repair_temperature"],
                  context_tokens=meta["context_tokens"], answer=meta["answer"],
                  answer_version=_version(meta), change_first=meta.get("change_first", False),
                  block_reask=meta.get("block_reask", "block"),
                  think=meta["think"], max_calls_per_design=meta["max_calls_per_design"],
                  max_tokens_per_design=meta["max_tokens_per_design"])  # fmt: skip
    keys: tuple[str, ...] = ("seed", "transform", "executable", "quality", "turns", "tokens_in",
                             "tokens_out")  # fmt: skip
    want = json.loads((RESULTS / folder / f"{name}.json").read_text(encoding="utf-8"))["tasks"]
    if "asked" in want[0]:  # recorded since the done-as-asked check
        keys += ("asked",)
    got = [{k: getattr(t, k) for k in keys} for t in r.results]
    return [{k: w[k] for k in keys} for w in want], got


def test_nad_real5_in_both_answer_forms_replays_what_the_real_model_did() -> None:
    """NAD real5 on the real model after constrained answers (bench/results/after2/nad_*.md):
    each form's cassette replays to the recorded outcome, task by task."""
    want, got = _replay_recorded("nad_edits")
    assert got == want
    assert [t["executable"] for t in got] == [True, True, True, True, False]
    want, got = _replay_recorded("nad_block")
    assert got == want
    assert [t["executable"] for t in got] == [False, True, False, True, False]


def test_think_then_answer_measurement_replays() -> None:
    """Issue 24 item 4 (bench/results/think/): edit answers without and with the bounded
    'Plan:' line on five development tasks (disjoint from real5, where the choice was made:
    think stays off), then real5 with it; each cassette replays to its recorded outcome."""
    for name, executable in (
        ("dev_edits", [True] * 5),
        ("dev_edits_think", [True, True, True, False, True]),
        ("real5_edits_think", [True, False, True, True, True]),
    ):
        want, got = _replay_recorded(name, "think")
        assert got == want, name
        assert [t["executable"] for t in got] == executable, name


@pytest.mark.parametrize(
    ("name", "executable"),
    [
        ("dev_edits", [True] * 5),
        ("dev2_edits", [True] * 5),
        ("dev_change2", [False, True, True, True, True]),
        ("dev_block_v1", [True, False, True, False, False]),
        ("real5_edits", [True, True, False, True, True]),
    ],
)
def test_answer_version_2_measurements_replay(name: str, executable: list[bool]) -> None:
    """Issue 24, answer version 2 (bench/results/v2/): edits@2 on the development tasks,
    with and without the change-first line, block answers on them, then edits@2 on real5;
    each cassette replays to its recorded outcome, the done-as-asked column included."""
    want, got = _replay_recorded(name, "v2")
    assert got == want, name
    assert [t["executable"] for t in got] == executable, name


@pytest.mark.parametrize(
    ("name", "executable", "asked"),
    [
        ("dev2_edits3", [True] * 5, [True, True, True, True, False]),
        ("dev_edits3", [True, True, True, False, False], [False] * 5),
        ("real5_edits3", [True] * 5, [True, True, True, False, False]),
    ],
)
def test_answer_version_3_measurements_replay(
    name: str, executable: list[bool], asked: list[bool]
) -> None:
    """Issue 24, answer version 3 (bench/results/v3/): edits@3 — the kind of change named
    first — on the development tasks, then on real5 once; each cassette replays to its
    recorded outcome, done as asked included (the dropped variants' cassettes in op_first/,
    one_gate/ and no_examples/ were recorded with earlier heads and do not replay)."""
    want, got = _replay_recorded(name, "v3")
    assert got == want, name
    assert [t["executable"] for t in got] == executable, name
    assert [t["asked"] for t in got] == asked, name


@pytest.mark.parametrize(
    ("name", "executable", "asked"),
    [
        ("dev2_edits4", [True] * 5, [True, True, True, True, False]),
        ("dev_edits4", [True] * 5, [False, False, True, True, True]),
        ("real5_edits4", [True] * 5, [True, True, True, True, False]),
        ("dev2_block4", [True] * 5, [True, True, True, True, False]),  # block_reask=edits
        ("real5_block4", [True] * 5, [True, True, True, True, False]),
    ],
)
def test_answer_version_4_measurements_replay(
    name: str, executable: list[bool], asked: list[bool]
) -> None:
    """Issue 24, answer version 4 (bench/results/v4/): the kind asked first in a call of its
    own, one line per new module, odd kernels, gate maps projected — on the development
    tasks, then on real5 once; block answers with block_reask=edits (a whole block first,
    after an invalid one the proposal again as edits@4) on DEV2, then real5 once; each
    cassette replays to its recorded outcome, done as asked
    included (no_kind/ was recorded without the kind call and does not replay)."""
    want, got = _replay_recorded(name, "v4")
    assert got == want, name
    assert [t["executable"] for t in got] == executable, name
    assert [t["asked"] for t in got] == asked, name
