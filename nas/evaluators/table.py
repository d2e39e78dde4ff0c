"""Tabular benchmarks as evaluators: a candidate is looked up, not trained.

A :class:`BenchmarkTable` holds, per architecture text, validation and test accuracy per
(dataset, fidelity) plus parameters and FLOPs, in memory (lookups are one dict access).
:class:`TableEvaluator` turns a :class:`~nas.records.Candidate` into a
:class:`~nas.records.TrialRecord` carrying **validation accuracy only** — what a search may
see. Test accuracy is attached after selection with :meth:`TableEvaluator.attach_test`.
Accuracies are fractions in [0, 1] (the tables store percent).

Tables:

* NAS-Bench-201 (Parquet with ``arch_str``, ``<dataset>_val_acc``/``<dataset>_test_acc`` and
  ``*_e12`` columns): datasets ``cifar10`` (the cifar10-valid split for validation, the
  official test set for test), ``cifar100``, ``imagenet16``; fidelities 200 and 12 epochs.
* NAS-Bench-Macro and Channel-Bench-Macro (JSON; CIFAR-10 only, three training runs, no
  validation split): validation = run 1, test = mean of runs 2 and 3 — a proxy split so that
  selection and reporting use different numbers. Fidelity ``0`` = the benchmark's schedule.

A :class:`TableEvaluator` built from a table file (a path, or a table from :func:`load_table`)
pickles as that path plus dataset, fidelity and cost model — a few hundred bytes, not the
~3.8 MB table — and loads the table lazily, once per process (:func:`cached_table`, keyed by
path, mtime and size), at its first lookup in the worker. One built from an in-memory table
without a file pickles the whole table.

Example::

    >>> ev = TableEvaluator(load_table("nb201.parquet"), dataset="cifar10", fidelity=200)  # doctest: +SKIP
    >>> rec = ev(candidate)          # rec.metrics == {"val_acc": 0.91...}      # doctest: +SKIP
    >>> ev.attach_test(rec)          # adds metrics["test_acc"] for the report  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nas.records import Candidate, TrialCost, TrialRecord, TrialState

__all__ = [
    "NB201_DATASETS",
    "BenchmarkTable",
    "FlopsCostModel",
    "RecordedTimes",
    "TableEntry",
    "TableError",
    "TableEvaluator",
    "cached_table",
    "load_table",
]

NB201_DATASETS = ("cifar10", "cifar100", "imagenet16")
_NB201_VAL = {
    "cifar10": "cifar10_valid_val_acc",
    "cifar100": "cifar100_val_acc",
    "imagenet16": "imagenet16_val_acc",
}
# NATS-Bench's recorded training seconds per epoch (the same at 12 and 200 epochs; the
# search's training split: cifar10-valid for CIFAR-10)
_NB201_TRAIN_S = {
    "cifar10": "cifar10_valid_train_s_per_epoch",
    "cifar100": "cifar100_train_s_per_epoch",
    "imagenet16": "imagenet16_train_s_per_epoch",
}


class TableError(ValueError):
    """A table, dataset or fidelity is not available; the message lists what is."""


@dataclass(frozen=True)
class TableEntry:
    """One architecture's row for one (dataset, fidelity): accuracies as fractions."""

    val_acc: float
    test_acc: float
    params: int
    flops: int


