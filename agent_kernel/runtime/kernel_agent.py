"""The agent of one kernel: settings, tools, memory and session, and one method to run a request."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from agent_kernel.config import Agent, resolve_endpoint
from agent_kernel.errors import AgentError
from agent_kernel.events import Event, EventBus, Observer, new_id, observer_name
from agent_kernel.memory.approvals import ApprovalLog, RecordedApproval
from agent_kernel.memory.paths import user_name
from agent_kernel.models.base import ChatModel
from agent_kernel.policy.admin import load_admin_policy
from agent_kernel.policy.decide import DecisionPoint
from agent_kernel.policy.settings import Policy
from agent_kernel.redact import secret_env_values
from agent_kernel.runtime.approval import ApprovalDecision, Approver, PendingApprovals
from agent_kernel.runtime.context import BuiltContext, ContextBuilder, TokenCounter
from agent_kernel.runtime.interrupts import cancel_on_interrupt
from agent_kernel.runtime.loop import AgentLoop, RunResult
from agent_kernel.runtime.session import Session
from agent_kernel.runtime.vision import accepts_images
from agent_kernel.tools.base import ToolContext
from agent_kernel.tools.registry import ToolRegistry, default_registry
from agent_kernel.ui.text import TextRenderer, is_notebook

if TYPE_CHECKING:
    from agent_kernel.memory.project import ProjectMemory
    from agent_kernel.memory.recording import EventRecorder
    from agent_kernel.sandbox.fork import SandboxSettings

ModelFactory = Callable[[Agent, str | None], ChatModel]
RUN_END_SYNC_SECONDS = 2.0


def openai_model(settings: Agent, model_override: str | None) -> ChatModel:
    """The model a cell talks to: the offline demo model when it is named, else the
    OpenAI-compatible endpoint the settings and environment describe."""
    import os

    from agent_kernel.models.demo import DEMO_MODEL, DemoModel
    from agent_kernel.models.openai_chat import OpenAIChatModel

    name = model_override or settings.model or os.environ.get("AGENT_KERNEL_MODEL")
    if name == DEMO_MODEL:
        return DemoModel()

    return OpenAIChatModel(
        resolve_endpoint(settings, model_override),
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
        server=settings.server,
        context_tokens=settings.context_tokens,
    )


def note(text: str) -> None:
    """A one-line notice in the cell: something the user should know, not an error."""
    print(f"Note: {text}", flush=True)


class KernelAgent:
    """Owned by the shell; `%%agent` cells and `%agent` subcommands act on it."""

    def __init__(
        self,
        shell: Any,
        settings: Agent | None = None,
        *,
        tools: ToolRegistry | None = None,
        model_factory: ModelFactory | None = None,
        policy_settings: Policy | None = None,
    ) -> None:
        self.shell = shell
        self.settings = settings or Agent(parent=shell)
        self._tools = tools
        # Looked up here, not bound as a default, so tests can swap in an in-process model.
        self.model_factory = model_factory or openai_model
        self.policy = DecisionPoint(policy_settings or Policy(parent=shell), load_admin_policy())
        if self.policy.admin.error:
            note(self.policy.admin.error)
        self.approvals = PendingApprovals()
        self.session: Session | None = None
        self._start_new = False
        self._memory: ProjectMemory | None = None
        self._memory_failed = False
        self.observers: list[Observer] = []
        self.last_events: list[Event] = []
        self.last_result: RunResult | None = None
        self.last_observer_failures: list[tuple[Observer, BaseException]] = []
        self.token_counter = TokenCounter()  # calibrated over the kernel's model calls
        self.last_context: BuiltContext | None = None
        self._task_id: str | None = None  # the task this kernel is working on
        # Sandbox changes no one promoted yet (`%agent promote`), by variable name.
        self.held_variables: dict[str, Any] = {}
        self._sandbox_noted = False

    @property
    def tools(self) -> ToolRegistry:
        """The registry (built-ins and `@tool`s, or the one given) plus the tools of the
        configured MCP servers, which start on first use."""
        from agent_kernel.mcp import with_mcp_tools

        return with_mcp_tools(self, self._tools if self._tools is not None else default_registry())

    @property
    def sandbox(self) -> str:
        """Where run_python runs: the administrator's lock, else `Agent.sandbox`; "off" where
        the platform cannot fork (said once)."""
        from agent_kernel.sandbox.fork import supported

        wanted = self.policy.admin.sandbox or self.settings.sandbox
        if wanted == "fork" and not supported():
            if not self._sandbox_noted:
                note("this platform cannot sandbox agent code (no fork); it runs in the kernel")
                self._sandbox_noted = True
            return "off"
        return wanted

    def sandbox_settings(self) -> SandboxSettings:
        """What the sandbox may write and bring back; folders holding the store are dropped."""
        from pathlib import Path

        from agent_kernel.sandbox.fork import SandboxSettings

        store = self.memory.paths.store_dir.resolve() if self.memory is not None else None
        writable = []
        for folder in self.settings.sandbox_writable:
            path = Path(folder).expanduser().resolve()
            if store is not None and (store == path or store.is_relative_to(path)):
                note(f"sandbox_writable {folder} holds the agent's store; it is not writable")
                continue
            writable.append(str(path))
        return SandboxSettings(
            key_env=self.settings.api_key_env,
            writable=tuple(writable),
            transfer_bytes=self.settings.sandbox_transfer_mb << 20,
            text_chars=max(self.settings.max_tool_result_chars * 8, 1 << 16),
        )

    @property
    def user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    # -- memory and sessions ----------------------------------------------------------------
    @property
    def memory(self) -> ProjectMemory | None:
        """The project's store, opened on first use; None (said once) if it cannot be used."""
        if self._memory is None and not self._memory_failed:
            from agent_kernel.memory.paths import locate, user_name
            from agent_kernel.memory.project import ProjectMemory

            paths = locate(self.user_ns, self.settings.store_dir)
            self._memory = ProjectMemory(
                paths,
                user_name(),
                warn=note,
                chroma_url=self.settings.chroma_url
                or os.environ.get("AGENT_KERNEL_CHROMA_URL", ""),
                chroma_headers_env=self.settings.chroma_headers_env,
                project_name=self.settings.project_name,
            )
        return self._memory

    def require_memory(self) -> ProjectMemory:
        """The project's memory for a command that reads it: what this kernel (and any dead
        kernel's journal) recorded is ingested first, or the store's problem is said."""
        memory = self.memory
        if memory is None:
            raise AgentError("project memory is off in this kernel (see the note above)")
        # If the store refuses, the read below says why in one line (or reads what it holds:
        # a read-only store); `%agent store` tells what the writer keeps meanwhile.
        memory.sync()
        return memory

    def new_session(self) -> None:
        """Forget the current conversation; the next request starts a new session."""
        self.session = None
        self._start_new = True

    def resume(self, wanted: str) -> Session:
        self.session = self.require_memory().resume(wanted)
        self._start_new = False
        return self.session

    def _session_for(self, request: str) -> Session:
        if self.session is not None:
            return self.session
        memory = self.memory
        if memory is not None:
            try:
                self.session = memory.open_session(request, new=self._start_new)
            except (OSError, AgentError) as exc:
                self._memory, self._memory_failed = None, True
                note(f"project memory is off for this kernel: {exc}")
        if self.session is None:
            self.session = Session()
        self._start_new = False
        return self.session

    # -- running ----------------------------------------------------------------------------
    async def run(
        self,
        request: str,
        *,
        model: str | None = None,
        max_steps: int | None = None,
        new: bool = False,
        resume_task: bool = False,
    ) -> RunResult:
        """Answer one request in the current session; config errors raise before anything runs.
        `resume_task` (%%agent continue) carries on the project's newest open task instead."""
        if new:
            self.new_session()
        if resume_task:
            request = self._continue_request(request)
        chat_model = self.model_factory(self.settings, model)
        session = self._session_for(request)
        result = await self._execute(session, chat_model, max_steps, lambda loop: loop.run(request))
        self._index_turn(session, result.run_id, request, result)
        return result

    def _settle(self, session: Session) -> None:
        """At a run's end, give the background writer a moment to store the run's last steps,
        so the store is current when the cell ends (the journal holds them either way)."""
        memory = self._memory
        if memory is not None and session.stored:
            memory.writer.sync(RUN_END_SYNC_SECONDS)

    async def resume_approved(self, approval: RecordedApproval) -> RunResult:
        """Carry on a run that was waiting for `approval` when its kernel stopped."""
        from agent_kernel.runtime.conversation import unanswered_calls

        memory = self.require_memory()
        session = memory.resume_for_approval(approval.session_id)
        self.session, self._start_new = session, False
        calls = unanswered_calls(session.conversation.messages())
        decision = ApprovalDecision(True, user_name(), "magic")
        chat_model = self.model_factory(self.settings, None)
        return await self._execute(
            session, chat_model, None, lambda loop: loop.resume(calls, {approval.call_id: decision})
        )

    async def _execute(
        self,
        session: Session,
        chat_model: ChatModel,
        max_steps: int | None,
        start: Callable[[AgentLoop], Awaitable[RunResult]],
    ) -> RunResult:
        """Run a loop over `session` with this kernel's observers, policy and approver."""
        run_id = new_id("run_")
        events: list[Event] = []
        secrets = secret_env_values(self.settings.api_key_env)
        bus = EventBus(
            [self._renderer(chat_model, secrets), events.append, *self.observers],
            on_failure=_observer_failed,
        )
        recorder = self._record_into(bus, session, run_id, secrets)
        from agent_kernel.tools import user_code

        user_code.set_timeout(self.settings.repr_timeout)
        context = ToolContext(
            user_ns=self.user_ns,
            shell=self.shell,
            max_result_chars=self.settings.max_tool_result_chars,
            run_id=run_id,
            session_id=session.id if session.stored else None,
            memory=self.memory if session.stored else None,
            sandbox=self.sandbox,
            sandbox_settings=self.sandbox_settings(),
            held=self.held_variables,
            config_writes=self.policy.admin.config_writes,
        )
        if self._task_id is not None:
            context.state["task_id"] = self._task_id
        await self._read_notebook(context)
        builder = self._context_builder(context, session)
        loop = AgentLoop(
            chat_model,
            self.tools,
            session.conversation,
            bus,
            context,
            policy=self.policy,
            approver=self.approver(),
            max_steps=max_steps or self.settings.max_steps,
            context=builder,
            secrets=secrets,
            verify=self.settings.verify,
            vision=accepts_images(self.settings.vision, chat_model.name),
            max_images=self.settings.max_images,
            image_max_side=self.settings.image_max_side,
        )
        if self._memory is not None:  # turn indexing waits while this run is active
            self._memory.worker.run_started()
        from agent_kernel.policy.guard import agent_running

        try:
            with cancel_on_interrupt(), agent_running():
                result = await start(loop)
        finally:
            self._settle(session)
            if recorder is not None:  # a problem the writer found after the last step
                recorder.show_problem()
            if self._memory is not None:
                self._memory.worker.run_finished()
                for problem in self._memory.problems():
                    note(problem)
            await chat_model.aclose()
            session.runs += 1
            self.last_events = events
            self.last_observer_failures = bus.failures
            self.last_context = builder.last
            self._task_id = context.state.get("task_id", self._task_id)
        self.last_result = result
        return result

    def _continue_request(self, extra: str) -> str:
        """The request that resumes the newest open task of the project, from any session."""
        from agent_kernel.memory.tasks import TaskLog

        task = TaskLog(self.require_memory().store).latest_open()
        if task is None or task.next_step is None:
            raise AgentError(
                "there is no open task in this project to continue; ask for something that "
                "takes several steps and the agent will plan it (%agent tasks lists plans)"
            )
        self._task_id = task.id
        step = task.next_step
        request = (
            f"Continue the task {task.title!r}: carry on with step {step.position}: {step.text}"
        )
        return request + (f"\n{extra.strip()}" if extra.strip() else "")

    # -- approvals answered outside a card --------------------------------------------------
    def answer_live(self, approval_id: str, decision: ApprovalDecision) -> bool:
        """Answer an approval a run in this kernel is waiting on."""
        return self.approvals.answer(approval_id, decision)

    def recorded_approval(self, approval_id: str) -> RecordedApproval:
        """A pending approval from the store, checked: still current and still allowed."""
        memory = self.require_memory()
        log = ApprovalLog(memory.store)
        approval = log.find(approval_id)
        if approval is None:
            raise AgentError(
                f"no pending approval {approval_id!r} (answered already, or unknown); "
                "%agent approvals lists them"
            )
        refusal = ""
        if approval.expired():
            refusal = f"expired: it waited longer than {approval.timeout:.0f} s"
        else:
            tool = self.tools.get(approval.tool)
            verdict = self.policy.decide(tool, approval.arguments, approval.taint) if tool else None
            if verdict is None or verdict.action == "deny":
                why = verdict.reason if verdict else f"there is no tool {approval.tool} now"
                refusal = f"the policy no longer allows it: {why}"
        if refusal:
            decision = ApprovalDecision(False, user_name(), "restart", refusal)
            log.record(approval, decision, memory.writer)
            memory.answer_call(approval, f"Error: not run: {refusal}")
            raise AgentError(f"{approval_id} ({approval.tool}) was not run: {refusal}")
        return approval

    def deny_recorded(self, approval_id: str, reason: str) -> RecordedApproval:
        memory = self.require_memory()
        log = ApprovalLog(memory.store)
        approval = log.find(approval_id)
        if approval is None:
            raise AgentError(f"no pending approval {approval_id!r}; %agent approvals lists them")
        decision = ApprovalDecision(False, user_name(), "magic", reason)
        log.record(approval, decision, memory.writer)
        memory.answer_call(approval, f"Error: the user did not approve this call: {reason}")
        return approval

    def _renderer(self, chat_model: ChatModel, secrets: list[str]) -> Observer:
        """A live trace widget in a notebook; plain text in a terminal."""
        prices = dict(self.settings.prices)
        if not is_notebook(self.shell):
            return TextRenderer(secrets=secrets)
        from agent_kernel.ui.trace import TraceWidget

        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop() -> None:  # the Stop button: the same clean end as an interrupt
            if task is not None:
                loop.call_soon_threadsafe(task.cancel)

        widget = TraceWidget(
            prices=prices, secrets=secrets, on_stop=stop, demo=chat_model.name == "demo"
        )
        widget.show()
        return widget

    def approver(self) -> Approver:
        """Who answers approvals: the unattended rule, a card in the cell, or a prompt."""
        from agent_kernel.ui.approval import choose_approver

        return choose_approver(self.shell, self.policy, self.approvals)

    def _context_builder(self, tools: ToolContext, session: Session) -> ContextBuilder:
        """This run's context: the budget, and memory's recall when the session is stored."""
        from agent_kernel.tools.variables import variable_lines

        memory = self.memory if session.stored else None
        try:
            if memory is not None and not memory.has_recallable():
                memory = None  # nothing to recall yet: no embedding model to load
        except (AgentError, OSError) as exc:  # recall unusable: the run goes on without it
            note(f"recall is off for this run: {exc}")
            memory = None
        return ContextBuilder(
            instructions=self.settings.instructions,
            budget=self.settings.context_tokens,
            counter=self.token_counter,
            memories=memory.context_memories if memory is not None else None,
            earlier_turns=memory.context_turns if memory is not None else None,
            variables=lambda: variable_lines(tools),
            task=lambda: self._task_plan(tools),
            notebook=lambda fits: self._notebook_text(tools, fits),
            notebook_tokens=self.settings.notebook_context_tokens,
        )

    async def _read_notebook(self, tools: ToolContext) -> None:
        """The notebook as the run starts, for the context's notebook section."""
        if self.settings.notebook_context_tokens <= 0 or self.shell is None:
            return
        from agent_kernel.notebook.sources import read_notebook

        try:
            tools.state["notebook_view"] = await read_notebook(self.shell, self.user_ns)
        except Exception as exc:  # the notebook is context, never a reason to fail a run
            note(f"the notebook could not be read for context: {type(exc).__name__}: {exc}")

    def _notebook_text(self, tools: ToolContext, fits: Callable[[str], bool]) -> str:
        from agent_kernel.notebook.summary import notebook_section
        from agent_kernel.notebook.watch import watch

        view = tools.state.get("notebook_view")
        return notebook_section(view, watch(self.shell).last(), fits) if view else ""

    def _task_plan(self, tools: ToolContext) -> str | None:
        """The plan in progress for the context: this run's task, or the session's open one.
        Read from the store once per run and again only after a planning tool changed it
        (they bump `plan_version`), not on every model call."""
        from agent_kernel.memory.tasks import TaskLog

        if tools.memory is None:
            return None
        version = tools.state.get("plan_version", 0)
        cached = tools.state.get("plan_text")
        if cached is not None and cached[0] == version:
            return cast("str | None", cached[1])
        from agent_kernel.memory.store import STORE_FAULTS, Store

        # A read for the context: another program's lock is not waited out (the plan is
        # left out of this call instead), so a run never stalls on the store.
        log = TaskLog(Store(tools.memory.store.path, lock_wait=0.2))
        task_id = tools.state.get("task_id")
        try:
            task = log.get(task_id) if task_id else log.latest_open(tools.session_id)
        except STORE_FAULTS:  # the store is refusing (the run says so once): no plan shown
            task = None
        text = task.render() if task is not None and task.next_step is not None else None
        tools.state["plan_text"] = (version, text)
        return text

    def _index_turn(self, session: Session, run_id: str, request: str, result: RunResult) -> None:
        """A finished turn joins the index, so it can be recalled when it is no longer recent."""
        memory = self.memory
        if memory is None or not session.stored or result.status != "answered":
            return
        seen = self.last_context.untrusted if self.last_context is not None else []
        try:  # a SQLite insert: the memory worker embeds it after the run, in the background
            memory.index_turn(session, run_id, request, result.answer, trusted=not seen)
        except AgentError as exc:
            note(f"this turn is recorded but cannot be indexed for recall: {exc}")

    def _record_into(
        self, bus: EventBus, session: Session, run_id: str, secrets: list[str]
    ) -> EventRecorder | None:
        """Stored sessions record every step of the run (an observer, like the renderer)."""
        from agent_kernel.memory.recording import EventRecorder, StoredConversation

        if not isinstance(session.conversation, StoredConversation):
            return None
        session.conversation.run_id = run_id
        writer = session.conversation.writer
        writer.secrets = secrets
        recorder = EventRecorder(writer, session.id, report=note)
        bus.subscribe(recorder)
        return recorder


def _observer_failed(observer: Observer, event: Event, exc: BaseException) -> None:
    """Once per observer per run: which part of the kernel failed, and that the run goes on."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    note(
        f"{observer_name(observer)} failed on a {event.kind} event "
        f"({type(exc).__name__}: {first}); the run goes on without it"
    )
