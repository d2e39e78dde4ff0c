"""``archlab report`` end to end on fixture runs (full, 500-candidate benchmark, plain)."""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from html.parser import HTMLParser

import pytest

from analysis.fixtures import write_fixture_run
from analysis.report import NO_DATA, build_report
from analysis.source import RunSource

ALL_PLOTS = {
    "best_so_far",
    "acc_vs_params",
    "acc_vs_flops",
    "learning_curves",
    "tree",
    "archive",
    "principles",
    "failures",
    "llm_cost",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.sections: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "section":
            self.sections.append(a.get("id") or "")
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v.startswith(("http:", "https:", "//")):
                self.external.append(v)
        if tag in ("script", "link"):
            self.external.append(tag)


def _parse(path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def test_full_run_renders_every_plot_self_contained(root, tmp_path):
    run = RunSource.open(write_fixture_run(root, profile="full", candidates=80))
    res = build_report(run, out_dir=tmp_path / "rep")
    assert {p.name for p in res.plots} == ALL_PLOTS
    assert res.empty_sections == []
    for name in ALL_PLOTS:
        assert (tmp_path / "rep" / f"{name}.png").stat().st_size > 5000
        assert (tmp_path / "rep" / f"{name}.svg").stat().st_size > 5000
    page = _parse(res.index)
    assert page.external == []  # opens offline: no CDN, no scripts, no stylesheets
    assert len(page.imgs) == len(ALL_PLOTS)
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for sid in (
        "summary",
        "best-so-far",
        "pareto",
        "learning-curves",
        "tree",
        "archive",
        "principles",
        "failures",
        "llm-cost",
        "leaderboard",
        "comparison",
        "config",
    ):
        assert sid in page.sections
    text = res.index.read_text()
    assert NO_DATA not in text
    assert "config.yaml" in text and "Keep at least one 3x3 convolution" in text


def test_plain_run_says_which_sections_have_no_data(root, tmp_path):
    run = RunSource.open(write_fixture_run(root, profile="plain", candidates=5))
    res = build_report(run, out_dir=tmp_path)
    assert set(res.empty_sections) == {"tree", "archive", "principles", "llm-cost"}
    text = res.index.read_text()
    assert text.count(NO_DATA) == 4
    assert "no failed evaluations in this run" in text
    assert {p.name for p in res.plots} == {
        "best_so_far",
        "acc_vs_params",
        "acc_vs_flops",
        "learning_curves",
    }


def test_benchmark_run_of_500_candidates_is_fast(root, tmp_path):
    run = RunSource.open(
        write_fixture_run(root, profile="benchmark", candidates=500, strategy="rea")
    )
    cpu0, t0 = time.process_time(), time.monotonic()
    res = build_report(run, out_dir=tmp_path)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    # CPU time: the wall clock of a loaded CI machine says little about the report itself
    assert cpu < 10.0, f"report of 500 candidates took {cpu:.1f} s CPU ({wall:.1f} s wall)"
    assert {"best_so_far", "acc_vs_params", "acc_vs_flops", "learning_curves", "failures"} <= {
        p.name for p in res.plots
    }
    assert "… and 475 more" in res.index.read_text()


def test_cli_report_with_compare_and_named_query(root, tmp_path, capsys):
    from launcher.cli import main

    a = write_fixture_run(root / "cli", profile="full", candidates=40, seed=3)
    b = write_fixture_run(
        root / "cli", profile="benchmark", candidates=40, seed=4, strategy="random"
    )
    rc = main(
        [
            "report",
            a.name,
            "--compare",
            str(b),
            "--runs-root",
            str(a.parent),
            "-o",
            str(tmp_path / "cmp"),
        ]
    )
    assert rc == 0
    assert "index.html" in capsys.readouterr().out
    html = (tmp_path / "cmp" / "index.html").read_text()
    assert f"Compared with: {b.name}" in html
    # the comparison table lists both runs
    table = html[html.index('id="comparison"') : html.index('id="config"')]
    assert a.name in table and b.name in table
    assert main(["sql", str(a), "--query", "leaderboard", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["rank", "run_id", "candidate_id"] and len(rows) == 41
    assert main(["sql", str(a), "--query", "nope"]) == 2
    assert re.search(r"named queries are: .*leaderboard", capsys.readouterr().err)
