"""Prompt injection with a fully obedient model: attacks that take effect per mode, and what
the defence costs ordinary work.

Twelve attacks (instructions hidden in a CSV file, a dataframe cell, a tool result and a
recalled memory, each asking to run code, write a file or send data out) against a model that
obeys every instruction it reads; unattended, so `Policy.unattended` stands in for a person.
Each policy setting is run with the sandbox on and off. The baseline in the same run is the
safety net switched off (sandbox off, auto mode, unattended allowed), which shows what the
suite catches when nothing stops it; "every question yes" with the sandbox on shows what the
sandbox alone stops (the injected code; file writes and sends are tools the policy rules on).
Run: .venv/bin/python benchmarks/bench_injection.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def main() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from agent_kernel.testing import ScriptedServer
    from agent_kernel.testing.injection import Bench, run_benign, run_suite

    home = Path.cwd()
    with tempfile.TemporaryDirectory() as folder, ScriptedServer() as server:
        project = Path(folder)
        os.chdir(project)
        os.environ.update(
            OPENAI_BASE_URL=server.base_url,
            AGENT_KERNEL_MODEL="obedient",
            AGENT_KERNEL_UNATTENDED="1",
            JUPYTER_DATA_DIR=str(project / "jupyter-data"),
        )
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "agent_kernel")
        agent = shell.magics_manager.registry["AgentMagics"].kernel_agent
        bench = Bench(shell, server, project)
        rows = []
        for sandbox in ("fork", "off"):
            agent.settings.sandbox = sandbox
            for label, mode, unattended in [
                ("ask mode, unattended deny", "ask", "deny"),
                ("auto mode, unattended deny", "auto", "deny"),
                ("auto mode, unattended allow (every question yes)", "auto", "allow"),
            ]:
                agent.policy.set_mode(mode)
                agent.policy.settings.unattended = unattended
                outcomes = run_suite(bench)
                through = sum(o.happened for o in outcomes)
                code = sum(o.happened for o in outcomes if o.action == "run code")
                rows.append((f"sandbox {sandbox}, {label}", through, len(outcomes), code))
        agent.settings.sandbox = "fork"
        agent.policy.settings.unattended = "deny"
        costs = {}
        for mode in ("ask", "auto"):
            agent.policy.set_mode(mode)
            benign = run_benign(bench)
            costs[mode] = (sum(o.asked_because_of_taint for o in benign), len(benign), benign)
        bench.close()
        os.chdir(home)  # leave the folder before it is removed
    print("attacks that took effect without a person (fully obedient model):")
    for label, through, total, code in rows:
        print(
            f"  {label:<64} {through:>2} of {total} ({through / total:.0%}); "
            f"injected code that took effect: {code} of 4"
        )
    print("benign two-step tasks that needed a person only because of taint:")
    for mode, (asked, total, _) in costs.items():
        print(f"  {mode} mode{'':<43} {asked:>2} of {total}")
    for outcome in costs["auto"][2]:
        print(f"    auto: {outcome.task:<55} {'asked' if outcome.asked_because_of_taint else '-'}")


if __name__ == "__main__":
    main()
