"""``archlab report`` end to end on fixture runs (full, 5,000-candidate benchmark, plain):
an interactive page (plotly.js embedded, no CDN), method sections only where they apply,
scales from the bulk of the data, and --compare warnings."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from analysis.interactive import collapse_tree, int_axis, robust_range
from analysis.report import NO_DATA, build_report
from launcher.build import open_run_source
from tests.support.synthetic_run import write_fixture_run

FULL_FIGURES = {
    "best-so-far",
    "acc-vs-params",
    "acc-vs-flops",
    "learning-curves",
    "tree",
    "archive-network",
    "archive-prompt",
    "principles",
    "failures",
    "llm-cost",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.external: list[str] = []
        self.plots: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "div" and a.get("class") == "plot":
            self.plots.append(a.get("id") or "")
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v.startswith(("http:", "https:", "//")) or (tag == "script" and key in a):
                self.external.append(v)
        if tag == "link":
            self.external.append("link")
        if tag == "script" and "src" not in a:
            self.inline_scripts += 1


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _figure_specs(text: str) -> list[dict]:
    m = re.search(r'<script type="application/json" id="fig-data">(.*?)</script>', text, re.S)
    assert m
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def test_full_run_is_interactive_and_self_contained(root, tmp_path):
    run = open_run_source(write_fixture_run(root, profile="full", candidates=120))
    res = build_report(run, out_dir=tmp_path / "rep")
    assert {f.id for f in res.figures} == FULL_FIGURES
    assert res.empty_sections == []
    text = res.index.read_text()
    page = _parse(res.index)
    assert page.external == []  # opens offline: no CDN, no script files, no stylesheets
    assert "Plotly.newPlot" in text and "plotly.js v" in text  # the bundle itself is inline
    assert len(page.plots) == len(FULL_FIGURES)
    for spec in _figure_specs(text):  # every trace that shows points has hover text
        for trace in spec["data"]:
            assert trace.get("hoverinfo") == "skip" or trace.get("hovertemplate"), spec["id"]
    for sid in ("summary", "best-so-far", "pareto", "top-designs", "candidates", "tree",
                "archive", "principles", "failures", "llm-cost", "config"):  # fmt: skip
        assert sid in page.sections
    assert NO_DATA not in text
    assert "Keep at least one 3x3 convolution" in text and "config.yaml" in text
    assert text.count("<svg") >= 3  # the top designs' blocks, drawn
    # LAPT principles as a history of changes: each principle appears once, not per update
    assert text.count("Keep at least one 3x3 convolution") == 1
    assert '<li class="add">+ ' in text


def test_plain_run_leaves_out_method_sections(root, tmp_path):
    run = open_run_source(write_fixture_run(root, profile="plain", candidates=5, strategy="random"))
    res = build_report(run, out_dir=tmp_path)
    page = _parse(res.index)
    assert not {"tree", "archive", "principles"} & set(
        page.sections
    )  # not a NADER/LLMatic/LAPT run
    assert res.empty_sections == ["llm-cost"]
    text = res.index.read_text()
    assert text.count(NO_DATA) == 1 and "no failed evaluations in this run" in text
    assert {f.id for f in res.figures} == {"best-so-far", "acc-vs-params", "acc-vs-flops",
                                           "learning-curves"}  # fmt: skip


def test_5000_candidates_fast_and_bounded(root, tmp_path):
    run = open_run_source(
        write_fixture_run(root / "big", profile="benchmark", candidates=5000, strategy="rea")
    )
    cpu0, t0 = time.process_time(), time.monotonic()
    res = build_report(run, out_dir=tmp_path)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    # CPU time: the wall clock of a loaded CI machine says little about the report itself
    assert cpu < 10.0, f"report of 5,000 candidates took {cpu:.1f} s CPU ({wall:.1f} s wall)"
    text = res.index.read_text()
    assert len(text) < 12_000_000  # plotly.js (4.7 MB) + 5,000 rows of data
    m = re.search(r'<script type="application/json" id="cand-data">(.*?)</script>', text, re.S)
    assert m and len(json.loads(m.group(1))["rows"]) == 5000  # all sortable, paged by the page
    bsf = next(s for s in _figure_specs(text) if s["id"] == "best-so-far")
    lo, hi = bsf["layout"]["yaxis"]["range"]
    vals = sorted(v for t in bsf["data"] for v in t["y"] if v is not None)
    assert lo > vals[0]  # the few worst values do not stretch the axis ...
    assert sum(lo <= v <= hi for v in vals) >= 0.9 * len(vals)  # ... it spans the bulk


def test_scales_ticks_and_tree_collapse():
    vals = [0.1] + [0.88 + i * 0.0001 for i in range(500)]
    lo, hi = robust_range(vals)
    assert 0.85 < lo < 0.88 and hi > 0.929
    ax = int_axis(500, "evaluations")
    assert ax["tickformat"] == "d" and ax["dtick"] == 100
    assert int_axis(3, "x")["dtick"] == 1
    from analysis.data import TreeNode

    nodes = [TreeNode("n0", None, "", 0.5, "COMPLETE")]
    nodes += [TreeNode(f"n{i}", f"n{(i - 1) // 3}", "s", 0.5 + i / 1000, "COMPLETE")
              for i in range(1, 300)]  # fmt: skip
    kept, hidden = collapse_tree(nodes, 50)
    assert len(kept) <= 50 and hidden == 300 - len(kept)
    ids = {n.candidate_id for n in kept}
    assert "n299" in ids and "n0" in ids  # the best node and its whole lineage
    assert all(n.parent_id in ids for n in kept if n.parent_id)


def test_cli_report_with_compare_warns_and_named_query(root, tmp_path, capsys):
    from launcher.cli import main

    a = write_fixture_run(root / "cli", profile="full", candidates=40, seed=3)
    b = write_fixture_run(root / "cli", profile="benchmark", candidates=40, seed=4,
                          strategy="random")  # fmt: skip
    cfg = yaml.safe_load((b / "config.yaml").read_text())
    cfg["train"]["dataset"] = "cifar100"
    (b / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["report", a.name, "--compare", str(b), "--runs-root", str(a.parent),
               "-o", str(tmp_path / "cmp")])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr()
    assert "index.html" in out.out
    assert "different datasets" in out.err and "different metrics" in out.err
    html = (tmp_path / "cmp" / "index.html").read_text()
    assert f"Compared with: {b.name}" in html and 'class="warn"' in html
    table = html[html.index('id="comparison"') : html.index('id="config"')]
    assert a.name in table and b.name in table
    assert main(["sql", str(a), "--query", "leaderboard", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:4] == ["rank", "val_acc", "test_acc", "state"] and len(rows) == 41
    assert main(["sql", str(a), "--query", "nope"]) == 2
    assert re.search(r"named queries are: .*leaderboard", capsys.readouterr().err)
