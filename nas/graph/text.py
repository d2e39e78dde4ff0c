"""The block text format: parse and serialize.

::

    ##ResNetBasicBlock##
    0:input
    1:output
    2:Conv2d(out_channels=C,kernel_size=3,stride=1)
    3:BN
    0->2
    2->3
    3->1

A file holds one or more blocks (a base block and optionally ``<name>_stem`` and
``<name>_downsample``). Blank lines and lines starting with ``#`` (but not ``##``) are ignored.
``serialize(parse_blocks(text))`` gives the text back line for line, minus blank lines,
comments and surrounding whitespace.

    >>> g = parse_blocks("##b##\\n0:input\\n1:output\\n2:ReLU\\n0->2\\n2->1\\n")["b"]
    >>> serialize(g)
    '##b##\\n0:input\\n1:output\\n2:ReLU\\n0->2\\n2->1\\n'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from nas.graph.block import BlockGraph, Node
from nas.graph.limits import CEILING, AnswerLimits, literal_digits

__all__ = [
    "ParseError",
    "check_argument",
    "check_size",
    "parse_block",
    "parse_blocks",
    "parse_op",
    "serialize",
]

_HEADER = re.compile(r"^##\s*(?P<name>[^#]+?)\s*##$")
_EDGE = re.compile(r"^(?P<a>-?[0-9]+)\s*->\s*(?P<b>-?[0-9]+)$")
_NODE = re.compile(r"^(?P<idx>[0-9]+)\s*:\s*(?P<op>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<rest>.*)$")
# a number as the expression parser reads it: a digit or '.', then digits, '.', 'e', 'E'
_LITERAL = re.compile(r"(?<![A-Za-z0-9_.])[0-9.][0-9.eE]*")
_KEY = "strategy.nader.answer_limits"


class ParseError(ValueError):
    """A line of block text that cannot be read; ``line`` and ``col`` are 1-based, ``block``
    the block being read (empty before the first header), ``source`` the file (if known).

    ``str(e)`` reads ``FILE: block 'X', line 4, col 1: reason (hint)``."""

    def __init__(
        self,
        message: str,
        line: int,
        col: int,
        hint: str = "",
        block: str = "",
        source: str = "",
    ) -> None:
        self.line = line
        self.col = col
        self.hint = hint
        self.reason = message
        self.block = block
        self.source = source
        where = (f"{source}: " if source else "") + (f"block {block!r}, " if block else "")
        super().__init__(
            f"{where}line {line}, col {col}: {message}" + (f" ({hint})" if hint else "")
        )

    def located(self, block: str = "", source: str = "") -> ParseError:
        """The same error with the block and/or file filled in."""
        return ParseError(
            self.reason,
            self.line,
            self.col,
            self.hint,
            block or self.block,
            source or self.source,
        )


def _index(raw: str, line: int, col: int, limits: AnswerLimits) -> int:
    """A node index, its digits bounded before ``int()`` converts it."""
    if len(raw.lstrip("-")) > limits.max_literal_digits:
        raise ParseError(
            f"node index of {len(raw)} digits (limit {limits.max_literal_digits}, "
            f"{_KEY}.max_literal_digits)",
            line,
            col,
            "number nodes 0, 1, 2, ...",
        )
    return int(raw)


def _check_value(value: str, line: int, col: int, limits: AnswerLimits) -> None:
    """An argument's text within the expression bounds (length, literal digits)."""
    if len(value) > limits.max_expr_length:
        raise ParseError(
            f"argument of {len(value)} characters (limit {limits.max_expr_length}, "
            f"{_KEY}.max_expr_length)",
            line,
            col,
            "write sizes as short expressions of C, dim, H, W, e.g. C*2",
        )
    for m in _LITERAL.finditer(value):
        if literal_digits(m.group()) > limits.max_literal_digits:
            raise ParseError(
                f"number {m.group()[:20]!r} has more than {limits.max_literal_digits} digits "
                f"({_KEY}.max_literal_digits)",
                line,
                col + m.start(),
                "use sizes a network can have",
            )


