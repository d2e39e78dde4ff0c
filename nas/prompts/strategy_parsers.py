"""Parsers of the LAPT and LLMatic prompts' answers (``lapt_*``, ``llmatic_*`` templates).

Like :mod:`nas.prompts.parsers`, every parser raises a :class:`~nas.prompts.parsers.PromptParseError`
subclass whose ``reason`` is a short kind (``empty``, ``missing``, ``syntax``, ``choice``,
``unknown``, ``conflict``, ``invalid``) and whose message names the offending position/value
and what is valid; none guesses.

* :func:`parse_principles_answer` (parser ``lapt_candidates``): ``PATTERNS:`` /
  ``PRINCIPLES:`` / ``CANDIDATES:`` parts; the candidates are the answer's last JSON object
  (preferably in a ```json block) mapping every position of the space — by name, or as
  ``layer<k>``/``<k>`` in LAPT's code form — to a non-empty list of its choices (names, or
  operation IDs = indices into the position's choices). Raises :class:`PrincipleParseError`.
* :func:`parse_network_answer` (parser ``llmatic_network``): one ``position: choice`` line per
  position (bullets, backticks and trailing punctuation tolerated; a repeated position must
  repeat the same choice; a line naming a position the space lacks, e.g. ``edge 4<-0:
  skip_connect``, is an ``unknown`` error, not ignored). Raises :class:`NetworkParseError`.

    >>> from nas.spaces import NASBenchMacroSpace
    >>> sp = NASBenchMacroSpace()
    >>> parse_network_answer("\\n".join(f"layer {i}: identity" for i in range(8)), sp)
    '00000000'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from nas.grammar import (
    Alt,
    Chars,
    Constraint,
    Expr,
    Grammar,
    GrammarError,
    Lit,
    Ref,
    Rep,
    Seq,
    alt_of,
)
from nas.prompts.parsers import PromptParseError
from nas.spaces.base import CategoricalSpace, SpaceError

__all__ = [
    "NetworkParseError",
    "PrincipleParseError",
    "PrinciplesAnswer",
    "candidates_constraint",
    "edit_constraint",
    "edit_neighbours",
    "last_json_object",
    "network_constraint",
    "parse_candidates",
    "parse_edit_answer",
    "parse_network_answer",
    "parse_principles_answer",
    "split_statements",
]


class PrincipleParseError(PromptParseError):
    """A LAPT answer could not be turned into per-position candidates; says exactly why."""

    def __init__(self, message: str, reason: str = "syntax", excerpt: str = "") -> None:
        super().__init__(reason, message, excerpt)


class NetworkParseError(PromptParseError):
    """An LLMatic answer is not one member of the space; says exactly why."""

    def __init__(self, message: str, reason: str = "syntax", excerpt: str = "") -> None:
        super().__init__(reason, message, excerpt)


def _excerpt(text: str, n: int = 120) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 3] + "..."


# --------------------------------------------------------------------------- LAPT

_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def last_json_object(text: str) -> str | None:
    """The last fenced JSON object of ``text``, else its last balanced ``{...}``."""
    fenced = _FENCE.findall(text)
    if fenced:
        return str(fenced[-1])
    end = text.rfind("}")
    while end != -1:
        depth = 0
        for start in range(end, -1, -1):
            ch = text[start]
            if ch == "}":
                depth += 1
            elif ch == "{":
                depth -= 1
                if depth == 0:
                    return text[start : end + 1]
        end = text.rfind("}", 0, end)
    return None


def parse_candidates(answer: str, space: CategoricalSpace) -> tuple[frozenset[str], ...]:
    """The per-position candidate choices in an answer's (last) JSON object.

    Every position of ``space`` must appear with a non-empty list of valid choices; the
    error names the first offending position/value and the valid ones.
    """
    if not answer or not answer.strip():
        raise PrincipleParseError(
            'the answer is empty: expected CANDIDATES as {"<position>": ["<op>", ...], ...}',
            "empty",
        )
    blob = last_json_object(answer)
    if blob is None:
        raise PrincipleParseError(
            'no JSON object in the answer: expected {"<position>": ["<op>", ...], ...} '
            "inside a ```json block",
            "missing",
            _excerpt(answer),
        )
    try:
        data = json.loads(blob)
    except json.JSONDecodeError as e:
        raise PrincipleParseError(
            f"the answer's JSON does not parse: {e.msg} at char {e.pos}",
            "syntax",
            _excerpt(blob[max(0, e.pos - 40) : e.pos + 40]),
        ) from None
    if not isinstance(data, dict):
        raise PrincipleParseError(f"the answer's JSON is a {type(data).__name__}, not an object")
    names = [p.name for p in space.positions]
    keys: dict[str, int] = {}
    for k, name in enumerate(names):
        keys[name] = keys[f"layer{k}"] = keys[f"layer_{k}"] = keys[str(k)] = k
    unknown = [k for k in data if str(k) not in keys]
    if unknown:
        raise PrincipleParseError(
            f"unknown position {unknown[0]!r} in the answer; positions are: {', '.join(names)} "
            f"(or layer0..layer{len(names) - 1})",
            "unknown",
        )
    given: dict[int, object] = {}
    for key, vals in data.items():
        k = keys[str(key)]
        if k in given:
            raise PrincipleParseError(
                f"position {names[k]!r} is given twice in the answer; write each layer once",
                "conflict",
            )
        given[k] = vals
    out = []
    for k, p in enumerate(space.positions):
        if k not in given:
            raise PrincipleParseError(
                f"position {p.name!r} is missing from the answer (layer{k}); every position "
                f"needs a list (choices: {', '.join(p.choices)}; IDs 0..{len(p.choices) - 1})",
                "missing",
            )
        vals = given[k]
        if isinstance(vals, str | int):
            vals = [vals]
        if not isinstance(vals, list) or not vals:
            raise PrincipleParseError(
                f"position {p.name!r}: expected a non-empty list of operators, got {vals!r}",
                "missing",
            )
        chosen = []
        for v in vals:
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(p.choices):
                chosen.append(p.choices[v])
            elif isinstance(v, str) and v in p.choices:
                chosen.append(v)
            else:
                raise PrincipleParseError(
                    f"position {p.name!r}: {v!r} is not a choice; choose from "
                    f"{', '.join(p.choices)} (IDs 0..{len(p.choices) - 1})",
                    "choice",
                )
        out.append(frozenset(chosen))
    return tuple(out)


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s*")
_SENTENCE = re.compile(r"(?<=[.;!])\s+(?=[A-Z])")


def split_statements(text: str) -> tuple[str, ...]:
    """Items of a free-text part: one per (bulleted/numbered) line, or per sentence when the
    part is one paragraph."""
    lines = [_BULLET.sub("", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) == 1:
        lines = [s.strip() for s in _SENTENCE.split(lines[0]) if s.strip()]
    return tuple(lines)


def _section(answer: str, name: str, stop: str) -> str:
    m = re.search(
        rf"(?:^|\n)[#* ]*{name}[* ]*:?(.*?)(?:\n[#* ]*(?:{stop})\b|```|\{{|$)",
        answer,
        re.DOTALL | re.IGNORECASE,
    )
    return m.group(1).strip().strip("*").strip() if m else ""


@dataclass(frozen=True)
class PrinciplesAnswer:
    """A parsed LAPT answer: pattern and principle statements, candidates per position."""

    patterns: tuple[str, ...]
    principles: tuple[str, ...]
    candidates: tuple[frozenset[str], ...]

    def text(self) -> str:
        parts = []
        if self.patterns:
            parts.append("PATTERNS: " + " ".join(self.patterns))
        if self.principles:
            parts.append("PRINCIPLES: " + " ".join(self.principles))
        return "\n".join(parts)


def parse_principles_answer(answer: str, space: CategoricalSpace) -> PrinciplesAnswer:
    """Patterns, principles (may be empty when the parts are unlabelled) and candidates
    (required: see :func:`parse_candidates`) of a LAPT answer."""
    candidates = parse_candidates(answer, space)
    patterns = split_statements(_section(answer, "PATTERNS", "PRINCIPLES|CANDIDATES"))
    principles = split_statements(_section(answer, "PRINCIPLES", "CANDIDATES"))
    return PrinciplesAnswer(patterns, principles, candidates)


# a numbered statement of a PATTERNS/PRINCIPLES part: "1. text" with no brace or backtick
# (the part parser stops at "{" and "```"), starting with a visible character
_STATEMENT = Seq((Chars("1-9"), Rep(Chars("0-9"), 0, 1), Lit(". "), Chars("^\\n \\t{}`"),
                  Rep(Chars("^\\n{}`"))))  # fmt: skip
_WS = Rep(Chars(" \\n"), 0, 8)


def candidates_constraint(space: CategoricalSpace, max_ops: int | None) -> Constraint:
    """The answer form of :func:`parse_principles_answer` in LAPT's code form: ``PATTERNS:``
    and ``PRINCIPLES:`` as numbered lines (1..6 and 1..8), then ``CANDIDATES:`` and a
    ```json block mapping every ``layer<k>`` of ``space``, in order, to 1..``max_ops``
    (None: all) operation IDs of that position -- IDs that exist, never an empty list. Its
    JSON Schema is the candidates object alone (which the parser also reads).

        >>> from nas.spaces import NB201Space
        >>> c = candidates_constraint(NB201Space(), 2)
        >>> print(c.grammar.gbnf().splitlines()[-1])
        id5 ::= "0" | "1" | "2" | "3" | "4"
    """

    def part(name: str, most: int) -> Expr:
        return Seq((Lit(f"{name}:\n"), Ref("statement"),
                    Rep(Seq((Lit("\n"), Ref("statement"))), 0, most - 1), Lit("\n\n")))  # fmt: skip

    rules: dict[str, Expr] = {"statement": _STATEMENT, "ws": _WS}
    layers: list[Expr] = []
    props: dict[str, object] = {}
    for k, p in enumerate(space.positions):
        ids = [str(i) for i in range(len(p.choices))]
        most = len(ids) if max_ops is None else max(1, min(max_ops, len(ids)))
        rules[f"id{k}"] = alt_of(ids)
        layers += [Lit(",")] if k else []
        layers += [Ref("ws"), Lit(f'"layer{k}": ['), Ref(f"id{k}"),
                   Rep(Seq((Lit(", "), Ref(f"id{k}"))), 0, most - 1), Lit("]")]  # fmt: skip
        props[f"layer{k}"] = {"type": "array", "minItems": 1, "maxItems": most,
                              "items": {"type": "integer", "enum": list(range(len(ids)))}}  # fmt: skip
    root = Seq((part("PATTERNS", 6), part("PRINCIPLES", 8), Lit("CANDIDATES:\n```json\n{"),
                *layers, Ref("ws"), Lit("}\n```"), Rep(Lit("\n"), 0, 1)))  # fmt: skip
    schema = {"type": "object", "properties": props, "required": list(props),
              "additionalProperties": False}  # fmt: skip
    return Constraint("lapt_candidates@1", grammar=Grammar({"root": root, **rules}),
                      json_schema=schema)  # fmt: skip


