"""Every report plot rendered from a fixture run; files checked (PNG not blank, SVG valid)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from analysis import plots
from analysis.data import ArchiveSnapshot, TreeNode, collect
from analysis.fixtures import write_fixture_run
from analysis.source import RunSource


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    src = RunSource.open(
        write_fixture_run(tmp_path_factory.mktemp("fx"), profile="full", candidates=60)
    )
    con = src.connect()
    d = collect(con, src.run_id)
    con.close()
    return d


def _check(p: plots.Plot | None, name: str) -> None:
    assert p is not None, name
    assert p.name == name and p.png.is_file() and p.svg.is_file()
    img = np.asarray(Image.open(p.png).convert("L"), dtype=float)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img.std() > 10, f"{name}.png looks blank"
    assert (img < 200).mean() > 0.01, f"{name}.png has almost no ink"
    root = ET.parse(p.svg).getroot()
    assert root.tag.endswith("svg")


def test_best_so_far(data, tmp_path):
    _check(plots.plot_best_so_far({data.run_id: data.best_so_far}, tmp_path), "best_so_far")
    two = {"a": data.best_so_far, "b": data.best_so_far[: len(data.best_so_far) // 2]}
    _check(plots.plot_best_so_far(two, tmp_path / "cmp"), "best_so_far")


def test_acc_vs_params_and_flops(data, tmp_path):
    _check(plots.plot_acc_vs_cost(data.leaderboard, "params", tmp_path), "acc_vs_params")
    _check(plots.plot_acc_vs_cost(data.leaderboard, "flops", tmp_path), "acc_vs_flops")


def test_learning_curves(data, tmp_path):
    _check(plots.plot_learning_curves(data.curves, tmp_path), "learning_curves")


def test_tree(data, tmp_path):
    _check(plots.plot_tree(data.tree, tmp_path), "tree")


def test_tree_survives_cycles_and_orphans(tmp_path):
    nodes = [
        TreeNode("a", "b", "", 0.5, "COMPLETE"),
        TreeNode("b", "a", "", 0.6, "COMPLETE"),
        TreeNode("c", "missing", "", None, "FAILED"),
        TreeNode("d", "c", "x", 0.7, "COMPLETE"),
    ]
    _check(plots.plot_tree(nodes, tmp_path), "tree")


def test_deep_tree_of_many_nodes(tmp_path):
    nodes = [TreeNode("n0", None, "", 0.5, "COMPLETE")]
    nodes += [
        TreeNode(f"n{i}", f"n{i - 1}", "", 0.5 + i / 4000, "COMPLETE") for i in range(1, 1500)
    ]
    _check(plots.plot_tree(nodes, tmp_path), "tree")


def test_archives(data, tmp_path):
    _check(plots.plot_archives(data.archives, tmp_path), "archive")
    derived = ArchiveSnapshot(
        "network (derived)",
        3,
        (4, 4),
        ("x", "y"),
        None,
        ((0, 0, 0.5, "a"), (3, 2, 0.9, "b")),
        derived=True,
    )
    _check(plots.plot_archives([derived], tmp_path / "d"), "archive")


def test_principles(data, tmp_path):
    _check(plots.plot_principles(data.principles, tmp_path), "principles")


def test_failures(data, tmp_path):
    _check(
        plots.plot_failures(data.failures_by_kind, data.failures_by_proposer, tmp_path), "failures"
    )


def test_llm_cost(data, tmp_path):
    _check(
        plots.plot_llm_cost(data.llm_calls, data.llm_by_agent, data.llm_per_improvement, tmp_path),
        "llm_cost",
    )


def test_no_data_means_no_plot(tmp_path):
    assert plots.plot_best_so_far({"r": []}, tmp_path) is None
    assert plots.plot_acc_vs_cost([], "flops", tmp_path) is None
    assert plots.plot_learning_curves([], tmp_path) is None
    assert plots.plot_tree([], tmp_path) is None
    assert plots.plot_archives([], tmp_path) is None
    assert plots.plot_principles([], tmp_path) is None
    assert plots.plot_failures([], [], tmp_path) is None
    assert plots.plot_llm_cost([], [], [], tmp_path) is None
    assert not list(tmp_path.iterdir())


def test_pareto_2d():
    pts = [(1, 0.5), (2, 0.4), (3, 0.7), (3, 0.6), (5, 0.7), (6, 0.9)]
    assert plots.pareto_2d(pts) == [(1, 0.5), (3, 0.7), (6, 0.9)]
