"""Accessibility in a real browser: axe-core on every page at desktop and phone width, keyboard
use of the workspaces list and the delete confirmation, pending buttons and announced errors."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, USERNAME
from tests.e2e.server_process import REPO

pytestmark = pytest.mark.slow

AXE = REPO / "static/vendor/axe.min.js"
BUILD_TIMEOUT = 120_000  # ms: the first build of a server runs terraform init
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "narrow": {"width": 380, "height": 800}}

# axe's findings as plain data; the script comes from the server like any other (CSP: 'self').
_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + " | " + n.failureSummary.replace(/\\s+/g, " ")),
  }));
}"""


# A page wider than its window (the narrow screen must not scroll sideways): the elements that
# stick out, outside any box that scrolls them.
_TOO_WIDE = """() => {
  if (document.documentElement.scrollWidth <= window.innerWidth) return "";
  const out = [...document.querySelectorAll("body *")].filter((e) =>
    e.getBoundingClientRect().right > window.innerWidth && !e.parentElement.closest(".table-wrap"));
  const names = out.slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (e.className ? "." + String(e.className).split(" ").join(".") : ""));
  return `wider than its ${window.innerWidth} px window: ${names.join(", ") || "?"}`;
}"""


def axe_problems(page: Page, base_url: str, what: str) -> list[str]:
    """Serious and critical axe violations of the page as it is now, and a page wider than a
    narrow screen: one readable line per problem."""
    assert AXE.exists(), f"{AXE} is missing: run `make assets`"
    page.wait_for_load_state()  # after a click that navigates, the new page may still be loading
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=f"{base_url}/static/vendor/axe.min.js")
    problems = [
        f"{what}: [{v['impact']}] {v['id']} ({v['help']}) at {node}"
        for v in page.evaluate(_RUN_AXE)
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]
    wide = page.evaluate(_TOO_WIDE)
    if wide:
        problems.append(f"{what}: {wide}")
    return problems


class Api:
    """The REST API as a given user, to set up what the browser then sees."""

    def __init__(self, base_url: str, login: str, password: str):
        self.http = httpx.Client(base_url=f"{base_url}/api/v2", timeout=30)
        r = self.http.post("/users/login", json={"login": login, "password": password})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['session_token']}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        r = self.http.request(method, path, **kwargs)
        assert r.is_success, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}


@pytest.fixture(scope="module")
def admin_api(base_url):
    return Api(base_url, USERNAME, PASSWORD)


@pytest.fixture
def new_user(admin_api, base_url):
    """Makes a fresh member (whose workspaces list starts empty); returns their API client."""

    def make(name: str) -> Api:
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        admin_api.call("POST", "/users", json=body)
        return Api(base_url, name, PASSWORD)

    return make


