"""Variation operators for LLMatic: mutation and crossover driven by a prompt and a temperature.

An :class:`Operators` object turns ``(arch, prompt_id, temperature)`` into a child
architecture text of the same space. ``prompts`` are the instructions a prompt individual of
LLMatic's prompt archive can carry; ``prompt_id`` indexes them.

* :class:`RuleBasedOperators` (offline; ``Origin.agent`` "rule-based-operators"): each of the
  nine prompts (:data:`NB201_PROMPTS`) is a rule over the positions of a categorical space;
  the temperature scales how many positions the open-ended rules change.
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

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from nas.prompts.strategy_parsers import (
    NetworkParseError,
    edit_constraint,
    edit_neighbours,
    network_constraint,
    parse_edit_answer,
    parse_network_answer,
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
    "MUTATION_ANSWERS",
    "NB201_PROMPTS",
    "LLMOperators",
    "OperatorError",
    "Operators",
    "RuleBasedOperators",
]


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


# LLMatic's mutation prompts for NAS-Bench-201 cells: nine instructions in the style of the
# released code's prompts ("Add a layer to improve the above network", "... by reducing the
# size drastically", "Add residual connection ..."), written for a cell whose layers are
# the six edges and whose operations are none / skip / 1x1 conv / 3x3 conv / 3x3 avg-pool.
NB201_PROMPTS: tuple[str, ...] = (
    "Improve the above network.",
    "Add a convolutional layer to improve the above network.",
    "Add a pooling layer to improve the above network.",
    "Add a residual connection to improve the above network.",
    "Add multiple residual connections to improve the above network.",
    "Delete a layer to improve the above network.",
    "Change the kernel size of a convolutional layer to improve the above network.",
    "Improve the above network by reducing the size drastically.",
    "Improve the above network by increasing the size drastically.",
)
RULE_PROMPTS = NB201_PROMPTS  # the offline operators follow the same nine instructions


_MEANING = (("none", 0), ("zero", 0), ("skip", 1), ("pool", 2), ("1x1", 3), ("3x3", 4))


def _ranked(choices: tuple[str, ...]) -> list[str]:
    """Choices from cheapest to most expressive: NB201 operation names by meaning (none <
    skip < pool < 1x1 conv < 3x3 conv) when every choice has one, else the listed order."""

    def rank(c: str) -> int | None:
        return next((r for key, r in _MEANING if key in c.lower()), None)

    ranks = [rank(c) for c in choices]
    if any(r is None for r in ranks):
        return list(choices)
    return [c for _, c in sorted(zip(ranks, choices, strict=True), key=lambda t: t[0] or 0)]


def _is(choice: str, *keys: str) -> bool:
    return any(k in choice.lower() for k in keys)


class RuleBasedOperators:
    """Offline operators: each of the nine prompts is a rule; the temperature scales how many
    layers the open-ended rules change.

    Rules (prompt id): 0 change ``1 + Poisson(2 T)`` layers at random; 1 a non-conv layer
    becomes a convolution; 2 a layer becomes pooling; 3 a layer becomes a skip connection;
    4 two layers become skip connections; 5 a layer becomes ``none`` (deleted); 6 a 1x1
    convolution becomes 3x3 or the reverse; 7 / 8 ``2 + Poisson(T)`` layers move one step
    cheaper / more expressive (by meaning for NB201 names, by listed order otherwise).
    When a rule has nothing to act on (no layer to turn into a convolution, say) it changes
    one layer at random; a mutation always returns a different text. Spaces without these
    operation kinds (macro spaces) fall back to the listed order for every rule.
    """

    name = "rule-based-operators"
    prompts = RULE_PROMPTS

    def _set_kind(
        self, space: CategoricalSpace, vals: list[str], rng: np.random.Generator, *keys: str
    ) -> bool:
        """Turn one layer that is not of a kind in ``keys`` into one that is."""
        spots = [
            (i, [c for c in space.positions[i].choices if _is(c, *keys)])
            for i in range(len(vals))
            if not _is(vals[i], *keys)
        ]
        spots = [(i, cs) for i, cs in spots if cs]
        if not spots:
            return False
        i, cs = spots[int(rng.integers(len(spots)))]
        vals[i] = cs[int(rng.integers(len(cs)))]
        return True

    def _step(
        self, space: CategoricalSpace, vals: list[str], rng: np.random.Generator, up: bool
    ) -> bool:
        """Move one layer one step cheaper (``up=False``) or more expressive."""
        moves = []
        for i, v in enumerate(vals):
            ranked = _ranked(space.positions[i].choices)
            k = ranked.index(v)
            if (k + 1 < len(ranked)) if up else (k > 0):
                moves.append((i, ranked[k + 1] if up else ranked[k - 1]))
        if not moves:
            return False
        i, c = moves[int(rng.integers(len(moves)))]
        vals[i] = c
        return True

    def _random_edit(
        self, space: CategoricalSpace, vals: list[str], rng: np.random.Generator
    ) -> None:
        i = int(rng.integers(len(vals)))
        alts = [c for c in space.positions[i].choices if c != vals[i]]
        if alts:
            vals[i] = alts[int(rng.integers(len(alts)))]

    def _apply(
        self,
        space: CategoricalSpace,
        vals: list[str],
        rule: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> None:
        t = max(temperature, 0.0)
        done = True
        if rule == 1:
            done = self._set_kind(space, vals, rng, "conv")
        elif rule == 2:
            done = self._set_kind(space, vals, rng, "pool")
        elif rule == 3:
            done = self._set_kind(space, vals, rng, "skip", "identity")
        elif rule == 4:
            done = self._set_kind(space, vals, rng, "skip", "identity")
            done = self._set_kind(space, vals, rng, "skip", "identity") or done
        elif rule == 5:
            done = self._set_kind(space, vals, rng, "none", "zero")
        elif rule == 6:
            convs = [i for i, v in enumerate(vals) if _is(v, "1x1", "3x3")]
            if convs:
                i = convs[int(rng.integers(len(convs)))]
                other = "3x3" if "1x1" in vals[i] else "1x1"
                swap = [c for c in space.positions[i].choices if other in c]
                done = bool(swap)
                if swap:
                    vals[i] = swap[0]
            else:
                done = self._set_kind(space, vals, rng, "conv")
        elif rule in (7, 8):
            n = 2 + int(rng.poisson(t))
            done = any([self._step(space, vals, rng, up=rule == 8) for _ in range(n)])
        else:
            for _ in range(1 + int(rng.poisson(2.0 * t))):
                self._random_edit(space, vals, rng)
        if not done:
            self._random_edit(space, vals, rng)

    def mutate(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        vals = list(space.decode(arch))
        self._apply(space, vals, prompt_id % len(self.prompts), temperature, rng)
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


MUTATION_ANSWERS = ("cell", "edit")  # LLMatic's mutation answer forms (LlmaticConfig)
REASK_TEMPERATURE_STEP = 0.3  # a crossover re-ask samples this much hotter ...
REASK_TEMPERATURE_MAX = 1.2  # ... up to this


def _nothing_known(arch: str) -> bool:
    return False


class LLMOperators:
    """LLM mutation/crossover on the structured text of a categorical space.

    >>> from nas.spaces import NASBenchMacroSpace
    >>> ops = LLMOperators(lambda p, t: "\\n".join(f"layer {i}: mb6_k5" for i in range(8)))
    >>> ops.mutate(NASBenchMacroSpace(), "00000000", 0, 0.7, np.random.default_rng(0))
    '22222222'
    """

    name = "llm-operators"
    prompts = RULE_PROMPTS

    def __init__(
        self, complete: Complete, mutation_answer: str = "cell", crossover_reask: bool = False
    ) -> None:
        if mutation_answer not in MUTATION_ANSWERS:
            raise OperatorError(
                f"mutation_answer={mutation_answer!r}: one of {', '.join(MUTATION_ANSWERS)}"
            )
        self.complete = complete
        self.mutation_answer = mutation_answer  # "cell" (the paper's) | "edit" (see below)
        self.crossover_reask = crossover_reask
        # whether a cell was already proposed (LLMatic binds its own check: the same
        # isomorph-aware hash as its repeat check); nothing is known until then
        self.known: Callable[[str], bool] = _nothing_known
        self.repeats = 0  # usable answers whose cell was already proposed
        self.reasks: list[str] = []  # crossover re-asks, one line each (why)

    def _answer(self, prompt: str, temperature: float) -> str:
        try:
            return self.complete(prompt, temperature)
        except CompletionBudgetExceeded:
            raise
        except CompletionError as e:
            raise OperatorError(f"LLM call failed: {e}") from e

    def _call(self, space: CategoricalSpace, prompt: str, temperature: float) -> str:
        answer = self._answer(prompt, temperature)
        try:
            child = parse_network_answer(answer, space)
        except NetworkParseError as e:
            raise OperatorError(str(e)) from e
        self.repeats += self.known(child)
        return child

    @staticmethod
    def _space_text(space: CategoricalSpace) -> str:
        return "\n".join(f"- {p.name}: one of {', '.join(p.choices)}" for p in space.positions)

    @staticmethod
    def rules(space: CategoricalSpace) -> str:
        """The answer's rules (templates v2). A real small model (Qwen2.5-Coder-1.5B) left
        out the line of a layer it was told to delete, and added positions the space lacks
        ("edge 4<-0: skip_connect") for "add a residual connection"; both made the answer
        unusable or a copy of its parent. The rules name the exact positions and, where the
        space has an empty choice, how a layer is deleted."""
        names = [p.name for p in space.positions]
        text = (
            f"Rules: write exactly these {len(names)} positions, each once, in this order: "
            f"{', '.join(names)}. There are no other positions; never leave one out."
        )
        empty = [c for c in space.positions[0].choices if c in ("none", "zero")]
        if empty and all(empty[0] in p.choices for p in space.positions):
            text += f" To delete a layer, keep its line and set it to {empty[0]}."
        if "skip_connect" in space.positions[0].choices:
            text += " A residual connection is skip_connect on an existing position."
        return text

    def mutate_prompt(self, space: CategoricalSpace, arch: str, prompt_id: int) -> PromptText:
        return render_prompt(
            "llmatic_mutate",
            space=self._space_text(space),
            network=space.describe(arch),
            instruction=self.prompts[prompt_id % len(self.prompts)],
            rules=self.rules(space),
        ).constrained(network_constraint(space))

    def crossover_prompt(self, space: CategoricalSpace, a: str, b: str) -> PromptText:
        return render_prompt(
            "llmatic_crossover",
            space=self._space_text(space),
            network_a=space.describe(a),
            network_b=space.describe(b),
            rules=self.rules(space),
        ).constrained(network_constraint(space))

    def edit_prompt(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        rng: np.random.Generator | None = None,
    ) -> PromptText:
        """The mutation as an edit (``mutation_answer = "edit"``): the answer names one
        position (two when no single change gives a new cell) and its new choice, held to a
        grammar that admits only changes giving a cell not yet proposed. Raises
        :class:`OperatorError` when no cell within two changes is new (LLMatic then takes
        the rule-based operator, recorded). The prompt's example is one admitted edit drawn
        with ``rng`` (the first without one): a small model often copies the example, and a
        fixed one would always change the same position."""
        admitted = edit_neighbours(space, arch, self.known, 1) or edit_neighbours(
            space, arch, self.known, 2
        )
        if not admitted:
            raise OperatorError("no unproposed cell within two edits of the parent")
        keys = sorted(admitted)
        first = keys[int(rng.integers(len(keys)))] if rng is not None else keys[0]
        return render_prompt(
            "llmatic_edit",
            space=self._space_text(space),
            network=space.describe(arch),
            instruction=self.prompts[prompt_id % len(self.prompts)],
            example=" / ".join(f"{space.positions[i].name}: {c}" for i, c in first),
        ).constrained(edit_constraint(space, admitted))

    def mutate(
        self,
        space: CategoricalSpace,
        arch: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        if self.mutation_answer == "cell":
            return self._call(space, self.mutate_prompt(space, arch, prompt_id), temperature)
        answer = self._answer(self.edit_prompt(space, arch, prompt_id, rng), temperature)
        try:
            child = parse_edit_answer(answer, space, arch)
        except NetworkParseError as e:
            raise OperatorError(str(e)) from e
        self.repeats += self.known(child)  # only a server that ignored the grammar
        return child

    def crossover(
        self,
        space: CategoricalSpace,
        a: str,
        b: str,
        prompt_id: int,
        temperature: float,
        rng: np.random.Generator,
    ) -> str:
        child = self._call(space, self.crossover_prompt(space, a, b), temperature)
        if not (self.crossover_reask and self.known(child)):
            return child
        # the answer repeats a proposed cell: ask once more, naming it, a little hotter
        hotter = round(min(temperature + REASK_TEMPERATURE_STEP, REASK_TEMPERATURE_MAX), 4)
        self.reasks.append(f"crossover repeated a proposed cell; re-asked at T={hotter}")
        prompt = render_prompt(
            "llmatic_crossover_reask",
            space=self._space_text(space),
            network_a=space.describe(a),
            network_b=space.describe(b),
            repeated=space.describe(child),
            rules=self.rules(space),
        ).constrained(network_constraint(space))
        return self._call(space, prompt, hotter)
