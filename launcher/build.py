"""The composition root: RunConfig -> objects. The only place that reads config sections.

``build_controller(cfg, paths)`` returns a ready :class:`nas.controller.Controller`: the
strategy (fresh, seeded from ``experiment.seed``), the evaluator (training or table lookup),
the executor (in-process, local processes or Slurm arrays, writing under
``<run_dir>/jobs``), the result store and the budget. Heavy modules load lazily.

Every other path that needs a configured object comes here too: ``archlab bench nb201``
(:func:`bench_strategy`, the same ``strategy.<name>`` section through :func:`build_strategy`),
``archlab bench nad`` and ``archlab knowledge`` (:func:`build_llm`), the analysis commands
(:func:`open_run_source`: the run's store and typed facts; the analysis never reads
``config.yaml``). Strategies are built through the registry (name -> config class, factory)
with :func:`strategy_parts`; there is no per-name branch here.

Test hook: ``ARCHLAB_TEST_EVALUATOR=<work_dir>[:<seconds>]`` replaces the evaluator by
``tests.support.counting_evaluator.CountingEvaluator`` (fault-injection tests count training
starts with it; it lives in the test tree, which the tests put on ``PYTHONPATH``); it is
never set in normal use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.config import ConfigError, RunConfig, load_config, to_yaml
from launcher.run import RunPaths

if TYPE_CHECKING:
    from analysis.source import RunFacts, RunSource
    from nas.controller import Budget, Controller
    from nas.controller.rungs import Fidelity
    from nas.llm.cassette import Cassette
    from nas.llm.client import LLMClient
    from nas.llm.config import LLMConfig
    from nas.llm.serve import ServedEndpoint
    from nas.records import Candidate, TrialRecord
    from nas.spaces.base import CategoricalSpace, SearchSpace
    from nas.strategies.base import Strategy
    from nas.strategies.principles import SourceTask
    from nas.strategies.registry import StrategyParts
    from nas.train import Recipe, TrainEvaluator
    from nas.train.config import TrainConfig
    from slurm.executor import Executor
    from store.embedders import Embedder
    from store.result_store import ResultStore

__all__ = [
    "BudgetEstimate",
    "bench_strategy",
    "build_budget",
    "build_controller",
    "build_embedder",
    "build_evaluator",
    "build_executor",
    "build_fidelity",
    "build_llm",
    "build_llm_server",
    "build_source_task",
    "build_store",
    "build_strategy",
    "candidate_recipe",
    "estimate_budget",
    "open_run_source",
    "run_facts",
    "strategy_llm",
    "strategy_parts",
    "train_recipe",
    "with_strategy",
]

TEST_EVALUATOR_ENV = "ARCHLAB_TEST_EVALUATOR"


def train_recipe(cfg: RunConfig) -> Recipe:
    return cfg.train.recipe()


def train_evaluator(
    t: TrainConfig, split_seed: int = 0, checkpoint_dir: str = ""
) -> TrainEvaluator:
    """A ``TrainEvaluator`` from a ``train`` config section; ``checkpoint_dir`` is used when
    ``t.checkpoint_dir`` is empty. The validation split is seeded by ``split_seed`` (the
    same for every candidate of a run)."""
    from nas.train import TrainEvaluator

    return TrainEvaluator(
        dataset=t.dataset,
        data_dir=t.data_dir,
        val_fraction=t.val_fraction,
        recipe=t.recipe(),
        split_file=t.split_file,
        split_seed=split_seed,
        runtime=t.runtime(),
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


def strategy_parts(
    cfg: RunConfig,
    store: ResultStore | None = None,
    run_id: str = "",
    run_dir: str | Path | None = None,
    *,
    seed: int | None = None,
    source: Callable[[], SourceTask] | None = None,
    server: ServedEndpoint | None = None,
) -> StrategyParts:
    """What the run gives its strategy besides ``strategy.<name>``: the generator (seeded
    from ``experiment.seed``, or ``seed``), the candidate recipe, the space of
    ``space.kind`` (None for blocks), the run's LLM client and embedder (built on first
    use), LAPT's source task (read on first use; ``source`` replaces it), NADER's store,
    block and skeleton. ``server``: the run's ``llm.serve`` job (the client asks it for the
    endpoint)."""
    import numpy as np

    from nas.strategies.registry import StrategyParts

    run_seed = cfg.experiment.seed if seed is None else seed
    clients: dict[str, LLMClient | None] = {}

    def llm() -> LLMClient | None:  # one client per strategy, built when first asked for
        if "chat" not in clients:
            clients["chat"] = strategy_llm(cfg, store, run_id, run_dir, server)
        return clients["chat"]

    def embedder() -> Embedder:
        return build_embedder(cfg, llm())

    return StrategyParts(
        rng=np.random.default_rng(run_seed),
        seed=run_seed,
        recipe=candidate_recipe(cfg),
        space=_space_or_none(cfg),
        llm=llm,
        context_tokens=cfg.llm.context_tokens,
        source=source or (lambda: build_source_task(cfg)),
        store=store,
        run_id=run_id,
        experience_dir=str(Path(run_dir) / "experience") if run_dir else None,
        embedder=embedder,
        base=cfg.space.base_block,
        macro=nader_macro(cfg),
        max_params=cfg.budget.max_params,
        max_flops=cfg.budget.max_flops,
    )


def build_strategy(
    cfg: RunConfig,
    store: ResultStore | None = None,
    run_id: str = "",
    run_dir: str | Path | None = None,
    *,
    parts: StrategyParts | None = None,
    server: ServedEndpoint | None = None,
) -> Strategy:
    """A fresh strategy for ``strategy.name``: the registry's factory applied to the
    section ``strategy.<name>`` and :func:`strategy_parts` (or ``parts``).

    ``store``/``run_id``/``run_dir``: where LLM calls of NADER's agents, LAPT's LLM learner or
    LLMatic's LLM operators are accounted (``llm_calls``) and memoised (the run's call memo);
    without them the calls are only counted in memory.
    """
    from nas.strategies.base import StrategyError
    from nas.strategies.registry import build, entry

    name = cfg.strategy.name
    try:
        # a plug-in registered without a section in the schema runs with its config defaults
        section = cfg.strategy.sections().get(name) or entry(name).config()
        return build(name, section,
                     parts or strategy_parts(cfg, store, run_id, run_dir, server=server))  # fmt: skip
    except (ImportError, AttributeError, KeyError) as e:
        raise ConfigError(f"strategy.name={name!r} is not available in this build: {e}") from None
    except StrategyError as e:
        raise ConfigError(str(e)) from None


def with_strategy(
    cfg: RunConfig, name: str, options: Mapping[str, object] | None = None
) -> RunConfig:
    """``cfg`` with ``strategy.name=name`` and ``options`` set in ``strategy.<name>`` (typed
    and checked as a config file's keys are)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    data = {"strategy": {"name": name, name: dict(options or {})}}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cfg), data)
        out = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise ConfigError(f"strategy.{name}: {str(e).strip().splitlines()[0]}") from None
    assert isinstance(out, RunConfig)
    return out


def bench_strategy(
    name: str,
    seed: int,
    source: SourceTask | None = None,
    options: Mapping[str, object] | None = None,
    cfg: RunConfig | None = None,
) -> Strategy:
    """The strategy ``archlab bench nb201`` runs for ``seed``: section ``strategy.<name>`` of
    ``cfg`` (default: the schema's defaults, what ``archlab launch`` reads without a file)
    with ``options`` (the protocol's defaults, a preset, ``--set``) applied, built by
    :func:`build_strategy` with ``default_rng(seed)`` and LAPT's ``source`` task. No store:
    LLM calls are only counted in memory."""
    run = with_strategy(cfg or RunConfig(), name, options)
    src = source
    return build_strategy(run, parts=strategy_parts(
        run, seed=seed, source=(lambda: src) if src is not None else None))  # fmt: skip


def _space_or_none(cfg: RunConfig) -> SearchSpace | None:
    """The space of ``space.kind``; None for ``block`` (NADER designs its own blocks)."""
    if cfg.space.kind == "block":
        return None
    return _categorical_space(cfg)


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
    server: ServedEndpoint | None = None,
) -> LLMClient | None:
    """The run's LLM client (every strategy's), or None offline (``llm.base_url`` empty, no
    ``llm.serve.kind``, and not ``llm.mode=replay`` with ``llm.cassette``):
    :func:`nas.llm.run_client.run_llm_client` — keyed ``llm_calls`` rows, the budget resumed
    from the store, and with ``run_dir`` the run's call memo, the answers kept on those rows
    (a restart sends no request for a call the run already made). With ``server``
    (``llm.serve``) the client asks it for the endpoint
    (:meth:`nas.llm.serve.LLMServer.endpoint`)."""
    from nas.llm.run_client import run_llm_client

    try:
        client = run_llm_client(cfg.llm, store, run_id, run_dir)
    except ValueError as e:  # bad mode, record/replay without a cassette
        raise ConfigError(f"llm: {e}") from None
    if client is not None and server is not None:
        client.endpoint = server.endpoint
    return client


