"""``archlab bench nad``: the CLI of the NAD benchmark (:mod:`nas.agents.nad_bench`).

The LLM clients come from the composition root (:func:`launcher.build.build_llm`, from an
``llm`` section built of the flags); the benchmark itself takes them as arguments.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from nas.agents.config import ANSWER_FORMS, ANSWER_VERSIONS, BLOCK_REASKS, NaderConfig
from nas.llm.config import LLMConfig

__all__ = ["register_nad"]


def _main(args: argparse.Namespace) -> int:
    """``archlab bench nad``: clients from the composition root, then the NAD bench."""
    from launcher.build import build_llm
    from launcher.config import ConfigError
    from nas.agents.nad_bench import (
        SEEDS,
        TaskResult,
        UsedCassette,
        parse_tasks,
        run_bench,
        stamp_cassette,
    )

    llm = fill = None
    if args.mode in ("live", "record") and not args.base_url:
        raise ConfigError(f"--mode {args.mode} needs --base-url (an OpenAI-compatible endpoint)")
    if args.mode != "offline":
        lc = LLMConfig(base_url=args.base_url, model=args.model, temperature=args.temperature,
                       seed=0, timeout_s=args.timeout, max_retries=args.http_retries,
                       mode="replay" if args.mode == "fill" else args.mode,
                       cassette=args.cassette)  # fmt: skip
        if args.mode == "fill":  # one cassette: replayed where it holds the task, else recorded
            cassette = UsedCassette(args.cassette)
            llm = build_llm(lc, cassette=cassette)
            fill = build_llm(replace(lc, mode="record"), cassette=cassette)
        else:
            llm = build_llm(lc)
    seeds = tuple(args.seeds.split(",")) if args.seeds else SEEDS
    tasks = parse_tasks(args.tasks) if args.tasks else ()
    rows: list[dict[str, Any]] = []

    def progress(r: TaskResult) -> None:
        rows.append(asdict(r))
        print(f"[nad] {r.seed}/{r.transform}/{r.level}: executable={r.executable} "
              f"quality={r.quality} asked={r.asked} turns={r.turns} tokens={r.tokens_in}+{r.tokens_out} "
              f"{r.seconds:.0f}s {r.error[:160]}", flush=True)  # fmt: skip
        if args.json:
            Path(args.json).write_text(json.dumps({"partial": True, "tasks": rows}, indent=1))

    report = run_bench(llm, seeds=seeds, retries=args.retries, reflect=not args.no_reflector,
                       tasks=tasks, max_tokens=args.max_tokens or None,
                       repair_temperature=args.repair_temperature,
                       context_tokens=args.context or None, fill_llm=fill,
                       progress=progress, answer=args.answer,
                       answer_version=args.answer_version, block_reask=args.block_reask,
                       think=args.think, change_first=args.change_first,
                       max_calls_per_design=args.max_calls_per_design,
                       max_tokens_per_design=args.max_tokens_per_design)  # fmt: skip
    if args.mode == "fill" and llm is not None and isinstance(llm.cassette, UsedCassette):
        print(f"[nad] fill: dropped {llm.cassette.prune()} stale exchanges", flush=True)
    md = report.to_markdown() + ("\n" + report.tasks_markdown() if tasks else "")
    print(md)
    settings = {
        "model": args.model, "base_url": args.base_url, "temperature": args.temperature,
        "repair_temperature": args.repair_temperature, "max_tokens": args.max_tokens,
        "timeout_s": args.timeout, "retries": args.retries, "seed": 0,
        "tasks": [list(t) for t in tasks], "reflector": not args.no_reflector,
        "context_tokens": args.context or None, "answer": args.answer,
        "answer_version": args.answer_version, "block_reask": args.block_reask,
        "think": args.think, "change_first": args.change_first,
        "max_calls_per_design": args.max_calls_per_design,
        "max_tokens_per_design": args.max_tokens_per_design,
    }  # fmt: skip
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(md)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"settings": settings, "summary": report.summary(),
                        "tasks": [asdict(r) for r in report.results]}, indent=1) + "\n",
            encoding="utf-8",
        )  # fmt: skip
    if args.mode in ("record", "fill") and args.cassette:
        stamp_cassette(args.cassette, {**settings, "note": args.note})
    return 0


def register_nad(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``nad`` to an argparse subparsers object (``archlab bench nad``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "nad", help="NAD benchmark: Modifier (+Reflector) on seed blocks"
    )
    p.add_argument(
        "--mode",
        choices=("offline", "replay", "record", "live", "fill"),
        default="offline",
        help="fill: replay the cassette, re-record live the tasks it does not hold",
    )
    p.add_argument("--cassette", default="", help="cassette file (replay/record)")
    p.add_argument("--base-url", default="", help="OpenAI-compatible endpoint (live/record)")
    p.add_argument("--model", default=LLMConfig.model)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seeds", default="", help="comma-separated seed blocks (default: all 5)")
    p.add_argument("--retries", type=int, default=3, help="repair turns per step")
    p.add_argument("--no-reflector", action="store_true")
    p.add_argument("--out", default="", help="write the markdown report here")
    p.add_argument("--json", default="", help="write per-task rows + summary here (as they come)")
    p.add_argument(
        "--tasks", default="", help="seed:transform:level,... or 'real5' (one task per seed block)"
    )
    p.add_argument("--timeout", type=float, default=LLMConfig.timeout_s,
                   help="read timeout per call, s")  # fmt: skip
    p.add_argument("--http-retries", type=int, default=LLMConfig.max_retries,
                   help="HTTP retries per call")  # fmt: skip
    p.add_argument("--max-tokens", type=int, default=0, help="answer cap per call (0 = none)")
    p.add_argument(
        "--repair-temperature",
        type=float,
        default=None,
        help="temperature of repair turns (default: --temperature)",
    )
    p.add_argument(
        "--context",
        type=int,
        default=0,
        help="the model's context window in tokens: prompts are reduced to fit",
    )
    p.add_argument(
        "--answer",
        choices=ANSWER_FORMS,
        default=NaderConfig.answer,
        help="the Modifier's answer form: block (the whole block, NADER) | edits (a list of "
        "edits against the seed block, held to a per-block grammar)",
    )
    p.add_argument("--answer-version", type=int, choices=ANSWER_VERSIONS,
                   default=NaderConfig.answer_version,
                   help="the edit answer's version (strategy.nader.answer_version): 2 = edits@2 "
                   "(at most 3 edits, mul gates); 1 = edits@1 and the prompt of the after-2 "
                   "measurement; 3 = edits@3, a first 'Change:' line in plain words that "
                   "holds the edits to one kind; 4 = edits@4, the kind asked first in a short "
                   "call of its own, then edits@3's answer held to that kind, one line per "
                   "new module, odd kernel sizes (block answers: the same in all)")  # fmt: skip
    p.add_argument("--block-reask", choices=BLOCK_REASKS, default=NaderConfig.block_reask,
                   help="block answers: after an invalid whole block, repair the block (block) "
                   "or ask again in the edit form of --answer-version (edits) "
                   "(strategy.nader.block_reask)")  # fmt: skip
    p.add_argument("--think", action="store_true", help="a bounded 'Plan:' line first")
    p.add_argument("--change-first", action="store_true",
                   help="edits answers: a constrained 'Change: VERB WHAT' line first, every edit "
                   "of that kind (strategy.nader.change_first)")  # fmt: skip
    p.add_argument("--max-calls-per-design", type=int, default=NaderConfig.max_calls_per_design,
                   help="Modifier calls per design (0 = no cap)")  # fmt: skip
    p.add_argument("--max-tokens-per-design", type=int, default=NaderConfig.max_tokens_per_design,
                   help="tokens per design's Modifier calls (0 = no cap)")  # fmt: skip
    p.add_argument("--note", default="", help="recorded_with.note of a recorded cassette")
    p.set_defaults(func=_main)
    return p