# --------------------------------------------------------------------------- LLMatic

_LINE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])?\s*(?P<name>[^:]+?)\s*:\s*(?P<value>\S+)\s*$")


def _position_lines(answer: str, space: CategoricalSpace) -> Iterator[tuple[int, str, str]]:
    """(position index, position name, choice) of each ``position: choice`` line of
    ``answer`` that names a position (other lines are skipped); a line naming a position the
    space lacks, or a choice the position lacks, raises :class:`NetworkParseError`."""
    names = {p.name: i for i, p in enumerate(space.positions)}
    kinds = {n.split(" ")[0] for n in names}  # "edge", "layer": how positions are named
    ops = {c for p in space.positions for c in p.choices}
    for line in answer.splitlines():
        m = _LINE.match(line.strip().strip("`*").strip())
        if not m:
            continue
        name = m.group("name").strip("`* ")
        value = m.group("value").strip("`*,.;'\"")
        if name not in names:
            if name.split(" ")[0] in kinds and value in ops:
                # a position the space lacks (a real model wrote "edge 4<-0: skip_connect"
                # for "add a residual connection"): reading the rest as the network would
                # silently drop the change the answer meant
                raise NetworkParseError(
                    f"position {name!r} is not in the space; positions are: {', '.join(names)}",
                    "unknown",
                    line.strip(),
                )
            continue
        i = names[name]
        choices = space.positions[i].choices
        if value not in choices:
            raise NetworkParseError(
                f"position {name[:40]!r}: {value[:40]!r} is not a choice; choose from "
                f"{', '.join(choices)}",
                "choice",
                _excerpt(line.strip()),
            )
        yield i, name, value


