"""``archlab sql`` on runs stored locally and in S3 (the local S3 server), every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from launcher.cli import main
from store import open_store
from tests.contract.store_fixtures import S3Server, child_env, start_s3_server, stop_s3_server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server | str]:
    server = start_s3_server()
    yield server
    if isinstance(server, S3Server):
        stop_s3_server(server)


def _trials(n: int) -> list[dict[str, object]]:
    return [
        {
            "candidate_id": f"c{i}",
            "state": "COMPLETE" if i % 3 else "DIVERGED",
            "val_acc": i / 10,
            "params": 10**5 * i,
        }
        for i in range(n)
    ]


def _make_run(root: Path, run_id: str, store_cfg: dict[str, object] | None = None) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_id}))
    lines = ["experiment:", f"  name: {run_id}"]
    if store_cfg:
        lines.append("store:")
        lines += [f"  {k}: {json.dumps(v)}" for k, v in store_cfg.items()]
    (run_dir / "config.yaml").write_text("\n".join(lines) + "\n")
    return run_dir


def test_sql_on_a_local_run_in_every_format(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    run_dir = _make_run(root, "r1")
    open_store(run_dir / "tables").append("trials", "r1", _trials(6))
    q = "SELECT state, count(*) AS n FROM trials GROUP BY 1 ORDER BY 1"

    assert main(["sql", "r1", q, "--runs-root", str(root)]) == 0
    out = capfd.readouterr().out
    assert "COMPLETE" in out and "DIVERGED" in out

    assert main(["sql", str(run_dir), q, "--format", "csv"]) == 0
    assert capfd.readouterr().out.splitlines() == ['"state","n"', '"COMPLETE",4', '"DIVERGED",2']

    assert main(["sql", str(run_dir), q, "--format", "json"]) == 0
    assert json.loads(capfd.readouterr().out) == [
        {"state": "COMPLETE", "n": 4},
        {"state": "DIVERGED", "n": 2},
    ]

    out_file = tmp_path / "res.parquet"
    assert main(["sql", str(run_dir), q, "--format", "parquet", "-o", str(out_file)]) == 0
    assert pq.read_table(out_file).to_pylist() == [
        {"state": "COMPLETE", "n": 4},
        {"state": "DIVERGED", "n": 2},
    ]

    txt = tmp_path / "res.txt"
    assert main(["sql", str(run_dir), q, "-o", str(txt)]) == 0
    assert txt.read_text().splitlines()[0].split() == ["state", "n"]


def test_sql_all_runs_and_errors(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "runs"
    for rid, n in [("a", 3), ("b", 5)]:
        open_store(_make_run(root, rid) / "tables").append("trials", rid, _trials(n))
    assert (
        main(
            [
                "sql",
                "--all",
                "SELECT run_id, count(*) FROM trials GROUP BY 1 ORDER BY 1",
                "--runs-root",
                str(root),
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert capfd.readouterr().out.splitlines()[1:] == ['"a",3', '"b",5']
    assert main(["sql", "a", "SELEC nonsense", "--runs-root", str(root)]) == 2
    assert "query error" in capfd.readouterr().err
    assert main(["sql", "nope", "SELECT 1", "--runs-root", str(root)]) == 2
    assert "not found" in capfd.readouterr().err
    assert main(["sql", "a", "SELECT 1", "--runs-root", str(root), "--format", "parquet"]) == 2
    assert "-o FILE" in capfd.readouterr().err


@pytest.mark.s3
def test_sql_on_a_run_stored_in_s3_leaks_no_secret(
    tmp_path: Path, s3_server: S3Server | str
) -> None:
    if not isinstance(s3_server, S3Server):
        pytest.skip(s3_server)
    uri = f"s3://{s3_server.bucket}/sql-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "runs"
    run_dir = _make_run(
        root, "s3run", {"uri": uri, "s3_endpoint": s3_server.endpoint, "s3_path_style": True}
    )
    (run_dir / "logs").mkdir()
    store = open_store(uri, endpoint=s3_server.endpoint)
    store.append("trials", "s3run", _trials(7))
    store.append("trials", "other", _trials(2))

    q = "SELECT count(*) AS n, max(val_acc) AS best FROM trials WHERE params < 500000"
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "sql", "s3run", q, "--runs-root", str(root), "--format", "json"],
        capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 5, "best": 0.4}]
    # The store named directly, every run in it.
    out2 = subprocess.run(
        [sys.executable, "-m", "launcher", "sql", "--store", uri, "--endpoint", s3_server.endpoint, "--all",
         "SELECT run_id, count(*) AS n FROM trials GROUP BY 1 ORDER BY 1", "--format", "csv"],
        capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out2.returncode == 0, out2.stderr
    assert out2.stdout.splitlines() == ['"run_id","n"', '"other",2', '"s3run",7']

    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    for text in (out.stdout, out.stderr, out2.stdout, out2.stderr):
        assert secret not in text
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    for key_url in store.files("trials"):
        assert secret.encode() not in store._get(key_url.split(f"{store.prefix}/", 1)[1])
