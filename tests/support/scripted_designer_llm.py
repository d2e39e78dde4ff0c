"""A *scripted* stand-in for an LLM, to serve from :mod:`tests.support.scripted_openai_server`.

It is not a model: it reads the ``Task: <prompt id>`` line of each request and answers in
the format that prompt asks for, using the rule-based designer's catalogue for block
edits. It deliberately answers badly part of the time (``fault_every``: prose instead of a
block, a block with a dangling node, a groups error, an empty answer) so that recordings
exercise the repair loop, the parsers and the Reflector. Faults are chosen by a hash of the
request, so a recording is reproducible. Cassettes recorded against it are labelled as such
(``tests/fixtures/llm/README.md``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from nas.agents.designer import CATALOGUE, match_transformation
from nas.graph.text import ParseError, parse_blocks, serialize

__all__ = ["ScriptedDesignerLLM"]

_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


class ScriptedDesignerLLM:
    """Callable ``(request JSON) -> reply text`` for :class:`ScriptedOpenAIServer`."""

    FAULTS = ("prose", "dangling", "groups", "empty")

    def __init__(self, fault_every: int = 3) -> None:
        self.fault_every = fault_every
        self.calls = 0

    def __call__(self, req: dict[str, Any]) -> str:
        self.calls += 1
        msgs = req.get("messages", [])
        last = str(msgs[-1].get("content", "")) if msgs else ""
        m = re.search(r"^Task: (\w+)", last, re.M)
        task = m.group(1) if m else ""
        key = _h(repr(msgs))
        if task == "modifier":
            return self._modify(last, key, allow_fault=True)
        if task == "modifier_edits":
            return self._edits(last, key, allow_fault=True)
        if task in ("modifier_repair", "modifier_edits_repair", "modifier_reask"):
            first = next((str(x["content"]) for x in msgs
                          if re.search(r"^Task: modifier(_edits)?$", str(x.get("content", "")),
                                       re.M)), "")  # fmt: skip
            if "Task: modifier_edits" in first:
                return self._edits(first, key, allow_fault=False)
            return self._modify(first, key, allow_fault=False)
        if task == "modifier_derive":
            blocks = _FENCE.findall(last)
            return "Adapted blocks:\n```\n" + "".join(blocks[1:3]) + "```\n"
        if task == "proposer_rank":
            n = len(re.findall(r"^\d+\. ", last, re.M))
            order = sorted(range(1, n + 1), key=lambda i: _h(f"{key}-{i}"))[:3]
            if key % 4 == 1:  # NADER's own answer format, as its authors' prompt asks
                return (
                    "Ranked by usefulness.\n<response>" + ",".join(map(str, order)) + "</response>"
                )
            return "The first idea fits the block best.\nRANKING: " + ", ".join(map(str, order))
        if task in ("reflector_invalid", "reflector_degrade"):
            low = last.lower()
            cat = "shape mismatch" if "shape" in low else "invalid connection"
            if task == "reflector_degrade":
                cat = "degradation"
            tip = (
                "Check every branch's shape before merging; change one thing at a time and "
                "keep the identity path."
            )
            if key % 3 == 1:  # NADER's reflector format
                return f"The error comes from a merge.\n<tip>{tip}</tip>"
            return f"TIP [{cat}]: {tip}"
        if task == "reader_filter":
            rel = re.search(r"conv|attention|residual|block|architecture|network", last, re.I)
            return "It proposes an architectural idea.\nANSWER: " + ("yes" if rel else "no")
        if task == "reader_extract":
            sents = re.split(r"(?<=[.!?])\s+", last.split("Method section:", 1)[-1].strip())
            ideas = [s.strip() for s in sents if len(s.split()) > 5][:3]
            return "\n".join(f"{i + 1}. {s}" for i, s in enumerate(ideas)) or "NONE"
        return "I am not sure what you are asking."

    def _edits(self, prompt: str, key: int, allow_fault: bool) -> str:
        """An edit list against the prompt's block: one of four kinds of change (two of them
        need the code's shape fixes), or a fault (prose, a node that does not exist)."""
        blocks = _FENCE.findall(prompt)
        try:
            g = next(iter(parse_blocks(blocks[0]).values()))
        except (IndexError, ParseError):
            return "The block you sent does not parse."
        if allow_fault and self.fault_every and key % self.fault_every == 0:
            if (key // self.fault_every) % 2:
                return "I would add a squeeze-and-excitation gate after the second convolution."
            return "```\ninsert 98->99 ReLU\n```\n"
        io = {n.index for n in g.nodes if n.kind in ("input", "input1", "input2", "output")}
        convs = [n.index for n in g.nodes if n.kind == "conv2d"]
        mid = [(a, b) for a, b in g.edges if a not in io and b not in io]
        src = g.input_nodes[0].index
        last = next(a for a, b in g.edges if b == g.output_nodes[0].index)
        options = [
            f"set {convs[key % len(convs)]} kernel_size={5 + 2 * (key % 2)}" if convs else "",
            f"insert {mid[key % len(mid)][0]}->{mid[key % len(mid)][1]} "
            "Conv2d(out_channels=C*2,kernel_size=3)" if mid else "",
            f"branch {src}->{last} concat Conv2d(out_channels=C,kernel_size=1) BN"
            if last not in io else "",
            f"branch {last}->{last} add Conv2d(out_channels=C,kernel_size=3) BN"
            if last not in io else "",
        ]  # fmt: skip
        options = [o for o in options if o]
        return "```\n" + options[(key // 7) % len(options)] + "\n```\n"

    def _modify(self, prompt: str, key: int, allow_fault: bool) -> str:
        blocks = _FENCE.findall(prompt)
        insp = re.search(r"Inspiration to apply: (.*)", prompt) or re.search(
            r"###Proposal###\n(.*)", prompt
        )
        if not blocks or not insp:
            return "Please send the block and the inspiration."
        try:
            g = next(iter(parse_blocks(blocks[0]).values()))
        except ParseError:
            return "The block you sent does not parse."
        t = match_transformation(insp.group(1)) or list(CATALOGUE.values())[key % len(CATALOGUE)]
        new = None
        for c in range(4):
            try:
                new = t.apply(g, (key + c) % 4)
            except (KeyError, IndexError, ValueError):
                new = None
            if new is not None:
                break
        if new is None:
            return f"The idea '{t.name}' does not apply to this block; I would keep it as is."
        text = serialize(new)
        if allow_fault and self.fault_every and key % self.fault_every == 0:
            fault = self.FAULTS[(key // self.fault_every) % len(self.FAULTS)]
            if fault == "prose":
                return f"To realize this idea, add a {t.name.replace('_', ' ')} to the block."
            if fault == "empty":
                return ""
            if fault == "dangling":
                text = text.replace("##\n", "##\n99:ReLU\n", 1)
            if fault == "groups":
                text = re.sub(r"kernel_size=1\)", "kernel_size=1,groups=3)", text, count=1)
                if "groups=3" not in text:
                    text = text.replace("##\n", "##\n99:ReLU\n", 1)
        return f"Here is the modified block ({t.name}):\n```\n{text}```\n"
