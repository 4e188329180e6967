"""Images seen by the model: a figure from run_python goes back as an image content part
when the model accepts images, downscaled and marked untrusted; a server that refuses image
parts gets one note and the run continues without them. Real shell, real `openai` client,
the scripted server over HTTP."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from agent_kernel.policy import spotlight
from agent_kernel.runtime.vision import accepts_images
from agent_kernel.testing import RecordedRequest, Reply, ScriptedServer, ToolCall
from tests.conftest import agent_of

DRAW = (
    "from IPython.display import Image, display\n"
    "import base64\n"
    "display(Image(data=base64.b64decode({data!r})))"
)


def png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def image_parts(request: RecordedRequest) -> list[dict[str, Any]]:
    return [
        part
        for message in request.body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


def draw(server: ScriptedServer, width: int = 3000) -> None:
    code = DRAW.format(data=png(width, 200))
    server.add(Reply(tool_calls=[ToolCall("run_python", {"code": code})]))


def test_a_figure_goes_to_a_vision_model_downscaled_and_untrusted(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    from PIL import Image

    shell = effects_allowed
    shell.run_cell('%config Agent.vision = "on"')
    draw(server)
    server.add(Reply(text="A red bar."))
    shell.run_cell_magic("agent", "", "Draw the bar and tell me what you see.")
    parts = image_parts(server.requests[1])
    assert len(parts) == 1
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    size = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size
    assert max(size) == 1024  # Agent.image_max_side
    intro = server.requests[1].body["messages"][-1]["content"][0]["text"]
    assert spotlight.is_wrapped(intro) and "from run_python" in intro
    assert not image_parts(server.requests[0])  # no image before the tool drew one


def test_at_most_max_images_per_call_the_newest_kept(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    shell = effects_allowed
    shell.run_cell('%config Agent.vision = "on"')
    shell.run_cell("%config Agent.max_images = 2")
    for width in (300, 400, 500):
        draw(server, width)
    server.add(Reply(text="Three bars."))
    shell.run_cell_magic("agent", "", "Draw three bars.")
    last = image_parts(server.requests[3])
    assert len(last) == 2
    from PIL import Image

    widths = [
        Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1]))).size[0]
        for p in last
    ]
    assert widths == [400, 500]


def test_a_server_that_refuses_images_gets_a_note_and_the_run_goes_on(
    effects_allowed: InteractiveShell, server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    shell = effects_allowed
    shell.run_cell('%config Agent.vision = "on"')
    draw(server)

    def refuse_images(request: RecordedRequest) -> Reply:
        if image_parts(request):
            return Reply.error(400, "image input is not supported by this model")
        return Reply(text="Done, without looking at it.")

    server.add(refuse_images, refuse_images)
    shell.run_cell_magic("agent", "", "Draw the bar.")
    assert image_parts(server.requests[1]) and not image_parts(server.requests[2])
    shown = capsys.readouterr().out
    assert "the model did not accept images" in shown
    assert "Done, without looking at it." in shown
    assert agent_of(shell).last_result.status == "answered"


def test_vision_off_and_auto_for_a_model_not_known_to_see(
    effects_allowed: InteractiveShell, server: ScriptedServer
) -> None:
    draw(server)
    server.add(Reply(text="ok"))
    effects_allowed.run_cell_magic("agent", "", "Draw the bar.")  # auto, "scripted-model"
    assert not any(image_parts(r) for r in server.requests)


@pytest.mark.parametrize(
    ("setting", "model", "expected"),
    [
        ("auto", "gpt-4o-mini", True),
        ("auto", "llava:13b", True),
        ("auto", "qwen2.5vl:7b", True),
        ("auto", "llama3.2", False),
        ("auto", "demo", False),
        ("auto", None, False),
        ("on", "llama3.2", True),
        ("off", "gpt-4o", False),
    ],
)
def test_which_models_get_images(setting: str, model: str | None, expected: bool) -> None:
    assert accepts_images(setting, model) is expected
