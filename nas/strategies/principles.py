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
* :class:`LLMPrincipleLearner` — formats LAPT's prompt, calls an injected
  ``complete(prompt, temperature) -> str`` and parses the JSON answer; on a parse error it
  records the error and falls back to the statistical learner.

The source task is a separate object from the target: a strategy sees target metrics only
through ``tell``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

from nas.spaces.base import CategoricalSpace

__all__ = [
    "LLMPrincipleLearner",
    "PrincipleLearner",
    "PrincipleParseError",
    "Principles",
    "SourceTask",
    "StatisticalPrincipleLearner",
    "parse_candidates",
]

Complete = Callable[[str, float], str]


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
    anything unusual (e.g. an LLM answer that failed to parse and the fallback taken).
    """

    allowed: tuple[frozenset[str], ...]
    text: str
    learner: str
    lifts: tuple[Mapping[str, float], ...] = ()
    note: str = ""
    version: int = 0

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


class StatisticalPrincipleLearner:
    """Offline principle learner: per-position operator lifts among the source top-k.

    ``lift(op) = freq(op among top-k) / (1 / n_choices)``; a position keeps the choices with
    ``lift >= min_lift`` (and always its most frequent one). ``update`` keeps, per position,
    the choices used by the target top-r plus the best source choice; ``widen`` adds, per
    position, the unexplored choice with the highest source lift.
    """

    name = "statistical-principle-learner"

    def __init__(self, min_lift: float = 1.0) -> None:
        self.min_lift = float(min_lift)

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
        lines = [f"Source top-{len(top)} operator lifts (frequency / uniform prior):"]
        for p, lift in zip(space.positions, lifts, strict=True):
            best = max(p.choices, key=lambda c: (lift[c], -p.choices.index(c)))
            keep = frozenset(c for c in p.choices if lift[c] >= self.min_lift) | {best}
            allowed.append(keep)
            ranked = sorted(p.choices, key=lambda c: -lift[c])
            prefer = ", ".join(f"{c} ({lift[c]:.2f})" for c in ranked if c in keep)
            avoid = ", ".join(f"{c} ({lift[c]:.2f})" for c in ranked if c not in keep)
            lines.append(f"{p.name}: prefer {prefer}" + (f"; avoid {avoid}" if avoid else ""))
        return Principles(tuple(allowed), "\n".join(lines), self.name, lifts)

    def update(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> Principles:
        decoded = [space.decode(a) for a, _ in top]
        allowed = []
        lines = [f"Updated from the target top-{len(top)}:"]
        for i, p in enumerate(space.positions):
            used = {vals[i] for vals in decoded}
            if current.lifts:
                lift = current.lifts[i]
                used.add(max(p.choices, key=lambda c: (lift[c], -p.choices.index(c))))
            keep = frozenset(used) or current.allowed[i]
            allowed.append(keep)
            lines.append(f"{p.name}: {', '.join(c for c in p.choices if c in keep)}")
        return Principles(
            tuple(allowed), "\n".join(lines), self.name, current.lifts, version=current.version + 1
        )

    def widen(self, space: CategoricalSpace, current: Principles) -> Principles:
        allowed = []
        added = []
        for i, p in enumerate(space.positions):
            unexplored = [c for c in p.choices if c not in current.allowed[i]]
            if not unexplored:
                allowed.append(current.allowed[i])
                continue
            lift = current.lifts[i] if current.lifts else {}
            pick = max(unexplored, key=lambda c: (lift.get(c, 0.0), -p.choices.index(c)))
            allowed.append(current.allowed[i] | {pick})
            added.append(f"{p.name}: +{pick} (source lift {lift.get(pick, 0.0):.2f})")
        text = "Widened with unexplored operators:\n" + ("\n".join(added) or "(none left)")
        return Principles(
            tuple(allowed), text, self.name, current.lifts, version=current.version + 1
        )


class PrincipleParseError(ValueError):
    """An LLM answer could not be turned into per-position candidates; says exactly why."""


_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def _last_json_object(text: str) -> str | None:
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
    blob = _last_json_object(answer)
    if blob is None:
        raise PrincipleParseError(
            'no JSON object in the answer: expected {"<position>": ["<op>", ...], ...} '
            "inside a ```json block"
        )
    try:
        data = json.loads(blob)
    except json.JSONDecodeError as e:
        raise PrincipleParseError(
            f"the answer's JSON does not parse: {e.msg} at char {e.pos}"
        ) from None
    if not isinstance(data, dict):
        raise PrincipleParseError(f"the answer's JSON is a {type(data).__name__}, not an object")
    names = [p.name for p in space.positions]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise PrincipleParseError(
            f"unknown position {unknown[0]!r} in the answer; positions are: {', '.join(names)}"
        )
    out = []
    for p in space.positions:
        if p.name not in data:
            raise PrincipleParseError(f"position {p.name!r} is missing from the answer")
        vals = data[p.name]
        if isinstance(vals, str):
            vals = [vals]
        if not isinstance(vals, list) or not vals:
            raise PrincipleParseError(
                f"position {p.name!r}: expected a non-empty list of operators, got {vals!r}"
            )
        for v in vals:
            if v not in p.choices:
                raise PrincipleParseError(
                    f"position {p.name!r}: {v!r} is not a choice; choose from "
                    f"{', '.join(p.choices)}"
                )
        out.append(frozenset(str(v) for v in vals))
    return tuple(out)


def _section(answer: str, name: str, stop: str) -> str:
    m = re.search(rf"{name}\s*:?(.*?)(?:{stop}|```|\{{|$)", answer, re.DOTALL | re.IGNORECASE)
    return m.group(1).strip() if m else ""


_ANSWER_FORMAT = (
    "Answer in three labelled parts:\n"
    "PATTERNS: the patterns shared by these architectures.\n"
    "PRINCIPLES: general design principles that explain the patterns.\n"
    "CANDIDATES: for every position, the operators the principles recommend (input sources "
    "are fixed by the space where a position names one), as one JSON object in a ```json "
    'block, mapping each position name to a non-empty list, e.g. {"%s": ["%s"], ...}.'
)


class LLMPrincipleLearner:
    """LAPT's LLM principle learner over an injected ``complete(prompt, temperature)``.

    ``failures`` lists every parse error (with the fallback taken), so a run can report how
    often the LLM answer was unusable.
    """

    name = "llm-principle-learner"

    def __init__(
        self,
        complete: Complete,
        temperature: float = 0.2,
        fallback: PrincipleLearner | None = None,
    ) -> None:
        self.complete = complete
        self.temperature = float(temperature)
        self.fallback: PrincipleLearner = fallback or StatisticalPrincipleLearner()
        self.failures: list[str] = []
        self.prompts: list[str] = []  # every prompt sent, in order

    def _format(self, space: CategoricalSpace) -> str:
        p0 = space.positions[0]
        return _ANSWER_FORMAT % (p0.name, p0.choices[-1])

    def learn_prompt(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> str:
        archs = "\n\n".join(
            f"#{i} (source score {score:.4f})\n{space.describe(a)}"
            for i, (a, score) in enumerate(top, start=1)
        )
        return (
            "You are an expert in neural architecture design. Learn design principles from "
            f"the {len(top)} best architectures of a source task.\n\n"
            f"Search space ({len(space.positions)} positions, one choice each):\n"
            f"{_describe_space(space)}\n\nBest source architectures, best first:\n{archs}\n\n"
            + self._format(space)
        )

    def update_prompt(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> str:
        archs = "\n\n".join(
            f"#{i} (target validation accuracy {score:.4f})\n{space.describe(a)}"
            for i, (a, score) in enumerate(top, start=1)
        )
        return (
            "You are an expert in neural architecture design. Better architectures were found "
            "on the target task. Update the design principles and the candidate operators.\n\n"
            f"Search space:\n{_describe_space(space)}\n\nCurrent principles:\n{current.text}\n\n"
            f"Current candidates:\n{json.dumps(current.as_json(space))}\n\n"
            f"Best target architectures so far:\n{archs}\n\n" + self._format(space)
        )

    def widen_prompt(self, space: CategoricalSpace, current: Principles) -> str:
        unexplored = {
            p.name: [c for c in p.choices if c not in a]
            for p, a in zip(space.positions, current.allowed, strict=True)
        }
        return (
            "You are an expert in neural architecture design. The search inside the refined "
            "space has not improved. Describe what each unexplored operator could contribute "
            "and widen the candidates (keep every current candidate).\n\n"
            f"Current principles:\n{current.text}\n\n"
            f"Current candidates:\n{json.dumps(current.as_json(space))}\n\n"
            f"Unexplored operators:\n{json.dumps(unexplored)}\n\n" + self._format(space)
        )

    def _ask(self, prompt: str, space: CategoricalSpace) -> tuple[tuple[frozenset[str], ...], str]:
        self.prompts.append(prompt)
        answer = self.complete(prompt, self.temperature)
        allowed = parse_candidates(answer, space)
        text = "\n".join(
            s
            for s in (
                "PATTERNS: " + _section(answer, "PATTERNS", "PRINCIPLES"),
                "PRINCIPLES: " + _section(answer, "PRINCIPLES", "CANDIDATES"),
            )
            if s.split(": ", 1)[1]
        )
        return allowed, text or answer.strip()

    def _fail(self, step: str, err: Exception, fallback: Principles) -> Principles:
        msg = f"{step}: LLM answer unusable ({err}); fell back to {self.fallback.name}"
        self.failures.append(msg)
        return Principles(
            fallback.allowed, fallback.text, fallback.learner, fallback.lifts, msg, fallback.version
        )

    def learn(self, space: CategoricalSpace, top: Sequence[tuple[str, float]]) -> Principles:
        stats = StatisticalPrincipleLearner().learn(space, top)  # lifts kept for widening
        try:
            allowed, text = self._ask(self.learn_prompt(space, top), space)
        except PrincipleParseError as e:
            return self._fail("learn", e, self.fallback.learn(space, top))
        return Principles(allowed, text, self.name, stats.lifts)

    def update(
        self, space: CategoricalSpace, current: Principles, top: Sequence[tuple[str, float]]
    ) -> Principles:
        try:
            allowed, text = self._ask(self.update_prompt(space, current, top), space)
        except PrincipleParseError as e:
            return self._fail("update", e, self.fallback.update(space, current, top))
        return Principles(allowed, text, self.name, current.lifts, version=current.version + 1)

    def widen(self, space: CategoricalSpace, current: Principles) -> Principles:
        try:
            allowed, text = self._ask(self.widen_prompt(space, current), space)
        except PrincipleParseError as e:
            return self._fail("widen", e, self.fallback.widen(space, current))
        merged = tuple(a | b for a, b in zip(allowed, current.allowed, strict=True))
        return Principles(merged, text, self.name, current.lifts, version=current.version + 1)
