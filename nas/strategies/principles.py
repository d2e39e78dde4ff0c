"""Design principles for LAPT: learned from a *source* task, turned into a refined space.

A :class:`PrincipleLearner` reads the top-k architectures of a :class:`SourceTask` and
returns :class:`Principles`: text (patterns -> principles) plus, per position of a
categorical space, the candidate choices the principles recommend — which *is* the refined
space, with no human in the loop. During the search it either ``update``\\ s the principles
from the best target architectures found so far, or ``widen``\\ s the space with operators not
yet explored.

Two learners:

* :class:`StatisticalPrincipleLearner` (offline; ``Origin.agent`` "statistical-principle-learner")
  — operator frequencies and lifts (frequency among the source top-k / frequency under the
  uniform prior of the space) per position. It stands in for the LLM and says so.
* :class:`LLMPrincipleLearner` — renders LAPT's prompt templates (``lapt_principles``,
  ``lapt_update``, ``lapt_widen`` in ``nas/prompts/``), calls an injected
  ``complete(prompt, temperature) -> str`` (:class:`~nas.strategies.llm.LLMCompletion` wires
  it to ``nas.llm``) and parses the answer
  (:func:`~nas.prompts.strategy_parsers.parse_principles_answer`); on a parse error or a
  failed call it records the error and falls back to the statistical learner.

The source task is a separate object from the target: a strategy sees target metrics only
through ``tell``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

from nas.prompts.strategy_parsers import (
    PrincipleParseError,
    candidates_constraint,
    parse_candidates,
    parse_principles_answer,
)
from nas.spaces.base import CategoricalSpace
from nas.strategies.llm import (
    Complete,
    CompletionBudgetExceeded,
    CompletionError,
    PromptText,
    render_prompt,
)

__all__ = [
    "LLMPrincipleLearner",
    "PrincipleLearner",
    "PrincipleParseError",
    "Principles",
    "SourceTask",
    "StatisticalPrincipleLearner",
    "parse_candidates",
]


@dataclass(frozen=True)
class SourceTask:
    """Architectures of a source task with their scores (higher is better).

    Built by the caller (e.g. from another dataset's column of a benchmark table); the
    strategy never sees where it came from.
    """

    name: str
    archs: tuple[str, ...]
    scores: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.archs) != len(self.scores):
            raise ValueError(
                f"SourceTask {self.name!r}: {len(self.archs)} archs but {len(self.scores)} scores"
            )

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` best (arch, score), best first; ties broken by arch text."""
        return self._ranked[:k]

    @cached_property
    def _ranked(self) -> list[tuple[str, float]]:
        return sorted(zip(self.archs, self.scores, strict=True), key=lambda t: (-t[1], t[0]))


@dataclass(frozen=True)
class Principles:
    """Learned principles and the refined space they define.

    ``allowed[i]`` holds the admissible choices of position ``i``; ``lifts[i]`` the source
    lift of each choice when the learner computed one (used to widen); ``note`` records
    anything unusual (e.g. an LLM answer that failed to parse and the fallback taken);
    ``statements`` are the principles one per item (what the report lists per iteration).
    """

    allowed: tuple[frozenset[str], ...]
    text: str
    learner: str
    lifts: tuple[Mapping[str, float], ...] = ()
    note: str = ""
    version: int = 0
    statements: tuple[str, ...] = ()

    def size(self) -> int:
        n = 1
        for a in self.allowed:
            n *= len(a)
        return n

    def as_json(self, space: CategoricalSpace) -> dict[str, list[str]]:
        return {
            p.name: [c for c in p.choices if c in a]
            for p, a in zip(space.positions, self.allowed, strict=True)
        }

    def principle_list(self) -> list[str]:
        """``statements``, else the non-empty lines of ``text``."""
        if self.statements:
            return list(self.statements)
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]


