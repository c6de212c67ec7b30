"""The operator console's operations in a real browser: stop a user's workspace (through its
confirmation page) and reset a password, at desktop and phone width, axe-clean, with the
portal's strict Content-Security-Policy and no violation of it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from portal.web.middleware import CSP
from tests.browser.conftest import PASSWORD, USERNAME
from tests.browser.test_accessibility import (
    VIEWPORTS,
    Api,
    axe_problems,
    wait_for_build_end,
)

pytestmark = pytest.mark.slow

STRICT_CSP = CSP.format(images="")
# Every violation the page reports, kept across navigations (init scripts run in each document
# before its own scripts, outside the page's policy).
_RECORD_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const seen = JSON.parse(sessionStorage.getItem("csp-violations") || "[]");
  seen.push(`${location.pathname}: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` (${e.sourceFile || "?"}:${e.lineNumber})`);
  sessionStorage.setItem("csp-violations", JSON.stringify(seen));
});
"""


# Whether each console response came with a policy of its own (else the test added it).
_SENT_OWN: list[bool] = []


@pytest.fixture
def console_page(page: Page, base_url):
    """The page, with the console served under the portal's strict policy (added here to any
    console response that comes without a policy of its own) and violations recorded."""
    sent_own = _SENT_OWN
    sent_own.clear()

    def strict(route):
        response = route.fetch(max_redirects=0)  # the browser follows them itself
        headers = dict(response.headers)
        sent_own.append("content-security-policy" in headers)
        headers.setdefault("content-security-policy", STRICT_CSP)
        route.fulfill(response=response, headers=headers)

    page.route(re.compile("^" + re.escape(base_url) + "/admin/"), strict)
    page.add_init_script(_RECORD_VIOLATIONS)
    return page


def violations(page: Page) -> list[str]:
    found = page.evaluate("JSON.parse(sessionStorage.getItem('csp-violations') || '[]')")
    assert all(_SENT_OWN), "a console response came without its own Content-Security-Policy"
    # axe-core, the test's own tool injected into the page, adds a <style> of its own.
    return [v for v in found if "axe.min.js" not in v]


def sign_in_to_console(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/admin/")


def run_action(page: Page, label: str) -> None:
    page.locator("select[name=action]").select_option(label=label)
    page.locator("button[name=index]").click()  # "Go"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_stop_a_users_workspace_and_reset_a_password(console_page: Page, base_url, viewport):
    page = console_page
    owner = Api(base_url, USERNAME, PASSWORD)
    login = f"ops-{viewport}"
    owner.call(
        "POST",
        "/users",
        json={"username": login, "email": f"{login}@example.com", "password": PASSWORD},
    )
    member = Api(base_url, login, PASSWORD)
    workspace = member.call("POST", "/workspaces", json={"name": "dev", "template": "local"})
    assert wait_for_build_end(member, workspace["id"])["latest_build"]["job_status"] == "succeeded"

    page.set_viewport_size(VIEWPORTS[viewport])
    problems: list[str] = []
    sign_in_to_console(page, base_url)

    # Stop: tick the workspace in the list, choose the action, confirm on its page.
    page.goto(f"{base_url}/admin/workspaces/workspace/?q={login}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="dev"))
    row.get_by_role("checkbox").check()
    run_action(page, "Stop selected workspaces")
    expect(page.get_by_role("heading", name="Stop workspaces: are you sure?")).to_be_visible()
    expect(page.locator(".portal-confirm-targets")).to_contain_text(f"{login}/dev")
    problems += axe_problems(page, base_url, "stop confirmation")
    page.get_by_role("button", name="Yes, stop").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Stopping: {login}/dev.")
    stopped = wait_for_build_end(member, workspace["id"])
    assert stopped["latest_build"]["transition"] == "stop"
    assert stopped["latest_build"]["job_status"] == "succeeded"

    # The build's log page, and the workspace's own page with its operation buttons.
    page.goto(f"{base_url}/admin/workspaces/workspace/{workspace['id']}/change/")
    start = page.get_by_role("link", name="Start", exact=True)
    expect(start).to_be_visible()
    problems += axe_problems(page, base_url, "workspace page")
    start.click()
    expect(page.get_by_role("button", name="Yes, start")).to_be_visible()
    problems += axe_problems(page, base_url, "start confirmation (its page)")
    page.get_by_role("link", name="No, take me back").click()
    page.get_by_role("link", name=re.compile(r"^log$")).first.click()
    expect(page.locator("#log")).to_be_visible()
    problems += axe_problems(page, base_url, "build log")

    # Reset the member's password: asked first, then the one-time password, shown once.
    page.goto(f"{base_url}/admin/accounts/user/?q={login}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=login, exact=True))
    row.get_by_role("checkbox").check()
    run_action(page, "Reset password of selected users (one-time passwords)")
    expect(page.get_by_role("heading", name="Reset passwords: are you sure?")).to_be_visible()
    problems += axe_problems(page, base_url, "reset confirmation")
    page.get_by_role("button", name="Yes, reset").click()
    one_time = page.locator("code.one-time-password")
    expect(one_time).to_be_visible()
    problems += axe_problems(page, base_url, "one-time password")
    fresh = one_time.inner_text()
    assert Api(base_url, login, fresh)  # signs in with it
    with pytest.raises(httpx.HTTPStatusError):
        Api(base_url, login, PASSWORD)  # the old one no longer does

    page.goto(f"{base_url}/admin/deployment/")
    expect(page.get_by_role("heading", name="Deployment settings")).to_be_visible()
    problems += axe_problems(page, base_url, "deployment settings")

    assert not violations(page), "\n".join(["CSP violations:", *violations(page)])
    assert not problems, "\n".join(["axe-core and layout problems:", *problems])
