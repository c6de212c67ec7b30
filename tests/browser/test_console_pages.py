"""Every operator console page in a real browser, as the owner: served with the portal's
Content-Security-Policy and breaking none of it, no sideways scrolling at 1280 px and 380 px,
axe-core clean in the light and the dark theme.

The pages are enumerated, not listed: the index, every registered model's changelist and add
page, each parameter-less console route, and one example of every other console route reached by
following the console's own links (change pages, history, delete confirmations, job logs, the
views apps add), so pages added later are covered without editing this file.
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, Resolver404, URLPattern, URLResolver, get_resolver, reverse
from django.urls import resolve as resolve_path
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, USERNAME
from tests.browser.test_accessibility import AXE, VIEWPORTS, Api

pytestmark = pytest.mark.slow

CONSOLE = "/admin/"
THEMES = ("light", "dark")
MAX_PAGES = 150  # the crawl's bound: one page per route, so far above what the console has
BUILD_TIMEOUT = 180  # s: the first build of a server runs terraform init

# Routes a GET cannot show as a page: sign-out is a POST, autocomplete and jsi18n answer JSON
# and JavaScript, view_on_site redirects to the portal.
NOT_PAGES = {"logout", "autocomplete", "jsi18n", "view_on_site"}

# Every violation the page reports, whatever directive: recorded before any page script runs
# (Playwright's init scripts are not subject to the page's policy).
_RECORD_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || "?"}:${e.lineNumber}`);
});"""

_AXE_SERIOUS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `[${v.impact}] ${v.id} (${v.help}) at ` + v.nodes.slice(0, 3).map(
      (n) => n.target.join(" ") + (v.id === "color-contrast" && n.any[0]
        ? ` (${n.any[0].message})` : "")).join(", "));
}"""

# The page scrolls sideways: which elements stick out (outside the boxes Django lets scroll).
_OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth + 1) return "";
  const out = [...document.querySelectorAll("body *")].filter((e) =>
    e.getBoundingClientRect().right > root.clientWidth + 1);
  const classes = (e) => typeof e.className === "string" && e.className
    ? "." + e.className.split(" ").join(".") : "";
  const names = out.slice(-4).map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + classes(e));
  return `page ${root.scrollWidth} px wide in a ${root.clientWidth} px window: ${names.join(", ")}`;
}"""

# A changelist whose table is wider than its box (Django scrolls it inside .results).
_TABLE_SCROLLS = """() => {
  const box = document.querySelector("#changelist .results");
  const table = document.querySelector("#result_list");
  if (!box || !table) return "";
  return table.scrollWidth > box.clientWidth + 1
    ? `the results table is ${table.scrollWidth} px in a ${box.clientWidth} px box` : "";
}"""

_LINKS = """() => [...document.querySelectorAll("a[href]")].map((a) => a.href)"""


def console_routes() -> list[tuple[str, str]]:
    """(route, url name) of every console URL pattern, from the URL conf."""
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith(CONSOLE.lstrip("/")):
                found.append((route, entry.name or ""))

    walk(get_resolver().url_patterns, "")
    return found


def route_of(path: str) -> str | None:
    """The console route a path resolves to (one page per route is enough)."""
    try:
        match = resolve_path(path)
    except Resolver404:
        return None
    if match.url_name in NOT_PAGES or not path.startswith(CONSOLE):
        return None
    return match.route


def start_pages() -> list[str]:
    """The console's parameter-less routes and every registered model's changelist and add page."""
    pages = []
    for route, name in console_routes():
        if "<" not in route and name not in NOT_PAGES | {"login"}:
            pages.append("/" + route)
    for model in admin.site._registry:
        for view in ("changelist", "add"):
            with contextlib.suppress(NoReverseMatch):  # a view the admin does not route
                pages.append(
                    reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")
                )
    return list(dict.fromkeys(pages))


def check_in_place(page: Page, *, changelist_must_fit: bool) -> list[str]:
    """The page as loaded, at each width and theme: CSP violations, overflow, axe findings."""
    problems = []
    for width, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            where = f"{width} {theme}"
            overflow = page.evaluate(_OVERFLOW)
            if overflow:
                problems.append(f"{where}: {overflow}")
            if width == "desktop" and changelist_must_fit:
                scrolls = page.evaluate(_TABLE_SCROLLS)
                if scrolls:
                    problems.append(f"{where}: {scrolls}")
            problems += [f"{where}: {v}" for v in page.evaluate(_AXE_SERIOUS)]
    return problems


def visit(page: Page, base_url: str, path: str) -> tuple[int, list[str]]:
    """Load a console page (with axe-core beside it); its status and the links it offers."""
    response = page.goto(f"{base_url}{path}")
    status = response.status if response else 0
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=f"{base_url}/static/vendor/axe.min.js")
    links = [urlsplit(href) for href in page.evaluate(_LINKS)]
    own = urlsplit(base_url).netloc
    return status, [link.path for link in links if link.netloc == own]


def csp_violations(page: Page) -> list[str]:
    """The page's violations, but for axe-core's own (it adds a <style>: the test's, not ours)."""
    return [v for v in page.evaluate("window.__cspViolations || []") if "axe.min.js" not in v]


