import subprocess
import sys

from launcher.cli import COMMANDS, build_parser, main
from tests.conftest import REPO


def test_help_lists_only_registered_commands(capsys):
    parser = build_parser()
    text = parser.format_help()
    for name in COMMANDS:
        assert name in text


def test_version():
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "--version"], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0 and out.stdout.startswith("archlab ")


def test_wrong_config_key_exits_nonzero_without_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "launcher", "demo", "train.epoch=3"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert (
        "unknown config key 'train.epoch'" in out.stderr and "Valid keys at 'train'" in out.stderr
    )


def test_unknown_run_names_where_it_looked(tmp_path, capsys):
    assert main(["sql", "nope", "SELECT 1", "--runs-root", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
