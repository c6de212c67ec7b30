"""The console's dashboard in Chromium on a real server: the owner reads the health lines the
periodic leader snapshotted, a chart Chart.js drew (and its 24 hours / 7 days switch), the
latest audit entry, at desktop and phone width, axe-clean, and under the portal's strict
Content-Security-Policy (which the console will be served with) without a violation."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from portal.web.middleware import CSP
from tests.browser.conftest import USERNAME
from tests.browser.test_accessibility import VIEWPORTS, axe_problems

pytestmark = pytest.mark.slow

# 'report-sample' makes a violation carry the start of what was blocked.
STRICT = CSP.format(images="").replace("style-src 'self'", "style-src 'self' 'report-sample'")
# The console's base template (portal/templates/admin/base_site.html, the banners) still has an
# inline <style> the admin theme work replaces; everything of the dashboard's is in files.
KNOWN = ".site-banners"
# Violations as the page reports them (an init script runs before the page's own, CSP or not).
_LISTEN = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__csp = window.__csp || []).push(`${e.violatedDirective}: ${e.blockedURI} ` +
    `${e.sourceFile || ""}:${e.lineNumber || ""} ${e.sample || ""}`);
});"""


def _with_strict_csp(page: Page, violations: list[str]) -> None:
    def serve(route):
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": STRICT}
        route.fulfill(response=response, headers=headers)

    page.route(re.compile(r"/admin/(\?.*)?$"), serve)
    page.add_init_script(_LISTEN)
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )


def _wait_for_health(page: Page, base_url: str, timeout: float = 90) -> None:
    """The leader takes the first report within seconds of starting (its checks take a few)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(f"{base_url}/admin/")
        if page.locator('[data-check="database"]').count():
            return
        time.sleep(2)
    raise AssertionError("no health report on the dashboard within 90 s")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_owner_reads_the_dashboard(signed_in: Page, base_url, viewport):
    page = signed_in
    violations: list[str] = []
    _with_strict_csp(page, violations)
    page.set_viewport_size(VIEWPORTS[viewport])
    _wait_for_health(page, base_url)

    health = page.locator("#dashboard-health")
    # ok, or a warning that it answered slowly (2 cores shared by the test machine's agents).
    expect(health.locator('[data-check="database"]')).to_contain_text(
        re.compile(r"Database: (ok|warning)")
    )
    expect(health.locator('[data-check="redis"]')).to_contain_text(
        re.compile(r"Redis: (ok|warning)")
    )
    expect(page.locator("#panel-provisioners")).to_contain_text("tags")

    # Drawn by dashboard.js with Chart.js, both loaded from 'self'.
    canvas = page.locator('canvas[data-chart="dashboard-data-builds"]')
    expect(canvas).to_have_attribute("data-drawn", "true")
    assert canvas.evaluate("(c) => !!Chart.getChart(c)")
    builds = page.locator("#chart-builds")
    builds.get_by_role("button", name="7 days").click()
    expect(canvas).to_have_attribute("data-window", "168")
    expect(builds.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    expect(builds.get_by_role("button", name="24 hours")).to_have_attribute("aria-pressed", "false")
    expect(builds.locator(".dashboard-figures")).to_contain_text("Last 7 days:")

    # The sign-in that opened this page is the newest entry (or among the newest).
    expect(page.locator("#dashboard-audit")).to_contain_text(f"{USERNAME} login")

    # The cards and the lists carry no stray bullets.
    for selector in ("#portal-counts li", "#dashboard-health li"):
        style = page.locator(selector).first.evaluate("(e) => getComputedStyle(e).listStyleType")
        assert style == "none", f"{selector}: {style}"

    problems = axe_problems(page, base_url, f"dashboard ({viewport})")
    builds.locator("summary").click()  # the table behind the chart, opened
    problems += axe_problems(page, base_url, f"dashboard, table open ({viewport})")
    assert not problems, "\n".join(problems)
    reported = [v for v in page.evaluate("window.__csp || []") if KNOWN not in v]
    assert not reported, "\n".join(reported)
    assert not [v for v in violations if "script-src" in v], "\n".join(violations)
