"""The scripted server can pace its stream and say when each piece of text left it.

The browser test measures token latency with these: server send time to word in the page.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import openai

from agent_kernel.testing import Reply, ScriptedServer, SentText


def stream_text(base_url: str) -> list[tuple[float, str]]:
    """(arrival time, text) of each streamed piece, read with the real client."""
    client = openai.OpenAI(api_key="k", base_url=base_url, max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return [
        (time.time(), chunk.choices[0].delta.content)
        for chunk in stream
        if chunk.choices and chunk.choices[0].delta.content
    ]


def test_chunks_are_paced_and_each_piece_of_text_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "sent.jsonl"
    with ScriptedServer(
        [Reply(text="w01 w02 w03 ", chunk_chars=4), Reply(text="again")],
        chunk_delay=0.05,
        text_log=log,
    ) as server:
        started = time.monotonic()
        received = stream_text(server.base_url)
        elapsed = time.monotonic() - started
        stream_text(server.base_url)
    assert [text for _, text in received] == ["w01 ", "w02 ", "w03 "]
    # role chunk, three pieces, finish chunk: four gaps of 50 ms
    assert elapsed >= 0.2
    sent = server.sent_text
    assert [(s.request, s.text) for s in sent] == [
        (1, "w01 "),
        (1, "w02 "),
        (1, "w03 "),
        (2, "again"),
    ]
    assert all(b.time - a.time >= 0.045 for a, b in itertools.pairwise(sent[:3]))
    # Sent before it was received, on the same clock.
    assert all(s.time <= r for s, (r, _) in zip(sent, received, strict=False))
    logged = [SentText(**json.loads(line)) for line in log.read_text().splitlines()]
    assert logged == sent


def test_no_delay_and_no_log_by_default() -> None:
    with ScriptedServer([Reply(text="quick")]) as server:
        started = time.monotonic()
        stream_text(server.base_url)
        assert time.monotonic() - started < 1.0
    assert server.chunk_delay == 0.0 and server.text_log is None
    assert [s.text for s in server.sent_text] == ["quick"]


def test_command_line_paces_and_logs(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "a b ", "chunk_chars": 2}]))
    log = tmp_path / "sent.jsonl"
    command = [sys.executable, "-m", "agent_kernel.testing", "--script", str(script)]
    command += ["--port", "0", "--chunk-delay", "0.01", "--text-log", str(log)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        base_url = process.stdout.readline().split("=", 1)[1].strip()
        assert [text for _, text in stream_text(base_url)] == ["a ", "b "]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [json.loads(line)["text"] for line in log.read_text().splitlines()] == ["a ", "b "]
