"""``archlab runs``: list the runs under a runs root."""

from __future__ import annotations

import argparse

__all__ = ["register", "run_runs", "run_state"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("runs", help="list runs (id, created, progress, best, state)")
    p.add_argument("--runs-root", default="runs", help="where run directories live (default: runs)")
    p.set_defaults(func=run_runs)


def run_state(paths: object, stop: str, evaluated: int, complete: int) -> str:
    """One word or two for a run: the same liveness check as ``archlab status``."""
    from launcher.run import RunPaths, controller_state

    assert isinstance(paths, RunPaths)
    if stop:
        if evaluated and not complete:
            return f"{stop}, none complete"
        return stop
    if (paths.run_dir / "CANCEL").exists():
        return "cancelled"
    live = controller_state(paths)
    return live if live != "not running" else "crashed (archlab resume)"


def run_runs(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from launcher.config import load_config
    from launcher.run import RunPaths
    from nas.controller.progress import progress

    root = Path(args.runs_root)
    dirs = sorted(d for d in root.glob("*") if (d / "manifest.json").is_file())
    if not dirs:
        print(f"no runs under {root.resolve()}")
        return 0
    print(f"{'run':<44} {'created':<16} {'cluster':<9} {'done':>9} {'best':>7}  state")
    for d in dirs:
        paths = RunPaths(d.name, d.resolve())
        try:
            m = json.loads(paths.manifest.read_text())
            budget = load_config([paths.config]).budget.candidates
            p = progress(d, budget)
        except (OSError, ValueError, AttributeError) as e:  # ConfigError is a ValueError
            print(f"{d.name:<44} unreadable ({type(e).__name__}: {str(e).splitlines()[0][:60]})")
            continue
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(m.get("created", 0))))
        best = f"{p.best[1]:.4f}" if p.best else "-"
        state = run_state(paths, p.stop, p.evaluated, p.states.get("COMPLETE", 0))
        print(
            f"{d.name:<44} {created:<16} {m.get('cluster', '?'):<9} "
            f"{f'{p.evaluated}/{budget}':>9} {best:>7}  {state}"
        )
    return 0
