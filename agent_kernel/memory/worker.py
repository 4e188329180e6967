"""The memory worker: a process beside a kernel that embeds and searches Chroma.

Keeping chromadb and the embedding model out of the kernel keeps the kernel small (they add
about 250 MB) and its first answer fast (importing chromadb takes seconds), and embedding never
competes with the kernel for the GIL. The kernel talks to it in JSON lines over stdin/stdout
(`memory/indexer.py`). The worker takes pending entries from the project's text index
(`memory/terms.py`), embeds them and writes them to Chroma on a low-priority thread (queries
are answered at normal priority, so recall stays fast on a busy machine), most urgent first,
pausing while the kernel runs a request (what the user asked for, `remember` and `learn`, goes
on at low priority; finished turns wait). It exits when the kernel closes its stdin, even
mid-backlog: the rows it did not reach stay pending for the next worker.

Run by the kernel as `python -m agent_kernel.memory.worker`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from agent_kernel.memory.terms import DELETING, Entry, TermIndex
from agent_kernel.memory.vectors import Location, forget_shared, shared_index

BATCH = 16  # texts embedded at once: about 0.2-0.5 s, the longest a pause waits
COLLECTIONS = ("memories", "files", "turns")


class Worker:
    """Serves the kernel's requests and indexes pending entries in a background thread."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self.terms: dict[Location, TermIndex] = {}
        self.broken: dict[Location, str] = {}
        self._encoder: Any = None
        self._running = threading.Event()  # set while the kernel runs a request: indexing waits
        self._wake = threading.Event()
        self.stopping = False
        self.in_batch = threading.Event()  # set while a batch is being written to Chroma
        self.parent = os.getppid()
        self.indexer = threading.Thread(target=self._index_loop, daemon=True, name="indexer")

    # -- talking to the kernel --------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        with self._out_lock:
            self._out.write(json.dumps(message) + "\n")
            self._out.flush()

    def handle(self, request: dict[str, Any]) -> None:
        op, rid = request.get("op"), request.get("id")
        try:
            result = getattr(self, f"op_{op}")(request)
        except Exception as error:  # one line back to the kernel
            location = request.get("location")
            damaged = location is not None and op in ("open", "similar", "containing")
            if damaged and isinstance(location, str):
                self.broken[Location.from_json(location)] = _one_line(error)
            if rid is not None:
                self.send({"id": rid, "error": _one_line(error), "damaged": damaged})
            return
        if rid is not None:
            self.send({"id": rid, "result": result})

    # -- operations -------------------------------------------------------------------------
    def op_open(self, request: dict[str, Any]) -> dict[str, Any]:
        """Register and warm an index: client, collections and model loaded before a query
        needs them. A local folder that lost its Chroma files is rebuilt from the text."""
        location = Location.from_json(request["location"])
        terms = TermIndex(Path(request["terms"]))
        requeued = 0
        if not location.remote and not (Path(location.path) / "chroma.sqlite3").exists():
            requeued = terms.mark_all_pending()
        index = shared_index(location)
        index.open()
        for name in COLLECTIONS:
            index._collection(name)  # warm each collection once
        self.encoder().encode(["warm up"])
        self.broken.pop(location, None)
        self.terms[location] = terms  # indexing starts once the index is open and warm
        self._wake.set()
        return {"ready": True, "requeued": requeued}

    def op_similar(self, request: dict[str, Any]) -> list[list[Any]]:
        location = Location.from_json(request["location"])
        if location in self.broken:
            raise RuntimeError(self.broken[location])
        vector = self.encoder().encode([request["text"]])[0]
        hits = shared_index(location).similar(
            request["collection"], request["text"], int(request["k"]), embedding=vector
        )
        return [[h.id, h.text, h.metadata, h.similarity] for h in hits]

    def op_containing(self, request: dict[str, Any]) -> list[list[Any]]:
        location = Location.from_json(request["location"])
        hits = shared_index(location).containing(
            request["collection"], request["term"], int(request["k"])
        )
        return [[h.id, h.text, h.metadata, h.similarity] for h in hits]

    def op_reindex(self, request: dict[str, Any]) -> dict[str, Any]:
        """Empty the index (moving a damaged local folder aside) and embed everything again."""
        location = Location.from_json(request["location"])
        terms = self.terms.setdefault(location, TermIndex(Path(request["terms"])))
        moved = ""
        try:
            shared_index(location).drop(COLLECTIONS)
        except Exception:  # unreadable: keep it aside, start a fresh one
            if location.remote:
                raise
            moved = _move_aside(Path(location.path))
        forget_shared(location)
        self.broken.pop(location, None)
        pending = terms.mark_all_pending()
        self._wake.set()
        return {"moved": moved, "pending": pending}

    def op_run_started(self, request: dict[str, Any]) -> None:
        self._running.set()

    def op_run_finished(self, request: dict[str, Any]) -> None:
        self._running.clear()
        self._wake.set()

    def op_work(self, request: dict[str, Any]) -> None:
        self._wake.set()

    def op_ping(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "broken": {k.describe(): v for k, v in self.broken.items()}}

    # -- indexing ---------------------------------------------------------------------------
    def encoder(self) -> Any:
        if self._encoder is None:
            from agent_kernel.memory.embedding import MiniLMEncoder

            # Single-threaded: a query runs at its thread's normal priority, indexing at the
            # indexing thread's low one, and one core stays free for the user's cells.
            self._encoder = MiniLMEncoder(threads=1)
        return self._encoder

    def _index_loop(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: niceness is per thread
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self.stopping:
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            if os.getppid() != self.parent:  # the kernel died and its pipe is held elsewhere
                os._exit(0)
            while not self.stopping and self._index_some():
                pass

    def _index_some(self) -> bool:
        """One batch of one location; False when there is nothing (more) to do now."""
        for location, terms in list(self.terms.items()):
            if location in self.broken:
                continue
            try:
                urgent_only = self._running.is_set()
                batch = terms.next_batch(BATCH, max_priority=1 if urgent_only else 2)
                if batch:
                    self.in_batch.set()
                    try:
                        self._apply(location, batch)
                        terms.done(batch)
                    finally:
                        self.in_batch.clear()
                    return True
            except Exception as error:  # say it once, keep the rows pending
                message = _one_line(error)
                if self.broken.get(location) != message:
                    self.broken[location] = message
                    self.send(
                        {"event": "problem", "where": location.describe(), "message": message}
                    )
        return False

    def _apply(self, location: Location, batch: list[Entry]) -> None:
        index = shared_index(location)
        groups: dict[tuple[str, bool], list[Entry]] = defaultdict(list)
        for entry in batch:
            groups[(entry.collection, entry.state == DELETING)].append(entry)
        for (collection, deleting), entries in groups.items():
            ids = [e.id for e in entries]
            if deleting:
                index.delete(collection, ids=ids)
                continue
            vectors = self.encoder().encode([e.text for e in entries])
            index.upsert(
                collection, ids, [e.text for e in entries], [e.metadata for e in entries], vectors
            )


def _move_aside(folder: Path) -> str:
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    target = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    if folder.exists():
        folder.rename(target)
        return str(target)
    return ""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if "full" in text.lower() or getattr(error, "errno", None) == 28:
        text = f"the disk is full ({text[:200]})"
    return f"{type(error).__name__}: {text[:300]}"


def main() -> None:
    with contextlib.suppress(OSError):
        os.nice(10)  # the user's cells come first
    import queue

    worker = Worker(sys.stdout)
    sys.stdout = sys.stderr  # library prints must not corrupt the protocol
    worker.indexer.start()
    requests: queue.Queue[dict[str, Any]] = queue.Queue()

    def serve() -> None:
        while True:
            worker.handle(requests.get())

    threading.Thread(target=serve, daemon=True, name="requests").start()
    for line in sys.stdin:  # read here, so the end of the pipe is seen even mid-request
        if line.strip():
            requests.put(json.loads(line))
    # The kernel is gone: let a Chroma write in progress finish (its rows stay pending if not
    # marked done and are redone by the next worker), then go without waiting for the rest.
    worker.stopping = True
    deadline = time.monotonic() + 10
    while worker.in_batch.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0)


if __name__ == "__main__":
    main()