def controller_job_id() -> str:
    """This controller's Slurm job as ``squeue`` names it (``<array>_<index>``; "" outside
    Slurm): the server job of ``llm.serve`` stops when it ends."""
    arr, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if arr and task:
        return f"{arr}_{task}"
    return os.environ.get("SLURM_JOB_ID", "")


def build_llm_server(cfg: RunConfig, paths: RunPaths) -> ServedEndpoint | None:
    """The run's ``llm.serve`` server job (None when ``llm.serve.kind`` is empty): submitted
    through the run's executor layer (``executor.kind``, placed by
    :func:`nas.llm.serve.server_site`), owned by this controller's Slurm job; with
    ``llm.serve.reuse``, the server job of that run (:class:`nas.llm.serve.SharedServer`)."""
    import sys

    from nas.llm.serve import LLMServer, SharedServer, server_site
    from slurm import make_executor

    s = cfg.llm.serve
    if s.reuse:
        return SharedServer(s.reuse, s.ready_timeout_s)
    if not s.kind:
        return None
    e = cfg.executor
    if e.kind == "inprocess":
        raise ConfigError(f"llm.serve.kind={s.kind} starts a server job: it needs "
                          "executor.kind=slurm (or local), not inprocess")  # fmt: skip
    site = server_site(s, e.site)

    def executor(folder: Path) -> Executor:
        options: dict[str, Any] = {}
        if e.kind == "slurm":
            options = {"job_name": f"archlab-llm-{paths.run_id}"[:60], "max_requeues": 0}
        return make_executor(e.kind, folder, site, max_retries=0,
                             poll_interval_s=min(e.poll_interval_s, 5.0), **options)  # fmt: skip

    return LLMServer(s, cfg.llm.model, paths.run_dir, paths.run_id, executor,
                     owner_job=controller_job_id(), python=sys.executable)  # fmt: skip


