"""The run this process works on, so that Ctrl-C can name it and the resume command.

Commands that run a controller in the foreground (``demo``, ``controller``, ``launch``/
``resume`` in-process) call :func:`note_run` once the run directory exists; the CLI's
top-level handler reads :func:`current` when interrupted.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["current", "note_run"]

_CURRENT: list[tuple[str, str]] = []


def note_run(run_dir: str | Path) -> None:
    """Remember ``run_dir`` (``<runs root>/<run id>``) as this process's run."""
    p = Path(run_dir).resolve()
    _CURRENT[:] = [(p.name, str(p.parent))]


def current() -> tuple[str, str] | None:
    """(run id, runs root) of the run noted last, or None."""
    return _CURRENT[0] if _CURRENT else None
