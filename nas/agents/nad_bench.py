"""NAD benchmark: the Modifier (+Reflector) over (base block x suggestion) pairs.

Tasks: the five built-in seed blocks x each catalogue transformation, phrased at two
levels — *macro* (the idea, as a paper would state it) and *micro* (the concrete graph
edit). Per task: executable (a valid base + stem + downsample file came out), LLM turns,
whether a repair was needed, tokens, quality against the reference (the result differs
from the base block and contains the op kinds the transformation adds), and the stricter
"done as asked" (:func:`done_as_asked`: executable, and the change the task names is there:
new nodes of the kinds it adds, fewer of the ReLUs it swaps, a kernel it enlarges larger, a
path it adds from the block input).

Modes: ``offline`` (the rule-based designer; no LLM), ``replay`` (a cassette — what CI
runs), ``record``/``live`` (an endpoint). ``archlab bench nad --mode replay --cassette
bench/results/nad_standin_cassette.json``.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.agents.config import NaderConfig
from nas.agents.designer import CATALOGUE, DESIGNER_NAME, RuleBasedDesigner, Transformation
from nas.agents.experience import MemoryExperiencePool
from nas.agents.graph_edit import arg
from nas.agents.modifier import Modifier, ModifyResult, normalize_file
from nas.agents.nader_strategy import _validate_base, block_file, validate_file
from nas.agents.reflector import Reflector
from nas.graph.block import BlockGraph, BlockRole, Node
from nas.graph.hashing import canonical_hash
from nas.llm.cassette import Cassette, CassetteMiss

__all__ = [
    "REAL5",
    "SEEDS",
    "BenchReport",
    "TaskResult",
    "UsedCassette",
    "done_as_asked",
    "load_report",
    "parse_tasks",
    "run_bench",
    "stamp_cassette",
]

SEEDS = ("resnet_basic", "resnet_bottleneck", "inception", "convnext", "se_resnet")


@dataclass
class TaskResult:
    seed: str
    transform: str
    level: str  # macro | micro
    executable: bool
    quality: bool  # reference check passed (changed + has the added op kinds)
    turns: int
    repaired: bool
    tokens_in: int
    tokens_out: int
    error: str = ""
    seconds: float = 0.0  # wall time of the task (all its LLM calls)
    call_errors: int = 0  # LLM calls that failed (timeouts, HTTP errors) in the task
    fallback: str = ""  # what the Modifier did instead of an unusable answer
    trimmed: str = ""  # what was left out of the prompts to fit the model's context
    asked: bool = False  # executable and done as asked (the stricter check, done_as_asked)
    via: str = ""  # the prompt whose answer the design took when not the first one
    # (block_reask=edits: modifier_edits@N after an invalid whole block)
    kind: str = ""  # the kind of change the kind call named (answer version 4), else ""


@dataclass
class BenchReport:
    mode: str
    results: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0

    def _rate(self, rows: list[TaskResult], attr: str) -> float:
        return sum(bool(getattr(r, attr)) for r in rows) / len(rows) if rows else 0.0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "tasks": len(self.results)}
        for level in ("macro", "micro", "all"):
            rows = [r for r in self.results if level == "all" or r.level == level]
            toks = [r.tokens_in + r.tokens_out for r in rows]
            out[level] = {
                "executable": round(self._rate(rows, "executable"), 3),
                "quality": round(self._rate(rows, "quality"), 3),
                "asked": round(self._rate(rows, "asked"), 3),
                "repaired": round(self._rate(rows, "repaired"), 3),
                "tokens_per_task": round(sum(toks) / len(toks), 1) if toks else 0.0,
                "turns_per_task": round(sum(r.turns for r in rows) / len(rows), 2) if rows else 0,
            }
        out["seconds"] = round(self.seconds, 2)
        return out

    def tasks_markdown(self) -> str:
        """One row per task (executable, quality, repairs, tokens, seconds) and the totals."""
        lines = [
            "| seed block | transformation | level | executable | quality (reference) "
            "| done as asked | turns | repaired | failed calls | tokens in | tokens out | seconds "
            "| last errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in self.results:
            err = r.error.replace("|", "/").replace("\n", " ")[:140]
            lines.append(
                f"| {r.seed} | {r.transform}{f' (kind: {r.kind})' if r.kind else ''} | {r.level} | {'yes' if r.executable else 'no'} "
                f"| {'yes' if r.quality else 'no'} | {'yes' if r.asked else 'no'} "
                f"| {r.turns} | {'yes' if r.repaired else 'no'}{f' ({r.via})' if r.via else ''} "
                f"| {r.call_errors} | {r.tokens_in} | {r.tokens_out} | {r.seconds:.0f} | {err} |"
            )
        n = len(self.results) or 1
        tin = sum(r.tokens_in for r in self.results)
        tout = sum(r.tokens_out for r in self.results)
        secs = sum(r.seconds for r in self.results)
        lines.append(
            f"| **total** | | | {sum(r.executable for r in self.results)}/{len(self.results)} "
            f"| {sum(r.quality for r in self.results)}/{len(self.results)} "
            f"| {sum(r.asked for r in self.results)}/{len(self.results)} "
            f"| {sum(r.turns for r in self.results)} | {sum(r.repaired for r in self.results)} "
            f"| {sum(r.call_errors for r in self.results)} | {tin} | {tout} | {secs:.0f} | |"
        )
        lines.append(
            f"| **per task** | | | | | | {sum(r.turns for r in self.results) / n:.1f} | | "
            f"| {tin / n:.0f} | {tout / n:.0f} | {secs / n:.0f} | |"
        )
        return "\n".join(lines) + "\n"

    def to_markdown(self) -> str:
        s = self.summary()
        lines = [
            f"mode: **{self.mode}**, tasks: {s['tasks']}, wall: {s['seconds']} s",
            "",
            "| level | executable | quality (reference) | done as asked | needed repair "
            "| tokens/task | turns/task |",
            "|---|---|---|---|---|---|---|",
        ]
        for level in ("macro", "micro", "all"):
            v = s[level]
            lines.append(
                f"| {level} | {v['executable']:.1%} | {v['quality']:.1%} | {v['asked']:.1%} "
                f"| {v['repaired']:.1%} "
                f"| {v['tokens_per_task']} | {v['turns_per_task']} |"
            )
        lines += ["", "| seed | executable | quality |", "|---|---|---|"]
        for seed in sorted({r.seed for r in self.results}):
            rows = [r for r in self.results if r.seed == seed]
            lines.append(
                f"| {seed} | {self._rate(rows, 'executable'):.1%} | {self._rate(rows, 'quality'):.1%} |"
            )
        return "\n".join(lines) + "\n"


def load_report(path: str | Path) -> BenchReport:
    """A report from the ``--json`` file of a run (also a partial one, written as tasks end)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    names = set(TaskResult.__dataclass_fields__)
    rows = [TaskResult(**{k: v for k, v in r.items() if k in names}) for r in data["tasks"]]
    mode = str(data.get("summary", {}).get("mode", "llm:record"))
    return BenchReport(mode, rows, float(data.get("summary", {}).get("seconds", 0.0)))


