"""The report's figures (analysis/interactive.py) from a fixture run: every figure has
traces with hover data and sane axes; no data means no figure; trees collapse."""

from __future__ import annotations

import json

import pytest

from analysis import interactive as ix
from analysis.data import ArchiveSnapshot, TreeNode, collect
from launcher.build import open_run_source
from tests.support.synthetic_run import write_fixture_run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    src = open_run_source(
        write_fixture_run(tmp_path_factory.mktemp("fx"), profile="full", candidates=60)
    )
    con = src.connect()
    try:
        return collect(con, src.run_id)
    finally:
        con.close()


def _check(f: ix.Figure | None, fid: str) -> ix.Figure:
    assert f is not None and f.id == fid
    assert f.data and f.points > 0
    for t in f.data:
        assert t.get("hoverinfo") == "skip" or t.get("hovertemplate"), (fid, t.get("name"))
    json.dumps(f.spec())  # plain JSON for the page
    return f


def test_every_figure_of_a_full_run(data) -> None:
    runs = {"r": data.best_so_far}
    bsf = _check(ix.fig_best_so_far(runs, 0.1), "best-so-far")
    assert bsf.layout["xaxis"]["tickformat"] == "d"  # evaluations are counts
    _check(ix.fig_acc_vs_cost(data.leaderboard, "params"), "acc-vs-params")
    _check(ix.fig_acc_vs_cost(data.leaderboard, "flops"), "acc-vs-flops")
    _check(ix.fig_learning_curves(data.curves), "learning-curves")
    _check(ix.fig_tree(data.tree), "tree")
    by_name: dict[str, list[ArchiveSnapshot]] = {}
    for a in data.archive_history:
        by_name.setdefault(a.name, []).append(a)
    assert set(by_name) == {"network", "prompt"} and len(by_name["network"]) > 1
    arch = _check(ix.fig_archive_history(by_name["network"]), "archive-network")
    assert len(arch.data) == len(arch.layout["sliders"][0]["steps"])  # a heatmap per iteration
    assert sum(t["visible"] for t in arch.data) == 1  # the last one shows
    _check(ix.fig_principles(data.principles), "principles")
    fails = _check(ix.fig_failures(data.failures_by_kind), "failures")
    assert fails.layout["xaxis"]["tickformat"] == "d"
    _check(ix.fig_llm_cost(data.llm_calls), "llm-cost")


def test_table_run_test_after_selection_is_drawn() -> None:
    rows = [{"eval_index": i, "candidate_id": f"c{i}", "state": "COMPLETE", "val_acc": 0.5 + i / 100,
             "best_val": 0.5 + i / 100, "best_test": None, "best_candidate_id": f"c{i}",
             "is_improvement": True} for i in range(1, 6)]  # fmt: skip
    f = ix.fig_best_so_far({"r": rows}, None, {"c3": 0.7, "c5": 0.8})
    assert f is not None
    dotted = [t for t in f.data if t.get("line", {}).get("dash") == "dot"]
    assert dotted and dotted[0]["y"][-1] == 0.8 and "after selection" in dotted[0]["name"]


def test_no_data_means_no_figure() -> None:
    assert ix.fig_best_so_far({"r": []}, 0.1) is None
    assert ix.fig_acc_vs_cost([], "flops") is None
    assert ix.fig_learning_curves([]) is None
    assert ix.fig_tree([]) is None
    assert ix.fig_archive_history([]) is None
    assert ix.fig_principles([]) is None
    assert ix.fig_failures([]) is None
    assert ix.fig_llm_cost([]) is None


def test_tree_survives_cycles_orphans_and_depth() -> None:
    nodes = [TreeNode("a", "b", "", 0.5, "COMPLETE"), TreeNode("b", "a", "", 0.6, "COMPLETE"),
             TreeNode("c", "missing", "", None, "FAILED"), TreeNode("d", "c", "x", 0.7, "COMPLETE")]  # fmt: skip
    assert _check(ix.fig_tree(nodes), "tree").points == 4
    chain = [TreeNode("n0", None, "", 0.5, "COMPLETE")]
    chain += [
        TreeNode(f"n{i}", f"n{i - 1}", "", 0.5 + i / 4000, "COMPLETE") for i in range(1, 1500)
    ]
    kept, hidden = ix.collapse_tree(chain, 50)
    assert len(kept) == 50 and hidden == 1450 and kept[-1].candidate_id == "n1499"
    assert _check(ix.fig_tree(chain), "tree").points == 50


def test_pareto_front() -> None:
    pts = [(1, 0.5, 0), (2, 0.4, 1), (3, 0.7, 2), (3, 0.6, 3), (5, 0.7, 4), (6, 0.9, 5)]
    assert ix._pareto_max(pts) == [0, 2, 5]


def _rung(cid: str, epochs: int, value: float, promote: bool, nxt: int, n: int) -> dict:
    return {"candidate_id": cid, "epochs": epochs, "value": value, "promote": promote,
            "next_epochs": nxt, "rank": 1, "competitors": 2, "n": n}  # fmt: skip


def test_promotion_plot_greys_stopped_candidates_and_ends_at_full_fidelity():
    """Issue 25: one line per candidate through its rungs; stopped ones grey, the ones
    trained to the end reach the full-fidelity value; a repeated or malformed rung row
    (hostile store content) is counted once / left out; the per-rung table counts them."""
    from analysis.data import rung_rows, rung_summary

    payloads = [
        _rung("a", 1, 0.5, True, 3, 0),
        _rung("b", 1, 0.4, False, 0, 1),
        _rung("a", 3, 0.7, True, 9, 2),
        _rung("c", 1, 0.6, True, 3, 3),
        _rung("b", 1, 0.4, False, 0, 4),  # the same decision stored twice
        {"candidate_id": "x", "epochs": "many"},
        {"epochs": 1},  # malformed: left out
    ]
    rungs = rung_rows(payloads)
    assert [(r["candidate_id"], r["epochs"]) for r in rungs] == [
        ("a", 1), ("b", 1), ("a", 3), ("c", 1)]  # fmt: skip
    assert rung_summary(rungs) == [
        {"rung_epochs": 1, "reached": 3, "promoted": 2, "stopped": 1, "best_val": 0.6,
         "median_val": 0.5},
        {"rung_epochs": 3, "reached": 1, "promoted": 1, "stopped": 0, "best_val": 0.7,
         "median_val": 0.7},
    ]  # fmt: skip
    f = _check(ix.fig_promotions(rungs, {"a": 0.8}), "promotions")
    by = {t["name"].split(" (")[0]: t for t in f.data}
    assert set(by) == {"stopped at a rung", "trained to full fidelity", "promoted, still training"}
    assert by["stopped at a rung"]["marker"]["color"] == "#b0b0b0"
    assert by["trained to full fidelity"]["x"] == [1, 3, 9, None]
    assert by["trained to full fidelity"]["y"] == [0.5, 0.7, 0.8, None]
    assert by["promoted, still training"]["x"] == [1, None] and f.points == 5
    assert f.layout["xaxis"]["tickvals"] == [1, 3, 9]
    assert ix.fig_promotions([], {}) is None
