"""What a sandboxed child gives up before agent code runs: secrets in its environment, the
network, write access outside its allowed folders, and the kernel's open files.

Each step uses the strongest mechanism the platform offers and says which one held, so
`%agent policy` and the tool result can tell the user exactly what protected them:
- network: a new network namespace (user+net, or net alone as root), else Landlock's TCP
  rules, else the audit-hook guard;
- writes: Landlock, else the audit-hook guard.
The audit-hook guard is the documented weaker fallback: it stops Python-level opens, file
operations, sockets and new processes, but native code (ctypes, C extensions) can bypass it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_AF_UNIX = 1  # socket.AF_UNIX on Linux and macOS
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@dataclass
class Confinement:
    """How the child was confined; shown to the user and the model."""

    network: str = "open"
    writes: str = "open"
    removed_env: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"network: {self.network}; writes: {self.writes}"


def scrub_environment(key_env: str) -> list[str]:
    """Remove the API key and every secret-looking variable from this process's environment."""
    names = [n for n in os.environ if n == key_env or SECRET_NAME.search(n)]
    for name in names:
        os.environ.pop(name, None)
    return sorted(names)


def close_inherited_files(keep: Iterable[int]) -> None:
    """Close the kernel's sockets, database files and pipes; the child keeps `keep` only."""
    kept = {fd for fd in keep if fd > 2}
    # The open descriptors are listed, not every number up to the limit (a million closes).
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(folder):
        fd = int(name)
        if fd > 2 and fd not in kept:
            with contextlib.suppress(OSError):
                os.close(fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # output written below Python's sys.stdout must not reach the cell
        os.dup2(devnull, fd)
    os.close(devnull)


def isolate_network() -> str:
    """Leave the host's network: a fresh namespace has only a loopback that is down."""
    if sys.platform != "linux":
        return ""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    # A user namespace also drops the capabilities that could re-enter the host's namespace.
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        _map_identity(uid, gid)
        return "none (new network namespace)"
    if libc.unshare(_CLONE_NEWNET) == 0:
        return "none (new network namespace)"
    return ""


def _map_identity(uid: int, gid: int) -> None:
    """Keep the same uid and gid inside the new user namespace (file ownership reads right)."""
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    except OSError:
        pass  # unmapped ids show as nobody; access is still checked against the real ids


def confine(key_env: str, writable: list[str], keep_fds: Iterable[int]) -> Confinement:
    """Apply every step; called in the child before any agent code runs."""
    result = Confinement(removed_env=scrub_environment(key_env))
    close_inherited_files(keep_fds)
    result.network = isolate_network()
    guard_writes = guard_network = False
    try:
        from agent_kernel.sandbox import landlock

        enforced = landlock.restrict(writable)
        result.writes = "only " + ", ".join(writable) + " (Landlock)"
        if not result.network and enforced["tcp"]:
            result.network = "no TCP (Landlock)"
    except (OSError, AttributeError):
        guard_writes = True
        result.writes = "only " + ", ".join(writable) + " (audit-hook guard; weaker)"
    if not result.network:
        guard_network = True
        result.network = "blocked (audit-hook guard; weaker)"
    install_guard(writable, writes=guard_writes, network=guard_network)
    return result


def install_guard(writable: list[str], *, writes: bool, network: bool) -> None:
    """The weaker fallback as a Python audit hook; always blocks unix-socket connections
    (a new network namespace does not cover sockets in the file system)."""
    roots = [os.path.realpath(p) for p in writable]

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: only the sandbox's own remain open
        text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        real = os.path.realpath(text)
        return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "socket.connect" and _is_unix(args):
            raise PermissionError("the agent's sandbox has no access to local sockets")
        if network and event in ("socket.connect", "socket.bind", "socket.sendto"):
            raise PermissionError("the agent's sandbox has no network")
        if not writes:
            return
        if event == "open" and _opens_for_writing(args) and not inside(args[0]):
            raise PermissionError(f"the agent's sandbox may not write {args[0]!r}")
        if event in _PATH_EVENTS and not all(inside(a) for a in args[: _PATH_EVENTS[event]]):
            raise PermissionError(f"the agent's sandbox may not change {args[0]!r}")
        if event in _PROCESS_EVENTS:
            raise PermissionError("the agent's sandbox (weak guard) cannot start processes")

    sys.addaudithook(hook)


_PATH_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "os.truncate": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.utime": 1,
    "shutil.rmtree": 1,
}
_PROCESS_EVENTS = {
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "ctypes.dlopen",
    "ctypes.dlsym",
}


def _opens_for_writing(args: tuple[object, ...]) -> bool:
    mode, flags = (args[1], args[2]) if len(args) >= 3 else (None, 0)
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _is_unix(args: tuple[object, ...]) -> bool:
    sock = args[0] if args else None
    return getattr(sock, "family", None) == _AF_UNIX
