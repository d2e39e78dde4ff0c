"""Answer forms as small grammars, written once and rendered into what servers take.

A :class:`Grammar` is a set of named, non-recursive rules built from five pieces
(:class:`Lit`, :class:`Chars`, :class:`Seq`, :class:`Alt`, :class:`Rep`) and references
(:class:`Ref`). The same object renders

- GBNF (:meth:`Grammar.gbnf`): llama.cpp's ``grammar`` field, and vLLM's
  ``structured_outputs.grammar`` (xgrammar reads GBNF);
- a Python regular expression (:meth:`Grammar.regex`): the check that an answer obeyed
  the grammar, since several servers accept a constraint and ignore it (fail open).

Grammars are generated from the code's own tables (the validator's op table, a search
space's op list, the ids a prompt offers), never copied by hand, so the prompt, the
constraint and the parser cannot disagree. Rules are non-recursive on purpose: every
answer form here is line-regular, and a regular grammar is checked in linear time.

    >>> g = Grammar({"root": Seq((Lit("edge "), Ref("op"), Lit("\\n"))),
    ...              "op": Alt((Lit("conv"), Lit("skip")))})
    >>> print(g.gbnf(), end="")
    root ::= "edge " op "\\n"
    op ::= "conv" | "skip"
    >>> g.accepts("edge skip\\n"), g.accepts("edge pool\\n")
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "Alt",
    "Chars",
    "Constraint",
    "Expr",
    "Grammar",
    "GrammarError",
    "Lit",
    "Ref",
    "Rep",
    "Seq",
    "alt_of",
    "lines",
]


class GrammarError(ValueError):
    """A grammar that cannot be rendered (a missing or recursive rule, a bad class)."""


@dataclass(frozen=True)
class Lit:
    """Exact text."""

    text: str


@dataclass(frozen=True)
class Chars:
    """One character from a class written in the syntax GBNF and Python share:
    ``"0-9"``, ``"A-Za-z_"``, ``"^\\n"`` (negated). Only ``-``, ``^`` at the start and the
    escapes ``\\n``, ``\\t``, ``\\\\``, ``\\]`` are special."""

    spec: str

    def __post_init__(self) -> None:
        if not self.spec or self.spec == "^":
            raise GrammarError("an empty character class matches nothing")


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if not self.items:
            raise GrammarError("an alternative of nothing matches nothing")


@dataclass(frozen=True)
class Rep:
    """``item`` repeated ``lo`` to ``hi`` times (``hi`` None: unbounded)."""

    item: Expr
    lo: int = 0
    hi: int | None = None

    def __post_init__(self) -> None:
        if self.lo < 0 or (self.hi is not None and self.hi < self.lo):
            raise GrammarError(f"bad repetition bounds {{{self.lo},{self.hi}}}")


@dataclass(frozen=True)
class Ref:
    """Another rule of the same grammar, by name."""

    name: str


Expr = Lit | Chars | Seq | Alt | Rep | Ref

_RULE_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def alt_of(words: Sequence[str]) -> Alt:
    """One of ``words`` exactly, longest first (so a prefix never shadows a longer word in
    a regex engine that takes the first match)."""
    ordered = sorted(dict.fromkeys(words), key=lambda w: (-len(w), w))
    return Alt(tuple(Lit(w) for w in ordered))


def lines(item: Expr, lo: int, hi: int | None) -> Rep:
    """``item`` followed by a newline, ``lo``..``hi`` times."""
    return Rep(Seq((item, Lit("\n"))), lo, hi)


def _gbnf_lit(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + out.replace("\t", "\\t").replace("\r", "\\r") + '"'


@dataclass(frozen=True)
class Grammar:
    """Named rules; ``root`` is where an answer starts. Rendered lazily and cached."""

    rules: Mapping[str, Expr]
    root: str = "root"
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        for name in self.rules:
            if not _RULE_NAME.match(name):
                raise GrammarError(f"rule name {name!r}: lower-case letters, digits and '-'")
        if self.root not in self.rules:
            raise GrammarError(f"no rule {self.root!r} to start from")
        order: list[str] = []
        self._walk(self.root, (), order)
        object.__setattr__(self, "_order", tuple(order))

    def _walk(self, name: str, path: tuple[str, ...], order: list[str]) -> None:
        if name in path:
            raise GrammarError(f"rule {name!r} refers to itself ({' -> '.join((*path, name))})")
        if name not in self.rules:
            raise GrammarError(f"rule {path[-1]!r} refers to {name!r}, which is not defined")
        if name not in order:
            order.append(name)
        stack: list[Expr] = [self.rules[name]]
        while stack:
            e = stack.pop()
            if isinstance(e, Ref):
                self._walk(e.name, (*path, name), order)
            elif isinstance(e, (Seq, Alt)):
                stack.extend(reversed(e.items))
            elif isinstance(e, Rep):
                stack.append(e.item)

    # --------------------------------------------------------------- GBNF
    def _g(self, e: Expr, top: bool = False) -> str:
        if isinstance(e, Lit):
            return _gbnf_lit(e.text)
        if isinstance(e, Chars):
            return f"[{e.spec}]"
        if isinstance(e, Ref):
            return e.name
        if isinstance(e, Seq):
            body = " ".join(self._g(i) for i in e.items) if e.items else '""'
            return body if top or len(e.items) <= 1 else f"({body})"
        if isinstance(e, Alt):
            body = " | ".join(self._g(i) for i in e.items)
            return body if top or len(e.items) == 1 else f"({body})"
        inner = self._g(e.item)
        if not isinstance(e.item, (Lit, Chars, Ref)) and not inner.startswith("("):
            inner = f"({inner})"
        if (e.lo, e.hi) == (0, None):
            return inner + "*"
        if (e.lo, e.hi) == (1, None):
            return inner + "+"
        if (e.lo, e.hi) == (0, 1):
            return inner + "?"
        return inner + "{" + f"{e.lo}," + ("" if e.hi is None else str(e.hi)) + "}"

    @cached_property
    def _gbnf(self) -> str:
        return "".join(f"{n} ::= {self._g(self.rules[n], top=True)}\n" for n in self._order)

    def gbnf(self) -> str:
        """GBNF text, the start rule named ``root`` first (as llama.cpp expects)."""
        text = self._gbnf
        if self.root != "root":
            text = f"root ::= {self.root}\n" + text
        return text

    # --------------------------------------------------------------- regex
    def _r(self, e: Expr) -> str:
        if isinstance(e, Lit):
            return re.escape(e.text)
        if isinstance(e, Chars):
            return f"[{e.spec}]"
        if isinstance(e, Ref):
            return f"(?:{self._r(self.rules[e.name])})"
        if isinstance(e, Seq):
            return "".join(self._r(i) for i in e.items)
        if isinstance(e, Alt):
            return "(?:" + "|".join(self._r(i) for i in e.items) + ")"
        hi = "" if e.hi is None else str(e.hi)
        return f"(?:{self._r(e.item)}){{{e.lo},{hi}}}"

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """The grammar as one compiled pattern (rules inlined; they are non-recursive)."""
        return re.compile(self._r(Ref(self.root)), re.DOTALL)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a sentence of the grammar (the whole text)."""
        return self.regex.fullmatch(text) is not None


@dataclass(frozen=True)
class Constraint:
    """What the LLM client may ask a server to hold an answer to.

    ``name`` (``"<form>@<version>"``) is recorded on the call's ``llm_calls`` row;
    ``grammar`` is the answer as text (GBNF for llama.cpp and vLLM); ``json_schema`` the same
    answer form as JSON where the form has one (for servers that take only JSON Schema,
    e.g. OpenAI's strict ``json_schema``). Either may be absent; the client sends what the
    endpoint supports and checks the answer against it afterwards."""

    name: str
    grammar: Grammar | None = None
    json_schema: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        if self.grammar is None and self.json_schema is None:
            raise GrammarError(f"constraint {self.name!r} has neither a grammar nor a schema")
