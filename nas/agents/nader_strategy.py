"""NADER as a :class:`~nas.strategies.base.Strategy`: ask/tell around the agent team.

``ask(n)``: the first candidate is the base design itself (the tree's root, the baseline);
then, per candidate, the Proposer picks a node of the modification tree and an
inspiration, the Reflector retrieves the ``experiences_k`` most similar develop
experiences, and the Modifier (LLM) — or the rule-based designer when ``llm`` is None —
writes the new block file. Designs that stay invalid after the repairs, and designs
isomorphic to one already proposed, are *decided* without training:
:meth:`NaderStrategy.pop_decided` returns them as ``(Candidate, TrialRecord)`` with state
INVALID/DUPLICATE for the controller to store and tell (never evaluate).

``tell``: updates the tree (one ``tree_node`` event per change, through
:meth:`~nas.strategies.base.BaseStrategy.pop_events`: the controller stores them) and lets
the Reflector compare the child with its parent (improvement/regression experience).

``rebuild(history, pending, events)`` (resume, Optuna-style; the controller calls it on every
start) reconstructs on a fresh strategy, from the stored ``(Candidate, TrialRecord)`` pairs
(evaluated and pre-decided): the modification tree (nodes in their original insertion order
— the order of the stored ``tree_node`` events when given, else the candidates'
``created_at`` —, parent links, suggestions, states, accuracies, depths, agents, block
texts), the inspirations used on every node (from each child's ``origin.suggestion``, plus
the ``used`` lists of the tree events, which also cover proposals that produced no
candidate), the seen architecture hashes and the asked candidates, and from the ``nader_step``/
``nader_lesson``/``nader_reflected`` events the step count, the LLM cost of every asked
candidate (:meth:`NaderStrategy.llm_cost_of`) and the research reflections deferred to a
step that had not run yet (reflected at the start of the next step, as without the
restart). It makes no LLM call and writes nothing. Not reconstructed: the RNG state (the numpy ``Generator``: the controller
restores it with :meth:`set_random_state` from its journal), the experience pool
(persistent in the store: it is not replayed, so no lesson is written twice), the LLM budget
spent (see :func:`nas.agents.factory.from_config`) and a budget stop.
``state_summary()`` is equal after a rebuild of the same history.

Randomness: the numpy ``Generator`` ``rng`` like every strategy; the Proposer and the
rule-based designer get it through :class:`GeneratorRandom` (a ``random.Random`` whose
bits come from the generator).

Ids of decided designs are content hashes of stable inputs: an INVALID design's
``arch_hash`` is ``invalid-<content_hash(parent id, inspiration, attempt, answer)>`` and a
DUPLICATE's recipe names the original, the parent and the attempt (the number of tree
nodes when it was made), so they are equal across processes (no ``hash()``) and distinct
per attempt: every modifier attempt that ends without training is one candidate row.

Candidates: ``arch_kind="block"``, ``arch`` = the full block file, ``arch_hash`` = the
network's canonical hash (:func:`nas.graph.spec.arch_hash`), ``parents=(parent id,)``,
``origin=Origin("nader", "modifier"|"rule-based-designer", "<id>: <inspiration>",
"modifier@3" | "modifier_edits@1", fallback)`` (fallback: also the code's shape fixes of an
edit answer and the re-asks after a repeated answer). When :class:`~nas.llm.budget.BudgetExceeded` is raised, ``ask`` returns
what it has and every later ``ask`` returns ``[]``: the run ends cleanly.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from nas.agents.config import NaderConfig
from nas.agents.designer import DESIGNER_NAME, RuleBasedDesigner
from nas.agents.experience import ExperiencePoolLike, MemoryExperiencePool
from nas.agents.knowledge import Inspiration, KnowledgePool
from nas.agents.modifier import Modifier, ModifyResult, base_checker, normalize_file
from nas.agents.proposer import Proposer
from nas.agents.reflector import Reflector
from nas.agents.tree import TREE_EVENT, ModificationTree, TreeNode
from nas.graph.block import BlockGraph, BlockRole
from nas.graph.cost import Cost
from nas.graph.cost import cost as spec_cost
from nas.graph.limits import AnswerLimits
from nas.graph.text import parse_blocks, serialize
from nas.llm.budget import BudgetExceeded
from nas.llm.client import Attribution
from nas.prompts import load_prompt
from nas.records import Candidate, Origin, TrialCost, TrialRecord, TrialState, content_hash
from nas.strategies.base import BaseStrategy, CallOrderError, Event, Result, as_generator

__all__ = ["GeneratorRandom", "NaderStrategy", "block_file", "file_hash", "validate_file"]

log = logging.getLogger(__name__)


class GeneratorRandom(random.Random):
    """A ``random.Random`` drawing every bit from a numpy ``Generator`` (so the agents that
    take a ``random.Random`` share the strategy's one generator and its saved state)."""

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        super().__init__(0)

    def seed(self, a: Any = None, version: int = 2) -> None:  # the generator is the state
        return None

    def random(self) -> float:
        return float(self.gen.random())

    def getrandbits(self, k: int) -> int:
        if k <= 0:
            return 0
        nbytes = (k + 7) // 8
        return int.from_bytes(self.gen.bytes(nbytes), "little") >> (8 * nbytes - k)

    def getstate(self) -> Any:
        return dict(self.gen.bit_generator.state)

    def setstate(self, state: Any) -> None:
        self.gen.bit_generator.state = dict(state)


_REFLECTED = (TrialState.COMPLETE, TrialState.FAILED, TrialState.DIVERGED, TrialState.TIMEOUT)
STEP_EVENT = "nader_step"  # one LLM step ended: its number, candidate and LLM cost
LESSON_EVENT = "nader_lesson"  # a told result whose research reflection waits for a step
REFLECTED_EVENT = "nader_reflected"  # that reflection ran (in the step stored with it)
PRE_DECIDED = "nader:pre-decided"  # TrialRecord.evaluator of designs decided without training
_RULE_SUFFIX = re.compile(r" \[rule: [^\]]*\]$")

DEFAULT_MACRO: dict[str, Any] = {"kind": "stages", "width": 16, "depths": (1, 1, 1),
                                 "widths": (16, 32, 64)}  # fmt: skip


def block_file(base: str) -> dict[str, BlockGraph]:
    """A seed name (``resnet_basic``...) or a block file path -> base, _stem, _downsample."""
    from pathlib import Path

    from nas.graph.seeds import SEED_BLOCKS, seed_blocks

    if base in SEED_BLOCKS:
        blocks = seed_blocks(base)
    else:
        p = Path(base)
        if not p.exists():
            raise FileNotFoundError(
                f"base block {base!r} is neither a seed ({', '.join(SEED_BLOCKS)}) nor a file"
            )
        blocks = parse_blocks(p.read_text(encoding="utf-8"))
    roles = {g.role: g for g in reversed(list(blocks.values()))}
    if BlockRole.BASE not in roles:
        raise ValueError(f"no base block in {base!r}")
    from nas.graph.macro import default_downsample, default_stem

    stem = roles.get(BlockRole.STEM) or default_stem("stages")
    down = roles.get(BlockRole.DOWNSAMPLE) or default_downsample("stages")
    return normalize_file(roles[BlockRole.BASE], stem, down)


def _spec(blocks: Mapping[str, BlockGraph], macro: Mapping[str, Any]) -> Any:
    from nas.graph.spec import spec_from_blocks

    m = dict(macro)
    for key in ("depths", "widths"):
        if key in m:
            m[key] = tuple(m[key])
    return spec_from_blocks(blocks, **m)


def validate_file(blocks: Mapping[str, BlockGraph], macro: Mapping[str, Any] = DEFAULT_MACRO
                  ) -> list[Any]:  # fmt: skip
    from nas.graph.cost import validate

    try:
        return list(validate(_spec(blocks, macro)))
    except (ValueError, StopIteration) as e:
        return [f"the block file is incomplete: {e}"]


def file_hash(blocks: Mapping[str, BlockGraph], macro: Mapping[str, Any] = DEFAULT_MACRO) -> str:
    from nas.graph.spec import arch_hash

    return str(arch_hash(_spec(blocks, macro)))


def _validate_base(g: BlockGraph) -> list[Any]:
    from nas.graph.validate import validate_block

    return list(validate_block(g))


class NaderStrategy(BaseStrategy):
    """NADER's agent team behind ask/tell.

    ``base``: seed name or block file path. ``pool``: knowledge (default: built-in).
    ``experience``: an experience pool (default: in memory). ``llm``: an LLMClient, or None
    for the offline rule-based designer. ``recipe`` is copied into every candidate with the
    skeleton under ``recipe["skeleton"]``; ``max_params``/``max_flops`` (0 = none) make a
    width search fit each design to the budget. ``rng``: the numpy generator (default:
    seeded with ``seed``). Tree events come out of :meth:`pop_events`.
    """

    name = "nader"

    def __init__(
        self,
        base: str = "resnet_basic",
        *,
        pool: KnowledgePool | None = None,
        experience: ExperiencePoolLike | None = None,
        llm: Any = None,
        seed: int = 0,
        dfs_ratio: float = NaderConfig.dfs_ratio,
        retries: int = NaderConfig.modifier_retries,
        repair_temperature: float | None = NaderConfig.repair_temperature,
        context_tokens: int | None = None,
        answer: str = NaderConfig.answer,
        answer_version: int = NaderConfig.answer_version,
        block_reask: str = NaderConfig.block_reask,
        reask_temperature: float | None = NaderConfig.reask_temperature,
        max_calls_per_design: int = NaderConfig.max_calls_per_design,
        max_tokens_per_design: int = NaderConfig.max_tokens_per_design,
        think: bool = NaderConfig.think,
        change_first: bool = NaderConfig.change_first,
        experiences_k: int = NaderConfig.experiences_k,
        sample_size: int = 6,
        recipe: Mapping[str, Any] | None = None,
        macro: Mapping[str, Any] | None = None,
        max_params: float = 0.0,
        max_flops: float = 0.0,
        rng: np.random.Generator | int | None = None,
        answer_limits: AnswerLimits = NaderConfig.answer_limits,
    ) -> None:
        super().__init__(rng=as_generator(seed if rng is None else rng), recipe=recipe, seed=seed)
        self.pyrng = GeneratorRandom(self.rng)
        self.llm = llm
        self.pool = pool or KnowledgePool.builtin()
        self.experience = experience if experience is not None else MemoryExperiencePool()
        self.reflector = Reflector(self.experience, llm, k=experiences_k)
        self.proposer = Proposer(self.pool, self.pyrng, llm, self.reflector, dfs_ratio, sample_size)
        self.macro = dict(macro or DEFAULT_MACRO)
        self.modifier = Modifier(
            llm, base_checker(self.macro), lambda b: validate_file(b, self.macro), retries,
            skeleton=str(self.macro.get("kind", "stages")),
            repair_temperature=repair_temperature, context_tokens=context_tokens,
            answer=answer, answer_version=answer_version, reask_temperature=reask_temperature,
            block_reask=block_reask,
            max_calls=max_calls_per_design,
            max_design_tokens=max_tokens_per_design, think=think, change_first=change_first,
            answer_limits=answer_limits,
        )  # fmt: skip
        self.designer = RuleBasedDesigner(_validate_base)
        self.recipe = dict(recipe or {})
        self.max_params = max_params
        self.max_flops = max_flops
        self.answer_limits = answer_limits
        self._seed_cost: Cost | None = None  # the seed network's cost, once needed
        self.experiences_k = experiences_k
        self.base_blocks = block_file(base)
        self.tree = ModificationTree()
        self.stopped = ""  # why asking stopped (budget), "" while running
        self._hashes: dict[str, str] = {}  # arch hash -> candidate id
        self._asked: dict[str, Candidate] = {}
        self._decided: list[tuple[Candidate, TrialRecord]] = []
        self.agent = "modifier" if llm is not None else DESIGNER_NAME
        self._steps = 0  # proposal steps made (names the llm_calls rows' step)
        self._att: Attribution | None = None  # the LLM attribution of the step in progress
        self._pick = ("", "")  # (dfs|bfs, ranking outcome) of the step in progress
        self._llm_costs: dict[str, tuple[int, int, float]] = {}
        self._lessons: list[_Lesson] = []  # told results awaiting LLM reflection
        self.rebuild_orphans = 0  # rebuild(): stored candidates whose parent was missing

    # ------------------------------------------------------------------ helpers
    def _tree_event(self, node: TreeNode) -> None:
        self._event(TREE_EVENT, node.payload())

    @property
    def llm_cost_usd(self) -> float:
        """Dollars of this strategy's LLM calls in the run (its budget resumes from the
        store's ``llm_calls``; 0 offline)."""
        return float(self.llm.usage.cost_usd) if self.llm is not None else 0.0

    def _candidate(
        self, blocks: Mapping[str, BlockGraph], parent: str | None, origin: Origin
    ) -> Candidate:
        skeleton = dict(self.macro)
        if self.max_params or self.max_flops:
            from nas.graph.cost import fit_width

            width, _ = fit_width(
                _spec(blocks, self.macro), self.max_params or None, self.max_flops or None
            )
            skeleton = {**skeleton, "width": width, "widths": ()}
        skeleton = {k: list(v) if isinstance(v, tuple) else v for k, v in skeleton.items()}
        spec_macro: dict[str, Any] = dict(self.macro)
        spec_macro.update({k: skeleton[k] for k in ("width", "widths") if k in skeleton})
        return Candidate(
            arch_kind="block",
            arch=serialize(blocks),
            arch_hash=file_hash(blocks, spec_macro),
            recipe={**self.recipe, "skeleton": skeleton},
            seed=self.seed,
            parents=(parent,) if parent else (),
            origin=origin,
        ).validate()

    def _oversize(self, blocks: Mapping[str, BlockGraph]) -> str:
        """Why a valid design is too big to train ("" when it is not): without an explicit
        ``budget.max_params``/``max_flops``, at most ``answer_limits.max_size_factor`` times
        the seed network's params and MACs (an answer's ``out_channels=10**9`` is refused
        here, not at allocation)."""
        factor = self.answer_limits.max_size_factor
        if self.max_params or self.max_flops or factor <= 0:
            return ""
        if self._seed_cost is None:
            self._seed_cost = spec_cost(_spec(self.base_blocks, self.macro))
        seed, c = self._seed_cost, spec_cost(_spec(blocks, self.macro))
        for what, have, base in (("parameters", c.params, seed.params),
                                 ("MACs", c.macs, seed.macs)):  # fmt: skip
            if base and have > factor * base:
                return (
                    f"the design has {have:,} {what}, over {factor:g} times the seed's "
                    f"{base:,} (strategy.nader.answer_limits.max_size_factor; or set "
                    "budget.max_params/max_flops): shrink its widths"
                )
        return ""

    def _decide(self, cand: Candidate, state: TrialState, error: str, res: ModifyResult | None,
                parent: TreeNode | None, suggestion: str) -> None:  # fmt: skip
        now = time.time()
        att = self._att
        cost = TrialCost(  # every request of the step when attributed, else the Modifier's
            llm_tokens_in=att.tokens_in if att is not None else (res.tokens_in if res else 0),
            llm_tokens_out=att.tokens_out if att is not None else (res.tokens_out if res else 0),
            llm_cost_usd=att.cost_usd if att is not None else (res.cost_usd if res else 0.0),
        )
        rec = TrialRecord(cand.id, state, cost=cost, error=error, evaluator=PRE_DECIDED,
                          started_at=now, finished_at=now)  # fmt: skip
        self._decided.append((cand, rec))
        if cand.id not in self.tree.nodes and parent is not None:
            node = self.tree.add(
                TreeNode(
                    cand.id,
                    parent.id,
                    suggestion,
                    state.value,
                    None,
                    0,
                    cand.origin.agent,
                    cand.arch,
                    how=self._pick[0],
                    ranking=self._pick[1],
                )
            )
            self._tree_event(node)

    # ------------------------------------------------------------------ protocol
    def ask(self, n: int) -> list[Candidate]:
        out: list[Candidate] = []
        if self.stopped:
            return out
        if self.tree.root_id is None:
            root = self._candidate(self.base_blocks, None, Origin("nader", "seed", "", ""))
            self._hashes[root.arch_hash] = root.id
            node = self.tree.add(TreeNode(root.id, None, "", "PENDING", None, 0, "seed",
                                          root.arch))  # fmt: skip
            self._tree_event(node)
            self._asked[root.id] = root
            out.append(root)
        attempts = 0
        try:
            while len(out) < n and attempts < 4 * n + 4:
                attempts += 1
                cand = self._one()
                if cand is None:
                    if not self.proposer.pool.items:
                        break
                    continue
                out.append(cand)
        except BudgetExceeded as e:
            self.stopped = str(e)
        return out

    def _one(self) -> Candidate | None:
        if self.llm is None:
            return self._step()
        self._steps += 1
        # every request of the step (proposer, modifier, reflector, embeddings) is written
        # naming the candidate it produced (or the INVALID/DUPLICATE record of the attempt)
        step = self._steps
        with self.llm.scope(f"nader-{self.seed}-{len(self.tree)}-{step}") as att:
            self._att = att
            try:
                return self._step()
            finally:
                self._att = None
                self._step_done(step, att)

    def _step_done(self, step: int, att: Attribution) -> None:
        """The step's LLM cost, for :meth:`llm_cost_of` and (as a ``nader_step`` event) for
        :meth:`rebuild`: the step count and the cost of candidates asked before a restart."""
        cid = att.candidate_id
        cost = (att.tokens_in, att.tokens_out, att.cost_usd)
        if cid in self._asked:
            self._llm_costs[cid] = cost
        self._event(STEP_EVENT, {"step": step, "candidate_id": cid, "tokens_in": cost[0],
                                 "tokens_out": cost[1], "cost_usd": cost[2]})  # fmt: skip

    def _reflect(self, lesson: _Lesson) -> None:
        node = self.tree.nodes[lesson.candidate_id]
        parent_text = self.tree.nodes[node.parent_id].blocks_text if node.parent_id else ""
        self.reflector.on_result(lesson.suggestion, lesson.parent_acc, lesson.acc, parent_text,
                                 node.blocks_text, lesson.candidate_id, state=lesson.state,
                                 error=lesson.error)  # fmt: skip
        if self.llm is not None:  # a restore from here on does not reflect it again
            self._event(REFLECTED_EVENT, {"candidate_id": lesson.candidate_id})

    def _step(self) -> Candidate | None:
        while self._lessons:  # research reflection on results told since the last step
            self._reflect(self._lessons.pop(0))
        prop = self.proposer.propose(self.tree)
        if prop is None:
            return None
        parent, insp = prop.node, prop.inspiration
        self._pick = (prop.how, prop.ranked_by)
        parent_blocks = parse_blocks(parent.blocks_text)
        base = next(g for g in parent_blocks.values() if g.role is BlockRole.BASE)
        if self.llm is None:
            return self._offline(parent, parent_blocks, base, insp)
        k = self.experiences_k
        res = self.modifier.modify(
            parent_blocks, insp.text, self.reflector.retrieve(insp.text, "develop", k, "base"),
            research=self.reflector.retrieve(insp.text, "research", k),
            derive_experiences=self.reflector.retrieve(insp.text, "develop", k, "derive"),
        )  # fmt: skip
        fixed = "fixed by the code: " + "; ".join(res.fixes) if res.fixes else ""
        ranked = "" if prop.ranked_by == "llm" else prop.ranked_by
        fallback = "; ".join(x for x in (ranked, res.fallback, fixed, *res.notes) if x)
        prompt = (
            res.prompt or load_prompt(self.modifier.prompt_id, self.modifier.prompt_version).ref
        )
        origin = Origin("nader", "modifier", insp.ref, prompt, fallback)
        if res.status != "ok" and res.unanswered:
            # the endpoint gave no answer: not a design of the model, so no INVALID row; the
            # parent's tree event keeps the idea used (for rebuild) and llm_calls the failures
            # (llm.unreachable_stop_after of them in a row stop the run before this)
            log.warning("nader step %d: the LLM endpoint did not answer %d of the design's "
                        "calls (%s): no candidate recorded for %s", self._steps,
                        res.unanswered, res.call_errors[-1][:200], insp.ref)  # fmt: skip
            self._tree_event(parent)
            return None
        if res.status != "ok" or res.blocks is None:
            # an invalid design is still a candidate record: its text is the last answer
            text = res.first_invalid.strip() or "(no block produced)"
            attempt = str(len(self.tree.nodes))  # distinct per attempt, equal on rebuild
            h = content_hash(parent.id, insp.ref, attempt, text, length=20)
            bad = Candidate("block", text, f"invalid-{h}", {**self.recipe}, self.seed,
                            (parent.id,), origin)  # fmt: skip
            if self._att is not None:
                self._att.candidate_id = bad.id
            errs = res.errors + res.call_errors
            why = " | ".join(errs + res.notes)[:2000]  # the row also says what was re-asked
            try:  # the Reflector first, so the decided record carries its tokens too
                self.reflector.on_invalid(text, errs, None, insp.text, bad.id, res.first_role)
            finally:  # and decided even if its call hits the LLM budget: one row per attempt
                self._decide(bad, TrialState.INVALID,
                             f"no valid block after {res.turns} turns: {why}",
                             res, parent, insp.ref)  # fmt: skip
            return None
        cand = self._candidate(res.blocks, parent.id, origin)
        if self._att is not None:
            self._att.candidate_id = cand.id
        too_big = self._oversize(res.blocks)
        if too_big:
            self._decide(cand, TrialState.INVALID, too_big, res, parent, insp.ref)
            return None
        if res.repaired:
            self.reflector.on_invalid(res.first_invalid, res.errors, res.text, insp.text, cand.id,
                                      res.first_role)  # fmt: skip
        return self._admit(cand, res, parent, insp)

    def _offline(self, parent: TreeNode, blocks: dict[str, BlockGraph], base: BlockGraph,
                 insp: Inspiration) -> Candidate | None:  # fmt: skip
        got = self.designer.design(base, insp.text, self.pyrng, insp.transform)
        origin = Origin("nader", DESIGNER_NAME, insp.ref, f"{DESIGNER_NAME}@1")
        if got is None:
            # no candidate record will say that this idea was tried on this node: the tree
            # event of the parent (with its ``used`` list) does, for rebuild()
            self._tree_event(parent)
            return None
        new_base, tname = got
        stem = next(g for g in blocks.values() if g.role is BlockRole.STEM)
        down = next(g for g in blocks.values() if g.role is BlockRole.DOWNSAMPLE)
        f = normalize_file(new_base, stem, down)
        origin = Origin("nader", DESIGNER_NAME, f"{insp.ref} [rule: {tname}]",
                        f"{DESIGNER_NAME}@1")  # fmt: skip
        return self._admit(self._candidate(f, parent.id, origin), None, parent, insp)

    def _admit(self, cand: Candidate, res: ModifyResult | None, parent: TreeNode,
               insp: Inspiration) -> Candidate | None:  # fmt: skip
        if cand.arch_hash in self._hashes or cand.id in self.tree.nodes:
            original = self._hashes.get(cand.arch_hash, cand.id)
            # a distinct record id: the same design reached again from another parent
            cand = replace(cand, recipe={**cand.recipe, "duplicate_of": original,
                                         "parent": parent.id,
                                         "attempt": len(self.tree.nodes)})  # fmt: skip
            if self._att is not None:
                self._att.candidate_id = cand.id
            self._decide(
                cand, TrialState.DUPLICATE,
                f"isomorphic to candidate {self._hashes.get(cand.arch_hash, cand.id)}",
                res, parent, insp.ref,
            )  # fmt: skip
            return None
        self._hashes[cand.arch_hash] = cand.id
        node = self.tree.add(TreeNode(cand.id, parent.id, insp.ref, "PENDING", None, 0,
                                      cand.origin.agent, cand.arch, how=self._pick[0],
                                      ranking=self._pick[1]))  # fmt: skip
        self._tree_event(node)
        self._asked[cand.id] = cand
        return cand

    def llm_cost_of(self, candidate_id: str) -> tuple[int, int, float]:
        """``(tokens_in, tokens_out, usd)`` of every LLM request of the step that produced
        asked candidate ``candidate_id`` (0s for the seed and offline designs): the
        controller's recorder adds it to the candidate's trial record, so the trials' token
        sums equal ``llm_calls``'. Restored by :meth:`rebuild` from the ``nader_step``
        events, so a candidate asked before a restart still carries its step's cost."""
        return self._llm_costs.get(candidate_id, (0, 0, 0.0))

    def tell(self, results: Sequence[Result | TrialRecord]) -> None:
        """Learn from results of asked candidates: pairs, or bare records of asked ones."""
        for item in results:
            if isinstance(item, TrialRecord):
                rec = item
                if rec.evaluator == PRE_DECIDED:
                    continue
                found = self._asked.get(rec.candidate_id)
                if found is None:
                    raise CallOrderError(
                        f"tell() for candidate {rec.candidate_id} that was never asked "
                        "(nader: call ask() first, or rebuild() to resume from history)"
                    )
                cand = found
            else:
                cand, rec = item
                if rec.evaluator == PRE_DECIDED:
                    continue  # a pre-decided record told back by the controller: already known
                if cand.id not in self._asked:
                    raise CallOrderError(
                        f"tell() for candidate {cand.id} that was never asked "
                        "(nader: call ask() first, or rebuild() to resume from history)"
                    )
            if self.tree.nodes[cand.id].state != "PENDING":
                raise CallOrderError(f"tell(): candidate {cand.id} was already told (nader)")
            rec = self._view(rec)  # a pruned/partial result: PRUNED, no metrics, not reflected
            node = self.tree.update(cand.id, rec.state.value, rec.val_acc)
            self._tree_event(node)
            if node.parent_id is not None and rec.state in _REFLECTED:
                parent = self.tree.nodes[node.parent_id]
                lesson = _Lesson(node.suggestion, parent.val_acc, rec.val_acc, cand.id,
                                 rec.state.value, rec.error or "")  # fmt: skip
                if self.llm is None:
                    self._reflect(lesson)
                else:  # reflected at the start of the next step: its rows, its trial's cost
                    self._lessons.append(lesson)
                    self._event(LESSON_EVENT, lesson.payload())  # rebuild() re-queues it

    # ------------------------------------------------------------------ resume
    def rebuild(
        self,
        history: Sequence[Result],
        pending: Sequence[Candidate] = (),
        events: Sequence[Event] = (),
        *,
        tree_events: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Reconstruct the search state of a fresh strategy from stored results (see the
        module docstring for what is and is not reconstructed).

        ``history``: stored ``(Candidate, TrialRecord)`` pairs (evaluated and pre-decided,
        any order; a later record of a candidate replaces an earlier one). ``tree_events``:
        the run's ``events`` rows of kind ``tree_node`` (or their decoded payloads), in
        stored order; ``events``: the same as ``(kind, payload)`` pairs (what the controller
        passes). ``pending``: candidates asked but not told yet (they are re-admitted
        as PENDING nodes so that their results can be told). Nothing is emitted."""
        if self.tree.root_id is not None or self._asked or self._decided:
            raise CallOrderError(
                "rebuild() needs a fresh nader strategy; this one has already asked"
            )
        cands: dict[str, Candidate] = {}
        recs: dict[str, TrialRecord | None] = {}
        for cand, rec in history:
            cands[cand.id] = cand
            recs[cand.id] = self._view(rec)
        for cand in pending:
            if cand.id not in cands:
                cands[cand.id] = cand
                recs[cand.id] = None
        payloads = [_payload(e) for e in tree_events]
        payloads += [dict(p) for k, p in events if k == TREE_EVENT]
        first: dict[str, int] = {}
        used: dict[str, set[str]] = {}
        picks: dict[str, tuple[str, str]] = {}  # how the step that made each node picked
        for i, p in enumerate(payloads):
            if p is None:
                continue
            cid = str(p.get("candidate_id"))
            first.setdefault(cid, i)
            used.setdefault(cid, set()).update(str(u) for u in p.get("used") or ())
            picks[cid] = (str(p.get("how") or ""), str(p.get("ranking") or ""))
        order = sorted(cands, key=lambda c: (first.get(c, len(payloads)), cands[c].created_at))
        todo = list(order)
        while todo:
            progressed = False
            for cid in list(todo):
                cand = cands[cid]
                parent = cand.parents[0] if cand.parents else None
                if parent is not None and parent not in self.tree.nodes:
                    continue
                if parent is None and self.tree.root_id is not None:
                    todo.remove(cid)  # a second root cannot be part of this tree
                    progressed = True
                    continue
                self._replay_node(cand, recs[cid], parent)
                todo.remove(cid)
                progressed = True
            if not progressed:
                break  # orphans: their parent was never stored
        self.rebuild_orphans = len(todo)
        for cid, ids in used.items():
            if cid in self.tree.nodes:
                self.tree.nodes[cid].used |= ids
        for cid, (how, ranking) in picks.items():
            if cid in self.tree.nodes:
                self.tree.nodes[cid].how, self.tree.nodes[cid].ranking = how, ranking
        self._rebuild_steps(events)

    def _rebuild_steps(self, events: Sequence[Event]) -> None:
        """The LLM steps' state from the stored events: the step count (the next step's
        name), each asked candidate's step cost (:meth:`llm_cost_of`) and the told results
        whose research reflection was deferred to a step that never ran (they are reflected
        at the start of the next step, as in the run that stored them)."""
        lessons: dict[str, _Lesson] = {}
        for kind, p in events:
            if kind == STEP_EVENT:
                self._steps = max(self._steps, int(p["step"]))
                cid = str(p.get("candidate_id") or "")
                if cid in self._asked:
                    self._llm_costs[cid] = (int(p["tokens_in"]), int(p["tokens_out"]),
                                            float(p["cost_usd"]))  # fmt: skip
            elif kind == LESSON_EVENT:
                lesson = _Lesson.from_payload(p)
                lessons[lesson.candidate_id] = lesson
            elif kind == REFLECTED_EVENT:
                lessons.pop(str(p["candidate_id"]), None)
        self._lessons = [x for x in lessons.values() if x.candidate_id in self.tree.nodes]

    def _replay_node(self, cand: Candidate, rec: TrialRecord | None, parent: str | None) -> None:
        suggestion = _RULE_SUFFIX.sub("", cand.origin.suggestion)
        decided = rec is not None and rec.evaluator == PRE_DECIDED
        state = rec.state.value if rec is not None else "PENDING"
        acc = rec.val_acc if rec is not None and not decided else None
        self.tree.add(TreeNode(cand.id, parent, suggestion if parent else "", state, acc, 0,
                               cand.origin.agent, cand.arch))  # fmt: skip
        if parent is not None and suggestion:
            self.tree.nodes[parent].used.add(suggestion.split(": ", 1)[0])
        if not decided:
            self._hashes[cand.arch_hash] = cand.id
            self._asked[cand.id] = cand

    def state_summary(self) -> dict[str, Any]:
        """The learned state as plain data: the tree (insertion order, with used
        inspirations), the seen hashes and the asked candidates."""
        return {
            "name": self.name,
            "asked": sorted(self._asked),
            "hashes": sorted(self._hashes.items()),
            "tree": [
                {
                    **n.payload(),
                    "children": list(n.children),
                    "used": sorted(n.used),
                    "blocks_hash": content_hash(n.blocks_text),
                }
                for n in self.tree.nodes.values()
            ],
        }


@dataclass(frozen=True)
class _Lesson:
    """A told result awaiting the Reflector's research reflection (the texts of the child
    and its parent come from the tree when it runs)."""

    suggestion: str
    parent_acc: float | None
    acc: float | None
    candidate_id: str
    state: str
    error: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> _Lesson:
        return cls(str(p["suggestion"]), p.get("parent_acc"), p.get("acc"),
                   str(p["candidate_id"]), str(p["state"]), str(p.get("error") or ""))  # fmt: skip


def _payload(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``tree_node`` payload from an events row (or a payload dict); None for other rows."""
    if "candidate_id" in event:
        return dict(event)
    if event.get("kind") != TREE_EVENT:
        return None
    raw = event.get("payload")
    out = json.loads(raw) if isinstance(raw, str) else raw
    return dict(out) if isinstance(out, Mapping) else None
