"""The appearance on the sign-in page, the portal and the console; escaped; off with the gate."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from enterprise.appearance import services
from enterprise.appearance.contrast import ratio
from tests.enterprise.appearance.conftest import PNG, data_url

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def branded(owner):
    services.update_appearance(
        actor=owner,
        changes={
            "application_name": "Acme Dev",
            "service_banner": {
                "enabled": True,
                "message": "Maintenance **tonight**, see [status](https://status.example.com)",
                "background_color": "#fde047",
            },
            "announcement_banners": [
                {"enabled": True, "message": "Welcome aboard", "background_color": "#14532d"},
                {"enabled": False, "message": "Hidden one", "background_color": "#000000"},
            ],
            "support_links": [
                {"name": "Help desk", "target": "https://help.example.com", "icon": "chat"}
            ],
        },
    )


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _stylesheet(client, html: str) -> str:
    match = re.search(r'href="(/appearance/theme-[0-9a-f]+\.css)"', html)
    assert match, "the page links the banners' stylesheet"
    response = client.get(match.group(1))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "immutable" in response["Cache-Control"]
    return response.content.decode()


def test_the_sign_in_page_shows_name_banners_and_title_but_not_support_links(branded):
    client = Client()
    html = client.get("/login").content.decode()
    assert "<title>Sign in · Acme Dev</title>" in html
    assert "Sign in to Acme Dev" in html
    assert "Maintenance <strong>tonight</strong>" in html
    assert '<a href="https://status.example.com" rel="noopener noreferrer">status</a>' in html
    assert "Welcome aboard" in html
    assert "Hidden one" not in html
    assert "Help desk" not in html  # support links are for signed-in users
    css = _stylesheet(client, html)
    assert ".site-banner-service { background-color: #fde047; color: #000000; }" in css
    assert ".site-banner-0 { background-color: #14532d; color: #ffffff; }" in css


def test_the_portal_shows_name_logo_banners_and_support_links(branded, member):
    html = _signed_in(member).get("/").content.decode()
    assert "· Acme Dev</title>" in html
    assert "<span>Acme Dev</span>" in html
    assert "Maintenance <strong>tonight</strong>" in html
    assert (
        '<a href="https://help.example.com" rel="noopener noreferrer" target="_blank">Help desk</a>'
        in html
    )


def test_the_console_shows_name_banners_and_support_links(branded, owner):
    client = _signed_in(owner)
    html = client.get("/admin/").content.decode()
    assert "Acme Dev operator console" in html
    assert "| Acme Dev</title>" in html
    assert "Maintenance <strong>tonight</strong>" in html
    assert "Help desk" in html
    _stylesheet(client, html)


def test_every_banner_colour_gets_text_meeting_wcag_aa(owner):
    for background in ("#ffffff", "#000000", "#777777", "#808080", "#ff0000", "#0000ff", "#fde047"):
        services.update_appearance(
            actor=owner,
            changes={
                "service_banner": {"enabled": True, "message": "m", "background_color": background}
            },
        )
        css = _stylesheet(Client(), Client().get("/login").content.decode())
        text = re.search(r"color: (#[0-9a-f]{6}); }", css).group(1)
        assert ratio(background, text) >= 4.5, (background, text)


def test_scripts_in_the_name_and_banners_are_shown_as_text(owner, member):
    services.update_appearance(
        actor=owner,
        changes={
            "application_name": "<b>Evil</b>",
            "service_banner": {"enabled": True, "message": XSS, "background_color": "#000000"},
            "announcement_banners": [
                {
                    "enabled": True,
                    "message": "[x](javascript:alert(1)) `<i>`",
                    "background_color": "#000000",
                }
            ],
        },
    )
    for client, url in (
        (Client(), "/login"),
        (_signed_in(member), "/"),
        (_signed_in(owner), "/admin/"),
    ):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "<b>Evil</b>" not in html, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, url
        assert "&lt;b&gt;Evil&lt;/b&gt;" in html, url
        assert 'href="javascript:' not in html, url
        assert "<code>&lt;i&gt;</code>" in html, url


def test_an_https_logo_is_shown_and_allowed_by_the_pages_csp(owner, member):
    services.update_appearance(
        actor=owner, changes={"logo_url": "https://cdn.example.com:8443/acme.svg"}
    )
    response = _signed_in(member).get("/")
    assert 'src="https://cdn.example.com:8443/acme.svg"' in response.content.decode()
    assert (
        "img-src 'self' data: https://cdn.example.com:8443;" in response["Content-Security-Policy"]
    )


def test_an_uploaded_logo_is_shown_from_portals_own_origin(owner, member):
    services.update_appearance(actor=owner, changes={"logo_url": data_url("image/png", PNG)})
    response = _signed_in(member).get("/")
    assert re.search(r'<img src="/appearance/logo/[0-9a-f]{64}"', response.content.decode())
    assert "img-src 'self' data:;" in response["Content-Security-Policy"]


def test_nothing_stored_is_portals_own_look(member):
    html = _signed_in(member).get("/").content.decode()
    assert "<span>Portal</span>" in html
    assert "· Portal</title>" in html
    assert "site-banner" not in html
    assert "/appearance/theme-" not in html
    assert 'src="/static/web/logo.svg"' in html


def test_with_the_gate_off_pages_show_portals_own_look(branded, member, gate_off):
    for client, url in ((Client(), "/login"), (_signed_in(member), "/")):
        html = client.get(url).content.decode()
        assert "Acme Dev" not in html and "Maintenance" not in html and "Help desk" not in html
        assert "Sign in to Portal" in html or "<span>Portal</span>" in html


def test_a_failing_provider_leaves_the_default_look(member):
    from portal import registry

    def broken(request):
        raise RuntimeError("boom")

    registry.register_site_appearance(broken)
    try:
        response = _signed_in(member).get("/")
    finally:
        registry.remove("site_appearance", broken)
    assert response.status_code == 200
    assert "<span>Portal</span>" in response.content.decode()
