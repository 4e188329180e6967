"""The agent of one kernel: settings, tools and session, and one method to run a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent_kernel.config import Agent, resolve_endpoint
from agent_kernel.events import Event, EventBus, Observer
from agent_kernel.models.base import ChatModel
from agent_kernel.policy.decide import Policy
from agent_kernel.runtime.interrupts import cancel_on_interrupt
from agent_kernel.runtime.loop import AgentLoop, RunResult
from agent_kernel.runtime.session import Session
from agent_kernel.tools.base import ToolContext
from agent_kernel.tools.registry import ToolRegistry, default_registry
from agent_kernel.ui.text import CellRenderer, is_notebook

ModelFactory = Callable[[Agent, str | None], ChatModel]


def openai_model(settings: Agent, model_override: str | None) -> ChatModel:
    from agent_kernel.models.openai_chat import OpenAIChatModel

    return OpenAIChatModel(
        resolve_endpoint(settings, model_override),
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
    )


class KernelAgent:
    """Owned by the shell; `%%agent` cells and `%agent` subcommands act on it."""

    def __init__(
        self,
        shell: Any,
        settings: Agent | None = None,
        *,
        tools: ToolRegistry | None = None,
        model_factory: ModelFactory = openai_model,
    ) -> None:
        self.shell = shell
        self.settings = settings or Agent(parent=shell)
        self._tools = tools
        self.model_factory = model_factory
        self.policy = Policy()
        self.session = Session()
        self.observers: list[Observer] = []
        self.last_events: list[Event] = []
        self.last_result: RunResult | None = None

    @property
    def tools(self) -> ToolRegistry:
        return self._tools if self._tools is not None else default_registry()

    def new_session(self) -> Session:
        self.session = Session()
        return self.session

    async def run(
        self,
        request: str,
        *,
        model: str | None = None,
        max_steps: int | None = None,
        new: bool = False,
    ) -> RunResult:
        """Answer one request in the current session; config errors raise before anything runs."""
        if new:
            self.new_session()
        chat_model = self.model_factory(self.settings, model)
        events: list[Event] = []
        bus = EventBus([CellRenderer(rich=is_notebook(self.shell)), events.append, *self.observers])
        context = ToolContext(
            user_ns=self.shell.user_ns if self.shell is not None else {},
            shell=self.shell,
            max_result_chars=self.settings.max_tool_result_chars,
        )
        loop = AgentLoop(
            chat_model,
            self.tools,
            self.session.conversation,
            bus,
            context,
            policy=self.policy,
            max_steps=max_steps or self.settings.max_steps,
            instructions=self.settings.instructions,
        )
        try:
            with cancel_on_interrupt():
                result = await loop.run(request)
        finally:
            await chat_model.aclose()
            self.session.runs += 1
            self.last_events = events
        self.last_result = result
        return result
