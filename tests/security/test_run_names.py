"""Run names are validated before anything is created, and no sbatch value can start a new
line of the script (issue #23)."""

from __future__ import annotations

import pytest

from launcher.cli import main
from slurm.sbatch import render_sbatch
from slurm.site import SiteParams

BAD_NAMES = ["../../../{tmp}/escaped", "{tmp}/absolute", "a\x00b", "two\nlines", "..", ".hidden",
             "x" * 65, "", "sp ace", "caf\u00e9"]  # fmt: skip


@pytest.mark.parametrize("raw", BAD_NAMES)
def test_a_bad_run_name_creates_nothing_and_says_so_on_one_line(tmp_path, capfd, raw):
    name = raw.format(tmp=tmp_path / "outside")
    root = tmp_path / "runs"
    before = sorted(tmp_path.rglob("*"))
    rc = main(["demo", "--quiet", f"experiment.run_root={root}", f"experiment.name={name}"])
    err = capfd.readouterr().err
    assert rc == 2
    assert "internal error" not in err
    assert "experiment.name" in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before  # no run directory, here or anywhere


def test_a_good_name_still_makes_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_TEST_EVALUATOR", str(tmp_path / "work"))
    root = tmp_path / "runs"
    rc = main(["demo", "--quiet", f"experiment.run_root={root}", "experiment.name=my_run.v2-a",
               "budget.candidates=1"])  # fmt: skip
    assert rc == 0
    (run_dir,) = list(root.iterdir())
    assert run_dir.name.startswith("my_run.v2-a-")


@pytest.mark.parametrize(
    "field", ["job_name", "output", "partition", "account", "qos", "mem", "gres", "command"]
)
def test_no_sbatch_value_starts_a_new_line(field):
    kw = {"command": "archlab controller runs/x", "job_name": "j", "output": "o.out",
          "time": "01:00:00", field: "x\n#SBATCH --wrap=touch /tmp/pwned"}  # fmt: skip
    with pytest.raises(ValueError, match="line break"):
        render_sbatch(**kw)


@pytest.mark.parametrize("where", ["extra_sbatch", "setup"])
def test_site_lines_with_a_line_break_are_refused(where):
    kw = {where: ["--exclusive\nrm -rf /"]}
    with pytest.raises(ValueError, match="line break"):
        render_sbatch(command="c", job_name="j", output="o", time="01:00:00", **kw)
    assert SiteParams()  # the normal site still renders (golden files: tests/unit)
