"""Terminal manners: no progress redraws in redirected output, Ctrl-C names the run and its
resume command, help texts say what the command does, chance comes from the dataset."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.chance import chance_accuracy
from launcher.cli import build_parser
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_ctrl_c_names_the_run_and_the_resume_command(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    # A terminal's Ctrl-C reaches a process whose SIGINT is at its default. When the tests
    # run as a background job of a non-interactive shell (`make test &`, nohup), SIGINT is
    # inherited as ignored and Python then installs no KeyboardInterrupt handler -- the run
    # went on to finish (exit 0) in such a clean-clone make test. Start the child as a terminal would.
    proc = subprocess.Popen(
        [sys.executable, "-m", "launcher", "demo", f"experiment.run_root={root}",
         "budget.candidates=50"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(root.glob("*/journal.jsonl")):  # the controller has started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    (run_dir,) = root.iterdir()
    # 130, or death by SIGINT (-2), which a shell also shows as 130: under load, after main()
    # handled the interrupt and set SIGINT to ignored (the message below is printed), CPython
    # sometimes still ends the process with its own kill(getpid(), SIGINT) (seen with strace,
    # 2 runs of 10 with both cores busy) -- its exit for an "unhandled KeyboardInterrupt",
    # though no traceback is printed and main() returned 130 (what sets it is not found);
    # either way the caller sees an interrupt
    assert proc.returncode in (130, -signal.SIGINT), err[-2000:]
    assert f"archlab resume {run_dir.name} --runs-root" in err, err[-2000:]
    assert "Traceback" not in err
    assert "\r" not in out  # stdout is a pipe: no progress bar, no redraws anywhere
    assert "\r" not in err


def test_demo_help_describes_the_nader_demo() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    demo = sub.choices["demo"]  # type: ignore[attr-defined]
    text = demo.format_help()
    assert "NADER" in text and "Random search" not in text


def test_chance_comes_from_the_dataset() -> None:
    assert chance_accuracy("demo") == 0.1 and chance_accuracy("cifar100") == 0.01
    assert chance_accuracy("ImageNet16-120") == pytest.approx(1 / 120)
