"""The console's appearance page: owners only, saves through the service, errors by the fields."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from enterprise.appearance.models import Appearance
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.enterprise.appearance.conftest import EVIL_SVG, PNG

pytestmark = pytest.mark.django_db
PAGE = "/admin/appearance/appearance/"


def _console(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**overrides) -> dict:
    data = {
        "application_name": "Acme Dev",
        "logo_url": "",
        "service_banner_enabled": "on",
        "service_banner_message": "Maintenance tonight",
        "service_banner_color": "#004852",
        "announcement_banners": "[]",
        "support_links": '[{"name": "Docs", "target": "https://docs.example.com", "icon": "docs"}]',
    }
    data.update(overrides)
    return data


def test_an_owner_changes_it_and_it_is_audited_as_a_console_change(owner):
    client = _console(owner)
    assert client.get(PAGE).status_code == 200
    response = client.post(PAGE, _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Appearance.objects.get()
    assert row.application_name == "Acme Dev"
    assert row.service_banner_enabled and row.service_banner_color == "#004852"
    assert row.support_links == [
        {"name": "Docs", "target": "https://docs.example.com", "icon": "docs"}
    ]
    entry = AuditEntry.objects.get(resource_type="appearance")
    assert entry.additional_fields["via"] == "console"
    page = client.get(PAGE).content.decode()
    assert 'value="Acme Dev"' in page
    assert "Acme Dev operator console" in page


def test_the_index_lists_it_for_owners_only(owner, make_user):
    assert PAGE in _console(owner).get("/admin/").content.decode()
    admin = make_user(Role.TEMPLATE_ADMIN, Role.USER_ADMIN)
    assert PAGE not in _console(admin).get("/admin/").content.decode()


@pytest.mark.parametrize("roles", [(Role.TEMPLATE_ADMIN,), (Role.USER_ADMIN,), (Role.AUDITOR,)])
def test_other_roles_may_neither_see_nor_change_it(make_user, roles):
    client = _console(make_user(*roles))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, _form()).status_code == 403
    assert not Appearance.objects.exists()


def test_a_member_is_sent_to_sign_in(member):
    response = _console(member).post(PAGE, _form())
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Appearance.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"service_banner_color": "blue"}, "service_banner_color", "#rrggbb"),
        ({"logo_url": "ftp://example.com/x.png"}, "logo_url", "https:"),
        (
            {"support_links": '[{"name": "x", "target": "javascript:1"}]'},
            "support_links",
            "support_links[0].target",
        ),
        ({"support_links": "{not json"}, "support_links", "Not valid JSON"),
        (
            {
                "announcement_banners": (
                    '[{"enabled": true, "message": "", "background_color": "#000000"}]'
                )
            },
            "announcement_banners",
            "announcement_banners[0].message",
        ),
    ],
)
def test_refusals_are_shown_next_to_the_field_and_nothing_is_saved(owner, overrides, field, text):
    response = _console(owner).post(PAGE, _form(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert not Appearance.objects.exists()


def test_an_uploaded_logo_is_stored_and_a_non_image_refused(owner):
    client = _console(owner)
    upload = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    assert client.post(PAGE, {**_form(), "logo_file": upload}).status_code == 302
    row = Appearance.objects.get()
    assert row.logo_content_type == "image/png" and bytes(row.logo_data) == PNG

    fake = SimpleUploadedFile(
        "logo.png", b"<html><script>1</script></html>", content_type="image/png"
    )
    response = client.post(PAGE, {**_form(), "logo_file": fake})
    assert "PNG, JPEG or SVG" in " ".join(response.context["form"].errors["logo_file"])
    assert bytes(Appearance.objects.get().logo_data) == PNG


def test_an_uploaded_svg_is_served_so_that_it_cannot_run_script(owner):
    client = _console(owner)
    upload = SimpleUploadedFile("logo.svg", EVIL_SVG, content_type="image/svg+xml")
    assert client.post(PAGE, {**_form(), "logo_file": upload}).status_code == 302
    row = Appearance.objects.get()
    image = Client().get(f"/appearance/logo/{row.logo_sha256}")
    assert image["Content-Type"] == "image/svg+xml"
    assert image["Content-Security-Policy"].startswith("default-src 'none'")
    assert image["X-Content-Type-Options"] == "nosniff"


def test_with_the_gate_off_the_page_says_so_and_saving_is_refused(owner, gate_off):
    client = _console(owner)
    assert "needs a license with the appearance feature" in client.get(PAGE).content.decode()
    response = client.post(PAGE, _form())
    assert response.status_code == 200
    assert "appearance feature" in " ".join(response.context["form"].non_field_errors())
    assert not Appearance.objects.exists()
