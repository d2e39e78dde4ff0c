"""``archlab demo``: the main job on an embedded default — a real, small search."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register", "run_demo"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a small real NADER search on the embedded data set (no cluster, key or download)",
        description=(
            "NADER with the offline rule-based designer (no endpoint, no key) redesigns the "
            "ResNet basic block inside a small NAS-Bench-201 skeleton; every candidate is "
            "really trained for a few epochs on scikit-learn's digits (embedded), in-process. "
            "Results go to Parquet under runs/<run_id>/tables/ and a DuckDB query prints the "
            "leaderboard. Takes well under a minute on 2 CPU cores. KEY=VALUE overrides the "
            "preset (configs/demo.yaml holds the same values). A progress bar shows on "
            "stderr when it is a terminal. Exits 1 when no candidate completed. "
            "With llm=local the designs come from the project's own real model "
            "(Qwen2.5-Coder-1.5B on CPU, started by scripts/llm-up.sh; about a minute per LLM "
            "call, minutes per design, 4 candidates by default)."
        ),
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. budget.candidates=4; llm=local: the local real model",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from launcher.build import build_controller
    from launcher.config import load_config
    from launcher.config.presets import DEMO
    from launcher.current_run import note_run
    from launcher.run import create_run, record_inprocess_controller
    from nas.records import TrialRecord, TrialState
    from store import connect

    overrides = list(args.overrides)
    if "llm=local" in overrides:  # the project's own model server (scripts/llm-up.sh)
        from launcher.llm_local import (
            LocalLLMError,
            local_llm_overrides,
            show_llm_progress,
            start_local_llm,
        )

        overrides.remove("llm=local")
        print("archlab demo: starting the local model (scripts/llm-up.sh) ...", file=sys.stderr)
        try:
            local = start_local_llm()
        except LocalLLMError as e:
            print(f"archlab demo: {e}", file=sys.stderr)
            return 1
        overrides = local_llm_overrides(local, overrides)
        print(
            f"archlab demo: {local.model} at {local.base_url} runs on the CPU: one LLM call "
            "took 11-277 s, median 30 s, on 2 cores (longer when other jobs share them), and a design "
            "takes 3-5 calls (proposer ranking, modifier, a repair, then stem/downsample, or "
            "the reflector when it stays invalid): minutes per design. Progress per call below.",
            file=sys.stderr,
        )
        show_llm_progress()
    cfg = load_config(preset=DEMO, overrides=overrides, check=True)
    paths = create_run(cfg, cluster=cfg.executor.kind)
    note_run(paths.run_dir)  # Ctrl-C names the run and its resume command
    t = cfg.train
    print(f"archlab demo: run {paths.run_id} -> {paths.run_dir}")
    if cfg.strategy.name == "nader":
        designer = (
            "LLM agents at " + cfg.llm.base_url
            if cfg.llm.base_url
            else "offline rule-based designer"
        )
        what = f"NADER ({designer}) redesigning block '{cfg.space.base_block}' in the {cfg.space.macro} skeleton"
    else:
        what = f"{cfg.strategy.name} search over {cfg.space.kind} architectures"
    print(
        f"  {what} (C={cfg.space.nb201_channels}, N={cfg.space.nb201_cells}), "
        f"{cfg.budget.candidates} candidates x {t.epochs} epochs on '{t.dataset}', "
        f"executor={cfg.executor.kind}"
    )
    start = time.monotonic()
    bar = tqdm(
        total=cfg.budget.candidates,
        unit="cand",
        disable=args.quiet or not sys.stderr.isatty(),  # progress: stderr, terminals only
        file=sys.stderr,
        dynamic_ncols=True,
    )
    best = [0.0]

    def on_result(cand: object, rec: object) -> None:
        assert isinstance(rec, TrialRecord)
        if rec.state is TrialState.COMPLETE:
            best[0] = max(best[0], rec.metrics["val_acc"])
        bar.set_postfix(best_val=f"{best[0]:.3f}", last=rec.state.value)
        bar.update(1)

    # The same controller as `archlab launch`: journal, snapshots, resumable with
    # `archlab resume <run_id>` if interrupted.
    record_inprocess_controller(paths)
    controller = build_controller(cfg, paths, on_result=on_result)
    summary = controller.run()
    bar.close()
    store = controller.store
    con = connect(store, paths.run_id)
    rows = con.execute(LEADERBOARD_SQL).fetchall()
    print(
        f"\nLeaderboard ({len(rows)} candidates, {time.monotonic() - start:.0f} s, "
        f"{summary.reason}; {_chance(t.dataset)}):"
    )
    print(
        f"{'rank':>4}  {'candidate':<16}  {'val_acc':>7}  {'test_acc':>8}  {'params':>8}  {'seconds':>7}  arch"
    )
    for rank, cid, arch, val, test, params, secs, state, origin in rows:
        arch = _describe(arch, origin)
        if state != "COMPLETE":
            print(
                f"{rank:>4}  {cid:<16}  {state:>7}  {'':>8}  {params or 0:>8}  {secs or 0:>7.1f}  {arch}"
            )
            continue
        print(
            f"{rank:>4}  {cid:<16}  {val:>7.3f}  {test or 0:>8.3f}  {params:>8}  {secs:>7.1f}  {arch}"
        )
    print(f"\nParquet tables: {paths.tables}")
    print(
        f'Query them:     archlab sql {paths.run_id} "SELECT state, count(*) FROM trials GROUP BY state"'
    )
    from launcher.outcome import no_complete_message

    if failed := no_complete_message(paths, summary.state, summary.reason):
        print(failed, file=sys.stderr)
        return 1
    return 0


def _chance(dataset: str) -> str:
    from analysis.chance import chance_accuracy

    c = chance_accuracy(dataset)
    return f"chance = {c:.3f}" if c is not None else "chance unknown"


def _describe(arch: str, origin: str) -> str:
    """One line per candidate: an NB201 arch string as is; a block by how it was made."""
    if arch and "\n" not in arch:
        return arch
    return (origin or "seed block")[:90]


LEADERBOARD_SQL = """
SELECT row_number() OVER (ORDER BY t.state = 'COMPLETE' DESC, t.val_acc DESC NULLS LAST) AS rank,
       t.candidate_id, c.arch, t.val_acc, t.test_acc, t.params, t.wall_seconds, t.state,
       concat_ws(': ', nullif(c.origin_agent, ''), nullif(c.origin_suggestion, '')) AS origin
FROM trials t JOIN candidates c USING (candidate_id)
ORDER BY rank
"""
