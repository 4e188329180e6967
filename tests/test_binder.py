"""The Binder setup builds: a fresh environment as repo2docker makes it, from a clean copy of
the repository, installs agent-kernel and its JupyterLab extension."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def test_the_environment_file_pins_what_the_build_needs() -> None:
    environment = yaml.safe_load((BINDER / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    dependencies = [str(d) for d in environment["dependencies"]]
    python = next(d for d in dependencies if d.startswith("python="))
    assert tuple(int(p) for p in python.split("=")[1].split(".")) >= (3, 10)
    node = next(d for d in dependencies if d.startswith("nodejs"))
    assert int(re.findall(r"\d+", node)[0]) >= 20  # the extension's builder needs Node 20+
    assert os.access(BINDER / "postBuild", os.X_OK)


def test_post_build_installs_the_extension_in_a_fresh_environment(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    source = tmp_path / "repo"  # what Binder clones: tracked files only, nothing built
    for name in tracked:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SKIP_JUPYTER_BUILDER", None)
    built = subprocess.run(
        ["bash", str(source / "binder" / "postBuild")],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    listing = subprocess.run(
        [str(venv / "bin" / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        env=env,
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)  # no colours
    assert re.search(r"agent-kernel v\S+ enabled OK", plain), plain
    servers = subprocess.run(
        [str(venv / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "agent_kernel enabled" in re.sub(r"\x1b\[[0-9;]*m", "", servers.stdout + servers.stderr)
    imported = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import agent_kernel, palmerpenguins, matplotlib; print('ok')",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert imported.stdout.strip() == "ok", imported.stderr[-2000:]
