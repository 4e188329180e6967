"""The Binder setup builds: a fresh environment as repo2docker makes it, from a clean copy of
the repository, installs agent-kernel and its JupyterLab extension."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
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


# The full rebuild (dependencies from the package index with no cache, the extension built
# with Node from a clean copy) takes minutes; .ci/run sets this to run it on every CI build.
FULL = os.environ.get("AGENT_KERNEL_TEST_BINDER") == "full"
BUILT_EXTENSION = ROOT / "agent_kernel" / "labextension" / "static" / "style.js"


def clean_copy(target: Path) -> Path:
    """What Binder clones: tracked files only, nothing built."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def offline_environment(venv: Path, env: dict[str, str]) -> None:
    """Let pip in the fresh venv find the dependencies already installed here, and nothing
    from the network: this environment's site-packages is appended to the new one's path
    (the new venv's own packages still come first), builds use the installed build backend."""
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "zz-test-environment.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n"
    )
    env.update(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0")
    # The `jupyter*` commands pip would have made when installing those packages there.
    for entry in entry_points(group="console_scripts"):
        if entry.name.startswith("jupyter"):
            module, _, attribute = entry.value.partition(":")
            script = venv / "bin" / entry.name
            script.write_text(
                f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {attribute}\n"
                f"sys.exit({attribute}())\n"
            )
            script.chmod(0o755)


@pytest.mark.slow
def test_post_build_installs_the_extension_in_a_fresh_environment(tmp_path: Path) -> None:
    """postBuild, run as repo2docker runs it, on a clean copy in a new venv.

    Every `make test` runs it offline in about a tenth of the time: dependencies come from
    this environment and the extension `make labextension` built is copied in (the package's
    build hook then skips Node). With AGENT_KERNEL_TEST_BINDER=full (by hand) it resolves
    everything from the package index with no cache and builds the extension with Node."""
    source = clean_copy(tmp_path / "repo")
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SKIP_JUPYTER_BUILDER", None)
    env.pop("PYTHONPATH", None)
    if not FULL:
        if not BUILT_EXTENSION.exists():
            pytest.skip("the JupyterLab extension is not built: run `make labextension` first")
        shutil.copytree(
            ROOT / "agent_kernel" / "labextension", source / "agent_kernel" / "labextension"
        )
        offline_environment(venv, env)
    built = subprocess.run(
        ["bash", str(source / "binder" / "postBuild")],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    python = str(venv / "bin" / "python")
    extensions = jupyter(python, env, "labextension", "list")
    assert re.search(r"agent-kernel v\S+ enabled OK", extensions), extensions
    assert "agent_kernel enabled" in jupyter(python, env, "server", "extension", "list")
    where = subprocess.run(
        [
            python,
            "-c",
            "import agent_kernel, palmerpenguins, matplotlib; print(agent_kernel.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    # The package postBuild installed, not this checkout or its editable install.
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr[-2000:]


def jupyter(python: str, env: dict[str, str], *command: str) -> str:
    """`jupyter COMMAND` in the fresh environment, without colours."""
    ran = subprocess.run(
        [python, "-m", "jupyter", *command], capture_output=True, text=True, env=env
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", ran.stdout + ran.stderr)
