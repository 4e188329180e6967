"""`GET /agent-kernel/sessions?path=FOLDER` and `GET /agent-kernel/memories?path=FOLDER`.

FOLDER is relative to the server's root, as in the contents API. Jupyter Server authenticates
each request and its authorizer decides, as for reading files: the store is part of the
project's files. Nothing here writes, and nothing outside the root is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from agent_kernel.server import listing

Lister = Callable[[Path], list[dict[str, Any]]]


class FolderError(web.HTTPError):
    """A `path` the endpoint refuses, with a message the panel shows as it is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, log_message=message)


def resolve_folder(root: Path, path: str, *, allow_hidden: bool = False) -> Path:
    """The folder `path` names under `root`; FolderError if it is outside it or not there."""
    relative = path.strip().lstrip("/")
    root = root.resolve()
    try:
        folder = (root / relative).resolve()  # follows symbolic links: they cannot lead out
    except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
        raise FolderError(400, f"{path!r} is not a usable folder path: {exc}") from None
    if folder != root and root not in folder.parents:
        raise FolderError(403, f"{path!r} is outside the server's root folder; not listed")
    hidden = [part for part in folder.relative_to(root).parts if part.startswith(".")]
    if hidden and not allow_hidden:
        raise FolderError(404, f"{path!r} is a hidden folder, which this server does not show")
    if not folder.is_dir():
        raise FolderError(404, f"no folder {path!r} under the server's root")
    return folder


class StoreHandler(APIHandler):
    """Lists one kind of row of the store beside a folder's notebooks, as a JSON list."""

    auth_resource = "contents"
    lister: Lister

    def initialize(self, lister: Lister) -> None:
        self.lister = lister

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from agent_kernel.memory.store import StoreBusyError, StoreVersionError

        manager = self.contents_manager
        root = Path(getattr(manager, "root_dir", None) or self.settings["server_root_dir"])
        folder = resolve_folder(
            root, self.get_argument("path", ""), allow_hidden=bool(manager.allow_hidden)
        )
        try:
            # DuckDB blocks, and may wait out a kernel's lock: off the server's event loop.
            rows = await IOLoop.current().run_in_executor(None, self.lister, folder)
        except StoreBusyError as exc:
            raise FolderError(503, str(exc)) from None
        except StoreVersionError as exc:
            raise FolderError(409, str(exc)) from None
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(rows, ensure_ascii=False, default=str))


def setup_handlers(web_app: Any) -> None:
    base = url_path_join(web_app.settings["base_url"], "agent-kernel")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "sessions"), StoreHandler, {"lister": listing.sessions}),
            (url_path_join(base, "memories"), StoreHandler, {"lister": listing.memories}),
        ],
    )
