"""Pure pieces of the agent team: prompts, parsers, designer, tree, knowledge, reader."""

from __future__ import annotations

import random

import pytest

from nas.agents.designer import CATALOGUE, match_transformation
from nas.agents.knowledge import KnowledgePool
from nas.agents.reader import Reader, parse_arxiv_atom
from nas.agents.tree import ModificationTree, TreeNode, tree_from_payloads
from nas.graph.seeds import SEED_BLOCKS, seed_block
from nas.graph.validate import validate_block
from nas.llm import LLMBudget, cost_usd, request_key
from nas.prompts import (
    PromptParseError,
    TemplateError,
    list_prompts,
    load_prompt,
    parse_block_answer,
    parse_ranking,
    parse_tips,
)
from tests.conftest import shared_path


def test_prompts_render_and_refuse_holes() -> None:
    assert set(list_prompts()) >= {"modifier", "modifier_repair", "proposer_rank", "reader_filter"}
    t = load_prompt("modifier", 1)
    msgs = t.render(block="##b##", inspiration="x", experiences="-", ops="ReLU")
    assert t.ref == "modifier@1" and "{{" not in msgs[-1]["content"]
    assert load_prompt("modifier").ref == "modifier@3"  # the newest version by default
    with pytest.raises(TemplateError, match="missing slots"):
        t.render(block="##b##")


@pytest.mark.parametrize(
    "answer,reason",
    [
        ("", "empty"),
        ("Add an SE module.", "prose"),
        ("```\n##b##\n0:input\n2:Re LU\n```", "syntax"),
    ],
)
def test_block_parser_reports_precisely(answer: str, reason: str) -> None:
    with pytest.raises(PromptParseError) as e:
        parse_block_answer(answer)
    assert e.value.reason == reason


def test_other_parsers() -> None:
    assert parse_block_answer("ok\n```\n##b##\n0:input\n1:output\n0->1\n```").names == ["b"]
    assert parse_ranking("because...\nRANKING: 2, 1", 3) == [1, 0]
    with pytest.raises(PromptParseError, match="outside"):
        parse_ranking("RANKING: 7", 3)
    assert parse_tips("TIP [shape mismatch]: align widths") == [("shape mismatch", "align widths")]


@pytest.mark.parametrize("seed", sorted(SEED_BLOCKS))
def test_catalogue_produces_valid_blocks(seed: str) -> None:
    g = seed_block(seed)
    applied = 0
    for t in CATALOGUE.values():
        h = t.apply(g, 0)
        if h is not None:
            assert validate_block(h) == [], (seed, t.name)
            applied += 1
    assert applied >= 4
    assert (
        match_transformation("use squeeze-and-excitation channel attention").name == "se_attention"
    )


def test_tree_selection_and_payload_roundtrip() -> None:
    tree = ModificationTree()
    tree.add(TreeNode("r", None, state="COMPLETE", val_acc=0.5))
    tree.add(TreeNode("a", "r", "s1", "COMPLETE", 0.6))
    tree.add(TreeNode("b", "r", "s2", "COMPLETE", 0.4))
    rng = random.Random(0)
    assert tree.select(rng, dfs_ratio=1.0)[0].id == "a"  # deepen the improving path
    assert tree.select(rng, dfs_ratio=0.0)[0].id in ("a", "b")  # breadth: fewest children
    back = tree_from_payloads([n.payload() for n in tree.nodes.values()])
    assert back.render() == tree.render()


def test_budget_prices_and_keys() -> None:
    assert cost_usd("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("llama3:8b", 10**6, 10**6) == 0.0
    b = LLMBudget(max_usd=0.01)
    b.charge(0, 0, 0.02)
    assert b.exhausted
    m = [{"role": "user", "content": "x"}]
    assert request_key("chat", "m", m, {"temperature": 0.1}) != request_key(
        "chat", "m", m, {"temperature": 0.2}
    )


def test_nader_inspiration_pool_loads() -> None:
    path = shared_path("fixtures", "nader", "inspirations", "inspirations_040611.json")
    pool = KnowledgePool.load(path)
    assert len(pool) == 5411 and len(pool.papers) == 1181
    assert len(KnowledgePool.builtin()) == len(CATALOGUE)


ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry><id>http://arxiv.org/abs/1709.01507v4</id>
    <title>Squeeze-and-Excitation Networks</title>
    <summary>We propose a novel architectural unit, the SE block, that adaptively
    recalibrates channel-wise feature responses.</summary></entry>
</feed>"""


def test_reader_offline_and_atom() -> None:
    papers = parse_arxiv_atom(ATOM)
    assert papers[0].id == "1709.01507v4" and "Squeeze" in papers[0].title
    pool = Reader().build_pool(papers)
    assert len(pool) == 1 and pool.items[0].paper_id == "1709.01507v4"
