"""The kernel's end of the comm the JupyterLab extension opens (`agent_kernel.notebook`).

The extension opens the comm once the kernel has the target (after `%load_ext agent_kernel`);
the kernel then asks for cells or sends an approved edit and awaits the reply. A `%%agent`
cell runs as a coroutine, and ipykernel 7.4 and later dispatch comm messages while a cell
awaits (DESIGN.md, "Waiting for a human"), so the reply arrives mid-run. Where no front end
opened the comm (terminal IPython, nbclient, VS Code), there is nothing to ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

TARGET = "agent_kernel.notebook"
PROTOCOL = 1
_ids = itertools.count(1)


class FrontEndUnavailable(Exception):
    """No front end can answer: none opened the comm, or it did not reply in time."""


class FrontEnd:
    """The open comms (newest last) and the requests waiting on a reply."""

    def __init__(self) -> None:
        self.comms: list[Any] = []
        self.info: dict[str, Any] = {}  # what the extension said when it opened the comm
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.registered = False
        self.lost = ""  # why the last front end was dropped, until a new one connects

    def register(self, shell: Any) -> bool:
        """Listen for the extension's comm in this kernel; False outside a kernel."""
        manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
        if manager is None or self.registered:
            return self.registered
        manager.register_target(TARGET, self._opened)
        self.registered = True
        return True

    @property
    def connected(self) -> bool:
        return bool(self.comms)

    def _opened(self, comm: Any, message: dict[str, Any]) -> None:
        self.comms.append(comm)
        self.lost = ""
        self.info = dict((message.get("content") or {}).get("data") or {})
        comm.on_msg(self._received)
        comm.on_close(lambda _msg: self._closed(comm))
        comm.send({"hello": PROTOCOL})

    def _closed(self, comm: Any) -> None:
        if comm in self.comms:
            self.comms.remove(comm)

    def _received(self, message: dict[str, Any]) -> None:
        data = (message.get("content") or {}).get("data") or {}
        future = self._waiting.pop(str(data.get("reply_to", "")), None)
        if future is not None and not future.done():
            future.get_loop().call_soon_threadsafe(_resolve, future, data)

    async def request(self, op: str, timeout: float = 3.0, **payload: Any) -> dict[str, Any]:
        """Send `op` to the newest front end and await its reply (a dict with `ok`)."""
        if not self.comms:
            raise FrontEndUnavailable("no notebook front end is connected to this kernel")
        request_id = f"req{next(_ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        comm = self.comms[-1]
        try:
            comm.send({"request": request_id, "op": op, **payload})
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            # A tab closed without saying so: drop its comm (the extension opens a new one
            # after the next agent cell), so later runs do not wait on it again.
            self._closed(comm)
            with contextlib.suppress(Exception):
                comm.close()
            self.lost = f"the notebook front end did not answer within {timeout:.0f} s"
            raise FrontEndUnavailable(self.lost) from None
        finally:
            self._waiting.pop(request_id, None)


def _resolve(future: asyncio.Future[dict[str, Any]], data: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(data)


FRONT_END = FrontEnd()  # one kernel per process: one front end registry
