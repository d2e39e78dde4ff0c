"""The block text format as a grammar, generated from the validator's op table.

:func:`block_constraint` returns the :class:`~nas.grammar.Constraint` an LLM answer in
the block format is held to (the Modifier's answer): a ``##name##`` header, node lines
``idx:Op(k=v,...)`` and edge lines ``a->b``, in the canonical form
:func:`nas.graph.text.serialize` writes. Everything the grammar names comes from
:mod:`nas.graph.ops` (op names with their aliases, argument names with their aliases,
each argument's value form) and :mod:`nas.graph.expr` (the symbols), so the prompt's
op catalogue, the constraint and the validator cannot disagree.

Value forms by the argument's kind:

* ``expr``: a whole-number expression, up to :data:`MAX_TERMS` terms joined by
  ``+ - * / //`` over integers and the symbols ``B``, ``C``, ``dim`` (``H``/``W`` only in
  the positional lists of ``permute``/``reshape``/``repeat``, as the validator rules),
  with one level of parentheses: ``C``, ``C*2``, ``C/4``, ``2*C``, ``(C+1)//2``;
* ``float``: ``0.1``, ``1e-6``; ``bool``: ``True``/``False``;
* ``dims``/``size``: an expression or a tuple of up to four, ``(2,3)``.

The grammar is bounded (node lines, edge lines, index digits, number digits), so it is also
an answer limit: a model held to it cannot write prose, comments, a second block, or
run on. Syntax is not validity (a node may still miss the output): the validator runs
after, as before.

    >>> c = block_constraint("B")
    >>> c.grammar.accepts("##B##\\n0:input\\n1:output\\n2:ReLU\\n0->2\\n2->1\\n")
    True
    >>> c.grammar.accepts("##B##\\n0:input\\n1:output\\n2:Swirl\\n0->2\\n2->1\\n")
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nas.grammar import Alt, Chars, Constraint, Expr, Grammar, Lit, Ref, Rep, Seq, alt_of
from nas.graph.expr import SYMBOLS
from nas.graph.ops import ArgSpec, OpSpec, op_specs

__all__ = [
    "BLOCK_FORM",
    "MAX_NODES",
    "MAX_TERMS",
    "PLAN_CHARS",
    "arg_choice",
    "arg_rules",
    "arg_value",
    "block_constraint",
    "fenced",
    "op_rule_name",
    "op_rules",
    "op_spellings",
    "with_plan",
]

BLOCK_FORM = "block@1"  # the constraint's name (recorded on the llm_calls row)
MAX_NODES = 64  # node lines per block (NADER's largest fixture block, a DARTS cell, has 61)
MAX_TERMS = 4  # terms of one argument expression
_NUM_DIGITS = 4  # digits of an integer inside an expression
_MAX_TUPLE = 4  # entries of a dims tuple
_MAX_VARARGS = 6  # entries of permute/reshape/repeat

_SPATIAL = ("H", "W")


def op_spellings(spec: OpSpec) -> list[str]:
    """The spellings of an op the grammar takes: its canonical name, that name in lower case
    and capitalised (``Concat``, NADER's spelling, and ``concat`` are one op), and its
    aliases. Fewer than the parser reads (it is case-insensitive): a constrained model
    writes the table's names."""
    n = spec.name
    return list(dict.fromkeys((n, n.lower(), n[:1].upper() + n[1:], *spec.aliases)))


def fenced(answer: Expr) -> Alt:
    """``answer`` bare or in one ``` fence (a trailing newline allowed): a grammar's root."""
    return Alt((answer, Seq((Lit("```\n"), answer, Lit("```"), Rep(Lit("\n"), 0, 1)))))


def op_rule_name(spec: OpSpec) -> str:
    return "op-" + spec.name.lower().replace("_", "-")


def _opt(e: Expr) -> Rep:
    return Rep(e, 0, 1)


def _tuple_of(item: str, most: int) -> Seq:
    """``(a,b,...)``: one to ``most`` items, a trailing comma allowed (``(2,)``)."""
    more = Rep(Seq((Lit(","), Ref(item))), 0, most - 1)
    return Seq((Lit("("), Ref(item), more, _opt(Lit(",")), Lit(")")))


def _sym_rules() -> dict[str, Expr]:
    """Shared value rules: numbers, symbols, expressions (with and without H/W)."""
    digits = Rep(Chars("0-9"), 1, _NUM_DIGITS)
    plain = tuple(s for s in SYMBOLS if s not in _SPATIAL)
    binop = alt_of(("+", "-", "*", "/", "//"))
    exp = Seq((alt_of(("e", "E")), _opt(alt_of(("-", "+"))), Rep(Chars("0-9"), 1, 2)))

    def expr(atom: str) -> Expr:
        return Seq((Ref(atom), Rep(Seq((binop, Ref(atom))), 0, MAX_TERMS - 1)))

    return {
        "int": Seq((Rep(Lit("-"), 0, 1), digits)),
        "sym": alt_of(plain),
        "ssym": alt_of(SYMBOLS),
        # one level of parentheses, non-recursive: (C+1)//2
        "atom0": Alt((Ref("int"), Ref("sym"))),
        "satom0": Alt((Ref("int"), Ref("ssym"))),
        "atom": Alt((Ref("int"), Ref("sym"), Seq((Lit("("), expr("atom0"), Lit(")"))))),
        "satom": Alt((Ref("int"), Ref("ssym"), Seq((Lit("("), expr("satom0"), Lit(")"))))),
        "expr": expr("atom"),
        "sexpr": expr("satom"),  # positional sizes: H and W allowed
        "float": Seq((Rep(Lit("-"), 0, 1), digits, _opt(Seq((Lit("."), digits))), _opt(exp))),
        "bool": alt_of(("True", "False", "true", "false")),
        "dims": Alt((Ref("expr"), _tuple_of("expr", _MAX_TUPLE))),
    }


_VALUE = {"expr": "expr", "float": "float", "bool": "bool", "dims": "dims", "size": "dims"}


def _arg(a: ArgSpec) -> Expr:
    return Seq((alt_of((a.name, *a.aliases)), Lit("="), Ref(_VALUE[a.kind])))


def arg_value(a: ArgSpec) -> Expr:
    """The value rule of argument ``a`` (what goes after ``key=``)."""
    return Ref(_VALUE[a.kind])


def arg_choice(spec: OpSpec) -> Expr | None:
    """One ``key=value`` of ``spec``'s named arguments (None: it has none)."""
    return Alt(tuple(_arg(a) for a in spec.args)) if spec.args and not spec.varargs else None


def arg_rules(spec: OpSpec) -> Expr | None:
    """The text inside an op's parentheses, or None when the op takes no arguments."""
    if spec.varargs:
        return Seq((Ref("sexpr"), Rep(Seq((Lit(","), Ref("sexpr"))), 0, _MAX_VARARGS - 1)))
    if not spec.args:
        return None
    one = arg_choice(spec)
    assert one is not None
    if len(spec.args) == 1:
        return one
    # any order, at most as many as the op has (the validator rejects a repeat)
    return Seq((one, Rep(Seq((Lit(","), one)), 0, len(spec.args) - 1)))


def _op_rule(spec: OpSpec) -> Expr:
    name = alt_of(op_spellings(spec))
    inner = arg_rules(spec)
    if inner is None:
        return Seq((name, Rep(Lit("()"), 0, 1)))
    if spec.varargs:
        return Seq((name, Lit("("), inner, Lit(")")))
    required = any(a.required for a in spec.args)
    call = Seq((Lit("("), inner, Lit(")")))
    return Seq((name, call if required else Rep(Alt((call, Lit("()"))), 0, 1)))


_IO_IN = ("input", "input1", "input2")


def _refs(names: Sequence[str]) -> tuple[Ref, ...]:
    by_name = {s.name: s for s in op_specs()}
    return tuple(Ref(op_rule_name(by_name[n])) for n in names)


def op_rules() -> dict[str, Expr]:
    """Value rules, one rule per op (``op-conv2d``...), ``op-new``: any op a design may
    add (every op but the block's inputs and output), and ``op-one``: those of one input
    (what goes on an edge or a new path; not Add/Mul/concat)."""
    rules: dict[str, Expr] = _sym_rules()
    by_arity = {s.name: s.arity for s in op_specs()}
    for s in op_specs():
        rules[op_rule_name(s)] = _op_rule(s)
    new = [s.name for s in op_specs() if s.name not in (*_IO_IN, "output")]
    rules["op-new"] = Alt(_refs(new))
    rules["op-one"] = Alt(_refs([n for n in new if by_arity[n] == 1]))
    return rules


def _index(max_nodes: int) -> Expr:
    return Rep(Chars("0-9"), 1, len(str(max(max_nodes * 2, 10))))


def _block_rules(header: Expr, max_nodes: int, prefix: str) -> dict[str, Expr]:
    node = Seq((Ref("idx"), Lit(":"), Ref("op"), Lit("\n")))
    out = Seq((Ref("idx"), Lit(":"), Ref("op-output"), Lit("\n")))
    edge = Seq((Ref("idx"), Lit("->"), Ref("idx"), Lit("\n")))
    # exactly one output line, anywhere among the node lines, then the edges
    nodes = (Rep(node, 1, max_nodes - 1), out, Rep(node, 0, max_nodes - 1))
    return {prefix: Seq((Lit("##"), header, Lit("##\n"), *nodes, Rep(edge, 2, 2 * max_nodes)))}


def block_grammar(
    names: Sequence[str] = (), max_nodes: int = MAX_NODES, fence: bool = True
) -> Grammar:
    """The grammar of ``len(names)`` blocks named ``names`` in order (one block with any
    name when ``names`` is empty). ``fence``: the answer may sit in one ``` fence."""
    rules = op_rules()
    rules["op"] = Alt((*_refs(_IO_IN), Ref("op-new")))
    rules["idx"] = _index(max_nodes)
    blocks: list[Expr] = []
    if not names:
        any_name = Seq((Chars("A-Za-z"), Rep(Chars("A-Za-z0-9_"), 0, 63)))
        rules.update(_block_rules(any_name, max_nodes, "block"))
        blocks.append(Ref("block"))
    for i, n in enumerate(names):
        rules.update(_block_rules(Lit(n), max_nodes, f"block{i}"))
        blocks.append(Ref(f"block{i}"))
    body = Seq(tuple(blocks))
    if fence:
        rules["root"] = fenced(body)
    else:
        rules["root"] = body
    return Grammar(rules)


@lru_cache(maxsize=64)
def block_constraint(*names: str, max_nodes: int = MAX_NODES, fence: bool = True) -> Constraint:
    """The constraint of an answer made of the blocks ``names`` (in order; none given: one
    block with any name). The Modifier's base turn asks for ``block_constraint(base)``, its
    derive turn for ``block_constraint(f"{base}_stem", f"{base}_downsample")``. Cached: the
    grammar's checking regex is compiled once per form."""
    return Constraint(BLOCK_FORM, block_grammar(names, max_nodes, fence))


PLAN_CHARS = 300  # the free-text "Plan:" line of a think-then-answer constraint


def with_plan(c: Constraint, most: int = PLAN_CHARS) -> Constraint:
    """``c`` preceded by one free-text line ``Plan: ...`` of at most ``most`` characters
    (no newline, no backtick): "think, then answer" with the thinking bounded."""
    if c.grammar is None:
        raise ValueError(f"constraint {c.name!r} has no grammar to put a plan before")
    rules = dict(c.grammar.rules)
    rules["answer"] = rules.pop(c.grammar.root)
    rules["root"] = Seq((Lit("Plan: "), Rep(Chars("^\n`"), 0, most), Lit("\n"), Ref("answer")))
    return Constraint(f"plan+{c.name}", Grammar(rules))
