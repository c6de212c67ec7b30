"""Run the real `portal` command in a subprocess against a live server, with a private HOME."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

REPO = Path(__file__).resolve().parents[2]


class CLI:
    def __init__(self, url: str, home: Path):
        self.url = url
        self.home = home
        self.config_dir = home / "xdg" / "portal"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "xdg"), NO_COLOR="1")

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None):
        result = subprocess.run(
            [sys.executable, "-m", "portal", *args],
            input=input,
            # Never the terminal pytest may run in: prompts must not block and isatty() is False.
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=REPO,
            timeout=60,
        )
        return result

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        result = self(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str, **kwargs):
        return json.loads(self.ok(*args, "--output", "json", **kwargs).stdout)

    def login(self, user, password: str = PASSWORD) -> subprocess.CompletedProcess:
        return self.ok("login", self.url, "--username", user.username, "--password", password)

    def saved_token(self) -> str:
        return (self.config_dir / "session").read_text().strip()


@pytest.fixture
def cli(live_server, tmp_path) -> CLI:
    return CLI(live_server.url, tmp_path / "home")


@pytest.fixture
def closed_url() -> str:
    """A URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
