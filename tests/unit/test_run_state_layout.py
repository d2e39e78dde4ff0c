"""Issue 22, by reading the source: a run's state lives in two places (the store and the
journal) and test scaffolding lives under tests/, not in the product packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("launcher", "nas", "slurm", "store", "analysis")
# the one place the product names a test module: the ARCHLAB_TEST_EVALUATOR hook, imported
# only when the variable is set (the fault tests count trainings with it)
TEST_HOOK = "launcher/build.py"


def _sources() -> list[Path]:
    return sorted(p for pkg in PRODUCT for p in (REPO / pkg).rglob("*.py"))


def test_no_run_state_file_besides_the_journal_and_the_store() -> None:
    """The LLM memo file and the submit-intent file are named (as strings) only where an
    older run's are imported."""
    readers = {"nas/llm/memo.py", "nas/controller/submit_intent.py"}  # the one-time imports
    hits = sorted(
        str(p.relative_to(REPO))
        for p in _sources()
        if re.search(r"[\"']llm_memo\.jsonl[\"']|[\"']submit_intent\.json[\"']", p.read_text())
    )
    assert set(hits) <= readers, hits


def test_no_test_scaffolding_in_the_product() -> None:
    names = [str(p.relative_to(REPO)) for p in _sources()
             if re.fullmatch(r"testing\w*|fixtures|scripted\w*", p.stem)]  # fmt: skip
    assert not names, names
    imports = [
        f"{p.relative_to(REPO)}:{i}"
        for p in _sources()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.match(r"\s*(from|import)\s+tests\b", line) and str(p.relative_to(REPO)) != TEST_HOOK
    ]
    assert not imports, imports
    moved = ("counting_evaluator", "cluster_calls", "scripted_openai_server")
    assert all((REPO / "tests" / "support" / f"{m}.py").exists() for m in moved)