def _quality(base: BlockGraph, new: BlockGraph | None, t: Transformation) -> bool:
    if new is None or canonical_hash(new) == canonical_hash(base):
        return False
    kinds = {n.kind for n in new.nodes}
    return all(k in kinds for k in t.adds)


def _int_arg(node: Node, names: tuple[str, ...]) -> int | None:
    for k, v in node.args:
        if k in names and v.strip().isdigit():
            return int(v)
    return None


_KERNEL = ("kernel_size", "kernel", "k")


def _convs_with(g: BlockGraph, names: tuple[str, ...], above: int) -> int:
    """How many Conv2d nodes of ``g`` have argument ``names`` greater than ``above``."""
    return sum(1 for n in g.nodes
               if n.kind == "conv2d" and (_int_arg(n, names) or 0) > above)  # fmt: skip


def done_as_asked(base: BlockGraph, new: BlockGraph | None, t: Transformation) -> bool:
    """Whether ``new`` carries out transformation ``t`` on ``base`` — stricter than the
    reference check, which only asks that the added op kinds be present somewhere (a block
    that had a Sigmoid passes an SE task by changing anything else): ``new`` has MORE nodes
    of each kind ``t`` adds than ``base``; an activation swap (gelu, silu) also has fewer
    ReLUs; large_kernel: a Conv2d whose kernel grew (or more convs of kernel >= 5);
    residual and parallel_branch: the block input feeds more nodes than before (the new
    path starts there); dilated_branch: more convs with dilation > 1; depthwise_separable:
    more grouped convs."""
    if new is None or canonical_hash(new) == canonical_hash(base):
        return False
    before, after = Counter(n.kind for n in base.nodes), Counter(n.kind for n in new.nodes)
    if t.name == "large_kernel":
        grown = any(
            base.has_node(n.index) and base.node(n.index).kind == "conv2d"
            and (_int_arg(n, _KERNEL) or 0) > (_int_arg(base.node(n.index), _KERNEL) or 0)
            for n in new.nodes if n.kind == "conv2d"
        )  # fmt: skip
        return grown or _convs_with(new, _KERNEL, 4) > _convs_with(base, _KERNEL, 4)
    if t.name in ("gelu", "silu"):
        return after[t.name] > before[t.name] and after["relu"] < before["relu"]
    if not all(after[k] > before[k] for k in t.adds):
        return False
    if t.name in ("residual", "parallel_branch"):
        fan = [len(set(g.consumers_of(n.index))) for g in (base, new) for n in g.input_nodes[:1]]
        return len(fan) == 2 and fan[1] > fan[0]
    if t.name == "dilated_branch":
        return _convs_with(new, ("dilation",), 1) > _convs_with(base, ("dilation",), 1)
    if t.name == "depthwise_separable":
        grouped = [sum(1 for n in g.nodes if n.kind == "conv2d"
                       and (arg(n, "groups", "1") or "1") != "1") for g in (base, new)]  # fmt: skip
        return grouped[1] > grouped[0]
    return True


