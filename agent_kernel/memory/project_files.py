"""`%agent learn`: index the project's notebooks, documents, code and data schemas for search.

Learning is incremental: a file whose bytes did not change since it was learned is skipped,
a changed one replaces its old chunks, a learned file that is gone is dropped. Everything taken
from files is untrusted: it is data for the model to read, never instructions to follow.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent_kernel.errors import AgentError
from agent_kernel.memory.index import MemoryIndex
from agent_kernel.memory.sessions import now
from agent_kernel.memory.store import Store
from agent_kernel.memory.vectors import Metadata

COLLECTION = "files"
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".rst", ".py"}
DATA_SUFFIXES = {".csv", ".tsv", ".parquet"}
LEARNABLE = TEXT_SUFFIXES | DATA_SUFFIXES | {".ipynb"}
SKIPPED_FOLDERS = {
    ".agent",
    ".git",
    ".ipynb_checkpoints",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
}
MAX_TEXT_BYTES = 2_000_000  # larger text files are skipped, with a note
CHUNK_CHARS = 900  # the embedding reads 256 tokens (about 1,000 characters) at most
SAMPLE_ROWS = 3


class LearnError(AgentError):
    """A path that matches nothing learnable."""


@dataclass(frozen=True)
class Chunk:
    text: str
    where: str  # "cell 3 (markdown)", "lines 10-42", "schema"


@dataclass
class LearnReport:
    learned: list[str] = field(default_factory=list)
    chunks: int = 0
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why"

    def summary(self) -> str:
        parts = [f"learned {len(self.learned)} file(s) ({self.chunks} chunks)"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged")
        if self.removed:
            parts.append(f"{len(self.removed)} gone and dropped")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({'; '.join(self.skipped[:3])})")
        return ", ".join(parts)


def learn(project_dir: Path, pattern: str, store: Store, index: MemoryIndex) -> LearnReport:
    """Index the files `pattern` names (a path, a folder or a glob) under `project_dir`."""
    report = LearnReport()
    files = matching_files(project_dir, pattern)
    known = dict(store.query("SELECT path, sha256 FROM project_files"))
    scope = _scope_prefix(project_dir, pattern)
    for path in files:
        relative = path.relative_to(project_dir).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if known.get(relative) == digest:
            report.unchanged.append(relative)
            continue
        if path.suffix.lower() in TEXT_SUFFIXES | {".ipynb"} and len(data) > MAX_TEXT_BYTES:
            report.skipped.append(f"{relative}: over {MAX_TEXT_BYTES // 1_000_000} MB")
            continue
        try:
            chunks = list(chunk_file(path, data))
        except Exception as exc:  # one unreadable file must not stop the others
            report.skipped.append(f"{relative}: {type(exc).__name__}: {exc}"[:160])
            continue
        _replace_chunks(index, relative, chunks)
        store.write(
            [
                (
                    "INSERT OR REPLACE INTO project_files VALUES (?, ?, ?, ?, ?)",
                    [relative, digest, len(data), len(chunks), now()],
                )
            ]
        )
        report.learned.append(relative)
        report.chunks += len(chunks)
    present = {p.relative_to(project_dir).as_posix() for p in files}
    for relative in known:
        if (
            relative.startswith(scope)
            and relative not in present
            and not (project_dir / relative).exists()
        ):
            index.remove_where(COLLECTION, "path", relative)
            store.write([("DELETE FROM project_files WHERE path = ?", [relative])])
            report.removed.append(relative)
    return report


def matching_files(project_dir: Path, pattern: str) -> list[Path]:
    """Learnable files for a path, a folder (recursively) or a glob, inside the project."""
    root = project_dir.resolve()
    target = Path(pattern).expanduser()
    base = target if target.is_absolute() else root / target
    if any(ch in pattern for ch in "*?["):
        candidates = [Path(p) for p in glob.glob(str(base), recursive=True)]
    elif base.is_dir():
        candidates = [p for p in base.rglob("*") if p.is_file()]
    elif base.is_file():
        candidates = [base]
    else:
        raise LearnError(
            f"nothing at {pattern!r} (relative to {root}); give a file, folder or glob"
        )
    found = []
    for path in candidates:
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise LearnError(f"{pattern!r} is outside the project folder {root}")
        parts = set(resolved.relative_to(root).parts[:-1])
        if (
            resolved.is_file()
            and resolved.suffix.lower() in LEARNABLE
            and not parts & SKIPPED_FOLDERS
        ):
            found.append(resolved)
    if not found:
        kinds = ", ".join(sorted(LEARNABLE))
        raise LearnError(f"no learnable files at {pattern!r} (learnable: {kinds})")
    return sorted(set(found))


def chunk_file(path: Path, data: bytes) -> Iterator[Chunk]:
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        yield from _notebook_chunks(data)
    elif suffix == ".py":
        yield from _python_chunks(data.decode("utf-8", errors="replace"))
    elif suffix in DATA_SUFFIXES:
        yield _data_schema(path)
    else:
        yield from _text_chunks(data.decode("utf-8", errors="replace"))


def _notebook_chunks(data: bytes) -> Iterator[Chunk]:
    notebook = json.loads(data)
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if not text.strip():
            continue
        kind = cell.get("cell_type", "code")
        for i, piece in enumerate(_pieces(text)):
            label = f"cell {number} ({kind})" + (f", part {i + 1}" if i else "")
            yield Chunk(piece, label)


def _python_chunks(text: str) -> Iterator[Chunk]:
    """One chunk per top-level function or class (and the module code between them)."""
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        yield from _text_chunks(text)
        return
    starts = sorted({node.lineno for node in tree.body} | {1})
    bounds = [*starts[1:], len(lines) + 1]
    block: list[str] = []
    first = 1
    for start, end in zip(starts, bounds, strict=True):
        piece = "\n".join(lines[start - 1 : end - 1])
        if block and len("\n".join(block)) + len(piece) > CHUNK_CHARS:
            yield from _labelled("\n".join(block), first, start - 1)
            block, first = [], start
        block.append(piece)
    if block:
        yield from _labelled("\n".join(block), first, len(lines))


def _labelled(text: str, first: int, last: int) -> Iterator[Chunk]:
    for i, piece in enumerate(_pieces(text)):
        yield Chunk(piece, f"lines {first}-{last}" + (f", part {i + 1}" if i else ""))


def _text_chunks(text: str) -> Iterator[Chunk]:
    """Paragraphs gathered up to CHUNK_CHARS, starting a new chunk at each heading."""
    block: list[str] = []
    heading = ""
    for paragraph in re.split(r"\n\s*\n", text):
        stripped = paragraph.strip()
        if not stripped:
            continue
        is_heading = stripped.startswith("#")
        size = sum(len(p) for p in block)
        if block and (is_heading or size + len(stripped) > CHUNK_CHARS):
            yield from _section(block, heading)
            block = []
        if is_heading:
            heading = stripped.splitlines()[0].lstrip("#").strip()
        block.append(stripped)
    if block:
        yield from _section(block, heading)


def _section(block: list[str], heading: str) -> Iterator[Chunk]:
    for i, piece in enumerate(_pieces("\n\n".join(block))):
        label = f"section {heading!r}" if heading else "text"
        yield Chunk(piece, label + (f", part {i + 1}" if i else ""))


def _pieces(text: str) -> list[str]:
    """Cut long text at line breaks into pieces of about CHUNK_CHARS."""
    if len(text) <= CHUNK_CHARS:
        return [text]
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        if current and len(current) + len(line) > CHUNK_CHARS:
            pieces.append(current)
            current = ""
        current += line[: CHUNK_CHARS * 2]
    if current.strip():
        pieces.append(current)
    return pieces


def _data_schema(path: Path) -> Chunk:
    """A data file's columns, types, row count (Parquet: from metadata) and a few rows."""
    import duckdb

    con = duckdb.connect()
    try:
        source = "read_parquet(?)" if path.suffix.lower() == ".parquet" else "read_csv_auto(?)"
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", [str(path)]).fetchall()
        columns = ", ".join(f"{name} {dtype}" for name, dtype, *_ in described)
        rows = con.execute(f"SELECT * FROM {source} LIMIT {SAMPLE_ROWS}", [str(path)]).fetchall()
        count = ""
        if path.suffix.lower() == ".parquet":
            total = con.execute(
                "SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(path)]
            ).fetchone()
            count = f", {int(total[0]):,} rows" if total and total[0] is not None else ""
    finally:
        con.close()
    samples = "\n".join(" | ".join(str(v)[:40] for v in row) for row in rows)
    text = f"Data file {path.name}{count}. Columns: {columns}.\nFirst rows:\n{samples}"
    return Chunk(text, "schema")


