"""Edits against a block: a design written as a short list of changes to its parent.

Instead of rewriting the whole block (where a small model drops lines, invents nodes and
forgets edges), an answer in the edit form names what changes, one edit per line::

    insert 3->4 Dropout(p=0.1)             a new node on the existing edge 3->4
    replace 5 Conv2d(out_channels=C,kernel_size=5)   node 5 becomes another op
    set 2 kernel_size=5                     one argument of node 2
    branch 0->6 add Conv2d(out_channels=C,kernel_size=1) BN
                                            a new path from node 0 through the ops, merged
                                            with node 6's output by Add (or concat, or, in
                                            form edits@2, mul: a gate); node 6's consumers
                                            read the merge
    remove 4                                node 4 (one input) goes, its input feeds on

Three forms (:data:`EDIT_FORMS`, setting ``strategy.nader.answer_version``): ``edits@1`` (up to 6
edits, branches of 1-4 ops merged by add or concat) and ``edits@2`` (up to 3 edits — the
real 1.5B model filled six slots with edits that undid its own first one —, and branches of
1-5 ops merged by add, concat or mul, so that a squeeze-and-excitation gate is one line).
``edits@3`` has
edits@2's bounds and a first line that names the change in plain words (``Change: swap
ReLU for GELU``, ``Change: channel attention``...) and holds the edits to that kind
(:func:`headed_constraint`). The parser reads all three; the form bounds the count. (A grammar that offered only replacements
that change a node's op was measured and dropped: barred from ``replace 4 ReLU`` on a ReLU,
the real model wrote ``replace 4 Repeat(...)``; branch ``changes-only``.)

A merge (Add, Mul, concat: the validator's ops of two or more inputs) is made only by
``branch``; ``replace`` keeps a node's kind of arity (a one-input node takes a one-input op,
a merge another merge), and ``remove`` never leaves a merge with fewer than two distinct
inputs. A ``set`` on a node that an earlier edit of the same answer replaced applies to the
new op; when the new op has no such argument the ``set`` is dropped and the drop is said in
the notes :func:`apply_edits` returns (a small model writes ``replace 2 ReLU`` then
``set 2 kernel_size=5``, each line fine alone against the parent).

:func:`edits_constraint` is the grammar of such an answer for one parent: it names only the
parent's nodes and edges (a branch only from an ancestor to a descendant, a removal only of
a one-input node) and ops from the validator's table. :func:`parse_edits` reads an answer
(bounded, hostile input: every failure is an :class:`EditError` naming the line),
:func:`apply_edits` makes the new graph (pure, the parent untouched) and
:func:`fix_shapes` repairs what can be repaired without changing the idea — a 1x1 Conv2d
projection where a merge or the output gets the wrong channel count, ``stride=1`` on a new
node that shrank a map a merge or the output needs whole — and says what it did.
Everything else is the validator's to report.

    >>> from nas.graph.seeds import seed_block
    >>> g = seed_block("resnet_basic")
    >>> new, _, _ = apply_edits(g, parse_edits("insert 4->5 Dropout(p=0.1)\\n", g))
    >>> [n.text for n in new.nodes][-1], new.inputs_of(5)
    ('Dropout(p=0.1)', [9])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from nas.grammar import Alt, Chars, Constraint, Expr, Grammar, Lit, Ref, Rep, Seq, alt_of
from nas.graph.block import INPUT_OPS, OUTPUT_OP, BlockGraph, Node
from nas.graph.grammar_block import arg_choice, arg_value, fenced, op_rule_name, op_rules
from nas.graph.limits import DEFAULT_LIMITS, AnswerLimits
from nas.graph.ops import lookup_op, op_specs
from nas.graph.text import ParseError, check_argument, check_size, parse_op
from nas.graph.validate import Analysis, analyze

__all__ = [
    "EDITS_FORM",
    "EDIT_FORMS",
    "KINDS",
    "MAX_EDITS",
    "Branch",
    "Edit",
    "EditError",
    "EditForm",
    "Insert",
    "Remove",
    "Replace",
    "SetArg",
    "apply_edits",
    "change_first_constraint",
    "edit_example",
    "edits_constraint",
    "fix_shapes",
    "headed_constraint",
    "kind_constraint",
    "node_guide",
    "parse_edits",
    "parse_kind",
]

_MAX_PAIRS = 600  # branch (from, to) pairs spelled out in the grammar; above: any two nodes
_MERGES = {"add": "Add", "concat": "concat", "mul": "Mul"}
# the ops that squeeze a map to one value per channel: what a channel-attention gate starts with
_SQUEEZE = ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")


@dataclass(frozen=True)
class EditForm:
    """One version of the edit answer: its name (the constraint's, recorded on the
    llm_calls row), how many edit lines an answer may have, how many ops a branch, and which
    merges a branch may end in."""

    name: str
    max_edits: int
    max_branch_ops: int
    merges: tuple[str, ...]
    headed: bool = False  # the answer starts with a "Change: ..." line in plain words that
    # names the kind of change; the edits after it are held to that kind (headed_constraint)
    one_module: bool = False  # headed: a kind that adds or removes one module (insert, a
    # gate, a skip, a parallel path, a removal) takes exactly one edit line
    odd_kernels: bool = False  # headed: "argument kernel_size" takes odd sizes only (a
    # conv's or pool's default padding keeps the map's size for odd kernels, not for even)
    fix_gates: bool = False  # fix_shapes also projects a gate map to the channels it weighs
    ask_kind: bool = False  # headed: the kind of change is asked first in a short call of its
    # own (modifier_kind, grammar kind_constraint), and the answer's heads held to it


EDIT_FORMS: dict[str, EditForm] = {
    f.name: f
    for f in (
        EditForm("edits@1", 6, 4, ("add", "concat")),
        EditForm("edits@2", 3, 5, ("add", "concat", "mul")),
        EditForm("edits@3", 3, 5, ("add", "concat", "mul"), headed=True),
        EditForm(
            "edits@4",
            3,
            5,
            ("add", "concat", "mul"),
            headed=True,
            one_module=True,
            odd_kernels=True,
            fix_gates=True,
            ask_kind=True,
        ),
    )
}
EDITS_FORM = "edits@1"  # the first form (recorded cassettes were made with it)
MAX_EDITS = EDIT_FORMS[EDITS_FORM].max_edits


class EditError(ValueError):
    """An edit that cannot be read or applied; ``line`` is 1-based within the edit list."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"edit {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Insert:
    src: int
    dst: int
    op: Node


@dataclass(frozen=True)
class Replace:
    node: int
    op: Node


@dataclass(frozen=True)
class SetArg:
    node: int
    key: str
    value: str


@dataclass(frozen=True)
class Branch:
    src: int
    dst: int
    merge: str  # "add" | "concat"
    ops: tuple[Node, ...]


@dataclass(frozen=True)
class Remove:
    node: int


Edit = Insert | Replace | SetArg | Branch | Remove

_HEADS = ("Plan:", "Change:")  # a first line that says what the edits will do (not an edit)
_FENCED = re.compile(r"```[A-Za-z]*\n(.*?)```", re.S)
_LINE = re.compile(
    r"(?P<verb>insert|replace|set|branch|remove)\s+(?P<a>\d{1,4})(?:\s*->\s*(?P<b>\d{1,4}))?"
    r"(?:\s+(?P<rest>.*))?\Z"
)


def _op(text: str, line: int, limits: AnswerLimits, one_input: bool = False) -> Node:
    try:
        node = parse_op(text, limits=limits)
    except ParseError as e:
        raise EditError(line, f"cannot read the operation {text[:80]!r}: {e.reason}") from None
    spec = lookup_op(node.op)
    if spec is None:
        raise EditError(line, f"unknown operation {node.op!r}")
    if spec.arity == 0 or spec.name == OUTPUT_OP:
        raise EditError(line, f"{spec.name} cannot be added: a block has one input and one output")
    if one_input and spec.arity != 1:
        raise EditError(line, f"{spec.name} merges several inputs; an inserted op or a branch's "
                        "op has one (a branch merges by 'add', 'concat' or 'mul' itself)")  # fmt: skip
    return node


def _split_ops(text: str) -> list[str]:
    """Ops separated by spaces at parenthesis depth 0 (``Conv2d(k=1, stride=1) BN``)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur else out


def parse_edits(
    text: str,
    parent: BlockGraph,
    limits: AnswerLimits = DEFAULT_LIMITS,
    form: EditForm = EDIT_FORMS[EDITS_FORM],
) -> list[Edit]:
    """The edits of an answer: the lines of its first ``` fence when it has one (chatter
    around it is skipped), else all its lines; blank lines skipped. Raises
    :class:`EditError` for a line that is not an edit, a node or edge the parent does not
    have, an unknown op, more edits than ``form`` allows (or a branch with more ops, or a
    merge it does not have), or text over ``limits`` (the answer's size before anything
    reads it, then each op's and value's arguments)."""
    try:
        check_size(text, limits)
    except ParseError as e:
        raise EditError(1, f"the answer is too long: {e.reason}") from None
    if len(text) > 8000:
        raise EditError(1, f"the answer is {len(text)} characters; an edit list is a few lines")
    fenced = _FENCED.search(text)
    if fenced:  # chatter around one fenced list is read past (a server without the grammar)
        plan = [ln for ln in text[: fenced.start()].splitlines() if ln.startswith(_HEADS)]
        text = "\n".join([*plan[:1], fenced.group(1)])
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("```")]
    if lines and lines[0].startswith(_HEADS):  # a plan or a change line first: not an edit
        lines = lines[1:]
    if not lines:
        raise EditError(1, "no edits in the answer: write one edit per line, e.g. 'set 2 k=5'")
    if len(lines) > form.max_edits:
        raise EditError(form.max_edits + 1, f"{len(lines)} edits; at most {form.max_edits}")
    edits: list[Edit] = []
    for i, ln in enumerate(lines, 1):
        m = _LINE.match(ln)
        if not m:
            raise EditError(i, f"{ln[:80]!r} is not an edit (insert, replace, set, branch, remove)")
        verb, a, b, rest = m.group("verb"), int(m.group("a")), m.group("b"), m.group("rest") or ""
        for n in (a, *([int(b)] if b else [])):
            if not parent.has_node(n):
                raise EditError(i, f"node {n} does not exist in the parent block")
        if verb in ("insert", "branch") and b is None:
            raise EditError(i, f"{verb} needs an edge 'A->B'")
        if verb not in ("insert", "branch") and b is not None:
            raise EditError(i, f"{verb} takes one node, not an edge")
        if verb == "insert":
            if (a, int(b or 0)) not in parent.edges:
                raise EditError(i, f"there is no edge {a}->{b} in the parent block")
            edits.append(Insert(a, int(b or 0), _op(rest, i, limits, one_input=True)))
        elif verb == "replace":
            edits.append(Replace(a, _op(rest, i, limits)))
        elif verb == "set":
            key, eq, value = rest.partition("=")
            if not eq or not key.strip() or not value.strip():
                raise EditError(i, "set needs 'key=value'")
            try:
                check_argument(value.strip(), limits)
            except ParseError as e:
                raise EditError(
                    i, f"cannot read the value {value.strip()[:40]!r}: {e.reason}"
                ) from None
            edits.append(SetArg(a, key.strip(), value.strip()))
        elif verb == "branch":
            merge, _, ops = rest.partition(" ")
            if merge.lower() not in form.merges:
                raise EditError(i, f"a branch merges by {' or '.join(form.merges)}, not "
                                f"{merge[:20]!r}")  # fmt: skip
            parts = _split_ops(ops)
            if not 1 <= len(parts) <= form.max_branch_ops:
                raise EditError(i, f"a branch has 1 to {form.max_branch_ops} ops, not "
                                f"{len(parts)}")  # fmt: skip
            ops = tuple(_op(p, i, limits, one_input=True) for p in parts)
            edits.append(Branch(a, int(b or 0), merge.lower(), ops))
        else:
            if rest:
                raise EditError(i, f"remove takes only a node, not {rest[:40]!r}")
            edits.append(Remove(a))
    return edits


# ------------------------------------------------------------------------------ apply


def _next(g: BlockGraph) -> int:
    return max(n.index for n in g.nodes) + 1


def _io(g: BlockGraph, n: int) -> bool:
    return g.node(n).kind in (*INPUT_OPS, OUTPUT_OP)


def _ancestors(g: BlockGraph, n: int) -> set[int]:
    seen: set[int] = set()
    todo = list(g.inputs_of(n))
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(g.inputs_of(x))
    return seen


def _with(g: BlockGraph, nodes: Sequence[Node], edges: Sequence[tuple[int, int]]) -> BlockGraph:
    return BlockGraph(g.name, tuple(nodes), tuple(edges))


def _set_arg(node: Node, key: str, value: str) -> Node:
    spec = lookup_op(node.op)
    names = {key}
    for a in spec.args if spec is not None else ():
        if key in (a.name, *a.aliases):
            names = {a.name, *a.aliases}
    args = [(k, v) for k, v in node.args if k not in names]
    pos = next((i for i, (k, _) in enumerate(node.args) if k in names), len(args))
    args.insert(pos, (key, value))
    return Node(node.index, node.op, tuple(args), True)


def _merge_arity(op: str) -> bool:
    """Whether ``op`` joins two or more inputs (Add, Mul, concat: arity None in the table)."""
    spec = lookup_op(op)
    return spec is not None and spec.arity is None


def _remove_problem(g: BlockGraph, n: int) -> str | None:
    """Why node ``n`` cannot be removed from ``g`` (None: it can): it must have one input,
    and no merge it feeds may be left with fewer than two distinct inputs."""
    srcs = g.inputs_of(n)
    if len(srcs) != 1:
        return (f"node {n} has {len(srcs)} inputs; only a one-input node can be removed "
                "(replace a merge by another merge instead)")  # fmt: skip
    for b in dict.fromkeys(g.consumers_of(n)):
        if _merge_arity(g.node(b).op):
            after = {srcs[0] if a == n else a for a in g.inputs_of(b)}
            if len(after) < 2:
                return (f"removing node {n} leaves merge node {b} ({g.node(b).op}) with "
                        f"{len(after)} distinct input (node {srcs[0]} twice); a merge joins "
                        "two or more")  # fmt: skip
    return None


def _apply_one(
    g: BlockGraph, e: Edit, line: int, new: set[int], replaced: dict[int, int], notes: list[str]
) -> BlockGraph:
    if isinstance(e, Insert):
        if (e.src, e.dst) not in g.edges:
            raise EditError(line, f"there is no edge {e.src}->{e.dst} any more")
        k = _next(g)
        edges = [(k, b) if (a, b) == (e.src, e.dst) else (a, b) for a, b in g.edges]
        new.add(k)
        return _with(g, [*g.nodes, replace(e.op, index=k)], [*edges, (e.src, k)])
    if isinstance(e, (Replace, SetArg, Remove)) and not g.has_node(e.node):
        raise EditError(line, f"node {e.node} was removed by an earlier edit")
    if isinstance(e, (Replace, SetArg, Remove)) and _io(g, e.node):
        raise EditError(line, f"node {e.node} is the block's {g.node(e.node).kind}; keep it")
    if isinstance(e, Replace):
        k_in, joins = len(g.inputs_of(e.node)), _merge_arity(e.op.op)
        if joins and k_in < 2:
            raise EditError(line, f"node {e.node} has {k_in} input; {e.op.op} merges two or more "
                            "(a new merge comes from 'branch A->B add|concat ...')")  # fmt: skip
        if not joins and k_in > 1:
            raise EditError(line, f"node {e.node} merges {k_in} inputs; {e.op.op} takes one "
                            "(replace a merge by another merge)")  # fmt: skip
        replaced[e.node] = line
        new.add(e.node)
        nodes = [replace(e.op, index=e.node) if n.index == e.node else n for n in g.nodes]
        return _with(g, nodes, g.edges)
    if isinstance(e, SetArg):
        spec = lookup_op(g.node(e.node).op)
        if spec is None or not any(e.key in (a.name, *a.aliases) for a in spec.args):
            valid = (", ".join(a.name for a in spec.args) if spec else "") or "none"
            if e.node in replaced:  # the line was written against the parent's op
                notes.append(f"edit {line} (set {e.node} {e.key}={e.value}) dropped: edit "
                             f"{replaced[e.node]} replaced node {e.node} by "
                             f"{g.node(e.node).op}, which has no argument {e.key!r} "
                             f"(it has: {valid})")  # fmt: skip
                return g
            raise EditError(line, f"node {e.node} has no argument {e.key!r} (it has: {valid})")
        new.add(e.node)
        nodes = [_set_arg(n, e.key, e.value) if n.index == e.node else n for n in g.nodes]
        return _with(g, nodes, g.edges)
    if isinstance(e, Remove):
        problem = _remove_problem(g, e.node)
        if problem:
            raise EditError(line, problem)
        srcs = g.inputs_of(e.node)
        edges = [(srcs[0] if a == e.node else a, b) for a, b in g.edges if b != e.node]
        return _with(g, [n for n in g.nodes if n.index != e.node], edges)
    for n in (e.src, e.dst):
        if not g.has_node(n):
            raise EditError(line, f"node {n} was removed by an earlier edit")
    if g.node(e.src).kind == OUTPUT_OP or _io(g, e.dst):
        raise EditError(line, "a branch runs from a node to a later node that is not the "
                        "input or the output")  # fmt: skip
    if e.src != e.dst and e.src not in _ancestors(g, e.dst):  # src == dst: a residual
        raise EditError(line, f"node {e.src} does not come before node {e.dst}: the branch "
                        "would make a cycle")  # fmt: skip
    k = _next(g)
    chain = [replace(op, index=k + i) for i, op in enumerate(e.ops)]
    m = k + len(chain)
    merge = Node(m, _MERGES[e.merge], (("dim", "1"),) if e.merge == "concat" else (),
                 e.merge == "concat")  # fmt: skip
    new.update(range(k, m + 1))
    edges = [(m, b) if a == e.dst else (a, b) for a, b in g.edges]
    edges += [(e.src, k), *((k + i, k + i + 1) for i in range(len(chain) - 1))]
    edges += [(e.dst, m), (m - 1, m)]
    return _with(g, [*g.nodes, *chain, merge], edges)


def apply_edits(
    parent: BlockGraph, edits: Sequence[Edit]
) -> tuple[BlockGraph, set[int], list[str]]:
    """The parent with ``edits`` applied in order, the indices of the nodes they made or
    changed, and notes on edits dropped (a ``set`` of an argument the node's op lost to an
    earlier ``replace`` of the same answer; to be recorded with the candidate: a drop always
    follows an applied replace, so something is left). Raises :class:`EditError` for an
    edit the graph at that point cannot take."""
    g, new, replaced, notes = parent, set[int](), dict[int, int](), list[str]()
    for i, e in enumerate(edits, 1):
        g = _apply_one(g, e, i, new, replaced, notes)
    return g, new, notes


# ------------------------------------------------------------------------------ fix


def _channels_expr(c: int, base: int) -> str | None:
    """``c`` channels as an expression of ``C`` (= ``base`` in the analysis)."""
    if c == base:
        return "C"
    if c % base == 0:
        return f"C*{c // base}"
    if base % c == 0:
        return f"C/{base // c}"
    return None


def _project(g: BlockGraph, src: int, dst: int, channels: str) -> tuple[BlockGraph, int]:
    """A 1x1 Conv2d to ``channels`` on the edge ``src->dst`` (input position kept)."""
    k = _next(g)
    node = Node(k, "Conv2d", (("out_channels", channels), ("kernel_size", "1"),
                              ("bias", "False")), True)  # fmt: skip
    edges = [(k, b) if (a, b) == (src, dst) else (a, b) for a, b in g.edges]
    return _with(g, [*g.nodes, node], [*edges, (src, k)]), k


def fix_shapes(
    g: BlockGraph, new: set[int], rounds: int = 6, gates: bool = False
) -> tuple[BlockGraph, list[str]]:
    """Repair channel and spatial mismatches the edits made, without changing the idea:

    * an Add/Mul (or the output) whose input from the changed part has another channel
      count than the rest: a 1x1 ``Conv2d`` projection on that input; with ``gates``
      (form ``edits@4``), a gate's map (one value per channel, 1x1, into a Mul) with
      another channel count than the node it weighs is projected before its Sigmoid;
    * a map shrunk by a node the edits made or changed (a stride, a pool's default stride)
      where a merge or the output needs the full size: ``stride=1`` on that node.

    Returns the graph and one line per fix (empty when nothing was needed or possible)."""
    fixes: list[str] = []
    for _ in range(rounds):
        an = analyze(g)
        if not an.errors:
            break
        err = an.errors[0]
        shapes = an.shapes
        if err.node is None or not g.has_node(err.node):
            break
        node = g.node(err.node)
        target: tuple[int, ...] | None = None
        srcs = g.inputs_of(err.node)
        if node.kind in ("add", "mul") and all(s in shapes for s in srcs):
            keep = [s for s in srcs if not _touches(g, s, new)] or srcs[:1]
            target = shapes[keep[0]]
            bad = [s for s in srcs if shapes[s] != target and s not in keep]
        elif node.kind == OUTPUT_OP and srcs and srcs[0] in shapes:
            x0 = an.input_shapes[0]
            target, bad = (x0[0], an.binding["dim"], *x0[2:]), [srcs[0]]
        else:
            break
        done = False
        for s in bad:
            got = shapes[s]
            if len(got) != 4 or len(target) != 4:
                continue
            if gates and node.kind == "mul" and got[2:] == (1, 1) and got[1] not in (1, target[1]):
                # a channel gate's map with another channel count than the node it weighs:
                # projected before its Sigmoid, so that the gate stays in (0, 1)
                ch = _channels_expr(target[1], an.binding["C"])
                if ch is None:
                    continue
                ins = g.inputs_of(s)
                a, b = (
                    (ins[0], s) if g.node(s).kind == "sigmoid" and len(ins) == 1 else (s, err.node)
                )
                g, k = _project(g, a, b, ch)
                fixes.append(f"1x1 Conv2d to {ch} channels (node {k}) between node {a} and node "
                             f"{b}: the gate map had {got[1]} channels, node {err.node} weighs "
                             f"{target[1]}")  # fmt: skip
                done = True
                break
            if got[2:] != target[2:]:
                shrunk = _shrinking(an, g, s, new)
                if shrunk is not None:
                    g = _with(g, [_set_arg(n, "stride", "1") if n.index == shrunk else n
                                  for n in g.nodes], g.edges)  # fmt: skip
                    fixes.append(f"stride=1 on node {shrunk} (it halved the map that node "
                                 f"{err.node} needs at {target[2]}x{target[3]})")  # fmt: skip
                    done = True
                    break
                continue
            if got[1] != target[1]:
                ch = _channels_expr(target[1], an.binding["C"])
                if ch is None:
                    continue
                g, k = _project(g, s, err.node, ch)
                fixes.append(f"1x1 Conv2d to {ch} channels (node {k}) between node {s} "
                             f"({got[1]} channels) and node {err.node}")  # fmt: skip
                done = True
                break
        if not done:
            break
    return g, list(dict.fromkeys(fixes))


def _touches(g: BlockGraph, n: int, new: set[int]) -> bool:
    return n in new or bool(_ancestors(g, n) & new)


def _shrinking(an: Analysis, g: BlockGraph, n: int, new: set[int]) -> int | None:
    """The node among ``n`` and its ancestors that the edits made and that reduces H."""
    up = _ancestors(g, n) | {n}
    for r in an.nodes:
        spec = lookup_op(r.key)
        if r.index in new and r.index in up and r.in_shapes and len(r.shape) == 4:
            takes_stride = spec is not None and any(a.name == "stride" for a in spec.args)
            if takes_stride and r.args.get("stride") != 1 and r.shape[2] < r.in_shapes[0][2]:
                return r.index
    return None


# ------------------------------------------------------------------------------ grammar


def _op_run(first: Expr, more: int, rest: Expr = Ref("op-one")) -> Seq:
    """``first`` then up to ``more`` of ``rest``, space-separated: a branch's ops."""
    return Seq((first, Rep(Seq((Lit(" "), rest)), 0, more)))


def _lines(line: Expr, form: EditForm) -> Rep:
    """1 to ``form.max_edits`` of ``line``, each ended by a newline."""
    return Rep(Seq((line, Lit("\n"))), 1, form.max_edits)


def _branch_parts(
    parent: BlockGraph, edit_nodes: list[int], form: EditForm
) -> tuple[Expr, Expr] | None:
    """A branch line's (``A->B`` pair, ops) against ``parent``: from an earlier node (or the
    node itself: a residual around new ops) to a later one — spelled out up to
    :data:`_MAX_PAIRS` pairs, above that any source and any target —, then 1 to
    ``form.max_branch_ops`` one-input ops. None when no node can take a branch."""
    pairs = [f"{a}->{b}" for b in edit_nodes for a in sorted(_ancestors(parent, b) | {b})
             if parent.node(a).kind != OUTPUT_OP]  # fmt: skip
    if not pairs:
        return None
    if len(pairs) > _MAX_PAIRS:
        src = alt_of([str(n.index) for n in sorted(parent.nodes, key=lambda n: n.index)
                      if n.kind != OUTPUT_OP])  # fmt: skip
        pair: Expr = Seq((src, Lit("->"), alt_of([str(i) for i in edit_nodes])))
    else:
        pair = alt_of(pairs)
    return pair, _op_run(Ref("op-one"), form.max_branch_ops - 1)


def edits_constraint(parent: BlockGraph, form: EditForm = EDIT_FORMS[EDITS_FORM]) -> Constraint:
    """The grammar of an edit list against ``parent`` in ``form`` (see the module doc): 1 to
    ``form.max_edits`` lines, optionally in one ``` fence."""
    return _constraint(parent, form)


@lru_cache(maxsize=32)
def _constraint(parent: BlockGraph, form: EditForm) -> Constraint:
    rules: dict[str, Expr] = op_rules()
    idx = sorted(n.index for n in parent.nodes)
    edit_nodes = [i for i in idx if not _io(parent, i)]
    one_in = [i for i in edit_nodes if len(parent.inputs_of(i)) == 1]
    removable = [i for i in one_in if _remove_problem(parent, i) is None]
    merges = [i for i in edit_nodes if len(parent.inputs_of(i)) > 1]
    if merges:  # what a merge may become: the validator's ops of two or more inputs
        rules["op-merge"] = Alt(tuple(Ref(op_rule_name(s)) for s in op_specs() if s.arity is None))
    choices: list[Expr] = []
    if parent.edges:
        edges = alt_of([f"{a}->{b}" for a, b in dict.fromkeys(parent.edges)])
        choices.append(Seq((Lit("insert "), edges, Lit(" "), Ref("op-one"))))
    # a node keeps its kind of arity: a new merge comes only from a branch
    for nodes, rule in ((one_in, "op-one"), (merges, "op-merge")):
        if nodes:
            choices.append(Seq((Lit("replace "), alt_of([str(i) for i in nodes]), Lit(" "),
                                Ref(rule))))  # fmt: skip
    sets: list[Expr] = []
    for i in edit_nodes:
        spec = lookup_op(parent.node(i).op)
        one = arg_choice(spec) if spec is not None else None
        if one is not None:
            sets.append(Seq((Lit(f"set {i} "), one)))
    if sets:
        choices.append(Alt(tuple(sets)))
    branch = _branch_parts(parent, edit_nodes, form)
    if branch is not None:
        pair, ops = branch
        choices.append(Seq((Lit("branch "), pair, Lit(" "), alt_of(list(form.merges)), Lit(" "),
                            ops)))  # fmt: skip
    if removable:
        choices.append(Seq((Lit("remove "), alt_of([str(i) for i in removable]))))
    rules["edit"] = Alt(tuple(choices))
    rules["root"] = fenced(_lines(Ref("edit"), form))
    return Constraint(form.name, Grammar(rules))


def change_first_constraint(
    parent: BlockGraph, form: EditForm = EDIT_FORMS["edits@2"]
) -> Constraint:
    """An edit answer that first names its change on one line, then holds to it: ``Change:
    replace GELU`` then only ``replace N GELU`` lines, ``Change: set kernel_size`` then only
    ``set N kernel_size=...`` (N: a node whose op has that argument), ``Change: insert BN``
    then only ``insert A->B BN``, ``Change: branch mul`` then only mul branches, ``Change:
    remove ReLU`` then only removals of ReLU nodes — 1 to ``form.max_edits`` of them. The
    first line is a choice a small model makes from the proposal's words; the node numbers
    come after it (the real 1.5B model, free to mix edit kinds, wrote ``replace 2 Identity``
    for a depthwise conv and ``replace 4 ReLU`` for GELU). Named ``change+<form>``."""
    return _change_first(parent, form)


@lru_cache(maxsize=32)
def _change_first(parent: BlockGraph, form: EditForm) -> Constraint:
    rules: dict[str, Expr] = op_rules()
    idx = [n.index for n in parent.nodes]
    edit_nodes = [i for i in sorted(idx) if not _io(parent, i)]
    one_in = [i for i in edit_nodes if len(parent.inputs_of(i)) == 1]
    merges = [i for i in edit_nodes if len(parent.inputs_of(i)) > 1]
    edges = alt_of([f"{a}->{b}" for a, b in dict.fromkeys(parent.edges)]) if parent.edges else None
    heads: list[Expr] = []

    def kind(head: str, line: Expr) -> None:
        heads.append(Seq((Lit(f"Change: {head}\n"), _lines(line, form))))

    for spec in op_specs():
        if spec.arity == 0 or spec.name == OUTPUT_OP:
            continue
        op = Ref(op_rule_name(spec))
        nodes = one_in if spec.arity == 1 else merges
        if nodes:
            kind(f"replace {spec.name}", Seq((Lit("replace "), alt_of([str(i) for i in nodes]),
                                              Lit(" "), op)))  # fmt: skip
        if spec.arity == 1 and edges is not None:
            kind(f"insert {spec.name}", Seq((Lit("insert "), edges, Lit(" "), op)))
    by_key: dict[str, tuple[Expr, list[str]]] = {}
    for i in edit_nodes:
        found = lookup_op(parent.node(i).op)
        for a in found.args if found is not None and not found.varargs else ():
            by_key.setdefault(a.name, (arg_value(a), []))[1].append(str(i))
    for key, (value, having) in by_key.items():
        kind(f"set {key}", Seq((Lit("set "), alt_of(having), Lit(f" {key}="), value)))
    branch = _branch_parts(parent, edit_nodes, form)
    if branch is not None:
        pair, ops = branch
        for merge in form.merges:
            kind(f"branch {merge}", Seq((Lit("branch "), pair, Lit(f" {merge} "), ops)))
    by_op: dict[str, list[str]] = {}
    for i in one_in:
        if _remove_problem(parent, i) is None:
            by_op.setdefault(parent.node(i).op, []).append(str(i))
    for op_name, removable in by_op.items():
        kind(f"remove {op_name}", Seq((Lit("remove "), alt_of(removable))))
    rules["root"] = fenced(Alt(tuple(heads)))
    return Constraint(f"change+{form.name}", Grammar(rules))


# the kinds of change a headed answer's first line starts with (headed_constraint)
KINDS = ("swap", "argument", "insert", "channel attention", "spatial attention",
         "skip connection", "parallel branch", "remove")  # fmt: skip
KIND_FORM = "kind@1"


@lru_cache(maxsize=1)
def kind_constraint() -> Constraint:
    """One of :data:`KINDS`, nothing else: the answer of the kind call (``modifier_kind``)."""
    return Constraint(KIND_FORM, Grammar({"root": alt_of(list(KINDS))}))


def parse_kind(text: str) -> str | None:
    """The kind an answer of the kind call names (its first line, case and a ``Kind:``
    prefix aside), or None when it names none of :data:`KINDS`."""
    first = text.strip()[:80].splitlines()[0] if text.strip() else ""
    word = first.removeprefix("Kind:").strip().strip(".`'\"").lower()
    return word if word in KINDS else None


def headed_constraint(
    parent: BlockGraph, form: EditForm = EDIT_FORMS["edits@3"], kind: str | None = None
) -> Constraint:
    """An edit answer (form ``edits@3``) whose first line names the change in plain words,
    the edits after it held to that kind — 1 to ``form.max_edits`` of them. The line starts
    with the kind, a choice among eight, before any op or node:

    ``Change: swap OLD for NEW``         ``replace N NEW(...)`` for nodes N of op OLD
    ``Change: argument KEY of OP``       ``set N KEY=value`` for nodes N of op OP
    ``Change: insert OP``                ``insert A->B OP(...)`` on existing edges
    ``Change: channel attention``        ``branch N->N mul AdaptiveAvgPool2d(...) Op ...
                                         Sigmoid``: a node's output times a map of one
                                         value per channel (squeeze-and-excitation); the
                                         squeeze is an adaptive pool
    ``Change: spatial attention``        ``branch N->N mul Op ... Sigmoid``, no pool: a map
                                         of the node's height and width
    ``Change: skip connection``          ``branch I->N add Op ...`` from the block input I
    ``Change: parallel branch``          ``branch A->B add|concat Op ...`` whose first op
                                         computes something (not an Identity: that is a
                                         skip)
    ``Change: remove OP``                ``remove N`` for nodes N of op OP

    Unlike :func:`change_first_constraint` (``Change: replace GELU``), a swap names the op
    that goes BEFORE the one that comes (the real 1.5B model, asked for GELU, wrote
    ``Change: replace ReLU`` and ``replace 4 ReLU``: it names what is there first; here that
    habit is the first half of the line and the grammar forbids the same op after ``for``),
    and a branch is named by what it is for, not by its merge. The kind comes first: with
    heads that began with an op (``Change: ReLU becomes GELU``, ``Change: kernel_size of
    Conv2d``) the model began with an op it saw and wrote ``Change: Add becomes Mul`` for a
    residual and a parallel branch (bench/results/v3/op_first). With one free ``attention
    gate`` head it wrote ``branch 10->10 mul Sigmoid`` for a squeeze-and-excitation module,
    and parallel branches of ``Identity`` alone (DEV2, bench/results/v3/one_gate); the
    prompt (``modifier_edits@4``) shows one answer of each kind on a toy block (without
    them, bench/results/v3/no_examples, it did worse: a MaxPool2d stride for GELU). Only ops
    and nodes of the parent and the validator's table appear, as in
    :func:`edits_constraint`.

    ``kind`` (one of :data:`KINDS`, from the kind call of form ``edits@4``): only the heads
    of that kind (``swap ...`` for ``swap``); a kind with no head on this parent (nothing to
    remove) is refused with ValueError."""
    if not form.headed:
        raise ValueError(f"{form.name} has no first line; use edits_constraint")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    return _headed(parent, form, kind)


@lru_cache(maxsize=32)
def _headed(parent: BlockGraph, form: EditForm, kind: str | None = None) -> Constraint:
    rules: dict[str, Expr] = op_rules()
    edit_nodes = [i for i in sorted(n.index for n in parent.nodes) if not _io(parent, i)]
    heads: list[Expr] = []

    def module(line: Expr) -> Expr:  # the lines of a kind that adds or removes one module
        return Seq((line, Lit("\n"))) if form.one_module else _lines(line, form)

    if form.odd_kernels:
        rules["odd"] = Alt((Seq((Chars("1-9"), Chars("13579"))), Chars("13579")))
    by_op: dict[str, list[int]] = {}
    for i in edit_nodes:
        found = lookup_op(parent.node(i).op)
        if found is not None:
            by_op.setdefault(found.name, []).append(i)
    specs = [s for s in op_specs() if s.arity != 0 and s.name != OUTPUT_OP]
    for old, nodes in by_op.items():
        old_spec = lookup_op(old)
        merge = old_spec is not None and old_spec.arity is None
        swaps: list[Expr] = []
        for new in specs:
            if new.name == old or (new.arity is None) != merge:
                continue
            line = Seq((Lit("replace "), alt_of([str(i) for i in nodes]), Lit(" "),
                        Ref(op_rule_name(new))))  # fmt: skip
            swaps.append(Seq((Lit(f"{new.name}\n"), _lines(line, form))))
        if swaps:
            heads.append(Seq((Lit(f"swap {old} for "), Alt(tuple(swaps)))))
        for a in old_spec.args if old_spec is not None and not old_spec.varargs else ():
            odd = form.odd_kernels and a.name == "kernel_size"
            line = Seq((Lit("set "), alt_of([str(i) for i in nodes]), Lit(f" {a.name}="),
                        Ref("odd") if odd else arg_value(a)))  # fmt: skip
            heads.append(Seq((Lit(f"argument {a.name} of {old}\n"), _lines(line, form))))
    if parent.edges:
        edges = alt_of([f"{a}->{b}" for a, b in dict.fromkeys(parent.edges)])
        for spec in specs:
            if spec.arity == 1:
                line = Seq((Lit("insert "), edges, Lit(" "), Ref(op_rule_name(spec))))
                heads.append(Seq((Lit(f"insert {spec.name}\n"), module(line))))
    some = form.max_branch_ops - 1
    ops = _op_run(Ref("op-one"), some)
    if edit_nodes and "mul" in form.merges:  # a gate: a map from a node's output times it
        own = alt_of([f"{i}->{i}" for i in edit_nodes])
        squeeze = Alt(tuple(Ref(op_rule_name(s)) for s in specs if s.name in _SQUEEZE))
        channel = Seq((squeeze, Rep(Seq((Lit(" "), Ref("op-one"))), 0, some - 1), Lit(" Sigmoid")))
        rules["op-map"] = Alt(tuple(Ref(op_rule_name(s)) for s in specs
                                    if s.arity == 1 and s.name not in (*_SQUEEZE, "Identity")))  # fmt: skip
        spatial = Seq((Ref("op-map"), Rep(Seq((Lit(" "), Ref("op-map"))), 0, some - 1),
                       Lit(" Sigmoid")))  # fmt: skip
        for head, ops_ in (("channel attention", channel), ("spatial attention", spatial)):
            line = Seq((Lit("branch "), own, Lit(" mul "), ops_))
            heads.append(Seq((Lit(f"{head}\n"), module(line))))
    inputs = [n.index for n in parent.input_nodes]
    if edit_nodes and inputs and "add" in form.merges:
        skip = alt_of([f"{a}->{b}" for a in inputs for b in edit_nodes])
        line = Seq((Lit("branch "), skip, Lit(" add "), ops))
        heads.append(Seq((Lit("skip connection\n"), module(line))))
    branch = _branch_parts(parent, edit_nodes, form)
    parallel = [m for m in form.merges if m in ("add", "concat")]
    if branch is not None and parallel:
        pair, _ = branch
        rules["op-path"] = Alt(tuple(Ref(op_rule_name(s)) for s in specs
                                     if s.arity == 1 and s.name != "Identity"))  # fmt: skip
        path = _op_run(Ref("op-path"), some)
        line = Seq((Lit("branch "), pair, Lit(" "), alt_of(parallel), Lit(" "), path))
        heads.append(Seq((Lit("parallel branch\n"), module(line))))
    for op_name, nodes in by_op.items():
        removable = [str(i) for i in nodes if len(parent.inputs_of(i)) == 1
                     and _remove_problem(parent, i) is None]  # fmt: skip
        if removable:
            line = Seq((Lit("remove "), alt_of(removable)))
            heads.append(Seq((Lit(f"remove {op_name}\n"), module(line))))
    if kind is not None:
        heads = [h for h in heads if _head_text(h).startswith(kind)]
        if not heads:
            raise ValueError(f"no change of kind {kind!r} can be made to {parent.name}")
    answer = Seq((Lit("Change: "), Alt(tuple(heads))))
    rules["root"] = fenced(answer)
    return Constraint(form.name, Grammar(rules))


def _head_text(head: Expr) -> str:
    """The literal a head starts with (``swap ReLU for ``, ``channel attention\n``)."""
    while isinstance(head, Seq) and head.items:
        head = head.items[0]
    return head.text if isinstance(head, Lit) else ""


def edit_example(parent: BlockGraph) -> str:
    """An edit list against ``parent`` that shows the form: up to three lines of different
    kinds, each valid on the parent by itself. An example of the form, not a proposal."""
    cands: list[str] = []
    mid = [(a, b) for a, b in parent.edges if not _io(parent, a) and not _io(parent, b)]
    cands += [f"insert {a}->{b} ReLU" for a, b in mid[len(mid) // 2 :]]
    convs = [n.index for n in parent.nodes if n.kind in ("conv2d", "conv")]
    cands += [f"set {i} kernel_size=5" for i in convs]
    first = parent.input_nodes[0].index if parent.input_nodes else None
    late = [b for _, b in reversed(parent.edges) if not _io(parent, b)]
    cands += [f"branch {first}->{b} add Conv2d(out_channels=C,kernel_size=1,bias=False) BN"
              for b in late if first is not None]  # fmt: skip
    out: list[str] = []
    for line in cands:
        verb = line.split(" ", 1)[0]
        if any(x.startswith(verb) for x in out):
            continue
        try:
            new, _, _ = apply_edits(parent, parse_edits(line, parent))
        except EditError:
            continue
        if not analyze(new).errors:
            out.append(line)
    return "\n".join(out)


def node_guide(g: BlockGraph) -> str:
    """One line on where ``g``'s nodes are, for a prompt: its input and output nodes (and
    what the output reads), then the node numbers of each operation, e.g. ``Nodes by
    operation: Conv2d 2, 5; BN 3, 6; ReLU 4, 8; Add 7.`` (a small model named nodes by
    guess: ``replace 4 ReLU`` on a ReLU when asked for GELU)."""
    parts = []
    for n in g.input_nodes:
        parts.append(f"node {n.index} is the block input")
    for n in g.output_nodes:
        reads = ", ".join(str(i) for i in g.inputs_of(n.index))
        parts.append(f"node {n.index} the output (it reads node {reads})")
    by_op: dict[str, list[str]] = {}
    for n in sorted(g.nodes, key=lambda x: x.index):
        if not _io(g, n.index):
            by_op.setdefault(n.op, []).append(str(n.index))
    ops = "; ".join(f"{op} {', '.join(ids)}" for op, ids in by_op.items())
    head = ", ".join(parts)
    return f"{head[:1].upper()}{head[1:]}. Nodes by operation: {ops}."
