"""Pages stay current without reloading: builds started elsewhere (the API) show up as they run."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, USERNAME

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 120_000  # ms: a first build may run terraform init


def _api(base_url: str) -> httpx.Client:
    login = httpx.post(
        f"{base_url}/api/v2/users/login",
        json={"login": USERNAME, "password": PASSWORD},
        timeout=30,
    )
    login.raise_for_status()
    token = login.json()["session_token"]
    return httpx.Client(
        base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_the_list_follows_a_build_started_from_the_api_without_reload(signed_in: Page, base_url):
    page = signed_in
    # Gone if the page reloads: proves the row came from a pushed refresh.
    page.evaluate("window.stillTheSamePage = true")
    api = _api(base_url)
    templates = api.get("/templates").json()["results"]
    local = next(t for t in templates if t["name"] == "local")
    created = api.post(
        "/workspaces",
        json={"template_id": local["id"], "name": "live1", "parameters": {"stop_timeout": "2"}},
    )
    assert created.status_code == 201, created.text
    workspace = created.json()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="live1"))
    expect(row.locator('[data-status="running"]')).to_be_visible(timeout=BUILD_TIMEOUT)
    assert page.evaluate("window.stillTheSamePage") is True

    # Deleted from the API: the row goes away by itself too.
    deleted = api.post(f"/workspaces/{workspace['id']}/builds", json={"transition": "delete"})
    assert deleted.status_code == 201, deleted.text
    expect(page.get_by_role("link", name="live1")).to_have_count(0, timeout=BUILD_TIMEOUT)
    assert page.evaluate("window.stillTheSamePage") is True
