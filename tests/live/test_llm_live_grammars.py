"""The real local server holds the Modifier's answers to their grammars (``block@1`` from
``nas.graph.grammar_block``, ``edits@1`` from ``nas.graph.edits``): each grammar goes out
as GBNF in ``extra_body={"grammar": ...}`` (what llama-cpp-python's server reads), straight
through the ``openai`` client so the test does not depend on the LLM client's adapters; the
answer must be a sentence of the grammar and parse on the first try. Two calls, bounded."""

from __future__ import annotations

import time

import pytest

from nas.agents.modifier import Modifier
from nas.grammar import Constraint
from nas.graph.edits import (
    EDIT_FORMS,
    apply_edits,
    change_first_constraint,
    edits_constraint,
    headed_constraint,
    kind_constraint,
    parse_edits,
    parse_kind,
)
from nas.graph.grammar_block import block_constraint
from nas.graph.seeds import seed_blocks
from nas.prompts import load_prompt, parse_block_answer
from tests.live.conftest import LIVE_TIMEOUT_S, LiveModel

pytestmark = [pytest.mark.llm_live, pytest.mark.timeout(1200)]

TASK = "Add a squeeze-and-excitation gate on the residual branch before the Add."


def _first_prompt(
    answer: str, change_first: bool = False, version: int = 2
) -> list[dict[str, str]]:
    """The Modifier's first messages for ``answer`` (block | edits), as a run sends them."""
    sent: list[list[dict[str, str]]] = []

    class _Capture:
        def chat(self, msgs: list[dict[str, str]], **_: object) -> object:
            sent.append(msgs)
            raise RuntimeError("captured")

    mod = Modifier(_Capture(), lambda g: [], lambda b: [], retries=0, answer=answer,
                   context_tokens=8192, max_tokens=600, change_first=change_first,
                   answer_version=version)  # fmt: skip
    with pytest.raises(RuntimeError, match="captured"):
        mod.modify(seed_blocks("resnet_basic"), TASK)
    return sent[0]


def _ask(live: LiveModel, msgs: list[dict[str, str]], c: Constraint, cap: int) -> str:
    import openai

    assert c.grammar is not None
    client = openai.OpenAI(base_url=live.base_url, api_key="sk-local",
                           timeout=LIVE_TIMEOUT_S, max_retries=0)  # fmt: skip
    t0 = time.perf_counter()
    r = client.chat.completions.create(
        model=live.model, messages=msgs, max_tokens=cap, temperature=0.7,  # type: ignore[arg-type]
        extra_body={"grammar": c.grammar.gbnf()},
    )  # fmt: skip
    text = r.choices[0].message.content or ""
    live.outcomes.append(
        f"{c.name} via GBNF: finish={r.choices[0].finish_reason}, "
        f"obeyed={c.grammar.accepts(text)}, {time.perf_counter() - t0:.0f} s: {text[:160]!r}"
    )
    assert r.choices[0].finish_reason == "stop", text[-200:]
    assert c.grammar.accepts(text), text
    return text


def test_the_server_holds_a_block_answer_to_the_block_grammar(live_model: LiveModel) -> None:
    text = _ask(live_model, _first_prompt("block"), block_constraint("ResNetBasic"), 700)
    assert list(parse_block_answer(text).blocks) == ["ResNetBasic"]


def test_the_server_holds_an_edit_answer_to_the_parents_grammar(live_model: LiveModel) -> None:
    base = seed_blocks("resnet_basic")["ResNetBasic"]
    text = _ask(live_model, _first_prompt("edits"), edits_constraint(base), 200)
    apply_edits(base, parse_edits(text, base))  # names only nodes and edges that exist


def test_the_server_holds_a_change_first_answer_to_its_change(live_model: LiveModel) -> None:
    """change+edits@2: a `Change:` line, then edits of that kind only."""
    base = seed_blocks("resnet_basic")["ResNetBasic"]
    text = _ask(live_model, _first_prompt("edits", change_first=True),
                change_first_constraint(base), 200)  # fmt: skip
    head, *lines = [ln for ln in text.strip("`\n").splitlines() if ln]
    verb = head.split()[1]
    assert head.startswith("Change: ") and all(ln.startswith(verb) for ln in lines)
    apply_edits(base, parse_edits(text, base, form=EDIT_FORMS["edits@2"]))


def test_the_server_holds_an_edits3_answer_to_its_named_change(live_model: LiveModel) -> None:
    """edits@3: a `Change:` line in plain words, then edits of that kind only."""
    base = seed_blocks("resnet_basic")["ResNetBasic"]
    text = _ask(live_model, _first_prompt("edits", version=3), headed_constraint(base), 200)
    assert text.strip("`\n").startswith("Change: ")
    apply_edits(base, parse_edits(text, base, form=EDIT_FORMS["edits@3"]))


def test_the_server_holds_the_kind_call_to_one_of_eight_kinds(live_model: LiveModel) -> None:
    """kind@1 (answer version 4's kind call, modifier_kind@1): one of eight words, read by
    parse_kind; about 330-360 prompt tokens, a few out."""
    msgs = load_prompt("modifier_kind").render(inspiration=TASK)
    text = _ask(live_model, msgs, kind_constraint(), 8)
    assert parse_kind(text) is not None, text
