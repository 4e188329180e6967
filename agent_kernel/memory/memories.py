"""Long-lived memories (facts, decisions, preferences) of a project or of a person.

Rows in the store are the history: nothing is deleted, a replaced memory points at its
replacement and a forgotten one keeps its text with a date. The index (`memory/index.py`) holds
only what is current, so recall never returns a superseded or forgotten memory; it can be
rebuilt from these rows (`rebuild_rows`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from agent_kernel.errors import AgentError
from agent_kernel.events import new_id
from agent_kernel.memory.index import MemoryIndex
from agent_kernel.memory.sessions import now
from agent_kernel.memory.store import Store
from agent_kernel.memory.vectors import Hit, Metadata

Kind = Literal["fact", "decision", "preference"]
Scope = Literal["project", "user"]
KINDS: tuple[Kind, ...] = ("fact", "decision", "preference")
COLLECTION = "memories"
MAX_MEMORY_CHARS = 2000
# Recall keeps semantic matches at least this similar (cosine, MiniLM: unrelated texts measure
# 0.0-0.2 here, a paraphrased fact inside a longer turn 0.24); exact terms always count.
MIN_SIMILARITY = 0.2
RRF_K = 60  # reciprocal-rank fusion constant, as in the literature
_TERM = re.compile(r"\"([^\"]{3,60})\"|'([^']{3,60})'|`([^`]{2,60})`|([A-Za-z_][\w.\-/]*\w)")


class AgentMemoryError(AgentError):
    """A memory id that does not exist, or a memory that cannot be written."""


@dataclass(frozen=True)
class Recalled:
    """A memory found for a query, with how it was found."""

    id: str
    text: str
    kind: str
    scope: str
    trust: str
    source: str
    score: float
    similarity: float
    exact: bool


class MemoryBank:
    """The memories of one scope: rows in `store`, current ones in `index`."""

    def __init__(self, store: Store, index: MemoryIndex, scope: Scope) -> None:
        self.store = store
        self.index = index
        self.scope = scope

    def remember(
        self,
        text: str,
        kind: Kind = "fact",
        *,
        source: str = "user",
        trust: str = "trusted",
        session_id: str | None = None,
        replaces: str | None = None,
    ) -> str:
        """Store a memory (replacing `replaces`, which is kept as history); returns its id."""
        text = " ".join(text.split())
        if not text:
            raise AgentMemoryError(
                'a memory needs some text, e.g. %agent remember "Revenue is in EUR"'
            )
        if len(text) > MAX_MEMORY_CHARS:
            raise AgentMemoryError(
                f"a memory holds at most {MAX_MEMORY_CHARS} characters ({len(text)} given); "
                "store a document with %agent learn instead"
            )
        if kind not in KINDS:
            raise AgentMemoryError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        memory_id = new_id("mem_")
        statements: list[tuple[str, list[Any]]] = [
            (
                "INSERT INTO memories (id, scope, kind, text, source, trust, created, session_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [memory_id, self.scope, kind, text, source, trust, now(), session_id],
            )
        ]
        if replaces:
            self._current(replaces)
            statements.append(
                ("UPDATE memories SET superseded_by = ? WHERE id = ?", [memory_id, replaces])
            )
        self.store.write(statements)
        meta: Metadata = {"kind": kind, "scope": self.scope, "trust": trust, "source": source}
        self.index.put(COLLECTION, [memory_id], [text], [meta])
        if replaces:
            self.index.remove(COLLECTION, [replaces])
        return memory_id

    def forget(self, memory_id: str) -> str:
        """Take a memory out of recall; its row stays, dated. Returns its text."""
        text = self._current(memory_id)
        self.store.write([("UPDATE memories SET forgotten = ? WHERE id = ?", [now(), memory_id])])
        self.index.remove(COLLECTION, [memory_id])
        return text

    def owns(self, memory_id: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM memories WHERE id = ?", [memory_id]))

    def recall(self, query: str, k: int = 5, *, wait: float = 60.0) -> list[Recalled]:
        """Current memories for `query`: close in meaning, or containing its exact terms.
        Meaning needs the worker; `wait` bounds how long to wait for it (0: not at all)."""
        if wait > 0:
            self.index.wait_indexed(COLLECTION, wait)
        return search(self.index, COLLECTION, query, k, wait=wait)

    def rebuild_rows(self) -> int:
        """Put every current memory of the store back into the index; returns how many."""
        rows = self.store.query(
            "SELECT id, kind, text, source, trust FROM memories "
            "WHERE superseded_by IS NULL AND forgotten IS NULL"
        )
        metas: list[Metadata] = [
            {"kind": kind, "scope": self.scope, "trust": trust, "source": source}
            for _, kind, _, source, trust in rows
        ]
        self.index.put(COLLECTION, [r[0] for r in rows], [r[2] for r in rows], metas)
        return len(rows)

    def table(self, *, history: bool = False) -> Any:
        """The memories as a DataFrame: current ones, or every one with what became of it."""
        where = "" if history else "WHERE superseded_by IS NULL AND forgotten IS NULL"
        columns = "id, kind, text, source, trust, created"
        if history:
            columns += ", superseded_by, forgotten"
        return self.store.query_df(f"SELECT {columns} FROM memories {where} ORDER BY created DESC")

    def _current(self, memory_id: str) -> str:
        rows = self.store.query(
            "SELECT text, superseded_by, forgotten FROM memories WHERE id = ?", [memory_id]
        )
        if not rows:
            raise AgentMemoryError(
                f"no memory {memory_id!r}; %agent memory lists them with their ids"
            )
        text, superseded_by, forgotten = rows[0]
        if superseded_by or forgotten:
            state = f"replaced by {superseded_by}" if superseded_by else "already forgotten"
            raise AgentMemoryError(f"memory {memory_id} is {state}")
        return str(text)


def search(
    index: MemoryIndex, collection: str, query: str, k: int, *, wait: float = 0.0
) -> list[Recalled]:
    """Entries of `collection` close in meaning to `query` or containing its exact terms."""
    semantic = [
        h
        for h in index.similar(collection, query, k * 2, wait=wait)
        if h.similarity >= MIN_SIMILARITY
    ]
    exact = [h for term in exact_terms(query) for h in index.containing(collection, term, k)]
    return fuse(semantic, exact, k)


def exact_terms(query: str, limit: int = 4) -> list[str]:
    """Words of `query` worth matching exactly: quoted text and identifier-like names
    (`customer_id`, `sales.csv`, `Q3`, `revenueEUR`), not everyday words."""
    terms: list[str] = []
    for match in _TERM.finditer(query):
        quoted = match.group(1) or match.group(2) or match.group(3)
        word = match.group(4)
        if quoted:
            terms.append(quoted)
        elif word and (
            any(c in word for c in "_./-")
            or any(c.isdigit() for c in word)
            or any(c.isupper() for c in word[1:])
        ):
            terms.append(word)
    return list(dict.fromkeys(terms))[:limit]


def fuse(semantic: list[Hit], exact: list[Hit], k: int) -> list[Recalled]:
    """Reciprocal-rank fusion of the two lists: found by both ranks highest."""
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    similarity: dict[str, float] = {}
    for rank, hit in enumerate(semantic):
        scores[hit.id] = scores.get(hit.id, 0.0) + 1 / (RRF_K + rank)
        hits[hit.id], similarity[hit.id] = hit, hit.similarity
    exact_ids = set()
    for rank, hit in enumerate(exact):
        if hit.id in exact_ids:
            continue
        exact_ids.add(hit.id)
        scores[hit.id] = scores.get(hit.id, 0.0) + 1 / (RRF_K + rank)
        hits.setdefault(hit.id, hit)
    ranked = sorted(scores, key=lambda i: -scores[i])[:k]
    return [
        Recalled(
            id=i,
            text=hits[i].text,
            kind=str(hits[i].metadata.get("kind", "")),
            scope=str(hits[i].metadata.get("scope", "")),
            trust=str(hits[i].metadata.get("trust", "trusted")),
            source=str(hits[i].metadata.get("source", "")),
            score=scores[i],
            similarity=similarity.get(i, 0.0),
            exact=i in exact_ids,
        )
        for i in ranked
    ]
