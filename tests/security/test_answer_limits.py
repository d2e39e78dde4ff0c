"""Bounds on block text, checked before any parsing work (issue #23): each crafted text is
a ParseError naming its limit key, fast; the expression parser alone raises only ExprError."""

from __future__ import annotations

import time

import pytest

from launcher.config import load_config
from nas.graph.expr import ExprError, evaluate, normal_form, parse_expr
from nas.graph.limits import CEILING, DEFAULT_LIMITS, AnswerLimits
from nas.graph.text import ParseError, parse_blocks
from nas.prompts import PromptParseError, parse_block_answer

HEAD = "##b##\n0:input\n1:output\n"
EDGES = "0->2\n2->1\n"

CRAFTED = {
    "max_expr_depth": "2:Conv2d(out_channels=" + "(" * 3000 + "C" + ")" * 3000 + ")\n",
    "max_literal_digits": "9" * 5000 + ":ReLU\n2:ReLU\n",
    "max_expr_length": "2:Conv2d(out_channels=" + "+".join(["C"] * 400) + ")\n",
    "max_nodes": "".join(f"{i}:ReLU\n" for i in range(2, 400)),
    "max_edges": "2:ReLU\n" + "0->2\n" * 2000,
    "max_answer_bytes": "2:ReLU\n# " + "x" * 5_000_000 + "\n",
}
LITERALS = ["C*1e9999999/1e9999999", "1e99999999", "C*" + "9" * 150, "1" + "0" * 13]


@pytest.mark.parametrize("key", sorted(CRAFTED))
def test_each_crafted_text_is_a_parse_error_naming_its_limit(key):
    t0 = time.perf_counter()
    with pytest.raises(ParseError, match=f"answer_limits.{key}"):
        parse_blocks(HEAD + CRAFTED[key] + EDGES, limits=DEFAULT_LIMITS)
    with pytest.raises(PromptParseError, match=key):
        parse_block_answer("```\n" + HEAD + CRAFTED[key] + EDGES + "```")
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("literal", LITERALS)
def test_huge_literals_are_refused_before_any_arithmetic(literal):
    t0 = time.perf_counter()
    with pytest.raises(ParseError, match="max_literal_digits"):
        parse_blocks(
            HEAD + f"2:Conv2d(out_channels={literal},kernel_size=3)\n" + EDGES,
            limits=DEFAULT_LIMITS,
        )
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    "text",
    [
        "(" * 3000 + "C" + ")" * 3000,
        "-" * 3000 + "C",
        "C*1e9999999/1e9999999",
        "1e99999999",
        "9" * 5000,
        "+".join(["1"] * 2000),
    ],
)
def test_the_expression_parser_raises_only_expr_error(text):
    t0 = time.perf_counter()
    try:
        e = parse_expr(text)
    except ExprError as err:  # refused: a reason, never another exception
        assert str(err)
    else:  # what it accepts it can also evaluate and normalise without recursing too deep
        evaluate(e, {"C": 8})
        normal_form(e)
    assert time.perf_counter() - t0 < 1.0


def test_limits_are_settings_and_lower_ones_apply():
    strict = AnswerLimits(max_nodes=4)
    with pytest.raises(ParseError, match="more than 4 nodes"):
        parse_blocks(HEAD + "2:ReLU\n3:ReLU\n4:ReLU\n" + EDGES, limits=strict)
    cfg = load_config(overrides=["strategy.nader.answer_limits.max_nodes=4"])
    assert cfg.strategy.nader.answer_limits.max_nodes == 4
    assert load_config().strategy.nader.answer_limits == AnswerLimits()


def test_a_run_may_raise_limits_up_to_the_ceiling_and_stored_text_parses_there():
    from launcher.config import ConfigError

    cfg = load_config(overrides=["strategy.nader.answer_limits.max_nodes=1000"], check=True)
    raised = cfg.strategy.nader.answer_limits
    big = HEAD + "".join(f"{i}:ReLU\n" for i in range(2, 600)) + EDGES
    parse_block_answer("```\n" + big + "```", limits=raised)  # accepted by the run
    parse_blocks(big)  # and readable where it is stored (the evaluator, the report)
    with pytest.raises(ConfigError, match="answer_limits.max_nodes"):
        load_config(overrides=["strategy.nader.answer_limits.max_nodes=5000"], check=True)
    with pytest.raises(ConfigError, match="answer_limits.max_answer_bytes"):
        load_config(overrides=["strategy.nader.answer_limits.max_answer_bytes=0"], check=True)
    # the ceiling still bounds files and stored text
    for key in ("max_expr_depth", "max_literal_digits", "max_answer_bytes"):
        with pytest.raises(ParseError, match=key):
            parse_blocks(HEAD + CRAFTED[key] + EDGES)
    assert CEILING.max_nodes >= DEFAULT_LIMITS.max_nodes
