"""A NADER run in edits mode (strategy.nader.answer=edits) against the scripted server: the
Modifier answers with edit lists, the code applies and fixes them, the parent's
stem/downsample are kept without a derive call, and the fixes are on the candidates' origin.

Why the scripted stand-in server: it answers the edit form deterministically, with faults
(prose, a node that does not exist) and edits that need the code's channel fixes, so every
path of the edit mode runs over real HTTP with the real client."""

from __future__ import annotations

import re
from pathlib import Path

from nas.llm import LLMClient
from tests.support.nader_scenario import run_scenario
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer

RUN = "nader-test"


def test_a_nader_run_answers_with_edits(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([], responder=ScriptedDesignerLLM(fault_every=2)) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        temperature=0.0, seed=0, max_retries=0)  # fmt: skip
        _summary, strategy, store = run_scenario(tmp_path, llm, budget=6, answer="edits",
                                                 max_calls_per_design=3)  # fmt: skip
        requests = list(srv.requests)
    tasks = [re.search(r"^Task: (\w+)", str(r["messages"][-1]["content"]), re.M) for r in requests]
    names = [t.group(1) for t in tasks if t]
    assert "modifier_edits" in names and "modifier" not in names
    assert "modifier_derive" not in names  # the parent's stem/downsample fit: no derive call
    edits_prompt = next(
        str(r["messages"][-1]["content"]) for r in requests
        if "Task: modifier_edits\n" in str(r["messages"][-1]["content"])
    )  # fmt: skip
    # the form with placeholders, no concrete edit the model could copy (modifier_edits@2)
    assert "Choose the operations and node numbers" in edits_prompt
    assert "Example" not in edits_prompt
    cands = store.read("candidates", RUN).to_pylist()
    made = [c for c in cands if c["origin_agent"] == "modifier"]
    assert made and all(c["origin_prompt"] == "modifier_edits@3" for c in made)
    fixed = [c for c in made if "fixed by the code: 1x1 Conv2d" in (c["origin_fallback"] or "")]
    assert fixed, [c["origin_fallback"] for c in made]
    trials = {t["candidate_id"]: t for t in store.read("trials", RUN).to_pylist()}
    assert any(trials[c["candidate_id"]]["state"] == "COMPLETE" for c in fixed)
    # faults went back as repairs against the original block, never past the call cap
    calls = store.read("llm_calls", RUN).to_pylist()
    per_cand: dict[str, int] = {}
    for c in calls:
        if c["agent"] == "modifier":
            per_cand[c["candidate_id"]] = per_cand.get(c["candidate_id"], 0) + 1
    assert max(per_cand.values()) <= 3
    assert any(c["prompt_id"] == "modifier_edits_repair@1" for c in calls)
    assert strategy.modifier.answer == "edits"


def test_the_nad_bench_runs_in_edits_mode(tmp_path: Path) -> None:
    import argparse

    from launcher.commands.bench_nad import register_nad
    from nas.agents.nad_bench import parse_tasks, run_bench

    sub = argparse.ArgumentParser().add_subparsers()
    args = register_nad(sub).parse_args(["--mode", "record", "--tasks", "real5", "--answer",
                                         "edits", "--max-calls-per-design", "3"])  # fmt: skip
    assert (args.answer, args.max_calls_per_design, args.think) == ("edits", 3, False)
    with ScriptedOpenAIServer([], responder=ScriptedDesignerLLM(fault_every=2)) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        temperature=0.0, seed=0, max_retries=0)  # fmt: skip
        report = run_bench(llm, tasks=parse_tasks(args.tasks), answer=args.answer,
                           max_calls_per_design=args.max_calls_per_design)  # fmt: skip
        requests = list(srv.requests)
    assert len(report.results) == 5
    assert sum(r.executable for r in report.results) >= 4
    assert all(r.turns <= 3 for r in report.results)
    mod = [str(r["messages"][-1]["content"]) for r in requests]
    assert any(m.startswith("Task: modifier_edits\n") for m in mod)
    assert not any(m.startswith(("Task: modifier\n", "Task: modifier_derive")) for m in mod)


def test_a_design_at_its_call_cap_is_an_invalid_row_saying_so(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([], responder=ScriptedDesignerLLM(fault_every=1)) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        temperature=0.0, seed=0, max_retries=0)  # fmt: skip
        _summary, _strategy, store = run_scenario(tmp_path, llm, budget=2, answer="edits",
                                                  max_calls_per_design=1)  # fmt: skip
    rows = store.read("trials", RUN).to_pylist()
    invalid = [t for t in rows if t["state"] == "INVALID"]
    assert invalid, [t["state"] for t in rows]
    reasons = [str(t["error"] or "") for t in invalid]
    assert all("design cap reached: 1 calls made; the cap is 1 per design" in r for r in reasons)


def test_archlab_bench_nad_records_in_edits_mode_through_the_composition_root(
    tmp_path: Path,
) -> None:
    """``archlab bench nad --answer edits``: the client is built by ``launcher.build.build_llm``
    from the flags (as every CLI's is), the Modifier answers with edits, and the run's JSON
    and the cassette record the answer form and the caps it ran with."""
    import argparse
    import json

    from launcher.commands.bench_nad import register_nad

    out, cassette = tmp_path / "nad.json", tmp_path / "cassette.json"
    with ScriptedOpenAIServer([], responder=ScriptedDesignerLLM(fault_every=2)) as srv:
        args = register_nad(argparse.ArgumentParser().add_subparsers()).parse_args(
            ["--mode", "record", "--base-url", srv.base_url, "--cassette", str(cassette),
             "--tasks", "resnet_basic:se_attention:micro", "--answer", "edits",
             "--max-calls-per-design", "3", "--http-retries", "0", "--json", str(out)]
        )  # fmt: skip
        assert args.func(args) == 0
        requests = list(srv.requests)
    assert any(str(r["messages"][-1]["content"]).startswith("Task: modifier_edits\n")
               for r in requests)  # fmt: skip
    data = json.loads(out.read_text())
    settings = data["settings"]
    assert (settings["answer"], settings["max_calls_per_design"], settings["think"]) == (
        "edits", 3, False,
    )  # fmt: skip
    assert len(data["tasks"]) == 1 and data["tasks"][0]["turns"] <= 3
    recorded = json.loads(cassette.read_text())["recorded_with"]
    assert recorded["answer"] == "edits"
