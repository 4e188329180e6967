"""The project's DuckDB file: short transactions, retried on another kernel's lock, migrated.

DuckDB lets one process at a time open a file (a second gets "Could not set lock on file", even
read-only), and several kernels of one project share `.agent/agent.duckdb`. So every use opens
the file, does one short transaction and closes it (about 17 ms here, most of it the open), and
a lock held by another kernel is waited out with jittered backoff instead of reaching the user.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from agent_kernel.errors import AgentError

LOCK_WAIT_SECONDS = 30.0
_LOCK_MESSAGE = re.compile(r"lock", re.IGNORECASE)
_MIGRATION_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")
# A statement with its parameters, or a function run on the connection inside the transaction
# (for writes that must read first, such as extending the audit chain).
Statement = tuple[str, Sequence[Any]] | Callable[[Any], None]


class StoreBusyError(AgentError):
    """Another program kept the store locked for longer than we wait."""


class StoreVersionError(AgentError):
    """The store was written by a newer agent-kernel than this one."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    folder = resources.files("agent_kernel.memory") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    return migrations()[-1][0]


class Store:
    """One DuckDB file, opened for each use and closed right after."""

    _migrated: ClassVar[set[Path]] = set()  # per process: files already brought up to date
    _migrate_lock = threading.Lock()
    # DuckDB refuses a read-only and a read-write connection to one file in one process at
    # once, so this process's own uses (the kernel thread, a server handler) take turns.
    _use_lock = threading.RLock()

    def __init__(self, path: Path | str, *, lock_wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path = Path(path)
        self.lock_wait = lock_wait
        self.lock_waits = 0  # how often another process's lock was waited out (for benchmarks)

    # -- connections ------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        """A connection for one short use; the file is closed when the block ends."""
        with Store._use_lock:
            self._ensure_migrated()
            con = self._open(read_only=read_only)
            try:
                yield con
            finally:
                con.close()

    def write(self, statements: Sequence[Statement]) -> None:
        """Run statements in one transaction: all of them are recorded, or none."""
        if not statements:
            return
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in statements:
                    if callable(statement):
                        statement(con)
                    else:
                        con.execute(*statement)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connect(read_only=True) as con:
            rows: list[tuple[Any, ...]] = con.execute(sql, params).fetchall()
            return rows

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The result as a pandas DataFrame (for `%agent sessions` and the like)."""
        with self.connect(read_only=True) as con:
            return con.execute(sql, params).df()

    def version(self) -> int:
        with self.connect(read_only=True) as con:
            return _current_version(con)

    def _open(self, *, read_only: bool) -> Any:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait
        delay = 0.005
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if not _LOCK_MESSAGE.search(str(exc)):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the project store {self.path} stayed locked by another program for "
                        f"{self.lock_wait:.0f} s; close it there (a DuckDB shell or viewer?) and "
                        "run the cell again. Nothing recorded so far is lost."
                    ) from None
                self.lock_waits += 1
                # Jitter keeps two waiting kernels from retrying in lockstep.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)

    # -- schema -----------------------------------------------------------------------------
    def _ensure_migrated(self) -> None:
        resolved = self.path.resolve()
        if resolved in Store._migrated and self.path.exists():
            return
        with Store._migrate_lock:
            if resolved in Store._migrated and self.path.exists():
                return
            con = self._open(read_only=False)
            try:
                migrate(con)
            finally:
                con.close()
            Store._migrated.add(resolved)


def _current_version(con: Any) -> int:
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def migrate(con: Any, up_to: int | None = None) -> list[int]:
    """Apply the migrations this store lacks, each in its own transaction; returns them."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied TIMESTAMPTZ NOT NULL)"
    )
    current = _current_version(con)
    known = migrations()
    if current > known[-1][0]:
        raise StoreVersionError(
            f"this project store has schema version {current}, newer than this agent-kernel "
            f"knows ({known[-1][0]}). Upgrade: pip install -U agent-kernel"
        )
    applied = []
    for version, name, sql in known:
        if version <= current or (up_to is not None and version > up_to):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
