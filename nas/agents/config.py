"""Section ``strategy.nader``: NADER's settings (declared once; the launcher's schema
composes it, :func:`nas.agents.factory.from_config` maps it onto the strategy)."""

from __future__ import annotations

from dataclasses import dataclass

from nas.config_checks import SettingError, at_least, between, one_of
from nas.graph.limits import DEFAULT_LIMITS, AnswerLimits

__all__ = ["ANSWER_FORMS", "ANSWER_VERSIONS", "BLOCK_REASKS", "NaderConfig"]

# the Modifier's answer forms (nas.agents.modifier): the whole block, or edits against the parent
ANSWER_FORMS = ("block", "edits")
# versions of those forms' grammars and prompts (nas.graph.edits.EDIT_FORMS, block@N)
ANSWER_VERSIONS = (1, 2, 3, 4)
BLOCK_REASKS = ("block", "edits")  # after an invalid whole-block answer: repair it | edits


@dataclass(frozen=True)
class NaderConfig:
    """Section ``strategy.nader``."""

    dfs_ratio: float = 0.5  # share of proposals that deepen the best path (rest: breadth)
    modifier_retries: int = 3  # repair turns on validator feedback
    experiences_k: int = 5  # experiences retrieved per suggestion
    knowledge: str = ""  # knowledge pool path (JSON/JSONL); empty = built-in pool
    repair_temperature: float | None = None  # repair turns' temperature; None = llm.temperature
    # (a greedy model, temperature 0, answers a repair turn with its first answer again)
    answer: str = "block"  # the Modifier's answer form: block (NADER's whole block, as the
    # paper) | edits (a short list of edits against the parent, grammar-held; docs/agents.md)
    answer_version: int = 2  # the edit answer's version: 2 = edits@2 (at most 3 edits, mul
    # gates; prompt modifier_edits@3) | 1 = edits@1 and modifier_edits@2, what the recorded
    # after-2 cassettes used (6 edits, add/concat) | 3 = edits@3: a first line that names
    # the change in plain words ("Change: swap ReLU for GELU", "Change: channel attention") and
    # edits held to it (prompt modifier_edits@4) | 4 = edits@4: the kind asked first in a
    # short call (modifier_kind@1), edits@3's answer held to that kind, one line for a kind
    # that adds one module, odd kernel sizes (prompt modifier_edits@5); block answers are
    # block@1 in all
    block_reask: str = "block"  # block answers: after an invalid whole block, repair the
    # block (NADER's way) | ask again in the edit form of answer_version (edits against the
    # parent, grammar-held; the 1.5B model rarely repairs a whole block: BENCHMARKS.md)
    reask_temperature: float | None = 1.0  # the re-ask after an answer repeated an earlier
    # one (it is never sent back as-is); None = llm.temperature
    max_calls_per_design: int = 0  # Modifier calls per design, base + derive (0 = no cap
    # beyond modifier_retries); a design at its cap is INVALID with the reason
    max_tokens_per_design: int = 0  # tokens (in + out) per design's Modifier calls (0 = none)
    think: bool = False  # a bounded "Plan:" line before the constrained answer (off: measure)
    change_first: bool = False  # edits answers: a constrained "Change: VERB WHAT" line first,
    # and every edit of the answer of that kind (nas.graph.edits.change_first_constraint)
    # bounds on one answer's text, checked before parsing (block and edits answers alike);
    # section strategy.nader.answer_limits (nas.graph.limits, docs/graph.md)
    answer_limits: AnswerLimits = DEFAULT_LIMITS

    def validate(self, where: str = "strategy.nader.") -> None:
        between(where, "dfs_ratio", self.dfs_ratio, 0, 1)
        at_least(where, "modifier_retries", self.modifier_retries, 0)
        at_least(where, "experiences_k", self.experiences_k, 0)
        if self.repair_temperature is not None:
            at_least(where, "repair_temperature", self.repair_temperature, 0)
        one_of(where, "answer", self.answer, ANSWER_FORMS)
        one_of(where, "answer_version", self.answer_version, ANSWER_VERSIONS)
        one_of(where, "block_reask", self.block_reask, BLOCK_REASKS)
        if self.block_reask == "edits" and self.answer == "edits":
            raise SettingError(f"{where}block_reask=edits re-asks after a whole-block answer; "
                               f"with {where}answer=edits set {where}block_reask=block")  # fmt: skip
        if self.reask_temperature is not None:
            at_least(where, "reask_temperature", self.reask_temperature, 0)
        at_least(where, "max_calls_per_design", self.max_calls_per_design, 0)
        at_least(where, "max_tokens_per_design", self.max_tokens_per_design, 0)
        if self.change_first and self.think:
            raise SettingError(f"{where}change_first and {where}think both put a line before "
                               "the edits: set one of them (measured: BENCHMARKS.md)")  # fmt: skip
        if self.answer_version >= 3 and (self.change_first or self.think):
            which = "change_first" if self.change_first else "think"
            raise SettingError(f"{where}answer_version={self.answer_version} starts every edit answer with its own "
                               f"'Change:' line: set {where}{which}=false")  # fmt: skip
        for name, value, low, high in self.answer_limits.out_of_range():
            between(where + "answer_limits.", name, value, low, high)
