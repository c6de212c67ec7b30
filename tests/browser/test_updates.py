"""The workspace page's schedule card, Update button and deprecation banner in a real browser,
against a real server and real Terraform builds; axe on each page these touch."""

from __future__ import annotations

import io
import re
import tarfile
import time
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accessibility import BUILD_TIMEOUT, Api, axe_problems, sign_in

pytestmark = pytest.mark.slow

HEAD = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
data "portal_parameter" "size" {
  name    = "size"
  type    = "string"
  default = "small"
  mutable = true
}
resource "terraform_data" "box" {
  count = data.portal_workspace.me.start_count
  input = data.portal_parameter.size.value
}
"""
REGION = """
data "portal_parameter" "region" {
  name         = "region"
  display_name = "Region"
  type         = "string"
  mutable      = true
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name  = "America"
    value = "us"
  }
}
"""


def _tar(main_tf: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = main_tf.encode()
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _version(api: Api, main_tf: str, name: str, template_id: str | None = None) -> dict:
    r = api.http.post("/files", content=_tar(main_tf), headers={"Content-Type": "application/gzip"})
    assert r.is_success, r.text
    body = {"file_hash": r.json()["hash"], "name": name}
    if template_id:
        body["template_id"] = template_id
    version = api.call("POST", "/templateversions", json=body)
    for _ in range(900):
        version = api.call("GET", f"/templateversions/{version['id']}")
        if version["import_status"] not in ("pending", "running"):
            break
        time.sleep(0.2)
    assert version["import_status"] == "succeeded", version
    return version


@pytest.fixture(scope="module")
def member_api(base_url):
    from tests.browser.conftest import PASSWORD, USERNAME

    admin = Api(base_url, USERNAME, PASSWORD)
    admin.call(
        "POST",
        "/users",
        json={"username": "updater", "email": "updater@example.com", "password": PASSWORD},
    )
    return admin, Api(base_url, "updater", PASSWORD)


def test_schedule_update_and_deprecation_on_the_workspace_page(page: Page, base_url, member_api):
    admin, member = member_api
    v1 = _version(admin, HEAD, "v1")
    template = admin.call("POST", "/templates", json={"name": "upd", "version_id": v1["id"]})
    admin.call("PATCH", "/templates/upd", json={"default_ttl_ms": 2 * 3600 * 1000})
    ws = member.call("POST", "/workspaces", json={"template_id": template["id"], "name": "box"})

    problems: list[str] = []
    sign_in(page, base_url, "updater")
    page.goto(f"{base_url}/workspaces/updater/box")
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)

    # The schedule card: when it stops; extend moves it; autostart and TTL are saved.
    stops = page.locator("#schedule-stops")
    expect(stops).to_contain_text(re.compile(r"\(in 1 h \d+ min\)"), timeout=30_000)
    deadline = page.locator("#schedule-stops time").get_attribute("datetime")
    page.get_by_label("Stop later by").select_option("2")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_text("box now stops 2 h later.")).to_be_visible()
    expect(stops).to_contain_text(re.compile(r"\(in 3 h \d+ min\)"))
    moved = page.locator("#schedule-stops time").get_attribute("datetime")
    assert datetime.fromisoformat(moved) - datetime.fromisoformat(deadline) == timedelta(hours=2)
    page.get_by_text("Change the schedule…").click()
    page.get_by_label("Autostart (cron").fill("30 8 * * 1-5")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Stop after").fill("4")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Schedule of box saved.")).to_be_visible()
    expect(page.locator("#schedule-starts")).to_contain_text("08:30 Europe/Berlin")
    problems += axe_problems(page, base_url, "workspace page, scheduled")

    # A new active version with a new parameter: Update asks for it alone, then builds.
    v2 = _version(admin, HEAD + REGION, "v2", template["id"])
    admin.call("PATCH", "/templates/upd", json={"active_version_id": v2["id"]})
    page.reload()
    expect(page.locator("#update-available")).to_contain_text("Update available: version v2")
    page.get_by_role("button", name="Update", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Update box to version v2")
    expect(page.get_by_role("radio", name="Europe")).to_be_visible()
    expect(page.get_by_label("size")).to_have_count(0)  # unchanged: not asked
    problems += axe_problems(page, base_url, "update form")
    page.get_by_role("radio", name="America").check()
    page.get_by_role("button", name="Update and start").click()
    page.wait_for_url(f"{base_url}/workspaces/updater/box")
    expect(page.get_by_text("Build #2: box is updating to version v2.")).to_be_visible()
    expect(page.locator("#workspace-status")).to_have_text("running", timeout=BUILD_TIMEOUT)
    expect(page.locator("#update-available")).to_have_count(0)
    build = member.call("GET", f"/workspaces/{ws['id']}")["latest_build"]
    assert build["template_version_id"] == v2["id"]

    # Deprecated: the workspace keeps working and says so; the templates list marks it.
    admin.call("PATCH", "/templates/upd", json={"deprecation_message": "Use upd-2 instead."})
    page.reload()
    banner = page.locator("#deprecation-warning")
    expect(banner).to_contain_text("is deprecated: Use upd-2 instead.")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    problems += axe_problems(page, base_url, "workspace page, deprecated template")
    page.goto(f"{base_url}/templates")
    card = page.locator("li.template", has_text="Upd")
    expect(card.get_by_text("Deprecated", exact=True)).to_be_visible()
    expect(card.get_by_role("link", name=re.compile("Create a workspace"))).to_have_count(0)
    problems += axe_problems(page, base_url, "templates, one deprecated")
    admin.call("PATCH", "/templates/upd", json={"deprecation_message": ""})
    member.call("POST", f"/workspaces/{ws['id']}/builds", json={"transition": "delete"})
    assert not problems, "\n".join(problems)
