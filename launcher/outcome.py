"""Whether a finished controller run produced anything: ``demo``, ``controller`` (and so
``launch``/``resume`` in the foreground) exit 1 when candidates were evaluated but none
completed, with the top failure kinds on stderr instead of a leaderboard of failures."""

from __future__ import annotations

from typing import Any

__all__ = ["no_complete_message"]


def no_complete_message(paths: Any, state: Any, reason: str) -> str:
    """ "" when the run has a complete candidate or was stopped early (interrupted,
    cancelled: it may be resumed); else the lines to print on stderr before exiting 1 (also
    for a run stopped as ``llm_unreachable``: the reason says how to go on)."""
    from launcher.commands.status import failure_lines
    from nas.controller.controller import LLM_UNREACHABLE

    done = state.with_result()
    if reason.startswith(LLM_UNREACHABLE):  # resumable, but only once the user acts
        return f"archlab: run {paths.run_id} stopped: {reason}"
    if reason.startswith(("interrupted", "cancelled")):  # stopped early: resumable, not failed
        return ""
    if any(e.result and e.result.get("state") == "COMPLETE" for e in done):
        return ""
    lines = [
        f"archlab: no candidate of run {paths.run_id} completed "
        f"({len(done)} evaluated, stop: {reason})",
        *(ln.replace("failures:   ", "  failures: ", 1) for ln in failure_lines(paths)),
        f"  details: archlab sql {paths.run_id} --query failures_by_kind "
        f"--runs-root {paths.run_dir.parent}",
    ]
    return "\n".join(lines)
