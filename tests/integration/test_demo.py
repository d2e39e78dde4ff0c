"""The demo path end to end: CLI -> config -> executor -> real training -> Parquet -> DuckDB."""

import subprocess
import sys

import duckdb

from tests.conftest import REPO


def test_demo_writes_real_results_that_duckdb_reads(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher",
            "demo",
            "--quiet",
            "budget.candidates=4",
            "train.epochs=2",
            f"experiment.run_root={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Leaderboard (4 candidates" in out.stdout
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (run_dir / "config.yaml").is_file() and (run_dir / "manifest.json").is_file()
    con = duckdb.connect()
    trials = con.execute(
        f"SELECT state, val_acc, test_acc, params, epochs_run FROM read_parquet('{run_dir}/tables/trials/*/*.parquet')"
    ).fetchall()
    assert len(trials) == 4
    # NADER may decide a design INVALID or DUPLICATE without training it; the rest train.
    assert {s for s, *_ in trials} <= {"COMPLETE", "INVALID", "DUPLICATE", "DIVERGED"}
    done = [(v, t, p, e) for s, v, t, p, e in trials if s == "COMPLETE"]
    assert len(done) >= 2
    assert all(0.0 <= v <= 1.0 and 0.0 <= t <= 1.0 and p > 0 and e == 2 for v, t, p, e in done)
    assert max(v for v, *_ in done) > 0.5  # chance is 0.1 on 10 classes
    n_epochs = con.execute(
        f"SELECT count(*) FROM read_parquet('{run_dir}/tables/epochs/*/*.parquet')"
    ).fetchone()[0]
    assert n_epochs >= 2 * len(done)
    # the NADER modification tree is stored as events (root = the seed block)
    kinds = con.execute(
        f"SELECT kind, count(*) FROM read_parquet('{run_dir}/tables/events/*/*.parquet') GROUP BY 1"
    ).fetchall()
    assert dict(kinds).get("tree_node", 0) >= 4
    # the run's own SQL command answers too
    sql = subprocess.run(
        [sys.executable, "-m", "launcher", "sql", str(run_dir), "SELECT count(*) AS n FROM trials"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert sql.returncode == 0 and "4" in sql.stdout
