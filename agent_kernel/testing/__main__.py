"""Run the scripted server from a shell: `python -m agent_kernel.testing --script s.json`.

The script file is a JSON list of replies (see `Reply.from_dict`), for example
`[{"tool_calls": [{"name": "list_variables"}]}, {"text": "You have one dataframe."}]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from agent_kernel.testing.dialects import DIALECTS
from agent_kernel.testing.script import Reply
from agent_kernel.testing.server import ScriptedServer


def load_script(path: str) -> list[Reply]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: cannot read script {path!r}: {exc}") from None
    if not isinstance(data, list):
        raise SystemExit(f"error: {path!r} must hold a JSON list of replies")
    try:
        return [Reply.from_dict(item) for item in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise SystemExit(f"error: bad reply in {path!r}: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m agent_kernel.testing",
        description="A scripted OpenAI-compatible server for testing agent notebooks offline.",
    )
    parser.add_argument("--script", required=True, help="JSON file: a list of replies")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long between two streamed chunks, like a model producing tokens",
    )
    parser.add_argument(
        "--text-log",
        metavar="FILE",
        help="append each streamed piece of text with its send time (time.time()) as JSON lines",
    )
    parser.add_argument(
        "--dialect",
        default="openai",
        choices=sorted(DIALECTS),
        help="speak as this kind of server does (tool-call deltas, refusals, error bodies)",
    )
    args = parser.parse_args(argv)
    server = ScriptedServer(
        load_script(args.script),
        host=args.host,
        port=args.port,
        chunk_delay=args.chunk_delay,
        text_log=args.text_log,
        dialect=args.dialect,
    )
    with server:
        print(f"Scripted server at {server.base_url} ({server.remaining} replies); Ctrl+C stops.")
        print(f"  export OPENAI_BASE_URL={server.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\nStopped after {len(server.requests)} requests.", file=sys.stderr)


if __name__ == "__main__":
    main()
