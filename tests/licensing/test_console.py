"""The console's license page, and the banners owners see on every console and portal page."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from licensing import services
from licensing.models import License
from portal import registry
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
LIST = "/admin/licensing/license/"
ADD = "/admin/licensing/license/add/"


@pytest.fixture
def console(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_owner_sees_entitlements_and_the_deployment_id(console, owner, sign, this_deployment):
    services.add_license(sign(features={"scim": 1}), actor=owner)
    page = console(owner).get(LIST).content.decode()
    assert this_deployment in page
    assert "<td>scim</td><td>entitled</td><td>on</td>" in page
    assert "<td>audit_log</td><td>not_entitled</td><td>off</td>" in page
    assert "acme" in page


def test_owner_uploads_by_pasting_or_by_file(console, owner, sign):
    browser = console(owner)
    r = browser.post(ADD, {"license": sign(features={"scim": 1})})
    assert r.status_code == 302 and r["Location"] == LIST
    upload = SimpleUploadedFile("license.jwt", sign(all_features=True).encode())
    assert browser.post(ADD, {"file": upload}).status_code == 302
    assert License.objects.count() == 2
    assert AuditEntry.objects.filter(resource_type="license", action="create").count() == 2


def test_a_refused_upload_shows_the_reason(console, owner, sign):
    r = console(owner).post(ADD, {"license": sign(kid="stranger")})
    assert r.status_code == 200
    assert "signed with key &#x27;stranger&#x27;, which this Portal does not know" in (
        r.content.decode()
    )
    assert (
        console(owner)
        .post(ADD, {"license": ""})
        .content.decode()
        .count("Paste a license or choose its file.")
    )


def test_owner_deletes_with_the_action(console, owner, sign):
    row = services.add_license(sign(features={"scim": 1}), actor=owner)
    r = console(owner).post(
        LIST, {"action": "delete_licenses", "_selected_action": [row.pk]}, follow=True
    )
    assert "Deleted: License" in r.content.decode()
    assert not License.objects.exists()
    assert AuditEntry.objects.filter(resource_type="license", action="delete").exists()


def test_auditors_read_but_may_not_upload_and_members_see_nothing(console, make_user):
    auditor = console(make_user(Role.AUDITOR))
    assert auditor.get(LIST).status_code == 200
    assert auditor.get(ADD).status_code == 403
    member = console(make_user())
    assert member.get(LIST).status_code in (302, 403)


def banners(response) -> str:
    """The registered banners of a page: the dashboard's license panel repeats the warnings
    (owners and auditors read it), so the banner is asserted on its own list."""
    match = re.search(
        r'<ul class="messagelist portal-banners".*?</ul>', response.content.decode(), re.S
    )
    return match.group(0) if match else ""


def test_owners_see_license_warnings_as_banners_in_the_console_and_the_portal(
    console, owner, make_user, sign
):
    services.add_license(sign(features={"user_limit": 1, "scim": 1}), actor=owner)
    make_user(username="second")
    warning = "Your deployment has 2 active users but is licensed for 1."
    browser = console(owner)
    assert warning in banners(browser.get("/admin/"))
    assert warning in banners(browser.get("/"))
    auditor = console(make_user(Role.AUDITOR))
    page = auditor.get("/admin/")
    assert warning not in banners(page)
    # The auditor still reads the license status on the dashboard, without the owner's banner.
    assert warning in page.content.decode()


def test_a_broken_banner_never_breaks_a_page(console, owner):
    def broken(request):
        raise RuntimeError("boom")

    registry.register_banner(broken)
    try:
        assert console(owner).get("/admin/").status_code == 200
    finally:
        registry.remove("banners", broken)
