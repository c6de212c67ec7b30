"""A template that requires a provider (`data "portal_external_auth"`): its import records it,
creating a workspace refuses until the owner linked it (API and portal), and the build's
Terraform reads the owner's token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from portal import crypto
from tests.external_auth.conftest import link_in_browser
from tests.provisioning.conftest import make_template, run_job, tar_of
from workspaces.choices import JobStatus
from workspaces.models import WorkspaceBuild

pytestmark = pytest.mark.django_db(transaction=True)

MAIN_TF = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_external_auth" "forge" {
  id = "forge"
}
data "portal_external_auth" "other" {
  id       = "forge-optional"
  optional = true
}
resource "terraform_data" "uses" {
  input = length(data.portal_external_auth.forge.access_token)
}
"""


@pytest.fixture
def template(with_forge, owner):
    return make_template(owner, "needs-forge", tar_of({"main.tf": MAIN_TF}))


def test_import_records_the_requirement_and_create_refuses_until_linked(
    template, member, client_for
):
    assert template.active_version.external_auth == [
        {"id": "forge", "optional": False},
        {"id": "forge-optional", "optional": True},
    ]
    api = client_for(member)
    body = {"template_id": str(template.id), "name": "dev"}
    refused = api.post("/api/v2/workspaces", body, format="json")
    assert refused.status_code == 400
    answer = refused.json()
    assert "Link your Test Forge account first" in answer["message"]
    assert [v["field"] for v in answer["validations"]] == ["external_auth.forge"]

    browser = Client()
    browser.force_login(member)
    page = browser.get(f"/templates/{template.name}/create").content.decode()
    assert 'data-provider="forge"' in page and 'data-status="unlinked"' in page
    assert "disabled" in page and "Link Test Forge above first" in page
    assert "forge-optional is not configured" in page  # optional: shown, not required
    posted = browser.post(f"/templates/{template.name}/create", {"name": "dev"})
    assert posted.status_code == 400 and b"Link your Test Forge account first" in posted.content

    link_in_browser(browser)
    page = browser.get(f"/templates/{template.name}/create").content.decode()
    assert 'data-status="linked"' in page and "Link Test Forge above first" not in page
    created = api.post("/api/v2/workspaces", body, format="json")
    assert created.status_code == 201, created.content
    build_id = created.json()["latest_build"]["id"]
    build = WorkspaceBuild.objects.get(pk=build_id)
    assert run_job(build.job_id).status == JobStatus.SUCCEEDED
    build.refresh_from_db()
    state = json.loads(crypto.decrypt(bytes(build.state)))
    [uses] = [r for r in state["resources"] if r["type"] == "terraform_data"]
    assert (
        uses["instances"][0]["attributes"]["input"]["value"] == 40
    )  # the forge's token: 40 hex chars
