"""The project's DuckDB file: short transactions, retried on another kernel's lock, migrated.

DuckDB lets one process at a time open a file (a second gets "Could not set lock on file", even
read-only), and several kernels of one project share `.agent/agent.duckdb`. So every use opens
the file, does one short transaction and closes it, and a lock held by another kernel is waited
out with jittered backoff. Runs never write here directly: they journal, and a background
writer ingests (see journal.py, writer.py). What goes wrong with the file itself (damaged, on a
read-only or full disk, newer than this package) becomes one error naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
_LOCK_MESSAGE = re.compile(r"set lock on file|conflicting lock", re.IGNORECASE)
_MIGRATION_NAME = re.compile(r"^(\d{3})_(\w+)\.sql$")
# A statement with its parameters, or a function run on the connection inside the transaction
# (for writes that must read first, such as extending the audit chain).
Statement = tuple[str, Sequence[Any]] | Callable[[Any], None]


class StoreBusyError(AgentError):
    """Another program kept the store locked for longer than we wait."""


class StoreVersionError(AgentError):
    """The store was written by a newer agent-kernel than this one."""


class StoreDamagedError(AgentError):
    """The file is not a readable DuckDB database (random bytes, cut short, corrupted)."""


class StoreUnavailableError(AgentError):
    """The file cannot be written: a read-only folder or mount, a full disk, no permission."""


# Errors about the file rather than a statement: the store cannot be used until they are fixed.
STORE_FAULTS = (StoreBusyError, StoreVersionError, StoreDamagedError, StoreUnavailableError)
_FULL = re.compile(r"no space left|disk (is )?full|ENOSPC", re.IGNORECASE)
_READ_ONLY = re.compile(r"read-only file system|permission denied|read.only|EROFS|EACCES", re.I)
_UNWRITABLE = re.compile(r"could not (write|open|sync|truncate) file|I/O error", re.IGNORECASE)


def classify(exc: BaseException, path: Path) -> AgentError:
    """One line for a failure to open, migrate or write the store, naming the file and the fix."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, AgentError):
        return exc
    if _FULL.search(first):
        return StoreUnavailableError(
            f"the disk holding the project store {path} is full ({first}); free some space. "
            "Runs are kept in the journal meanwhile"
        )
    if _READ_ONLY.search(first):
        return StoreUnavailableError(
            f"the project store {path} cannot be written ({first}); make its folder writable, "
            "or point %config Agent.store_dir at a writable folder"
        )
    if isinstance(exc, OSError) or re.search(r"not a directory|no such file", first, re.I):
        return StoreUnavailableError(
            f"the project store folder {path.parent} cannot be used ({first}); point "
            "%config Agent.store_dir at a writable folder"
        )
    return StoreDamagedError(
        f"the project store {path} is damaged ({first}); run %agent store repair to move it "
        "aside (it is kept, never deleted) and start a fresh store"
    )


