"""Crafted LLM answers (issue #23) through ``archlab demo`` and a restart by ``archlab
controller RUN``: each answer is an INVALID design with a recorded reason, found within
seconds; the run finishes, and its restart (which replays the stored answers from the
call memo) finishes too. The model is the scripted stand-in server: only it can answer
with 5 MB or 3,000 nested parentheses on demand."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from launcher.cli import main
from store.result_store import LocalResultStore
from store.schemas import TABLES
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.integration

HEAD = "##ResNetBasicBlock##\n0:input\n1:output\n"
TAIL = "0->2\n2->1\n"


def _answer(node: str, extra: str = "") -> str:
    return f"Here it is:\n```\n{HEAD}{node}\n{extra}{TAIL}```\n"


CRAFTED = {
    "nested parentheses": _answer("2:Conv2d(out_channels=" + "(" * 3000 + "C" + ")" * 3000 + ")"),
    "5,000-digit node index": _answer("2:ReLU", "9" * 5000 + ":ReLU\n"),
    "huge exponent": _answer("2:Conv2d(out_channels=C*1e9999999/1e9999999,kernel_size=3)"),
    "huge literal": _answer("2:Conv2d(out_channels=C*1e99999999,kernel_size=3)"),
    "300-node chain": _answer("2:ReLU", "".join(f"{i}:ReLU\n" for i in range(3, 303))),
    "5 MB answer": _answer("2:ReLU", "# " + "x" * 5_000_000 + "\n"),
    "10^9 channels": f"```\n{HEAD}2:Conv2d(out_channels=1000000000,kernel_size=3)\n"
    "3:BN\n4:Conv2d(out_channels=C,kernel_size=3)\n0->2\n2->3\n3->4\n4->1\n```",
}
REASONS = {
    "nested parentheses": "max_expr_depth",
    "5,000-digit node index": "max_literal_digits",
    "huge exponent": "max_literal_digits",
    "huge literal": "max_literal_digits",
    "300-node chain": "max_nodes",
    "5 MB answer": "max_answer_bytes",
    "10^9 channels": "max_size_factor",
}


class _Crafted:
    """The scripted designer, except that every modifier answer is the next crafted one."""

    def __init__(self) -> None:
        self.designer = ScriptedDesignerLLM(fault_every=0)
        self.order = list(CRAFTED.values())
        self.served = 0

    def __call__(self, req: dict[str, Any]) -> str:
        last = str(req["messages"][-1]["content"])
        m = re.search(r"^Task: (\w+)", last, re.M)
        if m and m.group(1) in ("modifier", "modifier_repair"):
            self.served += 1
            return self.order[(self.served - 1) % len(self.order)]
        return self.designer(req)


def _rows(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    store = LocalResultStore(run_dir / "tables")
    run_id = run_dir.name
    return {t: store.read(t, run_id).to_pylist() for t in TABLES}


def test_crafted_answers_are_invalid_rows_and_the_run_and_its_restart_finish(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_TEST_EVALUATOR", str(tmp_path / "work"))
    root = tmp_path / "runs"
    with ScriptedOpenAIServer(responder=_Crafted()) as srv:
        t0 = time.monotonic()
        rc = main(
            [
                "demo",
                "--quiet",
                f"experiment.run_root={root}",
                f"llm.base_url={srv.base_url}",
                "llm.max_retries=0",
                "strategy.nader.modifier_retries=0",
                "budget.candidates=2",
            ]
        )
        assert rc == 0
        assert time.monotonic() - t0 < 120
        (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
        first = _rows(run_dir)
        invalid = [r for r in first["trials"] if r["state"] == "INVALID"]
        reasons = " ".join(str(r["error"]) for r in invalid)
        for name, key in REASONS.items():
            assert key in reasons, (name, reasons[:2000])
        # an over-long answer is stored cut, never whole
        for c in first["candidates"]:
            assert len(c["arch"] or "") < 200_000
        # the restart replays what is stored and finishes, adding nothing
        assert main(["controller", str(run_dir), "--quiet"]) == 0
    again = _rows(run_dir)
    assert {t: len(r) for t, r in again.items()} == {t: len(r) for t, r in first.items()}
    # and the run's readers take the stored answers too
    assert main(["status", str(run_dir)]) == 0
    assert main(["report", str(run_dir), "-o", str(tmp_path / "report")]) == 0
    assert json.loads((run_dir / "manifest.json").read_text())["run_id"] == run_dir.name


def test_a_crafted_run_killed_mid_step_resumes_to_its_end(tmp_path):
    """The run is SIGKILLed after its second ask; the restart replays the stored (memoised)
    crafted answers through the parser again and finishes."""
    import os
    import signal
    import subprocess
    import sys

    from launcher.config import load_config
    from launcher.run import create_run
    from tests.conftest import REPO

    with ScriptedOpenAIServer(responder=_Crafted()) as srv:
        cfg = load_config(
            [str(REPO / "configs" / "demo.yaml")],
            [f"experiment.run_root={tmp_path / 'runs'}", f"llm.base_url={srv.base_url}",
             "llm.max_retries=0", "strategy.nader.modifier_retries=0", "budget.candidates=2"],
        )  # fmt: skip
        paths = create_run(cfg, cluster="inprocess")
        env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": str(tmp_path / "work"),
               "PYTHONPATH": str(REPO)}  # fmt: skip
        codes = []
        for fault in ("ask:2", ""):
            run_env = {**env, "ARCHLAB_FAULT": fault} if fault else env
            out = subprocess.run(
                [sys.executable, "-m", "launcher", "controller", str(paths.run_dir), "--quiet"],
                cwd=REPO, env=run_env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert "internal error" not in out.stderr, out.stderr[-2000:]
            codes.append(out.returncode)
    assert codes == [-signal.SIGKILL, 0]
    trials = _rows(paths.run_dir)["trials"]
    invalid = [r for r in trials if r["state"] == "INVALID"]
    assert invalid and all(r["error"] for r in invalid)
    assert "exhausted" in (paths.run_dir / "journal.jsonl").read_text().splitlines()[-1]
