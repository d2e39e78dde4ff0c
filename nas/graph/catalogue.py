"""The op catalogue the agents' prompts show: generated from the validator's own op table
(:mod:`nas.graph.ops`), so a prompt never offers an op the validator rejects or omits one it
accepts.

    >>> text = op_catalogue()
    >>> "Conv2d(out_channels, kernel_size, stride=1" in text and "softmax(dim)" in text
    True
"""

from __future__ import annotations

from nas.graph.ops import ArgSpec, OpSpec, op_specs

__all__ = ["block_definition", "op_catalogue", "op_signature"]

_NODE_OPS = ("input", "input1", "input2", "output")


def _arg(a: ArgSpec) -> str:
    if a.required:
        return a.name
    d = a.default
    shown = "auto" if d is None and a.name == "padding" else ("default" if d is None else d)
    return f"{a.name}={shown}"


def op_signature(spec: OpSpec) -> str:
    """``Conv2d(out_channels, kernel_size, stride=1, ...)``, ``permute(*dims)``, ``ReLU``."""
    if spec.varargs:
        what = {"permute": "*dims", "reshape": "*sizes", "repeat": "*counts"}.get(spec.name, "*")
        return f"{spec.name}({what})"
    if not spec.args:
        return spec.name
    return f"{spec.name}({', '.join(_arg(a) for a in spec.args)})"


def op_catalogue(two_input: bool = False) -> str:
    """One line per op: signature, arity, meaning and shape rule; aliases noted."""
    lines = []
    for s in op_specs():
        if s.name in _NODE_OPS:
            continue
        arity = "2+ inputs" if s.arity is None else "1 input"
        alias = f" (also: {', '.join(s.aliases)})" if s.aliases else ""
        lines.append(f"- {op_signature(s)} [{arity}]{alias}: {s.shape}")
    return "\n".join(lines)


def block_definition(two_input: bool = False) -> str:
    """The block text format, the symbols and the op catalogue: the ``###BlockDefinition###``
    section of NADER's prompts, in archlab's words."""
    inputs = (
        "input1 and input2: the outputs of the two previous cells, each (B,dim,H,W)"
        if two_input
        else "input: the block's input feature map, shape (B,C,H,W)"
    )
    return f"""Each block starts with "##BlockName##". Then one node per line as "INDEX:Operation" \
(0:input and 1:output are fixed) and one edge per line as "SRC->DST". The order of the edges \
into a node is its input order. Every node lies on a path from the input to the output; the \
output node has exactly one input; ops with one input take exactly one edge, Add/Mul/concat \
take two or more.
Symbols you may use in arguments (integer arithmetic + - * / //, a fraction is floored):
- {inputs}
- output: the block's output feature map, shape (B,dim,H,W)
- B: the batch size; C: the input channel count; dim: the output channel count
- H, W: the input's height and width (only in reshape/repeat sizes: the block runs at \
several resolutions, so kernel sizes and channel counts never depend on them)
Operations (signature [inputs]: meaning and shape rule):
{op_catalogue(two_input)}"""