def repair(path: Path) -> Path | None:
    """Move a damaged store (and its WAL) aside with a timestamp; the next use starts fresh.
    Returns where it went, or None if there was no file."""
    if not path.exists():
        return None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    with Store._use_lock:
        path.rename(target)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            wal.rename(target.with_name(target.name + ".wal"))
        Store._migrated.discard(path.resolve())
    return target


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
    _held: ClassVar[dict[Path, Any]] = {}  # files this process's writer keeps open just now
    # Held while this process has a DuckDB file open. A fork (the run_python sandbox) takes it
    # first: a child copied while DuckDB's own locks were held by another thread would hang on
    # its first DuckDB call (measured: agent code's duckdb.connect in the child never returned).
    fork_gate = threading.RLock()

    def __init__(self, path: Path | str, *, lock_wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path = Path(path)
        self.lock_wait = lock_wait
        self.lock_waits = 0  # how often another process's lock was waited out (for benchmarks)

    # -- connections ------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False, lock_wait: float | None = None) -> Iterator[Any]:
        """A connection for one short use; the file is closed when the block ends. While this
        process's writer holds the file open, its connection serves (no second open)."""
        with Store.fork_gate, Store._use_lock, self._file_faults():
            held = Store._held.get(self.path.resolve())
            if held is not None:
                yield held
                return
            self._ensure_migrated(lock_wait)
            con = self._open(read_only=read_only, lock_wait=lock_wait)
            try:
                yield con
            finally:
                with contextlib.suppress(Exception):  # a failing close must not hide the cause
                    con.close()

    @contextlib.contextmanager
    def _file_faults(self) -> Iterator[None]:
        """A fault of the file met while using it (a page cut short, corruption, the disk
        refusing) becomes the same one line as at open; a bad statement stays itself."""
        import duckdb

        try:
            yield
        except (
            duckdb.IOException,
            duckdb.InternalException,
            duckdb.SerializationException,
            duckdb.FatalException,
        ) as exc:
            raise classify(exc, self.path) from None
        except duckdb.TransactionException as exc:  # a commit the disk refused is a file fault
            if (
                _FULL.search(str(exc))
                or _READ_ONLY.search(str(exc))
                or _UNWRITABLE.search(str(exc))
            ):
                raise classify(exc, self.path) from None
            raise

    @contextlib.contextmanager
    def holding(self, *, lock_wait: float = 0) -> Iterator[Any]:
        """Keep the file open for a while (the background writer, between its batches): this
        process's other uses share the connection; each use still takes `_use_lock`."""
        key = self.path.resolve()
        with Store.fork_gate:
            with Store._use_lock:
                self._ensure_migrated(lock_wait)
                con = self._open(read_only=False, lock_wait=lock_wait)
                Store._held[key] = con
            try:
                yield con
            finally:
                with Store._use_lock:
                    Store._held.pop(key, None)
                    with contextlib.suppress(Exception):
                        con.close()

    def write(self, statements: Sequence[Statement], *, lock_wait: float | None = None) -> None:
        """Run statements in one transaction: all of them are recorded, or none. A failure is
        reported as itself, not as the rollback's (which fails too on a full disk)."""
        if not statements:
            return
        with self.connect(lock_wait=lock_wait) as con:
            transaction(con, statements)

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

    def _open(self, *, read_only: bool, lock_wait: float | None = None) -> Any:
        import duckdb

        wait = self.lock_wait if lock_wait is None else lock_wait
        deadline = time.monotonic() + wait
        delay = 0.005
        while True:
            try:
                if not read_only:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                return duckdb.connect(str(self.path), read_only=read_only)
            except (duckdb.Error, OSError) as exc:
                if not _LOCK_MESSAGE.search(str(exc)):
                    raise classify(exc, self.path) from None
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the project store {self.path} stayed locked by another program for "
                        f"{wait:.0f} s; close it there (a DuckDB shell or viewer?). Runs are "
                        "kept in the journal and stored when it is released."
                    ) from None
                self.lock_waits += 1
                # Jitter keeps two waiting kernels from retrying in lockstep.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.2)

    # -- schema -----------------------------------------------------------------------------
    def _ensure_migrated(self, lock_wait: float | None = None) -> None:
        resolved = self.path.resolve()
        if resolved in Store._migrated and self.path.exists():
            return
        with Store._migrate_lock:
            if resolved in Store._migrated and self.path.exists():
                return
            try:
                con = self._open(read_only=False, lock_wait=lock_wait)
            except StoreUnavailableError:
                # A read-only folder or mount: reads still work if the store is current.
                if not self.path.exists() or self._read_only_version(lock_wait) != latest_version():
                    raise
                Store._migrated.add(resolved)
                return
            try:
                migrate(con)
            except AgentError:
                raise
            except Exception as exc:
                raise classify(exc, self.path) from None
            finally:
                with contextlib.suppress(Exception):
                    con.close()
            Store._migrated.add(resolved)

    def _read_only_version(self, lock_wait: float | None) -> int:
        con = self._open(read_only=True, lock_wait=lock_wait)
        try:
            return _current_version(con)
        except Exception:
            return -1
        finally:
            con.close()


def transaction(con: Any, statements: Sequence[Statement]) -> None:
    """Statements in one transaction on an open connection; the original error is raised."""
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in statements:
            if callable(statement):
                statement(con)
            else:
                con.execute(*statement)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


def _script(sql: str) -> Callable[[Any], None]:
    """A migration's statements (several in one text, so without parameters)."""

    def run(con: Any) -> None:
        con.execute(sql)

    return run


def _migrated_row(version: int, name: str) -> Statement:
    return ("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])


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
        transaction(con, [_script(sql), _migrated_row(version, name)])
        applied.append(version)
    return applied
