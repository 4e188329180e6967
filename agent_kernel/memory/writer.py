"""Records of runs: journaled when a step ends, ingested into DuckDB by a background thread.

The step pays for one append and one fsync of its own journal (a few ms); opening DuckDB,
waiting out another kernel's lock and extending the audit chain happen on the writer thread,
which keeps the file open while it has work and closes it between batches so other kernels,
tools and the server extension can read. A batch the store refuses stays in memory and in the
journal and is retried; later records queue behind it and nothing is dropped. The thread never
prints (output from a thread lands in the wrong cell): problems become `problem`, which the run
shows in its cell, and a line in `.agent/store.log`.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_kernel.memory import ingest, journal
from agent_kernel.memory.audit import EventRow
from agent_kernel.memory.store import (
    STORE_FAULTS,
    Store,
    StoreBusyError,
    classify,
    transaction,
)
from agent_kernel.redact import redact, redact_values, secret_env_values

LOCK_NOTICE_SECONDS = 3.0  # a lock held longer than this is said once
RETRY_SECONDS = (0.05, 2.0)  # backoff bounds while the store refuses
# Steps are ingested in batches at most this far behind: fewer transactions, and the writer's
# Python work (hashing the chain, binding rows) competes with the run for the GIL less often.
# A run's end, an approval request and any read of this kernel's records go in at once.
BATCH_SECONDS = 0.5
ORPHAN_SCAN_SECONDS = 30.0
LOG_FILE = "store.log"


class StepWriter:
    """This kernel's records for one store: queued, journaled at step ends, ingested behind."""

    def __init__(self, store: Store, journal_dir: Path | None = None) -> None:
        self.store = store
        # The values to redact; the kernel's agent sets the run's secrets before it starts
        # (until then: the environment's, so a session title is redacted too).
        self.secrets: list[str] = secret_env_values()
        self.folder = journal_dir or journal.journal_dir(store.path.parent)
        self.journal = journal.Journal(self.folder)
        self._queued: list[journal.Record] = []  # since the last step end (kernel thread)
        self._unsaved: list[journal.Record] = []  # step ended, not yet in the store
        self._unjournaled: list[journal.Record] = []  # not yet durable in the journal file
        self._next_n = 0
        self._ingested_n = -1
        self._rounds = 0  # rounds finished
        self._rounds_begun = 0
        self._orphans_seen = False  # dead kernels' journals were looked at once
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._due: float | None = None  # when the gathered batch is to be ingested
        self._thread: threading.Thread | None = None
        self.flushes = 0  # step ends (for benchmarks)
        self.batches = 0  # transactions committed by the writer thread
        self.store_problem: str | None = None  # why the store does not take records now
        self.journal_problem: str | None = None  # why records are only in memory
        self._refused_since: float | None = None
        self._last_orphan_scan = 0.0
        self._stopping = False
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- what runs add (kernel thread) ------------------------------------------------------
    def as_json(self, value: Any) -> str:
        """JSON for a row, with secrets removed before anything reaches a file."""
        return redact(json.dumps(value, default=str, ensure_ascii=False), self.secrets)

    def add_session(self, session_id: str, notebook: str, user: str, title: str) -> None:
        self._add("session", id=session_id, notebook=notebook, user=user, title=title)

    def add_pointer(self, notebook: str, session_id: str) -> None:
        self._add("pointer", notebook=notebook, session_id=session_id)

    def add_message(self, session_id: str, run_id: str | None, message: dict[str, Any]) -> None:
        role = str(message.get("role", ""))
        self._add(
            "message",
            session_id=session_id,
            run_id=run_id,
            role=role,
            message=self.as_json(message),
        )

    def add_activity(self, session_id: str) -> None:
        self._add("active", session_id=session_id)

    def add_event(self, row: EventRow) -> None:
        """An event; the audit chain is extended when it is ingested."""
        self._add(
            "event",
            session_id=row.session_id,
            run_id=row.run_id,
            step=row.step,
            kind=row.kind,
            data=row.data,
            time=row.time.isoformat(),
        )

    def _add(self, record_type: str, /, **fields: Any) -> None:
        """A record; its text fields pass the redaction boundary first."""
        fields = redact_values(fields, self.secrets)
        fields.setdefault("time", dt.datetime.now(dt.timezone.utc).isoformat())
        self._queued.append({"n": self._next_n, "t": record_type, **fields})
        self._next_n += 1

    @property
    def pending(self) -> list[journal.Record]:
        """Records not yet in the store (queued, or waiting for the writer)."""
        with self._cond:
            return [*self._unsaved, *self._queued]

    # -- step ends (kernel thread) ----------------------------------------------------------
    def flush(self, *, to_disk: bool = False, now: bool = True) -> bool:
        """End of a step: write its records to the journal (where a killed process cannot lose
        them; `to_disk` also waits for the disk) and hand them to the writer thread, which
        ingests them at once or (`now=False`) within BATCH_SECONDS.
        False when they could only be kept in memory (the journal cannot be written)."""
        if not self._queued:
            if now:
                self._due_now()
            return True
        batch, self._queued = self._queued, []
        with self._cond:
            self._unsaved.extend(batch)
        durable = self._journal(batch, to_disk)
        self.flushes += 1
        self._start()
        if now:
            self._due_now()
        elif self._due is None:
            self._due = time.monotonic() + BATCH_SECONDS
            self._wake.set()
        return durable

    def _due_now(self) -> None:
        self._due = time.monotonic()
        self._wake.set()

    def _journal(self, batch: list[journal.Record], to_disk: bool) -> bool:
        if self.journal.writable and not self.journal.path.exists():
            # The folder went away (deleted `.agent/`): start a new journal with all we hold.
            self.journal = journal.Journal(self.folder)
            with self._cond:
                self._unjournaled = list(self._unsaved[: -len(batch)])
        self._unjournaled.extend(batch)
        if self.journal.append(self._unjournaled, sync=to_disk):
            self._unjournaled = []
            self.journal_problem = None
            return True
        self.journal_problem = (
            f"the journal {self.journal.path} cannot be written ({self.journal.error}); "
            f"{len(self._unjournaled)} records are kept in this kernel's memory only until the "
            "store takes them (free space, or point %config Agent.store_dir at a writable folder)"
        )
        self._log(self.journal_problem)
        return False

    def sync(self, timeout: float = 5.0) -> bool:
        """Flush, then wait (interruptibly) until what this kernel recorded is in the store and
        dead kernels' journals were looked at; False if the store did not take it in time."""
        self.flush()
        self._start()
        with self._cond:
            # A round already under way may have begun before the store came back.
            target, start_round = self._next_n - 1, self._rounds_begun
        self._due_now()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ingested_n < target or not self._orphans_seen:
                left = deadline - time.monotonic()
                refused = self.store_problem or self._refused_since is not None
                if left <= 0 or (self._rounds > start_round and refused):
                    return self._ingested_n >= target and self._orphans_seen
                self._cond.wait(min(left, 0.1))
        return True

    def problem(self) -> str | None:
        """What the user should know about recording now, in one line (or None)."""
        return self.journal_problem or self.store_problem

    # -- the writer thread ------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="agent-kernel-store-writer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        delay, ok = RETRY_SECONDS[0], True
        while not self._stopping:
            self._wake.wait(timeout=None if ok else delay)
            self._wake.clear()
            due = self._due
            while due is not None and due > time.monotonic() and not self._stopping:
                self._wake.wait(due - time.monotonic())  # a batch gathers; `now` cuts it short
                self._wake.clear()
                due = self._due
            if self._stopping:
                return
            self._due = None
            ok = self._round()
            delay = RETRY_SECONDS[0] if ok else min(delay * 2, RETRY_SECONDS[1])

    def _round(self) -> bool:
        """Ingest dead kernels' journals (now and then) and everything this kernel holds, then
        close the file so other kernels, tools and the server extension can use it (this
        process's reads share the connection meanwhile)."""
        with self._cond:
            self._rounds_begun += 1
        try:
            with self.store.holding() as con:
                if time.monotonic() - self._last_orphan_scan > ORPHAN_SCAN_SECONDS:
                    with Store._use_lock:
                        self._ingest_orphans(con)
                    self._last_orphan_scan = time.monotonic()
                    with self._cond:
                        self._orphans_seen = True
                        self._cond.notify_all()
                self._ingest_own(con)
        except Exception as exc:  # the store refused: kept, logged, said once per run, retried
            self._refused(exc)
            return False
        finally:
            with self._cond:
                self._rounds += 1
                self._cond.notify_all()
        self._accepted()
        return True

    def _accepted(self) -> None:
        if self.store_problem is not None:
            self._log("the project store takes records again; nothing was lost")
        self.store_problem, self._refused_since = None, None

    def _ingest_own(self, con: Any) -> None:
        while True:
            with self._cond:
                batch = list(self._unsaved)
            if not batch:
                return
            self.journal.sync_to_disk()  # on disk before the store has it: power loss too
            with Store._use_lock:
                last = _apply(con, self.store.path, self.journal.name, batch, self._reject)
            self.batches += 1
            self._accepted()
            with self._cond:
                self._unsaved = [r for r in self._unsaved if r["n"] > last]
                self._ingested_n = max(self._ingested_n, last)
                self._cond.notify_all()

    def _ingest_orphans(self, con: Any) -> None:
        for path in journal.orphans(self.folder, self.journal.path):
            with journal.claimed(path) as free:
                if not free:
                    continue  # a live kernel's: it ingests its own
                records = journal.read_records(path)
                if records:
                    last = _apply(con, self.store.path, path.stem, records, self._reject)
                    if last < max(r["n"] for r in records):
                        continue
                with contextlib.suppress(OSError):
                    path.unlink()

    def _refused(self, exc: BaseException) -> None:
        if _is_io(exc):
            exc = classify(exc, self.store.path)
        now = time.monotonic()
        self._refused_since = self._refused_since or now
        if isinstance(exc, StoreBusyError) and now - self._refused_since < LOCK_NOTICE_SECONDS:
            return  # another kernel's short write: not worth a word
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = self.journal.path if self.journal.writable else "this kernel's memory"
        problem = f"{first.rstrip('.')}. Runs are kept in {where}; details in {self._log_path()}"
        if isinstance(exc, StoreBusyError):
            problem = (
                f"the project store {self.store.path} is locked by another program; runs are "
                f"kept in {where} and stored when it is released"
            )
        if problem != self.store_problem:
            self._log(f"{problem} [{type(exc).__name__}: {exc}]")
        self.store_problem = problem

    def _reject(self, journal_name: str, record: journal.Record, exc: BaseException) -> None:
        """A record no statement takes is set aside in `rejected.log`, never dropped silently."""
        self._log(f"record {record.get('n')} of journal {journal_name} set aside: {exc}")
        with contextlib.suppress(OSError), (self.folder / "rejected.log").open("a") as out:
            out.write(json.dumps({"journal": journal_name, **record}, default=str) + "\n")

    def _log_path(self) -> Path:
        return self.store.path.parent / LOG_FILE

    def _log(self, line: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with contextlib.suppress(OSError), self._log_path().open("a", encoding="utf-8") as out:
            out.write(f"{stamp} {line}\n")

    def close(self, timeout: float = 5.0) -> None:
        """At kernel exit: store what is held if the store takes it, then drop the journal."""
        if self._next_n and self.sync(timeout) and not self.pending:
            self.journal.remove_if_ingested()
        # The thread must not be inside DuckDB when the interpreter goes away.
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


Rejector = Callable[[str, journal.Record, BaseException], None]


def _apply(
    con: Any, database: Path, name: str, records: Sequence[journal.Record], reject: Rejector
) -> int:
    """Records in one transaction; if that fails for a reason other than the file, one record
    per transaction, setting aside those that fail alone so they never block the rest."""
    try:
        return _in_transaction(con, database, name, records)
    except STORE_FAULTS:
        raise
    except Exception as exc:
        if _is_io(exc):
            raise
    last = -1
    for record in records:
        try:
            last = _in_transaction(con, database, name, [record])
        except Exception as exc:
            if _is_io(exc):
                raise
            reject(name, record, exc)
            last = _in_transaction(con, database, name, [], skip_to=record["n"])
    return last


def _in_transaction(
    con: Any,
    database: Path,
    name: str,
    records: Sequence[journal.Record],
    skip_to: int | None = None,
) -> int:
    """One transaction; the audit head it made is anchored outside the database after the
    commit (see anchor.py)."""
    result: list[tuple[int, str | None]] = []

    def run(c: Any) -> None:
        if skip_to is not None and ingest.progress(c, name) < skip_to:
            c.execute(
                "INSERT OR REPLACE INTO journal_progress VALUES (?, ?, now())", [name, skip_to]
            )
        result.append(ingest.apply(c, name, records) if records else (skip_to or -1, None))

    transaction(con, [run])
    last, head = result[0]
    if head is not None:
        from agent_kernel.memory.anchor import append_head

        with contextlib.suppress(OSError):  # an extra defence; the chain itself is stored
            append_head(database, head)
    return last


def _is_io(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, (OSError, duckdb.IOException))


def _close_at_exit(ref: weakref.ref[StepWriter]) -> None:
    writer = ref()
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.close()


_shared: dict[Path, StepWriter] = {}
_shared_lock = threading.Lock()


def shared_writer(store: Store) -> StepWriter:
    """One writer (one journal, one thread) per store per kernel process."""
    key = store.path.resolve()
    with _shared_lock:
        writer = _shared.get(key)
        if writer is None:
            writer = _shared[key] = StepWriter(store)
        return writer