def parse_network_answer(answer: str, space: CategoricalSpace) -> str:
    """The member of ``space`` an answer writes as ``position: choice`` lines (its text)."""
    if not answer or not answer.strip():
        raise NetworkParseError(
            "the answer is empty: write one 'position: choice' line per position", "empty"
        )
    vals: dict[int, str] = {}
    for i, name, value in _position_lines(answer, space):
        if i in vals and vals[i] != value:
            raise NetworkParseError(
                f"position {name!r} is given twice with different choices ({vals[i]!r}, "
                f"{value!r}); write each position once",
                "conflict",
            )
        vals[i] = value
    missing = [p.name for i, p in enumerate(space.positions) if i not in vals]
    if missing:
        raise NetworkParseError(
            f"answer lacks lines for {', '.join(missing)}; write one 'position: choice' "
            "line per position",
            "missing",
            _excerpt(answer),
        )
    try:
        return space.validate(space.encode([vals[i] for i in range(len(space.positions))]))
    except (SpaceError, ValueError) as e:
        raise NetworkParseError(f"answer is not a member of the space: {e}", "invalid") from None


def network_constraint(space: CategoricalSpace) -> Constraint:
    """The answer form of :func:`parse_network_answer`: exactly one ``position: choice``
    line per position of ``space``, in order, each choice one of that position's (an NB201
    cell is six edge lines: the real model's most common bad answer dropped the last one).
    No JSON Schema: the parser reads lines.

        >>> from nas.spaces import NB201Space
        >>> c = network_constraint(NB201Space())
        >>> print(c.grammar.gbnf().splitlines()[0][:37])
        root ::= "edge 1<-0: " op0 "\\n" "edge
    """
    rules: dict[str, Expr] = {}
    items: list[Expr] = []
    for k, p in enumerate(space.positions):
        rules[f"op{k}"] = alt_of(list(p.choices))
        items += [Lit("\n")] if k else []
        items += [Lit(f"{p.name}: "), Ref(f"op{k}")]
    return Constraint(
        "llmatic_network@1", grammar=Grammar({"root": Seq((*items, Rep(Lit("\n"), 0, 1))), **rules})
    )


