"""Errors a user can act on; each message is one line that says what to do."""

from __future__ import annotations


class AgentError(Exception):
    """Base class: shown to the user as a single line, never as a traceback."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback for the cell.
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class AgentConfigError(AgentError):
    """A setting is missing or wrong (endpoint, key, model)."""


class ModelError(AgentError):
    """The model endpoint failed in a way retries could not fix."""