def build_llm(
    lc: LLMConfig,
    *,
    sink: Callable[[list[dict[str, object]]], None] | None = None,
    cassette: Cassette | None = None,
) -> LLMClient | None:
    """A chat client for section ``llm`` outside a run (``archlab knowledge``, ``archlab
    bench nad``), or None offline. ``cassette``: an open cassette to use instead of
    ``lc.cassette`` (the NAD bench's fill mode shares one between two clients). Inside a
    run, :func:`strategy_llm` wires the client to the store and the call memo."""
    from nas.llm.client import LLMClient

    if lc.mode in ("record", "replay") and not lc.cassette and cassette is None:
        raise ConfigError(f"llm.mode={lc.mode} reads/writes a cassette: set llm.cassette (or "
                          "--cassette)")  # fmt: skip
    if lc.offline and cassette is None:
        return None
    try:
        client = LLMClient.from_config(lc, sink=sink)
    except ValueError as e:  # bad mode, record/replay without a cassette
        raise ConfigError(f"llm: {e}") from None
    if cassette is not None:
        client.cassette = cassette
    return client


def build_embedder(cfg: RunConfig, client: LLMClient | None = None) -> Embedder:
    """The embedder of ``llm.embed_model`` (hashing, the bundled local model, or a model at
    ``llm.base_url`` — through ``client``, the run's LLM client, so embedding requests are
    ``llm_calls`` rows too)."""
    from store.embedders import make_embedder

    lc = cfg.llm
    return make_embedder(lc.embed_model, base_url=lc.base_url or None,
                         api_key_env=lc.api_key_env, llm=client)  # fmt: skip


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


