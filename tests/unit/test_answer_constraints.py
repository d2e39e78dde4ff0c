"""The answer forms sent as constraints (nas.prompts parsers' ``*_constraint``): generated
from the code's own tables, they accept every answer of the recorded real-model cassettes
that the parser accepted and that is written in the form, reject malformed answers, and
every sentence they generate is accepted by the parser. The call sites pass them."""

from __future__ import annotations

import glob
import json
import random
import re
import string
from pathlib import Path
from typing import Any

import pytest

from nas.agents.reflector import CATEGORIES
from nas.grammar import Alt, Chars, Constraint, Expr, Grammar, Lit, Ref, Seq
from nas.llm.structured import json_matches
from nas.prompts import PromptParseError, parse_ranking, parse_tips, parse_yes_no
from nas.prompts.parsers import ranking_constraint, tips_constraint, yes_no_constraint
from nas.prompts.strategy_parsers import (
    candidates_constraint,
    network_constraint,
    parse_candidates,
    parse_network_answer,
    parse_principles_answer,
)
from nas.spaces import NB201Space

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = sorted(glob.glob(str(ROOT / "tests/fixtures/llm/*.json"))) + sorted(
    glob.glob(str(ROOT / "bench/results/real_llm_*cassette.json"))
)
_ALPHABET = string.ascii_letters + string.digits + " .,;:-_()[]{}<>#*`'\"/\n\t"


def sample(g: Grammar, rng: random.Random, most: int = 3) -> str:
    """A random sentence of ``g`` (repetitions capped at ``most`` beyond their minimum)."""

    def gen(e: Expr) -> str:
        if isinstance(e, Lit):
            return e.text
        if isinstance(e, Chars):
            spec = e.spec.replace("\\n", "\n").replace("\\t", "\t")
            pool = [
                c
                for c in _ALPHABET
                if re.fullmatch(f"[{re.escape(spec[0]) if spec[0] != '^' else '^'}{spec[1:]}]", c)
            ]
            return rng.choice(pool)
        if isinstance(e, Ref):
            return gen(g.rules[e.name])
        if isinstance(e, Seq):
            return "".join(gen(i) for i in e.items)
        if isinstance(e, Alt):
            return gen(rng.choice(e.items))
        hi = e.lo + most if e.hi is None else min(e.hi, e.lo + most)
        return "".join(gen(e.item) for _ in range(rng.randint(e.lo, hi)))

    return gen(Ref(g.root))


def answers(task: str) -> list[str]:
    """Every answer to prompts of ``task`` in the recorded real-model cassettes."""
    out = []
    for f in CASSETTES:
        for exchanges in json.loads(Path(f).read_text())["entries"].values():
            for ex in exchanges:
                msgs = (ex.get("request") or {}).get("messages") or []
                if "response" in ex and any(f"Task: {task}\n" in m["content"] for m in msgs):
                    out.append(ex["response"]["choices"][0]["message"]["content"] or "")
    return out


def grammar(c: Constraint) -> Grammar:
    assert c.grammar is not None
    return c.grammar


# ----------------------------------------------------------------- LLMatic / NB201 cell
def test_network_grammar_comes_from_the_space_and_fixes_the_dropped_last_line() -> None:
    sp = NB201Space()
    g = grammar(network_constraint(sp))
    for p in sp.positions:  # every position and every op of the space's own table
        assert f'"{p.name}: "' in g.gbnf() and all(f'"{c}"' in g.gbnf() for c in p.choices)
    cell = "\n".join(f"{p.name}: {p.choices[1]}" for p in sp.positions)
    assert g.accepts(cell) and g.accepts(cell + "\n")
    dropped = "\n".join(cell.splitlines()[:5])  # the real model's commonest bad answer
    for bad in (dropped, cell.replace(sp.positions[0].choices[1], "conv_5x5", 1),
                cell + "\nedge 4<-0: skip_connect", "- " + cell, ""):  # fmt: skip
        assert not g.accepts(bad), bad


def test_network_grammar_accepts_every_parsed_real_answer_in_its_form() -> None:
    sp, g = NB201Space(), grammar(network_constraint(NB201Space()))
    in_form = malformed = 0
    for task in ("llmatic_mutate", "llmatic_crossover"):
        for text in answers(task):
            try:
                parse_network_answer(text, sp)
            except PromptParseError:
                malformed += 1
                assert not g.accepts(text), text  # what the parser refused, the grammar too
                continue
            lines = text.strip().splitlines()
            if [ln.split(":")[0] for ln in lines] == [p.name for p in sp.positions]:
                in_form += 1
                assert g.accepts(text), text
    assert in_form >= 50 and malformed >= 10  # the recorded cassettes hold both


