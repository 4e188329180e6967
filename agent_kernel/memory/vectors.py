"""The project's Chroma directory, shared by every kernel of the project.

Chroma's PersistentClient is not process-safe: each process keeps the vector index in memory,
so a second kernel would neither see another's additions nor be safe writing at the same time.
Writes therefore take a file lock and bump a generation counter beside the directory; before a
query, a kernel that sees a newer generation drops its cached state and reopens (a file read,
microseconds, when nothing changed). Every collection uses the offline embedding, passed
explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_TIMEOUT_SECONDS = 60.0
# Cosine distance; memories are short texts where direction matters more than length.
SPACE = "cosine"

Metadata = dict[str, str | int | float | bool]

# Chroma's system cache is per process, and clearing it closes every client in the process, so
# each index remembers the epoch it opened in and reopens when another index cleared it.
_epoch = 0
_shared: dict[Path, VectorIndex] = {}
_shared_lock = threading.Lock()


def shared_index(directory: Path) -> VectorIndex:
    """The one index of `directory` in this process."""
    key = directory.resolve()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = VectorIndex(key)
        return _shared[key]


@dataclass(frozen=True)
class Hit:
    """One match: the stored text, its metadata, and a similarity in [0, 1] (higher is closer)."""

    id: str
    text: str
    metadata: Metadata
    similarity: float


class VectorIndex:
    """Collections in one Chroma directory, safe to share between kernels."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock_path = directory.parent / f"{directory.name}.lock"
        self._generation_path = directory.parent / f"{directory.name}.generation"
        self._client: Any = None
        self._generation = -1
        self._epoch = -1
        self._collections: dict[str, Any] = {}
        self._thread_lock = threading.RLock()
        self.reopens = 0

    # -- writing ----------------------------------------------------------------------------
    def upsert(
        self,
        collection: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        if not ids:
            return
        with self._writing():
            self._collection(collection).upsert(
                ids=list(ids), documents=list(texts), metadatas=list(metadatas)
            )

    def update_metadata(
        self, collection: str, ids: Sequence[str], metadatas: Sequence[Metadata]
    ) -> None:
        if not ids:
            return
        with self._writing():
            self._collection(collection).update(ids=list(ids), metadatas=list(metadatas))

    def delete(
        self, collection: str, *, ids: Sequence[str] | None = None, where: Any = None
    ) -> None:
        with self._writing():
            self._collection(collection).delete(ids=list(ids) if ids else None, where=where)

    # -- reading ----------------------------------------------------------------------------
    def similar(
        self, collection: str, text: str, k: int, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The `k` entries closest in meaning to `text`."""
        with self._reading():
            target = self._collection(collection)
            count = target.count()
            if not count:
                return []
            result = target.query(
                query_texts=[text],
                n_results=min(k, count),
                where=where or None,
                include=["documents", "metadatas", "distances"],
            )
        return [
            Hit(i, doc or "", dict(meta or {}), max(0.0, 1.0 - float(dist)))
            for i, doc, meta, dist in zip(
                result["ids"][0],
                (result["documents"] or [[]])[0],
                (result["metadatas"] or [[]])[0],
                (result["distances"] or [[]])[0],
                strict=True,
            )
        ]

    def containing(
        self, collection: str, term: str, k: int, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """Up to `k` entries whose text contains `term` exactly (names, file names, columns)."""
        with self._reading():
            result = self._collection(collection).get(
                where=where or None,
                where_document={"$contains": term},
                limit=k,
                include=["documents", "metadatas"],
            )
        return [
            Hit(i, doc or "", dict(meta or {}), 1.0)
            for i, doc, meta in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
            )
        ]

    def count(self, collection: str) -> int:
        with self._reading():
            return int(self._collection(collection).count())

    # -- sharing between processes ----------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        from filelock import FileLock

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_SECONDS):
            self._refresh()
            try:
                yield
            finally:
                self._generation = self._read_generation() + 1
                self._generation_path.write_text(str(self._generation))

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._thread_lock:
            if self._stale():
                from filelock import FileLock

                self.directory.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_SECONDS):
                    self._refresh()
            yield

    def _stale(self) -> bool:
        return (
            self._client is None
            or self._epoch != _epoch
            or self._read_generation() != self._generation
        )

    def _refresh(self) -> None:
        """Reopen the client if another kernel wrote since we opened it (call under the lock)."""
        global _epoch
        if not self._stale():
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        generation = self._read_generation()
        if self._client is not None and self._epoch == _epoch:
            # Chroma caches one system per directory per process; drop it to see new writes.
            SharedSystemClient.clear_system_cache()
            _epoch += 1
            self.reopens += 1
        self._client = _open_client(self.directory)
        self._collections.clear()
        self._generation = generation
        self._epoch = _epoch

    def _read_generation(self) -> int:
        try:
            return int(self._generation_path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _collection(self, name: str) -> Any:
        if name not in self._collections:
            from agent_kernel.memory.embedding import default_embedding_function

            self._collections[name] = self._client.get_or_create_collection(
                name,
                embedding_function=default_embedding_function(),
                configuration={"hnsw": {"space": SPACE}},
            )
        return self._collections[name]


def _open_client(directory: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    directory.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(directory), settings=Settings(anonymized_telemetry=False)
    )
