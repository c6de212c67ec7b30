"""The portal's /audit page in Chromium on the embedded server (whose PostgreSQL made the
search's pg_trgm index): the nav link, a search swapped in by htmx, a refused query, axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import VIEWPORTS, axe_problems

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_owner_searches_the_audit_log(signed_in: Page, base_url, viewport):
    page = signed_in
    page.set_viewport_size(VIEWPORTS[viewport])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.wait_for_url(f"{base_url}/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    problems = axe_problems(page, base_url, "audit")

    page.get_by_label("Search").fill("action:login username:dev")
    page.get_by_role("button", name="Search").click()
    # htmx swapped the results in and pushed the search into the address bar
    expect(page).to_have_url(re.compile(r"/audit\?q=action%3Alogin(\+|%20)username%3Adev$"))
    rows = page.locator("tr[data-entry]")
    expect(rows.first).to_contain_text("login")
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href", "/api/v2/audit/export?q=action%3Alogin+username%3Adev&format=csv"
    )
    problems += axe_problems(page, base_url, "audit results")

    page.get_by_label("Search").fill("colour:red")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert").filter(has_text="Unknown filter colour:")).to_be_visible()
    problems += axe_problems(page, base_url, "audit refused query")
    assert not problems, "\n".join(problems)