@dataclass
class BenchmarkTable:
    """An in-memory tabular benchmark.

    ``val``/``test`` map ``(dataset, fidelity)`` to arrays aligned with ``archs`` (fractions);
    ``params``/``flops`` map ``dataset`` to arrays (counts); ``train_s`` maps ``dataset`` to
    recorded training seconds per epoch (NB201 only; empty when the table has none). ``arch_kind`` is the
    ``Candidate.arch_kind`` the table answers for; ``path`` the absolute path of the file it
    was loaded from (set by :func:`load_table`; None for a table built in memory).
    """

    name: str
    arch_kind: str
    archs: tuple[str, ...]
    val: dict[tuple[str, int], np.ndarray]
    test: dict[tuple[str, int], np.ndarray]
    params: dict[str, np.ndarray]
    flops: dict[str, np.ndarray]
    default_fidelity: int = 200
    path: str | None = None
    train_s: dict[str, np.ndarray] = field(default_factory=dict)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {a: i for i, a in enumerate(self.archs)}

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted({d for d, _ in self.val}))

    @property
    def fidelities(self) -> tuple[int, ...]:
        return tuple(sorted({f for _, f in self.val}))

    def __len__(self) -> int:
        return len(self.archs)

    def check(self, dataset: str, fidelity: int) -> tuple[str, int]:
        if (dataset, fidelity) not in self.val:
            raise TableError(
                f"table {self.name!r} has no ({dataset!r}, fidelity {fidelity}); "
                f"datasets: {', '.join(self.datasets)}; fidelities: "
                f"{', '.join(map(str, self.fidelities))}"
            )
        return dataset, fidelity

    def entry(self, arch: str, dataset: str, fidelity: int) -> TableEntry:
        i = self.index.get(arch)
        if i is None:
            raise TableError(f"architecture {arch!r} is not in table {self.name!r}")
        key = self.check(dataset, fidelity)
        return TableEntry(
            float(self.val[key][i]),
            float(self.test[key][i]),
            int(self.params[dataset][i]),
            int(self.flops[dataset][i]),
        )

    def argmax(self, dataset: str, fidelity: int, metric: str = "test") -> str:
        """The architecture with the highest ``metric`` ("val" or "test"); first on ties."""
        key = self.check(dataset, fidelity)
        arr = (self.test if metric == "test" else self.val)[key]
        return self.archs[int(np.argmax(arr))]

    # -- loaders -------------------------------------------------------------------------

    @classmethod
    def from_nb201_arrow(cls, table: Any, name: str = "nb201") -> BenchmarkTable:
        """From a ``pyarrow.Table`` with NAS-Bench-201's columns (see the module doc)."""
        cols = set(table.column_names)
        need = {"arch_str"} | {f"{d}_test_acc" for d in NB201_DATASETS} | set(_NB201_VAL.values())
        if missing := sorted(need - cols):
            raise TableError(f"NB201 table {name!r} lacks columns {missing}")

        def arr(col: str, scale: float = 1.0) -> np.ndarray:
            return np.asarray(table.column(col).to_numpy(), dtype=np.float64) * scale

        val: dict[tuple[str, int], np.ndarray] = {}
        test: dict[tuple[str, int], np.ndarray] = {}
        params: dict[str, np.ndarray] = {}
        flops: dict[str, np.ndarray] = {}
        for d in NB201_DATASETS:
            for fid, suffix in ((200, ""), (12, "_e12")):
                vcol, tcol = _NB201_VAL[d] + suffix, f"{d}_test_acc{suffix}"
                if vcol in cols and tcol in cols:
                    val[(d, fid)] = arr(vcol, 0.01)
                    test[(d, fid)] = arr(tcol, 0.01)
            n = table.num_rows
            params[d] = (
                np.rint(arr(f"params_M_{d}", 1e6)) if f"params_M_{d}" in cols else np.zeros(n)
            )
            flops[d] = np.rint(arr(f"flops_M_{d}", 1e6)) if f"flops_M_{d}" in cols else np.zeros(n)
        archs = tuple(str(a) for a in table.column("arch_str").to_pylist())
        train_s = {d: arr(c) for d, c in _NB201_TRAIN_S.items() if c in cols}
        return cls(name, "nb201", archs, val, test, params, flops, default_fidelity=200,
                   train_s=train_s)  # fmt: skip

    @classmethod
    def from_macro_json(cls, data: Mapping[str, Any], arch_kind: str, name: str) -> BenchmarkTable:
        """From a NAS-Bench-Macro (``test_acc`` runs) or Channel-Bench-Macro (``acc`` runs)
        mapping ``code -> record``; validation = run 1, test = mean of the other runs."""
        archs = tuple(sorted(data))
        runs = [list(data[a].get("test_acc", data[a].get("acc", []))) for a in archs]
        if not runs or any(len(r) < 2 for r in runs):
            raise TableError(f"macro table {name!r} needs >= 2 training runs per architecture")
        val = np.array([r[0] for r in runs], dtype=np.float64) * 0.01
        test = np.array([np.mean(r[1:]) for r in runs], dtype=np.float64) * 0.01
        params = np.array([data[a]["params"] for a in archs], dtype=np.float64)
        flops = np.array([data[a]["flops"] for a in archs], dtype=np.float64)
        return cls(
            name,
            arch_kind,
            archs,
            {("cifar10", 0): val},
            {("cifar10", 0): test},
            {"cifar10": params},
            {"cifar10": flops},
            default_fidelity=0,
        )


def load_table(path: str | Path) -> BenchmarkTable:
    """Load a benchmark table by its file: ``*.parquet`` = NAS-Bench-201; JSON files named
    ``nas-bench-macro*`` = NAS-Bench-Macro; ``Results_ResNet*``/``Results_MobileNet*`` =
    Channel-Bench-Macro. Raises :class:`TableError` naming the path when it is absent."""
    p = Path(path)
    if not p.exists():
        raise TableError(f"benchmark table {str(p)!r} does not exist (give --table PATH)")
    table = _read_table(p)
    table.path = str(p.resolve())
    return table


