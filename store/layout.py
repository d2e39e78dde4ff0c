"""Object layout of a result store and which files a reader may see (pure functions).

Layout under a store root (a directory, or ``s3://bucket/prefix``)::

    {table}/run_id={run_id}/part-{unix_ns:020d}-{uuid12}.parquet    data (visible)
    {table}/run_id={run_id}/part-key-{key}.parquet                   data written with an idempotency key
    {table}/run_id={run_id}/_compaction-{merged-stem}.json           compaction in progress
    {table}/run_id={run_id}/.part-*.parquet.tmp                      local backend only: a write in flight

Any DuckDB client may read ``{table}/run_id=*/part-*.parquet``. Compaction writes a marker
naming the merged file and the files it replaces *before* it writes the merged file, and
deletes the marker after it deleted the replaced files. :func:`visible_parts` is the rule
archlab's readers apply, so they never count a row twice while a compaction is half done:
a replaced file is hidden as soon as the merged file exists.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "CompactionMarker",
    "ObjectInfo",
    "check_run_id",
    "marker_name",
    "new_part_name",
    "part_name_for_key",
    "partition_key",
    "visible_parts",
]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # fullmatch: no trailing newline
_KEY = re.compile(r"[A-Za-z0-9._-]{1,150}")  # fullmatch: no trailing newline
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
MARKER_PREFIX = "_compaction-"
MARKER_SUFFIX = ".json"


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: ``key`` relative to the store root, size in bytes, mtime (unix s)."""

    key: str
    size: int = 0
    mtime: float = 0.0

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def run_id(self) -> str:
        part = self.key.split("/")[-2]
        return part.split("=", 1)[1] if part.startswith("run_id=") else ""


@dataclass(frozen=True)
class CompactionMarker:
    """``merged`` (a part file name) replaces ``replaced`` (part file names) in one partition."""

    merged: str
    replaced: tuple[str, ...]
    created_at: float = field(default_factory=time.time)
    host: str = field(default_factory=socket.gethostname)  # who is compacting
    pid: int = field(default_factory=os.getpid)

    def to_json(self) -> bytes:
        body = {
            "merged": self.merged,
            "replaced": list(self.replaced),
            "created_at": self.created_at,
            "host": self.host,
            "pid": self.pid,
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> CompactionMarker:
        d = json.loads(data)
        return cls(
            str(d["merged"]),
            tuple(str(x) for x in d["replaced"]),
            float(d.get("created_at", 0)),
            str(d.get("host", "")),
            int(d.get("pid", 0)),
        )

    def is_abandoned(self, stale_after_s: float) -> bool:
        """True if the compaction that wrote this marker cannot still be running: its process
        is gone from this host, or the marker is older than ``stale_after_s``."""
        if time.time() - self.created_at > stale_after_s:
            return True
        if self.host == socket.gethostname() and self.pid > 0:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False


def check_run_id(run_id: str) -> str:
    """``run_id`` becomes a path segment ``run_id=...``: letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or run_id in (".", ".."):
        raise ValueError(
            f"run id {run_id!r} is not usable in a store path: use 1-200 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return run_id


def partition_key(table: str, run_id: str) -> str:
    return f"{table}/run_id={check_run_id(run_id)}"


def new_part_name(ts_ns: int | None = None) -> str:
    """A fresh, unique part file name; names sort by creation time."""
    ts = time.time_ns() if ts_ns is None else ts_ns
    return f"{PART_PREFIX}{ts:020d}-{uuid.uuid4().hex[:12]}{PART_SUFFIX}"


def part_name_for_key(key: str) -> str:
    """The part file name of an append made with an idempotency ``key`` (a retry overwrites it)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"idempotency key {key!r}: use 1-150 letters, digits, '.', '_' or '-'")
    return f"{PART_PREFIX}key-{key}{PART_SUFFIX}"


def marker_name(merged: str) -> str:
    return f"{MARKER_PREFIX}{merged.removesuffix(PART_SUFFIX)}{MARKER_SUFFIX}"


def is_part(name: str) -> bool:
    return name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX)


def is_marker(name: str) -> bool:
    return name.startswith(MARKER_PREFIX) and name.endswith(MARKER_SUFFIX)


def visible_parts(
    objects: Iterable[ObjectInfo], markers: Mapping[str, CompactionMarker]
) -> list[ObjectInfo]:
    """The part files a reader must read, sorted by key.

    ``objects`` is a listing (any mix of partitions); ``markers`` maps a marker's key to its
    content. A marker whose merged file is listed hides the files it replaces; a marker
    whose merged file is absent (compaction not yet published, or crashed) hides nothing.
    If two published markers of a partition claim the same file (two compactions raced),
    the first by name wins and the later merged file is hidden instead, so no row is
    counted twice.
    """
    parts = sorted((o for o in objects if is_part(o.name)), key=lambda o: o.key)
    present = {o.key for o in parts}
    hidden: set[str] = set()
    for mkey in sorted(markers):
        m = markers[mkey]
        base = mkey.rsplit("/", 1)[0]
        merged = f"{base}/{m.merged}"
        if merged not in present or merged in hidden:
            continue
        replaced = {f"{base}/{r}" for r in m.replaced}
        if replaced & hidden:
            hidden.add(merged)
            continue
        hidden |= replaced
    return [o for o in parts if o.key not in hidden]
