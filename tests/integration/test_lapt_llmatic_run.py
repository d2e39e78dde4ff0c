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
from analysis.source import RunSource
from launcher.cli import main
from nas.llm.testing_server import ScriptedOpenAIServer
from store.open import open_store
from tests.conftest import REPO, shared_path
from tests.integration.test_strategy_llm import LEARN, UPDATE_BAD, WIDEN, _task

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

    res = build_report(RunSource.open(run_dir), out_dir=tmp_path / "report")
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
    res = build_report(RunSource.open(run_dir), out_dir=tmp_path / "report")
    assert "archive-network" in {f.id for f in res.figures}
    assert "archive" not in res.empty_sections
    html = res.index.read_text()
    assert "derived from the results" not in html
    assert "Archives per iteration (LLMatic)" in html


def test_lapt_llm_run_accounts_its_calls(tmp_path: Path) -> None:
    def reply(req: dict[str, Any]) -> str:
        return {"lapt_principles": LEARN, "lapt_update": UPDATE_BAD, "lapt_widen": WIDEN}.get(
            _task(req), "?"
        )

    table = shared_path("data", "nb201.parquet")
    with ScriptedOpenAIServer(responder=reply) as srv:
        run_dir = _launch("lapt_nb201.yaml", tmp_path / "runs", f"strategy.lapt.source_table={table}",
                          "strategy.lapt.learner=llm", f"llm.base_url={srv.base_url}",
                          "llm.max_retries=0")  # fmt: skip
    store = open_store(str(run_dir / "tables"))
    calls = sorted(store.read("llm_calls", run_dir.name).to_pylist(), key=lambda r: r["created_at"])
    assert calls[0]["prompt_id"] == "lapt_principles@2" and len(calls) == 4
    assert {r["agent"] for r in calls} == {"lapt"} and {r["status"] for r in calls} == {"ok"}
    events = _events(run_dir, "principles")
    assert events[0]["learner"] == "llm-principle-learner"
    assert any("sep_conv_3x3" in e["note"] for e in events)  # the malformed update, recorded


def test_lapt_refuses_to_learn_from_the_target_task(tmp_path: Path, capsys: Any) -> None:
    table = shared_path("data", "nb201.parquet")
    rc = main(["launch", str(REPO / "configs" / "lapt_nb201.yaml"),
               f"experiment.run_root={tmp_path}", f"space.table={table}",
               "strategy.lapt.source_table=", "strategy.lapt.source_dataset=cifar100",
               "--cluster", "inprocess"])  # fmt: skip
    assert rc == 2
    assert "must not learn its principles from the target task" in capsys.readouterr().err
