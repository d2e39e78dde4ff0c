"""Integer arithmetic over the block symbols (``B``, ``C``, ``dim``, ``H``, ``W``).

Operation arguments such as ``out_channels=C/4`` or ``reshape(B,C/4/4,4,H,W)`` are small
expressions. They are parsed by a recursive-descent parser (never ``eval``), evaluated
exactly with :class:`fractions.Fraction` against a binding, and normalised to a canonical
string so that ``2*C``, ``C*2`` and ``C+C`` hash alike.

    >>> evaluate(parse_expr("C/4/4"), {"C": 64})
    Fraction(4, 1)
    >>> normal_form(parse_expr("C*2")) == normal_form(parse_expr("2*C"))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from nas.graph.limits import literal_digits

__all__ = [
    "SYMBOLS",
    "Expr",
    "ExprError",
    "evaluate",
    "normal_form",
    "parse_expr",
]

SYMBOLS: tuple[str, ...] = ("B", "C", "dim", "H", "W")

# Backstops of the parser for text that did not come through ``parse_blocks`` (whose
# configurable ``AnswerLimits`` are lower): characters, nesting (parentheses and signs),
# digits of one number. Past them the parse is an ExprError, never a RecursionError, an
# int() digit-limit error or a Fraction too large to compute.
_MAX_LENGTH = 1000
_MAX_NESTING = 100
_MAX_DIGITS = 100


class ExprError(ValueError):
    """A malformed or non-evaluable expression; ``col`` is the 0-based offset in the text."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Sym:
    name: str


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / // %
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg:
    operand: Expr


Expr = Num | Sym | BinOp | Neg


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.nesting = 0

    def _nest(self) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise ExprError(f"expression nested deeper than {_MAX_NESTING}", self.pos)

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos : self.pos + 2]

    def parse(self) -> Expr:
        if not self.text.strip():
            raise ExprError("empty expression", 0)
        e = self._sum()
        self._skip()
        if self.pos != len(self.text):
            raise ExprError(f"unexpected {self.text[self.pos :]!r} in {self.text!r}", self.pos)
        return e

    def _sum(self) -> Expr:
        e = self._product()
        while True:
            p = self._peek()
            if p[:1] in ("+", "-") and p:
                self.pos += 1
                e = BinOp(p[:1], e, self._product())
            else:
                return e

    def _product(self) -> Expr:
        e = self._unary()
        while True:
            p = self._peek()
            if p == "//":
                self.pos += 2
                e = BinOp("//", e, self._unary())
            elif p[:1] in ("*", "/", "%") and p:
                self.pos += 1
                e = BinOp(p[:1], e, self._unary())
            else:
                return e

    def _unary(self) -> Expr:
        p = self._peek()
        if p[:1] in ("-", "+"):
            self.pos += 1
            self._nest()
            inner = self._unary()
            self.nesting -= 1
            return Neg(inner) if p[:1] == "-" else inner
        return self._atom()

    def _atom(self) -> Expr:
        self._skip()
        start = self.pos
        t = self.text
        if start >= len(t):
            raise ExprError(f"expression {t!r} ends early", start)
        ch = t[start]
        if ch == "(":
            self.pos += 1
            self._nest()
            e = self._sum()
            self.nesting -= 1
            self._skip()
            if self.pos >= len(t) or t[self.pos] != ")":
                raise ExprError(f"missing ')' in {t!r}", self.pos)
            self.pos += 1
            return e
        if ch.isdigit() or ch == ".":
            while self.pos < len(t) and (t[self.pos].isdigit() or t[self.pos] in ".eE"):
                self.pos += 1
            raw = t[start : self.pos]
            if literal_digits(raw) > _MAX_DIGITS:
                raise ExprError(f"number {raw[:20]!r} has more than {_MAX_DIGITS} digits", start)
            try:
                return Num(Fraction(raw))
            except ValueError as e:
                raise ExprError(f"bad number {raw!r}", start) from e
        if ch.isalpha() or ch == "_":
            while self.pos < len(t) and (t[self.pos].isalnum() or t[self.pos] == "_"):
                self.pos += 1
            name = t[start : self.pos]
            if name not in SYMBOLS:
                raise ExprError(
                    f"unknown symbol {name!r}; expressions may use {', '.join(SYMBOLS)} and numbers",
                    start,
                )
            return Sym(name)
        raise ExprError(f"unexpected {ch!r} in {t!r}", start)


def parse_expr(text: str) -> Expr:
    """Parse ``text`` (e.g. ``"C/4"``, ``"2*dim"``, ``"dim-C"``); raises :class:`ExprError`."""
    if len(text) > _MAX_LENGTH:
        raise ExprError(f"expression of {len(text)} characters (at most {_MAX_LENGTH})", 0)
    return _Parser(text).parse()


def evaluate(e: Expr, binding: Mapping[str, int]) -> Fraction:
    """Exact value of ``e`` with the symbols bound; raises :class:`ExprError` on an unbound
    symbol or a division by zero."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Sym):
        if e.name not in binding:
            raise ExprError(f"symbol {e.name!r} has no value here")
        return Fraction(binding[e.name])
    if isinstance(e, Neg):
        return -evaluate(e.operand, binding)
    a = evaluate(e.left, binding)
    b = evaluate(e.right, binding)
    if e.op == "+":
        return a + b
    if e.op == "-":
        return a - b
    if e.op == "*":
        return a * b
    if b == 0:
        raise ExprError("division by zero")
    if e.op == "/":
        return a / b
    if e.op == "//":
        return Fraction(a // b)
    return a % b


# --- normal form: polynomials with Fraction coefficients; // and % stay opaque terms ----------

_Poly = dict[tuple[str, ...], Fraction]


def _poly(e: Expr) -> _Poly:
    if isinstance(e, Num):
        return {(): e.value} if e.value else {}
    if isinstance(e, Sym):
        return {(e.name,): Fraction(1)}
    if isinstance(e, Neg):
        return {k: -v for k, v in _poly(e.operand).items()}
    a, b = _poly(e.left), _poly(e.right)
    if e.op in ("+", "-"):
        out = dict(a)
        sign = 1 if e.op == "+" else -1
        for k, v in b.items():
            out[k] = out.get(k, Fraction(0)) + sign * v
        return {k: v for k, v in out.items() if v}
    if e.op == "*":
        prod: _Poly = {}
        for ka, va in a.items():
            for kb, vb in b.items():
                k = tuple(sorted(ka + kb))
                prod[k] = prod.get(k, Fraction(0)) + va * vb
        return {k: v for k, v in prod.items() if v}
    if e.op == "/" and set(b) <= {()} and b:
        d = b[()]
        return {k: v / d for k, v in a.items()}
    # opaque: floor division, modulo, division by a symbol
    term = f"[{_fmt(a)}{e.op}{_fmt(b)}]"
    return {(term,): Fraction(1)}


def _fmt(p: _Poly) -> str:
    if not p:
        return "0"
    parts = []
    for k in sorted(p):
        v = p[k]
        mono = "*".join(k)
        if not mono:
            parts.append(str(v))
        elif v == 1:
            parts.append(mono)
        else:
            parts.append(f"{v}*{mono}")
    return "+".join(parts)


def normal_form(e: Expr) -> str:
    """A canonical string of ``e``: equal for algebraically equal polynomial expressions."""
    return _fmt(_poly(e))
