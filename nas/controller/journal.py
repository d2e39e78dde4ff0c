"""The controller's append-only journal: one JSON event per line, one writer, torn tails ignored.

Each line is ``<crc32 hex8> <json>\\n`` where the JSON holds at least ``seq`` (0, 1, 2, ...
without gaps), ``t`` (unix seconds) and ``ev`` (the event name). A line whose CRC does not
match, that lacks its newline, or whose ``seq`` breaks the sequence ends the valid prefix:
a crash in the middle of a write leaves at most one such line at the end, which
:meth:`Journal.open` cuts off before the next append. A bad line *followed by* valid lines
is real corruption and raises :class:`JournalCorrupt` (never silently skipped).

One writer: :meth:`Journal.open` takes an exclusive ``flock`` on ``<journal>.lock`` for the
writer's lifetime (released by the kernel when the process dies, even on SIGKILL), so a
second controller on the same run refuses to start. Readers (``archlab status``) need no lock.

Durability: ``append(..., sync=True)`` fsyncs before returning; ``sync=False`` leaves the
line in the page cache until the next synced append (used for events that are re-derivable,
such as ``tell``).

Example::

    >>> j = Journal.open(tmp / "journal.jsonl")               # doctest: +SKIP
    >>> j.append("ask", n=2, ids=["a", "b"])                  # doctest: +SKIP
    >>> [e["ev"] for e in read_events(tmp / "journal.jsonl")]   # doctest: +SKIP
    ['ask']
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.controller.faults import die, fault_armed

__all__ = [
    "Journal",
    "JournalBusy",
    "JournalCorrupt",
    "JournalReadOnly",
    "check_journal",
    "read_events",
    "scan",
    "writable_problem",
]


class JournalCorrupt(RuntimeError):
    """A journal line in the middle of the file is damaged (not a torn tail)."""


class JournalBusy(RuntimeError):
    """Another process holds the journal's writer lock (a controller is already running)."""


class JournalReadOnly(RuntimeError):
    """The journal's directory cannot be written (a read-only mount, no permission)."""


def writable_problem(path: str | os.PathLike[str]) -> str:
    """ "" when a controller can write the journal at ``path``; else one line saying why
    (a real write test: ``access`` misses read-only mounts for root and ACLs)."""
    d = Path(path).parent
    probe = d / f".archlab-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as e:
        return (
            f"run directory {d} is not writable ({e.strerror}): running, resuming or cancelling "
            "its controller needs a writable run directory (`archlab status` works read-only)"
        )
    return ""


def check_journal(path: str | os.PathLike[str]) -> str:
    """ "" when the journal at ``path`` can be resumed (a torn last line is fine); else the
    damage and the recovery hint (see :func:`scan`)."""
    try:
        scan(path)
    except JournalCorrupt as e:
        return str(e)
    return ""


def _encode(event: dict[str, Any]) -> bytes:
    body = json.dumps(event, separators=(",", ":"), default=str).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _decode(line: bytes, seq: int = -1) -> dict[str, Any] | None:
    """The event of ``line``; with ``seq >= 0`` only checked (CRC, ``seq``), not parsed: a
    placeholder ``{"seq": seq}`` (the events a snapshot already covers)."""
    if not line.endswith(b"\n") or len(line) < 11 or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        if seq >= 0:
            return {"seq": seq} if body.startswith(b'{"seq":%d,' % seq) else None
        ev = json.loads(body)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) and isinstance(ev.get("seq"), int) else None


@dataclass(frozen=True)
class Scan:
    """The valid prefix of a journal file."""

    events: list[dict[str, Any]]
    valid_bytes: int  # length of the valid prefix
    torn_bytes: int  # bytes after it (a torn last line), 0 when clean


def scan(path: str | os.PathLike[str], decode_from: int = 0) -> Scan:
    """Read the valid prefix; raises :class:`JournalCorrupt` if damage is followed by data.
    Events before ``decode_from`` are checked but not parsed (``{"seq": n}`` placeholders:
    a restart that folds from a snapshot needs only the tail)."""
    p = Path(path)
    if not p.exists():
        return Scan([], 0, 0)
    data = p.read_bytes()
    events: list[dict[str, Any]] = []
    pos = 0
    last = b""
    while pos < len(data):
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos : end + 1]
        n = len(events)
        ev = _decode(line, n if n < decode_from else -1)
        if ev is None or ev["seq"] != n:
            rest = data[pos:]
            if rest.count(b"\n") > 1 or (rest.count(b"\n") == 1 and not rest.endswith(b"\n")):
                raise JournalCorrupt(
                    f"{p}: line {len(events) + 1} (byte {pos}) is damaged and more lines follow. "
                    f"The first {len(events)} events are intact; to recover, keep them with "
                    f"`head -c {pos} {p} > {p}.fixed && mv {p}.fixed {p}` and resume."
                )
            return Scan(_full_last(events, last), pos, len(data) - pos)
        events.append(ev)
        last = line
        pos += len(line)
    return Scan(_full_last(events, last), pos, 0)


def _full_last(events: list[dict[str, Any]], line: bytes) -> list[dict[str, Any]]:
    """The last event parsed even when it is before ``decode_from`` (readers look at it)."""
    if events and len(events[-1]) == 1:
        ev = _decode(line)
        if ev is not None:
            events[-1] = ev
    return events


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The valid events of a journal (for readers; takes no lock)."""
    return scan(path).events


class Journal:
    """The single writer of a journal file. Use :meth:`open`; ``close`` releases the lock."""

    def __init__(self, path: Path, fd: int, lock_fd: int, next_seq: int) -> None:
        self.path = path
        self._fd = fd
        self._lock_fd = lock_fd
        self.next_seq = next_seq
        self.syncs = 0  # fsync calls made (for the overhead benchmark)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], decode_from: int = 0
    ) -> tuple[Journal, list[dict[str, Any]]]:
        """Lock, read the valid events, cut off a torn tail; returns the writer and the events
        (those before ``decode_from`` as ``{"seq": n}`` placeholders, see :func:`scan`)."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(f"{p}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            raise JournalReadOnly(writable_problem(p) or f"cannot open {p}.lock") from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(lock_fd, 200, 0).decode(errors="replace").strip()
            os.close(lock_fd)
            raise JournalBusy(
                f"{p} is locked by another controller ({holder or 'unknown holder'}); "
                "use `archlab status` to see it or `archlab cancel` to stop it"
            ) from None
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
        s = scan(p, decode_from)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        if s.torn_bytes:
            os.ftruncate(fd, s.valid_bytes)
            os.fsync(fd)
        os.lseek(fd, s.valid_bytes, os.SEEK_SET)
        return cls(p, fd, lock_fd, len(s.events)), s.events

    def append(self, ev: str, *, sync: bool = True, **fields: Any) -> dict[str, Any]:
        """Write one event (``seq`` and ``t`` are added) and return it."""
        event = {"seq": self.next_seq, "t": time.time(), "ev": ev, **fields}
        line = _encode(event)
        if fault_armed("journal"):  # test hook: write half a line, then die
            os.write(self._fd, line[: len(line) // 2])
            die()
        n = os.write(self._fd, line)
        if n != len(line):  # pragma: no cover - regular files write fully or raise
            raise OSError(f"short write to {self.path}: {n} of {len(line)} bytes")
        self.next_seq += 1
        if sync:
            os.fsync(self._fd)
            self.syncs += 1
        return event

    def sync(self) -> None:
        os.fsync(self._fd)
        self.syncs += 1

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_lines(path: Path) -> Iterator[bytes]:  # pragma: no cover - debugging helper
    with path.open("rb") as f:
        yield from f
