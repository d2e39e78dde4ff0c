"""The NADER authors' own logs as material (../shared/fixtures/nader/experiences): their
distilled experiences in the real ExperiencePool, and the blocks their Modifier wrote and
their checker rejected, judged by our parser and validator.

Mapping of NADER's error messages to our validator rules, checked strictly where the
meaning is the same rule:

* "X can receive only one input" / "The output node can have only one input" /
  "X cannot receive only one input" -> ``arity``;
* "out_channels must be divisible by groups" (base and stem blocks) -> ``groups``;
* "node N ... is not used" -> ``unused-node`` or ``dangling-node`` (NADER has one rule for
  "not on an input-to-output path"; we say which end is missing).

Shape messages ("Add shape error", "Concat error: ...", "Output shape error") are only
counted: NADER checks a block inside its own network at its own widths and reports the
first failure of its PyTorch forward, while we check the lone block at 64 channels and
report every structural error first (a GoogLeNet branch that is both dangling and
concatenated is "Concat error" there, ``unused-node`` here), so those agree only partly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nas.agents.experience import MemoryExperiencePool
from nas.agents.nader_logs import nader_experience_items
from nas.agents.reflector import CATEGORIES, Reflector
from nas.graph import validate
from nas.prompts import PromptParseError, parse_block_answer
from tests.conftest import shared_path

STRICT = [
    (r"multiply cannot", None),  # "multiply" is no op of ours: unknown-op, not arity
    (r"receive only one input|can have only one input", {"arity"}),
    (r"divisible by groups", {"groups"}),
    (r"not used", {"unused-node", "dangling-node"}),
]
LOOSE = [
    (r"Add shape error|Mul shape error|inputs can not (be )?Add", {"broadcast"}),
    (r"^Concat error", {"concat"}),
    (r"Output shape", {"contract"}),
    (r"first dimension must be B", {"reshape"}),
]


def _rule(error: str, table: Sequence[tuple[str, set[str] | None]]) -> set[str] | None:
    for pat, rules in table:
        if re.search(pat, error):
            return rules
    return None


def _logged_failures() -> Iterator[tuple[str, str, str]]:
    """(where, failing block text, NADER's error) for base/stem failures of both logs."""
    d = shared_path("fixtures", "nader", "experiences")
    allfailed = json.loads((d / "develop_allfailed_240709_log.json").read_text())
    f2s = json.loads((d / "develop_fail2success_240709_log.json").read_text())
    for part in ("base", "stem"):
        for model, v in allfailed.get(part, {}).items():
            for i, e in enumerate(v["errors"]):
                yield f"allfailed/{part}/{model}/{i}", e["fail_block"][f"{part}_block"], e["error"]
        for model, lst in f2s.get(part, {}).items():
            for i, e in enumerate(lst):
                yield f"f2s/{part}/{model}/{i}", e["fail_block"][f"{part}_block"], e["error"]


def _rules_of(text: str) -> set[str]:
    g = next(iter(parse_block_answer(text).blocks.values()))
    return {e.rule for e in validate(g)}


def test_logged_failures_are_invalid_for_the_implied_rule() -> None:
    strict = agree = loose = 0
    for where, text, error in _logged_failures():
        want = _rule(error, STRICT)
        if want is not None:
            strict += 1
            rules = _rules_of(text)
            assert rules & want, (where, error, rules)
            continue
        want = _rule(error, LOOSE)
        if want is None:
            continue
        loose += 1
        try:
            rules = _rules_of(text)
        except PromptParseError:
            continue
        agree += bool(rules & want)
    assert strict == 19  # arity, groups (stem) and "not used" failures in these logs
    assert loose >= 40 and agree >= 15, (agree, loose)


def test_logged_blocks_with_loose_headers_parse() -> None:
    """GPT-4 wrote '###Name###' headers in NADER's runs; the answer parser accepts them."""
    headers = 0
    for _where, text, _error in _logged_failures():
        if re.search(r"^###", text, re.M):
            headers += 1
            try:
                parse_block_answer(text)
            except PromptParseError as e:
                assert e.reason == "syntax" and "header" not in str(e), e
    assert headers >= 20


def _load_pool(tmp_path: Path) -> tuple[Any, list[dict[str, Any]]]:
    from store.embedders import HashingEmbedder
    from store.experience import ExperiencePool
    from store.result_store import LocalResultStore

    d = shared_path("fixtures", "nader", "experiences")
    items = nader_experience_items(d / "develop_allfailed_240709_experience.json")
    items += nader_experience_items(d / "research_fail_240807_experience.json")
    store = LocalResultStore(tmp_path / "tables")
    pool = ExperiencePool(store, "nader-logs", HashingEmbedder(), tmp_path / "index")
    pool.add_many(items)
    return pool, items


def test_distilled_experiences_in_the_real_pool(tmp_path: Path) -> None:
    pool, items = _load_pool(tmp_path)
    develop = [it for it in items if it["metadata"]["team"] == "develop"]
    research = [it for it in items if it["metadata"]["team"] == "research"]
    assert len(develop) >= 100 and len(research) == 75 and len(pool) == len(items)
    assert {it["category"] for it in items} <= set(CATEGORIES)
    groups = [it for it in develop if "divisible by groups" in it["metadata"]["errors"][0]]
    assert groups and {it["category"] for it in groups} == {"channel mismatch"}
    # retrieval: the 5 most similar, best first, with categories and the team filter
    query = "Conv2d out_channels must be divisible by groups in a grouped convolution"
    hits = pool.query(query, k=5, where={"team": "develop"})
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.category in CATEGORIES and h.metadata["team"] == "develop" for h in hits)
    assert sum(h.category == "channel mismatch" for h in hits) >= 3
    # experience is keyed by its suggestion (as NADER indexes d['inspiration']): the
    # suggestion an experience was learned on finds it first
    probe = develop[7]["metadata"]["suggestion"]
    top = pool.query(probe, k=5)[0]
    assert top.metadata["suggestion"] == probe and top.score > 0.99
    # the Reflector's retrieval on the same pool: 5 texts per suggestion, per team
    refl = Reflector(pool, llm=None, k=5)
    assert len(refl.retrieve(query, "develop")) == 5
    levels = refl.research_levels(research[0]["metadata"]["suggestion"])
    assert sum(len(v) for v in levels.values()) == 5  # tips only: scores are low (general)


def test_distilled_experiences_in_the_memory_pool() -> None:
    d = shared_path("fixtures", "nader", "experiences")
    pool = MemoryExperiencePool()
    for it in nader_experience_items(d / "develop_allfailed_240709_experience.json"):
        pool.add(it["text"], it["category"], it["kind"], it["metadata"])
    hits = pool.query("LN last dimension must be the channel dimension permute", k=5)
    assert len(hits) == 5 and all(h.category in CATEGORIES for h in hits)
    assert any("LN" in h.text or "permute" in h.text for h in hits)
