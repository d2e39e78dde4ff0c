"""Exported source treats block names as data, ``best --export`` never imports what it
wrote in-process, and checkpoints load with ``weights_only=True`` (issue #23)."""

from __future__ import annotations

import ast
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analysis.export import export_best
from launcher.build import open_run_source
from nas.graph import export_source, parse_blocks, spec_from_blocks
from tests.support.synthetic_run import write_fixture_run

BODY = (
    "0:input\n1:output\n2:Conv2d(out_channels=C,kernel_size=3,stride=1)\n3:BN\n0->2\n2->3\n3->1\n"
)


def _payload(marker: Path) -> str:
    """A block name that, pasted into a docstring, closes it and creates ``marker``."""
    return f'x""";__import__("pathlib").Path({str(marker)!r}).touch();"""'


def test_a_block_name_with_quotes_gives_source_that_runs_no_code(tmp_path):
    marker = tmp_path / "MARK"
    name = _payload(marker)
    spec = spec_from_blocks(parse_blocks(f"##{name}##\n{BODY}"), width=8, cells=1)
    src = export_source(spec)
    ast.parse(src)
    out = tmp_path / "model.py"
    out.write_text(src, encoding="utf-8")
    # importing the exported file (what its user does) defines the network and nothing else
    r = subprocess.run(
        [sys.executable, "-I", "-c", f"import runpy; runpy.run_path({str(out)!r})"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert not marker.exists()


@pytest.mark.parametrize("name", ["2block", "blo\\x41ck", "cell\u00b2", "\u00e9t\u00e9", "a b"])
def test_odd_block_names_give_valid_python(name):
    spec = spec_from_blocks(parse_blocks(f"##{name}##\n{BODY}"), width=8, cells=1)
    tree = ast.parse(export_source(spec))
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert "Network" in classes
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", c) for c in classes)


def _rewrite_arch(run_dir: Path, old: str, new: str) -> None:
    """Rewrite every stored ``arch`` value (what an attacker with the run directory can do)."""
    for f in (run_dir / "tables").rglob("*.parquet"):
        t = pq.read_table(f)
        if "arch" not in t.column_names:
            continue
        i = t.column_names.index("arch")
        vals = [None if v is None else v.replace(old, new) for v in t.column("arch").to_pylist()]
        pq.write_table(t.set_column(i, "arch", __import__("pyarrow").array(vals)), f)


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_best_export_runs_no_code_from_a_rewritten_run(tmp_path):
    run_dir = write_fixture_run(tmp_path / "runs", profile="full", candidates=60)
    run = open_run_source(run_dir)
    (cid, arch) = (
        run.connect()
        .execute(
            "SELECT candidate_id, arch FROM trial_results WHERE ok AND arch_kind = 'block' "
            "ORDER BY val_acc DESC LIMIT 1"
        )
        .fetchone()
    )
    name_marker, pickle_marker = tmp_path / "NAME_MARK", tmp_path / "PICKLE_MARK"
    old = arch.splitlines()[0]
    _rewrite_arch(run_dir, old, f"##{_payload(name_marker)}##")
    (run_dir / "checkpoints").mkdir()
    with open(run_dir / "checkpoints" / f"{cid}.pt", "wb") as f:
        pickle.dump({"model": _Boom(str(pickle_marker))}, f)
    res = export_best(open_run_source(run_dir), tmp_path / "exp", candidate_id=cid)
    ast.parse((tmp_path / "exp" / "model.py").read_text())
    assert res.params_model is not None and res.params_model > 0  # built, in a subprocess
    assert not name_marker.exists()
    assert not pickle_marker.exists()
    assert res.weights is None
    assert any("weights_only" in n for n in res.notes)
