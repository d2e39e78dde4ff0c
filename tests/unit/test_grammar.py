"""The grammar language renders one form into GBNF and a checking regex that agree."""

from __future__ import annotations

import doctest

import pytest

import nas.grammar as grammar_module
from nas.grammar import (
    Alt,
    Chars,
    Constraint,
    Grammar,
    GrammarError,
    Lit,
    Ref,
    Rep,
    Seq,
    alt_of,
    lines,
)


def _cell() -> Grammar:
    return Grammar(
        {
            "root": Seq((lines(Ref("edge"), 2, 2),)),
            "edge": Seq((Lit("edge "), Rep(Chars("0-9"), 1, 2), Lit(": "), Ref("op"))),
            "op": alt_of(["nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1"]),
        }
    )


def test_doctests() -> None:
    assert doctest.testmod(grammar_module).failed == 0


def test_gbnf_text_names_every_rule_once_root_first() -> None:
    text = _cell().gbnf()
    names = [line.split(" ::= ")[0] for line in text.splitlines()]
    assert names == ["root", "edge", "op"]
    assert '"nor_conv_1x1" | "nor_conv_3x3" | "skip_connect" | "none"' in text
    assert "[0-9]{1,2}" in text
    assert '"\\n"' in text  # the newline is escaped, not written raw


def test_regex_accepts_exactly_the_sentences() -> None:
    g = _cell()
    assert g.accepts("edge 1: none\nedge 12: skip_connect\n")
    assert not g.accepts("edge 1: none\n")  # one line short
    assert not g.accepts("edge 1: none\nedge 2: avg_pool_3x3\n")  # unknown op
    assert not g.accepts("edge 1: none\nedge 123: none\n")  # too many digits
    assert not g.accepts("edge 1: none\nedge 2: none\n# note\n")  # trailing text


def test_literals_with_quotes_and_backslashes_render_escaped() -> None:
    g = Grammar({"root": Lit('say "a\\b"\t')})
    assert g.gbnf() == 'root ::= "say \\"a\\\\b\\"\\t"\n'
    assert g.accepts('say "a\\b"\t')


def test_recursive_and_missing_rules_are_refused() -> None:
    with pytest.raises(GrammarError, match="refers to itself"):
        Grammar({"root": Seq((Lit("("), Ref("root"), Lit(")")))})
    with pytest.raises(GrammarError, match="not defined"):
        Grammar({"root": Ref("nowhere")})
    with pytest.raises(GrammarError, match="rule name"):
        Grammar({"root": Lit("x"), "Bad_Name": Lit("y")})
    with pytest.raises(GrammarError):
        Rep(Lit("x"), 3, 2)
    with pytest.raises(GrammarError):
        Alt(())


def test_a_constraint_needs_a_form() -> None:
    with pytest.raises(GrammarError):
        Constraint("empty@1")
    assert Constraint("yes_no@1", Grammar({"root": alt_of(["yes", "no"])})).grammar is not None
