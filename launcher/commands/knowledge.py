"""``archlab knowledge build SOURCES... -o POOL``: NADER's Reader over local sources.

Sources: corpus files or folders (JSONL/JSON papers ``{id, title, abstract, text}``, arXiv
metadata dumps, Markdown/text papers, arXiv API ``.xml`` responses) and pool files (NADER's
published ``inspirations_*.json``, a pool JSONL), merged into one pool JSONL that
``strategy.nader.knowledge=POOL`` reads. With ``--base-url`` (or a config's ``llm.base_url``)
an LLM filters papers by title and abstract and extracts inspirations from the method
section (every call accounted; ``--cassette`` records or replays them); without one a
keyword filter and sentence extraction stand in, and the command says so.

Exit codes: 0 pool written, 1 nothing usable found, 2 usage or unreadable input.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from nas.llm.config import LLMConfig

if TYPE_CHECKING:
    from nas.llm.client import LLMClient


def _llm(args: argparse.Namespace) -> LLMClient | None:
    """The reader's client, from the composition root (temperature 0 and seed 0: the
    extraction is meant to be repeatable)."""
    from launcher.build import build_llm

    return build_llm(LLMConfig(base_url=args.base_url, model=args.model,
                               api_key_env=args.api_key_env, mode=args.mode,
                               cassette=args.cassette, temperature=0.0, seed=0))  # fmt: skip


def _build(args: argparse.Namespace) -> int:
    from nas.agents.reader import build_knowledge

    try:
        llm = _llm(args)
        pool, report = build_knowledge(args.sources, llm, args.max_per_paper)
    except (FileNotFoundError, ValueError) as e:  # ConfigError is a ValueError
        print(f"archlab knowledge build: {e}")
        return 2
    if llm is None:
        print(
            "no LLM endpoint (--base-url): papers are filtered by keywords and inspirations "
            "are method-section sentences; pool files are imported as they are"
        )
    if not len(pool):
        print("no inspiration found in " + ", ".join(args.sources))
        return 1
    pool.save(args.output)
    payload = {
        "output": args.output,
        "inspirations": len(pool),
        "reader": report.reader,
        "papers": report.papers,
        "relevant": report.relevant,
        "extracted": report.extracted,
        "imported": report.imported,
        "duplicates": report.duplicates,
        "llm_tokens": llm.usage.tokens if llm is not None else 0,
    }
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(f"{args.output}: {report.summary()}")
        print(f"use it with: strategy.nader.knowledge={args.output}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "knowledge",
        help="build NADER knowledge pools (inspirations) from papers and pool files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ksub = p.add_subparsers(dest="knowledge_command", metavar="SUBCOMMAND")
    q = ksub.add_parser("build", help="read SOURCES into one pool JSONL", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    q.add_argument("sources", nargs="+", help="corpus/pool files or folders")
    q.add_argument("-o", "--output", required=True, help="pool file to write (.jsonl)")
    q.add_argument("--base-url", default="", help="OpenAI-compatible endpoint (empty: offline)")
    q.add_argument("--model", default=LLMConfig.model, help="chat model name at the endpoint")
    q.add_argument("--api-key-env", default=LLMConfig.api_key_env, help="env var holding the key")
    q.add_argument("--mode", choices=("live", "record", "replay"), default="live")
    q.add_argument("--cassette", default="", help="cassette file for record/replay")
    q.add_argument("--max-per-paper", type=int, default=5, help="inspirations per paper")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_build)

    def _help(_: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
