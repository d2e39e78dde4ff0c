"""Every subcommand with missing, malformed and hostile arguments: a one-line message and a
documented exit code (2 for the user's input), never a traceback or an "internal error".

In-process through ``launcher.cli.main`` (what the console script runs), so an exception
escaping the top-level handler fails the test with that exception.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.cli import COMMANDS, main
from tests.conftest import REPO
from tests.support.synthetic_run import write_fixture_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_fixture_run(root, profile="plain", candidates=6)
    # a run directory whose files are garbage: what a disk full or a bad copy leaves
    bad = root / "broken-run"
    shutil.copytree(next(p for p in root.iterdir() if p.name != "broken-run"), bad)
    (bad / "config.yaml").write_text("train: [unclosed\n")
    (bad / "journal.jsonl").write_bytes(b"\x00\xff{not json\n")
    (bad / "manifest.json").write_text(json.dumps({"run_id": "broken-run"}))
    binary = root.parent / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 64)
    return root


def _cases(root: Path) -> list[list[str]]:
    run = next(p.name for p in root.iterdir() if p.name != "broken-run")
    r = ["--runs-root", str(root)]
    binary = str(root.parent / "binary.txt")
    long = "x" * 5000
    return [
        # missing arguments
        *([c] for c in COMMANDS if c not in ("runs", "demo")),
        ["graph", "validate"],
        ["graph", "draw", "f"],
        ["sql", run, *r],
        # malformed
        ["demo", "train.epochs=abc"],
        ["demo", "train"],
        ["demo", "=3"],
        ["demo", "a..b=1"],
        ["demo", "train.epochs=1e999"],
        ["launch", "configs/demo.yaml", "budget.candidates=-5"],
        ["launch", str(root), "--dry-run"],
        ["launch", binary, "--dry-run"],
        ["sbatch", "/nonexistent.yaml"],
        ["sql", run, "SELEC nonsense", *r],
        ["sql", run, "SELECT CAST(candidate_id AS INTEGER) FROM trials", *r],
        ["sql", run, "SELECT 1", "--format", "parquet", *r],
        ["sql", "--all", *r],
        ["sql", run, "--query", "no_such_query", *r],
        ["sql", run, "SELECT 1", "--max-rows", "x"],
        ["status", run, "--interval", "soon", *r],
        ["cancel", run, "--wait", "nan-ish"],
        ["graph", "validate", "/nonexistent.txt"],
        ["graph", "validate", str(root)],
        ["graph", "validate", binary],
        ["graph", "hash", "/nonexistent.txt"],
        ["graph", "compile", "/nonexistent.txt"],
        ["graph", "from-nb201", "not-an-arch"],
        ["graph", "fit", "/nonexistent.txt", "--max-params", "1e6"],
        ["graph", "compile", binary, "--input", "3xAx32"],
        ["train", "--epochs", "-3", "--arch", "bogus"],
        ["train", "--dataset", "cifar10"],
        [
            "bench",
            "nb201",
            "--strategy",
            "random",
            "--dataset",
            "cifar10",
            "--table",
            "/nonexistent.parquet",
        ],
        # hostile: unknown runs, path tricks, garbage run files, huge or odd strings
        ["status", "../../etc", *r],
        ["status", long, *r],
        ["best", "nope; rm -rf /", *r],
        ["report", "\x1b[31mred", *r],
        ["resume", "nope", *r],
        ["cancel", "nope", *r],
        ["status", "broken-run", "--once", *r],
        ["best", "broken-run", *r],
        ["report", "broken-run", "-o", str(root.parent / "rep"), *r],
        ["resume", "broken-run", *r],
        ["runs", "--runs-root", "/nonexistent"],
        ["runs", *r],
        ["sql", "broken-run", "SELECT count(*) FROM trials", *r],
        ["best", run, "--candidate", "zzzz", *r],
        ["best", run, "--export", "/proc/x", *r],
        ["report", run, "--compare", "nope", *r],
        ["report", run, "-o", "/proc/nope", *r],
        ["resume", run, "train.epochs=3", *r],
        ["resume", run, "budget.candidates=x", *r],
        ["sql", run, "COPY trials TO '/proc/nope.csv'", *r],
        ["compact", "nope", *r],
        ["compact", run, "--target-mb", "-1", *r],
        ["compact", "broken-run", *r],
        ["controller", "/nonexistent-run"],
        ["controller", str(root), "--config", binary],
    ]


def test_no_traceback_for_any_argument(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = []
    for argv in _cases(runs):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage errors exit 2
            code = e.code if isinstance(e.code, int) else 2
        out = capsys.readouterr()
        err = out.err.strip()
        if "Traceback" in out.err or "internal error" in err or code not in (0, 1, 2):
            problems.append(f"{argv[:4]} -> {code}: {err[-300:]}")
        elif code == 2 and not (err or out.out.strip()):  # a message, or the usage
            problems.append(f"{argv[:4]} -> 2 without a message")
    assert not problems, "\n".join(problems)


def test_broken_pipe_exits_quietly(runs: Path) -> None:
    run = next(p.name for p in runs.iterdir() if p.name != "broken-run")
    big = ["sql", run, "'SELECT range AS i FROM range(300000)'", "--format"]  # > a pipe buffer
    for args in (["sql", run, "--query", "leaderboard"], ["status", run, "--once"], ["runs"],
                 [*big, "csv"], [*big, "table", "--max-rows", "300000"], [*big, "json"]):  # fmt: skip
        proc = subprocess.run(
            f"{sys.executable} -m launcher {' '.join(args)} --runs-root {runs} | head -c 1 >/dev/null",
            shell=True, cwd=REPO, capture_output=True, text=True, timeout=60,
            executable="/bin/bash", env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr, proc.stderr
        pipe = subprocess.run(
            f"set -o pipefail; {sys.executable} -m launcher {' '.join(args)} --runs-root {runs}"
            " | head -1 >/dev/null",
            shell=True, cwd=REPO, capture_output=True, text=True, timeout=60,
            executable="/bin/bash", env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert pipe.returncode == 0, (args, pipe.stderr)
