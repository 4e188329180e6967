"""The project's Chroma index: a local directory shared by the project's kernels, or a server.

Only the memory worker process (`memory/worker.py`) opens it, so a kernel never imports
chromadb or holds the embedding model. Vectors are computed by the worker with the offline
embedding and handed to Chroma, which never embeds anything itself (a server needs no
embedding function). Queries ask for `k` results without counting the collection first.

A Chroma server (`Location.url`) keeps one collection per project and kind, named from the
project (`Agent.project_name` or its folder). Headers come from an environment variable whose
name is configured, read when the client opens and never stored.

Chroma's PersistentClient is not process-safe: each process keeps the vector index in memory,
so a second kernel would neither see another's additions nor be safe writing at the same time.
Writes therefore take a file lock and bump a generation counter beside the directory; before a
query, a kernel that sees a newer generation drops its cached state and reopens (a file read,
microseconds, when nothing changed). Every collection uses the offline embedding, passed
explicitly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOCK_TIMEOUT_SECONDS = 60.0
# Cosine distance; memories are short texts where direction matters more than length.
SPACE = "cosine"

Metadata = dict[str, str | int | float | bool]

# Chroma's system cache is per process, and clearing it closes every client in the process, so
# each index remembers the epoch it opened in and reopens when another index cleared it.
_epoch = 0
_shared: dict[Location, VectorIndex] = {}
_shared_lock = threading.Lock()


@dataclass(frozen=True)
class Location:
    """Where an index lives: a local Chroma folder, or a collection prefix on a server."""

    path: str = ""
    url: str = ""
    prefix: str = ""
    headers_env: str = ""

    @property
    def remote(self) -> bool:
        return bool(self.url)

    def describe(self) -> str:
        return f"the Chroma server {self.url} ({self.prefix})" if self.remote else self.path

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Location:
        return cls(**json.loads(text))

    def collection_name(self, collection: str) -> str:
        if not self.remote:
            return collection
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.prefix}-{collection}").strip("-._")
        return name[:500] if len(name) >= 3 else f"agent-{name}"


def shared_index(location: Location | Path) -> VectorIndex:
    """The one index of `location` in this process."""
    if isinstance(location, Path):
        location = Location(path=str(location.resolve()))
    with _shared_lock:
        if location not in _shared:
            _shared[location] = VectorIndex(location)
        return _shared[location]


def forget_shared(location: Location) -> None:
    with _shared_lock:
        _shared.pop(location, None)


@dataclass(frozen=True)
class Hit:
    """One match: the stored text, its metadata, and a similarity in [0, 1] (higher is closer)."""

    id: str
    text: str
    metadata: Metadata
    similarity: float


class VectorIndex:
    """Collections in one Chroma directory, safe to share between kernels."""

    def __init__(self, location: Location | Path) -> None:
        if isinstance(location, Path):
            location = Location(path=str(location))
        self.location = location
        directory = Path(location.path) if location.path else Path(".")
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
        embeddings: Any = None,
    ) -> None:
        """Add or replace entries; `embeddings` computed by the caller (else by Chroma's
        function for the collection, the same offline model)."""
        if not ids:
            return
        from agent_kernel.redact import redact, redact_values, secret_env_values

        # The redaction boundary for the index: documents and every text in their metadata.
        secrets = secret_env_values()
        cleaned = [redact_values(m, secrets) or None if m else None for m in metadatas]
        with self._writing():
            self._collection(collection).upsert(
                ids=list(ids),
                documents=[redact(t, secrets) for t in texts],
                metadatas=cleaned,
                embeddings=embeddings,
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
        self,
        collection: str,
        text: str,
        k: int,
        where: dict[str, Any] | None = None,
        embedding: Any = None,
    ) -> list[Hit]:
        """The `k` entries closest in meaning to `text` (or to its given `embedding`)."""
        query: dict[str, Any] = (
            {"query_embeddings": [embedding]} if embedding is not None else {"query_texts": [text]}
        )
        with self._reading():
            result = self._collection(collection).query(
                **query,
                n_results=k,
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
    def drop(self, collections: Sequence[str]) -> None:
        """Delete whole collections (a rebuild starts from empty ones)."""
        from chromadb.errors import NotFoundError

        with self._writing():
            for name in collections:
                with contextlib.suppress(NotFoundError):  # absent is what we want
                    self._client.delete_collection(self.location.collection_name(name))
                self._collections.pop(name, None)

    def open(self) -> None:
        """Open the client now (the worker warms the index before anyone queries it)."""
        with self._reading():
            pass

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self.location.remote:  # the server orders writes
            with self._thread_lock:
                self._refresh()
                yield
            return
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
            if self.location.remote:
                self._refresh()
            elif self._stale():
                from filelock import FileLock

                self.directory.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_SECONDS):
                    self._refresh()
            yield

    def _stale(self) -> bool:
        if self.location.remote:
            return self._client is None
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

        if self.location.remote:
            self._client = _open_http_client(self.location)
            self._collections.clear()
            return
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
                self.location.collection_name(name),
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


def _open_http_client(location: Location) -> Any:
    """A client of a Chroma server; headers (auth) from the environment variable named in
    `Agent.chroma_headers_env`, as JSON (`{"Authorization": "Bearer ..."}`) or one
    `Name: value` line."""
    from urllib.parse import urlparse

    import chromadb
    from chromadb.config import Settings

    parsed = urlparse(location.url)
    headers: dict[str, str] = {}
    raw = os.environ.get(location.headers_env, "") if location.headers_env else ""
    if raw.strip().startswith("{"):
        headers = {str(k): str(v) for k, v in json.loads(raw).items()}
    elif ":" in raw:
        name, _, value = raw.partition(":")
        headers = {name.strip(): value.strip()}
    return chromadb.HttpClient(
        host=parsed.hostname or "localhost",
        port=parsed.port or (443 if parsed.scheme == "https" else 8000),
        ssl=parsed.scheme == "https",
        headers=headers or None,
        settings=Settings(anonymized_telemetry=False),
    )
