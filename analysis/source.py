"""Where a run's results live: its directory (manifest, checkpoints), its store and the
facts of its configuration the analysis needs.

The launcher resolves ``RUN`` (an id or a directory), reads the run's config, opens its
store and hands both in (:func:`launcher.build.open_run_source`): this package never reads
``config.yaml``. :class:`RunFacts` holds the typed sections it uses (``train``, ``space``)
plus the strategy name, the seed and the resolved config's text (shown in the report).
:func:`connect_runs` builds DuckDB connections over one run or several (possibly in
different stores) with the helper views of :mod:`analysis.queries` installed.

    >>> src = open_run_source("runs/demo-20250101-000000-abcdef")  # doctest: +SKIP
    >>> con = connect_runs([src])                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.queries import install_views

if TYPE_CHECKING:
    import duckdb

    from nas.spaces.config import SpaceConfig
    from nas.train.config import TrainConfig
    from store.result_store import ResultStore

__all__ = ["RunFacts", "RunSource", "connect_runs"]


@dataclass(frozen=True)
class RunFacts:
    """What the analysis reads of a run's configuration (built by the launcher from it)."""

    strategy: str  # strategy.name
    seed: int  # experiment.seed
    train: TrainConfig  # section train (evaluator, dataset, recipe, table fidelity, ...)
    space: SpaceConfig  # section space (the benchmark table of table runs)
    config_text: str = ""  # the resolved config as YAML, shown in the report


@dataclass
class RunSource:
    """One run: ``run_id``, its directory, its result store and its configuration facts."""

    run_id: str
    run_dir: Path
    store: ResultStore
    facts: RunFacts

    @classmethod
    def open(
        cls, run_dir: str | Path, store: ResultStore, facts: RunFacts, run_id: str | None = None
    ) -> RunSource:
        """The run in ``run_dir`` (holding ``manifest.json``) with its opened ``store``."""
        d = Path(run_dir).resolve()
        rid = run_id or _manifest(d).get("run_id") or d.name
        return cls(str(rid), d, store, facts)

    @property
    def manifest(self) -> dict[str, Any]:
        return _manifest(self.run_dir)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """DuckDB views over this run with the helper views installed."""
        return connect_runs([self])


def connect_runs(sources: Sequence[RunSource]) -> duckdb.DuckDBPyConnection:
    """One DuckDB connection whose views (``trials``, ``candidates``, ...) cover all
    ``sources`` (each with its ``run_id`` column), plus the helper views of the queries."""
    import duckdb

    from store import connect

    if not sources:
        raise ValueError("connect_runs needs at least one run")
    by_store: dict[str, list[RunSource]] = {}
    for s in sources:
        by_store.setdefault(s.store.uri, []).append(s)
    con = duckdb.connect(":memory:")
    if len(by_store) == 1:
        group = next(iter(by_store.values()))
        ids = [s.run_id for s in group]
        connect(group[0].store, ids[0] if len(ids) == 1 else ids, con=con)
        return install_views(con)
    # runs in different stores: one schema per store, then union views in main
    from store.schemas import TABLES

    schemas = []
    for i, group in enumerate(by_store.values()):
        schema = f"s{i}"
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"USE memory.{schema}")
        ids = [s.run_id for s in group]
        connect(group[0].store, ids[0] if len(ids) == 1 else ids, con=con)
        schemas.append(schema)
    con.execute("USE memory.main")
    for table in TABLES:
        body = " UNION ALL BY NAME ".join(f'SELECT * FROM {s}."{table}"' for s in schemas)
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {body}')
    return install_views(con)


def _manifest(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "manifest.json"
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
