"""`archlab report` on a real 500-candidate benchmark run: LLMatic (offline operators) on
NAS-Bench-201 through the controller with the table evaluator, then the report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from launcher.cli import main
from tests.conftest import REPO, shared_path

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
    out = tmp_path / "report"
    t0 = time.process_time()
    assert main(["report", str(run_dir), "-o", str(out)]) == 0
    assert time.process_time() - t0 < 30  # CPU seconds: the page is cheap even at 500
    html = (out / "index.html").read_text()
    for plot in ("best_so_far", "acc_vs_params", "acc_vs_flops", "archive", "tree"):
        png = out / f"{plot}.png"
        assert png.is_file() and png.stat().st_size > 5_000, plot
        assert (out / f"{plot}.svg").is_file(), plot
    assert html.count("data:image/png;base64,") >= 5  # self-contained: plots inline
    assert "the run stored no 'archive' events" not in html  # from LLMatic's own events
    assert "500" in html  # the leaderboard/summary counts the run's candidates
