"""A run directory on a read-only mount: ``status`` works, ``resume``/``controller``/``cancel``
refuse in one line (no traceback); ``resume`` also refuses a journal damaged in the middle,
with the recovery hint, before it submits anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def finished_run(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "ARCHLAB_TEST_EVALUATOR": str(work), "PYTHONPATH": str(REPO)}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"experiment:\n  name: ro\n  run_root: {tmp_path / 'runs'}\n")
    out = _cli("launch", str(cfg), "budget.candidates=3", "--cluster", "inprocess", env=env)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir, env


def test_read_only_run_directory(finished_run):
    run_dir, env = finished_run
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to make a private read-only mount")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    py, rd = sys.executable, str(run_dir)
    script = (
        f"mount --bind {rd} {rd} && mount -o remount,bind,ro {rd} || exit 99\n"
        f"touch {rd}/x 2>/dev/null && exit 98\n"
        + "".join(
            f"echo '== {cmd}'; {py} -m launcher {cmd} {rd} 2>&1; echo \"rc=$?\"\n"
            for cmd in ("status", "resume", "controller", "cancel")
        )
    )
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    if out.returncode == 99:
        pytest.skip(f"read-only bind mounts are not allowed here: {out.stderr.strip()}")
    assert out.returncode != 98, "the mount is not read-only"
    parts = dict(p.split("\n", 1) for p in out.stdout.split("== ")[1:])
    assert "Traceback" not in out.stdout, out.stdout
    status = parts["status"]
    assert "run:" in status and "stopped (done)" in status and status.rstrip().endswith("rc=0")
    for cmd in ("resume", "controller", "cancel"):
        lines = parts[cmd].strip().splitlines()
        assert len(lines) == 2 and "not writable" in lines[0], (cmd, lines)
        assert lines[1] != "rc=0", (cmd, lines)


def test_resume_refuses_a_journal_damaged_in_the_middle(finished_run):
    run_dir, env = finished_run
    journal = run_dir / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2][:-3] + b"xx}"  # a bad CRC in the middle
    journal.write_bytes(b"\n".join(lines))
    before = (run_dir / "controller.json").read_text()
    out = _cli("resume", str(run_dir), env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "damaged and more lines follow" in out.stderr and "head -c" in out.stderr
    assert (run_dir / "controller.json").read_text() == before  # nothing was started
    st = _cli("status", str(run_dir), "--once", env=env)
    assert st.returncode == 2 and "head -c" in st.stderr and "Traceback" not in st.stderr