@runtime_checkable
class PrincipleLearner(Protocol):
    name: str

    def learn(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> Principles:
        """Principles from the source top-k (arch, score), best first."""
        ...

    def update(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> Principles:
        """Better target architectures were found: revise from the target top-r."""
        ...

    def widen(self, space: CategoricalSpace, current: Principles) -> Principles:
        """No improvement: add operators not explored yet."""
        ...


def _describe_space(space: CategoricalSpace) -> str:
    lines = []
    for p in space.positions:
        src = f" (input from {p.source})" if p.source else ""
        lines.append(f"- {p.name}{src}: {', '.join(p.choices)}")
    return "\n".join(lines)


_NB201_CODE_OPS = {
    "none": "Zeroize()  # outputs zeros: the edge carries nothing",
    "skip_connect": "nn.Identity()  # skip connection",
    "nor_conv_1x1": "ReLUConvBN(C, C, kernel_size=1, stride=1, padding=0)  # channels kept",
    "nor_conv_3x3": "ReLUConvBN(C, C, kernel_size=3, stride=1, padding=1)  # channels kept",
    "avg_pool_3x3": "nn.AvgPool2d(kernel_size=3, stride=1, padding=1)  # resolution kept",
}


def space_code(space: CategoricalSpace) -> str:
    """The space as LAPT's code form: an ``operators`` table of IDs and a module whose
    ``layer_list`` picks one ID per layer (for NB201 cells, the cell's forward pass)."""
    from nas.spaces.nb201 import EDGES, NB201Space

    n = len(space.positions)
    if isinstance(space, NB201Space):
        ops = space.positions[0].choices
        table = "\n".join(
            "    {}: {},  # {}".format(i, *_NB201_CODE_OPS.get(o, f"{o}  # -").split("  # "))
            for i, o in enumerate(ops)
        )
        body = []
        for node in (1, 2, 3):
            terms = [f"self.layer{k}(x{src})" for k, (dst, src) in enumerate(EDGES) if dst == node]
            body.append(f"        x{node} = " + " + ".join(terms))
        return "\n".join(
            [
                f"# An architecture is layer_list = [op0, ..., op{n - 1}]: one operation ID per "
                "layer.",
                "operators = {",
                table,
                "}",
                "",
                "class Cell(nn.Module):",
                "    def __init__(self, layer_list):",
                "        super().__init__()",
                *[f"        self.layer{k} = operators[layer_list[{k}]]" for k in range(n)],
                "",
                "    def forward(self, x0):",
                *body,
                "        return x3",
            ]
        )
    lines = [f"# An architecture is layer_list = [op0, ..., op{n - 1}]: one ID per layer."]
    for k, p in enumerate(space.positions):
        src = f"  # input from {p.source}" if p.source else ""
        ids = ", ".join(f"{i}: {c!r}" for i, c in enumerate(p.choices))
        lines.append(f"layer{k}_operators = {{{ids}}}  # {p.name}{src}")
    lines.append(
        "model = nn.Sequential(*[ops[i] for ops, i in zip(all_layer_operators, layer_list)])"
    )
    return "\n".join(lines)


def layer_list(space: CategoricalSpace, arch: str) -> list[int]:
    """``arch`` as LAPT's layer list: the ID of each layer's choice."""
    return [p.choices.index(v) for p, v in zip(space.positions, space.decode(arch), strict=True)]


def _candidates_ids(space: CategoricalSpace, allowed: Sequence[frozenset[str]]) -> str:
    return json.dumps(
        {
            f"layer{k}": [i for i, c in enumerate(p.choices) if c in a]
            for k, (p, a) in enumerate(zip(space.positions, allowed, strict=True))
        }
    )


class StatisticalPrincipleLearner:
    """Offline principle learner: per-position operator lifts among the source top-k.

    ``lift(op) = freq(op among top-k) / (1 / n_choices)``. A position keeps its most frequent
    choice, then — in frequency order, up to ``max_ops`` choices in all (LAPT's rule: "no
    more than 2 operations per layer") — every further choice with ``lift >= min_lift`` and
    a frequency of at least ``keep_ratio`` times the most frequent one. ``update`` keeps, per
    position, the choices used by the target top-r plus the best source choice; ``widen``
    adds the ``widen_ops`` unexplored (position, choice) pairs with the highest source lift
    (one by default: the space grows by the most promising operator, not by one per
    position at once).

    ``max_ops=2, keep_ratio=0.5`` were chosen on one transfer pair only (source CIFAR-10,
    target CIFAR-100: the smallest refined space that still holds that target's best
    validation cell) and are reported on the others (docs/strategies.md).
    ``max_ops=None, keep_ratio=0`` is the earlier rule (every choice with ``lift >=
    min_lift``).
    """

    name = "statistical-principle-learner"

    def __init__(
        self,
        min_lift: float = 1.0,
        max_ops: int | None = 2,
        keep_ratio: float = 0.5,
        widen_ops: int = 1,
    ) -> None:
        if max_ops is not None and max_ops < 1:
            raise ValueError(f"max_ops={max_ops}: keep at least 1 choice per position")
        if widen_ops < 1:
            raise ValueError(f"widen_ops={widen_ops}: widen by at least 1 operator")
        self.widen_ops = int(widen_ops)
        self.min_lift = float(min_lift)
        self.max_ops = max_ops
        self.keep_ratio = float(keep_ratio)

    def _lifts(self, space: CategoricalSpace, archs: Sequence[str]) -> tuple[dict[str, float], ...]:
        decoded = [space.decode(a) for a in archs]
        out = []
        for i, p in enumerate(space.positions):
            n = max(1, len(decoded))
            counts = {c: 0 for c in p.choices}
            for vals in decoded:
                counts[vals[i]] += 1
            out.append({c: counts[c] / n * len(p.choices) for c in p.choices})
        return tuple(out)

    def learn(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> Principles:
        lifts = self._lifts(space, [a for a, _ in top])
        allowed = []
        lines = []
        for p, lift in zip(space.positions, lifts, strict=True):
            ranked = sorted(p.choices, key=lambda c: (-lift[c], p.choices.index(c)))
            kept = [ranked[0]]
            for c in ranked[1:]:
                if self.max_ops is not None and len(kept) >= self.max_ops:
                    break
                if lift[c] >= self.min_lift and lift[c] >= self.keep_ratio * lift[ranked[0]]:
                    kept.append(c)
            keep = frozenset(kept)
            allowed.append(keep)
            prefer = ", ".join(f"{c} ({lift[c]:.2f})" for c in ranked if c in keep)
            avoid = ", ".join(f"{c} ({lift[c]:.2f})" for c in ranked if c not in keep)
            lines.append(f"{p.name}: prefer {prefer}" + (f"; avoid {avoid}" if avoid else ""))
        head = f"Source top-{len(top)} operator lifts (frequency / uniform prior):"
        return Principles(
            tuple(allowed), "\n".join([head, *lines]), self.name, lifts, statements=tuple(lines)
        )

    def update(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> Principles:
        decoded = [space.decode(a) for a, _ in top]
        allowed = []
        lines = []
        for i, p in enumerate(space.positions):
            used = {vals[i] for vals in decoded}
            if current.lifts:
                lift = current.lifts[i]
                used.add(max(p.choices, key=lambda c: (lift[c], -p.choices.index(c))))
            keep = frozenset(used) or current.allowed[i]
            allowed.append(keep)
            lines.append(
                f"{p.name}: use {', '.join(c for c in p.choices if c in keep)} "
                f"(target top-{len(top)} + best source op)"
            )
        return Principles(
            tuple(allowed),
            "\n".join([f"Updated from the target top-{len(top)}:", *lines]),
            self.name,
            current.lifts,
            version=current.version + 1,
            statements=tuple(lines),
        )

    def widen(self, space: CategoricalSpace, current: Principles) -> Principles:
        """Add the ``widen_ops`` unexplored (position, choice) pairs with the highest source
        lift (ties: position order, then listed order)."""
        pairs = []
        for i, p in enumerate(space.positions):
            lift = current.lifts[i] if current.lifts else {}
            for c in p.choices:
                if c not in current.allowed[i]:
                    pairs.append((-lift.get(c, 0.0), i, p.choices.index(c), c))
        pairs.sort()
        allowed = list(current.allowed)
        added = []
        for neg, i, _k, c in pairs[: self.widen_ops]:
            allowed[i] = allowed[i] | {c}
            added.append(f"{space.positions[i].name}: also try {c} (source lift {-neg:.2f})")
        text = "Widened with unexplored operators:\n" + ("\n".join(added) or "(none left)")
        return Principles(
            tuple(allowed),
            text,
            self.name,
            current.lifts,
            version=current.version + 1,
            statements=tuple(current.principle_list()) + tuple(added),
        )


class LLMPrincipleLearner:
    """LAPT's LLM principle learner over an injected ``complete(prompt, temperature)``.

    Prompts are the templates ``lapt_principles`` (learn from the source top-k),
    ``lapt_update`` (revise from the target top-r) and ``lapt_widen`` (add unexplored
    operators), version 2: LAPT's code form — the space as a PyTorch module indexed by a
    ``layer_list`` of operation IDs (:func:`space_code`), architectures as layer lists, and
    the rule "no more than ``max_ops`` operations per layer"; answers are read by
    :func:`~nas.prompts.strategy_parsers.parse_principles_answer`. An unusable answer
    (:class:`PrincipleParseError`) or a failed call (:class:`~nas.strategies.llm.CompletionError`)
    falls back to ``fallback`` (the statistical learner) for that step; ``failures`` lists each
    one with the fallback taken, and the returned principles carry it in ``note``. When the
    LLM budget is spent, ``budget_exhausted`` is set (LAPT then stops proposing).

    ``evidence_floor`` (default on): the refined space always holds what the evidence
    supports -- after ``learn``, every choice the statistical learner keeps from the same
    source top-k (its most frequent operators per position); after ``update``, every choice
    the target top-r use plus the best source choice. The real 1.5B model's refined space
    (layer0 = 1x1 conv only, ...) excluded both targets' best cells (BENCHMARKS.md); the
    floor adds back what the answer dropped, and the returned principles say so in ``note``
    (``widened the LLM's answer with the evidence: ...``).
    """

    name = "llm-principle-learner"

    def __init__(
        self,
        complete: Complete,
        temperature: float = 0.2,
        fallback: PrincipleLearner | None = None,
        max_ops: int = 2,
        evidence_floor: bool = True,
    ) -> None:
        self.complete = complete
        self.evidence_floor = bool(evidence_floor)
        self.temperature = float(temperature)
        self.max_ops = int(max_ops)
        self.fallback: PrincipleLearner = fallback or StatisticalPrincipleLearner()
        self.failures: list[str] = []
        self.prompts: list[str] = []  # every prompt sent, in order
        self.budget_exhausted = False

    @staticmethod
    def _example(space: CategoricalSpace) -> str:
        last = len(space.positions[0].choices) - 1
        return f'{{"layer0": [{last}], "layer1": [0, {last}], ...}}'

    def learn_prompt(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> PromptText:
        archs = "\n".join(
            f"layer_list = {layer_list(space, a)}  # source score {score:.4f}" for a, score in top
        )
        return render_prompt(
            "lapt_principles",
            n_top=len(top),
            code=space_code(space),
            archs=archs,
            max_ops=self.max_ops,
            example=self._example(space),
        ).constrained(candidates_constraint(space, self.max_ops))

    def update_prompt(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> PromptText:
        archs = "\n".join(
            f"layer_list = {layer_list(space, a)}  # target validation accuracy {score:.4f}"
            for a, score in top
        )
        return render_prompt(
            "lapt_update",
            code=space_code(space),
            principles=current.text,
            candidates=_candidates_ids(space, current.allowed),
            archs=archs,
            max_ops=self.max_ops,
            example=self._example(space),
        ).constrained(candidates_constraint(space, self.max_ops))

    def widen_prompt(self, space: CategoricalSpace, current: Principles) -> PromptText:
        unexplored = {
            f"layer{k}": [i for i, c in enumerate(p.choices) if c not in a]
            for k, (p, a) in enumerate(zip(space.positions, current.allowed, strict=True))
        }
        return render_prompt(
            "lapt_widen",
            code=space_code(space),
            principles=current.text,
            candidates=_candidates_ids(space, current.allowed),
            unexplored=json.dumps(unexplored),
            example=self._example(space),
        ).constrained(candidates_constraint(space, None))  # keeps the current ops: no cap

    def _ask(
        self, prompt: str, space: CategoricalSpace
    ) -> tuple[tuple[frozenset[str], ...], str, tuple[str, ...]]:
        self.prompts.append(prompt)
        answer = self.complete(prompt, self.temperature)
        parsed = parse_principles_answer(answer, space)
        statements = parsed.principles or tuple(
            f"{p.name}: {', '.join(c for c in p.choices if c in a)}"
            for p, a in zip(space.positions, parsed.candidates, strict=True)
        )
        return parsed.candidates, parsed.text() or answer.strip(), statements

    def _fail(self, step: str, err: Exception, fallback: Principles) -> Principles:
        if isinstance(err, CompletionBudgetExceeded):
            self.budget_exhausted = True
            why = f"LLM budget spent ({err})"
        elif isinstance(err, CompletionError):
            why = f"LLM call failed ({err})"
        else:
            why = f"LLM answer unusable ({err})"
        msg = f"{step}: {why}; fell back to {self.fallback.name}"
        self.failures.append(msg)
        return Principles(
            fallback.allowed,
            fallback.text,
            fallback.learner,
            fallback.lifts,
            msg,
            fallback.version,
            fallback.statements,
        )

    def _floor(
        self, space: CategoricalSpace, allowed: tuple[frozenset[str], ...], evidence: Principles
    ) -> tuple[tuple[frozenset[str], ...], str]:
        """``allowed`` joined with the evidence's choices (``evidence_floor``) and a note
        naming what was added ("" when the answer already held it all)."""
        if not self.evidence_floor:
            return allowed, ""
        merged = tuple(a | e for a, e in zip(allowed, evidence.allowed, strict=True))
        added = [
            f"{p.name} +{'/'.join(c for c in p.choices if c in m - a)}"
            for p, a, m in zip(space.positions, allowed, merged, strict=True)
            if m - a
        ]
        if not added:
            return allowed, ""
        return merged, "widened the LLM's answer with the evidence: " + ", ".join(added)

    def learn(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> Principles:
        stats = StatisticalPrincipleLearner().learn(space, top)  # lifts kept for widening
        try:
            allowed, text, statements = self._ask(self.learn_prompt(space, top), space)
        except (PrincipleParseError, CompletionError) as e:
            return self._fail("learn", e, self.fallback.learn(space, top))
        allowed, note = self._floor(space, allowed, stats)
        return Principles(allowed, text, self.name, stats.lifts, note, statements=statements)

    def update(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> Principles:
        try:
            allowed, text, statements = self._ask(self.update_prompt(space, current, top), space)
        except (PrincipleParseError, CompletionError) as e:
            return self._fail("update", e, self.fallback.update(space, current, top))
        evidence = StatisticalPrincipleLearner().update(space, current, top)
        allowed, note = self._floor(space, allowed, evidence)
        return Principles(
            allowed,
            text,
            self.name,
            current.lifts,
            note,
            version=current.version + 1,
            statements=statements,
        )

    def widen(self, space: CategoricalSpace, current: Principles) -> Principles:
        try:
            allowed, text, statements = self._ask(self.widen_prompt(space, current), space)
        except (PrincipleParseError, CompletionError) as e:
            return self._fail("widen", e, self.fallback.widen(space, current))
        merged = tuple(a | b for a, b in zip(allowed, current.allowed, strict=True))
        return Principles(
            merged,
            text,
            self.name,
            current.lifts,
            version=current.version + 1,
            statements=statements,
        )
