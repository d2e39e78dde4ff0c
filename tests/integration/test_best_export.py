"""``archlab best --export`` on a really trained demo run: the exported source builds a model
whose parameter count equals the record's, and the kept weights load into it."""

from __future__ import annotations

import importlib.util
import json

import duckdb
import pytest

from analysis.export import ExportError, export_best
from launcher.build import open_run_source
from tests.support.synthetic_run import write_fixture_run


def _load(path):
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The demo in both of its searches: NADER over blocks (the default) and random NB201 cells.
DEMOS = {
    "block": [],
    "nb201": ["strategy.name=random", "space.kind=nb201"],
}


@pytest.fixture(scope="module", params=sorted(DEMOS))
def demo_run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    from launcher.cli import main

    rc = main(
        [
            "demo",
            "--quiet",
            "budget.candidates=2",
            "train.epochs=1",
            "train.keep_checkpoints=true",
            f"experiment.run_root={root}",
            *DEMOS[request.param],
        ]
    )
    assert rc == 0
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


def test_export_builds_the_trained_network(demo_run, tmp_path):
    import torch

    from launcher.cli import main

    assert main(["best", str(demo_run), "--export", str(tmp_path / "best")]) == 0
    best = tmp_path / "best"
    for name in ("arch.txt", "arch.json", "model.py", "model_card.md", "metrics.json"):
        assert (best / name).is_file(), name
    (params, cid, val, test) = (
        duckdb.connect()
        .execute(
            f"SELECT params, candidate_id, val_acc, test_acc FROM read_parquet('{demo_run}/tables/trials/*/*.parquet') "
            "WHERE state = 'COMPLETE' ORDER BY val_acc DESC, params LIMIT 1"
        )
        .fetchone()
    )
    meta = json.loads((best / "arch.json").read_text())
    assert meta["candidate_id"] == cid
    net = _load(best / "model.py").Network()
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == params
    c, h, w = meta["input_shape"]
    assert net(torch.zeros(2, c, h, w)).shape == (2, meta["num_classes"])
    card = (best / "model_card.md").read_text()
    assert f"{params:,}" in card and f"{val:.4f}" in card and f"{test:.4f}" in card
    assert "demo" in card and "Lineage" in card
    # the run kept its checkpoints: the trained weights come along and load
    if (demo_run / "checkpoints" / f"{cid}.pt").is_file():
        assert (best / "weights.pt").is_file()
        net.load_state_dict(torch.load(best / "weights.pt", map_location="cpu"))
        assert "weights.pt" in card
    else:
        assert "Not exported" in card
    # the block text parses back into the same cell
    from nas.graph import parse_blocks

    text = (best / "arch.txt").read_text()
    assert meta["arch"] in text
    if meta["arch_kind"] == "block":  # the whole block file: base, _stem, _downsample
        assert text == meta["arch"] and len(parse_blocks(text)) == 3
        return
    assert parse_blocks(text.split("\n\n", 1)[1])
    # model_graph.py: the same cell compiled from its block graph also builds
    gnet = _load(best / "model_graph.py").Network()
    assert gnet(torch.zeros(1, c, h, w)).shape == (1, meta["num_classes"])


def test_export_of_a_block_candidate_and_its_lineage(tmp_path):
    run = open_run_source(write_fixture_run(tmp_path / "runs", profile="full", candidates=60))
    con = run.connect()
    (cid,) = con.execute(
        "SELECT candidate_id FROM trial_results WHERE ok AND arch_kind = 'block' "
        "AND len(parents) > 0 ORDER BY val_acc DESC LIMIT 1"
    ).fetchone()
    res = export_best(run, tmp_path / "exp", candidate_id=cid[:10], check=False)
    assert res.candidate_id == cid
    src = (tmp_path / "exp" / "model.py").read_text()
    compile(src, "model.py", "exec")
    assert "class Network" in src
    card = (tmp_path / "exp" / "model_card.md").read_text()
    assert "From the root of the modification tree" in card and cid in card
    assert "0. `" in card and "1. `" in card


def test_export_errors_say_what_to_do(tmp_path):
    run = open_run_source(write_fixture_run(tmp_path / "runs", profile="full", candidates=30))
    with pytest.raises(ExportError, match="longer id prefix|matches 0"):
        export_best(run, tmp_path / "x", candidate_id="zzzz")
    con = run.connect()
    (failed,) = con.execute(
        "SELECT candidate_id FROM trial_results WHERE NOT ok LIMIT 1"
    ).fetchone()
    with pytest.raises(ExportError, match="did not complete"):
        export_best(run, tmp_path / "x", candidate_id=failed)