def _read_table(p: Path) -> BenchmarkTable:
    low = p.name.lower()
    if low.endswith(".parquet"):
        import pyarrow.parquet as pq

        return BenchmarkTable.from_nb201_arrow(pq.read_table(p), name=p.stem)
    if low.endswith(".json"):
        data = json.loads(p.read_text())
        if "macro" in low and "channel" not in low and "results_" not in low:
            return BenchmarkTable.from_macro_json(data, "nb-macro", p.stem)
        for base in ("resnet", "mobilenet"):
            if base in low:
                return BenchmarkTable.from_macro_json(data, f"channel-{base}", p.stem)
    raise TableError(
        f"cannot tell which benchmark {str(p)!r} is: expected nb201 *.parquet, "
        "nas-bench-macro*.json, Results_ResNet*.json or Results_MobileNet*.json"
    )


# Tables loaded by this process: absolute path -> ((mtime_ns, size), table). One entry per
# path; a file replaced on disk (new mtime or size) is read again.
_CACHE: dict[str, tuple[tuple[int, int], BenchmarkTable]] = {}
_CACHE_LOCK = threading.Lock()


def cached_table(path: str | Path) -> BenchmarkTable:
    """:func:`load_table` once per process and file version (path + mtime + size).

    What a :class:`TableEvaluator` unpickled in a worker uses: a task running several calls
    (a pack), or a local worker process reused, reads the table once. Treat the returned
    table as read-only: it is shared by every evaluator of this process.
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        raise TableError(f"benchmark table {str(p)!r} does not exist (give --table PATH)") from None
    stamp = (st.st_mtime_ns, st.st_size)
    key = str(p)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        table = load_table(p)
        _CACHE[key] = (stamp, table)
        return table


@dataclass(frozen=True)
class FlopsCostModel:
    """Simulated accelerator seconds of training one network (an estimate, not a measurement).

    ``seconds = epochs * (overhead_s + 3 * flops * images / (effective_tflops * 1e12))``:
    forward + backward ~ 3x forward FLOPs per image, ``images`` per epoch by dataset, at an
    effective throughput typical of small CIFAR networks on one data-centre GPU. With the
    defaults a 200-epoch NAS-Bench-201 cell on CIFAR-10 costs 0.2-1.0 GPU-hours.
    """

    effective_tflops: float = 4.0  # sustained training throughput, 1e12 FLOP/s
    overhead_s: float = 3.0  # per-epoch data loading/evaluation overhead, seconds
    images_per_epoch: Mapping[str, int] = field(
        default_factory=lambda: {"cifar10": 50_000, "cifar100": 50_000, "imagenet16": 151_700}
    )

    def gpu_seconds(self, flops: float, epochs: int, dataset: str) -> float:
        images = self.images_per_epoch.get(dataset, 50_000)
        return epochs * (self.overhead_s + 3.0 * flops * images / (self.effective_tflops * 1e12))


@dataclass(frozen=True)
class RecordedTimes:
    """Simulated accelerator seconds from the table's *recorded* training time per epoch
    (NAS-Bench-201: NATS-Bench's ``*_train_s_per_epoch``, measured on the authors' GPUs;
    evaluation time is not included). ``seconds = epochs * recorded seconds per epoch``."""

    label: str = "recorded"  # how the JSON names this time axis

    def gpu_seconds(self, per_epoch_s: float, epochs: int) -> float:
        return epochs * per_epoch_s


class TableEvaluator:
    """Evaluate candidates by table lookup: validation accuracy only, test attached later.

    ``fidelity`` is the training length in epochs the lookup stands for (NB201: 200 or 12;
    ``None`` = the table's default). ``cost_model`` fills ``TrialCost.gpu_seconds`` so
    benchmark runs can estimate GPU-hours. A candidate of another ``arch_kind`` or absent
    from the table comes back INVALID with the reason, never as an exception.

    ``table`` is a path (read through :func:`cached_table`) or a :class:`BenchmarkTable`.
    When the table has a file (``table.path``) the evaluator pickles as that path plus
    ``dataset``/``fidelity``/``cost_model`` (< 1 KiB; Slurm and local tasks each carry one)
    and an unpickled copy loads the table at its first lookup, once per process.
    """

    _table: BenchmarkTable | None

    def __init__(
        self,
        table: BenchmarkTable | str | Path,
        dataset: str = "cifar10",
        fidelity: int | None = None,
        cost_model: FlopsCostModel | RecordedTimes | None = None,
    ) -> None:
        tbl = table if isinstance(table, BenchmarkTable) else cached_table(table)
        fid = tbl.default_fidelity if fidelity is None else int(fidelity)
        self.dataset, self.fidelity = tbl.check(dataset, fid)
        self.cost_model = cost_model or FlopsCostModel()
        self.name = f"table:{tbl.name}:{dataset}@{self.fidelity}"
        self._path = tbl.path
        self._bind(tbl)

    def _bind(self, tbl: BenchmarkTable) -> BenchmarkTable:
        key = tbl.check(self.dataset, self.fidelity)
        self._index = tbl.index
        self._val = tbl.val[key]
        self._test = tbl.test[key]
        self._params = tbl.params[self.dataset]
        self._flops = tbl.flops[self.dataset]
        if isinstance(self.cost_model, RecordedTimes) and self.dataset not in tbl.train_s:
            raise TableError(
                f"table {tbl.name!r} has no recorded training times for {self.dataset!r}: "
                "use the FLOPs cost model (--time-model flops)"
            )
        self._train_s = tbl.train_s.get(self.dataset)
        self._table = tbl
        return tbl

    def _gpu_seconds(self, i: int, epochs: int) -> float:
        if isinstance(self.cost_model, RecordedTimes):
            assert self._train_s is not None  # checked in _bind
            return self.cost_model.gpu_seconds(float(self._train_s[i]), epochs)
        return self.cost_model.gpu_seconds(int(self._flops[i]), epochs, self.dataset)

    @property
    def table(self) -> BenchmarkTable:
        """The table (loaded now if this evaluator was unpickled and has not looked up yet)."""
        tbl = self._table
        if tbl is None:
            assert self._path is not None
            tbl = self._bind(cached_table(self._path))
        return tbl

    # -- pickling: the path, not the table -------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        if self._path is None:  # an in-memory table: nothing to reload it from
            return dict(self.__dict__)
        return {
            "_path": self._path,
            "dataset": self.dataset,
            "fidelity": self.fidelity,
            "cost_model": self.cost_model,
            "name": self.name,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_table" not in state:
            self._table = None  # loaded by the first lookup (``table``)

    def _row(self, cand: Candidate) -> int | str:
        tbl = self.table
        if cand.arch_kind != tbl.arch_kind:
            return (
                f"table {tbl.name!r} answers for arch_kind {tbl.arch_kind!r}, "
                f"not {cand.arch_kind!r}"
            )
        i = self._index.get(cand.arch)
        if i is None:
            return f"architecture {cand.arch!r} is not in table {tbl.name!r}"
        return i

    def __call__(self, cand: Candidate) -> TrialRecord:
        now = time.time()
        i = self._row(cand)
        if isinstance(i, str):
            return TrialRecord(
                cand.id, TrialState.INVALID, error=i, evaluator=self.name,
                started_at=now, finished_at=now,
            )  # fmt: skip
        flops = int(self._flops[i])
        return TrialRecord(
            cand.id,
            TrialState.COMPLETE,
            metrics={"val_acc": float(self._val[i])},
            cost=TrialCost(
                params=int(self._params[i]),
                flops=flops,
                macs=flops // 2,
                gpu_seconds=self._gpu_seconds(i, self.fidelity),
            ),
            evaluator=self.name,
            started_at=now,
            finished_at=now,
        )

    def evaluate_at(self, cand: Candidate, epochs: int, from_epochs: int = 0,
                    full: int = 0) -> TrialRecord:  # fmt: skip
        """The validation accuracy after ``epochs`` (a training length the table holds),
        charged for the epochs after ``from_epochs`` only: a promoted candidate resumes
        from its checkpoint, it is not trained again from scratch. The record carries
        ``fidelity_epochs=epochs`` and ``fidelity_max=full`` (the schedule's full length)."""
        tbl = self.table
        key = tbl.check(self.dataset, epochs)
        if not 0 <= from_epochs < epochs:
            raise TableError(f"resume from epoch {from_epochs} to {epochs}: need 0 <= from < to")
        rec = self(cand)
        i = self._row(cand)
        if isinstance(i, str):
            return rec
        return rec.with_(
            metrics={"val_acc": float(tbl.val[key][i])},
            cost=replace(rec.cost, gpu_seconds=self._gpu_seconds(i, epochs - from_epochs)),
            evaluator=f"table:{tbl.name}:{self.dataset}@{epochs}",
            fidelity_epochs=epochs,
            fidelity_max=full,
        )

    def val_acc(self, arch: str) -> float:
        i = self.table.index[arch]  # first: loads the table of an unpickled evaluator
        return float(self._val[i])

    def test_acc(self, arch: str) -> float:
        """Reporting only: never feed this to a strategy."""
        i = self.table.index[arch]
        return float(self._test[i])

    def attach_test(self, cand: Candidate, record: TrialRecord) -> TrialRecord:
        """``record`` with ``metrics['test_acc']`` added (after selection, for the report)."""
        i = self._row(cand)
        if isinstance(i, str) or record.state is not TrialState.COMPLETE:
            return record
        return record.with_(metrics={**record.metrics, "test_acc": float(self._test[i])})

    def evaluate_many(self, cands: Sequence[Candidate]) -> list[TrialRecord]:
        return [self(c) for c in cands]
