"""Notebook cells as the agent reads them: source plus a bounded text rendering of outputs.

One renderer serves every source (the live notebook from the front end, the saved file,
IPython's history), so the model sees the same shape whichever was used. Images become a
one-line summary ("[image: 640x480 PNG]"); their pixels only reach a model that accepts
images (see `images.py`).
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass, field
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")
SOURCE_CHARS = 2000
OUTPUT_CHARS = 1500
TRACEBACK_LINES = 12


@dataclass
class Cell:
    """One cell: nbformat's fields the agent needs, whatever the source."""

    index: int
    cell_type: str  # code | markdown | raw
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    id: str = ""
    agent_edited: bool = False

    @classmethod
    def from_nbformat(cls, index: int, data: dict[str, Any]) -> Cell:
        """A cell from its nbformat JSON (a saved file, or the front end's model)."""
        metadata = data.get("metadata") or {}
        return cls(
            index=index,
            cell_type=str(data.get("cell_type") or "code"),
            source=joined(data.get("source")),
            outputs=list(data.get("outputs") or []),
            execution_count=data.get("execution_count"),
            id=str(data.get("id") or ""),
            agent_edited=bool((metadata.get("agent_kernel") or {}).get("edited")),
        )

    def header(self) -> str:
        run = f", run {self.execution_count}" if self.execution_count else ""
        edited = ", edited by the agent" if self.agent_edited else ""
        return f"[cell {self.index}] {self.cell_type}{run}{edited}"

    def images(self) -> list[dict[str, Any]]:
        """The image bundles among the outputs (for models that can see them)."""
        return [
            o["data"]
            for o in self.outputs
            if isinstance(o.get("data"), dict) and any(t in o["data"] for t in IMAGE_TYPES)
        ]


def joined(text: Any) -> str:
    """nbformat's multiline strings are a string or a list of lines."""
    if isinstance(text, list):
        return "".join(str(t) for t in text)
    return "" if text is None else str(text)


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 40)] + f"\n[... {len(text) - limit + 40:,} more characters]"


def render_cell(cell: Cell, *, source_chars: int = SOURCE_CHARS) -> str:
    """The cell's header, source and outputs as bounded text."""
    parts = [cell.header() + ":", cut(cell.source.rstrip(), source_chars) or "(empty)"]
    rendered = render_outputs(cell.outputs)
    if rendered:
        parts.append("outputs:\n" + rendered)
    return "\n".join(parts)


def outputs_outline(outputs: list[dict[str, Any]]) -> str:
    """What a cell's outputs are, without their text: "stdout (3 lines), result, error
    KeyError, image 640x480 PNG". No data reaches the model this way, so nothing taints."""
    kinds = []
    for output in outputs:
        kind = output.get("output_type")
        found = output.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        image = next((t for t in IMAGE_TYPES if t in data), None)
        if kind == "stream":
            lines = joined(output.get("text")).count("\n") or 1
            name = "stderr" if output.get("name") == "stderr" else "stdout"  # nothing else
            kinds.append(f"{name} ({lines} line{'s' * (lines > 1)})")
        elif kind == "error":
            name = str(output.get("ename") or "Error")
            kinds.append(f"error {name if name.isidentifier() else 'Error'}")
        elif image is not None:
            kinds.append(image_summary(image, data[image]).strip("[]"))
        elif kind == "execute_result":
            kinds.append("result")
        elif data:
            kinds.append("display")
    return ", ".join(kinds)


def outline_cell(cell: Cell, source_chars: int) -> str:
    """The cell with its source and an outline of its outputs (for the context)."""
    if cell.cell_type != "code":
        lines = cell.source.count("\n") + 1
        return f"{cell.header()} ({lines} lines; notebook_cells reads it)"
    outline = outputs_outline(cell.outputs)
    text = f"{cell.header()}:\n{cut(cell.source.rstrip(), source_chars) or '(empty)'}"
    return text + (f"\noutputs: {outline}" if outline else "")


def render_outputs(outputs: list[dict[str, Any]], limit: int = OUTPUT_CHARS) -> str:
    """Stream text, results, displays and errors, in order, within `limit` characters."""
    pieces = [piece for output in outputs if (piece := render_output(output))]
    return cut("\n".join(pieces), limit)


def render_output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f"[{output.get('name', 'stdout')}] " + ANSI.sub("", joined(output.get("text")))
    if kind == "error":
        return render_error(output)
    data = output.get("data")
    if not isinstance(data, dict):
        return ""
    label = "[result] " if kind == "execute_result" else ""
    image = next((t for t in IMAGE_TYPES if t in data), None)
    if image is not None:
        return label + image_summary(image, data[image])
    if "text/plain" in data:
        return label + joined(data["text/plain"]).rstrip()
    if "text/markdown" in data:
        return label + joined(data["text/markdown"]).rstrip()
    shown = ", ".join(sorted(data))
    return f"{label}[display: {shown}]"


def render_error(output: dict[str, Any]) -> str:
    lines = [ANSI.sub("", str(line)) for line in output.get("traceback") or []]
    tail = "\n".join(lines).splitlines()[-TRACEBACK_LINES:]
    head = f"[error] {output.get('ename', 'Error')}: {output.get('evalue', '')}"
    return head + ("\n" + "\n".join(tail) if tail else "")


def image_summary(mime: str, payload: Any) -> str:
    """`[image: 640x480 PNG]` from the image's own header (no decoding of pixels)."""
    kind = mime.split("/")[1].split("+")[0].upper()
    size = image_size(mime, payload)
    return f"[image: {size[0]}x{size[1]} {kind}]" if size else f"[image: {kind}]"


def image_size(mime: str, payload: Any) -> tuple[int, int] | None:
    """Width and height read from a PNG, GIF or JPEG header, or an SVG's attributes."""
    if mime == "image/svg+xml":
        text = joined(payload)
        found = re.search(r"<svg[^>]*?width=\"([\d.]+)\w*\"[^>]*?height=\"([\d.]+)", text)
        return (round(float(found[1])), round(float(found[2]))) if found else None
    try:
        head = base64.b64decode(joined(payload)[:40_000].strip() + "===")[:30_000]
    except (ValueError, TypeError):
        return None
    if head.startswith(b"\x89PNG") and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:4] == b"GIF8" and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None
