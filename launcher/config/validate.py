"""Whole-config validation: every check a run needs before anything exists.

``validate_config(cfg)`` raises one :class:`ConfigError` whose message is ONE line naming the
key and the fix; ``launch`` (also ``--dry-run``), ``sbatch``, ``demo``, ``resume`` and
``controller --config`` call it (through ``load_config(..., check=True)``) before a run
directory is created or a job submitted, so a mistake never surfaces as a controller that
died in its log.

What is checked (each section below is one function):

* numeric ranges (``train.epochs > 0``, ``0 < train.val_fraction < 1``, ...) and the
  string choices the schema cannot express (``train.device``, ``train.amp``, ...);
* strategy/space compatibility (NADER designs blocks: ``space.kind=block``; LAPT/LLMatic
  need a categorical space; random/REA search NB201 cells);
* benchmark tables present and holding ``train.dataset`` at ``train.table_fidelity``
  (``train.evaluator=table``), LAPT's source task (table, source dataset != target);
* data on disk for on-disk datasets (``train.data_dir`` holds the files), split and
  knowledge files present, the LLM settings a strategy needs.

The checks read files (a table's columns, a folder's listing) but never load a data set or
start anything; the table is read through the per-process cache the evaluator uses later.
"""

from __future__ import annotations

from pathlib import Path

from launcher.config.load import ConfigError
from launcher.config.schema import RunConfig

__all__ = ["validate_config"]