def sign_in(page: Page, base_url: str, login: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_page_passes_axe(page: Page, base_url, new_user, viewport):
    login = f"a11y-{viewport}"
    new_user(login)
    page.set_viewport_size(VIEWPORTS[viewport])
    problems: list[str] = []

    def check(what: str) -> None:
        problems.extend(axe_problems(page, base_url, what))

    page.goto(f"{base_url}/login")
    check("login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect username, email or password.")
    check("login refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
    expect(page.get_by_text("You have no workspaces yet.")).to_be_visible()
    check("workspaces, none yet")

    page.get_by_role("link", name="Templates", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Templates")
    check("templates")
    page.get_by_role("link", name="Create a workspace from Local process").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New workspace from Local process")
    check("create form")
    page.get_by_label("Workspace name").fill("ally")
    page.get_by_label("Stop timeout (seconds)").fill("0")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator(".field-error")).to_be_visible()
    check("create form refused")
    page.get_by_label("Stop timeout (seconds)").fill("1")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r"/workspaces/[^/]+/ally$"))
    check("workspace page, building")
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)
    if viewport == "desktop":  # once is enough for the terminal with xterm.js running in it
        expect(page.locator("[data-agent-status]")).to_have_text("connected", timeout=60_000)
    check("workspace page, running")
    terminal_href = page.get_by_role("link", name="Terminal").get_attribute("href")

    page.get_by_role("link", name="Workspaces", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Workspaces")
    expect(page.get_by_role("link", name="ally")).to_be_visible()
    check("workspaces, one running")
    page.get_by_label("Search by name").fill("nothing-like-it")
    expect(page.get_by_text("No workspace matches these filters.")).to_be_visible()
    check("workspaces, filtered to none")

    page.goto(f"{base_url}{terminal_href}")
    if viewport == "desktop":
        expect(page.locator("#terminal-state")).to_have_text("Connected.", timeout=30_000)
    check("terminal")

    page.goto(f"{base_url}/account")
    page.get_by_label("Name").fill("a11y")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-secret")).to_be_visible()
    check("account, token just created")

    page.goto(f"{base_url}/notifications/")
    check("notifications")

    page.goto(f"{base_url}/workspaces/nobody/nothing")
    check("not found")
    assert not problems, "\n".join(["axe-core and layout problems:", *problems])


def focus_ring(page: Page) -> str:
    """How the focused element shows its focus: '' when it does not."""
    return page.evaluate("""() => {
      const s = getComputedStyle(document.activeElement);
      const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
      const shadow = s.boxShadow && s.boxShadow !== "none";
      return outline ? `outline ${s.outlineWidth} ${s.outlineStyle} ${s.outlineColor}`
           : shadow ? `box-shadow ${s.boxShadow}` : "";
    }""")


def tab_to(page: Page, target, limit: int = 30) -> int:
    """Press Tab until `target` has the focus, checking every stop shows a focus ring; returns
    how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        assert focus_ring(page), f"no visible focus on {focused}"
        if target.evaluate("(el) => el === document.activeElement"):
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


def wait_for_build_end(api: Api, workspace_id: str) -> dict:
    """The workspace once its latest build is no longer pending or running."""
    for _ in range(600):
        w = api.call("GET", f"/workspaces/{workspace_id}")
        if w["latest_build"]["job_status"] not in ("pending", "running", "canceling"):
            return w
        time.sleep(0.2)
    raise AssertionError(f"the build of {workspace_id} never ended: {w}")


def tab_order(page: Page, targets: dict, presses: int) -> list[str]:
    """Press Tab (at most `presses` times) from where the focus is until every target had the
    focus; the names of the targets in the order the focus reached them. Every stop must show a
    focus ring."""
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        assert focus_ring(page), f"no visible focus on {focused}"
        # Found anew at each press: the live list may have been redrawn meanwhile.
        for name, target in targets.items():
            if name not in order and target.evaluate("(el) => el === document.activeElement"):
                order.append(name)
        if len(order) == len(targets):
            break
    return order


def test_keyboard_reaches_everything_with_a_visible_focus(page: Page, base_url, new_user):
    login = "a11y-keys"
    api = new_user(login)
    w = api.call("POST", "/workspaces", json={"name": "keys", "template": "local"})
    sign_in(page, base_url, login)
    page.goto(f"{base_url}/")  # the focus at the top of a freshly loaded page

    skip = page.get_by_role("link", name="Skip to content")
    targets = {
        "skip link": skip,
        "create button": page.get_by_role("link", name="New workspace"),
        "search": page.get_by_label("Search by name"),
        "status filter": page.get_by_label("Status"),
        "filter button": page.get_by_role("button", name="Filter"),
        "workspace link": page.get_by_role("link", name="keys"),
    }
    assert tab_order(page, targets, presses=20) == list(targets)
    # The list redraws itself when the workspace changes: the focus stays on the link.
    wait_for_build_end(api, w["id"])
    api.call("POST", f"/workspaces/{w['id']}/builds", json={"transition": "stop"})
    row = page.get_by_role("row").filter(has=targets["workspace link"])
    expect(row.locator("[data-status]")).to_have_text(re.compile("stopping|stopped"))
    expect(targets["workspace link"]).to_be_focused()
    assert focus_ring(page)
    # The skip link is the first stop, and shows itself when focused.
    page.reload()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    # It jumps over the header: the next Tab lands on the page's first control.
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(targets["create button"]).to_be_focused()

    # Delete with the keyboard only: open the confirmation, type the name, submit.
    wait_for_build_end(api, w["id"])
    page.goto(f"{base_url}/workspaces/{login}/keys")
    expect(page.locator("#workspace-status")).to_have_text("stopped")
    summary = page.get_by_text("Delete workspace…")
    tab_to(page, summary, limit=60)
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_label(re.compile("to delete it")))
    page.keyboard.type("keys")
    tab_to(page, page.get_by_role("button", name="Delete keys"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="keys is being deleted.")).to_be_visible()


def test_action_shows_pending_and_a_conflict_is_announced(page: Page, base_url, new_user):
    """Start pressed on a page that does not know yet that another build started (through the
    API): the button shows it is working, then the server's 409 is read out as an alert."""
    login = "a11y-busy"
    api = new_user(login)
    w = api.call("POST", "/workspaces", json={"name": "busy", "template": "local"})
    wait_for_build_end(api, w["id"])
    api.call("POST", f"/workspaces/{w['id']}/builds", json={"transition": "stop"})
    wait_for_build_end(api, w["id"])
    sign_in(page, base_url, login)
    page.goto(f"{base_url}/workspaces/{login}/busy")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled()
    # The page is gone once the request leaves: the button's states are kept where they last.
    start.evaluate("""(button) => new MutationObserver(() => {
        sessionStorage.setItem("start-button",
          `disabled=${button.disabled} aria-busy=${button.getAttribute("aria-busy")}`);
      }).observe(button, {attributes: true})""")

    builds = []

    def another_build_first(route):
        builds.append(
            api.call("POST", f"/workspaces/{w['id']}/builds", json={"transition": "start"})
        )
        route.continue_()

    page.route(re.compile(r"/workspaces/[^/]+/busy/builds$"), another_build_first)
    start.click()
    alert = page.get_by_role("alert")
    number = builds[0]["build_number"]
    expect(alert).to_contain_text(f"Could not start busy: Build #{number} (start) is")
    expect(alert).to_contain_text("cancel it or wait")
    # While in flight the button could not be pressed again, and said it was busy.
    assert page.evaluate("sessionStorage.getItem('start-button')") == "disabled=true aria-busy=true"


def test_a_failed_search_says_so(page: Page, base_url, new_user):
    """The list's live search (htmx) cannot reach the server: the page says so out loud instead of
    showing a list that silently stopped changing; the next search that works clears it."""
    login = "a11y-offline"
    new_user(login)
    sign_in(page, base_url, login)
    error = page.locator("#request-error")
    expect(error).to_have_attribute("aria-live", "assertive")
    expect(error).to_be_empty()
    page.route(re.compile(r"/workspaces/rows\?"), lambda route: route.fulfill(status=503))
    page.get_by_label("Search by name").fill("web")
    expect(error).to_have_text(
        re.compile(r"^Could not update this page \(the server answered 503\)")
    )
    expect(error).to_be_visible()
    page.unroute(re.compile(r"/workspaces/rows\?"))
    page.get_by_label("Search by name").fill("we")
    expect(error).to_be_empty()
    expect(page.get_by_text("No workspace matches these filters.")).to_be_visible()


BRANDED = {
    "application_name": "Acme Development Environments",
    "service_banner": {
        "enabled": True,
        "message": "Maintenance **tonight** at 22:00 UTC: see [the status page](https://status.example.com)",
        "background_color": "#fde047",
    },
    "announcement_banners": [
        {"enabled": True, "message": "New: GPU templates", "background_color": "#14532d"},
        {"enabled": True, "message": "Mid grey, the hardest case", "background_color": "#777777"},
    ],
    "support_links": [
        {"name": "Help desk", "target": "https://help.example.com", "icon": "chat"},
        {"name": "Documentation", "target": "https://docs.example.com", "icon": "docs"},
    ],
}
UNBRANDED = {
    "application_name": "",
    "service_banner": {"enabled": False, "message": "", "background_color": ""},
    "announcement_banners": [],
    "support_links": [],
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_branded_pages_pass_axe(page: Page, base_url, admin_api, new_user, viewport):
    """Site banners in any colour an owner picks, and support links (enterprise/appearance)."""
    login = f"a11y-brand-{viewport}"
    new_user(login)
    admin_api.call("PUT", "/appearance", json=BRANDED)
    try:
        time.sleep(1.5)  # every server process follows a change within a second
        page.set_viewport_size(VIEWPORTS[viewport])
        page.goto(f"{base_url}/login")
        expect(page.get_by_text("New: GPU templates")).to_be_visible()
        problems = axe_problems(page, base_url, "login, branded")
        sign_in(page, base_url, login)
        expect(page.get_by_role("link", name="Help desk")).to_be_visible()
        problems += axe_problems(page, base_url, "workspaces, branded")
        page.goto(f"{base_url}/account")
        problems += axe_problems(page, base_url, "account, branded")
    finally:
        admin_api.call("PUT", "/appearance", json=UNBRANDED)
    assert not problems, "\n".join(["axe-core and layout problems:", *problems])
