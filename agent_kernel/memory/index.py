"""One memory index as the kernel sees it: the text (exact terms, now) and the vectors (meaning,
once the worker has embedded it). Writes are SQLite inserts; the worker does the rest."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent_kernel.memory.indexer import MemoryWorker, WorkerError
from agent_kernel.memory.terms import PENDING, TermIndex
from agent_kernel.memory.vectors import Hit, Location, Metadata

SIMILAR_TIMEOUT = 10.0  # a ready worker answers in milliseconds; this only bounds a stuck one
START_DELAY = 3.0  # new work starts a worker this long after it appears, not during the cell


@dataclass
class MemoryIndex:
    """The entries of one location (a project's or a user's Chroma, or a server's)."""

    location: Location
    terms: TermIndex
    worker: MemoryWorker

    # -- writing ----------------------------------------------------------------------------
    def put(
        self,
        collection: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        if ids:
            texts, metadatas = redacted_entries(texts, metadatas)
            self.terms.put(collection, ids, texts, metadatas)
            self.nudge()

    def remove(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self.terms.remove(collection, ids)
            self.nudge()

    def remove_where(self, collection: str, key: str, value: str) -> None:
        self.remove(collection, self.terms.ids_where(collection, key, value))

    def nudge(self, *, now: bool = False) -> None:
        """Have the worker index what is pending; a worker not running yet starts shortly
        (or `now`, for someone waiting on it)."""
        if not now and not self.worker.started:
            self.worker.start_later(self.location, self.terms.path, START_DELAY)
            return
        try:
            self.worker.open(self.location, self.terms.path)
            self.worker.tell("work")
        except WorkerError as error:
            self.worker.problems.append(f"memory indexing is not running: {error}")

    # -- reading ----------------------------------------------------------------------------
    def similar(self, collection: str, text: str, k: int, *, wait: float = 0.0) -> list[Hit]:
        """Closest in meaning, from what is embedded; [] while the worker is not ready
        (after up to `wait` seconds) or the index cannot be read."""
        ready = self.worker.ready(self.location) or (
            wait > 0 and self.worker.wait_ready(self.location, self.terms.path, wait)
        )
        if not ready:
            if wait <= 0 and not self.worker.started and self.terms.count():
                self.nudge()  # warm it for the next request, without waiting now
            return []
        try:
            rows = self.worker.call(
                "similar",
                SIMILAR_TIMEOUT,
                location=self.location.to_json(),
                collection=collection,
                text=text,
                k=k,
            )
        except WorkerError as error:
            self.worker.broken[self.location] = str(error)
            return []
        hits = [Hit(r[0], r[1] or "", dict(r[2] or {}), max(0.0, float(r[3]))) for r in rows]
        if self.location.remote:  # entries of other kernels are not in our text index
            gone = {
                i
                for i, s in self.terms.states(collection, [h.id for h in hits]).items()
                if s == "deleting"
            }
            return [h for h in hits if h.id not in gone]
        current = self.terms.states(collection, [h.id for h in hits])
        return [h for h in hits if current.get(h.id, "deleting") != "deleting"]

    def containing(self, collection: str, term: str, k: int) -> list[Hit]:
        """Entries containing `term`, through the text index (and the server's, for a team)."""
        found = [
            Hit(e.id, e.text, e.metadata, 1.0) for e in self.terms.containing(collection, term, k)
        ]
        if self.location.remote and self.worker.ready(self.location) and len(found) < k:
            try:
                rows = self.worker.call(
                    "containing",
                    SIMILAR_TIMEOUT,
                    location=self.location.to_json(),
                    collection=collection,
                    term=term,
                    k=k,
                )
            except WorkerError:
                rows = []
            seen = {h.id for h in found}
            found += [
                Hit(r[0], r[1] or "", dict(r[2] or {}), 1.0) for r in rows if r[0] not in seen
            ]
        return found[:k]

    def problem(self) -> str | None:
        """Why meaning-based recall is off for this index, if it is."""
        return self.worker.broken.get(self.location)

    def wait_indexed(self, collection: str | None, timeout: float) -> bool:
        """Wait until nothing of `collection` is pending (tests, `%agent memory --wait`)."""
        if not self.terms.count_state(PENDING, collection):
            return True
        self.nudge(now=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.problem() is not None:
                return False
            if not self.terms.count_state(PENDING, collection) and self.worker.ready(self.location):
                return True
            time.sleep(0.05)
        return False


def terms_path(chroma_dir: Path, location: Location) -> Path:
    """The text index beside a location: one per local folder, one per server and project."""
    if not location.remote:
        return chroma_dir.parent / "recall.sqlite"
    import hashlib

    digest = hashlib.sha256(location.to_json().encode()).hexdigest()[:10]
    return chroma_dir.parent / f"recall-server-{digest}.sqlite"


def redacted_entries(
    texts: Sequence[str], metadatas: Sequence[Metadata]
) -> tuple[list[str], list[Metadata]]:
    """The redaction boundary of the index: the text index is the first file an entry reaches
    (the worker copies it into Chroma later), so secrets are removed here, in the kernel."""
    from agent_kernel.redact import redact, redact_values, secret_env_values

    secrets = secret_env_values()
    cleaned = [redact_values(m, secrets) for m in metadatas]
    return [redact(t, secrets) for t in texts], cleaned
