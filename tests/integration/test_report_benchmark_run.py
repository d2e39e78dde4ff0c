"""`archlab report` on a real 500-candidate benchmark run: LLMatic (offline operators) on
NAS-Bench-201 through the controller with the table evaluator, then the report, opened in
headless Chromium: the best-so-far axis spans the bulk of the values, the candidate table
sorts, the page stays under ~6 screen heights; `best` prints the test accuracy after
selection and `compact` leaves at most 20 files per table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from launcher.cli import main
from tests.conftest import REPO, shared_path
from tests.integration.test_report_chromium import _chromium, check_rendered, selftest

pytestmark = pytest.mark.integration


def test_report_on_a_500_candidate_llmatic_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = shared_path("data", "nb201.parquet")
    rc = main(["launch", str(REPO / "configs" / "llmatic_nb201.yaml"), f"space.table={table}",
               f"experiment.run_root={tmp_path / 'runs'}", "budget.candidates=500",
               "--cluster", "inprocess"])  # fmt: skip
    assert rc == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert main(["best", str(run_dir)]) == 0
    best = capsys.readouterr().out
    assert "test_acc 0." in best and "table lookup after selection" in best, best
    # the controller compacted when the run stopped, and wrote a schema file for every table
    # the run never wrote (plain DuckDB can query them); `archlab compact` keeps it that way
    from store.schemas import TABLES

    for _ in range(2):
        tables = {t.name: list(t.rglob("*.parquet")) for t in (run_dir / "tables").iterdir()}
        assert set(tables) == set(TABLES), sorted(tables)
        assert all(1 <= len(f) <= 20 for f in tables.values()), {
            k: len(v) for k, v in tables.items()
        }
        assert main(["compact", str(run_dir)]) == 0
    out = tmp_path / "report"
    t0 = time.process_time()
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    assert time.process_time() - t0 < 30  # CPU seconds: the page is cheap even at 500
    html = (out / "index.html").read_text()
    assert "the run stored no 'archive' events" not in html  # from LLMatic's own events
    assert "Candidates (500)" in html
    assert 'id="tree"' not in html  # no NADER tree in an LLMatic run
    result = selftest(_chromium(), out / "index.html", tmp_path / "profile")
    check_rendered(result)
    assert result["sort"]["rows"] == 500
    assert result["height"] < 6 * 1000, result["height"]  # under ~6 screen heights
    lo, hi = result["best_so_far_range"]
    assert lo > result["sort"]["min"]  # one diverged candidate does not stretch the axis
    assert hi >= result["sort"]["max"]
