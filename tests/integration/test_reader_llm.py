"""The Reader's LLM path on a corpus in every supported format (JSONL {title, abstract, text},
Markdown and plain-text papers, an arXiv metadata dump in its one-object-per-line format):
the real ``openai`` client replaying what the project's real local model answered
(``tests/fixtures/llm/reader_real.json``, recorded by ``record_real_cassettes.py``).
Answer forms a model gives only on a bad day are injected in ``test_reader_answer_faults.py``."""

from __future__ import annotations

import json
from pathlib import Path

from nas.agents.knowledge import KnowledgePool
from nas.agents.reader import Reader, load_corpus, method_section
from nas.llm import LLMClient
from nas.llm.cassette import Cassette

CASSETTE = Path(__file__).resolve().parents[1] / "fixtures" / "llm" / "reader_real.json"

SE_MD = """# Squeeze-and-Excitation Networks

## Abstract
We propose the Squeeze-and-Excitation block, an architectural unit that recalibrates
channel-wise feature responses of a convolutional network.

## 1 Introduction
Convolutional networks are built from blocks.

## 3 Method
The SE block squeezes global spatial information into a channel descriptor by global
average pooling. A bottleneck of two fully connected layers with a sigmoid gate then
rescales every channel of the residual branch.

## 4 Experiments
We train on ImageNet for 100 epochs with SGD.
"""

GHOST_TXT = """GhostNet: More Features from Cheap Operations

Abstract
Deploying convolutional networks on embedded devices is hard. We propose a Ghost module
that generates more feature maps from cheap linear operations.

1 Introduction
Redundant feature maps are common in trained networks.

3 Approach
A Ghost module first applies an ordinary convolution with few output channels, then a
cheap depthwise convolution generates ghost feature maps, and both are concatenated.

4 Experiments
CIFAR-10 results with a batch size of 128 are reported.
"""

JSONL_PAPERS = [
    {"id": "cbam", "title": "CBAM: Convolutional Block Attention Module",
     "abstract": "We propose a light attention module for convolutional networks.",
     "text": "## Method\nChannel attention is followed by spatial attention computed from "
             "pooled maps with a 7x7 convolution.\n## Results\nTop-1 improves by 1 point."},
    {"id": "birds", "title": "A Census of Garden Bird Songs",
     "abstract": "We record and count bird songs in 300 gardens across Europe.",
     "text": "## Method\nVolunteers recorded songs at dawn."},
]  # fmt: skip

# the arXiv metadata dump (arxiv-metadata-oai-snapshot.json): one JSON object per line,
# titles and abstracts with line breaks and leading spaces, no full text
ARXIV_LINES = [
    {"id": "1512.03385", "submitter": "Kaiming He", "authors": "Kaiming He, Xiangyu Zhang",
     "title": "Deep Residual Learning for Image\n  Recognition", "comments": "Tech report",
     "journal-ref": None, "doi": None, "categories": "cs.CV", "license": None,
     "abstract": "  Deeper neural networks are more difficult to train. We present a residual\n"
                 "learning framework with identity shortcut connections between layers.\n",
     "versions": [{"version": "v1", "created": "Thu, 10 Dec 2015 19:51:55 GMT"}],
     "update_date": "2015-12-10", "authors_parsed": [["He", "Kaiming", ""]]},
    {"id": "2101.00001", "submitter": "A. Author", "authors": "A. Author",
     "title": "Pricing Options with\n  Stochastic Volatility", "comments": None,
     "journal-ref": None, "doi": None, "categories": "q-fin.PR", "license": None,
     "abstract": "  We price European options under a stochastic volatility model.\n",
     "versions": [], "update_date": "2021-01-01", "authors_parsed": []},
]  # fmt: skip


