"""The code-server example in a real workspace of a real `portal server`: a stand-in
`code-server` first on PATH (a tiny Python HTTP server), so nothing is downloaded; its app
becomes healthy and the app proxy serves it to the owner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server_process import REPO, ServerProcess, login, portal_env

pytestmark = pytest.mark.slow

OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "dev",
    "PORTAL_FIRST_USER_EMAIL": "dev@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
}

# Takes code-server's arguments; answers /healthz as code-server does and / with a marker.
FAKE_CODE_SERVER = """#!/usr/bin/env python3
import http.server, sys

args = sys.argv[1:]
assert args[args.index("--auth") + 1] == "none", args
host, port = args[args.index("--bind-addr") + 1].rsplit(":", 1)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"alive"}' if self.path == "/healthz" else b"fake code-server"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
"""


def _logs(data_dir: Path) -> str:
    """What the workspace wrote, for a failure's message."""
    found = [*data_dir.glob("**/code-server.log"), *data_dir.glob("**/agent.log")]
    return "\n".join(f"{p}:\n{p.read_text(errors='replace')[-3000:]}" for p in found)


def test_the_code_server_app_becomes_healthy_and_is_served_through_the_proxy():
    root = Path(tempfile.mkdtemp(prefix="portal-e2e-code-server-"))
    root.chmod(0o755)  # builds (and so the workspace) may run as another user
    # Builds run in a sandbox that hides /tmp but shows the builds directory: the stand-in lives
    # there, so the agent it starts finds it on PATH.
    fake_bin = root / "data" / "builds" / "fake-bin"
    fake_bin.mkdir(parents=True)
    for level in (root / "data", root / "data" / "builds", fake_bin):
        level.chmod(0o755)
    (fake_bin / "code-server").write_text(FAKE_CODE_SERVER)
    (fake_bin / "code-server").chmod(0o755)
    path = f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    server = ServerProcess(root / "data", PATH=path, **OWNER).start()
    try:
        server.wait_ready()
        r = login(
            server.url, OWNER["PORTAL_FIRST_USER_USERNAME"], OWNER["PORTAL_FIRST_USER_PASSWORD"]
        )
        assert r.status_code == 201, r.text
        token = r.json()["session_token"]
        home = root / "home"
        home.mkdir()
        env = {**portal_env(server.data_dir), "PORTAL_URL": server.url,
               "PORTAL_SESSION_TOKEN": token, "HOME": str(home)}  # fmt: skip

        def portal(*args: str) -> subprocess.CompletedProcess:
            done = subprocess.run(
                [sys.executable, "-m", "portal", *args],
                env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            return done

        portal("templates", "push", "code-server", "--directory",
               str(REPO / "examples/templates/code-server"), "--yes")  # fmt: skip
        portal("create", "ide", "--template", "code-server", "--yes")

        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 120
        while True:
            detail = httpx.get(
                f"{server.url}/api/v2/users/me/workspace/ide", headers=headers
            ).json()
            apps = [app for r in detail["resources"] for a in r["agents"] for app in a["apps"]]
            app = next((a for a in apps if a["slug"] == "code-server"), None)
            if app is not None and app["health"] == "healthy":
                break
            if time.monotonic() > deadline:
                print(_logs(server.data_dir))  # shown with the failure
            assert time.monotonic() < deadline, apps
            time.sleep(1)

        page = httpx.get(f"{server.url}/@dev/ide/apps/code-server/", headers=headers, timeout=30)
        assert page.status_code == 200 and page.text == "fake code-server"
        assert httpx.get(f"{server.url}/@dev/ide/apps/code-server/", timeout=30).status_code in {
            401, 302, 303,
        }  # fmt: skip
        portal("delete", "ide", "--yes")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
