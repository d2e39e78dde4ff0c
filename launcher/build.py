"""RunConfig -> explicit constructor arguments: the only place that reads config sections.

``build_controller(cfg, paths)`` returns a ready :class:`nas.controller.Controller`: the
strategy (fresh, seeded from ``experiment.seed``), the evaluator (training or table lookup),
the executor (in-process, local processes or Slurm arrays, writing under
``<run_dir>/jobs``), the result store and the budget. Heavy modules load lazily.

Test hook: ``ARCHLAB_TEST_EVALUATOR=<work_dir>[:<seconds>]`` replaces the evaluator by
:class:`nas.controller.testing.CountingEvaluator` (fault-injection tests count training
starts with it); it is never set in normal use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.config import ConfigError, RunConfig
from launcher.run import RunPaths

if TYPE_CHECKING:
    from launcher.config.schema import TrainConfig
    from nas.controller import Budget, Controller
    from nas.llm.client import LLMClient
    from nas.records import Candidate, TrialRecord
    from nas.spaces.base import CategoricalSpace
    from nas.strategies.base import Strategy
    from nas.strategies.principles import SourceTask
    from nas.train import Recipe, TrainEvaluator
    from slurm.executor import Executor
    from store.result_store import ResultStore

__all__ = [
    "BudgetEstimate",
    "build_budget",
    "build_controller",
    "build_evaluator",
    "build_executor",
    "build_source_task",
    "build_store",
    "build_strategy",
    "candidate_recipe",
    "estimate_budget",
    "strategy_llm",
    "train_recipe",
]

TEST_EVALUATOR_ENV = "ARCHLAB_TEST_EVALUATOR"


def train_recipe(cfg: RunConfig) -> Recipe:
    return recipe_from(cfg.train)


def recipe_from(t: TrainConfig) -> Recipe:
    """The training ``Recipe`` of a ``train`` config section (every ``Recipe`` field has a
    ``train`` key of the same name: the schema is the one place of their defaults)."""
    from dataclasses import fields

    from nas.train import Recipe

    return Recipe(**{f.name: getattr(t, f.name) for f in fields(Recipe)})


def train_evaluator(
    t: TrainConfig, split_seed: int = 0, checkpoint_dir: str = ""
) -> TrainEvaluator:
    """A ``TrainEvaluator`` from a ``train`` config section; ``checkpoint_dir`` is used when
    ``t.checkpoint_dir`` is empty. The validation split is seeded by ``split_seed`` (the
    same for every candidate of a run)."""
    from nas.train import Runtime, TrainEvaluator

    runtime = Runtime(
        device=t.device,
        amp=t.amp,
        channels_last=t.channels_last,
        compile=t.compile,
        threads=t.threads,
        engine=t.engine,
        zero_stage=t.zero_stage,
        ds_precision=t.ds_precision,
    )
    return TrainEvaluator(
        dataset=t.dataset,
        data_dir=t.data_dir,
        val_fraction=t.val_fraction,
        recipe=recipe_from(t),
        split_file=t.split_file,
        split_seed=split_seed,
        runtime=runtime,
        checkpoint_dir=t.checkpoint_dir or checkpoint_dir,
        keep_checkpoints=t.keep_checkpoints,
    )


def candidate_recipe(cfg: RunConfig) -> dict[str, Any]:
    """What is hashed into each candidate id besides the architecture and the seed."""
    t = cfg.train
    if t.evaluator == "table":
        return {"evaluator": "table", "dataset": t.dataset, "fidelity": t.table_fidelity}
    return {
        **train_recipe(cfg).to_dict(),
        "dataset": t.dataset,
        "skeleton": {"channels": cfg.space.nb201_channels, "cells": cfg.space.nb201_cells},
    }


def nader_macro(cfg: RunConfig) -> dict[str, Any]:
    """The macro skeleton NADER's blocks are placed in (``space.macro``)."""
    s = cfg.space
    if s.macro == "stages":
        return {"kind": "stages", "width": s.widths[0], "widths": tuple(s.widths),
                "depths": tuple(s.depths)}  # fmt: skip
    return {"kind": "nb201", "width": s.nb201_channels, "cells": s.nb201_cells}


