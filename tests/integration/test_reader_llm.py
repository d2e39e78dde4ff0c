"""The Reader's LLM path: the real ``openai`` client against the scripted server, on a corpus
in every supported format (JSONL {title, abstract, text}, Markdown and plain-text papers, an
arXiv metadata dump in its one-object-per-line format)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nas.agents.knowledge import KnowledgePool
from nas.agents.reader import Reader, load_corpus, method_section
from nas.llm import LLMClient
from nas.llm.testing_server import ScriptedOpenAIServer

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

RELEVANT = {"Squeeze", "GhostNet", "CBAM", "Residual"}

IDEAS = {
    "Squeeze": ["Add a squeeze-and-excitation gate: global average pooling, a bottleneck "
                "MLP and a sigmoid that rescales each channel."],
    "GhostNet": ["Produce half of the channels with a cheap depthwise convolution of the "
                 "other half and concatenate them.", "Use few output channels in the "
                 "primary convolution to save computation."],
    "CBAM": ["Apply channel attention, then spatial attention from a 7x7 convolution of "
             "pooled maps."],
    "Residual": ["Add an identity shortcut around every two convolutions."],
}  # fmt: skip


def _field(text: str, name: str) -> str:
    m = re.search(rf"^{name}: (.*)$", text, re.M)
    return m.group(1) if m else ""


class Librarian:
    """A scripted stand-in for a model: realistic answers in the format each prompt asks."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (task, user content)

    def __call__(self, req: dict[str, Any]) -> str:
        user = str(req["messages"][-1]["content"])
        task = _field(user, "Task")
        self.seen.append((task, user))
        if task == "reader_filter":
            title = _field(user, "Title")
            if "Bird" in title:  # a model that forgets the answer line: prose only
                return "This paper studies bird songs and proposes no network architecture."
            yes = any(k in title for k in RELEVANT)
            why = ("It introduces a reusable architectural unit for CNNs." if yes
                   else "It is about finance, not neural network design.")  # fmt: skip
            return f"{why}\nAnswer: {'Yes' if yes else 'No'}" if "Ghost" in title else (
                f"{why}\nANSWER: {'yes' if yes else 'no'}")  # fmt: skip
        if task == "reader_extract":
            title = _field(user, "Paper")
            key = next(k for k in IDEAS if k in title)
            items = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(IDEAS[key]))
            return f"Here are the inspirations:\n{items}"
        return "I do not understand the task."


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


def test_reader_filters_and_extracts_through_the_real_client(tmp_path: Path) -> None:
    from store.result_store import LocalResultStore

    papers = load_corpus(_corpus(tmp_path))
    store = LocalResultStore(tmp_path / "tables")
    lib = Librarian()
    with ScriptedOpenAIServer(responder=lib) as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-test",
                        temperature=0.0, seed=3, timeout_s=5.0,
                        sink=LLMClient.store_sink(store, "reader"))  # fmt: skip
        pool = Reader(llm).build_pool(papers)
        reqs = srv.requests
    # one filter call per paper on title + abstract only, one extraction per relevant paper
    filters = [u for t, u in lib.seen if t == "reader_filter"]
    extracts = [u for t, u in lib.seen if t == "reader_extract"]
    assert len(filters) == len(papers) == 6 and len(extracts) == 4
    se_filter = next(u for u in filters if "Squeeze" in u)
    assert "recalibrates" in se_filter and "squeezes global" not in se_filter
    se_extract = next(u for u in extracts if "Squeeze" in u)
    assert "squeezes global" in se_extract and "ImageNet" not in se_extract
    res_extract = next(u for u in extracts if "Residual" in u)
    assert "identity shortcut" in res_extract  # no text: extracted from the abstract
    assert {(r["temperature"], r["seed"]) for r in reqs} == {(0.0, 3)}
    # every inspiration keeps its paper id; irrelevant papers gave none
    by_paper: dict[str, list[str]] = {}
    for it in pool.items:
        by_paper.setdefault(it.paper_id, []).append(it.text)
        assert it.source == "reader:llm"
    assert by_paper == {
        "se-net": IDEAS["Squeeze"], "ghostnet": IDEAS["GhostNet"], "cbam": IDEAS["CBAM"],
        "1512.03385": IDEAS["Residual"],
    }  # fmt: skip
    assert len({it.id for it in pool.items}) == len(pool) == 5
    # saved and loaded back as a knowledge pool, paper ids intact
    pool.save(tmp_path / "knowledge.jsonl")
    back = KnowledgePool.load(tmp_path / "knowledge.jsonl")
    assert [(i.id, i.paper_id, i.text) for i in back.items] == [
        (i.id, i.paper_id, i.text) for i in pool.items
    ]
    rows = store.read("llm_calls", "reader").to_pylist()
    assert len(rows) == 10 and {r["agent"] for r in rows} == {"reader"}
    assert sorted({r["prompt_id"] for r in rows}) == ["reader_extract@1", "reader_filter@1"]
    assert all(r["status"] == "ok" and r["tokens_in"] > 0 for r in rows)