@pytest.mark.parametrize("seed", range(5))
def test_the_parser_accepts_every_generated_cell(seed: int) -> None:
    sp = NB201Space()
    text = sample(grammar(network_constraint(sp)), random.Random(seed))
    assert sp.validate(parse_network_answer(text, sp))


# ----------------------------------------------------------------- LAPT
def test_candidates_grammar_from_the_space_and_max_ops() -> None:
    sp = NB201Space()
    c = candidates_constraint(sp, 2)
    g = grammar(c)
    head = "PATTERNS:\n1. conv early\n\nPRINCIPLES:\n1. keep convs\n2. skip late\n\nCANDIDATES:\n"
    ok = head + '```json\n{"layer0": [4], "layer1": [0, 4], "layer2": [3], "layer3": [3], ' \
        '"layer4": [1], "layer5": [3, 2]}\n```'  # fmt: skip
    assert g.accepts(ok)
    assert not g.accepts(ok.replace("[0, 4]", "[0, 4, 3]"))  # more than max_ops
    assert not g.accepts(ok.replace("[4]", "[5]"))  # an ID the position lacks
    assert not g.accepts(ok.replace("[4]", "[]"))  # a layer with no operation
    assert not g.accepts(ok.replace(', "layer5": [3, 2]', ""))  # a layer left out
    assert grammar(candidates_constraint(sp, None)).accepts(ok.replace("[0, 4]", "[0, 4, 3]"))
    # the JSON Schema form (for servers that take only JSON) says the same of the object
    obj = json.loads(ok.split("```json\n")[1].split("\n```")[0])
    assert c.json_schema is not None and json_matches(c.json_schema, obj)
    assert not json_matches(c.json_schema, {**obj, "layer1": [0, 4, 3]})
    assert not json_matches(c.json_schema, {**obj, "layer0": [5]})
    assert parse_candidates(json.dumps(obj), sp) == parse_principles_answer(ok, sp).candidates


def test_candidates_grammar_accepts_every_parsed_real_answer_in_its_form() -> None:
    sp = NB201Space()
    in_form = 0
    for task in ("lapt_principles", "lapt_update", "lapt_widen"):
        g = grammar(candidates_constraint(sp, None if task == "lapt_widen" else 2))
        for text in answers(task):
            try:
                parse_principles_answer(text, sp)
            except PromptParseError:
                assert not g.accepts(text)
                continue
            m = re.fullmatch(r"PATTERNS:\n(?:\d+\. [^\n{}`]+\n)+\nPRINCIPLES:\n(?:\d+\. [^\n{}`]+\n)+"
                             r"\nCANDIDATES:\n```json\n(\{[^`]*\})\n```\n?", text)  # fmt: skip
            if m and all(len(v) <= 2 or task == "lapt_widen" for v in json.loads(m[1]).values()):
                in_form += 1
                if len(text.split("PATTERNS:")[1].split("PRINCIPLES")[0].splitlines()) <= 8:
                    assert g.accepts(text), text
    assert in_form >= 1


@pytest.mark.parametrize("seed", range(5))
def test_the_parser_accepts_every_generated_principles_answer(seed: int) -> None:
    sp = NB201Space()
    for max_ops in (2, None):
        text = sample(grammar(candidates_constraint(sp, max_ops)), random.Random(seed))
        parsed = parse_principles_answer(text, sp)
        assert all(0 < len(a) <= (max_ops or 5) for a in parsed.candidates)
        assert parsed.patterns and parsed.principles


# ----------------------------------------------------------------- NADER agents
def test_ranking_grammar_names_only_ids_that_exist() -> None:
    g = grammar(ranking_constraint(4, 3))
    assert g.accepts("RANKING: 3, 1, 2\n\n- because\n- also")
    for bad in ("RANKING: 5", "RANKING: 0, 1", "RANKING: 1, 2, 3, 4", "I pick 3.\nRANKING: 3",
                "RANKING: 1\nRANKING: 2", "RANKING: 1\n7. why"):  # fmt: skip
        assert not g.accepts(bad), bad
    for seed in range(5):
        text = sample(g, random.Random(seed))
        assert all(0 <= i < 4 for i in parse_ranking(text, 4))
    in_form = 0
    for text in answers("proposer_rank"):
        if text.startswith("RANKING: ") and re.fullmatch(r"RANKING: [\d, ]+(\n\n?- [^\n]+)*", text):
            in_form += 1
            assert grammar(ranking_constraint(4, 3)).accepts(text), text
    assert in_form >= 1