def build_strategy(
    cfg: RunConfig,
    store: ResultStore | None = None,
    run_id: str = "",
    run_dir: str | Path | None = None,
) -> Strategy:
    """A fresh strategy for ``strategy.name`` (through the strategy registry).

    ``store``/``run_id``/``run_dir``: where LLM calls of NADER's agents, LAPT's LLM learner or
    LLMatic's LLM operators are accounted (``llm_calls``) and memoised (the run's call memo);
    without them the calls are only counted in memory.
    """
    import numpy as np

    from nas.strategies.registry import create

    name = cfg.strategy.name
    rng = np.random.default_rng(cfg.experiment.seed)
    recipe = candidate_recipe(cfg)
    seed = cfg.experiment.seed
    kwargs: dict[str, Any] = {"rng": rng, "recipe": recipe, "seed": seed}
    if name == "nader":
        # Offline rule-based designer unless llm.base_url (or a replay cassette) is set.
        kwargs.update(
            nader=cfg.strategy.nader,
            llm=cfg.llm,
            client=strategy_llm(cfg, store, run_id, run_dir),
            store=store,
            run_id=run_id,
            base=cfg.space.base_block,
            macro=nader_macro(cfg),
            max_params=cfg.budget.max_params,
            max_flops=cfg.budget.max_flops,
            experience_dir=str(Path(run_dir) / "experience") if run_dir else None,
        )
    elif name == "rea":
        kwargs.update(
            population_size=cfg.strategy.rea.population_size,
            sample_size=cfg.strategy.rea.sample_size,
        )
    elif name == "lapt":
        kwargs.update(_lapt_kwargs(cfg, store, run_id, run_dir))
    elif name == "llmatic":
        kwargs.update(_llmatic_kwargs(cfg, store, run_id, run_dir))
    try:
        return create(name, **kwargs)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"strategy.name={name!r} is not available in this build: {e}") from None


def _categorical_space(cfg: RunConfig) -> CategoricalSpace:
    """The categorical space of ``space.kind`` (LAPT and LLMatic need per-position choices)."""
    from nas.spaces import make_space
    from nas.spaces.base import SpaceError

    try:
        return make_space(cfg.space.kind)
    except SpaceError as e:
        raise ConfigError(
            f"strategy.name={cfg.strategy.name} needs a categorical space: space.kind="
            f"{cfg.space.kind!r} is not one ({e})"
        ) from None


def strategy_llm(
    cfg: RunConfig,
    store: ResultStore | None = None,
    run_id: str = "",
    run_dir: str | Path | None = None,
) -> LLMClient | None:
    """The run's LLM client (every strategy's), or None offline (``llm.base_url`` empty and
    not ``llm.mode=replay`` with ``llm.cassette``): :func:`nas.llm.run_client.run_llm_client`
    — keyed ``llm_calls`` rows, the budget resumed from the store, the run's call memo under
    ``run_dir`` (a restart sends no request for a call the run already made)."""
    from nas.llm.run_client import run_llm_client

    try:
        return run_llm_client(cfg.llm, store, run_id, run_dir)
    except ValueError as e:  # bad mode, record/replay without a cassette
        raise ConfigError(f"llm: {e}") from None


def build_source_task(cfg: RunConfig) -> SourceTask:
    """LAPT's source task: every architecture of ``strategy.lapt.source_table`` (default:
    ``space.table``) with its ``strategy.lapt.source_dataset`` validation accuracy (at
    ``train.table_fidelity`` when the table has it, else the table's default fidelity).

    Refused when the source dataset is the target dataset (``train.dataset``): LAPT must
    never learn its principles from the target task's own results."""
    from nas.evaluators.table import TableError, load_table
    from nas.strategies.principles import SourceTask

    lc = cfg.strategy.lapt
    path = lc.source_table or cfg.space.table
    if not path:
        raise ConfigError(
            "strategy.name=lapt learns principles from a source task: set "
            "strategy.lapt.source_table (or space.table) to a benchmark table, e.g. "
            "strategy.lapt.source_table=/path/to/nb201.parquet"
        )
    src, target = lc.source_dataset, cfg.train.dataset
    if not src:
        raise ConfigError("strategy.lapt.source_dataset is empty: name the source dataset")
    if src == target:
        raise ConfigError(
            f"strategy.lapt.source_dataset={src!r} is the target dataset (train.dataset="
            f"{target!r}): LAPT must not learn its principles from the target task's own "
            "table; choose another source dataset (e.g. imagenet16 for CIFAR targets, "
            "cifar10 for imagenet16)"
        )
    try:
        table = load_table(path)
    except TableError as e:
        raise ConfigError(f"strategy.lapt.source_table: {e}") from None
    space = _categorical_space(cfg)
    if table.arch_kind != space.kind:
        raise ConfigError(
            f"strategy.lapt.source_table {path!r} holds {table.arch_kind!r} architectures but "
            f"space.kind={cfg.space.kind!r}; use a table of the searched space"
        )
    fid = cfg.train.table_fidelity
    if (src, fid) not in table.val:
        fid = table.default_fidelity
    try:
        key = table.check(src, fid)
    except TableError as e:
        raise ConfigError(f"strategy.lapt.source_dataset={src!r}: {e}") from None
    return SourceTask(src, table.archs, tuple(float(v) for v in table.val[key]))


