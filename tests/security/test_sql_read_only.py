"""``archlab sql`` is read-only by default: no file outside the run is read, nothing is
written, attached or installed unless ``--allow-writes`` (issue #23)."""

from __future__ import annotations

import pytest

from launcher.cli import main
from tests.support.synthetic_run import write_fixture_run


@pytest.fixture
def run(tmp_path):
    root = tmp_path / "runs"
    run_dir = write_fixture_run(root, profile="full", candidates=10, run_id="r1")
    return root, run_dir


def _sql(root, query, *extra):
    return main(["sql", "r1", query, "--runs-root", str(root), "--format", "csv", *extra])


def test_a_select_still_works(run, capfd):
    root, _ = run
    assert _sql(root, "SELECT count(*) AS n FROM trials") == 0
    assert capfd.readouterr().out.splitlines()[1] == "10"


@pytest.mark.parametrize(
    "query",
    [
        "COPY (SELECT 1) TO '{out}/written.csv'",
        "COPY (SELECT * FROM trials) TO '{tables}/trials/run_id=r1/written.parquet'",
        "COPY (SELECT 1 AS a) TO '{out}/part' (FORMAT parquet, PARTITION_BY (a), OVERWRITE true)",
        "ATTACH '{out}/written.duckdb' AS x",
        "CREATE TABLE t AS SELECT 1; COPY t TO '{out}/written.csv'",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('{secret}')",
        "SET enable_external_access = true",
        "INSTALL spatial",
    ],
)
def test_writes_and_outside_reads_are_refused(run, tmp_path, capfd, query):
    root, run_dir = run
    out = tmp_path / "outside"
    out.mkdir()
    keep = out / "keep.txt"
    keep.write_text("kept")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET\n")
    before = sorted(p.name for p in (run_dir / "tables").rglob("*"))
    q = query.format(out=out, tables=run_dir / "tables", secret=secret)
    assert _sql(root, q) == 2
    captured = capfd.readouterr()
    assert "query error" in captured.err and "config error" not in captured.err
    assert "TOPSECRET" not in captured.out + captured.err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in (run_dir / "tables").rglob("*")) == before


def test_allow_writes_lifts_the_limits(run, tmp_path):
    root, _ = run
    dest = tmp_path / "export.csv"
    assert _sql(root, f"COPY (SELECT count(*) FROM trials) TO '{dest}'", "--allow-writes") == 0
    assert dest.read_text().splitlines()[-1] == "10"


def test_a_sql_mistake_is_a_query_error(run, capfd):
    root, _ = run
    assert _sql(root, "SELEC nonsense") == 2
    err = capfd.readouterr().err
    assert err.startswith("archlab: query error") and "config error" not in err
