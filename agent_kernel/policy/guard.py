"""While an agent run is active, the settings that could loosen the policy do not change.

With the sandbox on, agent code cannot reach these settings at all (it runs in another
process); this guard covers the in-kernel paths that remain: `Agent.sandbox = "off"`, a
tool or plugin running in the kernel, or a background task. Tightening is always allowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from traitlets import TraitError

_active = 0
MODE_ORDER = {"read-only": 0, "ask": 1, "auto": 2}


@contextlib.contextmanager
def agent_running() -> Iterator[None]:
    global _active
    _active += 1
    try:
        yield
    finally:
        _active -= 1


def active() -> bool:
    return _active > 0


def loosens(name: str, old: Any, new: Any) -> bool:
    """Whether changing setting `name` from `old` to `new` gives the agent more room."""
    if old == new:
        return False
    if name == "mode":
        return MODE_ORDER.get(str(new), 3) > MODE_ORDER.get(str(old), 3)
    if name == "unattended":
        return new == "allow"
    if name == "sandbox":
        return new == "off"
    return True  # rules, base_url, api_key_env: any change may loosen


def check(name: str, old: Any, new: Any) -> None:
    """Raise TraitError when the change loosens the policy during an agent run."""
    if active() and loosens(name, old, new):
        raise TraitError(
            f"{name} cannot be loosened while an agent run is active; change it in a cell "
            "after the run ends"
        )
