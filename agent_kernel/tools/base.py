"""The `@tool` decorator: a typed, docstringed function becomes a tool with a JSON schema.

The schema comes from the function itself (type hints through pydantic, descriptions from the
docstring), so it is never written twice. Arguments are validated before the function runs.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

if TYPE_CHECKING:
    from agent_kernel.memory.project import ProjectMemory
    from agent_kernel.sandbox.fork import SandboxSettings

Effect = Literal["read", "execute", "write", "external"]
# What an approval card shows beside the arguments (a diff, say), from the call's arguments.
Preview = Callable[[dict[str, Any], "ToolContext"], Awaitable[str]]
EFFECTS: tuple[Effect, ...] = ("read", "execute", "write", "external")
TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class ToolContext:
    """What a tool may reach in the live kernel: the user's namespace and the shell.

    A tool receives it by declaring a parameter annotated `ToolContext`; that parameter is
    not part of the schema the model sees.
    """

    user_ns: dict[str, Any]
    shell: Any = None
    max_result_chars: int = 8000
    run_id: str = ""
    session_id: str | None = None
    # What made this run's context untrusted so far (empty when nothing did).
    taint: tuple[str, ...] = ()
    # The project's memory, None when it is off (no store could be opened).
    memory: ProjectMemory | None = None
    # Free-form per-run state that tools may share (for example proposed cells).
    state: dict[str, Any] = field(default_factory=dict)
    # Where run_python runs: "fork" (a confined child of the kernel) or "off" (in the kernel).
    sandbox: str = "off"
    sandbox_settings: SandboxSettings = field(default_factory=lambda: _sandbox_settings())
    # Asks a person through the run's approver (tool name, arguments, reason) -> approved.
    confirm: Callable[[str, dict[str, Any], str], Awaitable[bool]] | None = None
    # Sandbox changes a person has not promoted yet, by variable name (`%agent promote`).
    held: dict[str, Any] = field(default_factory=dict)
    # "allow" only when the administrator lets tools write the agent's own configuration.
    config_writes: str = "deny"


def _sandbox_settings() -> SandboxSettings:
    from agent_kernel.sandbox.fork import SandboxSettings

    return SandboxSettings()


@dataclass
class ToolResult:
    """What a tool call produced; `content` is the text the model reads."""

    content: str
    ok: bool = True
    summary: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    truncated: bool = False
    # False when the content carries text from data (cells, files, output): it is then
    # wrapped as data for the model and raises effects to "ask" (see policy/).
    trusted: bool = True


class ToolError(Exception):
    """Raised by a tool for a failure the model should read and can act on.

    `trusted=False` when the message carries text from data (an engine's error that echoes
    a value, a column name): the model then reads it as data, and it taints the run.
    """

    def __init__(self, message: str, *, trusted: bool = True) -> None:
        super().__init__(message)
        self.trusted = trusted


class Tool:
    """A callable exposed to the model."""

    # Its arguments leave the kernel even when it only reads (an MCP server's read-only tool):
    # asked whenever untrusted content is in view, in every mode.
    egress = False
    # Untrusted sources that do not taint this tool's own calls (an MCP server's own words).
    self_descriptions: tuple[str, ...] = ()

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        effects: Iterable[Effect] = ("execute",),
        trusted_output: bool | None = None,
        runs_code: bool = False,
        preview: Preview | None = None,
    ) -> None:
        self.func = func
        # True when a successful call means code ran (Python, a SQL query): the verifier
        # then accepts "I ran ..." claims. Declared by the tool, never guessed from its name.
        self.runs_code = runs_code
        self.preview = preview
        # None: judged from each result (numbers are trusted, free text is not).
        self.trusted_output = trusted_output
        self.name = name or func.__name__
        if not TOOL_NAME_PATTERN.match(self.name):
            raise ValueError(
                f"tool name {self.name!r} must match {TOOL_NAME_PATTERN.pattern} "
                "(letters, digits, _ and -, at most 64)"
            )
        self.effects: tuple[Effect, ...] = tuple(effects)
        for effect in self.effects:
            if effect not in EFFECTS:
                raise ValueError(f"unknown effect {effect!r}; use one of {', '.join(EFFECTS)}")
        summary, arg_docs = parse_docstring(inspect.getdoc(func) or "")
        self.description = description or summary or self.name
        self._context_param, self.arguments_model = _arguments_model(func, self.name, arg_docs)
        self.is_async = inspect.iscoroutinefunction(func)

    @property
    def parameters_schema(self) -> dict[str, Any]:
        schema = self.arguments_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        return schema

    def openai_schema(self) -> dict[str, Any]:
        """The Chat Completions `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters_schema,
            },
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema; raises ToolError with a readable message."""
        try:
            model = self.arguments_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolError(f"invalid arguments for {self.name}: {problems}") from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        """Validate, then run the function (awaiting it if it is a coroutine function)."""
        kwargs = self.validate(arguments)
        if self._context_param:
            kwargs[self._context_param] = context
        if self.is_async:
            return await self.func(**kwargs)
        return self.func(**kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The decorated function stays usable as a plain function.
        return self.func(*args, **kwargs)

    @property
    def leaves_the_kernel(self) -> bool:
        return self.egress or "external" in self.effects

    def __repr__(self) -> str:
        return f"<Tool {self.name} effects={','.join(self.effects)}>"


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    effects: Effect | Iterable[Effect] = ("execute",),
    trusted_output: bool | None = None,
    runs_code: bool = False,
    register: bool = True,
    preview: Preview | None = None,
) -> Any:
    """Turn a typed, docstringed function into a tool the agent can call.

    Use bare (`@tool`) or with options (`@tool(effects="read")`). Tools that only read should
    say so with `effects="read"`; undeclared tools are treated as having effects, because
    ambiguous authorization fails closed. Registered tools show up in `%agent tools`.
    `trusted_output=False` marks what the tool returns as data that may carry instructions
    (file or web text); by default numbers are trusted and free text is not.
    `runs_code=True` says a successful call ran code (a query, a script), so an answer that
    says "I ran ..." is backed by it. `preview`
    (an async function of the arguments and the context) gives the approval card more to
    show, such as a diff of what a write would change; if it raises ToolError, the call is
    refused with that message before anyone is asked.
    """
    effect_list = (effects,) if isinstance(effects, str) else tuple(effects)

    def wrap(f: Callable[..., Any]) -> Tool:
        t = Tool(
            f,
            name=name,
            description=description,
            effects=effect_list,
            trusted_output=trusted_output,
            runs_code=runs_code,
            preview=preview,
        )
        if register:
            from agent_kernel.tools.registry import default_registry

            default_registry().add(t)
        return t

    return wrap(func) if func is not None else wrap


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns|Raises|Examples?):\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument texts."""
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line.strip())
        # NumPy style: "Parameters" underlined by dashes.
        underlined = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        if line.strip() in {"Parameters", "Returns", "Raises"} and underlined:
            section, current = line.strip(), None
            i += 2
            continue
        if header:
            section, current = header.group(1), None
        elif section is None:
            description.append(line)
        elif section in {"Args", "Arguments", "Parameters", "Params"}:
            match = _ARG_LINE.match(line)
            if match and (not line.startswith("        ") or current is None):
                current = match.group(1).lstrip("*")
                args[current] = match.group(2).strip()
            elif current and line.strip():
                args[current] = (args[current] + " " + line.strip()).strip()
        i += 1
    paragraphs = re.split(r"\n\s*\n", "\n".join(description).strip())
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return text, args


def _arguments_model(
    func: Callable[..., Any], tool_name: str, arg_docs: dict[str, str]
) -> tuple[str | None, type[BaseModel]]:
    from pydantic import Field

    signature = inspect.signature(func)
    try:
        hints = get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in signature.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if annotation is ToolContext or annotation == "ToolContext":
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {tool_name}: *args and **kwargs cannot be described to a model")
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (
            annotation,
            Field(default, description=arg_docs.get(param.name) or None),
        )
    model = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    return context_param, model


def bound_text(text: str, limit: int, hint: str = "narrow the request") -> tuple[str, bool]:
    """Cut `text` to at most about `limit` characters, saying how much was left out and why."""
    if limit <= 0 or len(text) <= limit:
        return text, False
    head = text[: max(0, limit - 120)]
    cut = head.rfind("\n")
    if cut > limit // 2:
        head = head[:cut]
    omitted = len(text) - len(head)
    return f"{head}\n[... {omitted:,} more characters not shown; {hint}]", True