def validate_config(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` (one line: key, value, fix) at the first problem."""
    _ranges(cfg)
    _choices(cfg)
    _strategy_space(cfg)
    _tables(cfg)
    _data(cfg)
    _files(cfg)
    _llm(cfg)


def _fail(key: str, value: object, need: str, fix: str = "") -> None:
    tail = f"; {fix}" if fix else ""
    raise ConfigError(f"'{key}' is {value!r}: {need}{tail}")


def _at_least(key: str, value: float, low: float, what: str = "") -> None:
    if not value >= low:  # also catches NaN
        _fail(
            key, value, f"must be >= {low:g}{f' ({what})' if what else ''}", f"e.g. {key}={low:g}"
        )


def _between(key: str, value: float, low: float, high: float, *, open_low: bool = False,
             open_high: bool = False) -> None:  # fmt: skip
    ok_low = value > low if open_low else value >= low
    ok_high = value < high if open_high else value <= high
    if not (ok_low and ok_high):
        lb, hb = ("(" if open_low else "["), (")" if open_high else "]")
        _fail(key, value, f"must lie in {lb}{low:g}, {high:g}{hb}")


# --------------------------------------------------------------------------- numeric ranges
def _ranges(cfg: RunConfig) -> None:
    t, e, b, s = cfg.train, cfg.executor, cfg.budget, cfg.space
    _at_least("train.epochs", t.epochs, 1, "epochs trained per candidate")
    _at_least("train.batch_size", t.batch_size, 1)
    if not t.lr > 0:
        _fail("train.lr", t.lr, "must be > 0 (initial learning rate)", "e.g. train.lr=0.1")
    _between("train.momentum", t.momentum, 0, 1, open_high=True)
    _at_least("train.weight_decay", t.weight_decay, 0)
    _between("train.val_fraction", t.val_fraction, 0, 1, open_low=True, open_high=True)
    _between("train.data_fraction", t.data_fraction, 0, 1, open_low=True)
    _at_least("train.image_size", t.image_size, 0, "0 = native size")
    if not t.divergence_loss > 0:
        _fail("train.divergence_loss", t.divergence_loss, "must be > 0")
    _at_least("train.divergence_epochs", t.divergence_epochs, 0)
    _at_least("train.time_budget_s", t.time_budget_s, 0, "0 = none")
    _at_least("train.threads", t.threads, 0, "0 = all cores")
    _at_least("space.nb201_channels", s.nb201_channels, 1)
    _at_least("space.nb201_cells", s.nb201_cells, 1)
    if s.macro == "stages" and s.kind == "block":
        if not s.widths or len(s.widths) != len(s.depths):
            _fail("space.widths", s.widths, f"needs one width per stage of space.depths "
                  f"({len(s.depths)} stages)", "give lists of equal length")  # fmt: skip
        if min(s.widths) < 1 or min(s.depths) < 1:
            _fail("space.widths", s.widths, "widths and depths must be >= 1")
    _at_least("executor.max_in_flight", e.max_in_flight, 1)
    _at_least("executor.pack", e.pack, 1, "calls per array task")
    if not e.poll_interval_s > 0:
        _fail("executor.poll_interval_s", e.poll_interval_s, "must be > 0 seconds")
    _at_least("executor.max_retries", e.max_retries, 0)
    _at_least("executor.snapshot_every", e.snapshot_every, 1)
    _at_least("executor.site.cpus_per_task", e.site.cpus_per_task, 1)
    _at_least("executor.site.gpus_per_task", e.site.gpus_per_task, 0)
    _at_least("executor.site.array_throttle", e.site.array_throttle, 0, "0 = no throttle")
    _at_least("budget.candidates", b.candidates, 1, "candidates to evaluate")
    for key in ("wall_hours", "gpu_hours", "llm_usd", "max_params", "max_flops"):
        _at_least(f"budget.{key}", float(getattr(b, key)), 0, "0 = none")
    _at_least("llm.temperature", cfg.llm.temperature, 0)
    if not cfg.llm.timeout_s > 0:
        _fail("llm.timeout_s", cfg.llm.timeout_s, "must be > 0 seconds")
    _at_least("llm.max_retries", cfg.llm.max_retries, 0)
    _at_least("llm.max_concurrency", cfg.llm.max_concurrency, 1)
    _at_least("llm.budget_tokens", cfg.llm.budget_tokens, 0, "0 = none")
    _at_least("llm.budget_usd", cfg.llm.budget_usd, 0, "0 = none")
    st = cfg.strategy
    _at_least("strategy.rea.population_size", st.rea.population_size, 1)
    _between("strategy.rea.sample_size", st.rea.sample_size, 1, st.rea.population_size)
    _at_least("strategy.lapt.top_k", st.lapt.top_k, 1)
    _at_least("strategy.lapt.top_r", st.lapt.top_r, 1)
    _at_least("strategy.lapt.adapt_every", st.lapt.adapt_every, 1)
    _at_least("strategy.lapt.population_size", st.lapt.population_size, 1)
    _between("strategy.lapt.sample_size", st.lapt.sample_size, 1, st.lapt.population_size)
    _at_least("strategy.llmatic.niches", st.llmatic.niches, 1)
    _at_least("strategy.llmatic.prompt_niches", st.llmatic.prompt_niches, 1)
    _at_least("strategy.llmatic.init_size", st.llmatic.init_size, 1)
    _between("strategy.llmatic.mutation_prob", st.llmatic.mutation_prob, 0, 1)
    _at_least("strategy.llmatic.init_temperature", st.llmatic.init_temperature, 0)
    _at_least("strategy.llmatic.temperature_sigma", st.llmatic.temperature_sigma, 0)
    _between("strategy.nader.dfs_ratio", st.nader.dfs_ratio, 0, 1)
    _at_least("strategy.nader.modifier_retries", st.nader.modifier_retries, 0)
    _at_least("strategy.nader.experiences_k", st.nader.experiences_k, 0)
    for name, value, low, high in st.nader.answer_limits.out_of_range():
        _between(f"strategy.nader.answer_limits.{name}", value, low, high)


# ---------------------------------------------------------------- choices the schema lacks
_STRING_CHOICES: dict[str, tuple[str, ...]] = {
    "train.amp": ("auto", "bf16", "off"),
    "train.channels_last": ("auto", "on", "off"),
    "train.engine": ("torch", "deepspeed"),
    "train.ds_precision": ("auto", "bf16", "fp32"),
}


def _choices(cfg: RunConfig) -> None:
    t = cfg.train
    for key, allowed in _STRING_CHOICES.items():
        value = getattr(t, key.split(".", 1)[1])
        if value not in allowed:
            _fail(key, value, f"choose one of {', '.join(allowed)}")
    dev = t.device
    if dev not in ("auto", "cpu", "cuda") and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        _fail("train.device", dev, "choose auto, cpu, cuda or cuda:N")
    if t.zero_stage not in (0, 1, 2):
        _fail("train.zero_stage", t.zero_stage, "choose 0, 1 or 2")
    nb201_table = t.evaluator == "table" and cfg.space.kind == "nb201"
    if nb201_table and t.table_fidelity not in (12, 200):
        _fail("train.table_fidelity", t.table_fidelity, "NB201 tables hold 12 or 200 epochs",
              "train.table_fidelity=200")  # fmt: skip
    from slurm.site import parse_slurm_time

    site = cfg.executor.site
    for key, value in (("executor.site.time", site.time),
                       ("executor.site.controller_time", site.controller_time)):  # fmt: skip
        try:
            parse_slurm_time(value)
        except ValueError as e:
            _fail(key, value, f"not a Slurm time ({_first_line(e)})", f"e.g. {key}=01:00:00")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ------------------------------------------------------------- strategy / space compatibility
def _strategy_space(cfg: RunConfig) -> None:
    name, kind = cfg.strategy.name, cfg.space.kind
    if name == "nader":
        if kind != "block":
            _fail("space.kind", kind, "strategy.name=nader designs blocks", "set space.kind=block")
        if cfg.train.evaluator == "table":
            _fail("train.evaluator", "table", "NADER's new blocks are in no benchmark table",
                  "set train.evaluator=train")  # fmt: skip
        from nas.graph.seeds import SEED_BLOCKS

        base = cfg.space.base_block
        if base not in SEED_BLOCKS and not Path(base).expanduser().is_file():
            _fail("space.base_block", base, f"neither a seed block ({', '.join(SEED_BLOCKS)}) "
                  "nor an existing block file", "e.g. space.base_block=resnet_basic")  # fmt: skip
        return
    if kind == "block":
        _fail("space.kind", "block", f"strategy.name={name} does not design blocks",
              "use strategy.name=nader, or space.kind=nb201")  # fmt: skip
    if name in ("random", "rea") and kind != "nb201":
        _fail("space.kind", kind, f"strategy.name={name} samples NAS-Bench-201 cells",
              "set space.kind=nb201")  # fmt: skip
    if name in ("lapt", "llmatic"):
        from nas.spaces import make_space
        from nas.spaces.base import SpaceError

        try:
            make_space(kind)
        except SpaceError:
            _fail("space.kind", kind, f"strategy.name={name} needs a categorical space",
                  "set space.kind=nb201 or macro")  # fmt: skip
    if cfg.train.evaluator == "train" and kind not in ("nb201", "block"):
        _fail("train.evaluator", "train", f"space.kind={kind} has no model builder to train",
              "use train.evaluator=table with space.table")  # fmt: skip


# ----------------------------------------------------------------------------- tables
def _load_table(key: str, path: str) -> object:
    from nas.evaluators.table import TableError, cached_table

    if not Path(path).expanduser().exists():
        _fail(
            key,
            path,
            "the benchmark table does not exist",
            f"give its path, {key}=/path/to/nb201.parquet",
        )
    try:
        return cached_table(Path(path).expanduser())
    except TableError as e:
        _fail(key, path, _first_line(e))
    except (OSError, ValueError) as e:  # an unreadable or non-Parquet file
        _fail(key, path, f"cannot be read as a benchmark table ({_first_line(e)})")
    raise AssertionError  # pragma: no cover


def _tables(cfg: RunConfig) -> None:
    from nas.evaluators.table import BenchmarkTable, TableError

    t = cfg.train
    if t.evaluator == "table":
        if not cfg.space.table:
            _fail("space.table", "", "train.evaluator=table looks candidates up in a benchmark table",
                  "set space.table=/path/to/nb201.parquet")  # fmt: skip
        table = _load_table("space.table", cfg.space.table)
        assert isinstance(table, BenchmarkTable)
        _table_kind("space.table", cfg.space.table, table, cfg.space.kind)
        try:
            table.check(t.dataset, t.table_fidelity)
        except TableError as e:
            _fail("train.dataset", t.dataset, _first_line(e))
    if cfg.strategy.name != "lapt":
        return
    lc = cfg.strategy.lapt
    key = "strategy.lapt.source_table" if lc.source_table else "space.table"
    path = lc.source_table or cfg.space.table
    if not path:
        _fail("strategy.lapt.source_table", "", "LAPT learns its principles from a source task's "
              "benchmark table", "set strategy.lapt.source_table=/path/to/nb201.parquet (or space.table)")  # fmt: skip
    if not lc.source_dataset:
        _fail("strategy.lapt.source_dataset", "", "name the source dataset", "e.g. imagenet16")
    if lc.source_dataset == t.dataset:
        _fail("strategy.lapt.source_dataset", lc.source_dataset,
              f"it is the target dataset (train.dataset={t.dataset}); LAPT must not learn its "
              "principles from the target task", "choose another, e.g. imagenet16 for CIFAR targets")  # fmt: skip
    src = _load_table(key, path)
    assert isinstance(src, BenchmarkTable)
    _table_kind(key, path, src, cfg.space.kind)
    if lc.source_dataset not in src.datasets:
        _fail("strategy.lapt.source_dataset", lc.source_dataset,
              f"not in the source table (datasets: {', '.join(src.datasets)})")  # fmt: skip


def _table_kind(key: str, path: str, table: object, kind: str) -> None:
    from nas.evaluators.table import BenchmarkTable

    assert isinstance(table, BenchmarkTable)
    want = {"nb201": ("nb201",), "macro": ("nb-macro",),
            "channel": ("channel-resnet", "channel-mobilenet")}.get(kind, (kind,))  # fmt: skip
    if table.arch_kind not in want:
        _fail(key, path, f"holds {table.arch_kind} architectures but space.kind={kind}",
              "use a table of the searched space")  # fmt: skip


# ------------------------------------------------------------------------------- data
# dataset -> (folder under data_dir, files that must all be there): what nas.data reads
_DATA_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cifar10": ("cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")),
    "cifar100": ("cifar-100-python", ("train", "test")),
    "imagenet16": ("ImageNet16", (*(f"train_data_batch_{i}" for i in range(1, 11)), "val_data")),
}


def _data(cfg: RunConfig) -> None:
    t = cfg.train
    if t.evaluator != "train" or t.dataset == "demo":
        if t.dataset == "demo" and t.split_file:
            _fail("train.split_file", t.split_file, "the demo data set takes no split file",
                  "set train.split_file=''")  # fmt: skip
        return
    if not t.data_dir:
        _fail("train.data_dir", "", f"train.dataset={t.dataset} is read from disk",
              f"set train.data_dir=/path/to/the/{t.dataset} files")  # fmt: skip
    root = Path(t.data_dir).expanduser()
    if not root.is_dir():
        _fail("train.data_dir", t.data_dir, "no such directory",
              f"point it at the folder holding the {t.dataset} files")  # fmt: skip
    if t.dataset == "imagefolder":
        if not (root / "train").is_dir() or not any((root / n).is_dir() for n in ("test", "val")):
            _fail("train.data_dir", t.data_dir, "an image folder needs train/ and test/ (or val/) "
                  "subfolders of class folders")  # fmt: skip
        return
    folder, files = _DATA_FILES[t.dataset]
    if not any(all((c / f).is_file() for f in files) for c in (root / folder, root)):
        _fail("train.data_dir", t.data_dir, f"holds no {t.dataset} data (looked for "
              f"{', '.join(files)} in {root / folder} and {root})",
              "download the official python version there")  # fmt: skip


def _files(cfg: RunConfig) -> None:
    t, n = cfg.train, cfg.strategy.nader
    if t.split_file and not Path(t.split_file).expanduser().is_file():
        _fail("train.split_file", t.split_file, "no such file", "give an NB201 split file or ''")
    if (
        cfg.strategy.name == "nader"
        and n.knowledge
        and not Path(n.knowledge).expanduser().is_file()
    ):
        _fail("strategy.nader.knowledge", n.knowledge, "no such file",
              "give a JSON/JSONL knowledge pool or '' for the built-in one")  # fmt: skip


def _llm(cfg: RunConfig) -> None:
    lc = cfg.llm
    if lc.mode in ("record", "replay") and not lc.cassette:
        _fail("llm.cassette", "", f"llm.mode={lc.mode} reads/writes a cassette file",
              "set llm.cassette=/path/to/cassette.jsonl")  # fmt: skip
    if lc.mode == "replay" and not Path(lc.cassette).expanduser().is_file():
        _fail("llm.cassette", lc.cassette, "llm.mode=replay needs an existing cassette")
    offline = not lc.base_url and lc.mode != "replay"
    if cfg.strategy.name == "lapt" and cfg.strategy.lapt.learner == "llm" and offline:
        _fail("strategy.lapt.learner", "llm", "needs an LLM endpoint",
              "set llm.base_url (or llm.mode=replay with llm.cassette), or "
              "strategy.lapt.learner=statistical")  # fmt: skip
