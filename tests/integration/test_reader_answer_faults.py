"""The Reader against answers a model gives on a bad day, injected by the scripted stand-in
server (``tests.support.scripted_openai_server``): a filter answer that is prose only (no answer line: the
paper is dropped and the call is still accounted), answer lines in other cases and words
("Answer: Yes", "ANSWER: yes"), numbered inspirations after a chatty lead-in. What the real
model does on the same corpus is replayed in ``test_reader_llm.py``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nas.agents.reader import Reader, load_corpus
from nas.llm import LLMClient
from tests.integration.test_reader_llm import _corpus, assert_pool_round_trips
from tests.support.scripted_openai_server import ScriptedOpenAIServer

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


def test_reader_survives_prose_and_odd_answer_lines(tmp_path: Path) -> None:
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
    # (what the prompts hold is checked on the real model's replay, test_reader_llm.py)
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
    assert_pool_round_trips(pool, tmp_path)
    rows = store.read("llm_calls", "reader").to_pylist()
    assert len(rows) == 10 and {r["agent"] for r in rows} == {"reader"}
    assert sorted({r["prompt_id"] for r in rows}) == ["reader_extract@1", "reader_filter@1"]
    assert all(r["status"] == "ok" and r["tokens_in"] > 0 for r in rows)
