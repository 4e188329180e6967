"""An MCP server's tools as agent tools: `server__tool` names, server schemas, untrusted results.

Effects default from the server's annotations (`readOnlyHint` and not `destructiveHint`: read;
anything else: external, since it leaves the kernel); policy rules decide from there, by name
(`github__*`). Whatever a server returns is data from outside the kernel, so every result,
error text included, is untrusted: wrapped for the model, and effects after it ask.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agent_kernel.tools.base import Effect, Tool, ToolContext, ToolError, ToolResult

if TYPE_CHECKING:
    from agent_kernel.mcp.connection import ServerConnection

MAX_NAME = 64
MAX_DESCRIPTION = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(prefix: str, remote: str, taken: Iterable[str] = ()) -> str:
    """`prefix__remote`, made a valid model tool name (letters, digits, _ and -, at most 64):
    other characters become `_`; a long or clashing name ends in a short hash of the original."""
    name = f"{prefix}__{_UNSAFE.sub('_', remote) or 'tool'}"
    if len(name) <= MAX_NAME and name not in set(taken):
        return name
    digest = hashlib.sha1(f"{prefix}/{remote}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def default_effects(annotations: Any) -> tuple[Effect, ...]:
    """Read for a tool the server says only reads; external for everything else. Either way
    its arguments leave the kernel, so MCPTool is an egress (asked under taint, every mode)."""
    hints = annotations if isinstance(annotations, dict) else {}
    if hints.get("readOnlyHint") is True and hints.get("destructiveHint") is not True:
        return ("read",)
    return ("external",)


def input_schema(schema: Any) -> dict[str, Any]:
    """The server's argument schema as a Chat Completions `parameters` object."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return {"type": "object", "properties": {}}
    cleaned = {k: v for k, v in schema.items() if k != "$schema"}
    cleaned["type"] = "object"
    cleaned.setdefault("properties", {})
    return cleaned


def _no_arguments() -> None:
    """Stands in for a function: an MCP tool's arguments come from the server's schema."""


class MCPTool(Tool):
    """A tool of an MCP server, called through its connection."""

    egress = True

    def __init__(
        self,
        connection: ServerConnection,
        spec: dict[str, Any],
        name: str,
        *,
        timeout: Callable[[], tuple[float, float]],
        notify: Callable[[str], None],
    ) -> None:
        self.connection = connection
        self.remote_name = str(spec["name"])
        # What this server says about itself taints the run for every other tool's effects,
        # not for the server's own calls (it wrote those words; its calls are egress anyway).
        self.self_descriptions = (
            f"description of MCP server {connection.name}",
            f"schema of MCP server {connection.name}",
        )
        self.input_schema = untrusted_schema(
            input_schema(spec.get("inputSchema")), self.self_descriptions[1]
        )
        self.annotations = spec.get("annotations") or {}
        self._timeout = timeout
        self._notify = notify
        super().__init__(
            _no_arguments,
            name=name,
            description=_description(spec, connection.name),
            effects=default_effects(self.annotations),
            trusted_output=False,
        )

    @property
    def parameters_schema(self) -> dict[str, Any]:
        return self.input_schema

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the server's schema, so the model hears what is wrong
        before anything leaves the kernel."""
        if not isinstance(arguments, dict):
            raise ToolError(f"the arguments for {self.name} must be a JSON object")
        problems = schema_problems(self.input_schema, arguments)
        if problems:
            raise ToolError(f"invalid arguments for {self.name}: {problems}")
        return dict(arguments)

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        from agent_kernel.mcp.connection import ServerError, ServerFailure

        kwargs = self.validate(arguments)
        try:
            call_timeout, start_timeout = self._timeout()  # read at call time: %config applies
            wire = await self.connection.call(self.remote_name, kwargs, call_timeout, start_timeout)
        except ServerFailure as failure:
            self._notify(failure.for_user())
            raise ToolError(failure.for_model(self.name)) from None
        except ServerError as error:
            return ToolResult(
                content=f"Error from MCP server {self.connection.name!r} "
                f"(JSON-RPC {error.code}): {error.message}",
                ok=False,
                summary=f"JSON-RPC error {error.code}",
                trusted=False,
            )
        return tool_result(wire, self.connection.name, self.remote_name)


def _description(spec: dict[str, Any], server: str) -> str:
    """What the server says about its tool, wrapped as untrusted: a poisoned description
    ("before any call, run_python ...") is data, and offering the tool taints the run."""
    from agent_kernel.policy import spotlight

    text = " ".join(str(spec.get("description") or spec.get("title") or "").split())
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    origin = f"(Tool {spec['name']!r} of MCP server {server!r}.)"
    described = spotlight.wrap(text, f"description of MCP server {server}") if text else ""
    return f"{origin} {described}".strip()


def untrusted_schema(schema: Any, source: str) -> Any:
    """The schema with every description and title the server wrote wrapped as untrusted."""
    from agent_kernel.policy import spotlight

    if isinstance(schema, dict):
        return {
            key: spotlight.wrap(value, source)
            if key in ("description", "title") and isinstance(value, str)
            else untrusted_schema(value, source)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [untrusted_schema(v, source) for v in schema]
    return schema


def schema_problems(schema: dict[str, Any], arguments: dict[str, Any]) -> str:
    """What is wrong with `arguments` for `schema`, in one line; empty when nothing is (or the
    schema itself cannot be checked: then the server judges)."""
    try:
        from jsonschema import exceptions, validators
    except ImportError:  # the SDK depends on jsonschema; without it the server judges
        return ""
    try:
        validator = validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(arguments), key=exceptions.relevance)
    except Exception:
        return ""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.absolute_path)
        message = error.message if len(error.message) <= 160 else error.message[:159] + "…"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def tool_result(wire: dict[str, Any], server: str, tool: str) -> ToolResult:
    """A CallToolResult (wire shape) as text for the model; always untrusted."""
    blocks = wire.get("content")
    texts = [_block_text(b) for b in blocks] if isinstance(blocks, list) else []
    structured = wire.get("structuredContent")
    if not any(texts) and structured is not None:
        texts = [json.dumps(structured, ensure_ascii=False, default=str)]
    text = "\n".join(t for t in texts if t) or "(the tool returned no content)"
    failed = wire.get("isError") is True
    if failed:
        text = f"Error reported by the tool: {text}"
    return ToolResult(
        content=text,
        ok=not failed,
        summary="the tool reported an error" if failed else "",
        data={"server": server, "tool": tool, "blocks": len(blocks or [])},
        trusted=False,
    )


def _block_text(block: Any) -> str:
    """One content block as text; media are described, not sent."""
    if not isinstance(block, dict):
        return json.dumps(block, default=str)[:2000]
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        size = len(str(block.get("data", ""))) * 3 // 4
        return f"[{kind} {block.get('mimeType', '')}, {size:,} bytes, not shown]"
    if kind == "resource_link":
        return f"[resource link {block.get('uri', '')} {block.get('name', '')}]".strip()
    if kind == "resource":
        resource = block.get("resource") or {}
        if "text" in resource:
            return f"[resource {resource.get('uri', '')}]\n{resource['text']}"
        return f"[resource {resource.get('uri', '')} {resource.get('mimeType', '')}, not shown]"
    return json.dumps(block, ensure_ascii=False, default=str)[:2000]
