"""Template authoring in the operator console, in a real browser against a real server (real
Terraform imports): upload an archive and promote it, edit a file and save a new version, view
the diff; axe at desktop and phone width, and no violation of the portal's strict CSP."""

from __future__ import annotations

import io
import re
import tarfile

import pytest
from playwright.sync_api import Page, expect

from portal.web.middleware import CSP
from tests.browser.conftest import USERNAME
from tests.browser.test_accessibility import BUILD_TIMEOUT, VIEWPORTS, axe_problems, sign_in

pytestmark = pytest.mark.slow

MAIN_TF = """terraform {
  required_version = ">= 1.0"
}

resource "terraform_data" "home" {
  input = "first"
}
"""

# The console is to be served with the portal's policy: the test serves it so, and counts what
# the browser refuses on the authoring pages (securitypolicyviolation events). One is not theirs:
# the <style> block of the console's shared base template (portal/templates/admin/base_site.html,
# the console theme's to replace), recognized by its first rule.
STRICT = CSP.format(images="")
SHARED_BASE_STYLE = ".site-banners"
_WATCH_CSP = """() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) =>
    window.__csp.push(`${location.pathname}: ${e.violatedDirective} ${e.blockedURI} ` +
      `${e.sourceFile}:${e.lineNumber} ${e.sample}`));
}"""


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = MAIN_TF.encode()
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _strict_csp(page: Page) -> None:
    def serve(route):
        if route.request.method != "GET":  # a form's post answers with a redirect: let it be
            route.continue_()
            return
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": STRICT}
        route.fulfill(response=response, headers=headers)

    page.route(re.compile(r".*/admin/.*"), serve)
    page.add_init_script(_WATCH_CSP)


def _check(page: Page, base_url: str, what: str, problems: list[str]) -> None:
    for name, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        problems += axe_problems(page, base_url, f"{what} at {name}")
    page.set_viewport_size(VIEWPORTS["desktop"])
    problems += [
        f"{what}: CSP {v}"
        for v in page.evaluate("window.__csp || []")
        if SHARED_BASE_STYLE not in v
    ]


def test_upload_promote_edit_and_compare(page: Page, base_url, tmp_path):
    problems: list[str] = []
    _strict_csp(page)
    sign_in(page, base_url, USERNAME)

    # A new template from an uploaded archive: its import log, then the template.
    page.goto(f"{base_url}/admin/templates_app/template/")
    page.get_by_role("link", name="Upload a template").click()
    _check(page, base_url, "upload page", problems)
    archive = tmp_path / "authoring.tar.gz"
    archive.write_bytes(_tar())
    page.get_by_label("Template name").fill("authored")
    page.get_by_label("Archive").set_input_files(archive)
    page.get_by_label("Version name").fill("one")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("button", name="Create template")).to_be_visible(
        timeout=BUILD_TIMEOUT
    )  # the page followed the import and reloaded when it ended
    expect(page.locator("#import-log")).to_contain_text("terraform", ignore_case=True)
    _check(page, base_url, "import page", problems)
    page.get_by_role("button", name="Create template").click()
    expect(page.locator(".messagelist")).to_contain_text("Created template authored")

    # A second version uploaded to it, then promoted from its import page.
    page.get_by_role("link", name="Upload a new version").click()
    page.get_by_label("Archive").set_input_files(archive)
    page.get_by_label("Version name").fill("two")
    page.get_by_role("button", name="Upload").click()
    promote = page.get_by_role("button", name="Promote to active")
    # The same archive again (stored once); promotion waits for its import to succeed.
    expect(promote).to_be_visible(timeout=BUILD_TIMEOUT)
    promote.click()
    expect(page.locator(".messagelist")).to_contain_text("Promoted two to active version")

    # Edit main.tf in the CodeMirror editor and save a new version.
    page.goto(f"{base_url}/admin/templates_app/template/")
    page.get_by_role("link", name="authored").click()
    page.get_by_role("link", name="Edit files").first.click()
    editor = page.locator(".cm-content").first
    expect(editor).to_be_visible()
    _check(page, base_url, "editor", problems)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# greeting from the browser\n")
    page.get_by_label("New version name").fill("three")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#import-status")).to_contain_text("succeeded", timeout=BUILD_TIMEOUT)

    # The diff against the active version: side by side (MergeView), the text in it.
    page.get_by_role("link", name="Compare with active").click()
    expect(page.locator(".cm-mergeView")).to_be_visible()
    expect(page.locator(".portal-diff")).to_contain_text("main.tf")
    expect(page.locator(".cm-mergeView")).to_contain_text("greeting from the browser")
    _check(page, base_url, "compare page", problems)

    assert not problems, "\n".join(problems)
