"""The audit chain's head, anchored outside the database: `audit-anchor.jsonl` beside it.

After each committed batch of events the new head hash is appended to the anchor file
(O_APPEND, one JSON line). `%agent audit --verify` then requires the newest anchored head to
be in the chain, so deleting the newest events (tail truncation) or rewriting and re-chaining
the table is detected, which the chain alone cannot see.

Threat model, honestly: agent code in the sandbox can write neither the database nor this
file (Landlock), so the anchor holds against it. Code running in the kernel itself (with
`Agent.sandbox = "off"`) or anyone with the user's file access can rewrite both; against
them, copy the head that `--verify` prints somewhere else (the chain has no secret key).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ANCHOR_FILE = "audit-anchor.jsonl"


def anchor_path(database: Path) -> Path:
    return database.with_name(ANCHOR_FILE)


def append_head(database: Path, head: str) -> None:
    """Record `head` as a hash the chain must keep containing (after a commit)."""
    line = json.dumps({"time": round(time.time(), 3), "head": head}) + "\n"
    fd = os.open(anchor_path(database), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def latest_head(database: Path) -> tuple[str, float] | None:
    """The newest anchored head and when it was anchored; None when nothing is anchored."""
    path = anchor_path(database)
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(tail):
        try:
            entry = json.loads(line)
            return str(entry["head"]), float(entry["time"])
        except (ValueError, KeyError, TypeError):
            continue
    return None
