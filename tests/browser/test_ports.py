"""Listening ports of a real `local` workspace: a server started in it is listed live, opens
through its port URL for its owner only, and the Ports card shows it and opens it (Chromium)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, USERNAME
from tests.e2e.server_process import free_port, portal_env

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 180  # s: a first build may run terraform init
LISTED_WITHIN = 30  # s: the agent scans every 3 s; generous on a busy shared machine
OTHER = {"username": "ports-other", "email": "other@example.com", "password": PASSWORD + "x"}


def _token(base_url: str, login: str, password: str) -> str:
    r = httpx.post(
        f"{base_url}/api/v2/users/login", json={"login": login, "password": password}, timeout=30
    )
    r.raise_for_status()
    return r.json()["session_token"]


class Box:
    """The signed-in owner's running `local` workspace `ports1`, and ways into it."""

    def __init__(self, base_url: str, data_dir):
        self.base_url = base_url
        self.token = _token(base_url, USERNAME, PASSWORD)
        self.api = httpx.Client(
            base_url=f"{base_url}/api/v2",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        self.home = tempfile.mkdtemp(prefix="portal-ports-home-")
        self.env = {
            **portal_env(data_dir),
            "PORTAL_URL": base_url,
            "PORTAL_SESSION_TOKEN": self.token,
            "HOME": self.home,
        }

    def create(self) -> None:
        templates = self.api.get("/templates").json()["results"]
        local = next(t for t in templates if t["name"] == "local")
        created = self.api.post(
            "/workspaces",
            json={
                "template_id": local["id"],
                "name": "ports1",
                "parameters": {"stop_timeout": "2"},
            },
        )
        assert created.status_code == 201, created.text
        self.id = created.json()["id"]
        deadline = time.monotonic() + BUILD_TIMEOUT
        while (agent := self.agent())["lifecycle_state"] != "ready":
            assert time.monotonic() < deadline, agent
            time.sleep(1)
        self.agent_id = agent["id"]

    def agent(self) -> dict:
        detail = self.api.get(f"/workspaces/{self.id}").json()
        agents = [a for r in detail.get("resources") or [] for a in r["agents"]]
        return agents[0] if agents else {"lifecycle_state": "none"}

    def run(self, command: str) -> str:
        """A shell command inside the workspace (`portal ssh`), its output."""
        done = subprocess.run(
            [sys.executable, "-m", "portal", "ssh", "ports1", "--", command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def serve(self, port: int) -> int:
        """Start `python3 -m http.server PORT` in the workspace, detached; its pid."""
        out = self.run(
            f"setsid nohup python3 -m http.server {port} --bind 127.0.0.1 "
            ">/dev/null 2>&1 < /dev/null & echo $!"
        )
        return int(out.strip())

    def listed(self) -> dict[int, dict]:
        r = self.api.get(f"/workspaceagents/{self.agent_id}/listening-ports")
        r.raise_for_status()
        return {p["port"]: p for p in r.json()["ports"]}

    def wait_listed(self, port: int, present: bool = True) -> dict:
        deadline = time.monotonic() + LISTED_WITHIN
        while (port in (ports := self.listed())) != present:
            assert time.monotonic() < deadline, ports
            time.sleep(0.5)
        return ports.get(port, {})


@pytest.fixture(scope="module")
def box(portal_server, base_url):
    box = Box(base_url, portal_server.data_dir)
    box.create()
    yield box
    box.api.post(f"/workspaces/{box.id}/builds", json={"transition": "delete"})


def test_a_server_started_in_the_workspace_is_listed_opens_for_its_owner_only_then_goes(box):
    port = free_port()
    pid = box.serve(port)
    entry = box.wait_listed(port)
    assert entry["process_name"].startswith("python")
    assert entry["url"].endswith(f"/@{USERNAME}/ports1.main/ports/{port}/")

    path = f"{box.base_url}/@{USERNAME}/ports1/ports/{port}/"
    mine = httpx.get(path, headers={"Authorization": f"Bearer {box.token}"}, timeout=30)
    assert mine.status_code == 200 and "Directory listing" in mine.text

    created = box.api.post("/users", json=OTHER)
    assert created.status_code == 201, created.text
    other = _token(box.base_url, OTHER["username"], OTHER["password"])
    theirs = httpx.get(path, headers={"Authorization": f"Bearer {other}"}, timeout=30)
    assert theirs.status_code == 404
    assert httpx.get(path, timeout=30).status_code == 401  # anonymous: sign in first

    # Shared publicly: still the owner's only on the path URL (no wildcard domain here).
    shared = box.api.post(
        f"/workspaces/{box.id}/port-share",
        json={"agent_name": "main", "port": port, "share_level": "public"},
    )
    assert shared.status_code == 200, shared.text
    assert httpx.get(path, headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert box.api.get(f"/workspaces/{box.id}/port-share").json()["shares"][0]["port"] == port
    gone = box.api.request(
        "DELETE", f"/workspaces/{box.id}/port-share", json={"agent_name": "main", "port": port}
    )
    assert gone.status_code == 204

    box.run(f"kill {pid}")
    box.wait_listed(port, present=False)


def test_the_ports_card_shows_a_new_port_live_and_open_works(box, signed_in: Page, base_url):
    page = signed_in
    page.goto(f"{base_url}/workspaces/{USERNAME}/ports1")
    page.evaluate("window.stillTheSamePage = true")
    port = free_port()
    pid = box.serve(port)
    try:
        row = page.locator(f'#ports-card tr[data-port="{port}"]')
        expect(row).to_be_visible(timeout=LISTED_WITHIN * 1000)
        assert page.evaluate("window.stillTheSamePage") is True
        with page.expect_popup() as popup:
            row.get_by_role("link", name="Open").click()
        opened = popup.value
        expect(opened.locator("body")).to_contain_text("Directory listing")
        assert opened.url.endswith(f"/ports/{port}/")
    finally:
        box.run(f"kill {pid}")
    expect(row).to_have_count(0, timeout=LISTED_WITHIN * 1000)
