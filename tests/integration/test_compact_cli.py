"""``archlab compact RUN``: many small files per table become few, rows unchanged, and a
table the run never wrote gets a zero-row file with its schema so plain DuckDB reads it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from launcher.cli import main
from tests.support.synthetic_run import write_fixture_run


def _files(run_dir: Path, table: str) -> list[Path]:
    return sorted((run_dir / "tables" / table).rglob("*.parquet"))


def test_compact_merges_files_and_makes_empty_tables_queryable(tmp_path: Path, capsys) -> None:
    run_dir = write_fixture_run(
        tmp_path / "runs", profile="plain", candidates=60, strategy="random"
    )
    before = {t: len(_files(run_dir, t)) for t in ("candidates", "trials", "epochs")}
    assert min(before.values()) >= 5  # the fixture writes several files per table
    rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{run_dir}/tables/trials/*/*.parquet')"
    ).fetchone()
    assert not _files(run_dir, "llm_calls")  # a random search calls no LLM
    assert main(["compact", run_dir.name, "--runs-root", str(run_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert "llm_calls" in out and "zero-row file with the schema" in out
    for t in before:
        assert len(_files(run_dir, t)) == 1, t
    assert (
        duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{run_dir}/tables/trials/*/*.parquet')"
        ).fetchone()
        == rows
    )
    empty = duckdb.sql(f"SELECT * FROM read_parquet('{run_dir}/tables/llm_calls/*/*.parquet')")
    assert "cost_usd" in empty.columns and empty.fetchall() == []
    # archlab's own views read the compacted run as before
    assert main(["sql", run_dir.name, "SELECT count(*) FROM trials", "--runs-root",
                 str(run_dir.parent), "--format", "csv"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-1] == str(rows[0])
    # a second compaction changes nothing and keeps one schema file
    assert main(["compact", str(run_dir)]) == 0
    assert len(_files(run_dir, "llm_calls")) == 1
