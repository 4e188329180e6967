"""An administrator's policy, locked: `agent_kernel_policy.json` in Jupyter's system config
folders (for example /etc/jupyter, or the environment's etc/jupyter).

    {"mode": "ask", "unattended": "deny", "approval_timeout": 600, "sandbox": "fork",
     "rules": [{"tool": "run_python", "action": "deny", "when": {"code": "subprocess"}}]}

Its rules are checked before the user's, and the modes and settings it names cannot be changed
from the notebook. It can lock `"sandbox": "fork"` (agent code in a confined fork, which cannot
reach these settings at all) and allow `"config_writes"`. Code running in the kernel itself
can still do what the kernel's user can, so keep the usual process isolation where that
matters. A file that cannot be read fails closed: read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_kernel.policy.rules import Rule, RuleError
from agent_kernel.policy.settings import MODES

ADMIN_FILE = "agent_kernel_policy.json"


def admin_config_dirs() -> list[str]:
    from jupyter_core.paths import ENV_CONFIG_PATH, SYSTEM_CONFIG_PATH

    return [*SYSTEM_CONFIG_PATH, *ENV_CONFIG_PATH]


@dataclass
class AdminPolicy:
    paths: list[Path] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    mode: str | None = None
    unattended: str | None = None
    approval_timeout: float | None = None
    sandbox: str | None = None
    config_writes: str = "deny"  # "allow": tools may write the agent's own configuration
    error: str = ""

    @property
    def exists(self) -> bool:
        return bool(self.paths)


def load_admin_policy(dirs: list[str] | None = None) -> AdminPolicy:
    """The admin policy from every system config folder that has one (rules in folder order)."""
    policy = AdminPolicy()
    for folder in dirs if dirs is not None else admin_config_dirs():
        path = Path(folder) / ADMIN_FILE
        if not path.is_file():
            continue
        policy.paths.append(path)
        try:
            _merge(policy, path, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, RuleError) as exc:
            policy.mode = "read-only"
            policy.error = f"the administrator's policy {path} cannot be read ({exc}); read-only"
    return policy


def _merge(policy: AdminPolicy, path: Path, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("it must be a JSON object")
    known = {"rules", "mode", "unattended", "approval_timeout", "sandbox", "config_writes"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    source = f"admin {path}"
    policy.rules += [Rule.parse(r, source) for r in data.get("rules", [])]
    if "mode" in data:
        if data["mode"] not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        policy.mode = data["mode"]
    if "unattended" in data:
        if data["unattended"] not in ("deny", "allow"):
            raise ValueError("unattended must be deny or allow")
        policy.unattended = data["unattended"]
    if "config_writes" in data:
        if data["config_writes"] not in ("deny", "allow"):
            raise ValueError("config_writes must be deny or allow")
        policy.config_writes = data["config_writes"]
    if "sandbox" in data:
        if data["sandbox"] not in ("fork", "off"):
            raise ValueError("sandbox must be fork or off")
        policy.sandbox = data["sandbox"]
    if "approval_timeout" in data:
        policy.approval_timeout = float(data["approval_timeout"])