Task = tuple[str, str, str]  # (seed block, transformation, level)

# The real-model plan: one task per seed block (a slow local model answers a modifier call in
# minutes), transformations and levels varied so that every seed gets a different edit.
REAL5: tuple[Task, ...] = (
    ("resnet_basic", "se_attention", "micro"),
    ("resnet_bottleneck", "gelu", "macro"),
    ("inception", "residual", "micro"),
    ("convnext", "large_kernel", "macro"),
    ("se_resnet", "parallel_branch", "micro"),
)


def parse_tasks(spec: str) -> tuple[Task, ...]:
    """``seed:transform:level,...`` or ``real5`` -> tasks; names are checked."""
    if spec.strip() == "real5":
        return REAL5
    out: list[Task] = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        parts = item.split(":")
        if len(parts) != 3:
            raise ValueError(f"--tasks item {item!r}: write seed:transform:level (or 'real5')")
        s, t, level = parts
        if s not in SEEDS or t not in CATALOGUE or level not in ("macro", "micro"):
            raise ValueError(
                f"--tasks item {item!r}: seed one of {', '.join(SEEDS)}; transform one of "
                f"{', '.join(CATALOGUE)}; level macro or micro"
            )
        out.append((s, t, level))
    return tuple(out)


def _llm_task(
    modifier: Modifier,
    reflector: Reflector | None,
    blocks: dict[str, BlockGraph],
    text: str,
    exps: list[str],
) -> tuple[ModifyResult, int, int]:
    """One task with the model: modify (+ repairs, derive), then reflect on an invalid or
    repaired design. Returns the result and the Reflector's tokens in and out."""
    res = modifier.modify(blocks, text, exps)
    r_in, r_out = (reflector.tokens_in, reflector.tokens_out) if reflector else (0, 0)
    if reflector and (res.repaired or res.status != "ok"):
        reflector.on_invalid(res.first_invalid, res.errors + res.call_errors,
                             res.text or None, text)  # fmt: skip
    if reflector:
        return res, reflector.tokens_in - r_in, reflector.tokens_out - r_out
    return res, 0, 0


