"""The Modifier: rewrites the base block from (block, inspiration, retrieved experience),
then derives compatible stem and downsample blocks, repairing on validator feedback.

Turn 1 sends prompt ``modifier``; while the answer does not parse or does not validate, a
repair turn (``modifier_repair``) sends the parse error or the validator's errors (node,
rule, message, hint) back in the same conversation, up to ``retries`` times ("immediate
feedback"). The stem/downsample step (``modifier_derive``) works the same way; when it
cannot produce valid blocks the previous stem/downsample are kept (renamed) if the network
is valid with them. Every call is accounted by the LLM client; failures are results, not
exceptions (except :class:`~nas.llm.budget.BudgetExceeded`, which stops the run).

Every call carries its answer form as ``constraint=`` (:mod:`nas.graph.grammar_block`'s
``block@1``, or ``edits@1`` in edits mode). ``answer="edits"``: turn 1 sends
``modifier_edits`` and the answer is a list of edits against the parent
(:mod:`nas.graph.edits`), applied and shape-fixed by the code; repairs go through
``modifier_edits_repair``; no derive call when the parent's stem/downsample still fit. An
answer that repeats an earlier one (text or graph) is never sent back: the conversation
restarts with ``modifier_reask`` at ``reask_temperature``. ``max_calls``/``max_design_tokens``
cap one design (base and derive together); a cap reached is the first error, said why.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas.agents.config import ANSWER_FORMS, ANSWER_VERSIONS, BLOCK_REASKS, NaderConfig
from nas.agents.experience import dedupe
from nas.grammar import Constraint
from nas.graph.block import BlockGraph, BlockRole
from nas.graph.edits import (
    EDIT_FORMS,
    EditError,
    apply_edits,
    change_first_constraint,
    edit_example,
    edits_constraint,
    fix_shapes,
    headed_constraint,
    kind_constraint,
    node_guide,
    parse_edits,
    parse_kind,
)
from nas.graph.grammar_block import (
    PLAN_CHARS,
    block_constraint,
    with_plan,
)
from nas.graph.hashing import canonical_hash
from nas.graph.limits import AnswerLimits
from nas.graph.text import serialize
from nas.llm.budget import BudgetExceeded
from nas.llm.client import LLMError
from nas.llm.reach import UNREACHABLE
from nas.prompts import PromptParseError, load_prompt, parse_block_answer
from nas.prompts.fit import compact_definition, estimate_tokens, fits, trim_conversation
from nas.prompts.templates import PromptTemplate

_log = logging.getLogger(__name__)

__all__ = [
    "Modifier",
    "ModifyResult",
    "base_checker",
    "dedupe",
    "derive_examples",
    "normalize_file",
]

Validate = Callable[[BlockGraph], list[Any]]
ValidateFile = Callable[[Mapping[str, BlockGraph]], list[Any]]


@dataclass
class ModifyResult:
    status: str  # "ok" | "invalid" (no valid block after the repairs)
    blocks: dict[str, BlockGraph] | None = None  # the new block file (base, _stem, _downsample)
    errors: list[str] = field(default_factory=list)  # last errors (invalid) / first (repaired)
    turns: int = 0  # LLM calls made
    repaired: bool = False  # valid only after at least one repair turn
    first_invalid: str = ""  # text of the first invalid answer (for the Reflector)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    call_errors: list[str] = field(default_factory=list)  # LLM call failures met
    # of those, calls the endpoint did not answer (nas.llm.reach.UNREACHABLE kinds): a design
    # that met one is no INVALID design of the model (NaderStrategy records none)
    unanswered: int = 0
    first_role: str = "base"  # where the first invalid answer was: base | derive
    fallback: str = ""  # what was done instead of an unusable answer (derive -> kept blocks)
    last_call_id: str = ""  # the last LLM call's id (to mark a fallback on its row)
    trimmed: list[str] = field(default_factory=list)  # what was left out to fit the context
    capped: str = ""  # why the design stopped at its call/token cap ("" = it did not)
    notes: list[str] = field(default_factory=list)  # re-asks after repeated answers, and more
    fixes: list[str] = field(default_factory=list)  # edits mode: what the code fixed or dropped
    kind: str = ""  # the kind of change the kind call named (answer version 4), else ""
    prompt: str = ""  # the prompt whose answer became the base when not the first prompt
    # (block_reask=edits: the edit-form ask after an invalid whole block), else ""

    @property
    def text(self) -> str:
        return serialize(self.blocks) if self.blocks else ""


def normalize_file(base: BlockGraph, stem: BlockGraph, down: BlockGraph) -> dict[str, BlockGraph]:
    """The block file with names ``Name``, ``Name_stem``, ``Name_downsample``."""
    name = base.name
    return {
        name: base,
        f"{name}_stem": stem.renamed(f"{name}_stem"),
        f"{name}_downsample": down.renamed(f"{name}_downsample"),
    }


def base_checker(macro: Mapping[str, Any]) -> Validate:
    """``validate_base`` for a run whose skeleton is ``macro`` (``kind``, ``width``,
    ``widths``, ``depths``...): the block alone at 64 channels, then in the skeleton at every
    width and resolution it runs (an SE block's ``C/16`` is 0 at C=8), so the Modifier
    repairs the base before any stem/downsample is derived from it."""
    from nas.graph.skeleton_check import check_in_skeleton
    from nas.graph.spec import ArchSpec
    from nas.graph.validate import validate_block

    m: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in macro.items()}

    def check(g: BlockGraph) -> list[Any]:
        errors: list[Any] = list(validate_block(g))
        if errors:
            return errors
        return list(check_in_skeleton(g, spec=ArchSpec(base=g, **m)))

    return check


def _split(blocks: Mapping[str, BlockGraph]) -> tuple[BlockGraph, BlockGraph, BlockGraph]:
    base = next(g for g in blocks.values() if g.role is BlockRole.BASE)
    stem = next(g for g in blocks.values() if g.role is BlockRole.STEM)
    down = next(g for g in blocks.values() if g.role is BlockRole.DOWNSAMPLE)
    return base, stem, down


EXAMPLE_SEEDS = ("resnet_basic", "convnext", "inception")
LAYOUT_RULES = (
    "4. LN and Linear act on the LAST dim: on a (B,C,H,W) map put permute(0,2,3,1) before "
    "and permute(0,3,1,2) after them (or use BN / a 1x1 Conv2d).\n"
    "5. Conv2d, BN and pools read channels at dim 1: a channels-last tensor goes back with "
    "permute(0,3,1,2) first. reshape never moves channels: permute before it.\n"
    "6. Channel expressions must stay >= 1 at every width the network uses (it runs the block "
    "at C, 2C and 4C, e.g. 16, 32, 64): C/16 is 0 at C=8."
)


# what goes first when a prompt does not fit the context (in this order; blocks stay whole)
_MODIFY_REDUCTIONS = ("research tips", "correctness tips", "op explanations")
_DERIVE_REDUCTIONS = ("correctness tips", "examples 2 and 3", "examples", "op explanations")
_OMITTED = "- (omitted to fit the context)"


def _kept(base: BlockGraph, new: BlockGraph) -> float:
    """The share of the base block's operations (by kind, with repeats) still in ``new``."""
    want = Counter(n.kind for n in base.nodes if n.kind not in _IO)
    have = Counter(n.kind for n in new.nodes)
    total = sum(want.values())
    return sum(min(c, have[k]) for k, c in want.items()) / total if total else 1.0


_IO = ("input", "input1", "input2", "output")


def _bullets(tips: Sequence[str]) -> str:
    return "\n".join(f"- {t}" for t in dedupe(tips)) or "- (none yet)"


def derive_examples(names: Sequence[str] = EXAMPLE_SEEDS) -> str:
    """Example block files (base + stem + downsample) for the derive prompt."""
    from nas.graph.seeds import seed_blocks

    return "\n".join(
        f"Example {i}:\n```\n{serialize(seed_blocks(n)).strip()}\n```"
        for i, n in enumerate(names, 1)
    )


class Modifier:
    """``validate_base(g)`` and ``validate_file(blocks)`` return error lists (empty = valid).

    ``skeleton``: the macro kind the network runs in (its spatial contract goes into the
    derive prompt, see :mod:`nas.graph.skeleton`)."""

    def __init__(
        self,
        llm: Any,
        validate_base: Validate,
        validate_file: ValidateFile,
        retries: int = 3,
        skeleton: str = "stages",
        max_tokens: int | None = None,
        repair_temperature: float | None = None,
        context_tokens: int | None = None,
        *,
        answer: str = NaderConfig.answer,
        answer_version: int = NaderConfig.answer_version,
        block_reask: str = NaderConfig.block_reask,
        reask_temperature: float | None = NaderConfig.reask_temperature,
        max_calls: int = NaderConfig.max_calls_per_design,
        max_design_tokens: int = NaderConfig.max_tokens_per_design,
        think: bool = NaderConfig.think,
        change_first: bool = NaderConfig.change_first,
        answer_limits: AnswerLimits = NaderConfig.answer_limits,
    ) -> None:
        from nas.graph.catalogue import block_definition
        from nas.graph.skeleton import contract_for

        self.llm = llm
        self.validate_base = validate_base
        self.validate_file = validate_file
        self.retries = retries
        self.max_tokens = max_tokens  # answer cap per call (None: the server's default)
        # repair turns sampled at this temperature: a greedy (temperature 0) model answers a
        # repair turn with its first answer again (measured with Qwen2.5-Coder-1.5B)
        self.repair_temperature = repair_temperature
        # the model's window: prompts are reduced by rule to fit it (nas.prompts.fit)
        self.context_tokens = context_tokens
        if answer not in ANSWER_FORMS:
            raise ValueError(f"answer={answer!r}: one of {', '.join(ANSWER_FORMS)}")
        self.answer = answer  # block (NADER's whole block) | edits (a list against the parent)
        if f"edits@{answer_version}" not in EDIT_FORMS:
            raise ValueError(f"answer_version={answer_version!r}: one of {ANSWER_VERSIONS}")
        self.answer_version = answer_version  # the version of the answer form and its prompt
        self.edit_form = EDIT_FORMS[f"edits@{answer_version}"]  # how many edits, which merges
        if self.edit_form.headed and (think or change_first):
            raise ValueError(f"answer_version={answer_version} has its own first line: "
                             "not with think or change_first")  # fmt: skip
        if block_reask not in BLOCK_REASKS or (block_reask == "edits" and answer == "edits"):
            raise ValueError(f"block_reask={block_reask!r}: one of {', '.join(BLOCK_REASKS)} "
                             "('edits' with block answers only)")  # fmt: skip
        self.block_reask = block_reask  # block answers: after an invalid block, block | edits
        self.reask_temperature = reask_temperature  # after a repeated answer (None: client's)
        self.max_calls = max_calls  # LLM calls per design, base and derive together (0: none)
        self.max_design_tokens = max_design_tokens  # tokens per design (0: no cap)
        self.think = think  # a bounded "Plan:" line before the constrained answer
        self.change_first = change_first  # edits: a "Change: VERB WHAT" line, edits of that kind
        self.answer_limits = answer_limits  # bounds checked before an answer is parsed
        self.definition = block_definition()
        self.contract = contract_for(skeleton)
        self.examples = derive_examples()

    @property
    def prompt_id(self) -> str:
        """The first prompt of a design: ``modifier`` or ``modifier_edits``."""
        return "modifier_edits" if self.answer == "edits" else "modifier"

    @property
    def prompt_version(self) -> int:
        """The first prompt's version: ``modifier@3`` for block answers; for edits, answer
        version 1 keeps ``modifier_edits@2`` (its recorded cassettes replay), 2 has
        ``modifier_edits@3``, 3 (a first line that names the change) ``modifier_edits@4``,
        4 (edits@3 with one line per new module, the proposal again at the end)
        ``modifier_edits@5``.
        (A block form anchored to the parent's numbering, ``block@2``
        with ``modifier@4``, was measured and dropped: branch ``anchored-block``.)"""
        if self.answer != "edits":
            return 3
        return self.answer_version + 1

    def _call(
        self,
        res: ModifyResult,
        msgs: list[dict[str, str]],
        ref: str,
        cid: str,
        temperature: float | None,
        constraint: Constraint | None = None,
    ) -> tuple[str, str] | None:
        """(text, finish reason) of one call, or None when the call failed (recorded).
        ``temperature``: None = the client's; ``constraint``: the answer form (the client
        sends it where the server takes it and says whether the answer obeyed)."""
        res.turns += 1
        opts: dict[str, Any] = {}
        if constraint is not None:
            opts["constraint"] = constraint
        if self.max_tokens is not None:
            opts["max_tokens"] = self.max_tokens
        if temperature is not None:
            opts["temperature"] = temperature
        try:
            reply = self.llm.chat(msgs, agent="modifier", prompt_id=ref, candidate_id=cid, **opts)
        except BudgetExceeded:
            raise
        except LLMError as e:
            res.call_errors.append(str(e))
            res.unanswered += e.kind in UNREACHABLE
            return None
        res.last_call_id = reply.call_id
        res.tokens_in += reply.tokens_in
        res.tokens_out += reply.tokens_out
        res.cost_usd += reply.cost_usd
        return str(reply.text), str(reply.finish_reason or "")

    def _bounded(self, answer: str) -> str:
        """``answer`` cut to the answer size limit: an over-long answer is neither stored
        whole nor sent back in every repair request."""
        cap = self.answer_limits.max_answer_bytes
        if len(answer) <= cap and len(answer.encode("utf-8", "surrogatepass")) <= cap:
            return answer
        cut = answer.encode("utf-8", "surrogatepass")[:cap].decode("utf-8", "ignore")
        return cut + f"\n[... cut at {cap:,} bytes: strategy.nader.answer_limits.max_answer_bytes]"

    def _cap(self, res: ModifyResult, msgs: list[dict[str, str]]) -> str:
        """Why the next call of this design must not be made ("" = it may): the design's call
        cap is reached, or its tokens so far plus the next prompt would pass its token cap."""
        if self.max_calls and res.turns >= self.max_calls:
            return (f"{res.turns} calls made; the cap is {self.max_calls} per design "
                    "(strategy.nader.max_calls_per_design)")  # fmt: skip
        if self.max_design_tokens:
            spent, prompt = res.tokens_in + res.tokens_out, estimate_tokens(msgs)
            if spent + prompt > self.max_design_tokens:
                return (f"{spent} tokens spent and the next prompt is ~{prompt}; the cap is "
                        f"{self.max_design_tokens} per design "
                        "(strategy.nader.max_tokens_per_design)")  # fmt: skip
        return ""

    def _concrete(self, errors: list[str], answer: str, finish: str, repeated: bool) -> list[str]:
        """What a small model needs said outright: its answer was cut off at the answer cap,
        or it repeated an earlier answer."""
        if not errors:
            return errors
        out = list(errors)
        if finish == "length":
            what = "the edits" if self.answer == "edits" else "the block"
            out.insert(
                0,
                f"your answer was cut off at the {self.max_tokens or 'maximum'}-token limit: "
                f"reply with only {what} (no explanation, no comments)",
            )
        if repeated:
            out.insert(0, "your answer is the same as your previous one: change the lines "
                       "named below")  # fmt: skip
        return out

    def _converse(
        self,
        res: ModifyResult,
        msgs: list[dict[str, str]],
        ref: str,
        cid: str,
        check: Callable[[str], tuple[Any, list[str]]],
        role: str = "base",
        constraint: Constraint | None = None,
        repair: Callable[[str, Any, list[str]], tuple[str, list[dict[str, str]]]] | None = None,
        retries: int | None = None,
    ) -> Any:
        """Ask, check, repair up to ``retries`` times; the checked value or None.

        ``repair(answer, value, errors)`` gives the repair turn's (prompt ref, messages);
        default: ``modifier_repair`` with the errors. An answer that repeats an earlier one
        (the same text, or the same graph) is never sent back: the conversation restarts
        from the first prompt with ``modifier_reask`` (the errors, an instruction to take
        another way) at ``reask_temperature``, and ``res.notes`` says so. Before every call
        the design's caps are checked (:meth:`_cap`); a cap reached ends the conversation
        with the reason in ``res.errors`` and ``res.capped``. ``retries``: None = the
        Modifier's."""
        first = list(msgs)
        repair = repair or self._block_repair
        reask = load_prompt("modifier_reask")
        seen: set[str] = set()
        prompt_ref, temperature = ref, None
        for turn in range((self.retries if retries is None else retries) + 1):
            capped = self._cap(res, msgs)
            if capped:
                res.capped = capped
                res.errors = [f"design cap reached: {capped}", *res.errors]
                _log.info("modifier %s: %s: design cap reached: %s", cid, role, capped)
                return None
            fitted = trim_conversation(msgs, self.context_tokens, self.max_tokens)
            if len(fitted) < len(msgs):
                res.trimmed.append(f"{role}: dropped {len(msgs) - len(fitted)} old repair messages")
                msgs = fitted
            got = self._call(res, msgs, prompt_ref, cid, temperature, constraint)
            answer, finish = got or ("", "")
            repeated = False
            if got is None:
                errors = [f"(the LLM call failed: {res.call_errors[-1][:200]})"]
                value = None
            else:
                value, errors = check(answer)
                keys = {" ".join(answer.split())}
                if isinstance(value, BlockGraph):
                    keys.add(canonical_hash(value))
                repeated = bool(keys & seen)
                seen |= keys
                errors = self._concrete(errors, answer, finish, repeated)
            if value is not None and not errors:
                if turn > 0:
                    res.repaired = True
                return value
            res.errors = errors
            if not res.first_invalid:
                res.first_invalid = self._bounded(answer)
                res.first_role = role
            bullets = "\n".join(f"- {e}" for e in errors)
            if repeated:
                form = "the edits, one per line" if self.answer == "edits" and role == "base" \
                    else "the complete block"  # fmt: skip
                msgs = [*first, *reask.render(errors=bullets, form=form)[-1:]]
                prompt_ref, temperature = reask.ref, self.reask_temperature
                res.notes.append(f"{role}: call {res.turns} repeated an earlier answer; re-asked "
                                 f"with {reask.ref} at temperature {self.reask_temperature}")  # fmt: skip
                _log.info("modifier %s: %s", cid, res.notes[-1])
                continue
            prompt_ref, more = repair(answer, value, errors)
            temperature = self.repair_temperature
            msgs = [
                *msgs,
                {"role": "assistant", "content": self._bounded(answer) or "(empty answer)"},
                *more,
            ]
        return None

    @staticmethod
    def _block_repair(
        answer: str, value: Any, errors: list[str]
    ) -> tuple[str, list[dict[str, str]]]:
        tmpl = load_prompt("modifier_repair")
        return tmpl.ref, tmpl.render(errors="\n".join(f"- {e}" for e in errors))[-1:]

    def _first_messages(
        self,
        res: ModifyResult,
        tmpl: PromptTemplate,
        base: BlockGraph,
        inspiration: str,
        experiences: Sequence[str],
        research: Sequence[str],
    ) -> list[dict[str, str]]:
        """The first prompt of a design (``tmpl``: ``modifier`` or ``modifier_edits``),
        reduced by rule until it fits the context (each reduction said in ``res.trimmed``)."""
        # modifier_edits@1 showed concrete edits that the real model copied as its answer;
        # @2 shows the form with placeholders only (kept: @1 for recorded cassettes)
        extra = {"example": edit_example(base)} if "example" in tmpl.slots else {}
        if "max_edits" in tmpl.slots:  # modifier_edits@3: the edit count
            extra["max_edits"] = str(self.edit_form.max_edits)
        if "nodes" in tmpl.slots:  # where each operation is
            extra["nodes"] = node_guide(base)
        tips, research_tips = _bullets(experiences), _bullets(research)
        definition = self.definition
        msgs: list[dict[str, str]] = []
        for step in ("", *_MODIFY_REDUCTIONS):
            if step == "research tips":
                research_tips = _OMITTED
            elif step == "correctness tips":
                tips = _OMITTED
            elif step == "op explanations":
                definition = compact_definition(self.definition)
            if step:
                res.trimmed.append(f"base: {step}")
            msgs = tmpl.render(
                definition=definition,
                rules=LAYOUT_RULES,
                block=serialize(base).strip(),
                inspiration=inspiration,
                dev_experiences=tips,
                res_experiences=research_tips,
                **extra,
            )
            if fits(msgs, self.context_tokens, self.max_tokens):
                break
        return msgs

    def _ask_kind(self, res: ModifyResult, base: BlockGraph, inspiration: str, cid: str) -> str:
        """The kind of change the proposal needs (one of :data:`nas.graph.edits.KINDS`), asked
        in a short call of its own (``modifier_kind``, grammar ``kind@1``) before the edits
        of a form with ``ask_kind``; "" when the call failed, named no kind, or named one
        this block cannot take (the edit answer then chooses among all kinds, and
        ``res.notes`` says so)."""
        tmpl = load_prompt("modifier_kind")
        msgs = tmpl.render(inspiration=inspiration)
        if self._cap(res, msgs):  # the edit ask after it meets the cap and says so
            return ""
        got = self._call(res, msgs, tmpl.ref, cid, None, kind_constraint())
        kind = parse_kind(got[0]) if got is not None else None
        if kind is not None:
            try:
                headed_constraint(base, self.edit_form, kind)
            except ValueError:
                kind = None
        if kind is None:
            said = repr(got[0][:60]) if got is not None else "no answer"
            res.notes.append(f"base: the kind call ({tmpl.ref}) gave {said}: the edit answer "
                             "chose among all kinds")  # fmt: skip
            _log.info("modifier %s: %s", cid, res.notes[-1])
            return ""
        res.kind = kind
        return kind

    def _edit_form(
        self,
        res: ModifyResult,
        base: BlockGraph,
        msgs: list[dict[str, str]],
        inspiration: str,
        cid: str,
    ) -> tuple[list[dict[str, str]], Constraint]:
        """The edit answer's constraint against ``base`` (and the first prompt with the
        change-first note where that setting is on); a form with ``ask_kind`` asks the kind
        first (:meth:`_ask_kind`) and keeps that kind's heads only."""
        if self.change_first:  # the kind of change first, then edits of that kind
            change = load_prompt("modifier_change").render()[-1]["content"]
            msgs = [*msgs[:-1], {**msgs[-1], "content": msgs[-1]["content"] + "\n\n" + change}]
            return msgs, change_first_constraint(base, self.edit_form)
        if self.edit_form.headed:  # edits@3/@4: "Change: ..." then edits of that kind
            kind = self._ask_kind(res, base, inspiration, cid) if self.edit_form.ask_kind else ""
            return msgs, headed_constraint(base, self.edit_form, kind or None)
        return msgs, edits_constraint(base, self.edit_form)

    def modify(
        self,
        blocks: Mapping[str, BlockGraph],
        inspiration: str,
        experiences: Sequence[str] = (),
        candidate_id: str = "",
        research: Sequence[str] = (),
        derive_experiences: Sequence[str] = (),
    ) -> ModifyResult:
        """``experiences``: correctness (develop) tips for the base block; ``research``:
        performance tips; ``derive_experiences``: correctness tips for stem/downsample blocks.
        Repeated tips are sent once."""
        res = ModifyResult("invalid")
        base, stem, down = _split(blocks)
        edits = self.answer == "edits"
        tmpl = load_prompt(self.prompt_id, self.prompt_version)
        msgs = self._first_messages(res, tmpl, base, inspiration, experiences, research)

        def check_base(answer: str) -> tuple[BlockGraph | None, list[str]]:
            try:
                ans = parse_block_answer(answer, limits=self.answer_limits)
            except PromptParseError as e:
                return None, [str(e)]
            cands = [g for g in ans.blocks.values() if g.role is BlockRole.BASE]
            if not cands:
                return None, ["no base block in the answer (only stem/downsample blocks)"]
            if len(cands) > 1:  # a small model writes the new module as a block of its own
                names = ", ".join(g.name for g in cands)
                return None, [
                    f"the answer has {len(cands)} blocks ({names}); write ONE block "
                    f"##{base.name}## that contains the whole modified block, the new "
                    "operations as nodes of it, connected to its other nodes by edges"
                ]
            g = cands[0].renamed(base.name)
            if canonical_hash(g) == canonical_hash(base):
                return None, [
                    f"the block is unchanged: apply the proposal to ##{base.name}## (add or "
                    f"change its nodes and edges): {inspiration[:300]}"
                ]
            errors = [str(e) for e in self.validate_base(g)]
            if errors and _kept(base, g) < 0.5:  # a small model dropped the block, kept the module
                errors.insert(
                    0,
                    f"the answer lost most of the original ##{base.name}## (it has "
                    f"{len(g.nodes)} nodes, the original {len(base.nodes)}): keep the original "
                    "block's nodes and edges and add the proposal's nodes to it. The original "
                    f"block:\n```\n{serialize(base).strip()}\n```",
                )
            return g, errors

        def check_edits(answer: str) -> tuple[BlockGraph | None, list[str]]:
            try:
                g, changed, dropped = apply_edits(
                    base, parse_edits(answer, base, self.answer_limits, self.edit_form)
                )
            except EditError as e:
                return None, [str(e)]
            g, fixes = fix_shapes(g, changed, gates=self.edit_form.fix_gates)
            res.fixes = [*dropped, *fixes]
            if canonical_hash(g) == canonical_hash(base):
                return None, [f"the edits leave the block unchanged: {inspiration[:300]}"]
            return g, [str(e) for e in self.validate_base(g)]

        def repair_edits(
            answer: str, value: Any, errors: list[str]
        ) -> tuple[str, list[dict[str, str]]]:
            t = load_prompt("modifier_edits_repair")
            result = (
                f"Your edits give this block:\n```\n{serialize(value).strip()}\n```"
                if isinstance(value, BlockGraph)
                else "Your edits could not be applied to the block."
            )
            return t.ref, t.render(errors="\n".join(f"- {e}" for e in errors), result=result)[-1:]

        if edits:
            msgs, base_form = self._edit_form(res, base, msgs, inspiration, candidate_id)
        else:
            base_form = block_constraint(base.name)
        if self.think:  # a bounded plan line first; the answer after it is held as before
            think = load_prompt("modifier_think")
            note = think.render(chars=PLAN_CHARS)[-1]["content"]
            msgs = [*msgs[:-1], {**msgs[-1], "content": msgs[-1]["content"] + "\n\n" + note}]
            base_form = with_plan(base_form)
        if edits:
            new_base = self._converse(res, msgs, tmpl.ref, candidate_id, check_edits,
                                      constraint=base_form, repair=repair_edits)  # fmt: skip
        elif self.block_reask == "edits" and self.retries > 0:
            # one whole block (NADER's answer); when it is not valid, the proposal again in
            # the edit form (issue 24: a re-ask "in the edit form"), not a block repair
            new_base = self._converse(res, msgs, tmpl.ref, candidate_id, check_base,
                                      constraint=base_form, retries=0)  # fmt: skip
            if new_base is None and not res.capped:
                etmpl = load_prompt("modifier_edits", self.answer_version + 1)
                first = self._first_messages(res, etmpl, base, inspiration, experiences, research)
                emsgs, eform = self._edit_form(res, base, first, inspiration, candidate_id)
                why = res.errors[0][:200] if res.errors else "no answer"
                res.notes.append(f"base: the whole block was not valid ({why}); asked again in "
                                 f"the edit form ({etmpl.ref}, {eform.name})")  # fmt: skip
                _log.info("modifier %s: %s", candidate_id, res.notes[-1])
                new_base = self._converse(res, emsgs, etmpl.ref, candidate_id, check_edits,
                                          constraint=eform, repair=repair_edits,
                                          retries=self.retries - 1)  # fmt: skip
                if new_base is not None:
                    res.prompt, res.repaired, edits = etmpl.ref, True, True
        else:
            new_base = self._converse(res, msgs, tmpl.ref, candidate_id, check_base,
                                      constraint=base_form)  # fmt: skip
        if new_base is None:
            res.fixes = []
            return res
        first_errors = list(res.errors)
        if edits:  # the parent's stem/downsample fit a base that keeps its shape: no call
            kept = normalize_file(new_base, stem, down)
            if not self.validate_file(kept):
                res.status, res.blocks = "ok", kept
                res.errors = first_errors if res.repaired else []
                return res
        derive = load_prompt("modifier_derive")
        tips, examples, definition = _bullets(derive_experiences), self.examples, self.definition
        for step in ("", *_DERIVE_REDUCTIONS):
            if step == "correctness tips":
                tips = _OMITTED
            elif step == "examples 2 and 3":
                examples = derive_examples(EXAMPLE_SEEDS[:1])
            elif step == "examples":
                examples = "(omitted to fit the context)"
            elif step == "op explanations":
                definition = compact_definition(self.definition)
            if step:
                res.trimmed.append(f"derive: {step}")
            dmsgs = derive.render(
                definition=definition,
                contract="\n".join(f"{i}. {r}" for i, r in enumerate(self.contract.rules(), 1)),
                examples=examples,
                experiences=tips,
                block=serialize(new_base).strip(),
                stem=serialize(stem).strip(),
                downsample=serialize(down).strip(),
            )
            if fits(dmsgs, self.context_tokens, self.max_tokens):
                break

        def check_file(answer: str) -> tuple[dict[str, BlockGraph] | None, list[str]]:
            try:
                ans = parse_block_answer(answer, limits=self.answer_limits)
            except PromptParseError as e:
                return None, [str(e)]
            roles = {g.role: g for g in ans.blocks.values()}
            if BlockRole.STEM not in roles or BlockRole.DOWNSAMPLE not in roles:
                return None, ["reply with both the _stem and the _downsample block"]
            f = normalize_file(new_base, roles[BlockRole.STEM], roles[BlockRole.DOWNSAMPLE])
            return f, [str(e) for e in self.validate_file(f)]

        derived = self._converse(res, dmsgs, derive.ref, candidate_id, check_file, "derive",
                                 block_constraint(stem.name, down.name))  # fmt: skip
        if derived is None:
            kept = normalize_file(new_base, stem, down)
            errs = [str(e) for e in self.validate_file(kept)]
            if errs:
                res.errors = errs
                return res
            derived = kept
            res.fallback = "kept the parent's stem/downsample (derive failed)"
            if res.last_call_id:
                self.llm.mark_fallback(res.last_call_id, res.fallback)
        res.status = "ok"
        res.blocks = derived
        res.errors = first_errors if res.repaired else []
        return res