def _lapt_kwargs(
    cfg: RunConfig, store: ResultStore | None, run_id: str, run_dir: str | Path | None
) -> dict[str, Any]:
    from nas.strategies.principles import LLMPrincipleLearner, StatisticalPrincipleLearner

    lc = cfg.strategy.lapt
    stats = StatisticalPrincipleLearner(min_lift=lc.min_lift)
    learner: Any
    if lc.learner == "statistical":
        learner = stats
    elif lc.learner == "llm":
        from nas.strategies.llm import LLMCompletion

        client = strategy_llm(cfg, store, run_id, run_dir)
        if client is None:
            raise ConfigError(
                "strategy.lapt.learner=llm needs an LLM: set llm.base_url (an OpenAI-compatible "
                "endpoint) or llm.mode=replay with llm.cassette; or use "
                "strategy.lapt.learner=statistical (offline)"
            )
        learner = LLMPrincipleLearner(LLMCompletion(client, "lapt"), fallback=stats,
                                      evidence_floor=lc.evidence_floor)  # fmt: skip
    else:
        raise ConfigError(
            f"strategy.lapt.learner={lc.learner!r}: choose statistical (offline) or llm"
        )
    return {
        "source": build_source_task(cfg),
        "space": _categorical_space(cfg),
        "learner": learner,
        "top_k": lc.top_k,
        "adapt_every": lc.adapt_every,
        "top_r": lc.top_r,
        "population_size": lc.population_size,
        "sample_size": lc.sample_size,
    }


def _llmatic_kwargs(
    cfg: RunConfig, store: ResultStore | None, run_id: str, run_dir: str | Path | None
) -> dict[str, Any]:
    from nas.strategies.operators import LLMOperators, RuleBasedOperators

    lc = cfg.strategy.llmatic
    client = strategy_llm(cfg, store, run_id, run_dir)
    operators: Any = RuleBasedOperators()
    if client is not None:
        from nas.strategies.llm import LLMCompletion

        operators = LLMOperators(LLMCompletion(client, "llmatic"))
    return {
        "space": _categorical_space(cfg),
        "operators": operators,
        "niches": lc.niches,
        "prompt_niches": lc.prompt_niches,
        "mutation_prob": lc.mutation_prob,
        "init_temperature": lc.init_temperature,
        "temperature_sigma": lc.temperature_sigma,
        "init_size": lc.init_size,
    }


def build_evaluator(cfg: RunConfig, paths: RunPaths) -> Callable[..., Any]:
    hook = os.environ.get(TEST_EVALUATOR_ENV, "")
    if hook:
        from nas.controller.testing import CountingEvaluator

        work, _, secs = hook.partition(":")
        return CountingEvaluator(work, seconds=float(secs or 0.0))
    t = cfg.train
    if t.evaluator == "table":
        from nas.evaluators import TableEvaluator

        if not cfg.space.table:
            raise ConfigError(
                "train.evaluator=table needs space.table: the path of a benchmark table "
                "(e.g. space.table=/path/to/nb201.parquet)"
            )
        fidelity = t.table_fidelity
        return TableEvaluator(cfg.space.table, dataset=t.dataset, fidelity=fidelity)
    ev: Callable[..., Any] = train_evaluator(
        t, cfg.experiment.seed, str(paths.run_dir / "checkpoints")
    )
    return ev


def build_executor(cfg: RunConfig, paths: RunPaths) -> Executor:
    from slurm import make_executor

    e = cfg.executor
    return make_executor(
        e.kind,
        paths.run_dir / "jobs",
        e.site,
        pack=e.pack,
        poll_interval_s=e.poll_interval_s,
        max_retries=e.max_retries,
        retry_user_errors=e.retry_user_errors,
        **(
            {"job_name": f"archlab-{paths.run_id}"[:60], "worker_aws": worker_uses_s3(cfg)}
            if e.kind == "slurm"
            else {}
        ),
    )