def run_bench(
    llm: Any = None,
    seeds: tuple[str, ...] = SEEDS,
    levels: tuple[str, ...] = ("macro", "micro"),
    retries: int = 3,
    reflect: bool = True,
    seed: int = 0,
    tasks: tuple[Task, ...] = (),
    max_tokens: int | None = None,
    repair_temperature: float | None = None,
    progress: Callable[[TaskResult], None] | None = None,
    context_tokens: int | None = None,
    fill_llm: Any = None,
    answer: str = NaderConfig.answer,
    answer_version: int = NaderConfig.answer_version,
    block_reask: str = NaderConfig.block_reask,
    think: bool = NaderConfig.think,
    change_first: bool = NaderConfig.change_first,
    max_calls_per_design: int = NaderConfig.max_calls_per_design,
    max_tokens_per_design: int = NaderConfig.max_tokens_per_design,
) -> BenchReport:
    """Run every task (``tasks``, else every seed x transformation x level); ``llm=None``
    uses the rule-based designer. ``max_tokens`` caps each answer; ``repair_temperature``
    samples repair turns (a greedy model repeats its first answer); ``progress`` sees each
    task's result as it is done; ``context_tokens``: the model's window (prompts are reduced
    by rule to fit, :mod:`nas.prompts.fit`). ``fill_llm``: with a replaying ``llm``, a
    recording client on the same cassette that re-runs live each task whose conversation
    the cassette does not hold (prompts changed since it was recorded). ``answer``,
    ``answer_version``, ``block_reask``, ``think``, ``change_first``, ``max_calls_per_design``, ``max_tokens_per_design``: as ``strategy.nader``'s
    settings of the same names (the Modifier's answer form and a design's caps)."""
    t0 = time.perf_counter()
    mode = DESIGNER_NAME if llm is None else f"llm:{llm.mode}"
    report = BenchReport(mode)
    pool = MemoryExperiencePool()
    reflector = Reflector(pool, llm, max_tokens=max_tokens) if reflect else None
    modifier = Modifier(llm, _validate_base, validate_file, retries, max_tokens=max_tokens,
                        repair_temperature=repair_temperature,
                        context_tokens=context_tokens, answer=answer,
                        answer_version=answer_version, block_reask=block_reask,
                        think=think, change_first=change_first,
                        max_calls=max_calls_per_design,
                        max_design_tokens=max_tokens_per_design)  # fmt: skip
    designer = RuleBasedDesigner(_validate_base)
    rng = random.Random(seed)
    plan = tasks or tuple((s, t, level) for s in seeds for t in CATALOGUE for level in levels)
    for s, tname, level in plan:
        blocks = block_file(s)
        base = next(g for g in blocks.values() if g.role is BlockRole.BASE)
        t = CATALOGUE[tname]
        t1 = time.perf_counter()
        text = t.idea if level == "macro" else t.instruction
        if llm is None:
            got = designer.design(base, text, rng, t.name)
            new = got[0] if got else None
            ok = new is not None and not validate_file(
                normalize_file(new, blocks[f"{base.name}_stem"], blocks[f"{base.name}_downsample"])
            )
            report.results.append(
                TaskResult(s, t.name, level, ok, _quality(base, new, t), 0, False, 0, 0,
                           seconds=time.perf_counter() - t1,
                           asked=ok and done_as_asked(base, new, t))
            )  # fmt: skip
            continue
        exps = reflector.retrieve(text, "develop") if reflector else []
        try:
            res, r_in, r_out = _llm_task(modifier, reflector, blocks, text, exps)
        except CassetteMiss:
            if fill_llm is None:
                raise
            modifier.llm = fill_llm
            if reflector:
                reflector.llm = fill_llm
            try:
                res, r_in, r_out = _llm_task(modifier, reflector, blocks, text, exps)
            finally:
                modifier.llm = llm
                if reflector:
                    reflector.llm = llm
        new = res.blocks[base.name] if res.blocks else None
        report.results.append(
            TaskResult(s, t.name, level, res.status == "ok", _quality(base, new, t),
                       res.turns, res.repaired, res.tokens_in + r_in, res.tokens_out + r_out,
                       "; ".join(res.errors + res.call_errors)[:300] if res.status != "ok" else "",
                       time.perf_counter() - t1, len(res.call_errors), res.fallback,
                       "; ".join(res.trimmed),
                       res.status == "ok" and done_as_asked(base, new, t), res.prompt, res.kind)
        )  # fmt: skip
        if progress is not None:
            progress(report.results[-1])
    report.seconds = time.perf_counter() - t0
    return report


def stamp_cassette(path: str, meta: dict[str, Any]) -> None:
    """Write ``recorded_with`` (model, settings, machine, command) into a recorded cassette;
    the cassette reader ignores the key, a reader of the file sees who answered."""
    p = Path(path)
    if not p.exists():
        return
    data = json.loads(p.read_text(encoding="utf-8"))
    data["recorded_with"] = meta
    p.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


class UsedCassette(Cassette):
    """A cassette that remembers the keys this run replayed or recorded (``fill`` mode
    keeps only those: the exchanges of conversations that changed are dropped)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.used: set[str] = set()

    def lookup(self, key: str, describe: str = "") -> dict[str, Any]:
        got = super().lookup(key, describe)
        self.used.add(key)
        return got

    def add(self, key: str, exchange: dict[str, Any]) -> None:
        self.used.add(key)
        super().add(key, exchange)

    def prune(self) -> int:
        """Drop the exchanges this run did not use; their number."""
        stale = [k for k in self.entries if k not in self.used]
        for k in stale:
            del self.entries[k]
        self.save()
        return len(stale)