def _corpus(root: Path) -> Path:
    d = root / "corpus"
    (d / "papers").mkdir(parents=True)
    (d / "papers" / "se-net.md").write_text(SE_MD)
    (d / "papers" / "ghostnet.txt").write_text(GHOST_TXT)
    (d / "papers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL_PAPERS))
    (d / "arxiv-metadata-oai-snapshot.json").write_text(
        "".join(json.dumps(r) + "\n" for r in ARXIV_LINES)
    )
    return d


def test_corpus_formats_are_read(tmp_path: Path) -> None:
    papers = {p.id: p for p in load_corpus(_corpus(tmp_path))}
    assert set(papers) == {"se-net", "ghostnet", "cbam", "birds", "1512.03385", "2101.00001"}
    se, ghost, res = papers["se-net"], papers["ghostnet"], papers["1512.03385"]
    assert se.title == "Squeeze-and-Excitation Networks"
    assert se.abstract.startswith("We propose the Squeeze") and "Introduction" not in se.abstract
    assert ghost.title.startswith("GhostNet") and ghost.abstract.startswith("Deploying")
    assert "Redundant" not in ghost.abstract  # the abstract ends at the next section
    assert res.title == "Deep Residual Learning for Image Recognition"
    assert res.abstract.startswith("Deeper neural networks") and res.text == ""
    assert "squeezes global" in method_section(se.text)
    assert "ImageNet" not in method_section(se.text)
    assert "ghost feature maps" in method_section(ghost.text)
    assert "CIFAR-10" not in method_section(ghost.text)


MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"


def assert_pool_round_trips(pool: KnowledgePool, tmp_path: Path) -> None:
    """Saved and loaded back as a knowledge pool: ids, paper ids and texts intact."""
    pool.save(tmp_path / "knowledge.jsonl")
    back = KnowledgePool.load(tmp_path / "knowledge.jsonl")
    assert [(i.id, i.paper_id, i.text) for i in back.items] == [
        (i.id, i.paper_id, i.text) for i in pool.items
    ]


def _recorded_prompts(task: str) -> list[str]:
    """The user prompts of ``task`` in the cassette: what the model was sent (a replay finds
    an answer only for a request identical to a recorded one, so today's code sends them)."""
    data = json.loads(CASSETTE.read_text(encoding="utf-8"))
    users = [str(e["request"]["messages"][-1]["content"])
             for v in data["entries"].values() for e in v]  # fmt: skip
    return [u for u in users if u.startswith(f"Task: {task}\n")]


def test_reader_filters_and_extracts_as_the_real_model_answered(tmp_path: Path) -> None:
    from store.result_store import LocalResultStore

    meta = json.loads(CASSETTE.read_text(encoding="utf-8"))["recorded_with"]
    assert meta["model"] == MODEL and "Q4_K_M" in meta["model_note"]
    papers = load_corpus(_corpus(tmp_path))
    store = LocalResultStore(tmp_path / "tables")
    llm = LLMClient(MODEL, mode="replay", cassette=Cassette(CASSETTE), temperature=0.0, seed=3,
                    max_tokens=512, sink=LLMClient.store_sink(store, "reader"))  # fmt: skip
    pool = Reader(llm).build_pool(papers)
    # one filter call per paper on title + abstract only, one extraction per kept paper
    filters, extracts = _recorded_prompts("reader_filter"), _recorded_prompts("reader_extract")
    assert len(filters) == len(papers) == 6
    se_filter = next(u for u in filters if "Squeeze" in u)
    assert "recalibrates" in se_filter and "squeezes global" not in se_filter
    se_extract = next(u for u in extracts if "Squeeze" in u)
    assert "squeezes global" in se_extract and "ImageNet" not in se_extract
    res_extract = next(u for u in extracts if "Residual" in u)
    assert "identity shortcut" in res_extract  # no text: extracted from the abstract
    # What the 1.5B model did: it answered "Yes" (verdict first, then its reason) or
    # "ANSWER: yes" for every paper, the bird census and option pricing included, and then
    # wrote CNN "inspirations" even for those -- it does not filter. Five per paper kept.
    assert len(extracts) == 6
    by_paper: dict[str, list[str]] = {}
    for it in pool.items:
        by_paper.setdefault(it.paper_id, []).append(it.text)
        assert it.source == "reader:llm"
    assert {k: len(v) for k, v in by_paper.items()} == {
        "se-net": 5, "ghostnet": 5, "cbam": 5, "birds": 5, "1512.03385": 5, "2101.00001": 5,
    }  # fmt: skip
    assert any("Identity shortcut" in t for t in by_paper["1512.03385"])
    assert any("sigmoid" in t.lower() for t in by_paper["se-net"])
    assert len({it.id for it in pool.items}) == len(pool) == 30
    assert_pool_round_trips(pool, tmp_path)
    rows = store.read("llm_calls", "reader").to_pylist()
    assert len(rows) == 12 and {r["agent"] for r in rows} == {"reader"}
    assert sorted({r["prompt_id"] for r in rows}) == ["reader_extract@1", "reader_filter@1"]
    assert all(r["status"] == "ok" and r["tokens_in"] > 0 and r["cache_hit"] for r in rows)
    assert {r["step"] for r in rows} == {f"reader:{p.id}" for p in papers}
