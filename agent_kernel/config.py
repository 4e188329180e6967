"""Settings: the `Agent` configurable (`%config Agent.model = ...`) and endpoint resolution.

Values come, in order, from `%config` / `ipython_config.py`, then environment variables
(`AGENT_KERNEL_MODEL`, `OPENAI_BASE_URL`, the key variable), then defaults. The API key is
only ever read from the environment at call time; it is never a trait, so `%config`,
`%agent config` and saved notebooks cannot show it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from traitlets import Dict, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from agent_kernel.errors import AgentConfigError

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
NO_ENDPOINT_MESSAGE = (
    "no model endpoint set. Set OPENAI_API_KEY (or run %agent key), or point at a local "
    'server: %config Agent.base_url = "http://localhost:11434/v1" for Ollama.'
)


class Agent(Configurable):
    """How `%%agent` cells reach a model and how long they may run."""

    model = Unicode(
        None,
        allow_none=True,
        help="Model name, e.g. 'gpt-4o-mini' or 'llama3.2'. Env: AGENT_KERNEL_MODEL. "
        "Default: gpt-4o-mini on OpenAI; on another server, its only model if it has one.",
    ).tag(config=True)
    base_url = Unicode(
        None,
        allow_none=True,
        help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (Ollama). "
        "Env: OPENAI_BASE_URL. Default: OpenAI.",
    ).tag(config=True)
    server = Enum(
        ("auto", "openai", "llamacpp", "ollama", "vllm", "lmstudio", "litellm"),
        "auto",
        help="The kind of server behind base_url, for what its Chat Completions dialect "
        "accepts (null content, stream_options, tool_choice, strict). auto: detected from "
        "/v1/models and response headers; a request the server refuses falls back once to "
        "the conservative shape.",
    ).tag(config=True)
    api_key_env = Unicode(
        "OPENAI_API_KEY",
        help="Name of the environment variable that holds the API key (never the key itself).",
    ).tag(config=True)
    max_steps = Int(12, min=1, help="Most model calls one %%agent cell may make.").tag(config=True)
    temperature = Float(
        None,
        allow_none=True,
        min=0.0,
        max=2.0,
        help="Sampling temperature; unset sends none (server default).",
    ).tag(config=True)
    request_timeout = Float(
        120.0,
        min=0.1,
        help="Seconds to wait for the next useful part of an answer (text, a tool call or "
        "the end); keep-alive comments do not count. A connection or first byte that takes "
        "longer is retried; a stream that stalls ends the cell with one line.",
    ).tag(config=True)
    max_retries = Int(
        3,
        min=0,
        max=20,
        help="Retries on 429, 5xx, timeouts and dropped connections, with backoff.",
    ).tag(config=True)
    max_tool_result_chars = Int(
        8000, min=500, help="Most characters of one tool result sent to the model."
    ).tag(config=True)
    instructions = Unicode(
        "", help="Extra instructions appended to the built-in system prompt."
    ).tag(config=True)
    context_tokens = Int(
        12_000,
        min=1_000,
        help="Token budget for what one model call is sent (instructions, memories, turns, "
        "tool schemas). Lower it for small local models (Ollama's default window is 4096).",
    ).tag(config=True)
    notebook_context_tokens = Int(
        1500,
        min=0,
        help="Most tokens of the notebook's cells (those above the running one, the last "
        "error) put in each model call; 0 leaves them out (notebook_cells still reads them).",
    ).tag(config=True)
    vision = Enum(
        ("auto", "on", "off"),
        "auto",
        help="Send images (plots from run_python or the notebook) to the model as image "
        "parts: auto for models known to accept images, on, or off.",
    ).tag(config=True)
    max_images = Int(
        3, min=0, help="Most images sent with one model call (the newest are kept)."
    ).tag(config=True)
    image_max_side = Int(
        1024, min=64, help="Images are downscaled so neither side exceeds this many pixels."
    ).tag(config=True)
    prices = Dict(
        {},
        help="Prices of models the built-in table lacks, USD per million tokens: "
        '{"my-model": [input, output]}. Used for the cost shown in traces.',
    ).tag(config=True)
    mcp_servers = Dict(
        {},
        help="MCP servers (stdio) whose tools the agent may use, in the common shape: "
        '{"name": {"command": "...", "args": [...], "env": {...}}}. Also read from '
        ".agent/mcp.json beside the notebook.",
    ).tag(config=True)
    mcp_timeout = Float(
        30.0,
        min=0.1,
        help="Seconds an MCP server may take to answer one tool call; after that the call "
        "fails and the server is restarted on its next use.",
    ).tag(config=True)
    mcp_start_timeout = Float(
        120.0,
        min=0.1,
        help="Seconds an MCP server may take to start and list its tools (a first `npx -y` or "
        "`uvx` downloads packages); apart from Agent.mcp_timeout, so a slow start is not a "
        "call timeout.",
    ).tag(config=True)
    verify = Enum(
        ("note", "retry", "off"),
        "note",
        help="Check answers against the run's record before they are shown: note adds a short "
        "note under the answer, retry also sends an unsupported claim back to the model once.",
    ).tag(config=True)
    repr_timeout = Float(
        0.2,
        min=0.01,
        max=10.0,
        help="Seconds one of the user's own __repr__/__str__/__len__ (or shape, dtypes) may "
        "take when the agent lists or describes variables; past it the value shows as "
        "<repr timed out>, and a raising one as <repr failed: ...>.",
    ).tag(config=True)
    sandbox = Enum(
        ("fork", "off"),
        "fork",
        help="Where run_python runs: fork (a copy of the kernel with no network, no secrets "
        "in its environment, writes only to a scratch folder and sandbox_writable; the "
        "variables it changes come back as a diff) or off (in the kernel itself). The "
        "administrator's policy can lock it. Outside Linux and macOS it is always off.",
    ).tag(config=True)
    sandbox_writable = List(
        Unicode(),
        [],
        help="Folders sandboxed code may write to besides its scratch folder, e.g. "
        "['/home/me/project/output']. The project's .agent/ folder is never writable.",
    ).tag(config=True)
    sandbox_transfer_mb = Int(
        256, help="Most megabytes of changed variables one sandboxed run may bring back."
    ).tag(config=True)
    store_dir = Unicode(
        None,
        allow_none=True,
        help="Folder for the project's memory (sessions, events, memories). "
        "Default: .agent/ beside the notebook.",
    ).tag(config=True)
    chroma_url = Unicode(
        "",
        help="A Chroma server for the project's memory and learned files, shared by a team "
        '(e.g. "http://host:8000"; also AGENT_KERNEL_CHROMA_URL). Default: the embedded '
        ".agent/chroma/ folder.",
    ).tag(config=True)
    chroma_headers_env = Unicode(
        "",
        help="Name of an environment variable holding the Chroma server's request headers "
        '(JSON, or one "Name: value" line), e.g. for auth. The value is never stored.',
    ).tag(config=True)
    project_name = Unicode(
        "",
        help="The project's name on a Chroma server (its collections are named from it). "
        "Default: the project folder's name.",
    ).tag(config=True)

    @validate("chroma_url")
    def _check_chroma_url(self, proposal: dict) -> str:
        url = str(proposal["value"]).strip()
        if url and not url.startswith(("http://", "https://")):
            raise TraitError(
                f'Agent.chroma_url must be an http(s) URL such as "http://host:8000", not {url!r}'
            )
        return url

    @validate("base_url", "api_key_env", "sandbox", "sandbox_writable", "store_dir")
    def _not_during_a_run(self, proposal: Any) -> Any:
        return _guarded(self, proposal)


def _guarded(agent: Agent, proposal: Any) -> Any:
    from agent_kernel.policy.guard import check

    name = proposal["trait"].name
    check(name, getattr(agent, name), proposal["value"])
    return proposal["value"]


@dataclass(frozen=True)
class Endpoint:
    """Where and as what a run calls the model. `api_key` stays out of every repr."""

    base_url: str | None
    model: str | None
    key_source: str | None
    api_key: str = ""

    def __repr__(self) -> str:
        return (
            f"Endpoint(base_url={self.base_url!r}, model={self.model!r}, "
            f"key_source={self.key_source!r})"
        )

    @property
    def label(self) -> str:
        return self.base_url or "OpenAI"


def resolve_endpoint(agent: Agent, model_override: str | None = None) -> Endpoint:
    """Combine settings and environment into an endpoint, or say in one line what is missing."""
    base_url = agent.base_url or os.environ.get("OPENAI_BASE_URL") or None
    model = model_override or agent.model or os.environ.get("AGENT_KERNEL_MODEL") or None
    key_var = agent.api_key_env or "OPENAI_API_KEY"
    api_key = os.environ.get(key_var, "")
    if not api_key and not base_url:
        raise AgentConfigError(NO_ENDPOINT_MESSAGE)
    if not base_url and not model:
        model = OPENAI_DEFAULT_MODEL
    return Endpoint(
        base_url=base_url.rstrip("/") if base_url else None,
        model=model,
        key_source=key_var if api_key else None,
        api_key=api_key,
    )


def setting_sources(agent: Agent) -> list[tuple[str, str, str]]:
    """(setting, effective value, where it came from) for `%agent config`; no key values."""
    configured = agent.config.get("Agent", {}) if agent.config else {}

    def source(name: str, env: str | None = None) -> str:
        # A value set by %config and not changed since; a later assignment in code is not
        # "from %config" any more.
        if name in configured and configured[name] == getattr(agent, name):
            return "%config"
        if env and os.environ.get(env):
            return f"env {env}"
        return "default"

    rows: list[tuple[str, str, str]] = []
    base_url = agent.base_url or os.environ.get("OPENAI_BASE_URL")
    rows.append(
        (
            "base_url",
            base_url or "OpenAI (https://api.openai.com/v1)",
            source("base_url", "OPENAI_BASE_URL"),
        )
    )
    model = agent.model or os.environ.get("AGENT_KERNEL_MODEL")
    model_default = OPENAI_DEFAULT_MODEL if not base_url else "the server's only model"
    rows.append(
        ("model", model or f"(unset: {model_default})", source("model", "AGENT_KERNEL_MODEL"))
    )
    key_var = agent.api_key_env
    key_state = (
        f"set in ${key_var}" if os.environ.get(key_var) else f"not set (${key_var} is empty)"
    )
    rows.append(("api_key_env", f"{key_var}: {key_state}", source("api_key_env")))
    rows.append(
        ("store_dir", agent.store_dir or ".agent/ beside the notebook", source("store_dir"))
    )
    rows.append(
        (
            "instructions",
            repr(agent.instructions[:60]) if agent.instructions else "(none)",
            source("instructions"),
        )
    )
    # Every other setting, from the traitlets themselves, so a new one cannot be left out.
    shown = {row[0] for row in rows}
    for name in sorted(set(agent.trait_names(config=True)) - shown):
        value = repr(getattr(agent, name))
        rows.append((name, value if len(value) <= 80 else value[:77] + "...", source(name)))
    return rows