def _split_args(
    text: str, line: int, col0: int, limits: AnswerLimits = CEILING
) -> list[tuple[str | None, str]]:
    """``a=1,b=(2,3),C/4`` -> [("a","1"),("b","(2,3)"),(None,"C/4")] at parenthesis depth 0."""
    items: list[tuple[str, int]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
            if depth > limits.max_expr_depth:
                raise ParseError(
                    f"parentheses nested deeper than {limits.max_expr_depth} "
                    f"({_KEY}.max_expr_depth)",
                    line,
                    col0 + i + 1,
                    "write the expression without extra parentheses",
                )
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise ParseError("unbalanced ')' in the arguments", line, col0 + i + 1)
        elif ch == "," and depth == 0:
            items.append((text[start:i], start))
            start = i + 1
    if depth != 0:
        raise ParseError("unbalanced '(' in the arguments", line, col0 + len(text))
    items.append((text[start:], start))
    if len(items) == 1 and not items[0][0].strip():
        return []
    out: list[tuple[str | None, str]] = []
    for raw, off in items:
        item = raw.strip()
        if not item:
            raise ParseError(
                "empty argument", line, col0 + off + 1, "remove the extra ',' between arguments"
            )
        _check_value(item, line, col0 + off + 1, limits)
        key, eq, value = item.partition("=")
        if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            if not value.strip():
                raise ParseError(
                    f"argument {key.strip()!r} has no value",
                    line,
                    col0 + off + len(raw) + 1,
                    f"write {key.strip()}=VALUE",
                )
            out.append((key.strip(), value.strip()))
        else:
            out.append((None, item))
    return out


def _parse_node(text: str, line: int, indent: int, limits: AnswerLimits) -> Node:
    m = _NODE.match(text)
    if not m:
        col = indent + 1
        if ":" not in text:
            hint = "a node line is 'INDEX:Op(args)', e.g. '2:Conv2d(out_channels=C,kernel_size=3)'"
        else:
            head = text.split(":", 1)[0]
            if not head.strip().isdigit():
                hint = f"node index {head.strip()!r} must be a non-negative integer"
            else:
                col = indent + len(head) + 2
                hint = "the operation name must start with a letter, e.g. 'ReLU' or 'Conv2d(...)'"
        raise ParseError(f"cannot read node line {text!r}", line, col, hint)
    rest = m.group("rest")
    rest_col = indent + m.start("rest") + 1
    args: list[tuple[str | None, str]] = []
    has_parens = False
    if rest:
        if not rest.startswith("("):
            raise ParseError(
                f"unexpected {rest!r} after the operation name",
                line,
                rest_col,
                "arguments go in parentheses: Op(key=value,...)",
            )
        if not rest.endswith(")"):
            raise ParseError(
                "the argument list is not closed", line, indent + len(text) + 1, "add ')'"
            )
        has_parens = True
        args = _split_args(rest[1:-1], line, rest_col, limits)
    idx = _index(m.group("idx"), line, indent + 1, limits)
    return Node(idx, m.group("op"), tuple(args), has_parens)


def parse_op(text: str, index: int = 0, limits: AnswerLimits = CEILING) -> Node:
    """One operation as written after ``index:`` on a node line (``Conv2d(k=3,...)``), as
    node ``index``; raises :class:`ParseError` (line 1) when it does not read or is over
    ``limits`` (argument length, nesting, digits)."""
    if len(text) > 400:
        raise ParseError("operation text longer than 400 characters", 1, 1, "write one op")
    node = _parse_node(f"{index}:{text.strip()}", 1, 0, limits)
    return node


def check_argument(text: str, limits: AnswerLimits = CEILING) -> None:
    """Raise :class:`ParseError` when one argument's text (``C*2``, ``(3,3)``) is over
    ``limits`` (length, parenthesis nesting, literal digits), as a node line's would be."""
    _split_args(text, 1, 1, limits)


def check_size(text: str, limits: AnswerLimits = CEILING) -> None:
    """Raise :class:`ParseError` when ``text`` is over ``limits.max_answer_bytes``: the first
    check on any text from outside, before a regular expression reads it."""
    if (
        len(text) > limits.max_answer_bytes
        or len(text.encode("utf-8", "surrogatepass")) > limits.max_answer_bytes
    ):
        raise ParseError(
            f"the text has {len(text.encode('utf-8', 'surrogatepass')):,} bytes (limit "
            f"{limits.max_answer_bytes:,}, {_KEY}.max_answer_bytes)",
            1,
            1,
            "reply with only the block",
        )


def parse_blocks(
    text: str, source: str = "", limits: AnswerLimits = CEILING
) -> dict[str, BlockGraph]:
    """Every block in ``text``, by name, in file order. Raises :class:`ParseError` naming the
    file (``source``), block, line and column of the first line that is not a header, node,
    edge, comment or blank, or that is over one of ``limits`` (checked before the work they
    bound: the whole text's size first, then per block its nodes, edges and arguments).
    ``limits`` default to the ceiling any run may set (files, stored architectures); LLM
    answers are read with the run's own, lower ones (``parse_block_answer``)."""
    state: dict[str, str] = {"block": ""}
    try:
        check_size(text, limits)
        return _parse_blocks(text, state, limits)
    except ParseError as e:
        raise e.located(state["block"], source) from None


def _count(have: int, limit: int, what: str, line: int, indent: int) -> None:
    """ParseError when a block already has ``limit`` nodes (or edges) and meets one more."""
    if have >= limit:
        raise ParseError(
            f"more than {limit} {what} ({_KEY}.max_{what})",
            line,
            indent + 1,
            f"a block is a small cell: keep it to its essential {what}",
        )


def _parse_blocks(text: str, state: dict[str, str], limits: AnswerLimits) -> dict[str, BlockGraph]:
    blocks: dict[str, BlockGraph] = {}
    name: str | None = None
    nodes: list[Node] = []
    edges: list[tuple[int, int]] = []

    def close() -> None:
        if name is not None:
            blocks[name] = BlockGraph(name, tuple(nodes), tuple(edges))

    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if not stripped:
            continue
        if stripped.startswith("##"):
            m = _HEADER.match(stripped)
            if not m:
                raise ParseError(
                    f"bad block header {stripped!r}",
                    lineno,
                    indent + 1,
                    "a header is '##BlockName##'",
                )
            close()
            name = m.group("name")
            state["block"] = name
            if name in blocks:
                raise ParseError(
                    f"block {name!r} appears twice",
                    lineno,
                    indent + 3,
                    "give each block its own name",
                )
            nodes, edges = [], []
            continue
        if stripped.startswith("#"):
            continue
        if name is None:
            raise ParseError(
                "content before the first block header",
                lineno,
                indent + 1,
                "start the file with '##BlockName##'",
            )
        em = _EDGE.match(stripped)
        if em:
            _count(len(edges), limits.max_edges, "edges", lineno, indent)
            edges.append(
                (
                    _index(em.group("a"), lineno, indent + 1, limits),
                    _index(em.group("b"), lineno, indent + 1, limits),
                )
            )
        elif "->" in stripped:
            pos = stripped.index("->")
            raise ParseError(
                f"cannot read edge {stripped!r}",
                lineno,
                indent + 1 + (0 if not stripped[:pos].strip().isdigit() else pos + 2),
                "an edge is 'SRC->DST' with two node indices, e.g. '2->3'",
            )
        else:
            _count(len(nodes), limits.max_nodes, "nodes", lineno, indent)
            nodes.append(_parse_node(stripped, lineno, indent, limits))
    close()
    if not blocks:
        raise ParseError("no block found", 1, 1, "start the file with '##BlockName##'")
    return blocks


def parse_block(text: str) -> BlockGraph:
    """The first block of ``text``."""
    return next(iter(parse_blocks(text).values()))


def serialize(blocks: BlockGraph | Iterable[BlockGraph] | Mapping[str, BlockGraph]) -> str:
    """Block text of one graph, several, or a ``parse_blocks`` result (one line per node and
    edge, in stored order, ending in a newline)."""
    if isinstance(blocks, BlockGraph):
        items: list[BlockGraph] = [blocks]
    elif isinstance(blocks, Mapping):
        items = list(blocks.values())
    else:
        items = list(blocks)
    lines: list[str] = []
    for g in items:
        lines.append(f"##{g.name}##")
        lines.extend(f"{n.index}:{n.text}" for n in g.nodes)
        lines.extend(f"{a}->{b}" for a, b in g.edges)
    return "\n".join(lines) + "\n"