def build_evaluator(cfg: RunConfig, paths: RunPaths) -> Callable[..., Any]:
    hook = os.environ.get(TEST_EVALUATOR_ENV, "")
    if hook:
        try:
            from tests.support.counting_evaluator import CountingEvaluator
        except ImportError as e:
            raise ConfigError(
                f"{TEST_EVALUATOR_ENV} is set (a test hook) but the test tree is "
                f"not importable ({e}): put the repository on PYTHONPATH"
            ) from None
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
    try:
        e.site.validate()
    except ValueError as err:
        raise ConfigError(str(err)) from None
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
    """The run's store (``store.*``, default ``RUN_DIR/tables``) with the write retry and the
    outage file ``archlab status`` reads."""
    from store.retry import STATUS_FILE, OutageFile, WriteRetry

    try:
        cfg.store.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    store = cfg.store.open(paths.tables)
    # [issue 18] writes ride out an outage of store.retry_s; status reads the outage file
    store.write_retry = WriteRetry(deadline_s=cfg.store.retry_s)
    store.outage_listener = OutageFile(paths.run_dir / STATUS_FILE)
    return store


def run_facts(cfg: RunConfig, config_text: str = "") -> RunFacts:
    """What the analysis reads of a run's configuration (typed sections, passed in)."""
    from analysis.source import RunFacts

    return RunFacts(strategy=cfg.strategy.name, seed=cfg.experiment.seed, train=cfg.train,
                    space=cfg.space, config_text=config_text or to_yaml(cfg))  # fmt: skip


def open_run_source(run_dir: str | Path, run_id: str | None = None) -> RunSource:
    """The run in ``run_dir`` for the analysis: its config read here (``config.yaml``), its
    store opened as ``store.*`` says (default ``RUN_DIR/tables``), the facts handed in."""
    from analysis.source import RunSource

    d = Path(run_dir).resolve()
    path = d / "config.yaml"
    cfg = load_config([path])
    return RunSource.open(d, cfg.store.open(d / "tables"), run_facts(cfg, path.read_text()),
                          run_id)  # fmt: skip


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
    evaluator = build_evaluator(cfg, paths)
    server = build_llm_server(cfg, paths)
    return Controller(
        paths.run_dir,
        paths.run_id,
        build_strategy(cfg, store, paths.run_id, paths.run_dir, server=server),
        evaluator,
        build_executor(cfg, paths),
        store,
        build_budget(cfg),
        max_in_flight=e.max_in_flight,
        poll_interval_s=e.poll_interval_s,
        snapshot_every=e.snapshot_every,
        on_result=on_result,
        fidelity=build_fidelity(cfg, evaluator),
        services=(server,) if server is not None else (),
    )


def build_fidelity(cfg: RunConfig, evaluator: Callable[..., Any]) -> Fidelity | None:
    """The run's fidelity schedule (section ``fidelity``; None for ``kind=none``): the rule
    over the recipe's rungs (a table's: the training lengths it holds) and the evaluator
    that trains to a rung and resumes from it."""
    from nas.controller.fidelity import Asha
    from nas.controller.rungs import Fidelity
    from nas.evaluators import TableEvaluator
    from nas.train.evaluator import TrainEvaluator as Trainer

    f = cfg.fidelity
    if not f.enabled:
        return None
    try:
        f.validate("fidelity.")
        if isinstance(evaluator, TableEvaluator):
            lad = f.rungs_within(evaluator.table.fidelities)
            if f.kind == "hyperband" and f.brackets > len(lad) - 1:
                raise ConfigError(
                    f"'fidelity.brackets' is {f.brackets}: the table's rungs {list(lad)} leave "
                    f"{len(lad) - 1} bracket(s) that still prune; e.g. fidelity.brackets="
                    f"{len(lad) - 1}"
                )
            return Fidelity(Asha.of(f, lad), evaluator)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if isinstance(evaluator, Trainer):
        return Fidelity(Asha.of(f), evaluator)
    raise ConfigError(
        f"fidelity.kind={f.kind} needs an evaluator that stops at a rung and resumes "
        f"(train.evaluator=train or table), not {type(evaluator).__name__}"
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
