"""Named queries over a synthetic run written through the real store (tests/support/synthetic_run.py)."""

from __future__ import annotations

import pytest

from analysis import queries
from analysis.data import collect
from analysis.source import connect_runs
from launcher.build import open_run_source
from tests.support.synthetic_run import write_fixture_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fx")
    full = open_run_source(write_fixture_run(root, profile="full", candidates=60, seed=1))
    plain = open_run_source(write_fixture_run(root / "other", profile="plain", candidates=6))
    return full, plain


@pytest.fixture(scope="module")
def con(runs):
    c = runs[0].connect()
    yield c
    c.close()


def test_every_named_query_is_a_file_and_runs(con):
    assert {
        "leaderboard",
        "best_so_far",
        "pareto_front",
        "failures_by_kind",
        "failures_by_proposer",
        "llm_cost_per_improvement",
        "strategy_comparison",
    } <= set(queries.names())
    for name in queries.names():
        assert (queries.QUERY_DIR / f"{name}.sql").is_file()
        rows = queries.fetch(con, name)
        assert rows, name


def test_unknown_query_lists_the_names():
    with pytest.raises(KeyError, match="leaderboard"):
        queries.load("nope")
    with pytest.raises(KeyError):
        queries.load("_views")


def test_leaderboard_orders_complete_by_val_then_failures(con):
    rows = queries.fetch(con, "leaderboard")
    assert len(rows) == 60 and [r["rank"] for r in rows] == list(range(1, 61))
    states = [r["state"] for r in rows]
    n_ok = states.count("COMPLETE")
    assert 0 < n_ok < 60 and all(s == "COMPLETE" for s in states[:n_ok])
    vals = [r["val_acc"] for r in rows[:n_ok]]
    assert vals == sorted(vals, reverse=True)


def test_best_so_far_is_monotone_and_marks_improvements(con):
    rows = queries.fetch(con, "best_so_far")
    assert [r["eval_index"] for r in rows] == list(range(1, len(rows) + 1))
    best = [r["best_val"] for r in rows if r["best_val"] is not None]
    assert best == sorted(best)
    ok_vals = [r["val_acc"] for r in rows if r["state"] == "COMPLETE"]
    assert best[-1] == pytest.approx(max(ok_vals), abs=1e-4)
    imps = [r for r in rows if r["is_improvement"]]
    assert len(imps) == len(set(r["best_val"] for r in imps)) >= 1
    # the incumbent's test accuracy is the test accuracy of the best-val candidate
    board = {r["candidate_id"]: r for r in queries.fetch(con, "leaderboard")}
    last = rows[-1]
    assert board[last["best_candidate_id"]]["test_acc"] == pytest.approx(
        last["best_test"], abs=1e-4
    )


def test_pareto_front_is_exactly_the_non_dominated_set(con):
    front = {r["candidate_id"] for r in queries.fetch(con, "pareto_front")}
    ok = [r for r in queries.fetch(con, "leaderboard") if r["state"] == "COMPLETE"]

    def dominated(a):
        return any(
            b is not a
            and b["val_acc"] >= a["val_acc"]
            and b["params"] <= a["params"]
            and b["flops"] <= a["flops"]
            and (
                b["val_acc"] > a["val_acc"] or b["params"] < a["params"] or b["flops"] < a["flops"]
            )
            for b in ok
        )

    # rounding of val_acc in the leaderboard can only merge ties, never invert an order
    expected = {r["candidate_id"] for r in ok if not dominated(r)}
    assert front and front >= expected
    best = max(ok, key=lambda r: r["val_acc"])
    assert best["candidate_id"] in front


def test_failures_add_up(con):
    board = queries.fetch(con, "leaderboard")
    n_failed = sum(r["state"] != "COMPLETE" for r in board)
    by_kind = queries.fetch(con, "failures_by_kind")
    by_prop = queries.fetch(con, "failures_by_proposer")
    assert sum(r["n"] for r in by_kind) == n_failed > 0
    assert sum(r["failed"] for r in by_prop) == n_failed
    assert sum(r["evaluated"] for r in by_prop) == len(board)
    kinds = {r["error_kind"] for r in by_kind}
    assert kinds <= {
        "RuntimeError",
        "GraphError",
        "DivergedError",
        "TimeoutError",
        "ValueError",
        "Preempted",
    }
    assert {r["strategy"] for r in by_prop} == {"nader", "llmatic", "lapt", "random"}


def test_llm_cost_per_improvement_matches_the_calls(con):
    rows = queries.fetch(con, "llm_cost_per_improvement")
    imps = [r for r in queries.fetch(con, "best_so_far") if r["is_improvement"]]
    assert len(rows) == len(imps)
    cum = [r["cum_usd"] for r in rows]
    assert cum == sorted(cum)
    assert sum(r["usd_since_previous"] for r in rows) == pytest.approx(cum[-1], abs=1e-3)
    total = con.execute("SELECT sum(cost_usd) FROM llm_calls").fetchone()[0]
    assert 0 < cum[-1] <= total + 1e-9