# ------------------------------------------------------------- LLMatic mutation as an edit

EDIT_MAX_CHARS = 2000  # an edit answer is one or two short lines; longer is not read
EDIT_MAX_LINES = 2  # at most two positions changed by one edit answer


def edit_neighbours(
    space: CategoricalSpace, parent: str, known: Callable[[str], bool], edits: int
) -> dict[tuple[tuple[int, str], ...], str]:
    """Every cell ``edits`` (1 or 2) positions away from ``parent`` that ``known`` (the
    strategy's already-proposed check: the same isomorph-aware hash) has not seen, keyed by
    its changes ``((position index, new choice), ...)`` in position order."""
    vals = space.decode(parent)
    n = len(space.positions)
    out: dict[tuple[tuple[int, str], ...], str] = {}

    def changes(start: int, left: int) -> list[tuple[tuple[int, str], ...]]:
        if left == 0:
            return [()]
        res: list[tuple[tuple[int, str], ...]] = []
        for i in range(start, n):
            for c in space.positions[i].choices:
                if c != vals[i]:
                    res += [((i, c), *rest) for rest in changes(i + 1, left - 1)]
        return res

    for ch in changes(0, edits):
        new = list(vals)
        for i, c in ch:
            new[i] = c
        try:
            arch = space.validate(space.encode(new))
        except (SpaceError, ValueError):
            continue
        h = space.arch_hash(arch)
        if h == space.arch_hash(parent) or known(arch):
            continue
        out[ch] = arch
    return out


