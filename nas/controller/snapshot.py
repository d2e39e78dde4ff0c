"""Atomic snapshots of the controller's journal fold (an optional speed-up).

``state/snapshot-<seq>.json`` holds the fold of journal events ``0..seq``, so a restart
folds only the journal tail after ``seq``. The strategy is not in it: it is restored from
the store on every start (:mod:`nas.controller.restore`), so nothing unpicklable (an LLM
client, a lock) matters. Written tmp -> fsync -> rename -> fsync(dir); a snapshot is also
checked against its own CRC, so a damaged file is skipped and the previous one (the two
newest are kept) or the whole journal is folded instead.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller.faults import fault_point

__all__ = ["Snapshot", "load_latest", "write_snapshot"]

FORMAT = 2  # 1 also pickled the strategy (read as a fold only)
KEEP = 2


@dataclass(frozen=True)
class Snapshot:
    seq: int
    state: dict[str, Any]
    path: Path


def write_snapshot(state_dir: Path, seq: int, state: dict[str, Any]) -> Path:
    """Write the snapshot of events ``0..seq``; returns its path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {"format": FORMAT, "seq": seq, "state": state}, separators=(",", ":"), default=str
    ).encode()
    data = b"%08x\n%s" % (zlib.crc32(body), body)
    final = state_dir / f"snapshot-{seq:012d}.json"
    tmp = state_dir / f".{final.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fault_point("snapshot")
    os.replace(tmp, final)
    _fsync_dir(state_dir)
    for old in sorted(state_dir.glob("snapshot-*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
    return final


def load_latest(state_dir: Path, max_seq: int | None = None) -> Snapshot | None:
    """The newest intact snapshot with ``seq <= max_seq`` (None if there is none)."""
    for path in sorted(state_dir.glob("snapshot-*.json"), reverse=True):
        try:
            raw = path.read_bytes()
            crc, _, body = raw.partition(b"\n")
            if int(crc, 16) != zlib.crc32(body):
                continue
            d = json.loads(body)
        except (OSError, ValueError):
            continue
        if d.get("format") not in (1, FORMAT) or (max_seq is not None and int(d["seq"]) > max_seq):
            continue
        return Snapshot(int(d["seq"]), d["state"], path)
    return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