def wait_for_build(api: Api, workspace_id: str) -> None:
    deadline = time.monotonic() + BUILD_TIMEOUT
    while time.monotonic() < deadline:
        build = api.call("GET", f"/workspaces/{workspace_id}")["latest_build"]
        if build["job_status"] not in ("pending", "running", "canceling"):
            return
        time.sleep(0.5)
    raise AssertionError(f"the build of workspace {workspace_id} never ended")


@pytest.fixture(scope="module")
def seeded(base_url):
    """Something behind every list: a member with a token and a built workspace (its build, job,
    logs, resources, agent), through the API as an operator's users would make them."""
    owner = Api(base_url, USERNAME, PASSWORD)
    owner.call(
        "POST",
        "/users",
        json={"username": "console-member", "email": "cm@example.com", "password": PASSWORD},
    )
    member = Api(base_url, "console-member", PASSWORD)
    member.call("POST", "/users/me/tokens", json={"name": "console-seed"})
    workspace = member.call("POST", "/workspaces", json={"name": "themed", "template": "local"})
    wait_for_build(member, workspace["id"])
    return {"member": "console-member", "workspace": workspace}


def sign_in_to_console(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}{CONSOLE}login/?next={CONSOLE}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{CONSOLE}")


def test_every_console_page_is_csp_clean_fits_and_passes_axe(page: Page, base_url, seeded):
    assert AXE.exists(), f"{AXE} is missing: run `make assets`"
    page.add_init_script(_RECORD_CSP)
    page.emulate_media(reduced_motion="reduce")  # colours change at once with the theme
    problems: list[str] = []

    # The sign-in page, before signing in.
    visit(page, base_url, f"{CONSOLE}login/")
    problems += [f"login: {p}" for p in check_in_place(page, changelist_must_fit=False)]
    problems += [f"login: CSP {v}" for v in csp_violations(page)]
    sign_in_to_console(page, base_url)

    queue = start_pages()
    seen_routes = {route_of(path) for path in queue}
    visited: dict[str, int] = {}
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        status, links = visit(page, base_url, path)
        visited[path] = status
        if "html" not in (page.evaluate("document.contentType") or ""):
            continue
        is_changelist = (resolve_path(path).url_name or "").endswith("_changelist")
        problems += [
            f"{path}: {p}" for p in check_in_place(page, changelist_must_fit=is_changelist)
        ]
        problems += [f"{path}: CSP {v}" for v in csp_violations(page)]
        for link in links:
            route = route_of(link)
            if route is not None and route not in seen_routes:
                seen_routes.add(route)
                queue.append(link)

    # What only an action shows: the one-time password page and an action's form.
    users = reverse("admin:accounts_user_changelist")
    for action, heading in (
        ("reset_passwords", "One-time passwords"),
        ("change_login_type", "Change login type"),
    ):
        page.goto(f"{base_url}{users}?q={seeded['member']}")
        page.locator("#result_list input[name=_selected_action]").first.check()
        page.locator("select[name=action]").select_option(action)
        page.get_by_role("button", name="Go").first.click()
        if action == "reset_passwords":  # destructive: a confirmation page comes first
            expect(page.locator("#content h1")).to_contain_text("are you sure?")
            problems += [f"confirm {action}: CSP {v}" for v in csp_violations(page)]
            page.locator("form:has(input[name=apply]) input[type=submit]").click()
        expect(page.locator("#content h1")).to_have_text(heading)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=f"{base_url}/static/vendor/axe.min.js")
        problems += [
            f"action {action}: {p}" for p in check_in_place(page, changelist_must_fit=False)
        ]
        problems += [f"action {action}: CSP {v}" for v in csp_violations(page)]

    missing = [
        path for path in start_pages() if path not in visited
    ]  # every changelist, add page and parameter-less view at least
    names_seen = {resolve_path(path).url_name for path in visited}
    unreached = sorted(
        name for route, name in console_routes() if name and name not in NOT_PAGES | names_seen
    )
    print(f"\n{len(visited)} console pages checked; routes no link led to: {unreached}")
    assert not missing, f"pages never visited: {missing}"
    refused = {path: status for path, status in visited.items() if status >= 500}
    assert not refused, f"server errors: {refused}"
    assert not problems, "\n".join(["console pages with problems:", *problems])


def test_the_theme_toggle_wins_over_the_browsers_preference(page: Page, base_url, seeded):
    sign_in_to_console(page, base_url)
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light != dark, "the console ignores the browser's dark preference"

    # Django's toggle cycles auto -> dark/light -> ...: the stored choice beats the preference.
    page.evaluate("localStorage.setItem('theme', 'light')")
    page.reload()
    assert page.evaluate(background) == light
    page.emulate_media(color_scheme="light")
    page.evaluate("localStorage.setItem('theme', 'dark')")
    page.reload()
    assert page.evaluate(background) == dark
    page.evaluate("localStorage.removeItem('theme')")

    # Portal's brand: its logo in the header, its blue on the buttons.
    expect(page.locator("#branding img.site-logo")).to_have_attribute("src", "/static/web/logo.svg")
    page.emulate_media(color_scheme="light")
    page.reload()
    blue = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()"
    )
    assert blue == "#1d4ed8"