def edit_constraint(
    space: CategoricalSpace, admitted: Mapping[tuple[tuple[int, str], ...], str]
) -> Constraint:
    """The answer form of :func:`parse_edit_answer` for one parent: ``position: choice``
    lines naming exactly one of the ``admitted`` changes (from :func:`edit_neighbours`: only
    choices that differ from the parent's and give a cell not yet proposed). Positions and
    choices come from the space's own table. No JSON Schema: the parser reads lines.

        >>> from nas.spaces import NB201Space
        >>> s = NB201Space()
        >>> p = s.encode(["nor_conv_3x3"] * 6)
        >>> g = edit_constraint(s, edit_neighbours(s, p, lambda a: False, 1)).grammar
        >>> g.accepts("edge 2<-1: skip_connect\\n"), g.accepts("edge 2<-1: nor_conv_3x3")
        (True, False)
    """
    if not admitted:
        raise GrammarError("no admitted edit: the grammar would match nothing")
    names = [p.name for p in space.positions]
    # grouped by everything but the last change, so one position's new choices are one rule
    rules: dict[str, Expr] = {}
    alts: list[Expr] = []
    keyed: dict[tuple[tuple[int, str], ...], dict[int, list[str]]] = {}
    for ch in sorted(admitted):
        keyed.setdefault(ch[:-1], {}).setdefault(ch[-1][0], []).append(ch[-1][1])
    for k, (head, tails) in enumerate(sorted(keyed.items())):
        prefix = "".join(f"{names[i]}: {c}\n" for i, c in head)
        for j, ops in sorted(tails.items()):
            rule = f"e{k}-{j}"
            rules[rule] = alt_of(ops)
            alts.append(Seq((Lit(f"{prefix}{names[j]}: "), Ref(rule))))
    width = max(len(ch) for ch in admitted)
    root = Seq((Alt(tuple(alts)), Rep(Lit("\n"), 0, 1)))
    return Constraint(f"llmatic_edit{width}@1", grammar=Grammar({"root": root, **rules}))


def parse_edit_answer(answer: str, space: CategoricalSpace, parent: str) -> str:
    """The cell an edit answer makes of ``parent``: one or two ``position: choice`` lines
    (list marks, backticks and surrounding prose lines are tolerated), each naming a
    position of the space, a choice of it that differs from the parent's, each position
    once. Raises :class:`NetworkParseError` (reasons ``empty``, ``long``, ``unknown``,
    ``choice``, ``unchanged``, ``conflict``, ``many``, ``invalid``); whether the cell was
    proposed before is the strategy's check."""
    if not answer or not answer.strip():
        raise NetworkParseError("the answer is empty: write 'position: choice'", "empty")
    if len(answer) > EDIT_MAX_CHARS:
        raise NetworkParseError(
            f"the answer is {len(answer)} characters; an edit is one or two short lines",
            "long",
            _excerpt(answer),
        )
    vals = list(space.decode(parent))
    changed: dict[int, str] = {}
    for i, name, value in _position_lines(answer, space):
        if value == vals[i]:
            raise NetworkParseError(
                f"position {name!r} is already {value!r} in the cell: choose another", "unchanged"
            )
        if i in changed and changed[i] != value:
            raise NetworkParseError(f"position {name!r} is given twice", "conflict")
        changed[i] = value
        if len(changed) > EDIT_MAX_LINES:
            raise NetworkParseError(
                f"more than {EDIT_MAX_LINES} positions changed; an edit changes one or two",
                "many",
            )
    if not changed:
        raise NetworkParseError(
            "no 'position: choice' line names a position of the cell", "missing", _excerpt(answer)
        )
    for i, c in changed.items():
        vals[i] = c
    try:
        return space.validate(space.encode(vals))
    except (SpaceError, ValueError) as e:
        raise NetworkParseError(
            f"the edited cell is not a member of the space: {e}", "invalid"
        ) from None
