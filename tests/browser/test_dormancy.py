"""A dormant workspace's page: the banner says when it will be deleted, Start is not offered,
and Reactivate brings Start back (a real server and the `local` template)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_live import BUILD_TIMEOUT, _api

pytestmark = pytest.mark.slow


def _wait_status(api, workspace_id: str, status: str, timeout: float = BUILD_TIMEOUT / 1000):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/workspaces/{workspace_id}")
        if status == "deleted" and r.status_code == 404:  # a deleted workspace is not listed
            return
        assert r.status_code == 200, r.text
        if r.json()["status"] == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"workspace never became {status}")


def test_the_dormant_banner_and_reactivate_button(signed_in: Page, base_url):
    page = signed_in
    api = _api(base_url)
    templates = api.get("/templates").json()["results"]
    local = next(t for t in templates if t["name"] == "local")
    edited = api.patch(
        f"/templates/{local['name']}", json={"time_til_dormant_autodelete_ms": 7 * 86400 * 1000}
    )
    assert edited.status_code == 200, edited.text
    created = api.post(
        "/workspaces",
        json={"template_id": local["id"], "name": "sleepy", "parameters": {"stop_timeout": "2"}},
    )
    assert created.status_code == 201, created.text
    ws = created.json()
    _wait_status(api, ws["id"], "running")

    marked = api.put(f"/workspaces/{ws['id']}/dormant", json={"dormant": True})
    assert marked.status_code == 200, marked.text
    assert marked.json()["deleting_at"]
    page.goto(f"{base_url}/workspaces/{ws['owner_name']}/sleepy")
    banner = page.locator("#dormant-banner")
    expect(banner).to_contain_text("This workspace is dormant")
    expect(banner).to_contain_text("it will be deleted on")
    # Marking it dormant stopped it; Start is not offered while dormant.
    expect(page.locator("#workspace-status")).to_have_text("stopped", timeout=BUILD_TIMEOUT)
    expect(page.get_by_role("button", name="Start")).to_have_count(0)

    page.get_by_role("button", name="Reactivate").click()
    expect(page.get_by_text("sleepy is active again; you can start it.")).to_be_visible()
    expect(page.locator("#dormant-banner")).to_have_count(0)
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_visible()
    start.click()
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)

    deleted = api.post(f"/workspaces/{ws['id']}/builds", json={"transition": "delete"})
    assert deleted.status_code == 201, deleted.text
    _wait_status(api, ws["id"], "deleted")
