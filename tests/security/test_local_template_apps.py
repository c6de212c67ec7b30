"""Issue 10 item 9: two `local` workspaces at once each serve their own preview, and a server the
workspace did not start is never taken for its app (real server, Terraform and agents).

The template used to derive the preview's port from the workspace id: two workspaces got the
same port, one preview server failed to bind, and its app, reported healthy, served the other
workspace's page.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from urllib.parse import unquote_plus, urlsplit

import psutil
import pytest

from tests.security.local_workspaces import Deployment, marked_processes, wait_for

pytestmark = pytest.mark.slow

# Another process on the host serving a directory where the app is reached: at its unix
# socket, or at its TCP port.
IMPOSTOR = r"""
import functools, http.server, os, socketserver, sys

target, root = sys.argv[1], sys.argv[2]


class Handler(http.server.SimpleHTTPRequestHandler):
    def address_string(self):
        return "impostor"


handler = functools.partial(Handler, directory=root)
if target.startswith("/"):
    directory, name = os.path.split(target)
    os.chdir(directory)
    if os.path.lexists(name):
        os.unlink(name)
    server = socketserver.UnixStreamServer(name, handler)
else:
    server = http.server.HTTPServer(("127.0.0.1", int(target)), handler)
print("serving", flush=True)
server.serve_forever()
"""


@pytest.fixture(scope="module")
def deployment():
    dep = Deployment("portal-sec-apps-")
    try:
        dep.start()
        dep.create("one", "two")
        for name in ("one", "two"):
            wait_for(lambda n=name: dep.app(n, "preview")["health"] == "healthy", f"{name} up")
        yield dep
    finally:
        dep.close()


def preview(dep: Deployment, name: str):
    return dep.get(f"/@dev/{name}/apps/preview/")


def app_target(url: str) -> str:
    """Where the app is reached: a unix socket path, or a TCP port (as a string)."""
    parts = urlsplit(url)
    if parts.scheme == "http+unix":
        return unquote_plus(parts.netloc)
    return str(parts.port)


def test_two_workspaces_at_once_each_serve_their_own_preview(deployment):
    for name in ("one", "two"):
        r = preview(deployment, name)
        assert r.status_code == 200, r.text
        assert f"Hello from workspace {name}." in r.text
    # Each app is reached inside its own workspace directory: nothing two workspaces share.
    for name in ("one", "two"):
        target = app_target(deployment.app(name, "preview")["url"])
        assert target.startswith(f"{deployment.workspace_dir(name)}/"), target


def test_a_server_the_workspace_did_not_start_is_not_its_app(deployment):
    one_dir, two_dir = deployment.workspace_dir("one"), deployment.workspace_dir("two")
    www = str(one_dir / "home" / "www")
    [server] = [p for p in marked_processes(one_dir) if www in " ".join(p.cmdline())]
    server.kill()
    server.wait(30)
    target = app_target(deployment.app("one", "preview")["url"])
    # Another workspace's page, served where workspace one's app is reached, by a process
    # workspace one never started.
    impostor = subprocess.Popen(
        [sys.executable, "-c", IMPOSTOR, target, str(two_dir / "home" / "www")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert impostor.stdout.readline().strip() == "serving", impostor.stdout.read()

        r = preview(deployment, "one")
        assert "Hello from workspace two" not in r.text
        assert r.status_code == 502, r.text
        wait_for(lambda: deployment.app("one", "preview")["health"] == "unhealthy", "unhealthy")

        # Workspace two was never disturbed.
        assert deployment.app("two", "preview")["health"] == "healthy"
        assert "Hello from workspace two." in preview(deployment, "two").text
    finally:
        impostor.kill()
        impostor.wait(10)
        with contextlib.suppress(psutil.Error):
            server.wait(0)
