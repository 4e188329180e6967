"""A kernel's append-only journal: written at every step end, ingested into DuckDB later.

A step must never wait for the database (opening DuckDB, another kernel's lock, a checkpoint),
yet a SIGKILL must lose at most the step in flight. So each kernel appends its records (typed,
already redacted JSON lines) to its own file under `.agent/journal/` when a step ends: a write
the OS keeps however the process dies. The writer thread fsyncs the file before it ingests
(against power loss, a few ms behind the step) and the kernel fsyncs itself before a run waits
for an approval. The kernel holds an OS lock on its journal for its life (released by the OS
even on SIGKILL), so another kernel can tell a dead kernel's journal from a live one's and
ingest it. When the journal cannot be written (read-only folder, full disk) the
records stay in memory and that is said once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL_FOLDER = "journal"
SUFFIX = ".jsonl"
Record = dict[str, Any]  # {"n": sequence number in its journal, "t": type, ...fields}


def journal_dir(store_dir: Path) -> Path:
    return store_dir / JOURNAL_FOLDER


def try_lock(fd: int) -> bool:
    """An exclusive OS lock on an open file, without waiting; the OS drops it when the process
    dies however it dies, which is what makes it a liveness test."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    except OSError:
        return False


def read_records(path: Path) -> list[Record]:
    """The complete records of a journal; a torn last line (a write cut by a kill) is skipped."""
    records = []
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("n"), int):
                records.append(record)
    return records


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Whether `path` belongs to no live kernel (its lock could be taken); held in the block."""
    try:
        handle = path.open("rb+")
    except OSError:
        yield False
        return
    try:
        yield try_lock(handle.fileno())
    finally:
        handle.close()


def orphans(folder: Path, own: Path | None) -> list[Path]:
    """Journals in `folder` other than `own`, oldest first (their owners may be alive)."""
    try:
        found = [p for p in folder.glob(f"*{SUFFIX}") if p != own]
    except OSError:
        return []
    return sorted(found, key=lambda p: _mtime(p))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class Journal:
    """This kernel's journal file: records appended as they come, fsync'd at step ends."""

    def __init__(self, folder: Path) -> None:
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = folder / f"{self.name}{SUFFIX}"
        self.error: OSError | None = None  # why records are held in memory only, if they are
        self._fd: int | None = None
        self._good_size = 0  # bytes known to end on a whole record
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try_lock(self._fd)
        except OSError as exc:
            self.error = exc

    @property
    def writable(self) -> bool:
        return self._fd is not None

    def append(self, records: list[Record], *, sync: bool = False) -> bool:
        """Write records to the file; False (and `error` set) if the disk refused. Once written
        they outlive the process however it dies (the OS holds them); `sync` also waits for
        the disk (power loss), which the writer thread otherwise does before it ingests.
        A partly written line is cut off again so the file never holds a torn record."""
        if self._fd is None:
            return False
        data = b"".join(
            json.dumps(r, ensure_ascii=False, default=str).encode("utf-8", "replace") + b"\n"
            for r in records
        )
        try:
            view = memoryview(data)
            while view:  # a write may be short; a failing one raises
                view = view[os.write(self._fd, view) :]
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            self.error = exc
            self._cut_back()
            return False
        self._good_size += len(data)
        self.error = None
        return True

    def sync_to_disk(self) -> None:
        """Wait until what was written is on the disk (called off the kernel's thread)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)

    def _cut_back(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._good_size)

    def remove_if_ingested(self) -> None:
        """Drop the file once every record in it is in the store (the kernel is ending)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
            os.close(self._fd)
        self._fd = None
