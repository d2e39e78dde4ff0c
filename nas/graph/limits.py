"""Bounds on block text from outside (an LLM answer, a block file), checked before any
parsing work so that no answer can make parsing, hashing or validation slow or crash.

A text over a bound is refused with :class:`nas.graph.text.ParseError` naming the bound
and its key (``strategy.nader.answer_limits.<field>``), so the Modifier records it as the
reason of an INVALID design like any other syntax error. The defaults are far above what a
real block needs (the largest built-in seed has 14 nodes, its longest argument is 40
characters) and far below what costs time (hashing a 256-node block takes milliseconds).

    >>> AnswerLimits().max_nodes
    256
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["CEILING", "DEFAULT_LIMITS", "AnswerLimits", "literal_digits"]


@dataclass(frozen=True)
class AnswerLimits:
    """Upper bounds on one answer's block text; each hit is a recorded reason."""

    max_answer_bytes: int = 65_536  # UTF-8 bytes of one answer (the whole text, before parsing)
    max_nodes: int = 256  # node lines in one block
    max_edges: int = 1024  # edge lines in one block
    max_expr_length: int = 200  # characters of one operation argument (e.g. ``C*2`` is 3)
    max_expr_depth: int = 16  # parenthesis nesting inside one argument
    max_literal_digits: int = 12  # decimal digits of a number or node index (``1e9`` has 10)
    # a valid design's params and MACs at most this many times the seed network's, when
    # budget.max_params / budget.max_flops are 0 (no explicit ceiling); 0 = no such bound
    max_size_factor: float = 32.0

    def out_of_range(self) -> list[tuple[str, float, float, float]]:
        """``(field, value, lowest, highest)`` of each field outside what a run may set
        (at least 1, at most :data:`CEILING`'s; ``max_size_factor`` may be 0 = off)."""
        top = asdict(CEILING)
        out = []
        for name, value in asdict(self).items():
            low = 0.0 if name == "max_size_factor" else 1.0
            if not low <= value <= top[name]:
                out.append((name, float(value), low, float(top[name])))
        return out


DEFAULT_LIMITS = AnswerLimits()

# The most a run may set, and the bounds on block text that is not a fresh answer (a block
# file, a stored architecture): whatever a run's limits let in still parses there.
CEILING = AnswerLimits(
    max_answer_bytes=1_048_576,
    max_nodes=1024,
    max_edges=4096,
    max_expr_length=1000,
    max_expr_depth=64,
    max_literal_digits=18,
    max_size_factor=1e6,
)


def literal_digits(raw: str) -> int:
    """Decimal digits of the number written ``raw`` (``"12.5"`` -> 3, ``"1e9"`` -> 10): the
    digits of the mantissa plus a positive exponent. Counts without converting the text, so
    ``1e99999999`` costs nothing; an exponent longer than 6 digits counts as 10**6."""
    mantissa, _, exp = raw.lower().partition("e")
    digits = sum(ch.isdigit() for ch in mantissa)
    if exp.isdigit():
        digits += int(exp) if len(exp) <= 6 else 10**6
    return digits
