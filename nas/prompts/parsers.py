"""Parsers of LLM answers: extract the structured part or say precisely why not.

Every parser raises :class:`PromptParseError` (``reason`` is a short kind — ``empty``,
``prose``, ``syntax``, ``missing``, ``range`` — and the message quotes the offending part and
says what the answer should look like); none guesses. The message is what the Modifier sends
back on a repair turn.

    >>> parse_ranking("RANKING: 3, 1, 2", n=3)
    [2, 0, 1]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from nas.grammar import Chars, Constraint, Grammar, Lit, Ref, Rep, Seq, alt_of
from nas.graph.limits import DEFAULT_LIMITS, AnswerLimits
from nas.graph.text import ParseError, check_size, parse_blocks, serialize

__all__ = [
    "BlockAnswer",
    "PromptParseError",
    "parse_block_answer",
    "parse_list",
    "parse_ranking",
    "parse_tips",
    "parse_yes_no",
    "ranking_constraint",
    "tips_constraint",
    "yes_no_constraint",
]

# free text on one line that starts with a visible character (what the parsers' ``.*\S``
# needs); answer forms bound it by line count, the client's max_tokens bounds its length
_FREE = Seq((Chars("^\\n \\t"), Rep(Chars("^\\n"))))
_BLANK = Rep(Lit("\n"), 0, 1)  # an optional blank line between items (small models write one)

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n(.*?)```", re.S)
_HEADER = re.compile(r"^\s*##[^#\n]+##\s*$", re.M)
# "###Name###" headers: what GPT-4 wrote in NADER's own logs; read as "##Name##"
_LOOSE_HEADER = re.compile(r"^([ \t]*)#{2,}[ \t]*([^#\n]+?)[ \t]*#{2,}[ \t]*$", re.M)
_BLOCK_LINE = re.compile(r"^\s*(##[^#]+##|\d+\s*:\s*\S.*|-?\d+\s*->\s*-?\d+)\s*$")


class PromptParseError(ValueError):
    def __init__(self, reason: str, message: str, excerpt: str = "") -> None:
        self.reason = reason
        self.excerpt = excerpt
        super().__init__(message + (f" -- got: {excerpt!r}" if excerpt else ""))


def _excerpt(text: str, n: int = 160) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 3] + "..."


class BlockAnswer:
    """Blocks extracted from an answer: ``text`` (normalized block file) and ``blocks``."""

    def __init__(self, text: str, limits: AnswerLimits = DEFAULT_LIMITS) -> None:
        self.blocks = parse_blocks(text, limits=limits)
        self.text = serialize(self.blocks)

    @property
    def names(self) -> list[str]:
        return list(self.blocks)


# a node or edge line followed by "  # comment" or "// comment" (never across lines)
_TRAILING_COMMENT = re.compile(
    r"^([ \t]*(?:\d+[ \t]*:[^\n#]*?\)|\d+[ \t]*:[ \t]*\w+|-?\d+[ \t]*->[ \t]*-?\d+))"
    r"(?:[ \t]+#|[ \t]*//)[^\n]*$",
    re.M,
)
_EDGE_CHAIN = re.compile(r"^([ \t]*)(-?\d+(?:[ \t]*->[ \t]*-?\d+){2,})[ \t]*$", re.M)


def _expand_chain(m: re.Match[str]) -> str:
    ids = [x.strip() for x in m.group(2).split("->")]
    return "\n".join(f"{m.group(1)}{a}->{b}" for a, b in itertools.pairwise(ids))


def parse_block_answer(
    text: str, expect: int | None = None, limits: AnswerLimits = DEFAULT_LIMITS
) -> BlockAnswer:
    """Block text from an answer: the fenced code blocks holding ``##name##`` headers, else
    the lines from the first header on. ``expect``: the number of blocks wanted (None = any
    >= 1). Raises :class:`PromptParseError` for an empty answer, prose without a block, a
    syntax error (line and column within the block text) or the wrong number of blocks.

    What real models write around the format is read: ``###Name###`` headers, code fences
    with a language tag, chatter before and after, trailing ``# comments`` on node and
    edge lines, and edge chains ``0->2->3`` (read as ``0->2`` and ``2->3``).

        >>> parse_block_answer("Sure!\\n```text\\n##b##\\n0:input\\n1:output\\n"
        ...                    "2:ReLU  # activation\\n0->2->1\\n```\\nDone.").text
        '##b##\\n0:input\\n1:output\\n2:ReLU\\n0->2\\n2->1\\n'
    """
    try:  # the size bound comes before any regular expression reads the answer
        check_size(text, limits)
    except ParseError as e:
        raise PromptParseError("limit", f"the answer is too long: {e.reason}") from e
    if not text or not text.strip():
        raise PromptParseError("empty", "the answer is empty: reply with the block in ```...```")
    text = _LOOSE_HEADER.sub(r"\1##\2##", text)
    text = _TRAILING_COMMENT.sub(r"\1", text)
    text = _EDGE_CHAIN.sub(_expand_chain, text)
    fenced = [m.group(1) for m in _FENCE.finditer(text) if _HEADER.search(m.group(1))]
    if fenced:
        body = "\n".join(fenced)
    elif _HEADER.search(text):
        lines = text.splitlines()
        start = next(i for i, ln in enumerate(lines) if _HEADER.match(ln))
        kept = []
        for ln in lines[start:]:
            if not ln.strip() or ln.strip().startswith("```"):
                continue
            if not _BLOCK_LINE.match(ln):
                break  # prose after the block ends it
            kept.append(ln)
        body = "\n".join(kept)
    else:
        raise PromptParseError(
            "prose",
            "no block found in the answer (no '##BlockName##' header): reply with the complete "
            "block in the text format, inside ``` fences",
            _excerpt(text),
        )
    try:
        ans = BlockAnswer(body, limits)
    except ParseError as e:
        raise PromptParseError(
            "syntax", f"the block text does not parse: {e}", _excerpt(body.splitlines()[0])
        ) from e
    if expect is not None and len(ans.blocks) != expect:
        raise PromptParseError(
            "missing",
            f"expected {expect} block(s), found {len(ans.blocks)} ({', '.join(ans.names)})",
        )
    return ans


# "RANKING: 3, 1, 2", also as small models write it: "**RANKING:** [3, 1, 2]", "#3 > #1"
_RANK = re.compile(r"RANKING\s*\**\s*:\s*\**\s*\[?\s*(#?[0-9][0-9,#\s>]*)", re.I)
# NADER's own answer format: "<response>3,1,2</response>" (its proposer prompt asks for it)
_RESPONSE = re.compile(r"<response>\s*([^<]*?)\s*</response>", re.I | re.S)


def parse_ranking(text: str, n: int) -> list[int]:
    """0-based indices from ``RANKING: 3, 1, 2`` or NADER's ``<response>3,1,2</response>``
    (1-based in the answer); each in [1, n], no repeats, at least one. Raises
    :class:`PromptParseError` otherwise.

        >>> parse_ranking("I would pick ... <response>2, 3,1</response>", n=3)
        [1, 2, 0]
    """
    if not text or not text.strip():
        raise PromptParseError("empty", "the answer is empty: end with 'RANKING: i, j, ...'")
    m = _RANK.search(text)
    tagged = _RESPONSE.findall(text)
    if m:
        listed = m.group(1)
    elif tagged and re.fullmatch(r"[\sp#0-9,;>]+", tagged[-1]):
        listed = tagged[-1]
    else:
        raise PromptParseError(
            "missing",
            "no 'RANKING:' line: end the answer with 'RANKING: i, j, ...'",
            _excerpt(text),
        )
    nums = [int(x) for x in re.findall(r"\d+", listed)]
    if not nums:
        raise PromptParseError("missing", "'RANKING:' lists no numbers", _excerpt(listed))
    bad = [x for x in nums if not 1 <= x <= n]
    if bad:
        raise PromptParseError("range", f"ranking numbers {bad} are outside 1..{n}", listed)
    out: list[int] = []
    for x in nums:
        if x - 1 not in out:
            out.append(x - 1)
    return out


def ranking_constraint(n: int, k: int) -> Constraint:
    """The answer form of :func:`parse_ranking` for ``n`` candidates: ``RANKING:`` first
    (the form the real model chose), 1..``k`` numbers among the ``n`` that exist, then up to
    ``k`` reasons, one ``- `` line each (not numbered: the parser would read a reason's
    number as part of the ranking).

        >>> c = ranking_constraint(3, 2)
        >>> c.grammar.accepts("RANKING: 3, 1\\n- best"), c.grammar.accepts("RANKING: 4")
        (True, False)
    """
    if n < 1 or k < 1:
        raise ValueError(f"a ranking of {k} among {n} candidates")
    reason = Seq((Lit("- "), _FREE))
    g = Grammar({
        "root": Seq((Lit("RANKING: "), Ref("id"), Rep(Seq((Lit(", "), Ref("id"))), 0, k - 1),
                     Rep(Seq((Lit("\n"), _BLANK, Ref("reason"))), 0, k))),
        "id": alt_of([str(i) for i in range(1, n + 1)]),
        "reason": reason,
    })  # fmt: skip
    return Constraint("ranking@1", grammar=g)


_BARE_YES_NO = re.compile(r"^\W*(yes|no)\W*$", re.I)


def parse_yes_no(text: str) -> bool:
    """``ANSWER: yes`` / ``ANSWER: no`` (case-insensitive), or — the form a small real model
    gives (Qwen2.5-Coder-1.5B: "Yes" then its reason) — a first or last line that is only
    yes or no (``**Yes.**``). First and last lines that disagree are no answer."""
    if not text or not text.strip():
        raise PromptParseError("empty", "the answer is empty: reply 'ANSWER: yes' or 'ANSWER: no'")
    m = re.search(r"ANSWER\s*:\s*\**\s*(yes|no)\b", text, re.I)
    if m:
        return m.group(1).lower() == "yes"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    bare = {b.group(1).lower() for ln in (lines[0], lines[-1]) if (b := _BARE_YES_NO.match(ln))}
    if len(bare) == 1:
        return bare.pop() == "yes"
    raise PromptParseError("missing", "no 'ANSWER: yes|no' line in the answer", _excerpt(text))


def yes_no_constraint() -> Constraint:
    """The answer form of :func:`parse_yes_no`: ``ANSWER: yes|no`` first, then at most one
    line of reason."""
    g = Grammar({"root": Seq((Lit("ANSWER: "), alt_of(["yes", "no"]),
                              Rep(Seq((Lit("\n"), _FREE)), 0, 1)))})  # fmt: skip
    return Constraint("yes_no@1", grammar=g)


_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.*\S)\s*$")


def parse_list(text: str, min_items: int = 1) -> list[str]:
    """Items of a numbered (``1. ...``) or bulleted (``- ...``) list."""
    if not text or not text.strip():
        raise PromptParseError("empty", "the answer is empty: reply with a numbered list")
    if re.search(r"^\s*NONE\s*$", text, re.M | re.I):
        return []
    items = [m.group(1).strip() for ln in text.splitlines() if (m := _ITEM.match(ln))]
    if len(items) < min_items:
        raise PromptParseError(
            "missing",
            f"expected a numbered list of at least {min_items} item(s) ('1. ...')",
            _excerpt(text),
        )
    return items


_TIP = re.compile(
    r"^\s*(?:[-*]|\d+[.)])?\s*\**TIP\**"
    # "[category]", or the category without brackets ("TIP invalid connection: ...")
    r"(?:\s*\[(?P<cat>[^\]]+)\]|[ \t]+(?P<bare>[A-Za-z][A-Za-z ]{0,30}?))?"
    r"\s*\**\s*:\s*\**\s*(?P<text>.*\S)\s*$",
    re.I,
)
# NADER's reflector answers: "<tip>...</tip>" (develop) and "<suggestion>...</suggestion>"
# (research); no category
_TAGGED_TIP = re.compile(r"<(tip|suggestion)>\s*(.*?)\s*</\1>", re.I | re.S)


def parse_tips(text: str) -> list[tuple[str, str]]:
    """``TIP [category]: text`` lines -> ``[(category, text)]`` (category may be empty); also
    NADER's ``<tip>text</tip>`` / ``<suggestion>text</suggestion>`` (category empty).

        >>> parse_tips("Analysis ... <tip>Permute to channels-last before LN.</tip>")
        [('', 'Permute to channels-last before LN.')]
    """
    if not text or not text.strip():
        raise PromptParseError("empty", "the answer is empty: reply with 'TIP [category]: ...'")
    tips = [
        ((m.group("cat") or m.group("bare") or "").strip().lower(), m.group("text").strip())
        for ln in text.splitlines()
        if (m := _TIP.match(ln))
    ]
    if not tips:
        tips = [("", " ".join(t.split())) for _, t in _TAGGED_TIP.findall(text) if t.strip()]
    if not tips:
        raise PromptParseError(
            "missing", "no 'TIP [category]: ...' line in the answer", _excerpt(text)
        )
    return tips


def tips_constraint(categories: Sequence[str], most: int = 3) -> Constraint:
    """The answer form of :func:`parse_tips`: 1..``most`` lines ``TIP [category]: text``, the
    category one of ``categories`` (the Reflector's table)."""
    g = Grammar({
        "root": Seq((Ref("tip"), Rep(Seq((Lit("\n"), _BLANK, Ref("tip"))), 0, most - 1))),
        "tip": Seq((Lit("TIP ["), alt_of(list(categories)), Lit("]: "), _FREE)),
    })  # fmt: skip
    return Constraint("tips@1", grammar=g)
