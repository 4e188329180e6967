"""A real kernel for benchmarks: started in a fresh project folder against a scripted server,
with a client that records every IOPub message (count and bytes) until a cell is idle."""

from __future__ import annotations

import json
import os
import queue
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

# Make the kernel print text as a terminal would, for the text renderer baseline.
TEXT_RENDERER = (
    "import agent_kernel.runtime.kernel_agent as _ka\n_ka.is_notebook = lambda shell: False"
)


class BenchKernel:
    """One kernel in its own project folder, pointed at `base_url`."""

    def __init__(self, base_url: str, *, renderer: str = "widget") -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="agent-bench-"))
        env = {
            **os.environ,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "AGENT_KERNEL_MODEL": "scripted-model",
            "AGENT_KERNEL_UNATTENDED": "1",
            "JUPYTER_DATA_DIR": str(self.folder / "jupyter-data"),
        }
        env.pop("JPY_SESSION_NAME", None)
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(self.folder), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.run("%load_ext agent_kernel")
        if renderer == "text":
            self.run(TEXT_RENDERER)

    def run(self, code: str, timeout: float = 1800) -> dict[str, Any]:
        """Run a cell; its wall time, IOPub messages and bytes, and the outputs it left."""
        started = time.perf_counter()
        msg_id = self.client.execute(code)
        messages = size = 0
        outputs: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            messages += 1
            size += len(json.dumps(msg, default=str).encode())
            kind = msg["msg_type"]
            if kind in ("stream", "display_data", "update_display_data", "execute_result", "error"):
                outputs.append(msg["content"])
            if (
                kind == "status"
                and msg["parent_header"].get("msg_id") == msg_id
                and msg["content"]["execution_state"] == "idle"
            ):
                return {
                    "seconds": time.perf_counter() - started,
                    "messages": messages,
                    "bytes": size,
                    "outputs": outputs,
                }
        raise TimeoutError(f"the cell did not finish in {timeout} s")

    def settle(self) -> None:
        """Wait for the background indexing of the last turn, so that it is not timed in the
        next cell (a new run waits for it: issue 10 item 4, not the subject here)."""
        self.run(
            "_agent = get_ipython().magics_manager.registry['AgentMagics'].kernel_agent\n"
            "_agent._indexing is not None and _agent._indexing.result(timeout=600)"
        )

    def value(self, expression: str) -> Any:
        """A JSON value computed in the kernel."""
        result = self.run(f"import json as _json\nprint(_json.dumps({expression}))")
        text = "".join(o.get("text", "") for o in result["outputs"] if "text" in o)
        return json.loads(text.strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