def worker_uses_s3(cfg: RunConfig) -> bool:
    """[issue 18] Whether array tasks read ``s3://`` themselves (then they get ``AWS_*``)."""
    return any(str(x).startswith("s3://") for x in (cfg.space.table, cfg.train.data_dir))


def build_store(cfg: RunConfig, paths: RunPaths) -> ResultStore:
    from store.open import open_store

    uri = cfg.store.uri or str(paths.tables)
    if uri.startswith("s3://"):
        store = open_store(
            uri,
            endpoint=cfg.store.s3_endpoint or None,
            region=cfg.store.s3_region,
            path_style=cfg.store.s3_path_style,
        )
    else:
        store = open_store(uri)
    # [issue 18] writes ride out an outage of store.retry_s; status reads the outage file
    from store.retry import STATUS_FILE, OutageFile, WriteRetry

    if cfg.store.retry_s < 0:
        raise ConfigError(f"store.retry_s={cfg.store.retry_s}: use seconds >= 0 (0 = no retry)")
    store.write_retry = WriteRetry(deadline_s=cfg.store.retry_s)
    store.outage_listener = OutageFile(paths.run_dir / STATUS_FILE)
    return store


def build_budget(cfg: RunConfig) -> Budget:
    from nas.controller import Budget

    b = cfg.budget
    llm_usd = b.llm_usd or cfg.llm.budget_usd
    return Budget(b.candidates, b.wall_hours, b.gpu_hours, llm_usd)


def build_controller(
    cfg: RunConfig,
    paths: RunPaths,
    on_result: Callable[[Candidate, TrialRecord], None] | None = None,
) -> Controller:
    """The controller of run ``paths`` as configured by ``cfg`` (built fresh per start)."""
    from nas.controller import Controller
    from nas.controller.recorder import Recorder
    from nas.controller.restore import discard_unjournaled

    e = cfg.executor
    store = build_store(cfg, paths)
    # before the strategy is built: its experience pool reads the store when constructed
    discard_unjournaled(paths.run_dir, Recorder(store, paths.run_id))
    return Controller(
        paths.run_dir,
        paths.run_id,
        build_strategy(cfg, store, paths.run_id, paths.run_dir),
        build_evaluator(cfg, paths),
        build_executor(cfg, paths),
        store,
        build_budget(cfg),
        max_in_flight=e.max_in_flight,
        poll_interval_s=e.poll_interval_s,
        snapshot_every=e.snapshot_every,
        on_result=on_result,
    )


@dataclass(frozen=True)
class BudgetEstimate:
    candidates: int
    gpu_hours_max: float  # candidates x per-task wall limit x GPUs per task (upper bound)
    gpu_hours_cap: float  # budget.gpu_hours (0 = none)
    wall_hours_cap: float
    llm_usd_cap: float
    llm_tokens_cap: int

    def lines(self) -> list[str]:
        def cap(v: float, unit: str) -> str:
            return f"{v:g} {unit}" if v else "none"

        return [
            f"candidates:        {self.candidates}",
            f"GPU-hours:         <= {self.gpu_hours_max:.1f} (candidates x task time limit x GPUs);"
            f" cap {cap(self.gpu_hours_cap, 'h')}",
            f"wall-clock cap:    {cap(self.wall_hours_cap, 'h')}",
            f"LLM ceiling:       {cap(self.llm_usd_cap, 'USD')},"
            f" {self.llm_tokens_cap or 'no'} token cap",
        ]


def estimate_budget(cfg: RunConfig) -> BudgetEstimate:
    from slurm.site import parse_slurm_time

    site = cfg.executor.site
    gpus = site.gpus_per_task or (1 if "gpu" in site.gres else 0)
    per_task_h = parse_slurm_time(site.time) / 3600
    return BudgetEstimate(
        candidates=cfg.budget.candidates,
        gpu_hours_max=cfg.budget.candidates * per_task_h * gpus,
        gpu_hours_cap=cfg.budget.gpu_hours,
        wall_hours_cap=cfg.budget.wall_hours,
        llm_usd_cap=cfg.budget.llm_usd or cfg.llm.budget_usd,
        llm_tokens_cap=cfg.llm.budget_tokens,
    )
