"""Where a run's results live: its directory (config, manifest, checkpoints) and its store.

The launcher resolves ``RUN`` (an id or a directory) to a directory; this module opens the
run's result store (``store.uri`` of the run's config, else ``<run_dir>/tables``) and builds
DuckDB connections over one run or several (possibly in different stores) with the helper
views of :mod:`analysis.queries` installed.

    >>> src = RunSource.open("runs/demo-20250101-000000-abcdef")   # doctest: +SKIP
    >>> con = connect_runs([src])                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.queries import install_views

if TYPE_CHECKING:
    import duckdb

    from store.result_store import ResultStore

__all__ = ["RunSource", "connect_runs"]


@dataclass
class RunSource:
    """One run: ``run_id``, its directory and its result store."""

    run_id: str
    run_dir: Path
    store: ResultStore
    _config: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, run_dir: str | Path, run_id: str | None = None) -> RunSource:
        """The run in ``run_dir`` (holding ``manifest.json``/``config.yaml``)."""
        from store import open_store

        d = Path(run_dir).resolve()
        rid = run_id or _manifest(d).get("run_id") or d.name
        cfg = _config(d)
        st = cfg.get("store") or {}
        uri = str(st.get("uri") or "")
        if uri:
            store = open_store(
                uri,
                endpoint=st.get("s3_endpoint") or None,
                region=st.get("s3_region") or None,
                path_style=bool(st.get("s3_path_style", True)),
            )
        else:
            store = open_store(d / "tables")
        return cls(str(rid), d, store, cfg)

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = _config(self.run_dir)
        return self._config

    @property
    def config_text(self) -> str:
        p = self.run_dir / "config.yaml"
        return p.read_text(encoding="utf-8") if p.is_file() else ""

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


def _config(run_dir: Path) -> dict[str, Any]:
    p = run_dir / "config.yaml"
    if not p.is_file():
        return {}
    import yaml

    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
