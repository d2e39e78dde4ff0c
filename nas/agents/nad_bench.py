"""NAD benchmark: the Modifier (+Reflector) over (base block x suggestion) pairs.

Tasks: the five built-in seed blocks x each catalogue transformation, phrased at two
levels — *macro* (the idea, as a paper would state it) and *micro* (the concrete graph
edit). Per task: executable (a valid base + stem + downsample file came out), LLM turns,
whether a repair was needed, tokens, and quality against the reference: the result must
differ from the base block and contain the op kinds the transformation adds.

Modes: ``offline`` (the rule-based designer; no LLM), ``replay`` (a cassette — what CI
runs), ``record``/``live`` (an endpoint). ``archlab bench nad --mode replay --cassette
tests/fixtures/llm/nad_bench.json``.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from typing import Any

from nas.agents.designer import CATALOGUE, DESIGNER_NAME, RuleBasedDesigner, Transformation
from nas.agents.experience import MemoryExperiencePool
from nas.agents.modifier import Modifier, normalize_file
from nas.agents.nader_strategy import _validate_base, block_file, validate_file
from nas.agents.reflector import Reflector
from nas.graph.block import BlockGraph, BlockRole
from nas.graph.hashing import canonical_hash

__all__ = ["BenchReport", "TaskResult", "register_nad", "run_bench"]

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
                "repaired": round(self._rate(rows, "repaired"), 3),
                "tokens_per_task": round(sum(toks) / len(toks), 1) if toks else 0.0,
                "turns_per_task": round(sum(r.turns for r in rows) / len(rows), 2) if rows else 0,
            }
        out["seconds"] = round(self.seconds, 2)
        return out

    def to_markdown(self) -> str:
        s = self.summary()
        lines = [
            f"mode: **{self.mode}**, tasks: {s['tasks']}, wall: {s['seconds']} s",
            "",
            "| level | executable | quality (reference) | needed repair | tokens/task | turns/task |",
            "|---|---|---|---|---|---|",
        ]
        for level in ("macro", "micro", "all"):
            v = s[level]
            lines.append(
                f"| {level} | {v['executable']:.1%} | {v['quality']:.1%} | {v['repaired']:.1%} "
                f"| {v['tokens_per_task']} | {v['turns_per_task']} |"
            )
        lines += ["", "| seed | executable | quality |", "|---|---|---|"]
        for seed in sorted({r.seed for r in self.results}):
            rows = [r for r in self.results if r.seed == seed]
            lines.append(
                f"| {seed} | {self._rate(rows, 'executable'):.1%} | {self._rate(rows, 'quality'):.1%} |"
            )
        return "\n".join(lines) + "\n"


def _quality(base: BlockGraph, new: BlockGraph | None, t: Transformation) -> bool:
    if new is None or canonical_hash(new) == canonical_hash(base):
        return False
    kinds = {n.kind for n in new.nodes}
    return all(k in kinds for k in t.adds)


def run_bench(
    llm: Any = None,
    seeds: tuple[str, ...] = SEEDS,
    levels: tuple[str, ...] = ("macro", "micro"),
    retries: int = 3,
    reflect: bool = True,
    seed: int = 0,
) -> BenchReport:
    """Run every task; ``llm=None`` uses the rule-based designer."""
    t0 = time.perf_counter()
    mode = DESIGNER_NAME if llm is None else f"llm:{llm.mode}"
    report = BenchReport(mode)
    pool = MemoryExperiencePool()
    reflector = Reflector(pool, llm) if reflect else None
    modifier = Modifier(llm, _validate_base, validate_file, retries)
    designer = RuleBasedDesigner(_validate_base)
    rng = random.Random(seed)
    for s in seeds:
        blocks = block_file(s)
        base = next(g for g in blocks.values() if g.role is BlockRole.BASE)
        for t in CATALOGUE.values():
            for level in levels:
                text = t.idea if level == "macro" else t.instruction
                if llm is None:
                    got = designer.design(base, text, rng, t.name)
                    new = got[0] if got else None
                    ok = new is not None and not validate_file(
                        normalize_file(new, blocks[f"{base.name}_stem"],
                                       blocks[f"{base.name}_downsample"]))  # fmt: skip
                    report.results.append(
                        TaskResult(s, t.name, level, ok, _quality(base, new, t), 0, False, 0, 0)
                    )
                    continue  # fmt: skip
                exps = reflector.retrieve(text, "develop") if reflector else []
                res = modifier.modify(blocks, text, exps)
                new = res.blocks[base.name] if res.blocks else None
                if reflector and (res.repaired or res.status != "ok"):
                    reflector.on_invalid(res.first_invalid, res.errors + res.call_errors,
                                         res.text or None, text)  # fmt: skip
                report.results.append(
                    TaskResult(s, t.name, level, res.status == "ok", _quality(base, new, t),
                               res.turns, res.repaired, res.tokens_in, res.tokens_out,
                               "; ".join(res.errors)[:300] if res.status != "ok" else "")
                )  # fmt: skip
    report.seconds = time.perf_counter() - t0
    return report


def _main(args: argparse.Namespace) -> int:
    from nas.llm import LLMClient

    llm = None
    if args.mode != "offline":
        llm = LLMClient(args.model, base_url=args.base_url or None, mode=args.mode,
                        cassette=args.cassette or None, temperature=args.temperature,
                        seed=0)  # fmt: skip
    seeds = tuple(args.seeds.split(",")) if args.seeds else SEEDS
    report = run_bench(llm, seeds=seeds, retries=args.retries, reflect=not args.no_reflector)
    md = report.to_markdown()
    print(md)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(md)
    return 0


def register_nad(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``nad`` to an argparse subparsers object (``archlab bench nad``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "nad", help="NAD benchmark: Modifier (+Reflector) on seed blocks"
    )
    p.add_argument("--mode", choices=("offline", "replay", "record", "live"), default="offline")
    p.add_argument("--cassette", default="", help="cassette file (replay/record)")
    p.add_argument("--base-url", default="", help="OpenAI-compatible endpoint (live/record)")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seeds", default="", help="comma-separated seed blocks (default: all 5)")
    p.add_argument("--retries", type=int, default=3, help="repair turns per step")
    p.add_argument("--no-reflector", action="store_true")
    p.add_argument("--out", default="", help="write the markdown report here")
    p.set_defaults(func=_main)
    return p
