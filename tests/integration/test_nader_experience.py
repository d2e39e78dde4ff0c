"""NADER's experience as in the paper and its authors' retrievers: keyed by the suggestion
(the pool embeds the suggestion, not the tip), top-k without repeats, per block role,
research tips from failed trainings, the source said honestly; embeddings are LLM calls.

Why the scripted stand-in server: the endpoint contract -- embedding requests (the project's
model server does not serve embeddings) and the Modifier prompt it received."""

from __future__ import annotations

import re
from pathlib import Path

from nas.agents.knowledge import Inspiration, KnowledgePool
from nas.agents.nader_strategy import NaderStrategy
from nas.agents.reflector import Reflector
from nas.llm import LLMClient
from store.embedders import HashingEmbedder, LLMClientEmbedder
from store.experience import ExperiencePool
from store.result_store import LocalResultStore
from tests.support.scripted_designer_llm import ScriptedDesignerLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer

S = "Replace batch normalization with layer normalization in every block"
PARAPHRASE = "Use layer normalization in place of batch normalization in each block"
TIP = "Permute to channels-last before LN and back afterwards."  # no word shared with S
DISTRACTORS = [
    "Add a squeeze-and-excitation channel attention gate",
    "Use dilated convolutions to enlarge the receptive field",
    "Insert depthwise separable convolutions to reduce parameters",
    "Add stochastic depth on the residual branch",
    "Use a larger 7x7 kernel in the first convolution",
    "Add a parallel inception-style branch with 1x1 convolutions",
    "Use an inverted bottleneck with 4x expansion",
    "Add spatial attention from pooled channel statistics",
    "Swap ReLU for the GELU activation",
    "Use grouped convolutions with 8 groups",
]


def _pool(tmp_path: Path) -> ExperiencePool:
    store = LocalResultStore(tmp_path / "tables")
    pool = ExperiencePool(store, "r", HashingEmbedder(), tmp_path / "index")
    refl = Reflector(pool, llm=None)
    refl.on_invalid("##b##", ["node 3: [layout] LN acts on the last dim"], None, S, "c0")
    pool.add(TIP, "shape mismatch", "failure",
             {"team": "develop", "role": "base", "suggestion": S, "source": "llm"}, key=S)  # fmt: skip
    for i, d in enumerate(DISTRACTORS):
        for _ in range(2):  # the same lesson learned twice: retrieval gives it once
            pool.add(f"Lesson {i}: verify shapes after '{d[:20]}'.", "shape mismatch", "failure",
                     {"team": "develop", "role": "base", "suggestion": d, "source": "llm"},
                     key=d)  # fmt: skip
    return pool


def test_tips_are_keyed_and_retrieved_by_suggestion(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    assert not set(TIP.lower().split()) & set(S.lower().split())
    refl = Reflector(pool, llm=None, k=5)
    for query in (S, PARAPHRASE):
        got = refl.retrieve(query, "develop", role="base")
        assert TIP in got[:3], (query, got)
        assert len(got) == len(set(got)) == 5
    # a distractor's lesson, stored twice, comes back once
    got = refl.retrieve(DISTRACTORS[0], "develop", role="base")
    assert got.count("Lesson 0: verify shapes after 'Add a squeeze-and-ex'.") == 1
    # role filter: no stem/downsample lesson here; the canned tip says it is rule-based
    assert refl.retrieve(S, "develop", role="derive") == []
    meta = [h.metadata for h in pool.query(S, k=20) if h.metadata.get("source") == "rule-based"]
    assert meta and meta[0]["role"] == "base" and meta[0]["key"] == S


def test_modifier_prompt_receives_the_tip_for_s_and_a_paraphrase(tmp_path: Path) -> None:
    for i, suggestion in enumerate((S, PARAPHRASE)):
        pool = _pool(tmp_path / str(i))
        with ScriptedOpenAIServer(responder=ScriptedDesignerLLM(fault_every=0)) as srv:
            llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                            temperature=0.0, seed=0)  # fmt: skip
            s = NaderStrategy("resnet_basic", llm=llm, experience=pool, seed=0,
                              pool=KnowledgePool([Inspiration("p1", suggestion)]))  # fmt: skip
            s.ask(2)
            prompts = [str(r["messages"][-1]["content"]) for r in srv.requests]
        mod = [p for p in prompts if p.startswith("Task: modifier\n")]
        assert mod and TIP in mod[0], suggestion
        section = re.search(r"###Correctness experience###\n.*?\n(.*?)\n\n", mod[0], re.S)
        assert section and len(section.group(1).splitlines()) == len(
            set(section.group(1).splitlines())
        )


def test_failed_trainings_give_research_tips_that_reach_the_modifier(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    refl = Reflector(pool, llm=None)
    ids = refl.on_result(S, 0.71, None, "##p##", "##c##", "c9", state="DIVERGED",
                         error="loss is NaN at epoch 3")  # fmt: skip
    [hit] = [h for h in pool.query(S, k=50, where={"team": "research"}) if h.id == ids[0]]
    assert "DIVERGED" in hit.text and hit.metadata["state"] == "DIVERGED"
    assert hit.metadata["source"] == "rule-based"
    assert refl.retrieve(PARAPHRASE, "research") == [hit.text]


def test_embeddings_are_llm_calls_naming_the_candidate(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = []
    with ScriptedOpenAIServer() as srv:
        llm = LLMClient("gpt-4o-mini", base_url=srv.base_url, api_key="sk-local",
                        sink=rows.extend, embed_model="text-embedding-3-small")  # fmt: skip
        store = LocalResultStore(tmp_path / "tables")
        pool = ExperiencePool(store, "r", LLMClientEmbedder(llm), tmp_path / "index")
        with llm.scope("step-1") as att:
            pool.add(TIP, "shape mismatch", "failure", {"team": "develop"}, key=S)
            hits = pool.query(PARAPHRASE, k=1)
            att.candidate_id = "cand-7"
        n_requests = len(srv.requests)
    assert hits and hits[0].text == TIP
    assert len(rows) == n_requests == 2
    assert all(r["prompt_id"] == "embeddings" and r["candidate_id"] == "cand-7" for r in rows)
    assert all(r["step"] == "step-1" and int(r["tokens_in"]) > 0 for r in rows)  # type: ignore[call-overload]
    assert att.tokens_in == sum(int(r["tokens_in"]) for r in rows)  # type: ignore[call-overload]
