"""`archlab resume RUN key=value`: a run that could not start is saved by correcting its
keys; once candidates exist, keys that would invalidate them are refused with the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from launcher.config import load_config
from launcher.config.presets import DEMO
from launcher.run import create_run
from nas.controller import read_events
from tests.conftest import REPO


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_run_that_could_not_start_is_resumed_with_corrected_keys(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    # a run made before validation existed (or whose data went away): it cannot start
    cfg = load_config(preset=DEMO, overrides=[f"experiment.run_root={root}",
                                              "train.dataset=cifar10", "train.data_dir=/gone"])  # fmt: skip
    paths = create_run(cfg, cluster="inprocess")
    bad = _cli("resume", paths.run_id, "--runs-root", str(root), "--cluster", "inprocess")
    assert bad.returncode == 2 and "'train.data_dir' is '/gone'" in bad.stderr, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    ok = _cli("resume", paths.run_id, "--runs-root", str(root), "--cluster", "inprocess",
              "train.dataset=demo", "train.data_dir=", "budget.candidates=1", "train.epochs=1")  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert any(e["ev"] == "result" for e in read_events(paths.run_dir / "journal.jsonl"))
    assert "dataset: demo" in paths.config.read_text()
    # now it has a stored candidate: the recipe and the seed may no longer change
    refused = _cli("resume", paths.run_id, "--runs-root", str(root), "train.epochs=5",
                   "experiment.seed=3", "budget.candidates=2")  # fmt: skip
    assert refused.returncode == 2
    err = refused.stderr
    assert "train.epochs (part of every stored candidate's id" in err, err
    assert "experiment.seed (every stored candidate's seed" in err
    assert "budget.candidates" not in err  # allowed, so not among the refused
    assert "epochs: 1" in paths.config.read_text()  # nothing was changed
