"""``archlab demo``: the main job on an embedded default — a real, small search."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["register", "run_demo"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a small real search on the embedded data set (no cluster, no key, no download)",
        description=(
            "Random search over NAS-Bench-201 cells; every candidate is really trained for a few "
            "epochs on scikit-learn's digits (embedded), results go to Parquet under "
            "runs/<run_id>/tables/, and a DuckDB query prints the leaderboard. "
            "Takes about a minute on 2 CPU cores."
        ),
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. budget.candidates=4",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from launcher.config import load_config
    from launcher.config.presets import DEMO
    from launcher.run import create_run
    from nas.controller import run_search
    from nas.records import TrialState
    from nas.strategies import RandomSearch
    from nas.train import Recipe, TrainEvaluator
    from slurm.executor import InProcessExecutor
    from store import LocalResultStore, connect

    cfg = load_config(preset=DEMO, overrides=args.overrides)
    paths = create_run(cfg, cluster=cfg.executor.kind)
    t = cfg.train
    recipe = Recipe(
        epochs=t.epochs,
        batch_size=t.batch_size,
        lr=t.lr,
        momentum=t.momentum,
        nesterov=t.nesterov,
        weight_decay=t.weight_decay,
        augment=t.augment,
        data_fraction=t.data_fraction,
        image_size=t.image_size,
        divergence_loss=t.divergence_loss,
        divergence_epochs=t.divergence_epochs,
        time_budget_s=t.time_budget_s,
        threads=t.threads,
    )
    cand_recipe = {
        **recipe.to_dict(),
        "dataset": t.dataset,
        "skeleton": {"channels": cfg.space.nb201_channels, "cells": cfg.space.nb201_cells},
    }
    strategy = RandomSearch(
        cand_recipe, rng=np.random.default_rng(cfg.experiment.seed), seed=cfg.experiment.seed
    )
    evaluator = TrainEvaluator(
        dataset=t.dataset, data_dir=t.data_dir, val_fraction=t.val_fraction, recipe=recipe
    )
    store = LocalResultStore(paths.tables)
    print(f"archlab demo: run {paths.run_id} -> {paths.run_dir}")
    print(
        f"  random search over NAS-Bench-201 cells (C={cfg.space.nb201_channels}, N={cfg.space.nb201_cells}), "
        f"{cfg.budget.candidates} candidates x {t.epochs} epochs on '{t.dataset}', executor={cfg.executor.kind}"
    )
    start = time.monotonic()
    bar = tqdm(
        total=cfg.budget.candidates,
        unit="cand",
        disable=args.quiet,
        file=sys.stdout,
        dynamic_ncols=True,
    )
    best = [0.0]

    def on_result(cand: object, rec: object) -> None:
        from nas.records import TrialRecord

        assert isinstance(rec, TrialRecord)
        if rec.state is TrialState.COMPLETE:
            best[0] = max(best[0], rec.metrics["val_acc"])
        bar.set_postfix(best_val=f"{best[0]:.3f}", last=rec.state.value)
        bar.update(1)

    run_search(
        strategy,
        evaluator,
        InProcessExecutor(),
        store,
        paths.run_id,
        budget=cfg.budget.candidates,
        max_in_flight=cfg.executor.max_in_flight,
        on_result=on_result,
    )
    bar.close()
    con = connect(store, paths.run_id)
    rows = con.execute(LEADERBOARD_SQL).fetchall()
    print(
        f"\nLeaderboard ({len(rows)} candidates, {time.monotonic() - start:.0f} s; chance = 0.100):"
    )
    print(
        f"{'rank':>4}  {'candidate':<16}  {'val_acc':>7}  {'test_acc':>8}  {'params':>8}  {'seconds':>7}  arch"
    )
    for rank, cid, arch, val, test, params, secs, state in rows:
        if state != "COMPLETE":
            print(f"{rank:>4}  {cid:<16}  {state:>7}  {'':>8}  {params:>8}  {secs:>7.1f}  {arch}")
            continue
        print(f"{rank:>4}  {cid:<16}  {val:>7.3f}  {test:>8.3f}  {params:>8}  {secs:>7.1f}  {arch}")
    print(f"\nParquet tables: {paths.tables}")
    print(
        f'Query them:     archlab sql {paths.run_id} "SELECT state, count(*) FROM trials GROUP BY state"'
    )
    return 0


LEADERBOARD_SQL = """
SELECT row_number() OVER (ORDER BY t.state = 'COMPLETE' DESC, t.val_acc DESC NULLS LAST) AS rank,
       t.candidate_id, c.arch, t.val_acc, t.test_acc, t.params, t.wall_seconds, t.state
FROM trials t JOIN candidates c USING (candidate_id)
ORDER BY rank
"""
