"""The bell in a real browser: its count goes up live when a notification is sent (from the API,
no reload), and marking all read on the notifications page clears it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, USERNAME

pytestmark = pytest.mark.slow


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


def test_the_bell_counts_up_live_and_mark_all_read_clears_it(signed_in: Page, base_url):
    page = signed_in
    api = _api(base_url)
    api.put("/notifications/inbox/mark-all-as-read").raise_for_status()
    page.reload()
    count = page.locator("#bell .bell-count")
    expect(count).to_have_text("0")
    # Listening (the events socket subscribed, its catch-up re-read done): from here on every
    # notification must reach the bell live.
    expect(page.locator("body[data-events-live]")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.stillTheSamePage = true")

    # The first user is an owner: the test notification is sent to them through every method.
    for expected in ("1", "2"):
        sent = api.post("/notifications/test")
        assert sent.status_code == 200, sent.text
        expect(count).to_have_text(expected, timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True

    page.locator("#bell").click()
    page.wait_for_url(f"{base_url}/notifications/")
    expect(page.locator(".notification.unread")).to_have_count(2)
    expect(page.get_by_role("heading", name="A test notification").first).to_be_visible()
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.locator("#bell .bell-count")).to_have_text("0")
    assert api.get("/notifications/inbox").json()["unread_count"] == 0