def _replace_chunks(index: MemoryIndex, relative: str, chunks: list[Chunk]) -> None:
    """The file's chunks replace its old ones: searchable by exact terms at once, by meaning
    once the worker has embedded them."""
    old = set(index.terms.ids_where(COLLECTION, "path", relative))
    ids = [f"{relative}#{i}" for i in range(len(chunks))]
    # The file name goes into the text too, so a search for `sales.csv` finds its chunks.
    texts = [f"[{relative}, {chunk.where}]\n{chunk.text}" for chunk in chunks]
    metas: list[Metadata] = [
        {
            "path": relative,
            "where": chunk.where,
            "kind": "file",
            "source": f"file:{relative}",
            "trust": "untrusted",
        }
        for chunk in chunks
    ]
    index.remove(COLLECTION, sorted(old - set(ids)))
    index.put(COLLECTION, ids, texts, metas)


def _scope_prefix(project_dir: Path, pattern: str) -> str:
    """The folder a learn call covers, for dropping files that were deleted from it."""
    if any(ch in pattern for ch in "*?["):
        head = pattern.split("*")[0].split("?")[0].split("[")[0]
        return head.rsplit("/", 1)[0] + "/" if "/" in head else ""
    target = (project_dir / pattern).resolve()
    if target.is_dir():
        relative = target.relative_to(project_dir.resolve()).as_posix()
        return "" if relative == "." else relative + "/"
    return "\0"  # a single file covers nothing else