def test_tips_grammar_uses_the_reflectors_categories() -> None:
    g = grammar(tips_constraint(CATEGORIES))
    assert all(f'"{c}"' in g.gbnf() for c in CATEGORIES)
    assert g.accepts("TIP [syntax]: close the list.\n\nTIP [memory]: fewer channels.")
    for bad in ("TIP [style]: nicer", "TIP [syntax]:", "Some advice.", "TIP [syntax]: a\n" * 4):
        assert not g.accepts(bad), bad
    for seed in range(5):
        assert parse_tips(sample(g, random.Random(seed)))
    in_form = 0
    for task in ("reflector_degrade", "reflector_invalid"):
        for text in answers(task):
            parse_tips(text)
            cats = re.findall(r"^TIP \[([^\]]*)\]", text, re.M)
            if re.fullmatch(r"(TIP \[[a-z ]+\]: [^\n]+(\n\n?|$)){1,3}", text) and all(
                c in CATEGORIES for c in cats
            ):
                in_form += 1
                assert g.accepts(text), text
    assert in_form >= 3


def test_yes_no_grammar_puts_the_verdict_first() -> None:
    g = grammar(yes_no_constraint())
    assert g.accepts("ANSWER: no") and g.accepts("ANSWER: yes\nIt adds a block.")
    for bad in ("Yes", "ANSWER: maybe", "It is.\nANSWER: yes", "ANSWER: yes\na\nb"):
        assert not g.accepts(bad), bad
    for seed in range(5):
        text = sample(g, random.Random(seed))
        assert parse_yes_no(text) is text.startswith("ANSWER: yes")
    in_form = 0
    for text in answers("reader_filter"):
        if re.fullmatch(r"ANSWER: (yes|no)(\n[^\n]+)?", text):
            in_form += 1
            assert g.accepts(text)
    assert in_form >= 1


# ----------------------------------------------------------------- the call sites pass them
class _Recorder:
    """An LLM client stand-in that answers ``text`` and keeps each call's constraint."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.constraints: list[Constraint | None] = []

    def chat(self, messages: Any, **kw: Any) -> Any:
        from nas.llm.client import ChatReply

        self.constraints.append(kw.get("constraint"))
        return ChatReply(self.text, "c1", "m", 1, 1, 0.0, 0.0, False, "stop", 0)

    def mark_fallback(self, call_id: str, what: str) -> None:
        """A fallback would be named on the call's row; this fake has no rows."""


def test_llmatic_and_lapt_prompts_carry_their_constraint_to_the_client() -> None:
    import numpy as np

    from nas.strategies.llm import LLMCompletion
    from nas.strategies.operators import LLMOperators
    from nas.strategies.principles import LLMPrincipleLearner

    sp = NB201Space()
    cell = "\n".join(f"{p.name}: {p.choices[2]}" for p in sp.positions)
    rec = _Recorder(cell)
    ops = LLMOperators(LLMCompletion(rec, "llmatic"))
    ops.mutate(sp, sp.sample(np.random.default_rng(0)), 0, 0.7, np.random.default_rng(0))
    assert rec.constraints[-1] is not None and rec.constraints[-1].name == "llmatic_network@1"
    learner = LLMPrincipleLearner(LLMCompletion(rec, "lapt"))
    learner.learn(sp, [(sp.sample(np.random.default_rng(1)), 0.9)])
    assert rec.constraints[-1] is not None and rec.constraints[-1].name == "lapt_candidates@1"


def test_proposer_reflector_and_reader_send_their_constraint() -> None:
    from nas.agents.reader import Paper, Reader

    rec = _Recorder("ANSWER: yes\nrelevant")
    assert Reader(rec).relevant(Paper(id="p", title="t", abstract="a"))  # type: ignore[arg-type]
    assert rec.constraints[-1] is not None and rec.constraints[-1].name == "yes_no@1"
