"""The ``archlab`` command line. Each command lives in ``launcher/commands/<name>.py``
and exposes ``register(subparsers)``; only commands that work are listed here."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
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
    "compact",
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
    """Parse ``argv`` and run the command; every known error is one line on stderr with the
    exit code of :func:`exit_code_of` (no traceback unless ``ARCHLAB_DEBUG=1``)."""
    parser = build_parser()
    # key=value overrides may stand anywhere, also after options (`launch C --cluster local a=1`)
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*(args.overrides or []), *extra]
        elif isinstance(getattr(args, "args", None), list) and not any(
            e.startswith("-") for e in extra
        ):  # `sql RUN --runs-root R "SELECT ..."`: positionals after options
            args.args = [*args.args, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except KeyboardInterrupt:
        # the run is stopped and named: a further Ctrl-C while Python shuts down (threads,
        # atexit) must not turn exit 130 into a death by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"archlab: interrupted{_resume_hint()}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`archlab sql ... | head`): stop quietly, and keep Python's
        # own flush at exit from failing on the closed pipe as well
        _silence_stdout()
        return 0
    except Exception as e:
        if os.environ.get("ARCHLAB_DEBUG") == "1":
            raise
        code, message = exit_code_of(e)
        print(f"archlab: {message}", file=sys.stderr)
        return code


def exit_code_of(e: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) of an error a command let through.

    2: the user's input (config, arguments, files, SQL); 1: anything else, an internal error
    (named so, with ``ARCHLAB_DEBUG=1`` for the traceback)."""
    from launcher.commands.sql import QueryError
    from launcher.config import ConfigError

    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, ConfigError):
        return 2, f"config error: {_one_line(str(e))}"
    if isinstance(e, QueryError):
        return 2, f"query error: {_one_line(str(e))}"
    if isinstance(e, OSError):
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        return 2, f"{where}{e.strerror or text}"
    if type(e).__module__.startswith(("duckdb", "_duckdb")):
        return 2, f"query error: {text}"
    if isinstance(e, UnicodeDecodeError):
        return 2, f"input is not UTF-8 text ({text})"
    if isinstance(e, json.JSONDecodeError) or type(e).__module__.startswith("yaml"):
        return (
            2,
            f"a file is not valid {'JSON' if isinstance(e, json.JSONDecodeError) else 'YAML'}: {text}",
        )
    return 1, (
        f"internal error: {type(e).__name__}: {text} "
        "(rerun with ARCHLAB_DEBUG=1 for the traceback, and report it)"
    )


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "  ".join(lines)


def _resume_hint() -> str:
    from launcher.current_run import current

    run = current()
    if run is None:
        return ""
    run_id, root = run
    rel = os.path.relpath(root)
    root = rel if not rel.startswith("..") else root
    return f"; run {run_id} stopped, continue it with: archlab resume {run_id} --runs-root {root}"


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
