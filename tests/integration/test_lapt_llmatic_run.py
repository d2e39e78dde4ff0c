"""``archlab launch configs/{lapt,llmatic}_nb201.yaml --cluster inprocess`` end to end on the
NAS-Bench-201 table: the controller stores the strategies' ``principles``/``archive`` events
(idempotently across a restart restored from the store) and ``archlab report`` draws the principle
history and the archive heatmap from them (not the derived fallback)."""

from __future__ import annotations

import json
import shutil
import time
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest

from analysis.report import build_report
from launcher.build import open_run_source
from launcher.cli import main
from store.open import open_store
from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.integration


def _launch(config: str, root: Path, *overrides: str) -> Path:
    table = shared_path("data", "nb201.parquet")
    t0 = time.monotonic()
    rc = main([
        "launch", str(REPO / "configs" / config), f"experiment.run_root={root}",
        f"space.table={table}", "budget.candidates=30", "executor.poll_interval_s=0.05",
        *overrides, "--cluster", "inprocess",
    ])  # fmt: skip
    assert rc == 0
    assert time.monotonic() - t0 < 20
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


def _events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    store = open_store(str(run_dir / "tables"))
    rows = [r for r in store.read("events", run_dir.name).to_pylist() if r["kind"] == kind]
    rows.sort(key=lambda r: (r["created_at"], r["event_id"]))
    return [json.loads(r["payload"]) for r in rows]


def test_lapt_run_stores_principles_and_the_report_draws_them(tmp_path: Path) -> None:
    table = shared_path("data", "nb201.parquet")
    run_dir = _launch("lapt_nb201.yaml", tmp_path / "runs", f"strategy.lapt.source_table={table}")
    events = _events(run_dir, "principles")
    assert events[0]["iteration"] == 0 and events[0]["source"] == "imagenet16"
    # periodic adaptations every 10 results, plus a widening whenever the refined space
    # has been evaluated completely (nothing better can be found inside it)
    periodic = [e["iteration"] for e in events if e["iteration"] % 10 == 0]
    assert periodic == [0, 10, 20, 30]
    for e in events:
        if e["iteration"] % 10:
            assert e["source"] == "widened"
    assert all(e["principles"] and e["space_size"] >= 1 for e in events)
    assert events[0]["learner"] == "statistical-principle-learner"

    # a restart without snapshots restores the strategy from the store: events stored once
    shutil.rmtree(run_dir / "state")
    assert main(["resume", run_dir.name, "budget.candidates=40",
                 "--runs-root", str(tmp_path / "runs"), "--cluster", "inprocess"]) == 0  # fmt: skip
    again = _events(run_dir, "principles")
    first = sorted((e["iteration"], e["version"]) for e in events)
    assert sorted((e["iteration"], e["version"]) for e in again)[: len(first)] == first
    assert [e["iteration"] for e in again if e["iteration"] > 30 and e["iteration"] % 10 == 0] == [
        40
    ]

    res = build_report(open_run_source(run_dir), out_dir=tmp_path / "report")
    assert "principles" in {f.id for f in res.figures}
    assert "principles" not in res.empty_sections
    html = res.index.read_text()
    assert "Iteration 0" in html and "Iteration 40" in html and "imagenet16" in html
    assert html_escape(events[0]["principles"][0]) in html


def test_llmatic_run_stores_archives_and_the_report_draws_them(tmp_path: Path) -> None:
    run_dir = _launch("llmatic_nb201.yaml", tmp_path / "runs", "strategy.llmatic.init_size=8")
    snaps = _events(run_dir, "archive")
    assert [(e["archive"], e["iteration"]) for e in snaps] == [
        (a, i) for i in (10, 20, 30) for a in ("network", "prompt")
    ]
    net = snaps[-2]
    store = open_store(str(run_dir / "tables"))
    ids = {r["candidate_id"] for r in store.read("candidates", run_dir.name).to_pylist()}
    assert len(net["cells"]) >= 3 and {c["candidate_id"] for c in net["cells"]} <= ids
    res = build_report(open_run_source(run_dir), out_dir=tmp_path / "report")
    assert "archive-network" in {f.id for f in res.figures}
    assert "archive" not in res.empty_sections
    html = res.index.read_text()
    assert "derived from the results" not in html
    assert "Archives per iteration (LLMatic)" in html


def test_lapt_llm_run_replays_the_real_model_and_accounts_its_calls(tmp_path: Path) -> None:
    """A LAPT run with the LLM learner as the project's local model answered it
    (``tests/fixtures/llm/lapt_run_real.json``): 4 calls, each an ``llm_calls`` row; the
    model's widening answer used op id 5 (the space has 0..4), so that step fell back to the
    statistical learner, with the reason in the event the report draws."""
    from tests.fixtures.llm.record_real_cassettes import LAPT_OVERRIDES, MODEL

    cassette = REPO / "tests" / "fixtures" / "llm" / "lapt_run_real.json"
    table = shared_path("data", "nb201.parquet")
    run_dir = _launch("lapt_nb201.yaml", tmp_path / "runs", f"strategy.lapt.source_table={table}",
                      *LAPT_OVERRIDES, f"llm.model={MODEL}", "llm.mode=replay",
                      f"llm.cassette={cassette}",
                      "strategy.lapt.evidence_floor=false")  # recorded before it  # fmt: skip
    store = open_store(str(run_dir / "tables"))
    calls = sorted(store.read("llm_calls", run_dir.name).to_pylist(), key=lambda r: r["created_at"])
    assert [c["prompt_id"] for c in calls] == [
        "lapt_principles@2", "lapt_update@2", "lapt_widen@2", "lapt_update@2",
    ]  # fmt: skip
    assert {r["agent"] for r in calls} == {"lapt"} and {r["status"] for r in calls} == {"ok"}
    assert all(c["cache_hit"] and c["tokens_in"] > 0 for c in calls)
    events = sorted(_events(run_dir, "principles"), key=lambda e: e["iteration"])
    assert [(e["iteration"], e["source"], e["learner"]) for e in events] == [
        (0, "imagenet16", "llm-principle-learner"),
        (10, "updated", "llm-principle-learner"),
        (20, "widened", "statistical-principle-learner"),
        (30, "updated", "llm-principle-learner"),
    ]
    assert "'edge 3<-1': 5 is not a choice" in events[2]["note"]


def test_lapt_refuses_to_learn_from_the_target_task(tmp_path: Path, capsys: Any) -> None:
    table = shared_path("data", "nb201.parquet")
    rc = main(["launch", str(REPO / "configs" / "lapt_nb201.yaml"),
               f"experiment.run_root={tmp_path}", f"space.table={table}",
               "strategy.lapt.source_table=", "strategy.lapt.source_dataset=cifar100",
               "--cluster", "inprocess"])  # fmt: skip
    assert rc == 2
    assert "must not learn its principles from the target task" in capsys.readouterr().err
