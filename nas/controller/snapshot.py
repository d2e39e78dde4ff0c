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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller.faults import fault_point

__all__ = ["Snapshot", "belongs", "load_latest", "write_snapshot"]

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


def load_latest(
    state_dir: Path,
    max_seq: int | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
) -> Snapshot | None:
    """The newest intact snapshot with ``seq <= max_seq`` (None if there is none).

    With ``events`` (the journal's valid events, as the writer opened it), a snapshot must
    also belong to *this* journal: its ``seq`` exists and the event there has the time the
    snapshot's state recorded (``last_t``). A snapshot past the journal's end (the journal
    lost its tail: a torn line cut, a crash before fsync, a manual repair) or from another
    history (sequence numbers reused after such a cut) is moved aside as
    ``stale-snapshot-*.json``, never loaded again — only the writer may pass ``events``.
    """
    if events is not None:
        max_seq = len(events) - 1
    for path in sorted(state_dir.glob("snapshot-*.json"), reverse=True):
        try:
            raw = path.read_bytes()
            crc, _, body = raw.partition(b"\n")
            if int(crc, 16) != zlib.crc32(body):
                continue
            d = json.loads(body)
        except (OSError, ValueError):
            continue
        if d.get("format") not in (1, FORMAT):
            continue
        if events is not None and not _anchored(d, events):
            _set_aside(path)
            continue
        if max_seq is not None and int(d["seq"]) > max_seq:
            continue
        return Snapshot(int(d["seq"]), d["state"], path)
    return None


def belongs(snap: Snapshot, events: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``snap`` folds a prefix of ``events`` (the event at its ``seq`` must be decoded);
    a snapshot that does not is moved aside as ``stale-snapshot-*.json``."""
    if _anchored({"seq": snap.seq, "state": snap.state}, events):
        return True
    _set_aside(snap.path)
    return False


def _anchored(d: dict[str, Any], events: Sequence[Mapping[str, Any]]) -> bool:
    """Whether snapshot ``d`` folds a prefix of ``events`` (same seq, same event time)."""
    seq = int(d.get("seq", -1))
    if not 0 <= seq < len(events):
        return False
    last_t = (d.get("state") or {}).get("last_t")
    return last_t is None or abs(float(events[seq].get("t", 0.0)) - float(last_t)) < 1e-6


def _set_aside(path: Path) -> None:
    try:
        os.replace(path, path.with_name(f"stale-{path.name}"))
    except OSError:
        pass


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
