"""Variation operators for LLMatic: mutation and crossover driven by a prompt and a temperature.

An :class:`Operators` object turns ``(arch, prompt_id, temperature)`` into a child
architecture text of the same space. ``prompts`` are the instructions a prompt individual of
LLMatic's prompt archive can carry; ``prompt_id`` indexes them.

* :class:`RuleBasedOperators` (offline; ``Origin.agent`` "rule-based-operators"): each prompt
  is a rule over the positions of a categorical space; the temperature scales how many
  positions change. For NAS-Bench-201 cells the single edit and uniform crossover are these
  rules.
* :class:`LLMOperators`: sends the architecture in the space's structured text (one
  ``position: choice`` line per position — the block format of a categorical space, not
  code) with the prompt (templates ``llmatic_mutate`` / ``llmatic_crossover``) to
  ``complete(prompt, temperature)`` and parses the answer back
  (:func:`~nas.prompts.strategy_parsers.parse_network_answer`); an unusable answer or a
  failed call raises :class:`OperatorError` and LLMatic falls back to the rule-based
  operator for that child (and logs it). A spent LLM budget
  (:class:`~nas.strategies.llm.CompletionBudgetExceeded`) is not caught: LLMatic stops.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from nas.prompts.strategy_parsers import NetworkParseError, parse_network_answer
from nas.spaces.base import CategoricalSpace
from nas.strategies.llm import (
    Complete,
    CompletionBudgetExceeded,
    CompletionError,
    PromptText,
    render_prompt,
)

__all__ = ["LLMOperators", "OperatorError", "Operators", "RuleBasedOperators"]


class OperatorError(ValueError):
    """An operator could not produce a valid child; the message says why."""


@runtime_checkable
class Operators(Protocol):
    name: str
    prompts: tuple[str, ...]

    def mutate(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str: ...

    def crossover(
        self,
        space: CategoricalSpace,
        a: str,
        b: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str: ...


RULE_PROMPTS: tuple[str, ...] = (
    "Change one layer's operation to a different one.",
    "Explore: change several layers at once.",
    "Make one layer more expressive (a larger operation).",
    "Make one layer cheaper (a smaller operation).",
    "Copy one layer's operation onto another layer.",
)


class RuleBasedOperators:
    """Offline operators: the prompt id picks a rule, the temperature the edit count.

    Choices of a position are taken as ordered from cheapest to most expressive (the order
    the space lists them in); "larger"/"smaller" move one step along that order. The number
    of positions changed is ``1 + Poisson(2 * temperature)`` for the explore rule and 1
    otherwise; a mutation always returns a different text.
    """

    name = "rule-based-operators"
    prompts = RULE_PROMPTS

    def _edit(
        self, space: CategoricalSpace, vals: list[str], rule: int, rng: np.random.Generator
    ) -> None:
        n = len(vals)
        i = int(rng.integers(n))
        ch = space.positions[i].choices
        k = ch.index(vals[i])
        if rule == 2 and k + 1 < len(ch):
            vals[i] = ch[k + 1]
        elif rule == 3 and k > 0:
            vals[i] = ch[k - 1]
        elif rule == 4 and n > 1:
            j = int(rng.integers(n - 1))
            j = j if j < i else j + 1
            if vals[j] in ch:
                vals[i] = vals[j]
        else:
            alts = [c for c in ch if c != vals[i]]
            vals[i] = alts[int(rng.integers(len(alts)))]

    def mutate(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        rule = prompt_id % len(self.prompts)
        vals = list(space.decode(arch))
        edits = 1 + int(rng.poisson(2.0 * max(temperature, 0.0))) if rule == 1 else 1
        for _ in range(edits):
            self._edit(space, vals, rule, rng)
        child = space.encode(vals)
        return child if child != arch else space.mutate(arch, rng)

    def crossover(
        self,
        space: CategoricalSpace,
        a: str,
        b: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        """Uniform crossover for even prompt ids, one-point crossover for odd ones."""
        va, vb = space.decode(a), space.decode(b)
        if prompt_id % 2 == 0:
            return space.crossover(a, b, rng)
        cut = int(rng.integers(1, len(va)))
        return space.encode([*va[:cut], *vb[cut:]])


class LLMOperators:
    """LLM mutation/crossover on the structured text of a categorical space.

    >>> from nas.spaces import NASBenchMacroSpace
    >>> ops = LLMOperators(lambda p, t: "\\n".join(f"layer {i}: mb6_k5" for i in range(8)))
    >>> ops.mutate(NASBenchMacroSpace(), "00000000", 0, 0.7, np.random.default_rng(0))
    '22222222'
    """

    name = "llm-operators"
    prompts = RULE_PROMPTS

    def __init__(self, complete: Complete) -> None:
        self.complete = complete

    def _call(self, space: CategoricalSpace, prompt: str, temperature: float) -> str:
        try:
            answer = self.complete(prompt, temperature)
        except CompletionBudgetExceeded:
            raise
        except CompletionError as e:
            raise OperatorError(f"LLM call failed: {e}") from e
        try:
            return parse_network_answer(answer, space)
        except NetworkParseError as e:
            raise OperatorError(str(e)) from e

    @staticmethod
    def _space_text(space: CategoricalSpace) -> str:
        return "\n".join(f"- {p.name}: one of {', '.join(p.choices)}" for p in space.positions)

    def mutate_prompt(self, space: CategoricalSpace, arch: str, prompt_id: int) -> PromptText:
        return render_prompt(
            "llmatic_mutate",
            space=self._space_text(space),
            network=space.describe(arch),
            instruction=self.prompts[prompt_id % len(self.prompts)],
        )

    def crossover_prompt(self, space: CategoricalSpace, a: str, b: str) -> PromptText:
        return render_prompt(
            "llmatic_crossover",
            space=self._space_text(space),
            network_a=space.describe(a),
            network_b=space.describe(b),
        )

    def mutate(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        return self._call(space, self.mutate_prompt(space, arch, prompt_id), temperature)

    def crossover(
        self,
        space: CategoricalSpace,
        a: str,
        b: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        return self._call(space, self.crossover_prompt(space, a, b), temperature)
