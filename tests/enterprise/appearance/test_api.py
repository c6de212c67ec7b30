"""GET and PUT /api/v2/appearance: who may, what anyone sees, validation, gate, audit."""

from __future__ import annotations

import pytest

from enterprise.appearance.models import Appearance
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.enterprise.appearance.conftest import EVIL_SVG, PNG, data_url

pytestmark = pytest.mark.django_db
URL = "/api/v2/appearance"

FULL = {
    "application_name": "Acme Dev",
    "logo_url": "https://cdn.example.com/acme.png",
    "service_banner": {
        "enabled": True,
        "message": "Maintenance at 6pm",
        "background_color": "#004852",
    },
    "announcement_banners": [
        {"enabled": True, "message": "New templates!", "background_color": "#FFEE00"}
    ],
    "support_links": [{"name": "Docs", "target": "https://docs.example.com", "icon": "docs"}],
}


def test_with_nothing_stored_everyone_sees_portals_own_look(anon, client_for, member):
    expected = {
        "application_name": "",
        "logo_url": "",
        "service_banner": {"enabled": False, "message": "", "background_color": ""},
        "announcement_banners": [],
    }
    assert anon.get(URL).json() == expected
    assert client_for(member).get(URL).json() == {**expected, "support_links": []}


def test_an_owner_sets_it_and_anyone_reads_what_the_sign_in_page_needs(
    owner_api, anon, client_for, member
):
    r = owner_api.put(URL, FULL, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["application_name"] == "Acme Dev"
    assert body["announcement_banners"][0]["background_color"] == "#ffee00"  # normalised

    public = anon.get(URL).json()
    assert public["application_name"] == "Acme Dev"
    assert public["service_banner"]["message"] == "Maintenance at 6pm"
    assert "support_links" not in public  # only for signed-in users
    signed_in = client_for(member).get(URL).json()
    assert signed_in["support_links"] == FULL["support_links"]


def test_fields_left_out_of_a_put_are_kept(owner_api):
    owner_api.put(URL, FULL, format="json")
    r = owner_api.put(URL, {"application_name": "Renamed"}, format="json")
    assert r.json()["application_name"] == "Renamed"
    assert r.json()["service_banner"]["enabled"] is True
    assert r.json()["support_links"] == FULL["support_links"]


@pytest.mark.parametrize("role", [None, Role.TEMPLATE_ADMIN, Role.USER_ADMIN, Role.AUDITOR])
def test_only_owners_change_it(client_for, make_user, role):
    user = make_user(*([role] if role else []))
    r = client_for(user).put(URL, {"application_name": "Mine"}, format="json")
    assert r.status_code == 403
    assert "owner" in r.json()["message"]
    assert not Appearance.objects.exists()


def test_anonymous_may_not_change_it(anon):
    assert anon.put(URL, {"application_name": "Mine"}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"service_banner": {"enabled": True, "message": "x", "background_color": "red"}},
            "service_banner.background_color",
        ),
        (
            {"service_banner": {"enabled": True, "message": "x", "background_color": "#12345"}},
            "service_banner.background_color",
        ),
        (
            {"service_banner": {"enabled": True, "message": "", "background_color": "#123456"}},
            "service_banner.message",
        ),
        (
            {
                "announcement_banners": [
                    {"enabled": True, "message": "x", "background_color": "#1234567"}
                ]
            },
            "announcement_banners[0].background_color",
        ),
        ({"logo_url": "http://example.com/logo.png"}, "logo_url"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"logo_url": 'https://example.com/a.png" onerror="alert(1)'}, "logo_url"),
        ({"logo_url": "https://user:pw@example.com/a.png"}, "logo_url"),
        ({"logo_url": "https://cdn.example;script-src/a.png"}, "logo_url"),
        ({"logo_url": "https:///a.png"}, "logo_url"),
        ({"logo_url": "data:text/html;base64,PHNjcmlwdD4="}, "logo_url"),
        ({"logo_url": data_url("image/png", b"GIF89a not a png")}, "logo_url"),
        ({"logo_url": data_url("image/png", PNG + b"\0" * (300 * 1024))}, "logo_url"),
        ({"logo_url": "data:image/png;base64,!!!"}, "logo_url"),
        ({"application_name": "x" * 65}, "application_name"),
        ({"application_name": 7}, "application_name"),
        (
            {"support_links": [{"name": "Docs", "target": "javascript:alert(1)"}]},
            "support_links[0].target",
        ),
        ({"support_links": [{"name": "", "target": "https://x.example"}]}, "support_links[0].name"),
        (
            {"support_links": [{"name": "D", "target": "https://x.example", "icon": "skull"}]},
            "support_links[0].icon",
        ),
        ({"support_links": "https://x.example"}, "support_links"),
        ({"colour": "#123456"}, "colour"),
        (
            {
                "service_banner": {
                    "enabled": True,
                    "message": "x",
                    "background_color": "#123456",
                    "text_color": "#fff",
                }
            },
            "service_banner.text_color",
        ),
        (
            {"support_links": [{"name": "D", "target": "https://x.example", "url": "y"}]},
            "support_links[0].url",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(owner_api, body, field):
    owner_api.put(URL, {"application_name": "Before"}, format="json")
    r = owner_api.put(URL, {"application_name": "After", **body}, format="json")
    assert r.status_code == 400, r.content
    error = r.json()
    assert set(error) == {"message", "detail", "validations"}
    assert field in [v["field"] for v in error["validations"]], error
    assert Appearance.objects.get().application_name == "Before"


def test_a_body_that_is_not_an_object_is_a_400(owner_api):
    r = owner_api.put(URL, ["application_name"], format="json")
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "body"


def test_a_data_url_logo_is_stored_and_served_at_a_content_hash_url(owner_api, anon):
    r = owner_api.put(URL, {"logo_url": data_url("image/png", PNG)}, format="json")
    assert r.status_code == 200, r.content
    served = r.json()["logo_url"]
    assert served.startswith("/appearance/logo/")
    image = anon.get(served)
    assert image.status_code == 200
    assert image.content == PNG
    assert image["Content-Type"] == "image/png"
    assert "immutable" in image["Cache-Control"]
    # Sending back what GET shows keeps the logo (a GET-edit-PUT round trip works).
    again = owner_api.put(URL, {**r.json(), "application_name": "X"}, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["logo_url"] == served
    # Back to Portal's logo: the old URL is gone.
    assert owner_api.put(URL, {"logo_url": ""}, format="json").json()["logo_url"] == ""
    assert anon.get(served).status_code == 404


def test_an_svg_logo_cannot_run_script_when_opened(owner_api, anon):
    r = owner_api.put(URL, {"logo_url": data_url("image/svg+xml", EVIL_SVG)}, format="json")
    assert r.status_code == 200, r.content
    image = anon.get(r.json()["logo_url"])
    assert image["Content-Type"] == "image/svg+xml"
    assert image["X-Content-Type-Options"] == "nosniff"
    csp = image["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "sandbox" in csp


def test_a_data_url_whose_bytes_are_another_type_is_refused(owner_api):
    r = owner_api.put(URL, {"logo_url": data_url("image/svg+xml", PNG)}, format="json")
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "logo_url"


def test_a_change_is_audited_with_a_diff_and_no_change_writes_nothing(owner_api, owner):
    owner_api.put(URL, FULL, format="json")
    entry = AuditEntry.objects.get(resource_type="appearance")
    assert entry.action == "write"
    assert entry.actor_id == owner.pk
    assert entry.diff["application_name"] == {"old": "", "new": "Acme Dev", "secret": False}
    assert entry.diff["service_banner"]["new"]["message"] == "Maintenance at 6pm"
    assert set(entry.additional_fields["fields"]) == {
        "application_name",
        "logo",
        "service_banner",
        "announcement_banners",
        "support_links",
    }
    assert entry.additional_fields["via"] == "api"

    owner_api.put(URL, {"application_name": "Acme Dev"}, format="json")  # the same again
    assert AuditEntry.objects.filter(resource_type="appearance").count() == 1


def test_an_uploaded_logo_is_audited_by_its_hash_not_its_bytes(owner_api):
    owner_api.put(URL, {"logo_url": data_url("image/png", PNG)}, format="json")
    entry = AuditEntry.objects.get(resource_type="appearance")
    assert entry.diff["logo"]["new"].startswith("uploaded image/png sha256:")


def test_with_the_gate_off_put_is_refused_naming_the_feature_and_the_data_is_kept(
    owner_api, anon, gate_off, owner
):
    Appearance.objects.create(
        application_name="Kept",
        service_banner_enabled=True,
        service_banner_message="hi",
        service_banner_color="#000000",
    )
    r = owner_api.put(URL, {"application_name": "New"}, format="json")
    assert r.status_code == 403
    assert "appearance feature" in r.json()["message"] and "license" in r.json()["message"]
    assert anon.get(URL).json()["application_name"] == ""  # the default look is shown
    assert Appearance.objects.get().application_name == "Kept"
