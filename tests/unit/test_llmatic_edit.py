"""LLMatic's mutation as an edit (issue 24 item 3): a per-parent grammar that admits only
cells not yet proposed, the edit parser on hostile answers, and the crossover re-ask."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pytest

from nas.grammar import GrammarError
from nas.prompts.parsers import PromptParseError
from nas.prompts.strategy_parsers import (
    EDIT_MAX_CHARS,
    NetworkParseError,
    edit_constraint,
    edit_neighbours,
    parse_edit_answer,
)
from nas.records import Candidate, TrialRecord, TrialState
from nas.spaces import NB201Space
from nas.strategies.llm import PromptText
from nas.strategies.llmatic import LLMatic, LlmaticConfig
from nas.strategies.operators import LLMOperators, OperatorError

SPACE = NB201Space()
PARENT = SPACE.encode(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none", "avg_pool_3x3",
                       "nor_conv_3x3"])  # fmt: skip
NAMES = [p.name for p in SPACE.positions]


def _text(changes: tuple[tuple[int, str], ...]) -> str:
    return "".join(f"{NAMES[i]}: {c}\n" for i, c in changes)


def _by_hash() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for a in SPACE.enumerate(None):
        out[SPACE.arch_hash(a)].append(a)
    return out


def test_every_admitted_edit_yields_an_unproposed_cell_other_than_the_parent() -> None:
    known_cells = {SPACE.arch_hash(a) for a in SPACE.neighbours(PARENT)[::3]}

    def known(a: str) -> bool:
        return SPACE.arch_hash(a) in known_cells

    admitted = edit_neighbours(SPACE, PARENT, known, 1)
    assert admitted and len(admitted) < 24  # some single-edge neighbours were excluded
    g = edit_constraint(SPACE, admitted).grammar
    assert g is not None
    for changes, arch in admitted.items():
        answer = _text(changes)
        assert g.accepts(answer) and g.accepts(answer.rstrip("\n"))
        child = parse_edit_answer(answer, SPACE, PARENT)
        assert child == arch and not known(child)
        assert SPACE.arch_hash(child) != SPACE.arch_hash(PARENT)
    # the parent's own op and the proposed neighbours are not sentences of the grammar
    for i, op in enumerate(SPACE.decode(PARENT)):
        assert not g.accepts(f"{NAMES[i]}: {op}\n")
        for c in SPACE.positions[i].choices:
            new = list(SPACE.decode(PARENT))
            new[i] = c
            if known(SPACE.encode(new)):
                assert not g.accepts(f"{NAMES[i]}: {c}\n")
    assert not g.accepts("edge 4<-0: none\n") and not g.accepts("edge 2<-1: conv_7x7\n")
    assert not g.accepts(_text(next(iter(admitted))) * 2)


def test_an_isomorph_of_a_proposed_cell_is_not_admitted() -> None:
    groups = _by_hash()
    # a parent with a single-edge neighbour that has an isomorph written differently
    rng = np.random.default_rng(0)
    for _ in range(500):
        parent = SPACE.sample(rng)
        pairs = [
            (n, other)
            for n in SPACE.neighbours(parent)
            for other in groups[SPACE.arch_hash(n)]
            if other != n and SPACE.arch_hash(n) != SPACE.arch_hash(parent)
        ]
        if pairs:
            break
    neighbour, isomorph = pairs[0]
    proposed = {isomorph}  # the strategy saw only the other spelling
    admitted = edit_neighbours(
        SPACE, parent, lambda a: SPACE.arch_hash(a) in {SPACE.arch_hash(p) for p in proposed}, 1
    )
    assert neighbour not in admitted.values()
    [i] = [k for k, (x, y) in enumerate(zip(SPACE.decode(parent), SPACE.decode(neighbour),
                                            strict=True)) if x != y]  # fmt: skip
    line = f"{NAMES[i]}: {SPACE.decode(neighbour)[i]}\n"
    assert not edit_constraint(SPACE, admitted).grammar.accepts(line)  # type: ignore[union-attr]
    # edits that give back the parent (an edge that does not reach the output) are not new
    assert all(SPACE.arch_hash(a) != SPACE.arch_hash(parent) for a in admitted.values())


def test_two_edge_edits_when_no_single_edge_neighbour_is_new_then_a_recorded_error() -> None:
    singles = {SPACE.arch_hash(a) for a in edit_neighbours(SPACE, PARENT, lambda a: False, 1)
               .values()}  # fmt: skip

    def known(a: str) -> bool:
        return SPACE.arch_hash(a) in singles

    assert edit_neighbours(SPACE, PARENT, known, 1) == {}
    ops = LLMOperators(lambda p, t: "", mutation_answer="edit")
    ops.known = known
    prompt = ops.edit_prompt(SPACE, PARENT, 0)
    assert prompt.ref == "llmatic_edit@1" and prompt.constraint is not None
    assert prompt.constraint.name == "llmatic_edit2@1"
    g = prompt.constraint.grammar
    assert g is not None
    pairs = edit_neighbours(SPACE, PARENT, known, 2)
    for changes, arch in list(pairs.items())[::7]:
        assert (
            g.accepts(_text(changes)) and parse_edit_answer(_text(changes), SPACE, PARENT) == arch
        )
        assert not known(arch)
    assert not g.accepts(_text(next(iter(pairs))[:1]))  # one edge alone is not new here
    ops.known = lambda a: True
    with pytest.raises(OperatorError, match="no unproposed cell"):
        ops.edit_prompt(SPACE, PARENT, 0)
    with pytest.raises(GrammarError):
        edit_constraint(SPACE, {})


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * (EDIT_MAX_CHARS + 1), "long"),
        ("edge 2<-1: nor_conv_1x1\n" * 200, "long"),
        ("edge 4<-0: none", "unknown"),
        ("edge 2<-1: conv_7x7", "choice"),
        ("edge 2<-1: " + "a" * 500, "choice"),
        ("edge 1<-0: nor_conv_3x3", "unchanged"),
        ("edge 1<-0: none\nedge 1<-0: skip_connect", "conflict"),
        ("edge 1<-0: none\nedge 2<-0: none\nedge 2<-1: none", "many"),
        ("I would change the pooling layer.", "missing"),
        ("\x00\x01: \x02", "missing"),
    ],
)
def test_hostile_edit_answers_raise_a_parse_error_with_a_reason(answer: str, reason: str) -> None:
    with pytest.raises(NetworkParseError) as e:
        parse_edit_answer(answer, SPACE, PARENT)
    assert e.value.reason == reason and len(str(e.value)) < 400


def test_random_hostile_edit_answers_raise_only_parse_errors() -> None:
    rng = np.random.default_rng(1)
    alphabet = [*"edge 1<-0:2\n3_nor_conv_x`*-", "none", "skip_connect", "edge 3<-2: "]
    parsed = 0
    for _ in range(400):
        answer = "".join(rng.choice(alphabet, size=int(rng.integers(0, 40))))
        try:
            child = parse_edit_answer(answer, SPACE, PARENT)
        except PromptParseError:
            continue
        parsed += 1
        assert SPACE.validate(child) == child and child != PARENT
    assert parsed < 400


def test_prose_and_markdown_around_an_edit_are_tolerated() -> None:
    child = parse_edit_answer("Sure:\n```\n- `edge 3<-0: nor_conv_3x3`\n```\nDone.", SPACE, PARENT)
    assert SPACE.decode(child)[3] == "nor_conv_3x3"


def _obeying_server(log: list[PromptText]) -> Callable[[str, float], str]:
    """A scripted server that obeys the sent grammar: it answers the prompt's example, the
    first edit the grammar admits, and checks the answer against the sent grammar."""

    def complete(prompt: str, temperature: float) -> str:
        assert isinstance(prompt, PromptText)
        log.append(prompt)
        if prompt.ref == "llmatic_edit@1":
            answer = prompt.split("for example '")[1].split("'")[0].replace(" / ", "\n")
            assert prompt.constraint is not None and prompt.constraint.grammar is not None
            assert prompt.constraint.grammar.accepts(answer)
            return answer
        raise AssertionError(prompt.ref)

    return complete


def test_edit_mutations_on_an_obeying_server_never_repeat_nor_fall_back() -> None:
    log: list[PromptText] = []
    ops = LLMOperators(_obeying_server(log), mutation_answer="edit")
    s = LLMatic(operators=ops, rng=np.random.default_rng(0), mutation_prob=1.0, init_size=4)
    for _ in range(30):
        [c] = s.ask(1)
        s.tell([(c, _record(c))])
    assert s.operator_failures == [] and ops.repeats == 0
    agents = {c.origin.agent for c, _ in s.history}
    assert agents == {"random-init", "llm-operators:mutation"}
    assert len(log) == 26 and {p.ref for p in log} == {"llmatic_edit@1"}


def _record(c: Candidate) -> TrialRecord:
    return TrialRecord(c.id, TrialState.COMPLETE, metrics={"val_acc": 0.5})


def test_crossover_that_repeats_a_cell_is_re_asked_once_hotter_then_falls_back() -> None:
    calls: list[tuple[PromptText, float]] = []
    new = SPACE.encode(["skip_connect"] * 6)

    def complete(prompt: str, temperature: float) -> str:
        assert isinstance(prompt, PromptText)
        calls.append((prompt, temperature))
        a = prompt.split("Network A:\n")[1].split("\n\n")[0]
        if prompt.ref == "llmatic_crossover_reask@1" and len(calls) == 2:
            return SPACE.describe(new)
        return a  # network A again: a cell already proposed

    ops = LLMOperators(complete, crossover_reask=True)
    s = LLMatic(operators=ops, rng=np.random.default_rng(0), mutation_prob=0.0, init_size=4)
    for _ in range(4):
        [c] = s.ask(1)
        s.tell([(c, _record(c))])
    [child] = s.ask(1)
    assert child.arch == new and child.origin.agent == "llm-operators:crossover"
    (first, t0), (second, t1) = calls
    assert first.ref == "llmatic_crossover@2" and second.ref == "llmatic_crossover_reask@1"
    assert t1 == pytest.approx(min(t0 + 0.3, 1.2))
    assert "already evaluated:\n" + first.split("Network A:\n")[1].split("\n\n")[0] in second
    assert len(ops.reasks) == 1 and ops.repeats == 1 and s.operator_failures == []
    # the next crossover repeats twice per try: one re-ask per call, then the rule operator
    s.tell([(child, _record(child))])
    calls.clear()
    [c2] = s.ask(1)
    assert c2.origin.agent == "rule-based-operators:crossover(fallback)"
    assert [p.ref for p, _ in calls].count("llmatic_crossover_reask@1") == len(calls) // 2
    assert any("already proposed" in f for f in s.operator_failures)


def test_mutation_answer_is_a_validated_setting_and_the_old_mode_stays() -> None:
    assert LlmaticConfig().mutation_answer == "edit" and LlmaticConfig().crossover_reask
    LlmaticConfig(mutation_answer="cell").validate()
    with pytest.raises(ValueError, match="mutation_answer"):
        LlmaticConfig(mutation_answer="diff").validate()
    with pytest.raises(OperatorError):
        LLMOperators(lambda p, t: "", mutation_answer="diff")
    old = LLMOperators(lambda p, t: "")
    assert old.mutation_answer == "cell" and not old.crossover_reask
