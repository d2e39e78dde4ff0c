"""The Reflector: turns outcomes into categorized experience and retrieves it.

Records three kinds (the ``kind`` column of ``experiences``): ``failure`` (an invalid
design, or a modification that made accuracy worse), ``fail2success`` (an invalid design
and the repair that made it valid) and ``success`` (a modification that improved accuracy).
Invalid designs become "how to write a valid block" tips (team ``develop``, per block
``role``: base, stem or downsample); regressions and trainings that FAILED, DIVERGED or
TIMED OUT become "how to design a better block" tips (team ``research``). Each tip has a
category from :data:`CATEGORIES`.

As in NADER, experience is **keyed by the suggestion** it was learned on (the pool embeds
the suggestion, not the tip): a Modifier working on suggestion S receives the tips learned
on S and on suggestions close to it, whatever words the tips use. :meth:`retrieve` returns
the top ``k`` with repeated texts removed.

``metadata.source`` says honestly who wrote a tip: ``llm`` (the model, prompts
``reflector_invalid``/``reflector_degrade``), ``rule-based`` (canned tips from the
validator's rule — with an LLM this is a fallback, also recorded on the call's
``llm_calls`` row as ``fallback``), ``imported`` (NADER's published logs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nas.agents.experience import ExperiencePoolLike, dedupe
from nas.llm.budget import BudgetExceeded
from nas.llm.client import LLMError
from nas.prompts import PromptParseError, load_prompt, parse_tips
from nas.prompts.parsers import tips_constraint

__all__ = ["CATEGORIES", "Reflector", "categorize_error"]

CATEGORIES = (
    "invalid connection",
    "shape mismatch",
    "channel mismatch",
    "unknown operation",
    "syntax",
    "block contract",
    "memory",
    "degradation",
    "improvement",
)

_RULE_WORDS = [
    ("syntax", ("parse", "syntax", "line ", "no block", "empty")),
    ("unknown operation", ("unknown-op", "unknown op", "unknown", "argument", "arg")),
    ("channel mismatch", ("groups", "channel", "divisible")),
    ("block contract", ("contract", "stride", "spatial size")),
    ("memory", ("memory", "params", "flops", "budget")),
    ("shape mismatch", ("shape", "broadcast", "concat", "add", "mul", "dim")),
    (
        "invalid connection",
        ("edge", "cycle", "path", "io-count", "arity", "input", "output", "dangling", "node"),
    ),
]

_RULE_TIPS = {
    "invalid connection": "Every node must lie on a path from 0:input to 1:output, each op "
    "needs its number of inputs (Add/Mul/concat >= 2, others exactly 1) and the output has "
    "exactly one incoming edge.",
    "shape mismatch": "Add and Mul need inputs of equal (or broadcastable) shapes: give every "
    "branch the same out_channels and stride before summing; use concat when widths differ.",
    "channel mismatch": "Conv2d out_channels must be divisible by groups; for a depthwise conv "
    "set out_channels and groups both to the input channel count.",
    "unknown operation": "Use only the listed operations and their argument names "
    "(e.g. Conv2d(out_channels=C,kernel_size=3,stride=1,groups=1)).",
    "syntax": "Answer with the complete block in the text format inside ``` fences: a "
    "##Name## header, INDEX:Op(args) lines, then SRC->DST edges.",
    "block contract": "A base block maps (B, C, H, W) to (B, C, H, W): stride 1 everywhere and "
    "C output channels; downsampling belongs to the downsample block.",
    "memory": "Keep expansions moderate (at most 4x channels) so the network fits the budget.",
}


def categorize_error(text: str) -> str:
    low = text.lower()
    for cat, words in _RULE_WORDS:
        if any(w in low for w in words):
            return cat
    return "invalid connection"


class Reflector:
    """``pool``: where experiences go (``add``/``query``); ``llm``: an LLMClient or None."""

    def __init__(
        self, pool: ExperiencePoolLike, llm: Any = None, k: int = 5, max_tokens: int | None = None
    ) -> None:
        self.pool = pool
        self.llm = llm
        self.max_tokens = max_tokens  # answer cap per call (None: the server's default)
        self.k = k
        self.tokens_in = 0
        self.tokens_out = 0

    @property
    def source(self) -> str:
        return "llm" if self.llm is not None else "rule-based"

    def _llm_tips(self, prompt: str, candidate_id: str, **slots: Any) -> list[tuple[str, str]]:
        t = load_prompt(prompt)
        msgs = t.render(categories=", ".join(CATEGORIES), **slots)
        opts: dict[str, Any] = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
        try:
            reply = self.llm.chat(
                msgs, agent="reflector", prompt_id=t.ref, candidate_id=candidate_id,
                constraint=tips_constraint(CATEGORIES), **opts,
            )  # fmt: skip
        except BudgetExceeded:
            raise
        except LLMError:
            return []
        self.tokens_in += reply.tokens_in
        self.tokens_out += reply.tokens_out
        try:
            return parse_tips(reply.text)
        except PromptParseError as e:
            self.llm.mark_fallback(reply.call_id, f"rule-based tips ({e.reason})")
            return []

    def on_invalid(
        self,
        block_text: str,
        errors: Sequence[str],
        fixed_text: str | None,
        suggestion: str,
        candidate_id: str = "",
        role: str = "base",
    ) -> list[str]:
        """An invalid design (and the repair, if one made it valid) -> develop tips of block
        ``role`` (``base``, or ``derive`` for the stem/downsample blocks), keyed by the
        suggestion."""
        kind = "fail2success" if fixed_text else "failure"
        tips: list[tuple[str, str]] = []
        if self.llm is not None:
            tips = self._llm_tips(
                "reflector_invalid",
                candidate_id,
                block=block_text,
                errors="\n".join(f"- {e}" for e in errors),
                fixed=f"```\n{fixed_text}```" if fixed_text else "none",
            )
        source = "llm" if tips else "rule-based"
        if not tips:
            cats = {categorize_error(e) for e in errors} or {"invalid connection"}
            tips = [(c, _RULE_TIPS.get(c, _RULE_TIPS["invalid connection"])) for c in sorted(cats)]
        ids = []
        for cat, text in tips:
            cat = cat if cat in CATEGORIES else categorize_error(cat + " " + text)
            ids.append(
                self.pool.add(
                    text,
                    cat,
                    kind,
                    {
                        "team": "develop",
                        "role": role,
                        "suggestion": suggestion,
                        "errors": list(errors)[:5],
                        "source": source,
                    },
                    candidate_id or None,
                    key=suggestion or None,
                )
            )
        return ids

    def on_result(
        self,
        suggestion: str,
        parent_acc: float | None,
        child_acc: float | None,
        parent_text: str,
        child_text: str,
        candidate_id: str = "",
        tolerance: float = 0.0,
        state: str = "COMPLETE",
        error: str = "",
    ) -> list[str]:
        """A trained modification -> research experience keyed by the suggestion: an
        improvement is a ``success``; a regression, or a training that ended ``FAILED``,
        ``DIVERGED`` or ``TIMEOUT`` (``state``, with its ``error``), gives research tips.
        ``candidate_id`` (the trained candidate) goes on the experiences; the LLM call is
        attributed by the caller's :meth:`~nas.llm.LLMClient.scope` (NADER reflects at the
        start of the next proposal step, whose candidate the lesson serves)."""
        if parent_acc is None or (child_acc is None and state == "COMPLETE"):
            return []
        meta = {"team": "research", "suggestion": suggestion, "parent_acc": parent_acc,
                "child_acc": child_acc, "state": state}  # fmt: skip
        if state == "COMPLETE" and child_acc is not None and child_acc > parent_acc + tolerance:
            text = (
                f"Applying '{suggestion[:200]}' improved validation accuracy from "
                f"{parent_acc:.4f} to {child_acc:.4f}."
            )
            return [self.pool.add(text, "improvement", "success", {**meta, "source": "rule-based"},
                                  candidate_id or None, key=suggestion or None)]  # fmt: skip
        outcome = (
            f"{child_acc:.4f}"
            if state == "COMPLETE" and child_acc is not None
            else f"none: the training ended {state}" + (f" ({error[:300]})" if error else "")
        )
        tips: list[tuple[str, str]] = []
        if self.llm is not None:
            tips = self._llm_tips(  # the call belongs to the step in progress (its scope)
                "reflector_degrade",
                "",
                parent_block=parent_text,
                parent_acc=f"{parent_acc:.4f}",
                child_block=child_text,
                child_acc=outcome,
                inspiration=suggestion,
            )
        source = "llm" if tips else "rule-based"
        if not tips:
            what = (
                f"lowered accuracy ({parent_acc:.4f} -> {outcome})"
                if state == "COMPLETE"
                else f"made training end {state}"
            )
            advice = {
                "DIVERGED": "keep a normalization after every new convolution and an identity "
                "path, and avoid stacking multiplicative gates",
                "TIMEOUT": "keep the added compute small (moderate widths, few large kernels)",
                "FAILED": "keep memory moderate (expansion at most 4x, no huge kernels)",
            }.get(state, "change one thing at a time and keep the block's identity path and "
                  "normalization intact")  # fmt: skip
            tips = [("memory" if state in ("FAILED", "TIMEOUT") else "degradation",
                     f"'{suggestion[:160]}' {what}: {advice}.")]  # fmt: skip
        return [
            self.pool.add(text, cat if cat in CATEGORIES else "degradation", "failure",
                          {**meta, "source": source}, candidate_id or None,
                          key=suggestion or None)
            for cat, text in tips
        ]  # fmt: skip

    def retrieve(
        self, suggestion: str, team: str = "develop", k: int | None = None, role: str = ""
    ) -> list[str]:
        """Texts of the ``k`` (default 5) experiences learned on the suggestions most similar
        to ``suggestion`` (of block ``role`` when given), best first, each text once."""
        k = k or self.k
        where: dict[str, Any] = {"team": team}
        if role:
            where["role"] = role
        hits = self.pool.query(suggestion, k=4 * k, where=where)
        return dedupe([h.text for h in hits])[:k]

    def research_levels(self, suggestion: str, k: int | None = None) -> dict[str, list[str]]:
        """Research experience at several similarity levels: ``same`` (score >= 0.8: the
        same idea was tried), ``similar`` (>= 0.4) and ``general`` (the rest of the top-k)."""
        k = k or self.k
        hits = self.pool.query(suggestion, k=4 * k, where={"team": "research"})
        out: dict[str, list[str]] = {"same": [], "similar": [], "general": []}
        seen: set[str] = set()
        for h in hits:
            norm = " ".join(h.text.lower().split())
            if norm in seen or len(seen) >= k:
                continue
            seen.add(norm)
            level = "same" if h.score >= 0.8 else "similar" if h.score >= 0.4 else "general"
            out[level].append(h.text)
        return out
