"""Test agent notebooks offline: a scripted OpenAI-compatible server on 127.0.0.1.

    from agent_kernel.testing import Reply, ScriptedServer, ToolCall

    with ScriptedServer([Reply(tool_calls=[ToolCall("list_variables")]), Reply(text="Hi")]) as s:
        os.environ["OPENAI_BASE_URL"] = s.base_url
        ...

From a shell: `python -m agent_kernel.testing --script script.json --port 8765`.

For unit tests of what the runtime does with replies, `ScriptedModel` plays the same script
in process (no HTTP) and fails on unexpected or unused replies.
"""

from agent_kernel.testing.model import ModelCall, ScriptedModel, ScriptError
from agent_kernel.testing.script import RecordedRequest, Reply, ToolCall
from agent_kernel.testing.server import ScriptedServer, SentText

__all__ = [
    "ModelCall",
    "RecordedRequest",
    "Reply",
    "ScriptError",
    "ScriptedModel",
    "ScriptedServer",
    "SentText",
    "ToolCall",
]
