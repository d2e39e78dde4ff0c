"""A truncated Parquet file of a run is named by ``archlab status`` and moved aside with a
note by ``archlab controller`` (not fatal, not silent); store keys take no trailing
newline (issue #23)."""

from __future__ import annotations

import pytest

from launcher.cli import main
from store.layout import check_run_id, part_name_for_key


def test_a_truncated_table_file_is_named_then_moved_aside(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("ARCHLAB_TEST_EVALUATOR", str(tmp_path / "work"))
    root = tmp_path / "runs"
    assert main(["demo", "--quiet", f"experiment.run_root={root}", "budget.candidates=2"]) == 0
    (run_dir,) = list(root.iterdir())
    victim = sorted((run_dir / "tables" / "trials").rglob("*.parquet"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    capfd.readouterr()
    assert main(["status", str(run_dir)]) == 0
    out = capfd.readouterr().out
    assert "corrupt:" in out and victim.name in out
    assert main(["controller", str(run_dir), "--quiet"]) == 0
    assert not victim.exists()
    rel = victim.relative_to(run_dir / "tables")
    aside = run_dir / "tables" / "_corrupt" / rel
    assert aside.read_bytes() == data[: len(data) // 2]
    note = aside.with_name(aside.name + ".note.txt").read_text()
    assert "footer cannot be read" in note and victim.name in note
    capfd.readouterr()
    assert main(["status", str(run_dir)]) == 0
    assert "corrupt:" not in capfd.readouterr().out


@pytest.mark.parametrize("bad", ["run1\n", "run1\n\n", "\nrun1", "run1\r"])
def test_store_keys_take_no_line_break(bad):
    with pytest.raises(ValueError):
        check_run_id(bad)
    with pytest.raises(ValueError):
        part_name_for_key(bad)
