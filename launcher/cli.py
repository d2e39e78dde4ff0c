"""The ``archlab`` command line. Each command lives in ``launcher/commands/<name>.py``
and exposes ``register(subparsers)``; only commands that work are listed here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from launcher import __version__

# Order = order in `archlab --help`.
COMMANDS: tuple[str, ...] = (
    "demo",
    "launch",
    "sql",
    "report",
    "best",
    "train",
    "graph",
    "controller",
    "status",
    "resume",
    "cancel",
    "runs",
    "sbatch",
    "bench",
    "knowledge",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archlab",
        description=(
            "LLM-driven neural architecture design and search on Slurm clusters "
            "(NADER, LAPT, LLMatic, random search, regularized evolution)."
        ),
        epilog="Run 'archlab COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"archlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"launcher.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from launcher.config import ConfigError

    parser = build_parser()
    # key=value overrides may stand anywhere, also after options (`launch C --cluster local a=1`)
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*(args.overrides or []), *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"archlab: config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
