"""The agent zipapp runs where only python3 exists: a fresh venv without pip or site-packages."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.agent.fakeserver import stop_agent
from workspaces.distribution.bundle import build_bundle


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A venv with no pip and nothing installed, made from the base interpreter."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    # Prove the isolation: websockets is not importable there.
    probe = subprocess.run([str(python), "-c", "import websockets"], env=_bare_env(), timeout=20)
    assert probe.returncode != 0
    return python


def _bare_env(**extra) -> dict:
    return {"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1", "HOME": "/nonexistent", **extra}


def test_bundle_contents_are_pure_python_and_deterministic(tmp_path):
    first = build_bundle(tmp_path)
    assert first.name == "portal-agent.pyz" and os.access(first, os.X_OK)
    names = zipfile.ZipFile(first).namelist()
    assert "__main__.py" in names and "portal_agent/agent.py" in names
    assert "websockets/asyncio/client.py" in names
    assert not [n for n in names if n.endswith(".so") or "__pycache__" in n]
    assert build_bundle(tmp_path / "again.pyz").read_bytes() == first.read_bytes()


def test_bundle_runs_in_a_bare_venv(tmp_path, bare_python, make_server, run_agent):
    bundle = build_bundle(tmp_path / "agent.pyz")
    help_run = subprocess.run(
        [str(bare_python), str(bundle), "--help"],
        env=_bare_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "PORTAL_AGENT_TOKEN" in help_run.stdout

    # And it really connects: websockets is loaded from inside the zip. Its scripts find the
    # workspace's `portal` command, which runs from the zip too.
    dots = tmp_path / "dots"
    subprocess.run(["git", "init", "-q", str(dots)], check=True, timeout=30)
    (dots / ".profile").write_text("export FROM_DOTFILES=1\n")
    git = ["git", "-C", str(dots), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-qm", "dots"], check=True, timeout=30)
    script = (
        f"echo from-the-bundle; portal dotfiles {dots.as_uri()} --yes >/dev/null && cat ~/.profile"
    )
    server = make_server({"startup_script": script})
    agent = run_agent(
        server.url,
        command=[str(bare_python), str(bundle)],
        env={"PYTHONPATH": "", "PIP_NO_INDEX": "1"},
    )
    server.wait(lambda: "ready" in server.states(), what="ready from the bundled agent")
    assert server.outputs("startup_script") == ["from-the-bundle", "export FROM_DOTFILES=1"]
    assert stop_agent(agent) == 0
    assert server.states()[-1] == "off"
