"""Whole-config validation: every check a run needs before anything exists.

``validate_config(cfg)`` raises one :class:`ConfigError` whose message is ONE line naming the
key and the fix; ``launch`` (also ``--dry-run``), ``sbatch``, ``demo``, ``resume`` and
``controller --config`` call it (through ``load_config(..., check=True)``) before a run
directory is created or a job submitted, so a mistake never surfaces as a controller that
died in its log.

What is checked (each section below is one function):

* numeric ranges and string choices: each component section's own ``validate()``
  (``TrainConfig``, the strategy configs, ``LLMConfig``, ``ExecutorConfig`` with its
  ``SiteParams``, ``StoreConfig``), then the run's sections (``space``, ``budget``);
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
from nas.config_checks import SettingError, at_least, fail

__all__ = ["validate_config"]


def validate_config(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` (one line: key, value, fix) at the first problem."""
    _sections(cfg)
    _fidelity(cfg)
    _ranges(cfg)
    _choices(cfg)
    _strategy_space(cfg)
    _tables(cfg)
    _data(cfg)
    _files(cfg)
    _llm(cfg)


def _fail(key: str, value: object, need: str, fix: str = "") -> None:
    try:
        fail(key, value, need, fix)
    except SettingError as e:
        raise ConfigError(str(e)) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _sections(cfg: RunConfig) -> None:
    """Each component section checks its own ranges (``validate()`` beside its fields)."""
    try:
        cfg.space.validate("space.")
        cfg.train.validate("train.")
        cfg.strategy.validate("strategy.")
        cfg.llm.validate("llm.")
        cfg.executor.validate()
        cfg.store.validate()
        cfg.fidelity.validate("fidelity.")
    except ValueError as e:  # SettingError, or the executor's/store's own ValueError
        raise ConfigError(_first_line(e)) from None


def _fidelity(cfg: RunConfig) -> None:
    """A fidelity schedule's last rung is the training recipe's full length."""
    f, t = cfg.fidelity, cfg.train
    if f.enabled and t.evaluator == "train" and f.max_epochs != t.epochs:
        _fail("fidelity.max_epochs", f.max_epochs,
              f"must equal train.epochs ({t.epochs}): the last rung is the full recipe (its "
              "learning-rate schedule spans all of it)", f"set fidelity.max_epochs={t.epochs}")  # fmt: skip


# --------------------------------------------------------------------------- run sections
def _ranges(cfg: RunConfig) -> None:
    """The run's own sections (``space``, ``budget``) and cross-section rules."""
    b = cfg.budget
    try:
        at_least("budget.", "candidates", b.candidates, 1, "candidates to evaluate")
        for key, value in (("wall_hours", b.wall_hours), ("gpu_hours", b.gpu_hours),
                           ("llm_usd", b.llm_usd), ("max_params", b.max_params),
                           ("max_flops", b.max_flops)):  # fmt: skip
            at_least("budget.", key, value, 0, "0 = none")
        st = cfg.strategy
        for name, dup in (("random", st.random.allow_duplicates),
                          ("rea", st.rea.allow_duplicates)):  # fmt: skip
            if dup:
                fail(f"strategy.{name}.allow_duplicates", True, "proposes repeated candidates, "
                     "which a run keys by id (NB201 paper protocol of archlab bench only)",
                     f"set strategy.{name}.allow_duplicates=false")  # fmt: skip
    except SettingError as e:
        raise ConfigError(str(e)) from None


# ---------------------------------------------------------------- choices the schema lacks
def _choices(cfg: RunConfig) -> None:
    t = cfg.train
    nb201_table = t.evaluator == "table" and cfg.space.kind == "nb201"
    if nb201_table and t.table_fidelity not in (12, 200):
        _fail("train.table_fidelity", t.table_fidelity, "NB201 tables hold 12 or 200 epochs",
              "train.table_fidelity=200")  # fmt: skip


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
    if t.dataset == "fashion-mnist":  # data_dir may be empty: the Debian package's folder
        from nas.data.base import DatasetNotFoundError
        from nas.data.fashion_mnist import find_files

        try:
            find_files(t.data_dir)
        except DatasetNotFoundError as e:
            _fail("train.data_dir", t.data_dir, str(e))
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
    offline = not lc.base_url and not lc.serve.enabled and lc.mode != "replay"
    _serve(cfg)
    if cfg.strategy.name == "lapt" and cfg.strategy.lapt.learner == "llm" and offline:
        _fail("strategy.lapt.learner", "llm", "needs an LLM endpoint",
              "set llm.base_url (or llm.mode=replay with llm.cassette), or "
              "strategy.lapt.learner=statistical")  # fmt: skip


def _serve(cfg: RunConfig) -> None:
    """``llm.serve`` needs a place for its job and, for ``llama_cpp``, the installed model."""
    s = cfg.llm.serve
    if s.reuse:
        _reuse(cfg)
    if not s.kind:
        return
    if cfg.executor.kind == "inprocess":
        _fail("executor.kind", "inprocess", f"llm.serve.kind={s.kind} starts the LLM server "
              "as a job of the run", "set executor.kind=slurm (or local), or --cluster slurm")  # fmt: skip
    if s.kind == "llama_cpp":
        from nas.llm.serve import LLAMA_CPP, default_llama_dir

        ldir = Path(s.llama_dir).expanduser() if s.llama_dir else default_llama_dir()
        python = LLAMA_CPP.python(ldir)
        if not python.is_file():
            _fail("llm.serve.llama_dir", str(ldir), f"has no llama-cpp-python server ({python})",
                  f"install it with ARCHLAB_LLM_DIR={ldir} bash scripts/llm-up.sh "
                  "--install-only (on a filesystem the compute nodes see)")  # fmt: skip
        gguf = Path(s.model).expanduser() if s.model else LLAMA_CPP.gguf(ldir)
        if not gguf.is_file():
            _fail("llm.serve.model", s.model or str(gguf), "is not a GGUF file",
                  f"install the project's model with ARCHLAB_LLM_DIR={ldir} bash "
                  "scripts/llm-up.sh --install-only, or name a .gguf path")  # fmt: skip


def _reuse(cfg: RunConfig) -> None:
    """``llm.serve.reuse`` names a run that serves a model, under this run's ``llm.model``."""
    from launcher.config.load import load_config

    other = Path(cfg.llm.serve.reuse).expanduser()
    if not (other / "journal.jsonl").is_file() or not (other / "config.yaml").is_file():
        _fail("llm.serve.reuse", str(other), "is not a started run directory (no journal.jsonl "
              "and config.yaml)", "name the directory of a run launched with llm.serve.kind")  # fmt: skip
    theirs = load_config([other / "config.yaml"]).llm
    if not theirs.serve.kind:
        _fail("llm.serve.reuse", str(other), "is a run without llm.serve.kind: it starts no "
              "server", "name a run launched with llm.serve.kind=...")  # fmt: skip
    if theirs.model != cfg.llm.model:
        _fail("llm.model", cfg.llm.model, f"differs from the served model of {other.name} "
              f"({theirs.model!r})", f"set llm.model={theirs.model}")  # fmt: skip