def test_strategy_comparison_across_runs_in_different_stores(runs):
    full, plain = runs
    con = connect_runs([full, plain])
    rows = queries.fetch(con, "strategy_comparison")
    assert {r["run_id"] for r in rows} == {full.run_id, plain.run_id}
    assert sum(r["evaluated"] for r in rows if r["run_id"] == full.run_id) == 60
    assert [r["strategy"] for r in rows if r["run_id"] == plain.run_id] == ["random"]
    con.close()


def test_collect_reads_tree_archive_and_principles(con, runs):
    d = collect(con, runs[0].run_id)
    assert d.tree_from_events and len(d.tree) == 15
    roots = [n for n in d.tree if n.parent_id is None]
    assert len(roots) == 1
    assert {a.name for a in d.archives} == {"network", "prompt"}
    assert d.principles and [p["iteration"] for p in d.principles] == sorted(
        p["iteration"] for p in d.principles
    )
    assert d.best is not None and d.best["val_acc"] == max(r["val_acc"] for r in d.complete)


def test_collect_says_nothing_for_a_plain_run(runs):
    con = runs[1].connect()
    d = collect(con, runs[1].run_id)
    assert d.tree == [] and d.archives == [] and d.principles == [] and d.llm_calls == []
    assert len(d.leaderboard) == 6


def test_archives_from_cvt_descriptors_and_derived_from_results(con, runs):
    from analysis.data import _archives, _derived_archive

    snap = _archives(
        [
            {
                "archive": "network",
                "iteration": 1,
                "cells": [{"descriptor": [0.0, 0.0], "fitness": 0.5}],
            },
            {
                "archive": "network",
                "iteration": 2,
                "labels": ["width/depth", "FLOPs"],
                "cells": [
                    {"descriptor": [0.99, 0.5], "fitness": 0.9, "candidate_id": "a"},
                    {"descriptor": [0.1, 0.2], "fitness": 0.7, "candidate_id": "b"},
                ],
            },
        ]
    )
    (a,) = snap
    assert a.iteration == 2 and a.dims == (20, 20)
    assert sorted(a.cells) == [(2, 4, 0.7, "b"), (19, 10, 0.9, "a")]
    board = queries.fetch(con, "leaderboard")
    derived = _derived_archive(board)
    assert [d.name for d in derived] == ["network (derived)", "prompt (derived)"]
    assert all(d.derived and d.cells for d in derived)
    n_llmatic_ok = sum(r["strategy"] == "llmatic" and r["state"] == "COMPLETE" for r in board)
    assert sum(1 for _ in derived[0].cells) <= n_llmatic_ok


def test_llm_validity_rates_by_agent_step_and_constraint():
    import duckdb

    from store.schemas import to_table

    def row(i, agent, prompt, name, mode, obeyed, **kw):
        return {"call_id": f"c{i}", "agent": agent, "prompt_id": prompt, "status": "ok",
                "constraint_name": name, "constraint_mode": mode, "obeyed": obeyed, **kw}  # fmt: skip

    rows = [
        row(1, "llmatic", "llmatic_mutate@2", "nb201-cell@1", "gbnf", True),
        row(2, "llmatic", "llmatic_mutate@2", "nb201-cell@1", "gbnf", True),
        row(
            3,
            "llmatic",
            "llmatic_mutate@2",
            "nb201-cell@1",
            "none: grammar off: ignored",
            False,
            fallback="rule operator",
        ),
        row(
            4,
            "llmatic",
            "llmatic_mutate@2",
            "nb201-cell@1",
            "gbnf",
            None,
            status="timeout",
            retried=True,
        ),  # a retried attempt: not a call of its own
        row(5, "structured-probe", "probe-digits@1", "probe-digits@1", "gbnf", True),
        row(6, "reader", "reader_filter@1", None, None, None),
    ]
    con = duckdb.connect()
    tbl = to_table("llm_calls", rows)  # noqa: F841 (read by duckdb by name)
    con.execute("CREATE TABLE llm_calls AS SELECT 'r' AS run_id, * FROM tbl")
    got = {(r["agent"], r["sent"]): r for r in queries.fetch(con, "llm_validity")}
    assert set(got) == {("llmatic", "gbnf"), ("llmatic", "none"), ("reader", "")}
    gbnf, none = got["llmatic", "gbnf"], got["llmatic", "none"]
    assert (gbnf["calls"], gbnf["obeyed"], gbnf["obeyed_rate"], gbnf["usable_rate"]) == (
        2,
        2,
        1.0,
        1.0,
    )
    assert (none["calls"], none["obeyed_rate"], none["usable"]) == (1, 0.0, 0)
    assert none["why_none"] == "none: grammar off: ignored"
    assert got["reader", ""]["obeyed_rate"] is None
