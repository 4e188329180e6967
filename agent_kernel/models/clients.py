"""One `openai` client per kernel and endpoint, and what was learnt about that endpoint.

Building an `AsyncOpenAI` costs about 0.34 s (its SSL context loads the CA bundle), so a
kernel keeps one per endpoint instead of one per cell, and rebuilds it when the endpoint, key
or timeout changes. The dialect a server speaks (detected once, or narrowed after it refused
a request) is kept beside it for the kernel's session. An httpx connection pool belongs to
the event loop that opened it, so clients are kept per loop too (terminal IPython runs each
cell with `asyncio.run`, a new loop each time).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_kernel.models.dialects import Dialect

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from agent_kernel.config import Endpoint


@dataclass
class _Entry:
    client: AsyncOpenAI
    key: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop | None


_clients: dict[tuple[int, str], _Entry] = {}  # (id(loop), base_url) -> the client in use
_dialects: dict[tuple[str, str], Dialect] = {}  # (base_url, Agent.server) -> what was learnt


def shared_client(endpoint: Endpoint, timeout: float) -> AsyncOpenAI:
    """The kernel's client for `endpoint`, built on first use or when a setting changed."""
    from openai import AsyncOpenAI

    loop = _running_loop()
    base = endpoint.base_url or ""
    slot = (id(loop), base)
    key = (base, _fingerprint(endpoint.api_key), float(timeout))
    entry = _clients.get(slot)
    if entry is not None and entry.key == key and entry.loop is loop:
        return entry.client
    if entry is not None:
        _close_later(entry)
    _forget_closed_loops()
    # Local servers accept any key, but the client insists on one. Retries are ours.
    client = AsyncOpenAI(
        api_key=endpoint.api_key or "not-needed",
        base_url=endpoint.base_url,
        timeout=timeout,
        max_retries=0,
    )
    _clients[slot] = _Entry(client, key, loop)
    return client


def remembered_dialect(base_url: str | None, server: str) -> Dialect | None:
    return _dialects.get((base_url or "", server))


def remember_dialect(base_url: str | None, server: str, dialect: Dialect) -> None:
    _dialects[(base_url or "", server)] = dialect


def forget_all() -> None:
    """Drop every client and everything learnt (tests; `%agent` commands that reset)."""
    for entry in list(_clients.values()):
        _close_later(entry)
    _clients.clear()
    _dialects.clear()


async def close_loop_clients() -> None:
    """Close the clients of the running loop, before a short-lived loop (`asyncio.run`)
    ends: their connections cannot outlive it."""
    loop = _running_loop()
    for slot, entry in list(_clients.items()):
        if entry.loop is loop:
            del _clients[slot]
            await entry.client.close()


def _fingerprint(secret: str) -> str:
    # The key itself is never kept in a dict that a debugger or a repr might show.
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _close_later(entry: _Entry) -> None:
    """Close a client that was replaced, on its own loop if that loop still runs."""
    loop = entry.loop
    if loop is None or loop.is_closed():
        return
    try:
        if loop is _running_loop():
            task = loop.create_task(entry.client.close())
            _closing.add(task)
            task.add_done_callback(_closing.discard)
    except RuntimeError:
        pass  # the loop is shutting down; its connections go with it


_closing: set[asyncio.Task[None]] = set()


def _forget_closed_loops() -> None:
    for slot, entry in list(_clients.items()):
        if entry.loop is not None and entry.loop.is_closed():
            del _clients[slot]
