"""``archlab knowledge build``: NADER's Reader over local sources, offline and with an LLM
(a replay of the project's real local model), and NADER's published inspirations file read
as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.cli import main
from nas.agents.knowledge import KnowledgePool
from tests.conftest import shared_path

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"

PAPER = """# Squeeze-and-Excitation Networks

## Abstract
We propose the squeeze-and-excitation block, which recalibrates channel responses.

## 3 Method
The block squeezes each channel by global average pooling over the feature map. A small
bottleneck of two fully connected layers then produces one gate per channel with a sigmoid.
Each channel of the residual branch is rescaled by its gate before the identity addition.

## 4 Experiments
We train on ImageNet.
"""


def _corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "se.md").write_text(PAPER)
    rows = [
        {"id": "2201.03545", "title": "A ConvNet for the 2020s",
         "abstract": "We modernize a ResNet toward a vision transformer design.",
         "text": "Method. We use a 7x7 depthwise convolution and an inverted bottleneck block "
                 "with layer normalization in each residual block."},
        {"id": "x1", "title": "Bird songs of the Alps", "abstract": "We record birds.",
         "text": "Birds sing in the morning."},
    ]  # fmt: skip
    (d / "papers.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_offline_build_says_so_and_merges_a_pool_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nader = tmp_path / "inspirations_x.json"
    nader.write_text(json.dumps([{"id": 1, "paper_id": 2, "inspiration": "Use a deeper stem."},
                                 {"id": 2, "paper_id": 2, "inspiration": "Use a deeper stem."}]))  # fmt: skip
    out = tmp_path / "pool.jsonl"
    rc = main(["knowledge", "build", str(_corpus(tmp_path)), str(nader), "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "no LLM endpoint" in text and "strategy.nader.knowledge=" in text
    pool = KnowledgePool.load(out)
    texts = [i.text for i in pool.items]
    assert texts.count("Use a deeper stem.") == 1  # repeats dropped
    assert any("gate" in t or "bottleneck" in t for t in texts)
    assert not any("Birds" in t for t in texts)
    assert {i.paper_id for i in pool.items} >= {"se", "2"}


def test_llm_build_replays_what_the_real_model_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``archlab knowledge build`` through the real client, replaying the project's local model
    (``tests/fixtures/llm/knowledge_build_real.json``). The 1.5B model keeps every paper --
    the bird census too -- so all three are extracted (the offline keyword filter drops it)."""
    cassette = CASSETTES / "knowledge_build_real.json"
    meta = json.loads(cassette.read_text(encoding="utf-8"))["recorded_with"]
    out = tmp_path / "pool.jsonl"
    rc = main(["knowledge", "build", str(_corpus(tmp_path)), "-o", str(out), "--model",
               meta["model"], "--mode", "replay", "--cassette", str(cassette), "--json"])  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert rc == 0 and payload["reader"] == "llm" and payload["llm_tokens"] > 0
    assert payload["papers"] == 3 and payload["relevant"] == 3  # the model filtered nothing
    assert len(KnowledgePool.load(out)) == payload["inspirations"] == 13


def test_nader_published_pool_reads_as_it_is(tmp_path: Path) -> None:
    src = shared_path("fixtures", "nader", "inspirations", "inspirations_040611.json")
    out = tmp_path / "nader.jsonl"
    assert main(["knowledge", "build", str(src), "-o", str(out)]) == 0
    pool = KnowledgePool.load(out)
    assert len(pool) >= 5000 and pool.items[0].id == "1" and pool.items[0].paper_id == "2"
